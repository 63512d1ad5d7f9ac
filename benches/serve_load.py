"""Load benchmark of `pslake serve` (not a timed test): N concurrent psycopg clients run the
dashboard queries for D seconds; prints queries/s, p50/p95 latency and the server's peak memory,
times the same queries in DuckDB over the same Delta tables, and writes the result into
docs/BENCHMARKS.md between its markers.

    cargo build --release
    target/release/pslake fixtures generate --out /tmp/firm10 --scale 10 --seed 1
    target/release/pslake run --fixtures /tmp/firm10 --lake /tmp/lake10
    python3 -m pip install -r benches/requirements.txt -r tests/python/requirements.txt
    python3 benches/serve_load.py --pslake target/release/pslake --lake /tmp/lake10 \
        --clients 20 --seconds 60 --write docs/BENCHMARKS.md
"""

import argparse
import os
import re
import statistics
import subprocess
import threading
import time

import psycopg

QUERIES = {
    "bookings by month and practice":
        "SELECT date_trunc('month', booking_date) AS month, practice, sum(amount_usd) AS usd "
        "FROM canonical.bookings GROUP BY 1, 2 ORDER BY 1, 2",
    "backlog trend":
        "SELECT snapshot_date, sum(backlog_usd) AS backlog FROM canonical.backlog GROUP BY 1 ORDER BY 1",
    "utilization by practice and week":
        "SELECT practice, week_start, sum(billable_hours) / sum(capacity_hours) AS utilization "
        "FROM canonical.utilization GROUP BY 1, 2 ORDER BY 1, 2",
    "margin by project":
        "SELECT project_id, sum(revenue_usd) AS revenue, sum(gross_margin_usd) AS margin "
        "FROM canonical.margin GROUP BY 1 ORDER BY 3 DESC",
}
PASSWORD = "bench-password"


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def client(port, seconds, latencies, errors):
    conn = psycopg.connect(host="127.0.0.1", port=port, user="pslake", dbname="pslake",
                           password=PASSWORD, sslmode="disable", autocommit=True)
    end = time.monotonic() + seconds
    names = list(QUERIES)
    i = 0
    while time.monotonic() < end:
        name = names[i % len(names)]
        i += 1
        t0 = time.monotonic()
        try:
            conn.execute(QUERIES[name]).fetchall()
            latencies.append((name, time.monotonic() - t0))
        except Exception:  # noqa: BLE001
            errors.append(name)
    conn.close()


def duckdb_times(lake, repeat=5):
    import deltalake
    import duckdb

    con = duckdb.connect()
    for t in ["bookings", "backlog", "utilization", "margin"]:
        files = deltalake.DeltaTable(os.path.join(lake, "canonical", t)).file_uris()
        con.execute(f"CREATE SCHEMA IF NOT EXISTS canonical")
        con.execute(f"CREATE VIEW canonical.{t} AS SELECT * FROM read_parquet({files!r})")
    out = {}
    for name, sql in QUERIES.items():
        times = []
        for _ in range(repeat):
            t0 = time.monotonic()
            con.execute(sql).fetchall()
            times.append(time.monotonic() - t0)
        out[name] = statistics.median(times)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pslake", required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--write")
    a = p.parse_args()
    env = dict(os.environ, PSLAKE_SERVE_PASSWORD=PASSWORD)
    server = subprocess.Popen(
        [a.pslake, "serve", "--lake", a.lake, "--listen", "127.0.0.1:0",
         "--max-connections", str(a.clients + 4)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
        latencies, errors = [], []
        threads = [threading.Thread(target=client, args=(port, a.seconds, latencies, errors))
                   for _ in range(a.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        peak = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait()
    all_ms = sorted(l * 1000 for _, l in latencies)
    q = statistics.quantiles(all_ms, n=100) if len(all_ms) > 1 else [float("nan")] * 99
    lines = [
        f"{a.clients} clients for {a.seconds} s against `{os.path.basename(a.lake.rstrip('/'))}`: "
        f"{len(all_ms) / elapsed:.1f} queries/s, p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms, "
        f"{len(errors)} errors, server peak RSS {peak:.0f} MiB.",
        "",
        "| query | pslake serve p50 (ms) | DuckDB over the same Delta files (ms) |",
        "|---|---|---|",
    ]
    duck = duckdb_times(a.lake)
    for name in QUERIES:
        mine = sorted(l * 1000 for n, l in latencies if n == name)
        p50 = statistics.median(mine) if mine else float("nan")
        lines.append(f"| {name} | {p50:.0f} | {duck[name] * 1000:.0f} |")
    text = "\n".join(lines)
    print(text)
    if a.write:
        doc = open(a.write).read()
        block = f"<!-- bench_serve: start -->\n{text}\n<!-- bench_serve: end -->"
        if "<!-- bench_serve: start -->" in doc:
            doc = re.sub(r"<!-- bench_serve: start -->.*<!-- bench_serve: end -->", block, doc,
                         flags=re.S)
        else:
            doc += "\n## pslake serve under load\n\n" + block + "\n"
        open(a.write, "w").write(doc)


if __name__ == "__main__":
    main()
