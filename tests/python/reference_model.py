"""Independent reference implementation of pslake's canonical tables and rejects, from SPEC alone.

Computed straight from fixture directories in the SPEC section 6 layout (JSON lines per stream in
the vendors' wire formats as documented in fixtures/README.md, treasury CSVs, manifest.json) with
the Python standard library only. Nothing here was derived from pslake's SQL (sql/, models/,
crates/pslake-transform were not read); where SPEC is silent the reading chosen is listed below.

    compute(fixtures_dir)                      -> {table: [row, ...], "rejects": [...], ...}
    compute_runs([run1_dirs, run2_dirs, ...])  -> [result after run 1, result after run 2, ...]
    overlay_runs(base_dir)                     -> [[base], [base, base/run2], [base, base/run2, base/run3]]

Each element of compute_runs' argument is one fixture *state*: a list of directories, later ones
overlaid on earlier ones (a stream file present in a later directory replaces the earlier one, as
`cp -r runK/* state/` does). A record present in run k and absent from run k+1's state was deleted
in its source. Bookings are an event log carried from run to run.

Numbers: every intermediate value is an exact fractions.Fraction (Decimal cannot divide exactly,
and FX conversion divides); each published cell is rounded once, half-up (half away from zero), to
a decimal.Decimal: money 2 places, hours 4 places, ratios 6 places (SPEC 4, "Exact rules").

Readings (where SPEC is silent or can be read two ways; chosen without looking at the SQL)
--------------------------------------------------------------------------------------------
R1  Wire format. The committed fixtures' streams are read as fixtures/README.md documents them
    (kantata workspace_allocations carry workspace_resource_id / hard, and the workspace resource
    carries workspace_id / user_id). NetSuite's lines are SPEC 2's
    `transactionline` under `transaction`: an invoice line is a line of a `CustInvc` that is
    neither mainline nor taxline, its amount the negated `foreignamount`, its job the line's
    `entity`, else the header's; an expense line is such a line of an `ExpRept`, its amount the
    `foreignamount` as written, its job the line's `entity` (the header's is the employee). Date,
    `status` (V = voided) and currency come from the header; a line whose header did not land has
    no invoice or expense report. Currency ids are resolved through `currency.symbol`.
R2  Landing. A value that does not parse in its declared type (docs/raw_tables.md: dates, integers,
    decimals, doubles, booleans, timestamps) rejects the whole record at landing with rule
    `unparseable_value`; empty strings and nulls are NULL, not unparseable. A record rejected at
    landing leaves the version landed before it (if any) in force: it is not a deletion.
R3  Current rejects. `_pslake.rejects` of the latest run holds every record that fails a rule in
    the source as it stands after that run, landing rejects included (a bad record that is still
    in the source is still rejected, whether or not an incremental extract re-read it).
R4  as_of first. Rows dated after as_of (time entries by date_performed, invoice and expense lines
    by trandate, accepted milestones by the date written in accepted_at) are set aside before any
    row rule: neither published nor rejected, whatever else is wrong with them. Landing rejects
    (R2) come before this, because an unparseable date cannot be compared with as_of.
R5  history_start bounds the periodic series (revenue and margin months, backlog snapshots,
    utilization weeks), not the facts: fct_time_entry holds conformed entries dated up to as_of
    even before history_start, and bookings every event dated up to as_of (backlog's contract
    needs them). Percent complete and revenue to date count hours and revenue before
    history_start.
R6  Time entry rules, in SPEC's order, on entries dated up to as_of: unknown_project (workspace
    unknown, or its external_reference matches no ERP job), unknown_employee (user unknown, or
    its external_reference matches no Workday worker), hours_out_of_range (minutes/60 <= 0 or > 24,
    also when minutes are missing), outside_employment (before Hire_Date or after
    Termination_Date), no_fx_rate; then over_24_hours_per_day: an employee-day whose *approved* hours among
    the entries that passed exceed 24 rejects every entry of that employee and day that passed,
    approved or submitted ("all that day's entries").
R7  Which rates a source row needs (no_fx_rate). A row needs, in the month of its business date,
    the rate of its own currency and, when its currency differs from its project's, the rate of the
    project currency (SPEC converts it to the project currency through USD). A time entry also
    needs the rate of its employee's cost currency (cost_amount_usd). A NULL amount needs no rate
    (a time entry with no rate_in_cents, an employee with no cost rate); a zero amount does. A
    NULL currency on a row that needs one counts as a missing rate. Voided invoice lines are not
    converted into anything, so they need no rate (they are still checked for an unknown job).
R8  Line rules, in this order: unknown_project (empty job, or a job id not in the ERP: a NetSuite job
    is the ERP project), then no_fx_rate.
    Story rule: unknown_workspace (its workspace_id is not a Kantata workspace), for every story
    that is not deleted; a story on a known workspace with no ERP project is not rejected (it just
    earns nothing).
R9  Rule names (SPEC names the rules but gives no identifiers; these are the identifiers pslake's
    `_pslake.rejects` uses for the same rules, taken from its output, never from its SQL):
    unparseable_value, unknown_project (time entries and lines), unknown_employee,
    hours_out_of_range, outside_employment, no_fx_rate, over_24_hours_per_day, unknown_workspace.
    The reject key is the record's primary key (Workday Holidays: "Country|Date").
R10 Bookings event log. Per opportunity the log keeps its booked total (local currency). At each
    run, an opportunity that is won (SF IsWon, HubSpot hs_is_closed_won) and neither deleted
    (IsDeleted) nor archived nor absent is "live won":
      - live won and not booked -> `won` for its amount, dated its close date. This covers the first
        sighting and a re-won deal after a debook ("first seen won" = first seen won since it was
        last not won);
      - live won, booked, amount differs from the booked total -> `amount_change` of the difference;
      - booked and not live won (reopened, lost, deleted, archived, or gone from the source) ->
        `debook` of minus the booked total.
    "The day of the change" is the record's own modification date as delivered (Salesforce
    SystemModstamp, HubSpot hs_lastmodifieddate; for an archived deal archivedAt, else updatedAt;
    all as UTC dates); for a record gone from the source (found by reconciliation) it is the
    run's as_of. An event's type, date, local amount and currency are fixed when recorded;
    a won opportunity whose currency changes is debooked in the old currency and booked `won`
    again in the new one. A NULL amount on a won opportunity books 0.
R11 Bookings attributes are re-derived at every run from the latest version of the opportunity
    seen (for a deleted or vanished one, its last version): booking_type, billing_type, practice,
    customer_id; project_id from the ERP jobs as they are now ("null until the ERP project
    exists"); amount_usd = amount_local x the rate of its currency in the booking_date's month, at
    the rates known now (NULL while missing). Change orders follow parents through every
    opportunity ever seen; a parent that is not a known opportunity is looked up directly as a
    job's custentity_crm_opportunity_id. booking_id = "<opportunity_id>:<n>", n = 1, 2, ... in
    recording order. Events dated after as_of stay in the log but are not published.
R12 Links. An ERP customer/job linked to several records takes the lowest id (string order):
    a Salesforce account linked from several ERP customers -> lowest customer id; an opportunity
    linked from several jobs -> lowest job id; a job code with several workspaces -> lowest
    workspace id for psa_workspace_id (time entries of all of them count). bookings.customer_id
    is the ERP customer whose custentity_sf_account_id equals the opportunity's AccountId (the
    Salesforce account record itself need not be present); HubSpot: netsuite_customer_id if that
    ERP customer exists. dim_customer.crm_account_id/country need a live (not deleted) Salesforce
    account with that id.
R13 Contract in project currency. contract_local(d) = the project's published booking events dated
    on or before min(d, as_of), each converted to the project currency at its booking month's
    rates (no rate needed when the currencies match); NULL if any needed rate is missing. Fixed-fee
    revenue of month m uses contract_local(min(end of m, as_of)).
R14 Fixed fee pct(m) uses the project's current ERP status and end date; budget hours of 0 or NULL
    is SPEC 5's table rule (reported in "_table_rules"; pct taken as 0 there).
R15 Milestone amounts (billing_amount_in_cents / 100, NULL -> 0) are in the workspace's currency,
    converted to the project currency at the acceptance month's rates when they differ. Deleted
    stories (deleted_at set, or gone from the source) earn nothing; archived ones still count.
R16 Revenue/margin activity of a project-month (history_start month .. as_of month): an approved
    time entry dated in it, nonzero revenue, nonzero labour cost, a conformed expense line, or a
    conformed non-voided invoice line. Revenue that is unknown (NULL through a missing rate) is
    activity only in a month that has approved hours or one of the project's booking events.
    T&M entries with no bill rate add nothing to revenue.
R17 Backlog rows start at the first snapshot on or after the earlier of the project's first
    published booking event and the first day of its first month with nonzero (or unknown)
    revenue. revenue_to_date at a snapshot = revenue of every month up to the snapshot's month.
R18 Employee versions (SPEC 4b): Worker_History rows when present, else one version from Workers
    valid from Hire_Date. fct_time_entry cost and margin labour use the version of the work date;
    a utilization week takes one version, the one valid on its Monday (history_start for the
    first week), for both its standard day (weekly hours / 5 on every day of the week) and its
    practice; capacity_plan and dim_employee the current (latest) version / the Workers record.
    dim_employee.hourly_cost is money (2 places), weekly_hours and budget_hours are hours (4 places).
    (Corrected on re-reading SPEC 4b: the standard day used to follow the version of each day, so
    a change effective mid-week split the week; SPEC: "a utilization week takes the version valid
    on its Monday (or on history_start for the first week)".)
R19 Utilization numerators count approved hours dated inside [history_start, as_of] and inside the
    week (employment is already enforced by the reject rule). Time off: approved entries summed
    per employee-day, removed up to what the holiday left (a holiday removes the whole day).
R20 capacity_plan: allocations count for every worker with a Workday record (employees and
    contingent workers) in that worker's current practice; an allocation whose user maps to no
    worker counts under practice NULL. An allocation or opportunity range with no Mon-Fri day
    spreads nothing. Pipeline needs start date, end date, estimated hours and probability; an
    opportunity missing one of them adds nothing. HubSpot open = not archived, not
    hs_is_closed_won, dealstage not closedwon/closedlost. A practice has its 12 rows when it has
    nonzero capacity, allocation or pipeline somewhere in the window.
R21 Deleted records leave every table: Salesforce IsDeleted, HubSpot archived, Kantata deleted_at,
    and any record missing from the latest state (with reconcile). Without reconcile (an
    extractor that cannot see vanished keys), compute_runs(..., reconcile=False) keeps the last
    landed version of a vanished record of an incremental stream; Workday reports are full
    snapshots either way; treasury files are loaded once each (a file's first version stays).
R22 bill_amount_usd = hours x bill_rate x rate(entry currency) whatever the billable flag;
    cost_amount_usd = hours x hourly cost of the work date's version x rate(cost currency).
R23 SPEC 4b. dim_employee_history: one row per version (R18), valid_to = the next version's
    valid_from. project_setup: one row per live won new-business opportunity whose close date is
    on or before as_of; practice is the opportunity's; project is the job linking its id (R12);
    each step date counts only once reached (on or before as_of): job datecreated, the earliest
    start of a hard allocation on any of the project's workspaces, the earliest conformed
    approved time entry. billing: the revenue/margin rows (R16); revenue and non-voided invoices
    to date (all months, before history_start too) in the project currency, each invoice line
    converted at its month's rates, then both at the row month's rate; wip_days is computed in
    the project currency and published as a ratio (6 places); unknown revenue makes the row's
    revenue figures NULL. dim_employee_history takes each version's job_profile from its own
    Worker_History row (corrected: it was taken by position from the rows in file order, wrong
    when the report lists an employee's rows out of date order).
R24 forecast_accuracy snapshots: every month end s on or after history_start whose horizon, the
    last day of the third month after s's month, is on or before as_of (s = Jan 31 -> horizon
    Apr 30); the window is (s, horizon]. Only month ends: as_of is no snapshot (unlike backlog).
R25 Which opportunities: Salesforce Opportunity records and HubSpot deals as they are now, when
    live now: not IsDeleted, not archived, not gone from the source (R21). A record deleted in its
    source leaves every canonical table, so a deleted or archived opportunity is in no snapshot,
    past ones included, whatever its history says. History rows carry no practice and no
    currency: both are the current record's. History rows (or a deal's propertiesWithHistory) of
    an opportunity with no current record are not used.
R26 Salesforce state at s: the opportunity's OpportunityHistory rows that are not IsDeleted, whose
    time, CreatedDate (when the change was made), is at or before the end of day s in UTC (its UTC
    date <= s); the latest (by CreatedDate, then SystemModstamp, then Id) gives StageName, Amount,
    Probability / 100 and CloseDate at s. Closed at s = StageName 'Closed Won' or 'Closed Lost'
    (history rows carry no IsClosed / IsWon; these are the closed stages of SPEC 2's stage list).
    An opportunity with no such row at or before s is not counted at s (the current record is
    never a stand-in for missing history). OpportunityHistory is a declared stream (key Id): a
    value that does not parse rejects the row at landing (R2), under stream OpportunityHistory.
R27 HubSpot state at s, from the deal's propertiesWithHistory as currently landed: for each of
    dealstage, amount, closedate, hs_deal_stage_probability the value whose timestamp is the latest
    at or before the end of day s in UTC (ties: the entry listed first, HubSpot lists newest
    first); "" is NULL, closedate is the UTC date, the probability is already a fraction. A deal is
    counted at s only when its dealstage has a value at or before s; closed at s = dealstage
    closedwon or closedlost (hs_is_closed_won's history is not requested); another property with
    no value at s is NULL. A deal without propertiesWithHistory is never counted. The lists are
    not a declared column: an entry whose timestamp does not parse is ignored and a value that
    does not parse is NULL; neither rejects the deal.
R28 Forecast at s: an opportunity counts when it is open at s and its close date at s falls in
    (s, horizon] (where its close date moved later does not matter); it adds amount x probability
    (both as of s) x the rate of its current currency in s's month, summed exactly. A NULL amount or
    probability adds nothing and needs no rate. A counted opportunity whose currency has no rate
    in s's month makes its practice's and the firm's weighted_forecast_usd NULL (SPEC 4: a derived
    USD figure without a rate is NULL, never 0; the row is still published, accuracy NULL).
R29 Actual at s: the `won` rows of the published bookings table (R10, R11) dated in (s, horizon],
    every booking type, amount_local x the rate of the event's currency in s's month (not the
    booking month's); a missing rate makes actual_won_usd NULL. amount_change and debook rows do
    not count, and a `won` row counts even when the opportunity was later reopened, lost, deleted
    or archived (the bookings table keeps it beside its debook); a re-won opportunity's second
    `won` counts too. An event's practice is its booking row's (the opportunity's latest, R11).
R30 Rows: per snapshot, one row per practice that has at least one counted opportunity (R28) or
    one `won` row in the window (R29), whatever the amounts (so a practice row may show 0.00 and
    0.00); plus always one firm-wide row, practice NULL, over every counted opportunity and won
    row, those without a practice included (they appear only there). accuracy = 1 - |forecast -
    actual| / actual from the exact sums, 6 places, NULL when actual is 0 or either figure is NULL
    (it can be negative); money rounded half-up to cents once. Sorted by snapshot, practice, firm
    row last.
"""

import csv
import datetime as dt
import json
import os
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

TABLES_4B = ["dim_employee_history", "project_setup", "billing", "forecast_accuracy"]  # SPEC 4b

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

# natural keys of the published tables (also used by lake_compare)
KEYS = {
    "dim_customer": ["customer_id"],
    "dim_project": ["project_id"],
    "dim_employee": ["employee_id"],
    "fct_time_entry": ["time_entry_id"],
    "bookings": ["booking_id"],
    "revenue": ["project_id", "month"],
    "backlog": ["project_id", "snapshot_date"],
    "utilization": ["employee_id", "week_start"],
    "capacity_plan": ["practice", "week_start"],
    "margin": ["project_id", "month"],
    "rejects": ["system", "stream", "key"],
    "dim_employee_history": ["employee_id", "valid_from"],
    "project_setup": ["opportunity_id"],
    "billing": ["project_id", "month"],
    "forecast_accuracy": ["snapshot_date", "practice"],
}

PROJECT_STATUS = {"1": "completed", "2": "active", "3": "cancelled", "4": "pending", "5": "planned", "6": "on_hold"}
NS_BILLING = {"TM": "time_and_materials", "FBI": "fixed_fee", "FBM": "milestone"}
SF_BILLING = {"Time and Materials": "time_and_materials", "Fixed Fee": "fixed_fee", "Milestone": "milestone"}
HS_BILLING = {"time_and_materials": "time_and_materials", "fixed_fee": "fixed_fee", "milestone": "milestone"}
SF_TYPE = {"New Business": "new_business", "Change Order": "change_order", "Renewal": "renewal"}
HS_TYPE = {"newbusiness": "new_business", "changeorder": "change_order", "renewal": "renewal"}


# ---------------------------------------------------------------- exact numbers, published cells


def _round(x, places):
    """Exact value -> Decimal with `places` decimals, half-up (away from zero on ties)."""
    if x is None:
        return None
    x = Fraction(x)
    scale = 10**places
    q = abs(x) * scale
    n = q.numerator // q.denominator
    if q - n >= Fraction(1, 2):
        n += 1
    if x < 0:
        n = -n
    return Decimal(n).scaleb(-places).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def money(x):
    return _round(x, 2)


def hours_cell(x):
    return _round(x, 4)


def ratio(num, den):
    if num is None or den is None or den == 0:
        return None
    return _round(Fraction(num) / Fraction(den), 6)


def add(a, b):
    """Sum where None (unknown) wins."""
    if a is None or b is None:
        return None
    return a + b


def mul(a, b):
    if a is None or b is None:
        return None
    return a * b


# ---------------------------------------------------------------- dates


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


# ---------------------------------------------------------------- parsing (landing, R2)


class Unparseable(ValueError):
    pass


def _empty(v):
    return v is None or v == ""


def p_string(v):
    if _empty(v):
        return None
    return str(v)


def p_date(v):
    """YYYY-MM-DD (or the date part of an ISO datetime as written)."""
    if _empty(v):
        return None
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v[:10]):
        raise Unparseable(v)
    try:
        return dt.date.fromisoformat(v[:10])
    except ValueError as e:
        raise Unparseable(v) from e


def p_ns_date(v):
    """NetSuite M/D/YYYY."""
    if _empty(v):
        return None
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", str(v))
    if not m:
        raise Unparseable(v)
    try:
        return dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    except ValueError as e:
        raise Unparseable(v) from e


_TS = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


def p_timestamp(v):
    """Any of the vendors' datetimes -> aware UTC datetime."""
    if _empty(v):
        return None
    m = _TS.fullmatch(str(v))
    if not m:
        raise Unparseable(v)
    try:
        d = dt.date.fromisoformat(m.group(1))
        t = dt.datetime(d.year, d.month, d.day, int(m.group(2)), int(m.group(3)), int(m.group(4)))
    except ValueError as e:
        raise Unparseable(v) from e
    tz = m.group(6)
    off = dt.timedelta(0)
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (t - off).replace(tzinfo=dt.timezone.utc)


def p_utc_date(v):
    """A datetime's UTC date (HubSpot closedate)."""
    ts = p_timestamp(v)
    return ts.date() if ts is not None else None


def p_int(v):
    if _empty(v):
        return None
    if isinstance(v, bool):
        raise Unparseable(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v.strip()):
        return int(v)
    raise Unparseable(v)


def p_num(v):
    """Decimal or double -> exact Fraction of the value as written."""
    if _empty(v):
        return None
    if isinstance(v, bool):
        raise Unparseable(v)
    if isinstance(v, int):
        return Fraction(v)
    if isinstance(v, float):
        return Fraction(repr(v))
    if isinstance(v, str):
        try:
            return Fraction(Decimal(v.strip()))
        except Exception as e:  # decimal.InvalidOperation, ValueError
            raise Unparseable(v) from e
    raise Unparseable(v)


def p_bool(v):
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("true", "t"):
            return True
        if s in ("false", "f"):
            return False
    raise Unparseable(v)


HS_HISTORY = {"dealstage": p_string, "amount": p_num, "closedate": p_utc_date, "hs_deal_stage_probability": p_num}


def p_hs_history(v):
    """HubSpot propertiesWithHistory -> {property: [(UTC datetime, position in the list, value)]} (R27).

    Never unparseable (the lists are not a declared column): an entry whose timestamp does not
    parse is left out, a value that does not parse is NULL."""
    out = {}
    if not isinstance(v, dict):
        return out
    for prop, parser in HS_HISTORY.items():
        entries = v.get(prop)
        if not isinstance(entries, list):
            continue
        lst = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                continue
            try:
                ts = p_timestamp(e.get("timestamp"))
            except Unparseable:
                continue
            if ts is None:
                continue
            try:
                val = parser(e.get("value"))
            except Unparseable:
                val = None
            lst.append((ts, i, val))
        out[prop] = lst
    return out


S, D, NSD, TS, UD, I, N, B = p_string, p_date, p_ns_date, p_timestamp, p_utc_date, p_int, p_num, p_bool

# (system, stream): file, key fields, {name: (path, parser)}  -- the declared raw schema
STREAMS = {
    ("salesforce", "Account"): ("salesforce/Account.jsonl", ["Id"], {
        "id": ("Id", S), "name": ("Name", S), "billing_country": ("BillingCountry", S),
        "currency": ("CurrencyIsoCode", S), "is_deleted": ("IsDeleted", B), "modstamp": ("SystemModstamp", TS)}),
    ("salesforce", "Opportunity"): ("salesforce/Opportunity.jsonl", ["Id"], {
        "id": ("Id", S), "account_id": ("AccountId", S), "stage": ("StageName", S), "amount": ("Amount", N),
        "currency": ("CurrencyIsoCode", S), "close_date": ("CloseDate", D), "probability": ("Probability", N),
        "type": ("Type", S), "is_closed": ("IsClosed", B), "is_won": ("IsWon", B), "is_deleted": ("IsDeleted", B),
        "billing_type": ("Billing_Type__c", S), "practice": ("Practice__c", S), "est_hours": ("Estimated_Hours__c", N),
        "start": ("Start_Date__c", D), "end": ("End_Date__c", D), "parent": ("Parent_Opportunity__c", S),
        "modstamp": ("SystemModstamp", TS)}),
    ("hubspot", "deals"): ("hubspot/deals.jsonl", ["id"], {
        "id": ("id", S), "stage": ("properties.dealstage", S), "amount": ("properties.amount", N),
        "currency": ("properties.deal_currency_code", S), "close_date": ("properties.closedate", UD),
        "is_won": ("properties.hs_is_closed_won", B), "probability": ("properties.hs_deal_stage_probability", N),
        "type": ("properties.dealtype", S), "billing_type": ("properties.billing_type", S),
        "practice": ("properties.practice", S), "est_hours": ("properties.estimated_hours", N),
        "start": ("properties.start_date", D), "end": ("properties.end_date", D),
        "parent": ("properties.parent_deal_id", S), "customer": ("properties.netsuite_customer_id", S),
        "modstamp": ("properties.hs_lastmodifieddate", TS), "archived": ("archived", B),
        "archived_at": ("archivedAt", TS), "updated_at": ("updatedAt", TS),
        "history": ("propertiesWithHistory", p_hs_history)}),
    ("salesforce", "OpportunityHistory"): ("salesforce/OpportunityHistory.jsonl", ["Id"], {
        "id": ("Id", S), "opp": ("OpportunityId", S), "stage": ("StageName", S), "amount": ("Amount", N),
        "probability": ("Probability", N), "close_date": ("CloseDate", D), "created": ("CreatedDate", TS),
        "is_deleted": ("IsDeleted", B), "modstamp": ("SystemModstamp", TS)}),
    ("netsuite", "currency"): ("netsuite/currency.jsonl", ["id"], {"id": ("id", S), "symbol": ("symbol", S)}),
    ("netsuite", "customer"): ("netsuite/customer.jsonl", ["id"], {
        "id": ("id", S), "name": ("companyname", S), "sf_account": ("custentity_sf_account_id", S),
        "currency": ("currency", S), "lastmodifieddate": ("lastmodifieddate", NSD)}),
    ("netsuite", "job"): ("netsuite/job.jsonl", ["id"], {
        "id": ("id", S), "code": ("entityid", S), "name": ("companyname", S), "parent": ("parent", S),
        "status": ("entitystatus", S), "billing": ("jobbillingtype", S), "start": ("startdate", NSD),
        "end": ("projectedenddate", NSD), "currency": ("currency", S), "opp": ("custentity_crm_opportunity_id", S),
        "budget": ("custentity_budget_hours", N), "practice": ("custentity_practice", S),
        "datecreated": ("datecreated", NSD), "lastmodifieddate": ("lastmodifieddate", NSD)}),
    ("netsuite", "transaction"): ("netsuite/transaction.jsonl", ["id"], {
        "id": ("id", S), "type": ("type", S), "trandate": ("trandate", NSD), "entity": ("entity", S),
        "status": ("status", S), "currency": ("currency", S), "lastmodifieddate": ("lastmodifieddate", NSD)}),
    ("netsuite", "transactionline"): ("netsuite/transactionline.jsonl", ["uniquekey"], {
        "id": ("uniquekey", S), "transaction": ("transaction", S), "mainline": ("mainline", S),
        "taxline": ("taxline", S), "entity": ("entity", S), "amount": ("foreignamount", N),
        "lastmodifieddate": ("linelastmodifieddate", NSD)}),
    ("kantata", "workspaces"): ("kantata/workspaces.jsonl", ["id"], {
        "id": ("id", S), "code": ("external_reference", S), "status_key": ("status.key", I), "currency": ("currency", S),
        "start": ("start_date", D), "due": ("due_date", D), "archived": ("archived", B), "updated_at": ("updated_at", TS)}),
    ("kantata", "users"): ("kantata/users.jsonl", ["id"], {
        "id": ("id", S), "employee": ("external_reference", S), "updated_at": ("updated_at", TS)}),
    ("kantata", "time_entries"): ("kantata/time_entries.jsonl", ["id"], {
        "id": ("id", S), "workspace_id": ("workspace_id", S), "user_id": ("user_id", S), "date": ("date_performed", D),
        "minutes": ("time_in_minutes", I), "billable": ("billable", B), "approved": ("approved", B),
        "rate_cents": ("rate_in_cents", I), "currency": ("currency", S), "updated_at": ("updated_at", TS)}),
    ("kantata", "workspace_resources"): ("kantata/workspace_resources.jsonl", ["id"], {
        "id": ("id", S), "workspace_id": ("workspace_id", S), "user_id": ("user_id", S), "updated_at": ("updated_at", TS)}),
    ("kantata", "workspace_allocations"): ("kantata/workspace_allocations.jsonl", ["id"], {
        "id": ("id", S), "resource_id": ("workspace_resource_id", S), "start": ("start_date", D),
        "end": ("end_date", D), "minutes": ("minutes", I), "hard": ("hard", B), "updated_at": ("updated_at", TS)}),
    ("kantata", "stories"): ("kantata/stories.jsonl", ["id"], {
        "id": ("id", S), "workspace_id": ("workspace_id", S), "story_type": ("story_type", S), "state": ("state", S),
        "due": ("due_date", D), "accepted_ts": ("accepted_at", TS), "accepted_date": ("accepted_at", D),
        "cents": ("billing_amount_in_cents", I), "archived": ("archived", B), "deleted_at": ("deleted_at", TS),
        "updated_at": ("updated_at", TS)}),
    ("workday", "Workers"): ("workday/Workers.jsonl", ["Employee_ID"], {
        "id": ("Employee_ID", S), "name": ("Worker", S), "email": ("Email", S), "worker_type": ("Worker_Type", S),
        "job_profile": ("Job_Profile", S), "practice": ("Practice", S), "cost_center": ("Cost_Center", S),
        "country": ("Location_Country", S), "hire": ("Hire_Date", D), "term": ("Termination_Date", D),
        "weekly": ("Scheduled_Weekly_Hours", N), "cost": ("Hourly_Cost_Rate", N), "cost_currency": ("Cost_Rate_Currency", S),
        "last_updated": ("Last_Updated", TS)}),
    ("workday", "Worker_History"): ("workday/Worker_History.jsonl", ["Employee_ID", "Effective_Date"], {
        "id": ("Employee_ID", S), "from": ("Effective_Date", D), "practice": ("Practice", S),
        "job_profile": ("Job_Profile", S), "weekly": ("Scheduled_Weekly_Hours", N), "cost": ("Hourly_Cost_Rate", N),
        "cost_currency": ("Cost_Rate_Currency", S)}),
    ("workday", "Time_Off"): ("workday/Time_Off.jsonl", ["Time_Off_Entry_ID"], {
        "id": ("Time_Off_Entry_ID", S), "employee": ("Employee_ID", S), "date": ("Date", D), "hours": ("Hours", N),
        "type": ("Time_Off_Type", S), "status": ("Status", S)}),
    ("workday", "Holidays"): ("workday/Holidays.jsonl", ["Country", "Date"], {
        "country": ("Country", S), "date": ("Date", D), "name": ("Holiday_Name", S)}),
}
FULL_SNAPSHOT = {"workday"}  # reports re-read whole each run (SPEC 2)


def _get(rec, path):
    v = rec
    for part in path.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


def _key(rec, fields):
    return "|".join("" if rec.get(f) is None else str(rec.get(f)) for f in fields)


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def _find(dirs, rel):
    """The file of a state: the latest overlay that has it."""
    for d in reversed(dirs):
        p = os.path.join(d, rel)
        if os.path.exists(p):
            return p
    return None


class Files:
    """The raw source files of one fixture state (a list of directories, later ones overlaid)."""

    def __init__(self, dirs):
        if isinstance(dirs, str):
            dirs = [dirs]
        self.dirs = list(dirs)
        man = _find(self.dirs, "manifest.json")
        with open(man, encoding="utf-8") as f:
            m = json.load(f)
        self.as_of = dt.date.fromisoformat(m["as_of"])
        self.history_start = dt.date.fromisoformat(m["history_start"])
        self.streams = {}
        for sk, (rel, keyf, _fields) in STREAMS.items():
            p = _find(self.dirs, rel)
            self.streams[sk] = read_jsonl(p) if p else None
        self.fx_files = {}  # file name -> [(currency, month, Fraction)]
        names = set()
        for d in self.dirs:
            t = os.path.join(d, "treasury")
            if os.path.isdir(t):
                names |= {n for n in os.listdir(t) if n.startswith("fx_rates_") and n.endswith(".csv")}
        for n in sorted(names):
            with open(_find(self.dirs, os.path.join("treasury", n)), encoding="utf-8", newline="") as f:
                self.fx_files[n] = [(r["currency"], r["month"], Fraction(Decimal(r["usd_per_unit"]))) for r in csv.DictReader(f)]


def overlay_runs(base):
    """[[base], [base, base/run2], ...] for a base fixture dir with cumulative runK overlays."""
    runs = [[base]]
    ks = sorted(int(n[3:]) for n in os.listdir(base) if re.fullmatch(r"run\d+", n) and os.path.isdir(os.path.join(base, n)))
    for k in ks:
        runs.append(runs[-1] + [os.path.join(base, f"run{k}")])
    return runs


# ---------------------------------------------------------------- effective state after a run


class State:
    """Typed records as the lake should see them after one run (R2, R21)."""

    def __init__(self, files, prev=None, reconcile=True):
        self.as_of, self.history_start = files.as_of, files.history_start
        self.recs = {}
        self.landing_rejects = []
        for sk, (rel, keyf, fields) in STREAMS.items():
            raw = files.streams[sk]
            prev_recs = prev.recs.get(sk, {}) if prev else {}
            if raw is None:
                # stream file absent in this state: nothing delivered
                cur = {} if (reconcile or sk[0] in FULL_SNAPSHOT) else dict(prev_recs)
                self.recs[sk] = cur
                continue
            cur = {}
            if not reconcile and sk[0] not in FULL_SNAPSHOT:
                cur.update(prev_recs)
            for r in raw:
                k = _key(r, keyf)
                typed, bad = {"_raw": r, "_key": k}, None
                for name, (path, parser) in fields.items():
                    try:
                        typed[name] = parser(_get(r, path))
                    except Unparseable:
                        bad = path
                        break
                if bad is None:
                    cur[k] = typed
                else:
                    self.landing_rejects.append({"system": sk[0], "stream": sk[1], "key": k, "rule": "unparseable_value", "field": bad})
                    if k in prev_recs:
                        cur[k] = prev_recs[k]  # the previous landed version stays in force
            self.recs[sk] = cur
        # kantata allocations (R1): a workspace allocation reaches its workspace and person through
        # its workspace resource; `hard` false is a soft (tentative) allocation
        seats = self.recs[("kantata", "workspace_resources")]
        allocs = {}
        for k, a in self.recs[("kantata", "workspace_allocations")].items():
            seat = seats.get(a["resource_id"]) if a["resource_id"] is not None else None
            allocs[k] = dict(a, workspace_id=seat["workspace_id"] if seat else None,
                             user_id=seat["user_id"] if seat else None, soft=a["hard"] is False)
        self.recs[("kantata", "allocations")] = allocs
        # treasury: each file loaded once; a file's first version stays
        self.fx_files = dict(prev.fx_files) if prev else {}
        for n, rows in files.fx_files.items():
            self.fx_files.setdefault(n, rows)
        self.fx = {}
        for n in sorted(self.fx_files):
            for cur_, mon, r in self.fx_files[n]:
                self.fx[(cur_, mon)] = r
        cmap = {r["id"]: r["symbol"] for r in self.recs[("netsuite", "currency")].values() if r.get("symbol")}
        self.currency_symbol = cmap
        self._netsuite_lines()

    def _netsuite_lines(self):
        """NetSuite's invoice and expense lines (R1) out of the landed transactions and lines: a
        line that is neither mainline nor taxline, of a landed CustInvc (invoice) or ExpRept
        (expense report) header, carrying the header's date, status and currency."""
        heads = self.recs[("netsuite", "transaction")]
        inv, exp = {}, {}
        for k, ln in self.recs[("netsuite", "transactionline")].items():
            if ln["mainline"] == "T" or ln["taxline"] == "T":
                continue
            h = heads.get(ln["transaction"])
            if h is None:
                continue  # the header never landed (rejected at landing): the line has no invoice
            rec = {"_raw": ln["_raw"], "_key": k, "id": ln["id"], "trandate": h["trandate"],
                   "status": h["status"], "currency": h["currency"], "lastmodifieddate": ln["lastmodifieddate"]}
            if h["type"] == "CustInvc":
                rec["job"] = ln["entity"] if ln["entity"] is not None else h["entity"]
                rec["amount"] = None if ln["amount"] is None else -ln["amount"]
                inv[k] = rec
            elif h["type"] == "ExpRept":
                rec["job"] = ln["entity"]
                rec["amount"] = ln["amount"]
                exp[k] = rec
        self.recs[("netsuite", "invoice_line")] = inv
        self.recs[("netsuite", "expense_line")] = exp

    def rate(self, currency, d):
        """USD per unit in the month of d; None when unknown."""
        if currency is None or d is None:
            return None
        if currency == "USD":
            return Fraction(1)
        return self.fx.get((currency, month_key(d)))

    def convert(self, amount, frm, to, d):
        """amount in `frm` -> `to` through USD at d's month (SPEC: amount x rate(from) / rate(to))."""
        if amount is None:
            return None
        if frm == to and frm is not None:
            return amount
        a, b = self.rate(frm, d), self.rate(to, d)
        if a is None or b is None:
            return None
        return amount * a / b

    def iso(self, c):
        """NetSuite currency -> ISO code (through currency.symbol when the id is known)."""
        return self.currency_symbol.get(c, c)


# ---------------------------------------------------------------- opportunities


def _opps(st):
    out = {}
    for o in st.recs[("salesforce", "Opportunity")].values():
        out[o["id"]] = {
            "id": o["id"], "system": "salesforce", "deleted": bool(o["is_deleted"]), "won": bool(o["is_won"]),
            "closed": bool(o["is_closed"]) or bool(o["is_won"]), "type": SF_TYPE.get(o["type"], o["type"]),
            "parent": o["parent"], "account": o["account_id"], "customer": None,
            "billing_type": SF_BILLING.get(o["billing_type"], o["billing_type"]), "practice": o["practice"],
            "amount": o["amount"], "currency": o["currency"], "close_date": o["close_date"],
            "probability": o["probability"] / 100 if o["probability"] is not None else None,
            "est_hours": o["est_hours"], "start": o["start"], "end": o["end"],
            "change_date": o["modstamp"].date() if o["modstamp"] else None,
        }
    for d in st.recs[("hubspot", "deals")].values():
        archived = bool(d["archived"])
        if archived:
            cd = d["archived_at"] or d["updated_at"] or d["modstamp"]
        else:
            cd = d["modstamp"] or d["updated_at"]
        out[d["id"]] = {
            "id": d["id"], "system": "hubspot", "deleted": archived, "won": bool(d["is_won"]),
            "closed": bool(d["is_won"]) or d["stage"] in ("closedwon", "closedlost"),
            "type": HS_TYPE.get(d["type"], d["type"]), "parent": d["parent"], "account": None,
            "customer": d["customer"], "billing_type": HS_BILLING.get(d["billing_type"], d["billing_type"]),
            "practice": d["practice"], "amount": d["amount"], "currency": d["currency"],
            "close_date": d["close_date"], "probability": d["probability"], "est_hours": d["est_hours"],
            "start": d["start"], "end": d["end"], "change_date": cd.date() if cd else None,
            "hs_history": d["history"],
        }
    return out


class BookingLog:
    """The bookings event log carried across runs (R10)."""

    def __init__(self):
        self.state = {}  # opp id -> {"booked", "total", "currency", "last", "events": [...]}
        self.events = []  # in recording order

    def observe(self, st, run_no):
        now = _opps(st)
        for oid in sorted(set(self.state) | set(now)):
            o = now.get(oid)
            s = self.state.setdefault(oid, {"booked": False, "total": Fraction(0), "currency": None, "last": None, "n": 0})
            if o is not None:
                s["last"] = o
            change_date = o["change_date"] if o is not None else st.as_of
            live_won = o is not None and not o["deleted"] and o["won"]
            if live_won:
                amt = o["amount"] if o["amount"] is not None else Fraction(0)
                if s["booked"] and o["currency"] != s["currency"]:
                    self._add(oid, s, "debook", -s["total"], s["currency"], change_date, run_no)
                    s["booked"], s["total"] = False, Fraction(0)
                if not s["booked"]:
                    self._add(oid, s, "won", amt, o["currency"], o["close_date"] or change_date, run_no)
                    s["booked"], s["total"], s["currency"] = True, amt, o["currency"]
                elif amt != s["total"]:
                    self._add(oid, s, "amount_change", amt - s["total"], s["currency"], change_date, run_no)
                    s["total"] = amt
            elif s["booked"]:
                self._add(oid, s, "debook", -s["total"], s["currency"], change_date, run_no)
                s["booked"], s["total"] = False, Fraction(0)

    def _add(self, oid, s, kind, amount, currency, date, run_no):
        s["n"] += 1
        self.events.append({"booking_id": f"{oid}:{s['n']}", "opportunity_id": oid, "event_type": kind,
                            "booking_date": date, "amount": amount, "currency": currency, "run": run_no})


# ---------------------------------------------------------------- the model for one state


def build(st, log):
    out = {"_table_rules": [], "_waiting": defaultdict(int), "_warnings": []}
    hs, as_of = st.history_start, st.as_of
    rejects = list(st.landing_rejects)

    def reject(system, stream, key, rule):
        rejects.append({"system": system, "stream": stream, "key": key, "rule": rule})

    # ---- customers
    accounts = {a["id"]: a for a in st.recs[("salesforce", "Account")].values() if not a["is_deleted"]}
    customers = st.recs[("netsuite", "customer")]
    out["dim_customer"] = []
    customer_by_account = {}
    for cid in sorted(customers):
        c = customers[cid]
        acc = accounts.get(c["sf_account"]) if c["sf_account"] else None
        out["dim_customer"].append({
            "customer_id": cid, "customer_name": c["name"], "crm_account_id": acc["id"] if acc else None,
            "country": acc["billing_country"] if acc else None, "currency": st.iso(c["currency"])})
        if c["sf_account"] and c["sf_account"] not in customer_by_account:
            customer_by_account[c["sf_account"]] = cid  # lowest id first (sorted)

    # ---- projects
    jobs = st.recs[("netsuite", "job")]
    workspaces = st.recs[("kantata", "workspaces")]
    ws_by_code = defaultdict(list)
    for wid in sorted(workspaces):
        if workspaces[wid]["code"] is not None:
            ws_by_code[workspaces[wid]["code"]].append(wid)
    job_by_code = {}
    for jid in sorted(jobs):
        job_by_code.setdefault(jobs[jid]["code"], jid)
    projects = {}
    for jid in sorted(jobs):
        j = jobs[jid]
        if j["status"] not in PROJECT_STATUS:
            out["_table_rules"].append(f"unmapped netsuite job.entitystatus {j['status']!r}")
        if j["billing"] not in NS_BILLING:
            out["_table_rules"].append(f"unmapped netsuite job.jobbillingtype {j['billing']!r}")
        wss = ws_by_code.get(j["code"], [])
        projects[jid] = {
            "project_id": jid, "project_code": j["code"], "project_name": j["name"], "customer_id": j["parent"],
            "crm_opportunity_id": j["opp"], "psa_workspace_id": wss[0] if wss else None,
            "billing_type": NS_BILLING.get(j["billing"], j["billing"]),
            "project_status": PROJECT_STATUS.get(j["status"], j["status"]), "practice": j["practice"],
            "start_date": j["start"], "end_date": j["end"], "currency": st.iso(j["currency"]),
            "budget_hours": j["budget"],
        }
    out["dim_project"] = [dict(p, budget_hours=hours_cell(p["budget_hours"])) for p in projects.values()]
    project_of_ws = {}
    for wid, w in workspaces.items():
        jid = job_by_code.get(w["code"]) if w["code"] is not None else None
        if jid is not None:
            project_of_ws[wid] = jid

    # ---- employees and their versions (R18)
    workers = st.recs[("workday", "Workers")]
    users = st.recs[("kantata", "users")]
    user_of_emp = {}
    for uid in sorted(users):
        e = users[uid]["employee"]
        if e is not None:
            user_of_emp.setdefault(e, uid)
    hist = defaultdict(list)
    for h in st.recs[("workday", "Worker_History")].values():
        hist[h["id"]].append(h)
    versions = {}
    for eid, w in workers.items():
        if hist.get(eid):
            vs = sorted(hist[eid], key=lambda h: h["from"] or dt.date.min)
            versions[eid] = [{"from": h["from"], "practice": h["practice"], "job_profile": h["job_profile"],
                              "weekly": h["weekly"], "cost": h["cost"], "cost_currency": h["cost_currency"]} for h in vs]
        else:
            versions[eid] = [{"from": w["hire"], "practice": w["practice"], "job_profile": w["job_profile"],
                              "weekly": w["weekly"], "cost": w["cost"], "cost_currency": w["cost_currency"]}]

    def version(eid, d):
        vs = versions[eid]
        v = vs[0]
        for x in vs:
            if x["from"] is None or x["from"] <= d:
                v = x
        return v

    out["dim_employee"] = []
    for eid in sorted(workers):
        w = workers[eid]
        out["dim_employee"].append({
            "employee_id": eid, "employee_name": w["name"], "email": w["email"], "worker_type": w["worker_type"],
            "job_profile": w["job_profile"], "practice": w["practice"], "cost_center": w["cost_center"],
            "country": w["country"], "hire_date": w["hire"], "termination_date": w["term"],
            "weekly_hours": hours_cell(w["weekly"]), "hourly_cost": money(w["cost"]),
            "cost_currency": w["cost_currency"], "psa_user_id": user_of_emp.get(eid)})
    emp_of_user = {uid: u["employee"] for uid, u in users.items() if u["employee"] in workers}

    # ---- time entries: row rules (R4, R6, R7)
    passed = []
    for tid in sorted(st.recs[("kantata", "time_entries")]):
        t = st.recs[("kantata", "time_entries")][tid]
        wd = t["date"]
        if wd is not None and wd > as_of:
            out["_waiting"]["time_entries"] += 1
            continue
        pid = project_of_ws.get(t["workspace_id"]) if t["workspace_id"] in workspaces else None
        if pid is None:
            reject("kantata", "time_entries", tid, "unknown_project")
            continue
        eid = emp_of_user.get(t["user_id"])
        if eid is None:
            reject("kantata", "time_entries", tid, "unknown_employee")
            continue
        hrs = Fraction(t["minutes"], 60) if t["minutes"] is not None else None
        if hrs is None or hrs <= 0 or hrs > 24:
            reject("kantata", "time_entries", tid, "hours_out_of_range")
            continue
        w = workers[eid]
        if wd is None or (w["hire"] and wd < w["hire"]) or (w["term"] and wd > w["term"]):
            reject("kantata", "time_entries", tid, "outside_employment")
            continue
        p = projects[pid]
        rate = Fraction(t["rate_cents"], 100) if t["rate_cents"] is not None else None
        v = version(eid, wd)
        needs = []
        if rate is not None:
            needs.append(t["currency"])
            if t["currency"] != p["currency"]:
                needs.append(p["currency"])
        if v["cost"] is not None:
            needs.append(v["cost_currency"])
        if any(st.rate(c, wd) is None for c in needs):
            reject("kantata", "time_entries", tid, "no_fx_rate")
            continue
        bill_local = hrs * rate if rate is not None else None
        passed.append({
            "id": tid, "eid": eid, "pid": pid, "date": wd, "hours": hrs, "billable": bool(t["billable"]),
            "approved": bool(t["approved"]), "rate": rate, "currency": t["currency"],
            "bill_usd": mul(bill_local, st.rate(t["currency"], wd)),
            "bill_project": st.convert(bill_local, t["currency"], p["currency"], wd),
            "cost_usd": mul(mul(hrs, v["cost"]), st.rate(v["cost_currency"], wd)),
        })
    day_total = defaultdict(Fraction)
    for e in passed:
        if e["approved"]:
            day_total[(e["eid"], e["date"])] += e["hours"]
    entries = []
    for e in passed:
        if day_total[(e["eid"], e["date"])] > 24:
            reject("kantata", "time_entries", e["id"], "over_24_hours_per_day")
        else:
            entries.append(e)
    out["fct_time_entry"] = [{
        "time_entry_id": e["id"], "employee_id": e["eid"], "project_id": e["pid"], "work_date": e["date"],
        "hours": hours_cell(e["hours"]), "billable": e["billable"],
        "time_state": "approved" if e["approved"] else "submitted", "bill_rate": money(e["rate"]),
        "currency": e["currency"], "bill_amount_usd": money(e["bill_usd"]), "cost_amount_usd": money(e["cost_usd"]),
    } for e in entries]
    approved = [e for e in entries if e["approved"]]

    # ---- invoice and expense lines (R4, R7, R8)
    lines = {"invoice_line": [], "expense_line": []}
    for stream in ("invoice_line", "expense_line"):
        recs = st.recs[("netsuite", stream)]
        for lid in sorted(recs):
            ln = recs[lid]
            d = ln["trandate"]
            if d is not None and d > as_of:
                out["_waiting"][stream] += 1
                continue
            if ln["job"] is None or ln["job"] not in projects:
                reject("netsuite", stream, lid, "unknown_project")
                continue
            voided = stream == "invoice_line" and ln["status"] == "V"
            if voided:
                continue
            p = projects[ln["job"]]
            cur = st.iso(ln["currency"])
            needs = [] if ln["amount"] is None else [cur] + ([p["currency"]] if cur != p["currency"] else [])
            if d is None or any(st.rate(c, d) is None for c in needs):
                reject("netsuite", stream, lid, "no_fx_rate")
                continue
            lines[stream].append({"pid": ln["job"], "month": month_start(d), "usd": mul(ln["amount"], st.rate(cur, d)) or Fraction(0),
                                  "local": st.convert(ln["amount"], cur, p["currency"], d) or Fraction(0)})

    # ---- stories (R8, R15)
    stories = []
    for sid in sorted(st.recs[("kantata", "stories")]):
        s_ = st.recs[("kantata", "stories")][sid]
        if s_["deleted_at"] is not None:
            continue
        if s_["state"] == "accepted" and s_["accepted_date"] is not None and s_["accepted_date"] > as_of:
            out["_waiting"]["stories"] += 1
            continue
        if s_["workspace_id"] not in workspaces:
            reject("kantata", "stories", sid, "unknown_workspace")
            continue
        stories.append(s_)

    # ---- bookings (R10, R11)
    all_opps = {oid: s["last"] for oid, s in log.state.items() if s["last"] is not None}
    project_by_opp = {}
    for jid in sorted(projects):
        o = projects[jid]["crm_opportunity_id"]
        if o is not None:
            project_by_opp.setdefault(o, jid)

    def opp_project(o):
        seen = set()
        while o["type"] in ("change_order", "renewal"):
            par = o["parent"]
            if par is None or par in seen:
                return None
            seen.add(par)
            if par not in all_opps:
                return project_by_opp.get(par)
            o = all_opps[par]
        return project_by_opp.get(o["id"])

    bookings = []
    for ev in log.events:
        if ev["booking_date"] is None or ev["booking_date"] > as_of:
            continue
        o = all_opps[ev["opportunity_id"]]
        if o["system"] == "salesforce":
            cust = customer_by_account.get(o["account"]) if o["account"] else None
        else:
            cust = o["customer"] if o["customer"] in customers else None
        pid = opp_project(o)
        r = st.rate(ev["currency"], ev["booking_date"])
        bookings.append({
            "booking_id": ev["booking_id"], "opportunity_id": ev["opportunity_id"], "source_system": o["system"],
            "event_type": ev["event_type"], "booking_date": ev["booking_date"], "booking_type": o["type"],
            "customer_id": cust, "project_id": pid, "billing_type": o["billing_type"], "practice": o["practice"],
            "amount_local": money(ev["amount"]), "currency": ev["currency"],
            "amount_usd": money(ev["amount"] * r) if r is not None else None,
            "_amount": ev["amount"],
        })
    out["bookings"] = [{k: v for k, v in b.items() if not k.startswith("_")} for b in bookings]
    events_of = defaultdict(list)  # pid -> [(date, amount in project currency or None)]
    for b in bookings:
        if b["project_id"] is not None:
            p = projects[b["project_id"]]
            events_of[b["project_id"]].append((b["booking_date"], st.convert(b["_amount"], b["currency"], p["currency"], b["booking_date"])))

    def contract_local(pid, d):
        d = min(d, as_of)
        tot = Fraction(0)
        for bd, a in events_of[pid]:
            if bd <= d:
                tot = add(tot, a)
        return tot

    # ---- per project-month sums
    bill_hours = defaultdict(Fraction)
    all_hours = defaultdict(Fraction)
    tm_local = defaultdict(Fraction)
    labor = defaultdict(Fraction)
    for e in approved:
        k = (e["pid"], month_start(e["date"]))
        all_hours[k] += e["hours"]
        if e["cost_usd"] is not None:
            labor[k] += e["cost_usd"]
        if e["billable"]:
            bill_hours[k] += e["hours"]
            if e["bill_project"] is not None:
                tm_local[k] += e["bill_project"]
    event_months = defaultdict(set)
    for pid, evs in events_of.items():
        for bd, _ in evs:
            event_months[pid].add(month_start(bd))

    tm_by_p, hours_by_p, stories_by_ws = defaultdict(list), defaultdict(list), defaultdict(list)
    for (q, m), v in tm_local.items():
        tm_by_p[q].append((m, v))
    for (q, m), v in all_hours.items():
        hours_by_p[q].append((m, v))
    for s_ in stories:
        stories_by_ws[s_["workspace_id"]].append(s_)
    rev_local = {}  # (pid, month) -> Fraction or None, every month the model computes
    as_of_month = month_start(as_of)
    for pid, p in projects.items():
        bt = p["billing_type"]
        if bt == "time_and_materials":
            for m, v in tm_by_p[pid]:
                rev_local[(pid, m)] = v
        elif bt == "fixed_fee":
            budget = p["budget_hours"]
            if not budget:
                out["_table_rules"].append(f"fixed-fee project {pid} without budget hours")
            hrs_m = defaultdict(Fraction)
            for m, v in hours_by_p[pid]:
                hrs_m[m] += v
            starts = list(hrs_m) + [month_start(bd) for bd, _ in events_of[pid]]
            if not starts:
                continue
            months_sorted = sorted(hrs_m)

            def pct(m, budget=budget, hrs_m=hrs_m, months_sorted=months_sorted, p=p):
                if p["project_status"] == "completed" and p["end_date"] is not None and month_end(m) >= p["end_date"]:
                    return Fraction(1)
                if not budget:
                    return Fraction(0)
                cum = sum((hrs_m[x] for x in months_sorted if x <= m), Fraction(0))
                return min(Fraction(1), cum / budget)

            m = min(starts)
            while m <= as_of_month:
                prev = add_months(m, -1)
                a = mul(contract_local(pid, month_end(m)), pct(m))
                b = mul(contract_local(pid, month_end(prev)), pct(prev))
                v = None if a is None or b is None else a - b
                rev_local[(pid, m)] = v
                m = add_months(m, 1)
        elif bt == "milestone":
            for s_ in (x for w in ws_by_code.get(p["project_code"], []) for x in stories_by_ws[w]):
                if s_["story_type"] != "milestone" or s_["state"] != "accepted":
                    continue
                acc = s_["accepted_date"]
                if acc is None:
                    continue
                amt = Fraction(s_["cents"], 100) if s_["cents"] is not None else Fraction(0)
                wcur = workspaces[s_["workspace_id"]]["currency"] or p["currency"]
                k = (pid, month_start(acc))
                rev_local[k] = add(rev_local.get(k, Fraction(0)), st.convert(amt, wcur, p["currency"], acc))

    expense = defaultdict(Fraction)
    invoiced = defaultdict(Fraction)
    line_keys = set()
    for target, stream in ((expense, "expense_line"), (invoiced, "invoice_line")):
        for ln in lines[stream]:
            k = (ln["pid"], ln["month"])
            target[k] += ln["usd"]
            line_keys.add(k)

    first_month = month_start(hs)

    def reported(m):
        return first_month <= m <= as_of_month

    activity = {k for k in line_keys if reported(k[1])}
    for k in all_hours:
        if reported(k[1]):
            activity.add(k)
    for k, v in labor.items():
        if v != 0 and reported(k[1]):
            activity.add(k)
    for (pid, m), v in rev_local.items():
        if not reported(m):
            continue
        if v is None:
            if (pid, m) in all_hours or m in event_months[pid]:
                activity.add((pid, m))
        elif v != 0:
            activity.add((pid, m))

    revenue_rows, margin_rows = [], []
    for pid, m in sorted(activity):
        p = projects[pid]
        rl = rev_local.get((pid, m), Fraction(0))
        ru = mul(rl, st.rate(p["currency"], m))
        revenue_rows.append({
            "project_id": pid, "month": m, "billing_type": p["billing_type"], "revenue_local": money(rl),
            "currency": p["currency"], "revenue_usd": money(ru), "hours": hours_cell(bill_hours.get((pid, m), 0))})
        lc, ex, inv = labor.get((pid, m), Fraction(0)), expense.get((pid, m), Fraction(0)), invoiced.get((pid, m), Fraction(0))
        gm = None if ru is None else ru - lc - ex
        margin_rows.append({
            "project_id": pid, "month": m, "revenue_usd": money(ru), "labor_cost_usd": money(lc),
            "expense_usd": money(ex), "gross_margin_usd": money(gm),
            "gross_margin_pct": ratio(gm, ru) if ru else None, "invoiced_usd": money(inv),
            "hours": hours_cell(all_hours.get((pid, m), 0))})
    out["revenue"] = revenue_rows
    out["margin"] = margin_rows

    # ---- backlog (R17)
    snapshots = []
    m = first_month
    while month_end(m) < as_of:
        if month_end(m) >= hs:
            snapshots.append(month_end(m))
        m = add_months(m, 1)
    snapshots.append(as_of)
    backlog = []
    rev_of = defaultdict(list)
    for (q, m), v in rev_local.items():
        rev_of[q].append((m, v))
    for pid in sorted(projects):
        p = projects[pid]
        starts = [bd for bd, _ in events_of[pid]]
        starts += [m for m, v in rev_of[pid] if m <= as_of_month and (v is None or v != 0)]
        if not starts:
            continue
        first = min(starts)
        rev_months = sorted(rev_of[pid], key=lambda x: x[0])
        for snap in snapshots:
            if snap < first:
                continue
            rate = st.rate(p["currency"], snap)
            c_loc = contract_local(pid, snap)
            r_loc = Fraction(0)
            for m, v in rev_months:
                if m <= month_start(snap):
                    r_loc = add(r_loc, v)
            c, rv = mul(c_loc, rate), mul(r_loc, rate)
            done = p["project_status"] in ("completed", "cancelled") and p["end_date"] is not None and snap >= p["end_date"]
            if c is None or rv is None:
                bl = ov = None
            else:
                bl = Fraction(0) if done else max(Fraction(0), c - rv)
                ov = max(Fraction(0), rv - c)
            backlog.append({
                "project_id": pid, "snapshot_date": snap, "billing_type": p["billing_type"],
                "contract_usd": money(c), "revenue_to_date_usd": money(rv), "backlog_usd": money(bl),
                "overrun_usd": money(ov),
                "backlog_quality": "estimated" if p["billing_type"] == "time_and_materials" else "contracted"})
    out["backlog"] = backlog

    # ---- capacity per employee-day (utilization rule)
    holidays = defaultdict(set)
    for h in st.recs[("workday", "Holidays")].values():
        if h["date"] is not None:
            holidays[h["country"]].add(h["date"])
    time_off = defaultdict(Fraction)
    for t in st.recs[("workday", "Time_Off")].values():
        if t["status"] == "Approved" and t["date"] is not None and t["hours"] is not None:
            time_off[(t["employee"], t["date"])] += t["hours"]

    def day_capacity(eid, d, v):
        """(capacity, holiday hours, time-off hours) of day d, or None when it is no working day of eid."""
        w = workers[eid]
        if d.weekday() >= 5 or (w["hire"] and d < w["hire"]) or (w["term"] and d > w["term"]):
            return None
        std = (v["weekly"] or Fraction(0)) / 5
        if d in holidays.get(w["country"], ()):
            return Fraction(0), std, Fraction(0)
        off = min(std, time_off.get((eid, d), Fraction(0)))
        return std - off, Fraction(0), off

    employees = [eid for eid in sorted(workers) if workers[eid]["worker_type"] == "Employee"]
    week_hours = defaultdict(lambda: [Fraction(0), Fraction(0)])
    for e in approved:
        if hs <= e["date"] <= as_of:
            week_hours[(e["eid"], monday(e["date"]))][0 if e["billable"] else 1] += e["hours"]
    util = []
    for eid in employees:
        w = workers[eid]
        lo = max(hs, w["hire"] or hs)
        hi = min(as_of, w["term"] or as_of)
        if lo > hi:
            continue
        wk = monday(lo)
        while wk <= hi:
            wv = version(eid, max(wk, hs))  # the week's version (R18): its Monday's, history_start's for the first week
            cap = hd = to = Fraction(0)
            for d in days(max(wk, lo), min(wk + dt.timedelta(days=6), hi)):
                dc = day_capacity(eid, d, wv)
                if dc:
                    cap, hd, to = cap + dc[0], hd + dc[1], to + dc[2]
            b, nb = week_hours.get((eid, wk), (Fraction(0), Fraction(0)))
            util.append({
                "employee_id": eid, "week_start": wk, "practice": wv["practice"],
                "capacity_hours": hours_cell(cap), "holiday_hours": hours_cell(hd), "time_off_hours": hours_cell(to),
                "billable_hours": hours_cell(b), "nonbillable_hours": hours_cell(nb),
                "billable_utilization": ratio(b, cap), "productive_utilization": ratio(b + nb, cap)})
            wk += dt.timedelta(days=7)
    out["utilization"] = util

    # ---- capacity plan (R20)
    w0 = monday(as_of) + dt.timedelta(days=7)
    weeks = [w0 + dt.timedelta(days=7 * i) for i in range(12)]
    w_end = weeks[-1] + dt.timedelta(days=6)
    plan = defaultdict(lambda: defaultdict(Fraction))

    def spread(total, start, end, practice, field):
        if total is None or start is None or end is None:
            return
        wdays = [d for d in days(start, end) if d.weekday() < 5]
        if not wdays:
            return
        per = Fraction(total) / len(wdays)
        for d in wdays:
            if w0 <= d <= w_end:
                plan[(practice, monday(d))][field] += per

    for eid in employees:
        cur_v = versions[eid][-1]
        for d in days(w0, w_end):
            dc = day_capacity(eid, d, cur_v)
            if dc:
                plan[(cur_v["practice"], monday(d))]["capacity"] += dc[0]
    for a in st.recs[("kantata", "allocations")].values():
        eid = emp_of_user.get(a["user_id"])
        practice = versions[eid][-1]["practice"] if eid is not None else None
        if a["minutes"] is None:
            continue
        spread(Fraction(a["minutes"], 60), a["start"], a["end"], practice, "soft" if a["soft"] else "hard")
    for oid, o in sorted(_opps(st).items()):
        if o["deleted"] or o["won"] or o["closed"]:
            continue
        if o["start"] is None or o["start"] > w_end or o["est_hours"] is None or o["probability"] is None:
            continue
        spread(o["est_hours"] * o["probability"], o["start"], o["end"], o["practice"], "pipeline")
    practices = {pr for (pr, _), v in plan.items() if any(x != 0 for x in v.values())}
    cap_rows = []
    for pr in sorted(practices, key=lambda x: (x is None, x or "")):
        for wk in weeks:
            v = plan.get((pr, wk), {})
            cap, hard, soft, pipe = (v.get(k, Fraction(0)) for k in ("capacity", "hard", "soft", "pipeline"))
            cap_rows.append({
                "practice": pr, "week_start": wk, "capacity_hours": hours_cell(cap),
                "hard_allocated_hours": hours_cell(hard), "soft_allocated_hours": hours_cell(soft),
                "weighted_pipeline_hours": hours_cell(pipe), "unallocated_hours": hours_cell(cap - hard),
                "demand_gap_hours": hours_cell(hard + soft + pipe - cap)})
    out["capacity_plan"] = cap_rows

    # ---- SPEC 4b: dim_employee_history (R23)
    hist_rows = []
    for eid in sorted(workers):
        vs = versions[eid]
        for i, v in enumerate(vs):
            nxt = vs[i + 1]["from"] if i + 1 < len(vs) else None
            hist_rows.append({
                "employee_id": eid, "valid_from": v["from"], "valid_to": nxt, "practice": v["practice"],
                "job_profile": v["job_profile"],
                "weekly_hours": hours_cell(v["weekly"]), "hourly_cost": money(v["cost"]),
                "cost_currency": v["cost_currency"], "is_current": nxt is None})
    out["dim_employee_history"] = hist_rows

    # ---- SPEC 4b: project_setup (R23)
    first_time = {}
    for e in approved:
        if e["pid"] not in first_time or e["date"] < first_time[e["pid"]]:
            first_time[e["pid"]] = e["date"]
    first_hard = {}
    for a in st.recs[("kantata", "allocations")].values():
        pid = project_of_ws.get(a["workspace_id"])
        if pid is None or a["soft"] or a["start"] is None or a["start"] > as_of:
            continue
        if pid not in first_hard or a["start"] < first_hard[pid]:
            first_hard[pid] = a["start"]
    setup = []
    for oid, o in sorted(_opps(st).items()):
        if o["deleted"] or not o["won"] or o["type"] != "new_business" or o["close_date"] is None or o["close_date"] > as_of:
            continue
        pid = project_by_opp.get(oid)
        created = jobs[pid]["datecreated"] if pid is not None else None
        if created is not None and created > as_of:
            created = None
        fh, ft = first_hard.get(pid), first_time.get(pid)
        dd = lambda x: (x - o["close_date"]).days if x is not None else None  # noqa: E731
        setup.append({
            "opportunity_id": oid, "project_id": pid, "practice": o["practice"], "won_date": o["close_date"],
            "project_created_date": created, "first_hard_allocation_date": fh, "first_approved_time_date": ft,
            "days_to_project": dd(created), "days_to_staffed": dd(fh), "days_to_first_time": dd(ft)})
    out["project_setup"] = setup

    # ---- SPEC 4b: billing (R23)
    inv_local = defaultdict(Fraction)
    for ln in lines["invoice_line"]:
        inv_local[(ln["pid"], ln["month"])] += ln["local"]
    billing = []
    rev_by_p, inv_by_p = defaultdict(list), defaultdict(list)
    for (q, mm), v in rev_local.items():
        rev_by_p[q].append((mm, v))
    for (q, mm), v in inv_local.items():
        inv_by_p[q].append((mm, v))
    for pid, m in sorted(activity):
        p = projects[pid]
        rate = st.rate(p["currency"], m)
        rtd = Fraction(0)
        for mm, v in rev_by_p[pid]:
            if mm <= m:
                rtd = add(rtd, v)
        itd = sum((v for mm, v in inv_by_p[pid] if mm <= m), Fraction(0))
        unbilled = None if rtd is None else max(Fraction(0), rtd - itd)
        overbilled = None if rtd is None else max(Fraction(0), itd - rtd)
        rev3, ndays = Fraction(0), 0
        for i in range(3):
            mm = add_months(m, -i)
            rev3 = add(rev3, rev_local.get((pid, mm), Fraction(0)))
            ndays += month_end(mm).day
        wip = None if rev3 is None or rev3 == 0 or unbilled is None else _round(unbilled / (rev3 / ndays), 6)
        billing.append({
            "project_id": pid, "month": m, "revenue_to_date_usd": money(mul(rtd, rate)),
            "invoiced_to_date_usd": money(mul(itd, rate)), "unbilled_usd": money(mul(unbilled, rate)),
            "overbilled_usd": money(mul(overbilled, rate)), "wip_days": wip})
    out["billing"] = billing

    # ---- SPEC 4b: forecast_accuracy (R24-R30)
    out["forecast_accuracy"] = forecast_accuracy(st, _opps(st), bookings)

    out["rejects"] = sorted(({k: r[k] for k in ("system", "stream", "key", "rule")} for r in rejects),
                            key=lambda r: (r["system"], r["stream"], r["key"]))
    out["_waiting"] = dict(out["_waiting"])
    return out


# ---------------------------------------------------------------- SPEC 4b forecast_accuracy


SF_CLOSED_STAGES = ("Closed Won", "Closed Lost")  # R26: history rows carry no IsClosed
HS_CLOSED_STAGES = ("closedwon", "closedlost")  # R27


def forecast_snapshots(hs, as_of):
    """[(s, horizon)]: month ends s on or after history_start whose horizon, the last day of the
    third month after s's month, is on or before as_of (R24)."""
    out = []
    m = month_start(hs)
    while True:
        s, horizon = month_end(m), month_end(add_months(m, 3))
        if horizon > as_of:
            return out
        if s >= hs:
            out.append((s, horizon))
        m = add_months(m, 1)


def _sf_state_at(rows, s):
    """The latest non-deleted OpportunityHistory row created at or before the end of day s (UTC), or None (R26)."""
    best = None
    for h in rows:
        if h["created"].date() > s:
            continue
        k = (h["created"], h["modstamp"] or h["created"], h["id"] or "")
        if best is None or k > best[0]:
            best = (k, h)
    if best is None:
        return None
    h = best[1]
    return {"closed": h["stage"] in SF_CLOSED_STAGES, "amount": h["amount"], "close_date": h["close_date"],
            "probability": h["probability"] / 100 if h["probability"] is not None else None}


def _hs_value_at(entries, s):
    """(found, value) of one HubSpot property's history at the end of day s (UTC) (R27)."""
    best = None
    for ts, i, val in entries:
        if ts.date() > s:
            continue
        k = (ts, -i)  # latest timestamp; on a tie the entry listed first (HubSpot lists newest first)
        if best is None or k > best[0]:
            best = (k, val)
    return (False, None) if best is None else (True, best[1])


def _hs_state_at(history, s):
    found, stage = _hs_value_at(history.get("dealstage", []), s)
    if not found:
        return None
    return {"closed": stage in HS_CLOSED_STAGES,
            "amount": _hs_value_at(history.get("amount", []), s)[1],
            "close_date": _hs_value_at(history.get("closedate", []), s)[1],
            "probability": _hs_value_at(history.get("hs_deal_stage_probability", []), s)[1]}


def forecast_accuracy(st, opps, bookings):
    """SPEC 4b item 14 from the opportunities' history, the current records and the bookings rows (R24-R30)."""
    sf_hist = defaultdict(list)
    for h in st.recs[("salesforce", "OpportunityHistory")].values():
        if h["is_deleted"] or h["created"] is None or h["opp"] is None:
            continue
        sf_hist[h["opp"]].append(h)
    live = [o for _, o in sorted(opps.items()) if not o["deleted"]]  # R25: current state decides deletion
    won = [b for b in bookings if b["event_type"] == "won"]
    FIRM = object()
    rows = []
    for s, horizon in forecast_snapshots(st.history_start, st.as_of):
        fc = defaultdict(Fraction)  # practice (or FIRM) -> exact USD, None when a rate is missing
        ac = defaultdict(Fraction)
        seen = set()
        for o in live:
            if o["system"] == "salesforce":
                at = _sf_state_at(sf_hist.get(o["id"], []), s)
            else:
                at = _hs_state_at(o["hs_history"] or {}, s)
            if at is None or at["closed"] or at["close_date"] is None or not (s < at["close_date"] <= horizon):
                continue
            seen.add(o["practice"])
            if at["amount"] is None or at["probability"] is None:
                v = Fraction(0)  # R28: adds nothing, needs no rate
            else:
                v = mul(at["amount"] * at["probability"], st.rate(o["currency"], s))
            for k in (o["practice"], FIRM):
                fc[k] = add(fc[k], v)
        for b in won:
            if not (s < b["booking_date"] <= horizon):
                continue
            seen.add(b["practice"])
            v = mul(b["_amount"], st.rate(b["currency"], s))
            for k in (b["practice"], FIRM):
                ac[k] = add(ac[k], v)
        practices = sorted(p for p in seen if p is not None)
        for k in practices + [FIRM]:
            f, a = fc[k], ac[k]
            acc = None if f is None or a is None or a == 0 else _round(1 - abs(f - a) / a, 6)
            rows.append({"snapshot_date": s, "practice": None if k is FIRM else k, "weighted_forecast_usd": money(f),
                         "actual_won_usd": money(a), "accuracy": acc})
    return rows


# ---------------------------------------------------------------- entry points


def compute_runs(states, reconcile=True):
    """One result per run for a sequence of fixture states (each a dir or a list of overlay dirs)."""
    results, prev, log = [], None, BookingLog()
    for i, dirs in enumerate(states, start=1):
        st = State(Files(dirs), prev=prev, reconcile=reconcile)
        log.observe(st, i)
        results.append(build(st, log))
        prev = st
    return results


def compute(fixtures_dir):
    """The lake after one run on one fixture directory."""
    return compute_runs([fixtures_dir])[0]


if __name__ == "__main__":
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    base = args[0] if args else "fixtures"
    runs = overlay_runs(base) if "--runs" in sys.argv else [[base]]
    for k, res in enumerate(compute_runs(runs, reconcile="--no-reconcile" not in sys.argv), start=1):
        print(f"after run {k}:", ", ".join(f"{t} {len(res[t])}" for t in TABLES + TABLES_4B), f"rejects {len(res['rejects'])}")
        print("  waiting", res["_waiting"], "table rules", res["_table_rules"])
        for r in res["rejects"]:
            print("  reject", r["system"], r["stream"], r["key"], r["rule"])
