"""Read one Delta table of a pslake lake with a client nobody here wrote, and print its rows.

    python3 read_table.py LAKE SCHEMA.TABLE ENGINE      # ENGINE: deltalake | duckdb

`deltalake` reads through the Delta log with delta-rs's Python bindings; `duckdb` asks the Delta
log (via deltalake) which Parquet files are live and reads those files with DuckDB's own Parquet
reader (DuckDB's delta extension is downloaded at run time from outside the package registries,
which this machine cannot reach).

Output: the column names on the first line, then one line per row, sorted, values tab-separated
and normalised (see `norm`) so that the Rust side can print the same rows the same way and
compare the two texts exactly.
"""

import datetime
import decimal
import os
import sys


def norm(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, float):
        return f"{v:.9f}"
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    return str(v).replace("\t", " ").replace("\n", " ")


def rows_deltalake(path):
    from deltalake import DeltaTable

    t = DeltaTable(path).to_pyarrow_table()
    return t.column_names, [tuple(r.values()) for r in t.to_pylist()]


def rows_duckdb(path):
    import duckdb
    from deltalake import DeltaTable

    dt = DeltaTable(path)
    files = dt.file_uris()
    cols = [f.name for f in dt.schema().to_arrow()] if hasattr(dt.schema(), "to_arrow") else None
    if cols is None:
        cols = [f.name for f in dt.schema().fields]
    if not files:
        return cols, []
    files = [f[len("file://"):] if f.startswith("file://") else f for f in files]
    con = duckdb.connect()
    select = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
    rel = con.execute(f"SELECT {select} FROM read_parquet(?, union_by_name = true)", [files])
    return cols, rel.fetchall()


def main():
    lake, table, engine = sys.argv[1], sys.argv[2], sys.argv[3]
    schema, name = table.split(".", 1)
    path = os.path.join(lake, schema, name)
    cols, rows = {"deltalake": rows_deltalake, "duckdb": rows_duckdb}[engine](path)
    out = sys.stdout
    out.write("\t".join(cols) + "\n")
    for line in sorted("\t".join(norm(v) for v in r) for r in rows):
        out.write(line + "\n")
    out.flush()
    # Every row is written: leave without interpreter teardown, where delta-rs's and pyarrow's
    # native threads can abort the process ("terminate called without an active exception")
    # about one run in three on this machine, after the work is done.
    os._exit(0)


if __name__ == "__main__":
    main()
