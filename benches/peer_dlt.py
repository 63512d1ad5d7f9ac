#!/usr/bin/env python3
"""Peer for the extraction benchmark: Kantata time entries with dlt.

Extracts `GET /api/v1/time_entries.json?page=N&per_page=2000` from the pslake sandbox the way a
dlt user would: a `@dlt.resource` generator that walks the pages with dlt's retrying `requests`
helper (page number 1-based, total pages at `meta.page_count`, bearer token). dlt's `RESTClient`
with a `PageNumberPaginator` was not used: its `PageData` is a list, so the keyed-object envelope
would have to be re-read with `response.json()` and the paginator parses the body again for
`meta.page_count` (three JSON parses a page); this loop parses each page once. The Kantata envelope keeps records
in an object keyed by id (`time_entries: {"<id>": {...}}`) with the order in `results:
[{key, id}]`, so each page goes through one small step that yields
`page["time_entries"][r["id"]]` in `results` order. The pipeline writes Parquet to dlt's
`filesystem` destination (a local folder); normalizer and worker settings stay at dlt's
defaults. Anonymous dlt telemetry is switched off so the run makes no outside requests.

Prints one JSON line: records, pages, seconds (extract + normalize + load, wall), per-phase
seconds and the peak RSS of this process: VmHWM from /proc/self/status (resource.getrusage's
ru_maxrss is printed too, but on Linux it carries a forking parent's peak across execve).

    python3 -m pip install -r benches/requirements.txt
    python3 benches/peer_dlt.py --base-url http://127.0.0.1:PORT --token sandbox-kantata-token \
        --out /tmp/dlt-peer [--max-pages N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time


def vm_hwm_kib() -> int | None:
    """This process's peak resident set (kB) from /proc/self/status, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", required=True, help="sandbox base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--token", required=True, help="Kantata bearer token")
    ap.add_argument("--out", required=True, help="output folder (dlt filesystem bucket + pipeline state)")
    ap.add_argument("--per-page", type=int, default=2000)
    ap.add_argument("--max-pages", type=int, default=None, help="stop after this many pages")
    a = ap.parse_args()

    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    try:
        import dlt
        from dlt.sources.helpers import requests
        import pyarrow  # noqa: F401  (dlt's parquet writer)
    except ImportError as e:
        print(
            f"peer_dlt: {e}; install the peer with `python3 -m pip install dlt[parquet]` "
            "(or `python3 -m pip install -r benches/requirements.txt`)",
            file=sys.stderr,
        )
        return 2

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    pages = 0

    url = a.base_url.rstrip("/") + "/api/v1/time_entries.json"
    headers = {"Authorization": f"Bearer {a.token}"}

    @dlt.resource(name="time_entries", primary_key="id")
    def time_entries():
        # page-number pagination, 1-based, until meta.page_count; each body is parsed once
        nonlocal pages
        page_no, page_count = 1, 1
        while page_no <= page_count and (a.max_pages is None or page_no <= a.max_pages):
            r = requests.get(url, params={"page": page_no, "per_page": a.per_page}, headers=headers)
            r.raise_for_status()
            page = r.json()
            page_count = int(page["meta"]["page_count"])
            pages += 1
            # the records sit in an object keyed by id; `results` gives their order
            by_id = page["time_entries"]
            yield [by_id[r["id"]] for r in page["results"]]
            page_no += 1

    pipeline = dlt.pipeline(
        pipeline_name="peer_kantata",
        pipelines_dir=os.path.join(out, "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=os.path.join(out, "lake")),
        dataset_name="kantata",
    )

    t0 = time.perf_counter()
    # the same steps as pipeline.run(time_entries(), loader_file_format="parquet"), timed apart
    pipeline.extract(time_entries(), loader_file_format="parquet")
    t1 = time.perf_counter()
    info = pipeline.normalize()
    t2 = time.perf_counter()
    pipeline.load()
    t3 = time.perf_counter()

    records = int(info.row_counts.get("time_entries", 0))
    parquet = []
    for root, _, files in os.walk(os.path.join(out, "lake")):
        parquet += [os.path.join(root, f) for f in files if f.endswith(".parquet")]
    landed = 0
    if parquet:
        import pyarrow.parquet as pq

        landed = sum(pq.ParquetFile(p).metadata.num_rows for p in parquet)

    # ru_maxrss survives execve on Linux: started from a forked 600 MiB benchmark process, this
    # process would report the parent's high-water mark. VmHWM belongs to this process's own
    # address space, so it is the peak when available; ru_maxrss is printed alongside.
    kib_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kib_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    kib_hwm = vm_hwm_kib()
    peak_kib = kib_hwm if kib_hwm is not None else kib_self
    print(
        json.dumps(
            {
                "tool": "dlt",
                "version": dlt.__version__,
                "records": records,
                "landed": landed,
                "pages": pages,
                "parquet_files": len(parquet),
                "seconds": round(t3 - t0, 3),
                "extract_seconds": round(t1 - t0, 3),
                "normalize_seconds": round(t2 - t1, 3),
                "load_seconds": round(t3 - t2, 3),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "peak_rss_source": "VmHWM" if kib_hwm is not None else "ru_maxrss",
                "ru_maxrss_mib": round(kib_self / 1024, 1),
                "ru_maxrss_children_mib": round(kib_children / 1024, 1),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
