"""Open every Delta table of a pslake lake with two readers nobody here wrote.

    python3 read_lake.py LAKE

For each folder of LAKE that holds a `_delta_log`, reads the table with Python `deltalake`
(through the Delta log) and with DuckDB (its Parquet reader over the live files the log lists),
and prints `schema.table<TAB>rows` once both agree on the row count. Exits 1 naming the table
when either reader fails or the two counts differ. The kill tests run it after every crash and
recovery: whatever a crash left behind must stay readable.
"""

import os
import sys


def tables(lake):
    for root, dirs, _files in os.walk(lake):
        if "_delta_log" in dirs:
            yield root
            dirs.clear()


def count_deltalake(path):
    from deltalake import DeltaTable

    return DeltaTable(path).to_pyarrow_table().num_rows


def count_duckdb(path):
    import duckdb
    from deltalake import DeltaTable

    files = [f[len("file://"):] if f.startswith("file://") else f for f in DeltaTable(path).file_uris()]
    if not files:
        return 0
    con = duckdb.connect()
    return con.execute("SELECT count(*) FROM read_parquet(?, union_by_name = true)", [files]).fetchone()[0]


def main():
    lake = os.path.abspath(sys.argv[1])
    failed = []
    seen = 0
    for path in sorted(tables(lake)):
        name = os.path.relpath(path, lake).replace(os.sep, ".")
        try:
            a, b = count_deltalake(path), count_duckdb(path)
        except Exception as e:  # noqa: BLE001 - any failure of a reader is the finding
            failed.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if a != b:
            failed.append(f"{name}: deltalake reads {a} rows, duckdb {b}")
            continue
        seen += 1
        sys.stdout.write(f"{name}\t{a}\n")
    sys.stdout.flush()
    if failed:
        sys.stderr.write("\n".join(failed) + "\n")
        sys.stderr.flush()
        os._exit(1)
    if seen == 0:
        sys.stderr.write(f"no Delta table under {lake}\n")
        sys.stderr.flush()
        os._exit(1)
    # see read_table.py: skip interpreter teardown, where native threads can abort the process
    os._exit(0)


if __name__ == "__main__":
    main()
