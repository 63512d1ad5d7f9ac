"""A BI-style client of `pslake serve`, run by the Rust tests (crates/pslake-cli/tests/it/serve.rs).

    python3 serve_client.py MODE HOST PORT USER DBNAME      (the password in PGPASSWORD)

Modes print one JSON document on stdout:
  psycopg   parameterised queries over the extended protocol, a server-side cursor, the types
            psycopg decodes (Decimal with its scale, date, datetime with tzinfo, bool, None)
  inspect   SQLAlchemy's inspector: schema names, table names, columns (how Superset and
            Metabase-style tools browse)
  hold      opens one connection, prints "ready", and keeps it until stdin closes
"""

import datetime
import decimal
import json
import os
import sys

import psycopg


def conninfo(host, port, user, dbname):
    return dict(host=host, port=int(port), user=user, dbname=dbname,
                password=os.environ["PGPASSWORD"], sslmode=os.environ.get("PGSSLMODE", "disable"))


def describe(v):
    if isinstance(v, decimal.Decimal):
        return {"type": "Decimal", "value": str(v), "exponent": v.as_tuple().exponent}
    if isinstance(v, datetime.datetime):
        return {"type": "datetime", "value": v.isoformat(), "tz": v.tzinfo is not None}
    if isinstance(v, datetime.date):
        return {"type": "date", "value": v.isoformat()}
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if v is None:
        return {"type": "None"}
    return {"type": type(v).__name__, "value": v}


def mode_psycopg(args):
    out = {}
    with psycopg.connect(**conninfo(*args)) as conn:
        with conn.cursor() as cur:
            # Extended protocol with bound parameters.
            cur.execute(
                "SELECT practice, count(*) AS n, sum(amount_usd) AS usd FROM canonical.bookings "
                "WHERE booking_date >= %s AND amount_usd > %s GROUP BY practice ORDER BY practice",
                (datetime.date(2000, 1, 1), decimal.Decimal("0")),
            )
            out["by_practice"] = [[r[0], r[1], str(r[2])] for r in cur.fetchall()]
            cur.execute(
                "SELECT amount_usd, booking_date, (SELECT max(started_at) FROM _pslake.runs) AS ts, "
                "amount_usd > %s AS big, CAST(NULL AS VARCHAR) AS nothing "
                "FROM canonical.bookings WHERE amount_usd IS NOT NULL ORDER BY booking_id LIMIT 1",
                (decimal.Decimal("1000"),),
            )
            out["types"] = [describe(v) for v in cur.fetchone()]
        # A server-side cursor, fetched in batches (DECLARE / FETCH / CLOSE).
        with conn.transaction():
            with conn.cursor(name="pslake_test_cursor") as cur:
                cur.itersize = 7
                cur.execute("SELECT booking_id FROM canonical.bookings ORDER BY booking_id")
                out["cursor_rows"] = sum(1 for _ in cur)
    print(json.dumps(out))


def mode_inspect(args):
    from sqlalchemy import create_engine, inspect

    host, port, user, dbname = args
    url = f"postgresql+psycopg://{user}:{os.environ['PGPASSWORD']}@{host}:{port}/{dbname}?sslmode=disable"
    engine = create_engine(url)
    insp = inspect(engine)
    out = {"schemas": insp.get_schema_names(), "tables": insp.get_table_names(schema="canonical")}
    out["columns"] = [
        {"name": c["name"], "type": str(c["type"]), "nullable": c["nullable"],
         "comment": c.get("comment")}
        for c in insp.get_columns("bookings", schema="canonical")
    ]
    print(json.dumps(out))


def mode_hold(args):
    with psycopg.connect(**conninfo(*args)) as conn:
        conn.execute("SELECT 1").fetchone()
        print("ready", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    {"psycopg": mode_psycopg, "inspect": mode_inspect, "hold": mode_hold}[mode](rest)
