#!/usr/bin/env python3
"""Build every model of sql/ in DuckDB, from the translations in this folder, over a pslake lake.

    python3 benches/duckdb_models/run.py --lake LAKE --as-of 2026-09-30 --history-start 2025-07-01

Raw tables (and `_pslake.rejects`) are views over the Parquet files of their current Delta version
(`deltalake.DeltaTable(path).file_uris()`; DuckDB's delta extension cannot be downloaded here),
seeds are tables read from `models/seeds/*.csv` as text (as pslake reads them), `pslake.run_context`
is a one-row table, and `prior_run.int_booking_events` is the lake's published event log (the
version `intermediate.int_booking_events` reads of itself). Then every translated model runs in
dependency order: views as `CREATE VIEW`, tables/rejects/warnings as `CREATE TABLE ... AS`, in a
DuckDB database file (a temporary one unless `--db`), `SET threads=2` (or `--threads`), and a
final CHECKPOINT so the tables are on disk, as pslake's are committed. Timed: everything from
opening the database to that checkpoint.

Then, outside the timing, a sanity check: row counts and sums of the money and hours columns of
the canonical tables against the tables pslake published in the same lake. Differences are
printed and counted, never fatal. The last line printed is one JSON object (seconds, peak RSS of
this process in MiB, model count, differences) for the benchmark that runs this script.
"""

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import deltalake
import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCHEMAS = ["staging", "intermediate", "canonical", "quality"]
REF = re.compile(r"\b(staging|intermediate|canonical|quality)\.([a-z_][a-z0-9_]*)\b")

# The published event log's columns (models/intermediate.yml), for a first build on a lake that
# has none yet.
EMPTY_BOOKING_EVENTS = """
CREATE TABLE prior_run.int_booking_events (
    booking_id VARCHAR, opportunity_id VARCHAR, source_system VARCHAR, event_seq BIGINT,
    event_type VARCHAR, booking_date DATE, booking_type VARCHAR, billing_type VARCHAR,
    practice VARCHAR, account_ref VARCHAR, parent_opportunity_id VARCHAR,
    amount_local DECIMAL(18,2), currency VARCHAR, recorded_run_id VARCHAR, recorded_as_of DATE)
"""

# Canonical tables compared with pslake's: (table, columns summed).
CHECKS = [
    ("canonical.dim_customer", []),
    ("canonical.dim_project", ["budget_hours"]),
    ("canonical.dim_employee", ["hourly_cost", "weekly_hours"]),
    ("canonical.fct_time_entry", ["hours", "bill_amount_usd", "cost_amount_usd"]),
    ("canonical.bookings", ["amount_local", "amount_usd"]),
    ("canonical.revenue", ["revenue_local", "revenue_usd", "hours"]),
    ("canonical.backlog", ["contract_usd", "revenue_to_date_usd", "backlog_usd", "overrun_usd"]),
    ("canonical.utilization", ["capacity_hours", "billable_hours", "nonbillable_hours"]),
    ("canonical.capacity_plan", ["capacity_hours", "hard_allocated_hours", "weighted_pipeline_hours"]),
    ("canonical.margin", ["revenue_usd", "labor_cost_usd", "expense_usd", "gross_margin_usd"]),
    ("intermediate.int_time_entries_checked", ["minutes"]),
    ("intermediate.int_booking_events", ["amount_local"]),
]


def peak_rss_mib():
    """This process's high-water mark (VmHWM; DuckDB runs in it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def delta_files(path):
    return deltalake.DeltaTable(str(path)).file_uris()


def parquet_list(files):
    return "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"


def models():
    """{qualified name: (kind, sql)} from the translations; kind is VIEW or TABLE."""
    out = {}
    for schema in SCHEMAS:
        for f in sorted((HERE / schema).glob("*.sql")):
            sql = f.read_text()
            m = re.search(r"CREATE (VIEW|TABLE) (\w+)\.(\w+) AS", sql)
            if not m or f"{m.group(2)}.{m.group(3)}" != f"{schema}.{f.stem}":
                sys.exit(f"{f}: expected CREATE VIEW|TABLE {schema}.{f.stem} AS")
            out[f"{schema}.{f.stem}"] = (m.group(1), sql)
    return out


def order(ms):
    """Dependency order: a model after every model its SQL names (outside `--` comments)."""
    deps = {}
    for name, (_, sql) in ms.items():
        body = re.sub(r"--[^\n]*", "", sql.split(" AS\n", 1)[1])
        deps[name] = {f"{a}.{b}" for a, b in REF.findall(body)} & set(ms) - {name}
    done, seq = set(), []
    while len(seq) < len(ms):
        ready = sorted(n for n in ms if n not in done and deps[n] <= done)
        if not ready:
            sys.exit(f"cycle among {sorted(set(ms) - done)}")
        for n in ready:
            done.add(n)
            seq.append(n)
    return seq


def setup(con, lake, as_of, history_start, run_id):
    for s in ["raw", "seeds", "pslake", "_pslake", "prior_run"] + SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
    for t in sorted(p for p in (lake / "raw").iterdir() if (p / "_delta_log").is_dir()):
        con.execute(
            f"CREATE VIEW raw.{t.name} AS SELECT * FROM read_parquet({parquet_list(delta_files(t))}, union_by_name = true)"
        )
    rejects = lake / "_pslake" / "rejects"
    if (rejects / "_delta_log").is_dir():
        con.execute(
            f"CREATE VIEW _pslake.rejects AS SELECT * FROM read_parquet({parquet_list(delta_files(rejects))}, union_by_name = true)"
        )
    for f in sorted((ROOT / "models" / "seeds").glob("*.csv")):
        con.execute(
            f"CREATE TABLE seeds.{f.stem} AS SELECT * FROM read_csv('{f}', header = true, all_varchar = true)"
        )
    con.execute(
        "CREATE TABLE pslake.run_context AS SELECT CAST(? AS VARCHAR) AS run_id, CAST(? AS DATE) AS as_of, "
        "CAST(? AS DATE) AS history_start, CAST(now() AS TIMESTAMPTZ) AS run_started_at",
        [run_id, as_of, history_start],
    )
    events = lake / "intermediate" / "int_booking_events"
    if (events / "_delta_log").is_dir():
        con.execute(
            f"CREATE TABLE prior_run.int_booking_events AS SELECT * FROM read_parquet({parquet_list(delta_files(events))})"
        )
    else:
        con.execute(EMPTY_BOOKING_EVENTS)


def published(con, lake, table):
    schema, name = table.split(".")
    path = lake / schema / name
    if not (path / "_delta_log").is_dir():
        return None
    return f"read_parquet({parquet_list(delta_files(path))})"


def compare(con, lake):
    diffs = []
    for table, cols in CHECKS:
        src = published(con, lake, table)
        if src is None:
            print(f"  {table}: not published by pslake in this lake, skipped")
            continue
        # DECIMAL sums are exact (compared exactly); DOUBLE sums within 1e-9 relative
        exprs = ["count(*)"] + [f"sum({c})" for c in cols]
        ours = con.execute(f"SELECT {', '.join(exprs)} FROM {table}").fetchone()
        theirs = con.execute(f"SELECT {', '.join(exprs)} FROM {src}").fetchone()
        for label, a, b in zip(["rows"] + cols, ours, theirs):
            same = a == b or (
                isinstance(a, float)
                and isinstance(b, float)
                and abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
            )
            mark = "ok" if same else "DIFFERS"
            print(f"  {table}.{label}: duckdb {a} / pslake {b} {mark}")
            if not same:
                diffs.append(f"{table}.{label}: duckdb {a}, pslake {b}")
    return diffs


def pslake_sums(lake):
    """Row counts and sums of the tables of CHECKS as pslake published them (no model run):
    DECIMAL sums as exact text, DOUBLE sums as numbers."""
    con = duckdb.connect()
    out = {}
    for table, cols in CHECKS:
        src = published(con, lake, table)
        if src is None:
            continue
        exprs = ["count(*)"] + [f"sum({c})" for c in cols]
        values = con.execute(f"SELECT {', '.join(exprs)} FROM {src}").fetchone()
        for label, v in zip(["rows"] + cols, values):
            out[f"{table}.{label}"] = v if isinstance(v, (int, float)) or v is None else str(v)
    con.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lake", required=True, type=Path)
    ap.add_argument(
        "--pslake-sums",
        action="store_true",
        help="only print, as JSON, the row counts and sums of pslake's published tables",
    )
    ap.add_argument("--as-of")
    ap.add_argument("--history-start")
    ap.add_argument("--run-id", default="duckdb-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--db", type=Path, help="DuckDB database file (default: a temporary one)")
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no per-model times")
    a = ap.parse_args()
    lake = a.lake.resolve()
    if a.pslake_sums:
        print(json.dumps(pslake_sums(lake)))
        return
    if not (a.as_of and a.history_start):
        ap.error("--as-of and --history-start are required to build the models")
    ms = models()
    seq = order(ms)
    with tempfile.TemporaryDirectory(prefix="duckdb-models-") as tmp:
        db = a.db or Path(tmp) / "models.duckdb"
        t0 = time.perf_counter()
        con = duckdb.connect(str(db))
        con.execute(f"SET threads = {a.threads}")
        # DataFusion (like PostgreSQL) sorts NULLs last ascending and first descending
        con.execute("SET default_null_order = 'nulls_last_on_asc_first_on_desc'")
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = '{tmp}/spill'")
        setup(con, lake, a.as_of, a.history_start, a.run_id)
        per_model = []
        for name in seq:
            t = time.perf_counter()
            con.execute(ms[name][1])
            per_model.append((name, ms[name][0], time.perf_counter() - t))
            if not a.quiet:
                print(f"  {name:<46} {ms[name][0].lower():<5} {per_model[-1][2]:7.2f}s", flush=True)
        con.execute("CHECKPOINT")
        seconds = time.perf_counter() - t0
        peak = peak_rss_mib()
        print(f"duckdb {duckdb.__version__}: {len(seq)} models in {seconds:.2f}s, peak RSS {peak:.0f} MiB")
        diffs = []
        if not a.no_compare:
            print("sanity check against the tables pslake published in the same lake:")
            diffs = compare(con, lake)
            print(f"{len(diffs)} difference(s)")
        con.close()
    slowest = sorted(per_model, key=lambda m: -m[2])[:5]
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "peak_rss_mib": round(peak, 1),
                "models": len(seq),
                "duckdb": duckdb.__version__,
                "threads": a.threads,
                "differences": diffs,
                "slowest": [[n, round(s, 3)] for n, _, s in slowest],
            }
        )
    )


if __name__ == "__main__":
    main()
