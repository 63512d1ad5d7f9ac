"""Independent reference implementation of the canonical tables of SPEC section 4.

Computed straight from a fixture directory in the SPEC section 6 layout (JSON lines per stream in
the vendors' wire formats, treasury CSVs, manifest.json) with the Python standard library only.
Money is exact (fractions.Fraction) and rounded half-up to cents once, in the published cell
(returned as decimal.Decimal with two places); hours and ratios are floats computed from exact values.

    compute(fixtures_dir) -> {table_name: [row dict, ...]}

Where the SPEC can be read two ways this module follows the reading pslake's SQL takes; each such
place is marked "AMBIGUOUS" with both readings.
"""

import csv
import datetime as dt
import json
import os
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

TABLES = [
    "dim_customer",
    "dim_project",
    "dim_employee",
    "fct_time_entry",
    "bookings",
    "revenue",
    "backlog",
    "utilization",
    "capacity_plan",
    "margin",
]

PROJECT_STATUS = {"1": "completed", "2": "active", "3": "cancelled", "4": "pending", "5": "planned", "6": "on_hold"}
NS_BILLING = {"TM": "time_and_materials", "FBI": "fixed_fee", "FBM": "milestone"}
SF_BILLING = {"Time and Materials": "time_and_materials", "Fixed Fee": "fixed_fee", "Milestone": "milestone"}
HS_BILLING = {"time_and_materials": "time_and_materials", "fixed_fee": "fixed_fee", "milestone": "milestone"}
SF_TYPE = {"New Business": "new_business", "Change Order": "change_order", "Renewal": "renewal"}
HS_TYPE = {"newbusiness": "new_business", "changeorder": "change_order", "renewal": "renewal"}


# ---------------------------------------------------------------- helpers


def money(x):
    """Exact value -> Decimal rounded half-up (away from zero on ties) to cents."""
    if x is None:
        return None
    x = Fraction(x)
    sign = -1 if x < 0 else 1
    q = abs(x) * 100
    n = int(q)  # floor for non-negative
    if q - n >= Fraction(1, 2):
        n += 1
    return (Decimal(sign * n) / Decimal(100)).quantize(Decimal("0.01"))


def ratio(num, den):
    if den == 0:
        return None
    return float(Fraction(num) / Fraction(den))


def s(v):
    """Empty string means NULL."""
    if v is None or v == "":
        return None
    return v


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def iso_date(v):
    v = s(v)
    if v is None:
        return None
    return dt.date.fromisoformat(v[:10])


def ns_date(v):
    v = s(v)
    if v is None:
        return None
    m, d, y = v.split("/")
    return dt.date(int(y), int(m), int(d))


def try_parse(fn, v):
    try:
        return fn(v), True
    except (ValueError, TypeError, AttributeError):
        return None, False


def month_start(d):
    return d.replace(day=1)


def month_key(d):
    return f"{d.year:04d}-{d.month:02d}"


def month_end(d):
    nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def add_months(d, n):
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


def monday(d):
    return d - dt.timedelta(days=d.weekday())


def days(a, b):
    d = a
    while d <= b:
        yield d
        d += dt.timedelta(days=1)


def num(v):
    """Exact number from a JSON number or numeric string."""
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise ValueError("bool")
    if isinstance(v, float):
        return Fraction(repr(v))
    return Fraction(str(v))


# ---------------------------------------------------------------- load


class Firm:
    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "manifest.json"), encoding="utf-8") as f:
            man = json.load(f)
        self.as_of = dt.date.fromisoformat(man["as_of"])
        self.history_start = dt.date.fromisoformat(man["history_start"])
        j = lambda p: read_jsonl(os.path.join(root, p))  # noqa: E731
        self.accounts = j("salesforce/Account.jsonl")
        self.opps = j("salesforce/Opportunity.jsonl")
        self.deals = j("hubspot/deals.jsonl")
        self.customers = j("netsuite/customer.jsonl")
        self.jobs = j("netsuite/job.jsonl")
        self.invoice_lines = j("netsuite/invoice_line.jsonl")
        self.expense_lines = j("netsuite/expense_line.jsonl")
        self.workspaces = j("kantata/workspaces.jsonl")
        self.users = j("kantata/users.jsonl")
        self.time_entries = j("kantata/time_entries.jsonl")
        self.allocations = j("kantata/allocations.jsonl")
        self.stories = j("kantata/stories.jsonl")
        self.workers = j("workday/Workers.jsonl")
        self.time_off = j("workday/Time_Off.jsonl")
        self.holidays = j("workday/Holidays.jsonl")
        self.fx = {}
        tdir = os.path.join(root, "treasury")
        for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
            if not name.endswith(".csv"):
                continue
            with open(os.path.join(tdir, name), encoding="utf-8", newline="") as f:
                for r in csv.DictReader(f):
                    self.fx[(r["currency"], r["month"])] = Fraction(r["usd_per_unit"])

    def rate(self, currency, d):
        """USD per unit for the month of d, None when there is none."""
        if currency == "USD":
            return Fraction(1)
        return self.fx.get((currency, month_key(d)))


# ---------------------------------------------------------------- model


def compute(fixtures_dir):
    f = Firm(fixtures_dir)
    out = {}
    hs, as_of = f.history_start, f.as_of

    # ---- dimensions
    accounts = {a["Id"]: a for a in f.accounts}
    dim_customer = []
    for c in f.customers:
        acc = accounts.get(s(c.get("custentity_sf_account_id")))
        dim_customer.append(
            {
                "customer_id": c["id"],
                "customer_name": s(c.get("companyname")),
                "crm_account_id": acc["Id"] if acc else None,
                "country": s(acc.get("BillingCountry")) if acc else None,
                "currency": s(c.get("currency")),
            }
        )
    out["dim_customer"] = dim_customer
    # AMBIGUOUS, pslake's reading: an opportunity's customer is the ERP customer whose
    # custentity_sf_account_id is its AccountId (the lowest id if several), whether or not the
    # Salesforce account record itself is present.
    sf_account_customer = {}
    for c in sorted(f.customers, key=lambda c: c["id"], reverse=True):
        if s(c.get("custentity_sf_account_id")):
            sf_account_customer[c["custentity_sf_account_id"]] = c["id"]
    customer_ids = {c["id"] for c in f.customers}

    ws_by_code = {}
    for w in f.workspaces:
        ref = s(w.get("external_reference"))
        if ref is not None:
            ws_by_code[ref] = w
    projects = {}
    for jb in f.jobs:
        ws = ws_by_code.get(jb["entityid"])
        bh = s(jb.get("custentity_budget_hours"))
        projects[jb["id"]] = {
            "project_id": jb["id"],
            "project_code": jb["entityid"],
            "project_name": s(jb.get("companyname")),
            "customer_id": s(jb.get("parent")),
            "crm_opportunity_id": s(jb.get("custentity_crm_opportunity_id")),
            "psa_workspace_id": ws["id"] if ws else None,
            "billing_type": NS_BILLING[jb["jobbillingtype"]],
            "project_status": PROJECT_STATUS[jb["entitystatus"]],
            "practice": s(jb.get("custentity_practice")),
            "start_date": ns_date(jb.get("startdate")),
            "end_date": ns_date(jb.get("projectedenddate")),
            "currency": s(jb.get("currency")),
            "budget_hours": float(bh) if bh is not None else None,
        }
    out["dim_project"] = list(projects.values())
    project_by_code = {p["project_code"]: p for p in projects.values()}
    project_by_ws = {}
    for w in f.workspaces:
        p = project_by_code.get(s(w.get("external_reference")))
        if p is not None:
            project_by_ws[w["id"]] = p

    user_by_emp = {}
    for u in f.users:
        ref = s(u.get("external_reference"))
        if ref is not None:
            user_by_emp[ref] = u
    employees = {}
    for w in f.workers:
        u = user_by_emp.get(w["Employee_ID"])
        wh = s(w.get("Scheduled_Weekly_Hours"))
        hc = s(w.get("Hourly_Cost_Rate"))
        employees[w["Employee_ID"]] = {
            "employee_id": w["Employee_ID"],
            "employee_name": s(w.get("Worker")),
            "email": s(w.get("Email")),
            "worker_type": s(w.get("Worker_Type")),
            "job_profile": s(w.get("Job_Profile")),
            "practice": s(w.get("Practice")),
            "cost_center": s(w.get("Cost_Center")),
            "country": s(w.get("Location_Country")),
            "hire_date": iso_date(w.get("Hire_Date")),
            "termination_date": iso_date(w.get("Termination_Date")),
            "weekly_hours": float(wh) if wh is not None else None,
            "hourly_cost": money(Fraction(hc)) if hc is not None else None,
            "cost_currency": s(w.get("Cost_Rate_Currency")),
            "psa_user_id": u["id"] if u else None,
            "_weekly": Fraction(wh) if wh is not None else Fraction(0),
            "_cost": Fraction(hc) if hc is not None else Fraction(0),
        }
    out["dim_employee"] = [{k: v for k, v in e.items() if not k.startswith("_")} for e in employees.values()]
    user_to_emp = {}
    for u in f.users:
        e = employees.get(s(u.get("external_reference")))
        if e is not None:
            user_to_emp[u["id"]] = e

    def employees_cost_known(emp):
        return emp["hourly_cost"] is not None

    # ---- time entries: row rules in the SPEC's order
    passed = []
    rejected = {}
    for t in f.time_entries:
        tid = str(t["id"])
        wd, ok = try_parse(iso_date, t.get("date_performed"))
        minutes = t.get("time_in_minutes")
        if not ok or wd is None or not isinstance(minutes, int) or isinstance(minutes, bool):
            rejected[tid] = "unparseable"
            continue
        proj = project_by_ws.get(str(t.get("workspace_id")))
        if proj is None:
            rejected[tid] = "unknown_project"
            continue
        emp = user_to_emp.get(str(t.get("user_id")))
        if emp is None:
            rejected[tid] = "unknown_employee"
            continue
        hours = Fraction(minutes, 60)
        if hours <= 0 or hours > 24:
            rejected[tid] = "hours_out_of_range"
            continue
        if (emp["hire_date"] and wd < emp["hire_date"]) or (emp["termination_date"] and wd > emp["termination_date"]):
            rejected[tid] = "outside_employment"
            continue
        cur = s(t.get("currency"))
        # SPEC: "The FX row rule applies only to amounts that are converted into a USD figure":
        # the bill amount when the entry has a rate, the cost amount when the employee has a cost rate
        cents = t.get("rate_in_cents")
        rate = Fraction(int(cents), 100) if cents is not None else None
        has_cost = employees_cost_known(emp)
        r_bill = f.rate(cur, wd)
        r_cost = f.rate(emp["cost_currency"], wd)
        if (rate is not None and r_bill is None) or (has_cost and r_cost is None):
            rejected[tid] = "no_fx_rate"
            continue
        passed.append(
            {
                "id": tid,
                "emp": emp,
                "proj": proj,
                "date": wd,
                "hours": hours,
                "billable": bool(t.get("billable")),
                "approved": bool(t.get("approved")),
                "rate": rate,
                "currency": cur,
                "bill_usd": hours * rate * r_bill if rate is not None else None,
                "bill_local": hours * rate if rate is not None else None,
                "cost_usd": hours * emp["_cost"] * r_cost if has_cost else None,
            }
        )
    # more than 24 approved hours by one employee on one day: all of that day's entries go.
    # AMBIGUOUS, pslake's reading: every (otherwise passing) entry of that employee and day, the
    # submitted ones too (the other reading: only the approved entries that make up the total).
    day_total = defaultdict(Fraction)
    for e in passed:
        if e["approved"]:
            day_total[(e["emp"]["employee_id"], e["date"])] += e["hours"]
    entries = []
    for e in passed:
        if day_total[(e["emp"]["employee_id"], e["date"])] > 24:
            rejected[e["id"]] = "day_over_24h"
        else:
            entries.append(e)
    out["_rejected_time_entries"] = rejected

    out["fct_time_entry"] = [
        {
            "time_entry_id": e["id"],
            "employee_id": e["emp"]["employee_id"],
            "project_id": e["proj"]["project_id"],
            "work_date": e["date"],
            "hours": float(e["hours"]),
            "billable": e["billable"],
            "time_state": "approved" if e["approved"] else "submitted",
            "bill_rate": money(e["rate"]) if e["rate"] is not None else None,
            "currency": e["currency"],
            "bill_amount_usd": money(e["bill_usd"]),
            "cost_amount_usd": money(e["cost_usd"]),
        }
        for e in entries
    ]
    # approved time up to as_of feeds revenue, margin, utilization ("as_of bounds every series")
    approved = [e for e in entries if e["approved"] and e["date"] <= as_of]

    # ---- opportunities (both CRMs, one shape)
    opps = {}
    for o in f.opps:
        opps[o["Id"]] = {
            "id": o["Id"],
            "system": "salesforce",
            "deleted": bool(o.get("IsDeleted")),
            "won": bool(o.get("IsWon")),
            # SPEC 4: won/lost come from IsWon/IsClosed, not from the StageName label.
            "closed": bool(o.get("IsClosed")),
            "type": SF_TYPE[o["Type"]],
            "parent": s(o.get("Parent_Opportunity__c")),
            "customer_id": sf_account_customer.get(s(o.get("AccountId"))),
            "billing_type": SF_BILLING[o["Billing_Type__c"]],
            "practice": s(o.get("Practice__c")),
            "amount": num(o.get("Amount")) or Fraction(0),
            "currency": s(o.get("CurrencyIsoCode")),
            "close_date": iso_date(o.get("CloseDate")),
            "probability": num(o.get("Probability")) / 100 if o.get("Probability") is not None else None,
            "est_hours": num(o.get("Estimated_Hours__c")),
            "start": iso_date(o.get("Start_Date__c")),
            "end": iso_date(o.get("End_Date__c")),
        }
    for d in f.deals:
        p = d.get("properties") or {}
        won = p.get("hs_is_closed_won") == "true"
        stage = p.get("dealstage")
        ncid = s(p.get("netsuite_customer_id"))
        opps[str(d["id"])] = {
            "id": str(d["id"]),
            "system": "hubspot",
            "deleted": bool(d.get("archived")),
            "won": won,
            "closed": won or stage in ("closedwon", "closedlost"),
            "type": HS_TYPE[p["dealtype"]],
            "parent": s(p.get("parent_deal_id")),
            "customer_id": ncid if ncid in customer_ids else None,
            "billing_type": HS_BILLING[p["billing_type"]],
            "practice": s(p.get("practice")),
            "amount": num(p.get("amount")) or Fraction(0),
            "currency": s(p.get("deal_currency_code")),
            "close_date": iso_date(p.get("closedate")),
            "probability": num(p.get("hs_deal_stage_probability")),
            "est_hours": num(p.get("estimated_hours")),
            "start": iso_date(p.get("start_date")),
            "end": iso_date(p.get("end_date")),
        }
    project_by_opp = {}
    for p in sorted(projects.values(), key=lambda p: p["project_id"], reverse=True):
        if p["crm_opportunity_id"]:
            project_by_opp[p["crm_opportunity_id"]] = p  # lowest project id wins

    def opp_project(o):
        # follow change orders / renewals up their parents to the end of the chain (a new-business
        # opportunity, or one whose parent is unknown); the project is the one linked to that end
        seen = set()
        while o["type"] != "new_business" and o["parent"] in opps and o["id"] not in seen and len(seen) < 20:
            seen.add(o["id"])
            o = opps[o["parent"]]
        return project_by_opp.get(o["id"])

    # ---- bookings (first run: one `won` event per currently won opportunity)
    bookings = []
    for o in opps.values():
        if o["deleted"] or not o["won"]:
            continue
        proj = opp_project(o)
        r = f.rate(o["currency"], o["close_date"])
        bookings.append(
            {
                "booking_id": f"{o['id']}:1",
                "opportunity_id": o["id"],
                "source_system": o["system"],
                "event_type": "won",
                "booking_date": o["close_date"],
                "booking_type": o["type"],
                "customer_id": o["customer_id"],
                "project_id": proj["project_id"] if proj else None,
                "billing_type": o["billing_type"],
                "practice": o["practice"],
                "amount_local": money(o["amount"]),
                "currency": o["currency"],
                "amount_usd": money(o["amount"] * r) if r is not None else None,
                "_amount": o["amount"],
            }
        )
    out["bookings"] = [{k: v for k, v in b.items() if not k.startswith("_")} for b in bookings]
    events_by_project = defaultdict(list)
    for b in bookings:
        if b["project_id"]:
            events_by_project[b["project_id"]].append((b["booking_date"], b["_amount"]))

    def contract_local(pid, d):
        return sum((a for bd, a in events_by_project[pid] if bd <= d), Fraction(0))

    # ---- months reported
    months = []
    m = month_start(hs)
    while m <= as_of:
        months.append(m)
        m = add_months(m, 1)

    def in_range(d):
        return hs <= d <= as_of

    # approved hours per project per month
    bill_hours = defaultdict(Fraction)  # (pid, month) approved billable
    all_hours = defaultdict(Fraction)  # (pid, month) approved
    tm_local = defaultdict(Fraction)
    tm_usd = defaultdict(Fraction)
    labor = defaultdict(Fraction)
    for e in approved:
        k = (e["proj"]["project_id"], month_start(e["date"]))
        all_hours[k] += e["hours"]
        labor[k] += e["cost_usd"] or 0
        if e["billable"]:
            bill_hours[k] += e["hours"]
            tm_local[k] += e["bill_local"] or 0
            tm_usd[k] += e["bill_usd"] or 0

    # ---- revenue, exact, per project and month (all months up to as_of)
    rev_local = defaultdict(Fraction)
    rev_usd = defaultdict(Fraction)
    for pid, p in projects.items():
        cur = p["currency"]
        if p["billing_type"] == "time_and_materials":
            for (q, mm), v in tm_local.items():
                if q == pid:
                    rev_local[(pid, mm)] += v
                    rev_usd[(pid, mm)] += tm_usd[(pid, mm)]
        elif p["billing_type"] == "fixed_fee":
            budget = Fraction(str(p["budget_hours"])) if p["budget_hours"] else None
            hrs_by_month = defaultdict(Fraction)
            for (q, mm), v in all_hours.items():
                if q == pid:
                    hrs_by_month[mm] += v

            def pct(mm):
                if not budget:
                    return Fraction(0)  # no (or zero) budget: no percent complete (a table rule)
                if p["project_status"] == "completed" and p["end_date"] and month_end(mm) >= p["end_date"]:
                    return Fraction(1)
                cum = sum((v for k, v in hrs_by_month.items() if k <= mm), Fraction(0))
                return min(Fraction(1), cum / budget)

            def cutoff(mm):
                # AMBIGUOUS, pslake's reading: contract_local(end of m) counts events up to
                # min(end of m, as_of) ("as_of bounds every series")
                return min(month_end(mm), as_of)

            first = min([mm for mm in hrs_by_month] + [month_start(bd) for bd, _ in events_by_project[pid]], default=None)
            if first is None:
                continue
            mm = first
            while mm <= as_of:
                prev = add_months(mm, -1)
                v = contract_local(pid, cutoff(mm)) * pct(mm) - contract_local(pid, cutoff(prev)) * pct(prev)
                if v != 0:
                    rev_local[(pid, mm)] += v
                    r = f.rate(cur, mm)
                    rev_usd[(pid, mm)] += v * (r if r is not None else 0)
                mm = add_months(mm, 1)
        elif p["billing_type"] == "milestone":
            ws = p["psa_workspace_id"]
            for st in f.stories:
                if str(st.get("workspace_id")) != ws or st.get("story_type") != "milestone" or st.get("state") != "accepted":
                    continue
                acc = iso_date(st.get("accepted_at"))
                if acc is None or acc > as_of:
                    continue
                amt = Fraction(int(st.get("billing_amount_in_cents") or 0), 100)
                mm = month_start(acc)
                rev_local[(pid, mm)] += amt
                r = f.rate(cur, acc)
                rev_usd[(pid, mm)] += amt * (r if r is not None else 0)

    # ---- expenses and invoices
    line_keys = set()  # a project-month with any expense or invoice line is activity
    expense = defaultdict(Fraction)
    invoiced = defaultdict(Fraction)
    for rows, target, is_inv in ((f.expense_lines, expense, False), (f.invoice_lines, invoiced, True)):
        for r in rows:
            d, ok = try_parse(ns_date, r.get("trandate"))
            if not ok or d is None or d > as_of:
                continue
            if is_inv and r.get("status") == "V":
                continue
            rt = f.rate(s(r.get("currency")), d)
            if rt is None:
                continue
            pid = s(r.get("job"))
            if pid not in projects:
                continue
            target[(pid, month_start(d))] += Fraction(r["foreignamount"]) * rt
            line_keys.add((pid, month_start(d)))

    # activity keys within the reported months
    activity = {k for k in line_keys if hs.replace(day=1) <= k[1]}
    for dct in (all_hours, rev_local, labor, expense, invoiced):
        for k, v in dct.items():
            if v != 0 and hs.replace(day=1) <= k[1] <= as_of:
                activity.add(k)

    revenue_rows = []
    margin_rows = []
    for pid, mm in sorted(activity):
        p = projects[pid]
        rl, ru = rev_local.get((pid, mm), Fraction(0)), rev_usd.get((pid, mm), Fraction(0))
        revenue_rows.append(
            {
                "project_id": pid,
                "month": mm,
                "billing_type": p["billing_type"],
                "revenue_local": money(rl),
                "currency": p["currency"],
                "revenue_usd": money(ru),
                "hours": float(bill_hours.get((pid, mm), 0)),
            }
        )
        lc, ex, inv = labor.get((pid, mm), Fraction(0)), expense.get((pid, mm), Fraction(0)), invoiced.get((pid, mm), Fraction(0))
        gm = ru - lc - ex
        margin_rows.append(
            {
                "project_id": pid,
                "month": mm,
                "revenue_usd": money(ru),
                "labor_cost_usd": money(lc),
                "expense_usd": money(ex),
                "gross_margin_usd": money(gm),
                "gross_margin_pct": ratio(gm, ru) if ru != 0 else None,
                "invoiced_usd": money(inv),
                "hours": float(all_hours.get((pid, mm), 0)),
            }
        )
    out["revenue"] = revenue_rows
    out["_rev_local"] = dict(rev_local)
    out["margin"] = margin_rows

    # ---- backlog
    snapshots = [month_end(mm) for mm in months if month_end(mm) < as_of] + [as_of]
    backlog = []
    for pid, p in projects.items():
        starts = [bd for bd, _ in events_by_project[pid]]
        starts += [mm for (q, mm), v in rev_local.items() if q == pid and v != 0]
        if not starts:
            continue
        first = min(starts)
        for snap in snapshots:
            if snap < first:
                continue
            r = f.rate(p["currency"], snap)
            c_loc = contract_local(pid, snap)
            r_loc = sum((v for (q, mm), v in rev_local.items() if q == pid and mm <= snap), Fraction(0))
            c, rv = c_loc * r, r_loc * r
            done = p["project_status"] in ("completed", "cancelled") and p["end_date"] and snap >= p["end_date"]
            backlog.append(
                {
                    "project_id": pid,
                    "snapshot_date": snap,
                    "billing_type": p["billing_type"],
                    "contract_usd": money(c),
                    "revenue_to_date_usd": money(rv),
                    "backlog_usd": money(0 if done else max(Fraction(0), c - rv)),
                    "overrun_usd": money(max(Fraction(0), rv - c)),
                    "backlog_quality": "estimated" if p["billing_type"] == "time_and_materials" else "contracted",
                }
            )
    out["backlog"] = backlog

    # ---- capacity per employee-day
    hol = defaultdict(set)
    for h in f.holidays:
        hol[h["Country"]].add(iso_date(h["Date"]))
    toff = defaultdict(Fraction)
    for t in f.time_off:
        if t.get("Status") == "Approved":
            toff[(t["Employee_ID"], iso_date(t["Date"]))] += Fraction(t["Hours"])

    def day_capacity(e, d):
        """(capacity, holiday_hours, time_off_hours) of a working day, or None if not counted."""
        if d.weekday() >= 5:
            return None
        if e["hire_date"] and d < e["hire_date"]:
            return None
        if e["termination_date"] and d > e["termination_date"]:
            return None
        std = e["_weekly"] / 5
        if d in hol[e["country"]]:
            return Fraction(0), std, Fraction(0)
        off = min(std, toff.get((e["employee_id"], d), Fraction(0)))
        return std - off, Fraction(0), off

    emps = [e for e in employees.values() if e["worker_type"] == "Employee"]
    hours_week = defaultdict(lambda: [Fraction(0), Fraction(0)])
    for e in approved:
        if not in_range(e["date"]):
            continue
        k = (e["emp"]["employee_id"], monday(e["date"]))
        hours_week[k][0 if e["billable"] else 1] += e["hours"]
    util = []
    for e in emps:
        lo = max(hs, e["hire_date"] or hs)
        hi = min(as_of, e["termination_date"] or as_of)
        if lo > hi:
            continue
        wk = monday(lo)
        while wk <= hi:
            cap = hd = to = Fraction(0)
            for d in days(max(wk, lo), min(wk + dt.timedelta(days=6), hi)):
                dc = day_capacity(e, d)
                if dc:
                    cap, hd, to = cap + dc[0], hd + dc[1], to + dc[2]
            b, nb = hours_week.get((e["employee_id"], wk), (Fraction(0), Fraction(0)))
            util.append(
                {
                    "employee_id": e["employee_id"],
                    "week_start": wk,
                    "practice": e["practice"],
                    "capacity_hours": float(cap),
                    "holiday_hours": float(hd),
                    "time_off_hours": float(to),
                    "billable_hours": float(b),
                    "nonbillable_hours": float(nb),
                    "billable_utilization": ratio(b, cap),
                    "productive_utilization": ratio(b + nb, cap),
                }
            )
            wk += dt.timedelta(days=7)
    out["utilization"] = util

    # ---- capacity plan
    w0 = monday(as_of) + dt.timedelta(days=7)
    weeks = [w0 + dt.timedelta(days=7 * i) for i in range(12)]
    w_end = weeks[-1] + dt.timedelta(days=6)
    plan = defaultdict(lambda: defaultdict(Fraction))  # (practice, week) -> field -> value

    def spread(total, start, end, practice, field):
        if start is None or end is None or total is None:
            return
        wdays = [d for d in days(start, end) if d.weekday() < 5]
        if not wdays:
            return
        per = Fraction(total) / len(wdays)
        for d in wdays:
            if w0 <= d <= w_end:
                plan[(practice, monday(d))][field] += per

    for e in emps:
        for wk in weeks:
            for d in days(wk, wk + dt.timedelta(days=6)):
                dc = day_capacity(e, d)
                if dc:
                    plan[(e["practice"], wk)]["capacity"] += dc[0]
    for a in f.allocations:
        # allocations of every worker count in the worker's practice (contingent ones too);
        # AMBIGUOUS, pslake's reading: an allocation of an unknown user counts under practice NULL
        emp = user_to_emp.get(str(a.get("user_id")))
        field = "soft" if a.get("soft") else "hard"
        practice = emp["practice"] if emp else None
        spread(Fraction(int(a["minutes"]), 60), iso_date(a["start_date"]), iso_date(a["end_date"]), practice, field)
    for o in opps.values():
        if o["deleted"] or o["won"] or o["closed"]:
            continue
        if o["start"] is None or o["start"] > w_end or o["est_hours"] is None or o["probability"] is None:
            continue
        # AMBIGUOUS, pslake's reading: without an end date the pipeline sits on its start date
        spread(o["est_hours"] * o["probability"], o["start"], o["end"] or o["start"], o["practice"], "pipeline")
    practices = {pr for pr, _ in plan}
    cap_rows = []
    for pr in sorted(practices, key=lambda x: (x is None, x)):
        for wk in weeks:
            v = plan.get((pr, wk), {})
            cap, hard, soft, pipe = (v.get(k, Fraction(0)) for k in ("capacity", "hard", "soft", "pipeline"))
            cap_rows.append(
                {
                    "practice": pr,
                    "week_start": wk,
                    "capacity_hours": float(cap),
                    "hard_allocated_hours": float(hard),
                    "soft_allocated_hours": float(soft),
                    "weighted_pipeline_hours": float(pipe),
                    "unallocated_hours": float(cap - hard),
                    "demand_gap_hours": float(hard + soft + pipe - cap),
                }
            )
    out["capacity_plan"] = cap_rows
    return out


if __name__ == "__main__":
    import sys

    res = compute(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
    for t in TABLES:
        print(t, len(res[t]))
    print("rejected", res["_rejected_time_entries"])
