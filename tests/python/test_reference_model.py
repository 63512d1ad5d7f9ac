"""Compare pslake's canonical tables with the independent Python reference (reference_model.py).

    PSLAKE_TEST_LAKE=<lake from `pslake run` on the fixtures> \
    PSLAKE_TEST_FIXTURES=<fixtures dir, default the repo's fixtures/> python3 -m pytest tests/python

Each canonical table is read with Python `deltalake` (no pslake) and compared row by row, keyed by
its natural key: money (DECIMAL(18,2)) exactly to the cent, hours and ratios to 1e-9 relative,
everything else exactly. Skips only when PSLAKE_TEST_LAKE is unset.
"""

import datetime
import decimal
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
}

MAX_SHOWN = 8


def lake():
    path = os.environ.get("PSLAKE_TEST_LAKE")
    if not path:
        pytest.skip("PSLAKE_TEST_LAKE is unset (a lake produced by `pslake run` on the fixtures)")
    if path.startswith("file://"):
        path = path[len("file://"):]
    return path


_REF = {}


def reference():
    fixtures = os.environ.get("PSLAKE_TEST_FIXTURES") or os.path.join(REPO, "fixtures")
    if fixtures not in _REF:
        _REF[fixtures] = reference_model.compute(fixtures)
    return _REF[fixtures]


def read(path, table):
    from deltalake import DeltaTable

    return DeltaTable(os.path.join(path, "canonical", table)).to_pyarrow_table().to_pylist()


def norm(v):
    if isinstance(v, datetime.datetime):
        return v.date() if v.tzinfo is None and v.time() == datetime.time() else v
    return v


def same(a, b):
    """True when the published value a equals the reference value b under the table's tolerance."""
    a, b = norm(a), norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(b, decimal.Decimal):
        if not isinstance(a, decimal.Decimal):
            return False
        return a == b  # to the cent (both have two places)
    if isinstance(b, float) or isinstance(a, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return a == b
        a, b = float(a), float(b)
        if a == b:
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def fmt(row):
    return "{" + ", ".join(f"{k}={norm(v)!r}" for k, v in row.items()) + "}"


@pytest.mark.parametrize("table", list(KEYS))
def test_canonical_table_matches_reference(table):
    path = lake()
    got = read(path, table)
    want = reference()[table]
    key = KEYS[table]
    k = lambda r: tuple(norm(r[c]) for c in key)  # noqa: E731

    got_by = {}
    dups = []
    for r in got:
        if k(r) in got_by:
            dups.append(k(r))
        got_by[k(r)] = r
    want_by = {k(r): r for r in want}
    problems = []
    if dups:
        problems.append(f"duplicate keys in pslake's {table}: {dups[:MAX_SHOWN]}")
    if want and got:
        missing_cols = set(want[0]) - set(got[0])
        if missing_cols:
            problems.append(f"columns missing from pslake's {table}: {sorted(missing_cols)}")
    only_want = sorted((x for x in want_by if x not in got_by), key=str)
    only_got = sorted((x for x in got_by if x not in want_by), key=str)
    for x in only_want[:MAX_SHOWN]:
        problems.append(f"missing in pslake  {x}: reference {fmt(want_by[x])}")
    for x in only_got[:MAX_SHOWN]:
        problems.append(f"extra in pslake    {x}: pslake {fmt(got_by[x])}")
    diffs = []
    for x in sorted((x for x in want_by if x in got_by), key=str):
        w, g = want_by[x], got_by[x]
        cols = [c for c in w if c in g and not same(g[c], w[c])]
        if cols:
            diffs.append((x, {c: (norm(g[c]), w[c]) for c in cols}))
    for x, d in diffs[:MAX_SHOWN]:
        problems.append(
            f"differs {x}: " + "; ".join(f"{c}: pslake {a!r} != reference {b!r}" for c, (a, b) in d.items())
        )
    if problems:
        summary = (
            f"{table}: {len(got)} rows in pslake, {len(want)} in the reference; "
            f"{len(only_want)} missing, {len(only_got)} extra, {len(diffs)} differing "
            f"(first {MAX_SHOWN} of each shown)"
        )
        pytest.fail(summary + "\n  " + "\n  ".join(problems), pytrace=False)
    assert len(got) == len(want)
