"""Self-tests of reference_model.py on the hand-made tiny firm (tests/python/tiny_firm, see its README).

Every expected value is worked by hand from the fixture records, with the arithmetic in a comment;
none was copied from the reference's or pslake's output. No lake is needed.

Rates: EUR 1.25 / 1.20 / 1.10, GBP 1.50 / 1.40 / 1.30 for 2026-01 / 02 / 03 (April-June as March);
the 2026-02 file is missing in run 1 and arrives in run 2. as_of 2026-03-31, history_start 2026-01-01.
"""

import datetime as dt
import json
import os
import shutil
import sys
from decimal import Decimal
from fractions import Fraction

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_model as rm  # noqa: E402

TINY = os.path.join(HERE, "tiny_firm")
D = Decimal
d = dt.date


@pytest.fixture(scope="module")
def runs():
    """Results after runs 1, 2, 3 with deletions by absence visible (reconcile)."""
    return rm.compute_runs(rm.overlay_runs(TINY), reconcile=True)


def by(rows, *key):
    return {tuple(r[k] for k in key) if len(key) > 1 else r[key[0]]: r for r in rows}


# ---------------------------------------------------------------- rounding (SPEC exact rules)


def test_rounding_half_up_once():
    assert rm.money(Fraction(5, 1000)) == D("0.01")  # 0.005 -> 0.01 (half up)
    assert rm.money(Fraction(-5, 1000)) == D("-0.01")  # half away from zero
    assert rm.money(Fraction(4999, 1000000)) == D("0.00")
    assert rm.hours_cell(Fraction(1, 3)) == D("0.3333")
    assert rm.hours_cell(Fraction(5, 11) * 5) == D("2.2727")  # 25/11 = 2.272727...
    assert rm.ratio(2, 3) == D("0.666667")
    assert rm.ratio(1, 0) is None  # NULL when the denominator is 0
    assert str(rm.money(Fraction(540) / Fraction("1.10"))) == "490.91"  # 490.90909...


def test_overlay_states():
    states = rm.overlay_runs(TINY)
    assert states == [[TINY], [TINY, os.path.join(TINY, "run2")], [TINY, os.path.join(TINY, "run2"), os.path.join(TINY, "run3")]]
    f3 = rm.Files(states[2])
    # run 3's Opportunity file replaces run 2's; the time entries of run 2 are still in force
    opp6 = next(o for o in f3.streams[("salesforce", "Opportunity")] if o["Id"] == "006O6")
    assert opp6["Amount"] == 3500.0
    assert {t["id"] for t in f3.streams[("kantata", "time_entries")]} == {f"50{i:02d}" for i in range(1, 16)} - {"5002"}
    assert "fx_rates_2026-02.csv" in f3.fx_files and "fx_rates_2026-02.csv" not in rm.Files(states[0]).fx_files


# ---------------------------------------------------------------- rejects (SPEC 5)


RUN1_REJECTS = {
    ("kantata", "stories", "7004"): "unknown_workspace",  # workspace 399 does not exist
    ("kantata", "time_entries", "5004"): "no_fx_rate",  # GBP in February: no 2026-02 file yet
    ("kantata", "time_entries", "5008"): "unknown_project",  # workspace 309 -> PRJ-99999, no such job
    ("kantata", "time_entries", "5010"): "outside_employment",  # 2026-01-20, Ed hired 2026-02-02
    ("kantata", "time_entries", "5011"): "unknown_employee",  # user 899 unknown
    ("kantata", "time_entries", "5012"): "hours_out_of_range",  # 0 minutes
    ("kantata", "time_entries", "5013"): "over_24_hours_per_day",  # 13 h + 13 h approved on 2026-03-07
    ("kantata", "time_entries", "5014"): "over_24_hours_per_day",
    ("kantata", "time_entries", "5015"): "unparseable_value",  # date 2026-13-01
    ("netsuite", "expense_line", "4002"): "no_fx_rate",  # GBP in February
    ("netsuite", "invoice_line", "3003"): "unknown_project",  # job 299999 does not exist
    ("netsuite", "invoice_line", "3004"): "unknown_project",  # empty job
}


def test_rejects_run1(runs):
    # 5009 (2026-04-02), invoice line 3006 (4/15/2026), story 7005 (accepted 2026-04-05) are after
    # as_of: neither published nor rejected
    got = {(r["system"], r["stream"], r["key"]): r["rule"] for r in runs[0]["rejects"]}
    assert got == RUN1_REJECTS
    assert runs[0]["_waiting"] == {"time_entries": 1, "invoice_line": 1, "stories": 1}


def test_rejects_come_back_once_the_rate_exists(runs):
    want = {k: v for k, v in RUN1_REJECTS.items() if k[2] not in ("5004", "4002")}
    for res in runs[1:]:
        assert {(r["system"], r["stream"], r["key"]): r["rule"] for r in res["rejects"]} == want


# ---------------------------------------------------------------- bookings (event log)


def test_bookings_run1(runs):
    b = by(runs[0]["bookings"], "booking_id")
    assert set(b) == {"006O1:1", "006O2:1", "006O3:1", "006O4:1", "006O6:1", "006O7:1", "006O8:1", "9001:1"}
    # 006O9 is won but closes 2026-04-10, after as_of: not published
    o1 = b["006O1:1"]
    assert (o1["event_type"], o1["booking_date"], o1["amount_local"], o1["currency"], o1["amount_usd"]) == (
        "won", d(2026, 1, 10), D("10000.00"), "USD", D("10000.00"))
    assert (o1["project_id"], o1["customer_id"], o1["booking_type"], o1["billing_type"], o1["practice"]) == (
        "200001", "10001", "new_business", "time_and_materials", "Data")
    # GBP in February, no rate yet: published with its local amount, amount_usd NULL
    assert (b["006O2:1"]["amount_local"], b["006O2:1"]["amount_usd"], b["006O2:1"]["project_id"]) == (D("20000.00"), None, "200002")
    # change order -> the project of its parent 006O1
    assert (b["006O3:1"]["booking_type"], b["006O3:1"]["project_id"]) == ("change_order", "200001")
    assert b["006O4:1"]["amount_usd"] == D("6250.00")  # 5000 EUR x 1.25
    assert b["006O6:1"]["project_id"] is None  # no ERP job links to 006O6
    h = b["9001:1"]
    assert (h["source_system"], h["customer_id"], h["amount_usd"], h["booking_date"]) == ("hubspot", "10003", None, d(2026, 2, 10))


def test_bookings_run2_amount_change_debooks_and_late_rate(runs):
    b = by(runs[1]["bookings"], "booking_id")
    assert len(b) == 12
    ev = lambda k: (b[k]["event_type"], b[k]["booking_date"], b[k]["amount_local"], b[k]["amount_usd"])  # noqa: E731
    assert ev("006O1:2") == ("amount_change", d(2026, 3, 15), D("2000.00"), D("2000.00"))  # 12000 - 10000, SystemModstamp date
    assert ev("006O6:2") == ("debook", d(2026, 3, 20), D("-3000.00"), D("-3000.00"))  # reopened
    assert ev("006O7:2") == ("debook", d(2026, 3, 31), D("-4000.00"), D("-4000.00"))  # vanished: dated as_of (R10)
    assert ev("006O8:2") == ("debook", d(2026, 3, 25), D("-1000.00"), D("-1000.00"))  # IsDeleted
    # the earlier events stay, and are converted now that the February rates exist
    assert ev("006O1:1") == ("won", d(2026, 1, 10), D("10000.00"), D("10000.00"))
    assert b["006O2:1"]["amount_usd"] == D("28000.00")  # 20000 GBP x 1.40
    assert b["9001:1"]["amount_usd"] == D("7200.00")  # 6000 EUR x 1.20


def test_bookings_run3_rewon_and_archived(runs):
    b = by(runs[2]["bookings"], "booking_id")
    assert len(b) == 14
    assert (b["006O6:3"]["event_type"], b["006O6:3"]["booking_date"], b["006O6:3"]["amount_local"]) == (
        "won", d(2026, 3, 28), D("3500.00"))  # won again: new amount, dated its (new) close date
    h = b["9001:2"]
    assert (h["event_type"], h["booking_date"], h["amount_local"], h["currency"], h["amount_usd"]) == (
        "debook", d(2026, 3, 29), D("-6000.00"), "EUR", D("-6600.00"))  # archivedAt date; -6000 x 1.10
    # net booked per opportunity
    net = {}
    for r in runs[2]["bookings"]:
        net[r["opportunity_id"]] = net.get(r["opportunity_id"], 0) + r["amount_local"]
    assert net == {"006O1": D("12000.00"), "006O2": D("20000.00"), "006O3": D("2000.00"), "006O4": D("5000.00"),
                   "006O6": D("3500.00"), "006O7": D("0.00"), "006O8": D("0.00"), "9001": D("0.00")}


def test_without_reconcile_vanished_records_stay():
    res = rm.compute_runs(rm.overlay_runs(TINY)[:2], reconcile=False)[1]
    ids = {r["booking_id"] for r in res["bookings"]}
    assert "006O7:2" not in ids and "006O8:2" in ids  # IsDeleted is seen without reconcile
    assert "5002" in {r["time_entry_id"] for r in res["fct_time_entry"]}
    assert by(res["revenue"], "project_id", "month")[("200001", d(2026, 1, 1))]["revenue_local"] == D("1200.00")


def test_unparseable_new_version_keeps_the_old_one(tmp_path):
    base = tmp_path / "firm"
    shutil.copytree(TINY, base, ignore=shutil.ignore_patterns("run2", "run3"))
    (base / "run2" / "salesforce").mkdir(parents=True)
    shutil.copy(base / "manifest.json", base / "run2" / "manifest.json")
    lines = (base / "salesforce" / "Opportunity.jsonl").read_text().splitlines()
    out = []
    for line in lines:
        o = json.loads(line)
        if o["Id"] == "006O1":
            o["CloseDate"], o["Amount"] = "01/10/2026", 99.0  # not YYYY-MM-DD
        out.append(json.dumps(o))
    (base / "run2" / "salesforce" / "Opportunity.jsonl").write_text("\n".join(out) + "\n")
    res = rm.compute_runs(rm.overlay_runs(str(base)), reconcile=True)[1]
    assert {"system": "salesforce", "stream": "Opportunity", "key": "006O1", "rule": "unparseable_value"} in res["rejects"]
    assert [r["event_type"] for r in res["bookings"] if r["opportunity_id"] == "006O1"] == ["won"]  # no debook


# ---------------------------------------------------------------- fct_time_entry


def test_fct_time_entry(runs):
    t1, t2 = by(runs[0]["fct_time_entry"], "time_entry_id"), by(runs[1]["fct_time_entry"], "time_entry_id")
    assert set(t1) == {"5001", "5002", "5003", "5005", "5006", "5007"}
    assert set(t2) == {"5001", "5003", "5004", "5005", "5006", "5007"}  # 5002 deleted, 5004 conformed
    cells = lambda r: (r["hours"], r["bill_rate"], r["currency"], r["bill_amount_usd"], r["cost_amount_usd"], r["time_state"])  # noqa: E731
    assert cells(t1["5001"]) == (D("8.0000"), D("100.00"), "USD", D("800.00"), D("400.00"), "approved")  # 8h x 100; 8h x 50
    assert cells(t1["5003"]) == (D("2.0000"), D("100.00"), "USD", D("200.00"), D("100.00"), "submitted")
    assert cells(t1["5005"]) == (D("20.0000"), D("0.00"), "GBP", D("0.00"), D("1040.00"), "approved")  # 20h x 40 GBP x 1.30
    assert cells(t1["5007"]) == (D("6.0000"), D("90.00"), "USD", D("540.00"), D("300.00"), "approved")
    assert cells(t2["5004"]) == (D("10.0000"), D("80.00"), "GBP", D("1120.00"), D("560.00"), "approved")  # 10x80x1.40; 10x40x1.40
    assert (t1["5006"]["employee_id"], t1["5006"]["cost_amount_usd"]) == ("C-1", D("300.00"))  # contractor 5h x 60


# ---------------------------------------------------------------- revenue and margin


def test_revenue_run1(runs):
    r = by(runs[0]["revenue"], "project_id", "month")
    assert set(r) == {("200001", d(2026, 1, 1)), ("200001", d(2026, 3, 1)), ("200002", d(2026, 3, 1)),
                      ("200003", d(2026, 2, 1)), ("200003", d(2026, 3, 1)), ("200004", d(2026, 3, 1))}
    cells = lambda k: (r[k]["revenue_local"], r[k]["currency"], r[k]["revenue_usd"], r[k]["hours"])  # noqa: E731
    assert cells(("200001", d(2026, 1, 1))) == (D("1200.00"), "USD", D("1200.00"), D("12.0000"))  # (8+4) h x 100
    assert cells(("200001", d(2026, 3, 1))) == (D("500.00"), "USD", D("500.00"), D("5.0000"))  # contractor 5 h x 100
    # fixed fee: 5004 rejected, so pct(Feb) = 0, pct(Mar) = 20/100; 20000 x 0.2 - 0 = 4000 GBP; x 1.30
    assert cells(("200002", d(2026, 3, 1))) == (D("4000.00"), "GBP", D("5200.00"), D("0.0000"))
    # milestone 7001: 2500 EUR accepted 2026-02-20, no February rate: revenue_usd NULL, never 0
    assert cells(("200003", d(2026, 2, 1))) == (D("2500.00"), "EUR", None, D("0.0000"))
    assert cells(("200003", d(2026, 3, 1))) == (D("1500.00"), "EUR", D("1650.00"), D("0.0000"))  # 1500 x 1.10
    # cross-currency: 6 h x 90 USD on a EUR project = 540 x 1 / 1.10 = 490.909... EUR; 540.00 USD
    assert cells(("200004", d(2026, 3, 1))) == (D("490.91"), "EUR", D("540.00"), D("6.0000"))


def test_revenue_run2(runs):
    r = by(runs[1]["revenue"], "project_id", "month")
    assert len(r) == 7
    assert r[("200001", d(2026, 1, 1))]["revenue_local"] == D("800.00")  # 5002 deleted: 8 h x 100
    # pct(Feb) = 10/100 -> 2000 GBP (x 1.40 = 2800); pct(Mar) = 30/100 -> 6000 - 2000 = 4000 (x 1.30 = 5200)
    assert (r[("200002", d(2026, 2, 1))]["revenue_local"], r[("200002", d(2026, 2, 1))]["revenue_usd"]) == (D("2000.00"), D("2800.00"))
    assert r[("200002", d(2026, 2, 1))]["hours"] == D("10.0000")
    assert (r[("200002", d(2026, 3, 1))]["revenue_local"], r[("200002", d(2026, 3, 1))]["revenue_usd"]) == (D("4000.00"), D("5200.00"))
    assert r[("200003", d(2026, 2, 1))]["revenue_usd"] == D("3000.00")  # 2500 x 1.20


def test_margin(runs):
    m1 = by(runs[0]["margin"], "project_id", "month")
    # revenue unknown -> gross margin and its pct unknown
    assert (m1[("200003", d(2026, 2, 1))]["gross_margin_usd"], m1[("200003", d(2026, 2, 1))]["gross_margin_pct"]) == (None, None)
    m = by(runs[1]["margin"], "project_id", "month")
    cells = lambda k: tuple(m[k][c] for c in ("revenue_usd", "labor_cost_usd", "expense_usd", "gross_margin_usd",  # noqa: E731
                                              "gross_margin_pct", "invoiced_usd", "hours"))
    # 800 - 8h x 50 - 200 = 200; 200/800; invoice 3001 1000 (3005 voided, February: not counted)
    assert cells(("200001", d(2026, 1, 1))) == (D("800.00"), D("400.00"), D("200.00"), D("200.00"), D("0.250000"), D("1000.00"), D("8.0000"))
    # 2800 - 10h x 40 x 1.40 - 100 GBP x 1.40 = 2800 - 560 - 140 = 2100; 2100/2800
    assert cells(("200002", d(2026, 2, 1))) == (D("2800.00"), D("560.00"), D("140.00"), D("2100.00"), D("0.750000"), D("0.00"), D("10.0000"))
    # 5200 - 20h x 40 x 1.30 = 4160; invoice 500 GBP x 1.30 = 650; hours all approved (non-billable too)
    assert cells(("200002", d(2026, 3, 1))) == (D("5200.00"), D("1040.00"), D("0.00"), D("4160.00"), D("0.800000"), D("650.00"), D("20.0000"))
    # 540 - 6h x 50 - 50 GBP x 1.30 = 540 - 300 - 65 = 175; 175/540 = 0.3240740...
    assert cells(("200004", d(2026, 3, 1))) == (D("540.00"), D("300.00"), D("65.00"), D("175.00"), D("0.324074"), D("0.00"), D("6.0000"))


# ---------------------------------------------------------------- backlog


def test_backlog_run2(runs):
    b = by(runs[1]["backlog"], "project_id", "snapshot_date")
    assert len(b) == 9
    cells = lambda p, s: tuple(b[(p, s)][c] for c in ("contract_usd", "revenue_to_date_usd", "backlog_usd", "overrun_usd"))  # noqa: E731
    jan, feb, mar = d(2026, 1, 31), d(2026, 2, 28), d(2026, 3, 31)
    assert cells("200001", jan) == (D("10000.00"), D("800.00"), D("9200.00"), D("0.00"))
    assert cells("200001", feb) == (D("10000.00"), D("800.00"), D("9200.00"), D("0.00"))
    assert cells("200001", mar) == (D("14000.00"), D("1300.00"), D("12700.00"), D("0.00"))  # 10000+2000+2000; 800+500
    assert b[("200001", mar)]["backlog_quality"] == "estimated"
    assert ("200002", jan) not in b  # first booking event 2026-02-15
    assert cells("200002", feb) == (D("28000.00"), D("2800.00"), D("25200.00"), D("0.00"))  # 20000 x 1.40; 2000 x 1.40
    assert cells("200002", mar) == (D("26000.00"), D("7800.00"), D("18200.00"), D("0.00"))  # x 1.30; 6000 x 1.30
    assert cells("200003", jan) == (D("6250.00"), D("0.00"), D("6250.00"), D("0.00"))  # 5000 EUR x 1.25
    assert cells("200003", feb) == (D("6000.00"), D("3000.00"), D("3000.00"), D("0.00"))
    # completed, ends 2026-03-15: backlog 0 at the March snapshot; 5000 x 1.10 and 4000 x 1.10
    assert cells("200003", mar) == (D("5500.00"), D("4400.00"), D("0.00"), D("0.00"))
    # no booking, revenue from March: contract 0, overrun = revenue to date 490.909.. x 1.10 = 540
    assert cells("200004", mar) == (D("0.00"), D("540.00"), D("0.00"), D("540.00"))


def test_backlog_run1_missing_rate_is_null(runs):
    b = by(runs[0]["backlog"], "project_id", "snapshot_date")
    assert tuple(b[("200002", d(2026, 2, 28))][c] for c in ("contract_usd", "backlog_usd")) == (None, None)
    assert b[("200002", d(2026, 3, 31))]["backlog_usd"] == D("20800.00")  # 26000 - 4000 x 1.30


# ---------------------------------------------------------------- utilization


def test_utilization(runs):
    u1, u2 = by(runs[0]["utilization"], "employee_id", "week_start"), by(runs[1]["utilization"], "employee_id", "week_start")
    assert len(u1) == 23  # Erin: 14 weeks 2025-12-29 .. 2026-03-30; Ed: 9 weeks from 2026-02-02; no contractor
    assert all(e != "C-1" for e, _ in u1)
    cells = lambda r: tuple(r[c] for c in ("capacity_hours", "holiday_hours", "time_off_hours", "billable_hours",  # noqa: E731
                                           "nonbillable_hours", "billable_utilization", "productive_utilization"))
    # history_start is Thursday: Jan 1 is a US holiday (8 removed; its 8 h time off removes nothing
    # more), Jan 2 has 4 h approved time off: capacity 4
    assert cells(u1[("100001", d(2025, 12, 29))]) == (D("4.0000"), D("8.0000"), D("4.0000"), D("0.0000"), D("0.0000"), D("0.000000"), D("0.000000"))
    # 40 h (the 4 h on Jan 5 are only submitted); 12 h billable (8 after 5002 is deleted)
    assert cells(u1[("100001", d(2026, 1, 5))])[:4] == (D("40.0000"), D("0.0000"), D("0.0000"), D("12.0000"))
    assert u1[("100001", d(2026, 1, 5))]["billable_utilization"] == D("0.300000")
    assert u2[("100001", d(2026, 1, 5))]["billable_utilization"] == D("0.200000")
    assert cells(u1[("100001", d(2026, 1, 19))])[:2] == (D("32.0000"), D("8.0000"))  # MLK day
    assert u1[("100001", d(2026, 3, 30))]["capacity_hours"] == D("16.0000")  # Mon 30, Tue 31 = as_of
    # Ed: 35 h/week; run 2 the 10 h of 5004 count: 10/35 = 0.2857142..
    assert u1[("100002", d(2026, 2, 9))]["billable_hours"] == D("0.0000")
    assert (u2[("100002", d(2026, 2, 9))]["billable_hours"], u2[("100002", d(2026, 2, 9))]["billable_utilization"]) == (D("10.0000"), D("0.285714"))
    # 20 h non-billable: productive 20/35 = 0.5714285..
    assert (u1[("100002", d(2026, 3, 9))]["nonbillable_hours"], u1[("100002", d(2026, 3, 9))]["productive_utilization"]) == (D("20.0000"), D("0.571429"))
    assert u1[("100002", d(2026, 3, 9))]["practice"] == "Cloud"


# ---------------------------------------------------------------- capacity plan


def test_capacity_plan(runs):
    c = by(runs[0]["capacity_plan"], "practice", "week_start")
    assert len(c) == 24  # Data and Cloud x 12 weeks from Monday 2026-04-06
    assert min(w for _, w in c) == d(2026, 4, 6) and max(w for _, w in c) == d(2026, 6, 22)
    cells = lambda k: tuple(c[k][x] for x in ("capacity_hours", "hard_allocated_hours", "soft_allocated_hours",  # noqa: E731
                                              "weighted_pipeline_hours", "unallocated_hours", "demand_gap_hours"))
    # Data, week 1: Erin 40 - 8 h time off Apr 7 = 32; hard 80 h over 10 days = 40; pipeline
    # 80 h x 0.5 over the same 10 days = 20; unallocated 32 - 40; gap 40 + 20 - 32
    assert cells(("Data", d(2026, 4, 6))) == (D("32.0000"), D("40.0000"), D("0.0000"), D("20.0000"), D("-8.0000"), D("28.0000"))
    assert cells(("Data", d(2026, 4, 13))) == (D("40.0000"), D("40.0000"), D("0.0000"), D("20.0000"), D("0.0000"), D("20.0000"))
    assert c[("Data", d(2026, 5, 25))]["capacity_hours"] == D("32.0000")  # Memorial Day
    # the contractor's 10 h over Jun 22 - Jul 3 (10 days): the 5 days inside the window
    assert cells(("Data", d(2026, 6, 22))) == (D("40.0000"), D("5.0000"), D("0.0000"), D("0.0000"), D("35.0000"), D("-35.0000"))
    # Cloud, week 1: Ed 35 - 7 (Easter Monday, GB) - 3.5 (Apr 8) = 24.5; soft 40 h over 8 days (Apr
    # 1-3, 6-10) = 5/day -> 25; HubSpot pipeline 50 x 0.2 = 10 h over 22 working days in April ->
    # 5 x 10/22 = 2.2727..; gap 25 + 2.2727.. - 24.5 = 2.7727..
    assert cells(("Cloud", d(2026, 4, 6))) == (D("24.5000"), D("0.0000"), D("25.0000"), D("2.2727"), D("24.5000"), D("2.7727"))
    assert c[("Cloud", d(2026, 4, 27))]["weighted_pipeline_hours"] == D("1.8182")  # 4 days x 10/22


# ---------------------------------------------------------------- dimensions


def test_dimensions(runs):
    cu = by(runs[0]["dim_customer"], "customer_id")
    assert (cu["10002"]["crm_account_id"], cu["10002"]["country"], cu["10002"]["currency"]) == ("001A2", "GB", "GBP")
    assert (cu["10003"]["crm_account_id"], cu["10003"]["country"]) == (None, None)
    pr = by(runs[0]["dim_project"], "project_id")
    assert (pr["200002"]["billing_type"], pr["200002"]["budget_hours"], pr["200002"]["psa_workspace_id"]) == ("fixed_fee", D("100.0000"), "302")
    assert (pr["200003"]["project_status"], pr["200003"]["end_date"]) == ("completed", d(2026, 3, 15))
    em = by(runs[0]["dim_employee"], "employee_id")
    assert (em["100002"]["psa_user_id"], em["100002"]["hourly_cost"], em["100002"]["weekly_hours"]) == ("802", D("40.00"), D("35.0000"))
    assert em["C-1"]["worker_type"] == "Contingent Worker"


# ---------------------------------------------------------------- tiny_firm_edges (one record per reading)

EDGES = os.path.join(HERE, "tiny_firm_edges")


@pytest.fixture(scope="module")
def edges():
    return rm.compute_runs(rm.overlay_runs(EDGES), reconcile=True)


def rejects_of(res):
    return {(r["system"], r["stream"], r["key"]): r["rule"] for r in res["rejects"]}


def test_edges_rejects(edges):
    r1, r2 = rejects_of(edges[0]), rejects_of(edges[1])
    assert r1[("kantata", "time_entries", "5018")] == "over_24_hours_per_day"  # submitted, same employee-day
    assert ("kantata", "time_entries", "5017") not in r1  # after as_of, unknown project: waits
    assert edges[0]["_waiting"]["time_entries"] == 2  # 5009 and 5017
    # the February rates a row needs: the project's (5020, 4005) or the employee's cost currency (5021)
    for k in (("kantata", "time_entries", "5020"), ("kantata", "time_entries", "5021"), ("netsuite", "expense_line", "4005")):
        assert r1[k] == "no_fx_rate" and k not in r2
    assert r1[("netsuite", "invoice_line", "3007")] == "unknown_project"  # voided, unknown job
    assert ("netsuite", "invoice_line", "3008") not in r1  # voided CHF: needs no rate
    for res in edges:  # unparseable, still in the source: rejected every run
        assert rejects_of(res)[("netsuite", "transactionline", "3009")] == "unparseable_value"


def test_edges_time_entries(edges):
    t1, t2 = by(edges[0]["fct_time_entry"], "time_entry_id"), by(edges[1]["fct_time_entry"], "time_entry_id")
    assert t1["5016"]["work_date"] == d(2025, 12, 15)  # before history_start: still a fact
    assert (t1["5019"]["bill_rate"], t1["5019"]["bill_amount_usd"], t1["5019"]["cost_amount_usd"], t1["5019"]["currency"]) == (
        None, None, D("50.00"), "CHF")  # no rate: nothing to convert but the cost (1 h x 50 USD)
    assert "5020" not in t1 and t2["5020"]["bill_amount_usd"] == D("90.00")
    rev = by(edges[1]["revenue"], "project_id", "month")
    # 1 h x 90 USD on the EUR project in February: 90 x 1 / 1.20 = 75 EUR; 75 x 1.20 = 90 USD
    assert (rev[("200004", d(2026, 2, 1))]["revenue_local"], rev[("200004", d(2026, 2, 1))]["revenue_usd"]) == (D("75.00"), D("90.00"))
    bl = by(edges[0]["backlog"], "project_id", "snapshot_date")
    # run 1: revenue to date of 200001 at Jan 31 = Dec 100 (5016) + Jan 1200 = 1300; 10000 - 1300
    assert (bl[("200001", d(2026, 1, 31))]["revenue_to_date_usd"], bl[("200001", d(2026, 1, 31))]["backlog_usd"]) == (D("1300.00"), D("8700.00"))


def test_edges_milestone_in_workspace_currency(edges):
    rev = by(edges[0]["revenue"], "project_id", "month")
    # story 7006: 1000.00 in workspace 305's EUR, project 200005 in USD: 1000 x 1.10 / 1
    assert (rev[("200005", d(2026, 3, 1))]["revenue_local"], rev[("200005", d(2026, 3, 1))]["currency"]) == (D("1100.00"), "USD")


def test_edges_capacity_plan(edges):
    c = by(edges[0]["capacity_plan"], "practice", "week_start")
    assert len(c) == 36  # Data, Cloud and NULL
    assert c[(None, d(2026, 4, 6))]["hard_allocated_hours"] == D("10.0000")  # 600 min over Apr 6-10
    assert c[("Data", d(2026, 4, 6))]["weighted_pipeline_hours"] == D("20.0000")  # 006P10 (no end date) adds nothing


def test_edges_bookings(edges):
    b1, b2 = by(edges[0]["bookings"], "booking_id"), by(edges[1]["bookings"], "booking_id")
    assert b1["006P11:1"]["customer_id"] == "10004"  # linked by AccountId though the account is deleted
    cu = by(edges[0]["dim_customer"], "customer_id")
    assert (cu["10004"]["crm_account_id"], cu["10004"]["country"]) == (None, None)
    assert b1["006P12:1"]["project_id"] == "200006"  # parent 006ZZ is no opportunity: the job linking 006ZZ
    assert (b1["006P13:1"]["event_type"], b1["006P13:1"]["amount_local"]) == ("won", D("0.00"))
    assert "006O9:1" not in b2  # won, closes 2026-04-10 > as_of
    assert (b2["006O9:2"]["event_type"], b2["006O9:2"]["booking_date"], b2["006O9:2"]["amount_local"]) == (
        "amount_change", d(2026, 3, 16), D("500.00"))  # 7500 - 7000
    ev = lambda k: (b2[k]["event_type"], b2[k]["booking_date"], b2[k]["amount_local"], b2[k]["currency"], b2[k]["amount_usd"])  # noqa: E731
    assert ev("006O3:2") == ("debook", d(2026, 3, 17), D("-2000.00"), "USD", D("-2000.00"))
    assert ev("006O3:3") == ("won", d(2026, 3, 5), D("2000.00"), "EUR", D("2200.00"))  # 2000 x 1.10
    bl = by(edges[1]["backlog"], "project_id", "snapshot_date")
    # 200001 at Mar 31: 10000 + 2000 (amount change) + 2000 EUR x 1.10 = 14200 USD;
    # revenue to date 100 (Dec, 5016) + 800 (Jan, 5001) + 100 (Feb, 5021 once the GBP rate is there)
    # + 500 (Mar, 5006; 5019 has no rate) = 1500; backlog 14200 - 1500
    assert (bl[("200001", d(2026, 3, 31))]["contract_usd"], bl[("200001", d(2026, 3, 31))]["backlog_usd"]) == (D("14200.00"), D("12700.00"))


# ---------------------------------------------------------------- SPEC 4b tables (R23)


def test_dim_employee_history(runs):
    h = by(runs[0]["dim_employee_history"], "employee_id", "valid_from")
    # no Worker_History: one version per worker from Hire_Date, current
    assert set(h) == {("100001", d(2020, 1, 1)), ("100002", d(2026, 2, 2)), ("C-1", d(2025, 1, 1))}
    r = h[("100002", d(2026, 2, 2))]
    assert (r["valid_to"], r["is_current"], r["weekly_hours"], r["hourly_cost"], r["cost_currency"]) == (None, True, D("35.0000"), D("40.00"), "GBP")


def test_project_setup(runs):
    s1, s2 = by(runs[0]["project_setup"], "opportunity_id"), by(runs[1]["project_setup"], "opportunity_id")
    # won new business closing by as_of: 006O9 closes after it, 006O3 is a change order
    assert set(s1) == {"006O1", "006O2", "006O4", "006O6", "006O7", "006O8", "9001"}
    assert set(s2) == {"006O1", "006O2", "006O4", "9001"}  # 006O6 reopened, 006O7 gone, 006O8 deleted
    o1 = s1["006O1"]
    # first approved time 2026-01-05 is 5 days before the win; hard allocations start after as_of
    assert (o1["project_id"], o1["first_approved_time_date"], o1["days_to_first_time"], o1["first_hard_allocation_date"],
            o1["days_to_staffed"], o1["project_created_date"]) == ("200001", d(2026, 1, 5), -5, None, None, None)
    # 200002: run 1 its first approved time is 5005 on 2026-03-10 (23 days after 2026-02-15);
    # run 2 5004 (2026-02-10) conforms: -5
    assert s1["006O2"]["days_to_first_time"] == 23 and s2["006O2"]["days_to_first_time"] == -5


def test_billing(runs):
    b = by(runs[1]["billing"], "project_id", "month")
    assert set(b) == {(r["project_id"], r["month"]) for r in runs[1]["revenue"]}
    cells = lambda k: tuple(b[k][c] for c in ("revenue_to_date_usd", "invoiced_to_date_usd", "unbilled_usd", "overbilled_usd", "wip_days"))  # noqa: E731
    # 800 revenue, 1000 invoiced: overbilled 200; wip 0 / (800 / 92 days) = 0
    assert cells(("200001", d(2026, 1, 1))) == (D("800.00"), D("1000.00"), D("0.00"), D("200.00"), D("0.000000"))
    # 1300 vs 1000 (3005 voided, 3006 after as_of): unbilled 300; Jan+Feb+Mar revenue 1300 over 90 days:
    # 300 / (1300 / 90) = 20.7692307..
    assert cells(("200001", d(2026, 3, 1))) == (D("1300.00"), D("1000.00"), D("300.00"), D("0.00"), D("20.769231"))
    # GBP: 6000 to date x 1.30 = 7800; invoice 500 x 1.30 = 650; unbilled 5500 GBP -> 7150;
    # wip 5500 / (6000 / 90) = 82.5
    assert cells(("200002", d(2026, 3, 1))) == (D("7800.00"), D("650.00"), D("7150.00"), D("0.00"), D("82.500000"))
    b1 = by(runs[0]["billing"], "project_id", "month")
    # run 1, no February EUR rate: USD figures NULL, wip_days (project currency) still 2500 / (2500 / 90)
    assert cells(("200003", d(2026, 2, 1)))[4] == D("90.000000")
    assert tuple(b1[("200003", d(2026, 2, 1))][c] for c in ("revenue_to_date_usd", "unbilled_usd", "wip_days")) == (None, None, D("90.000000"))


# ---------------------------------------------------------------- tiny firms built in the test

FA_RATES = [("EUR", "2026-01", "1.25"), ("EUR", "2026-02", "1.20"), ("EUR", "2026-03", "1.10"), ("EUR", "2026-04", "1.10"),
            ("EUR", "2026-05", "1.10")]


def write_firm(root, as_of, history_start, files, rates=()):
    """A fixture directory from scratch: files {relative path: [records]}, rates [(currency, YYYY-MM, usd_per_unit)]."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps({"as_of": as_of, "history_start": history_start}))
    for rel, recs in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    months = {}
    for cur, mon, r in rates:
        months.setdefault(mon, []).append(f"{cur},{mon},{r}")
    for mon, rows in months.items():
        (root / "treasury").mkdir(exist_ok=True)
        (root / "treasury" / f"fx_rates_{mon}.csv").write_text("currency,month,usd_per_unit\n" + "\n".join(rows) + "\n")
    return str(root)


def sf_opp(oid, stage, amount, close, practice, currency="USD", probability=50.0, deleted=False):
    won, closed = stage == "Closed Won", stage in ("Closed Won", "Closed Lost")
    return {"Id": oid, "AccountId": None, "Name": oid, "StageName": stage, "Amount": amount, "CurrencyIsoCode": currency,
            "CloseDate": close, "Probability": 100.0 if won else probability, "Type": "New Business", "IsClosed": closed,
            "IsWon": won, "IsDeleted": deleted, "Billing_Type__c": "Time and Materials", "Practice__c": practice,
            "Estimated_Hours__c": None, "Start_Date__c": None, "End_Date__c": None, "Parent_Opportunity__c": None,
            "SystemModstamp": "2026-04-20T10:00:00.000+0000"}


def sf_hist(hid, oid, created, stage, amount, probability, close, deleted=False):
    return {"Id": hid, "OpportunityId": oid, "StageName": stage, "Amount": amount, "Probability": probability,
            "CloseDate": close, "CreatedDate": created, "IsDeleted": deleted, "SystemModstamp": created}


def hs_deal(did, stage, amount, close, practice, currency, probability, history=None, archived=False):
    rec = {"id": did, "properties": {
        "dealname": f"deal {did}", "dealstage": stage, "amount": amount, "deal_currency_code": currency,
        "closedate": close + "T00:00:00.000Z", "hs_is_closed_won": "true" if stage == "closedwon" else "false",
        "hs_deal_stage_probability": probability, "dealtype": "newbusiness", "billing_type": "time_and_materials",
        "practice": practice, "estimated_hours": "", "start_date": "", "end_date": "", "parent_deal_id": "",
        "netsuite_customer_id": "", "hs_lastmodifieddate": "2026-03-05T10:00:00.000Z"},
        "archived": archived, "updatedAt": "2026-03-05T10:00:00.000Z"}
    if archived:
        rec["archivedAt"] = "2026-03-20T10:00:00.000Z"
    if history is not None:
        rec["propertiesWithHistory"] = history
    return rec


def hv(*pairs):
    """A propertiesWithHistory list, newest first as HubSpot sends it, from (value, timestamp) pairs."""
    return [{"value": v, "timestamp": t, "sourceType": "CRM_UI"} for v, t in pairs]


# ---------------------------------------------------------------- SPEC 4b forecast_accuracy (R24-R30)


@pytest.fixture(scope="module")
def fa_quarter(tmp_path_factory):
    """as_of 2026-04-30, history_start 2026-01-01: the only snapshot is 2026-01-31 (horizon 2026-04-30;
    Feb 28's horizon May 31 is after as_of). EUR 1.25 in January, 1.10 in April."""
    root = tmp_path_factory.mktemp("fa_quarter")
    opps = [
        sf_opp("006A", "Closed Won", 20000.0, "2026-03-15", "Data"),
        sf_opp("006E", "Closed Lost", 10000.0, "2026-02-20", "Cloud", currency="EUR", probability=0.0),
        sf_opp("006F", "Closed Won", 5000.0, "2026-04-10", "Cloud", currency="EUR"),
    ]
    hist = [
        sf_hist("017A1", "006A", "2026-01-15T10:00:00.000+0000", "Proposal/Price Quote", 20000.0, 50.0, "2026-03-15"),
        sf_hist("017A2", "006A", "2026-03-15T16:00:00.000+0000", "Closed Won", 20000.0, 100.0, "2026-03-15"),
        sf_hist("017E1", "006E", "2026-01-20T10:00:00.000+0000", "Negotiation/Review", 10000.0, 40.0, "2026-02-20"),
        sf_hist("017E2", "006E", "2026-02-25T10:00:00.000+0000", "Closed Lost", 10000.0, 0.0, "2026-02-20"),
        sf_hist("017F1", "006F", "2026-02-01T09:00:00.000+0000", "Qualification", 5000.0, 20.0, "2026-04-10"),
        sf_hist("017F2", "006F", "2026-04-10T12:00:00.000+0000", "Closed Won", 5000.0, 100.0, "2026-04-10"),
    ]
    d_ = write_firm(root, "2026-04-30", "2026-01-01",
                    {"salesforce/Opportunity.jsonl": opps, "salesforce/OpportunityHistory.jsonl": hist}, FA_RATES)
    return rm.compute(d_)


def fa_cells(res):
    return {(r["snapshot_date"], r["practice"]): (r["weighted_forecast_usd"], r["actual_won_usd"], r["accuracy"])
            for r in res["forecast_accuracy"]}


def test_forecast_snapshots():
    # Jan 31 -> Apr 30, Feb 28 -> May 31, Mar 31 -> Jun 30; Apr 30 -> Jul 31 is after as_of Jun 30
    assert rm.forecast_snapshots(d(2026, 1, 1), d(2026, 6, 30)) == [
        (d(2026, 1, 31), d(2026, 4, 30)), (d(2026, 2, 28), d(2026, 5, 31)), (d(2026, 3, 31), d(2026, 6, 30))]
    # history_start mid-month: its month's end is the first snapshot; none when no horizon fits
    assert rm.forecast_snapshots(d(2025, 11, 15), d(2026, 2, 28)) == [(d(2025, 11, 30), d(2026, 2, 28))]
    assert rm.forecast_snapshots(d(2026, 1, 1), d(2026, 4, 29)) == []


def test_forecast_accuracy_half_of_actual(fa_quarter):
    c = fa_cells(fa_quarter)
    # Data at 2026-01-31: 006A stood (row 017A1, 2026-01-15) at Proposal, 20000 USD x 50 % closing
    # 2026-03-15 (inside (Jan 31, Apr 30]) -> forecast 10000; it was won at 20000 dated 2026-03-15
    # -> actual 20000; accuracy 1 - |10000 - 20000| / 20000 = 0.5
    assert c[(d(2026, 1, 31), "Data")] == (D("10000.00"), D("20000.00"), D("0.500000"))


def test_forecast_accuracy_firm_row_is_the_sum_of_practices(fa_quarter):
    c = fa_cells(fa_quarter)
    assert set(c) == {(d(2026, 1, 31), "Cloud"), (d(2026, 1, 31), "Data"), (d(2026, 1, 31), None)}
    # Cloud: 006E open at Jan 31 (017E1): 10000 EUR x 40 % x 1.25 (January, s's month) = 5000 USD (lost
    # later: no actual); 006F has no history row until 2026-02-01: not in the forecast, but won
    # 5000 EUR on 2026-04-10 -> actual at s's month rate 5000 x 1.25 = 6250 (not April's 1.10);
    # accuracy 1 - 1250 / 6250 = 0.8
    assert c[(d(2026, 1, 31), "Cloud")] == (D("5000.00"), D("6250.00"), D("0.800000"))
    # firm: 10000 + 5000 = 15000, 20000 + 6250 = 26250; accuracy a ratio of the sums:
    # 1 - 11250 / 26250 = 1 - 3/7 = 0.5714285.. (not the mean of 0.5 and 0.8)
    assert c[(d(2026, 1, 31), None)] == (D("15000.00"), D("26250.00"), D("0.571429"))
    f = [r for r in fa_quarter["forecast_accuracy"] if r["practice"] is not None]
    assert sum(r["weighted_forecast_usd"] for r in f) == D("15000.00") and sum(r["actual_won_usd"] for r in f) == D("26250.00")


@pytest.fixture(scope="module")
def fa_slips(tmp_path_factory):
    """as_of 2026-05-31: snapshots 2026-01-31 (horizon Apr 30) and 2026-02-28 (horizon May 31); all USD, practice Data."""
    root = tmp_path_factory.mktemp("fa_slips")
    opps = [
        sf_opp("006B", "Proposal/Price Quote", 8000.0, "2026-08-31", "Data", probability=25.0),
        sf_opp("006C", "Closed Won", 3000.0, "2026-01-20", "Data"),
        sf_opp("006D", "Closed Won", 50000.0, "2026-03-01", "Data", deleted=True),
        sf_opp("006G", "Value Proposition", 4000.0, "2026-02-10", "Data", probability=25.0),
        sf_opp("006H", "Value Proposition", 2000.0, "2026-02-15", "Data"),
    ]
    hist = [
        # 006B: closing 2026-04-20 at Jan 31; on Feb 5 it slips to Aug 31, out of both windows
        sf_hist("017B1", "006B", "2026-01-10T09:00:00.000+0000", "Proposal/Price Quote", 8000.0, 25.0, "2026-04-20"),
        sf_hist("017B2", "006B", "2026-02-05T09:00:00.000+0000", "Proposal/Price Quote", 8000.0, 25.0, "2026-08-31"),
        # 006C: won on Jan 20, before s (its first row closing Mar 20 is superseded)
        sf_hist("017C1", "006C", "2026-01-02T09:00:00.000+0000", "Prospecting", 3000.0, 10.0, "2026-03-20"),
        sf_hist("017C2", "006C", "2026-01-20T15:00:00.000+0000", "Closed Won", 3000.0, 100.0, "2026-01-20"),
        # 006D: open at Jan 31 (would add 45000), won Mar 1, deleted now
        sf_hist("017D1", "006D", "2026-01-12T09:00:00.000+0000", "Negotiation/Review", 50000.0, 90.0, "2026-03-01"),
        sf_hist("017D2", "006D", "2026-03-01T09:00:00.000+0000", "Closed Won", 50000.0, 100.0, "2026-03-01"),
        # 006G: created at 23:30 UTC on s itself: counts at s
        sf_hist("017G1", "006G", "2026-01-31T23:30:00.000+0000", "Value Proposition", 4000.0, 25.0, "2026-02-10"),
        # 006H: 20:00 at -05:00 on Jan 31 is 01:00 UTC on Feb 1: after the end of s
        sf_hist("017H1", "006H", "2026-01-31T20:00:00.000-0500", "Value Proposition", 2000.0, 50.0, "2026-02-15"),
    ]
    d_ = write_firm(root, "2026-05-31", "2026-01-01",
                    {"salesforce/Opportunity.jsonl": opps, "salesforce/OpportunityHistory.jsonl": hist}, FA_RATES)
    return rm.compute(d_)


def test_forecast_accuracy_as_of_s_close_date_won_before_and_deleted(fa_slips):
    c = fa_cells(fa_slips)
    # Jan 31: 006B by its as-of-s close date 2026-04-20: 8000 x 25 % = 2000 (the later slip to Aug 31
    # does not take it out); 006G 4000 x 25 % = 1000; 006C was Closed Won at s (and its won event,
    # 2026-01-20, is before the window); 006D is deleted: nowhere (not 45000 in the forecast, never
    # booked, so not 50000 in the actual); 006H's row is after the end of day s in UTC.
    # Forecast 2000 + 1000 = 3000
    assert c[(d(2026, 1, 31), "Data")][:2] == (D("3000.00"), D("0.00"))
    assert c[(d(2026, 1, 31), None)][:2] == (D("3000.00"), D("0.00"))
    assert not any(b["opportunity_id"] == "006D" for b in fa_slips["bookings"])
    # Feb 28: 006B closes Aug 31 (> May 31), 006G Feb 10 and 006H Feb 15 (<= s): nothing counted and no
    # won event in (Feb 28, May 31]: no Data row, the firm row alone with 0.00 and 0.00
    assert (d(2026, 2, 28), "Data") not in c
    assert c[(d(2026, 2, 28), None)] == (D("0.00"), D("0.00"), None)
    assert len(c) == 3


def test_forecast_accuracy_null_when_actual_is_zero(fa_slips):
    c = fa_cells(fa_slips)
    # Jan 31: forecast 3000 but nothing won in (Jan 31, Apr 30]: 1 - |3000 - 0| / 0 is undefined -> NULL
    assert c[(d(2026, 1, 31), "Data")] == (D("3000.00"), D("0.00"), None)
    assert c[(d(2026, 1, 31), None)][2] is None


@pytest.fixture(scope="module")
def fa_hubspot(tmp_path_factory):
    """HubSpot deals with propertiesWithHistory; as_of 2026-04-30: one snapshot, 2026-01-31. No GBP rates."""
    root = tmp_path_factory.mktemp("fa_hubspot")
    deals = [
        hs_deal("9101", "closedwon", "12000", "2026-03-05", "Strategy", "EUR", "1.0", history={
            "dealstage": hv(("closedwon", "2026-03-05T10:00:00.000Z"), ("contractsent", "2026-01-25T10:00:00.000Z"),
                            ("appointmentscheduled", "2026-01-05T10:00:00.000Z")),
            "amount": hv(("12000", "2026-02-10T10:00:00.000Z"), ("8000", "2026-01-05T10:00:00.000Z")),
            "closedate": hv(("2026-03-05T00:00:00.000Z", "2026-03-05T10:00:00.000Z"),
                            ("2026-03-31T00:00:00.000Z", "2026-01-31T23:59:00.000Z"),
                            ("2026-01-30T00:00:00.000Z", "2026-01-05T10:00:00.000Z")),
            "hs_deal_stage_probability": hv(("1.0", "2026-03-05T10:00:00.000Z"), ("0.9", "2026-01-25T10:00:00.000Z"),
                                            ("0.2", "2026-01-05T10:00:00.000Z"))}),
        # archived now: nowhere, though open at s with 50000 x 0.4
        hs_deal("9102", "qualifiedtobuy", "50000", "2026-03-01", "Strategy", "EUR", "0.4", archived=True, history={
            "dealstage": hv(("qualifiedtobuy", "2026-01-10T10:00:00.000Z")),
            "amount": hv(("50000", "2026-01-10T10:00:00.000Z")),
            "closedate": hv(("2026-03-01T00:00:00.000Z", "2026-01-10T10:00:00.000Z")),
            "hs_deal_stage_probability": hv(("0.4", "2026-01-10T10:00:00.000Z"))}),
        # no propertiesWithHistory: its state at s is unknown, not counted
        hs_deal("9103", "contractsent", "7000", "2026-02-15", "Strategy", "EUR", "0.5"),
        # GBP, no GBP rate in January: counted, its USD value unknown
        hs_deal("9104", "presentationscheduled", "1000", "2026-03-10", "Cloud", "GBP", "0.5", history={
            "dealstage": hv(("presentationscheduled", "2026-01-08T10:00:00.000Z")),
            "amount": hv(("1000", "2026-01-08T10:00:00.000Z")),
            "closedate": hv(("2026-03-10T00:00:00.000Z", "2026-01-08T10:00:00.000Z")),
            "hs_deal_stage_probability": hv(("0.5", "2026-01-08T10:00:00.000Z"))}),
    ]
    d_ = write_firm(root, "2026-04-30", "2026-01-01", {"hubspot/deals.jsonl": deals}, FA_RATES)
    return rm.compute(d_)


def test_forecast_accuracy_hubspot_properties_with_history(fa_hubspot):
    c = fa_cells(fa_hubspot)
    # 9101 at 2026-01-31 (each property's latest value at or before the end of Jan 31, UTC):
    # dealstage contractsent (Jan 25; closedwon only Mar 5) -> open; amount 8000 (Jan 5; 12000 only
    # Feb 10); closedate 2026-03-31 (set at 23:59 UTC on Jan 31 itself; the Jan 5 value Jan 30 would
    # be before s) -> inside (Jan 31, Apr 30]; probability 0.9 (Jan 25).
    # forecast 8000 x 0.9 x 1.25 = 9000 USD; won now at 12000 EUR dated 2026-03-05 -> actual at
    # January's rate 12000 x 1.25 = 15000; accuracy 1 - 6000 / 15000 = 0.6.
    # 9102 (archived) and 9103 (no history) add nothing.
    assert c[(d(2026, 1, 31), "Strategy")] == (D("9000.00"), D("15000.00"), D("0.600000"))
    assert set(c) == {(d(2026, 1, 31), "Strategy"), (d(2026, 1, 31), "Cloud"), (d(2026, 1, 31), None)}


def test_forecast_accuracy_missing_rate_is_null_not_zero(fa_hubspot):
    c = fa_cells(fa_hubspot)
    # 9104: 1000 GBP x 0.5 counted at Jan 31, no GBP rate for 2026-01: Cloud's forecast NULL, its row
    # still published; the firm's forecast NULL too (never 9000 as if the GBP deal were 0)
    assert c[(d(2026, 1, 31), "Cloud")] == (None, D("0.00"), None)
    assert c[(d(2026, 1, 31), None)] == (None, D("15000.00"), None)


# ---------------------------------------------------------------- SPEC 4b employee versions (R18, R23)


def raise_firm(root, with_raise):
    """One employee, 10 approved billable hours a month on a USD T&M project, 2026-01..06.
    Worker_History: Consultant/Data/40 h/50 USD from 2020-01-01; Part-time Consultant/Cloud/20 h/50 USD
    from Wednesday 2026-03-04; with_raise adds Senior Consultant/Cloud/20 h/60 USD from 2026-06-01
    (the Workers record then shows the current 60). Rows written out of date order on purpose."""
    def wh(eff, profile, practice, weekly, cost):
        return {"Employee_ID": "100001", "Effective_Date": eff, "Practice": practice, "Job_Profile": profile,
                "Scheduled_Weekly_Hours": weekly, "Hourly_Cost_Rate": cost, "Cost_Rate_Currency": "USD"}
    hist = ([wh("2026-06-01", "Senior Consultant", "Cloud", "20", "60.00")] if with_raise else []) + [
        wh("2020-01-01", "Consultant", "Data", "40", "50.00"), wh("2026-03-04", "Part-time Consultant", "Cloud", "20", "50.00")]
    cur = ("Senior Consultant", "60.00") if with_raise else ("Part-time Consultant", "50.00")
    worker = {"Employee_ID": "100001", "Worker": "Erin One", "Email": "erin@tiny.test", "Worker_Type": "Employee",
              "Job_Profile": cur[0], "Practice": "Cloud", "Cost_Center": "CC1", "Location_Country": "US",
              "Hire_Date": "2020-01-01", "Termination_Date": "", "Scheduled_Weekly_Hours": "20", "Hourly_Cost_Rate": cur[1],
              "Cost_Rate_Currency": "USD", "Last_Updated": "2026-06-01T09:00:00.000-07:00"}
    entries = [{"id": f"50{i}", "workspace_id": "301", "user_id": "801", "date_performed": day, "time_in_minutes": 600,
                "billable": True, "approved": True, "rate_in_cents": 10000, "currency": "USD", "notes": "",
                "updated_at": "2026-06-20T10:00:00-05:00"}
               for i, day in enumerate(["2026-01-15", "2026-02-16", "2026-03-16", "2026-04-15", "2026-05-15", "2026-06-15"], 1)]
    files = {
        "netsuite/currency.jsonl": [{"id": "1", "symbol": "USD", "name": "US Dollar"}],
        "netsuite/customer.jsonl": [{"id": "10001", "entityid": "CUS-1", "companyname": "Alpha", "custentity_sf_account_id": "",
                                     "currency": "1", "lastmodifieddate": "1/2/2026"}],
        "netsuite/job.jsonl": [{"id": "200001", "entityid": "PRJ-1", "companyname": "Alpha - T&M", "parent": "10001",
                                "entitystatus": "2", "jobbillingtype": "TM", "startdate": "1/1/2026", "projectedenddate": "12/31/2026",
                                "currency": "1", "custentity_crm_opportunity_id": "", "custentity_budget_hours": "",
                                "custentity_practice": "Data", "datecreated": "1/2/2026", "lastmodifieddate": "1/2/2026"}],
        "kantata/workspaces.jsonl": [{"id": "301", "title": "ws", "external_reference": "PRJ-1",
                                      "status": {"key": 310, "message": "In Progress", "color": "green"}, "currency": "USD",
                                      "start_date": "2026-01-01", "due_date": "2026-12-31", "archived": False,
                                      "updated_at": "2026-01-02T10:00:00-05:00"}],
        "kantata/users.jsonl": [{"id": "801", "full_name": "Erin One", "email_address": "erin@tiny.test",
                                 "external_reference": "100001", "updated_at": "2026-01-02T10:00:00-05:00"}],
        "kantata/time_entries.jsonl": entries,
        "workday/Workers.jsonl": [worker],
        "workday/Worker_History.jsonl": hist,
    }
    return write_firm(root, "2026-06-30", "2026-01-01", files)


def test_raise_in_june_leaves_earlier_margin_unchanged(tmp_path):
    before = rm.compute(raise_firm(tmp_path / "before", False))
    after = rm.compute(raise_firm(tmp_path / "after", True))
    lab = lambda res: {r["month"]: r["labor_cost_usd"] for r in res["margin"]}  # noqa: E731
    # before the raise: 10 h x 50 = 500.00 every month (the March 4 change keeps the rate at 50)
    assert lab(before) == {d(2026, m, 1): D("500.00") for m in range(1, 7)}
    # after a raise to 60 effective 2026-06-01: January-May keep 10 h x 50 = 500.00; June 10 h x 60 = 600.00
    # (the current Workers rate, 60, would have made every month 600.00)
    assert lab(after) == {**{d(2026, m, 1): D("500.00") for m in range(1, 6)}, d(2026, 6, 1): D("600.00")}
    t = by(after["fct_time_entry"], "time_entry_id")
    assert (t["505"]["cost_amount_usd"], t["506"]["cost_amount_usd"]) == (D("500.00"), D("600.00"))
    # gross margin of May unchanged too: 10 h x 100 - 500 = 500
    assert by(after["margin"], "month")[d(2026, 5, 1)]["gross_margin_usd"] == D("500.00")


def test_employee_history_versions_and_utilization_week(tmp_path):
    res = rm.compute(raise_firm(tmp_path / "firm", True))
    h = by(res["dim_employee_history"], "valid_from")
    # the report lists 2026-06-01 first: each version keeps its own row's job profile
    cells = lambda r: (r["valid_to"], r["practice"], r["job_profile"], r["weekly_hours"], r["hourly_cost"], r["is_current"])  # noqa: E731
    assert cells(h[d(2020, 1, 1)]) == (d(2026, 3, 4), "Data", "Consultant", D("40.0000"), D("50.00"), False)
    assert cells(h[d(2026, 3, 4)]) == (d(2026, 6, 1), "Cloud", "Part-time Consultant", D("20.0000"), D("50.00"), False)
    assert cells(h[d(2026, 6, 1)]) == (None, "Cloud", "Senior Consultant", D("20.0000"), D("60.00"), True)
    u = by(res["utilization"], "week_start")
    # week of Monday 2026-03-02 takes Monday's version (40 h, Data) for every day: 5 x 8 = 40, though 20 h
    # a week applies from Wednesday (per day it would be 8 + 8 + 4 + 4 + 4 = 28)
    assert (u[d(2026, 3, 2)]["capacity_hours"], u[d(2026, 3, 2)]["practice"]) == (D("40.0000"), "Data")
    # next week: 5 x 4 = 20, Cloud; the 10 h of Monday 2026-03-16 -> 10 / 20 = 0.5
    assert (u[d(2026, 3, 9)]["capacity_hours"], u[d(2026, 3, 9)]["practice"]) == (D("20.0000"), "Cloud")
    assert u[d(2026, 3, 16)]["billable_utilization"] == D("0.500000")
