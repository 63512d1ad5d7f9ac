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
