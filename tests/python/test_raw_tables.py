"""Read every raw table with Python `deltalake` (no pslake) and compare ids with the fixtures.

Produce a lake first, e.g.

    PSLAKE_TEST_KEEP_LAKE=/tmp/pslake-raw-lake \
        cargo test -p pslake-extract --test it landing
    PSLAKE_TEST_LAKE=/tmp/pslake-raw-lake pytest tests/python/test_raw_tables.py

(or `pslake extract --lake DIR` over the committed fixtures). `PSLAKE_TEST_FIXTURES` defaults to
the repository's `fixtures/`.
"""

import csv
import datetime as dt
import json
import os
from pathlib import Path

import pytest

deltalake = pytest.importorskip("deltalake")

ROOT = Path(__file__).resolve().parents[2]
LAKE = os.environ.get("PSLAKE_TEST_LAKE")
FIXTURES = Path(os.environ.get("PSLAKE_TEST_FIXTURES", ROOT / "fixtures"))

# (system, stream, fixture key, raw key column)
STREAMS = [
    ("salesforce", "Account", "Id", "id"),
    ("salesforce", "Opportunity", "Id", "id"),
    ("salesforce", "OpportunityHistory", "Id", "id"),
    ("hubspot", "deals", "id", "id"),
    ("netsuite", "customer", "id", "id"),
    ("netsuite", "job", "id", "id"),
    ("netsuite", "currency", "id", "id"),
    ("netsuite", "transaction", "id", "id"),
    ("netsuite", "transactionline", "uniquekey", "uniquekey"),
    ("kantata", "workspaces", "id", "id"),
    ("kantata", "users", "id", "id"),
    ("kantata", "time_entries", "id", "id"),
    ("kantata", "workspace_resources", "id", "id"),
    ("kantata", "workspace_allocations", "id", "id"),
    ("kantata", "stories", "id", "id"),
    ("workday", "Workers", "Employee_ID", "employee_id"),
    ("workday", "Time_Off", "Time_Off_Entry_ID", "time_off_entry_id"),
]

pytestmark = pytest.mark.skipif(not LAKE, reason="set PSLAKE_TEST_LAKE to a lake produced by pslake")


def table(name):
    return deltalake.DeltaTable(str(Path(LAKE) / name)).to_pyarrow_table()


def rejected_keys(system, stream):
    path = Path(LAKE) / "_pslake" / "rejects"
    if not (path / "_delta_log").exists():
        return set()
    t = deltalake.DeltaTable(str(path)).to_pyarrow_table().to_pylist()
    return {r["key"] for r in t if r["system"] == system and r["stream"] == stream}


def purged(system, stream, record):
    """SPEC 2: HubSpot purges a deal 90 days after archiving it; the sandbox's "now" is the
    manifest's as_of (archivedAt, else updatedAt, as the archive time). A purged deal is listed
    nowhere, so it cannot land."""
    if (system, stream) != ("hubspot", "deals") or not record.get("archived"):
        return False
    as_of = json.loads((FIXTURES / "manifest.json").read_text())["as_of"]
    now = dt.datetime.fromisoformat(as_of + "T00:00:00+00:00")
    at = record.get("archivedAt") or record.get("updatedAt")
    at = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at < now - dt.timedelta(days=90)


@pytest.mark.parametrize("system,stream,key,col", STREAMS)
def test_raw_ids_match_fixtures(system, stream, key, col):
    expected = set()
    with open(FIXTURES / system / f"{stream}.jsonl") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if not purged(system, stream, record):
                    expected.add(record[key])
    t = table(f"raw/{system}_{stream.lower()}")
    for bookkeeping in ("_run_id", "_extracted_at", "_raw"):
        assert bookkeeping in t.column_names
    landed = set(t.column(col).to_pylist())
    assert landed | rejected_keys(system, stream) == expected
    # _raw is the record's JSON
    raw = json.loads(t.column("_raw")[0].as_py())
    assert raw[key] in expected
    assert "attributes" not in raw


def test_fx_rates_files():
    files = sorted(p.name for p in (FIXTURES / "treasury").glob("fx_rates_*.csv"))
    t = table("raw/treasury_fx_rates")
    assert sorted(set(t.column("_file").to_pylist())) == files
    rows = 0
    for name in files:
        with open(FIXTURES / "treasury" / name) as f:
            rows += sum(1 for _ in csv.DictReader(f))
    assert t.num_rows == rows
    assert str(t.schema.field("usd_per_unit").type) == "decimal128(18, 8)"
