"""Cell-by-cell comparison of a pslake lake with the reference model (reference_model.py).

    python3 lake_compare.py LAKE FIXTURES_DIR            # one run on FIXTURES_DIR
    python3 lake_compare.py LAKE BASE_DIR --run K        # the state after run K of BASE_DIR's overlays

Every canonical table is read with Python `deltalake` (no pslake code) and matched with the
reference's rows by the table's natural key (reference_model.KEYS); `_pslake.rejects` is matched by
(system, stream, key) over the rows of the lake's latest run, and its `rule` compared.

Equality: strings, booleans, dates exactly; DECIMAL cells as numbers, exactly (to the cent);
column types: money DECIMAL(18,2), ratios DOUBLE, dates DATE, strings (SPEC 4; hours have no SPEC
type and are not checked); DOUBLE cells (hours, ratios) against the reference's rounded decimal: equal when the double is the
nearest double to it, give or take a few ulps (1e-12 relative), so a value that was not rounded
the way SPEC says (4 places for hours, 6 for ratios) shows as a difference.

A difference is (table, key, column, lake value, reference value); a whole missing or extra row
has column "<row>".
"""

import datetime
import decimal
import os
import sys
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_model  # noqa: E402

Diff = namedtuple("Diff", "table key column lake reference")

ROW = "<row>"


def _path(lake):
    return lake[len("file://"):] if lake.startswith("file://") else lake


_TYPES = {}


def read_rows(lake, table):
    """Rows of `schema.name` (default schema canonical) as dicts; None when the table is absent."""
    from deltalake import DeltaTable

    schema, name = table.split(".", 1) if "." in table else ("canonical", table)
    path = os.path.join(_path(lake), schema, name)
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return None
    t = DeltaTable(path).to_pyarrow_table()
    _TYPES[(lake, table)] = {f.name: str(f.type) for f in t.schema}
    return t.to_pylist()


def read_schema(lake, table):
    """{column: arrow type} of a lake table (as read by the last read_rows)."""
    if (lake, table) not in _TYPES:
        read_rows(lake, table)
    return _TYPES.get((lake, table), {})


def expected_type(values):
    """The SPEC type of a reference column from its values: money DECIMAL(18,2), ratios DOUBLE,
    dates DATE, ids and codes strings; hours (4 places) have no SPEC type and are not checked."""
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, decimal.Decimal):
            return {-2: "decimal128(18, 2)", -6: "double"}.get(v.as_tuple().exponent)
        if isinstance(v, datetime.date):
            return "date32[day]"
        if isinstance(v, str):
            return "string"
        return None
    return None


def compare_types(table, lake_types, ref_rows):
    diffs = []
    for c in (list(ref_rows[0]) if ref_rows else []):
        want = expected_type(r[c] for r in ref_rows)
        got = lake_types.get(c)
        if want and got and got != want and not (want == "string" and got == "large_string"):
            diffs.append(Diff(table, "<type>", c, got, want))
    return diffs


def latest_run_id(lake):
    runs = read_rows(lake, "_pslake.runs") or []
    if not runs:
        return None
    return max(runs, key=lambda r: (r["started_at"], r["ended_at"]))["_run_id"]


def lake_rejects(lake):
    """The current rejects: those the latest run wrote (SPEC 5)."""
    rows = read_rows(lake, "_pslake.rejects") or []
    run = latest_run_id(lake)
    return [{k: r.get(k) for k in ("system", "stream", "key", "rule")} for r in rows if r["_run_id"] == run]


def norm(v):
    if isinstance(v, datetime.datetime) and v.tzinfo is None and v.time() == datetime.time():
        return v.date()
    return v


def same(lake_v, ref_v):
    a, b = norm(lake_v), norm(ref_v)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(b, decimal.Decimal):
        if isinstance(a, decimal.Decimal):
            return a == b
        if isinstance(a, (int, float)):
            fb = float(b)
            return a == fb or abs(a - fb) <= 1e-12 * max(1.0, abs(fb))
        return False
    if isinstance(b, float) or isinstance(a, float):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    return a == b


def show(v):
    v = norm(v)
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return repr(v)


def compare_rows(table, lake_rows, ref_rows, key):
    diffs = []
    if lake_rows is None:
        return [Diff(table, "-", ROW, "table absent", f"{len(ref_rows)} rows")]
    k = lambda r: tuple(norm(r.get(c)) for c in key)  # noqa: E731
    got, dups = {}, []
    for r in lake_rows:
        if k(r) in got:
            dups.append(k(r))
        got[k(r)] = r
    want = {}
    for r in ref_rows:
        want[k(r)] = r
    for x in dups:
        diffs.append(Diff(table, x, ROW, "duplicate key", "one row"))
    cols = list(ref_rows[0]) if ref_rows else []
    if lake_rows and ref_rows:
        for c in cols:
            if c not in lake_rows[0]:
                diffs.append(Diff(table, "-", c, "column absent", "column"))
    for x in sorted(want, key=lambda t: tuple(str(v) for v in t)):
        w = want[x]
        if x not in got:
            diffs.append(Diff(table, x, ROW, "absent", _fmt_row(w, key)))
            continue
        g = got[x]
        for c in cols:
            if c in key or c not in g:
                continue
            if not same(g[c], w[c]):
                diffs.append(Diff(table, x, c, g[c], w[c]))
    for x in sorted((x for x in got if x not in want), key=lambda t: tuple(str(v) for v in t)):
        diffs.append(Diff(table, x, ROW, _fmt_row(got[x], key, cols), "absent"))
    return diffs


def _fmt_row(r, key, cols=None):
    cols = cols or list(r)
    return "{" + ", ".join(f"{c}={show(r.get(c))}" for c in cols if c not in key) + "}"


def has_table(lake, table):
    schema, name = table.split(".", 1) if "." in table else ("canonical", table)
    return os.path.isdir(os.path.join(_path(lake), schema, name, "_delta_log"))


def compare(lake, ref, tables=None):
    """All differences between the lake and one reference result, table by table.

    By default: every SPEC section 4 table, the rejects, and the SPEC 4b tables the lake has
    (reference_model.TABLES_4B: dim_employee_history, project_setup, billing, forecast_accuracy;
    those the lake does not have yet are listed by `missing_4b`). forecast_accuracy is matched on
    (snapshot_date, practice), the firm-wide row's practice being NULL."""
    tables = tables or reference_model.TABLES + ["rejects"] + [t for t in reference_model.TABLES_4B if has_table(lake, t)]
    out = {}
    for t in tables:
        key = reference_model.KEYS[t]
        lake_rows = lake_rejects(lake) if t == "rejects" else read_rows(lake, t)
        out[t] = compare_rows(t, lake_rows, ref[t], key)
        if t != "rejects" and lake_rows is not None:
            out[t] += compare_types(t, read_schema(lake, t), ref[t])
    return out


def missing_4b(lake):
    return [t for t in reference_model.TABLES_4B if not has_table(lake, t)]


def format_diffs(diffs_by_table, max_per_table=40):
    lines = []
    for t, diffs in diffs_by_table.items():
        if not diffs:
            continue
        lines.append(f"== {t}: {len(diffs)} difference(s)")
        for d in diffs[:max_per_table]:
            key = d.key if isinstance(d.key, str) else "(" + ", ".join(show(v) for v in d.key) + ")"
            lk = d.lake if d.column == ROW else show(d.lake)
            rf = d.reference if d.column == ROW else show(d.reference)
            lines.append(f"  {t} {key} {d.column}: lake {lk} | reference {rf}")
        if len(diffs) > max_per_table:
            lines.append(f"  ... {len(diffs) - max_per_table} more")
    return "\n".join(lines)


def main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lake")
    ap.add_argument("fixtures")
    ap.add_argument("--run", type=int, default=0, help="compare with the state after run K of the overlays")
    ap.add_argument("--no-reconcile", action="store_true", help="vanished records stay (extractor without reconcile)")
    ap.add_argument("--max", type=int, default=40)
    a = ap.parse_args(argv)
    if a.run:
        states = reference_model.overlay_runs(a.fixtures)[: a.run]
        ref = reference_model.compute_runs(states, reconcile=not a.no_reconcile)[-1]
    else:
        ref = reference_model.compute(a.fixtures)
    diffs = compare(a.lake, ref)
    text = format_diffs(diffs, a.max)
    if missing_4b(a.lake):
        print("not compared (SPEC 4b tables the lake does not have): " + ", ".join(missing_4b(a.lake)))
    n = sum(len(d) for d in diffs.values())
    print(text if text else "no differences")
    print(f"{n} difference(s) in {sum(1 for d in diffs.values() if d)} table(s)")
    sys.stdout.flush()
    os._exit(1 if n else 0)  # skip interpreter teardown (delta-rs native threads), see conftest.py


if __name__ == "__main__":
    main(sys.argv[1:])
