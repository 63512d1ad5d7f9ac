"""Run pslake over a fixture base and its runK overlays, comparing the lake with the reference after each run.

    python3 tests/python/run_sequence.py --pslake /var/tmp/pslake-target/debug/pslake \
        --fixtures fixtures/messy [--keep DIR] [--max 40]

The base directory is run 1; `BASE/run2/`, `BASE/run3/`, ... are cumulative overlays (full copies
of changed stream files; a record absent from an overlaid file was deleted in its source). The
fixtures are copied to a temporary state directory; before run K the files of `BASE/runK/` are
copied over it, then `pslake run --fixtures STATE --lake LAKE` runs (with `--reconcile` when the
binary has it), and the lake is compared with reference_model's state after run K, every
canonical table and the latest run's rejects, cell by cell.

Without `--reconcile` pslake cannot see a record that vanished from its source, so the reference
is computed with reconcile=False (vanished records of incremental streams stay) and deletions by
absence are not checked; a message says so. Deletions the sources flag themselves (Salesforce
IsDeleted, HubSpot archived) are checked either way.

Exit status: 0 when every run matches, 1 when any differs or a run fails.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import lake_compare  # noqa: E402
import reference_model  # noqa: E402


def copy_state(src, dst):
    """Copy a fixture dir's stream files over dst, leaving out the runK overlay folders."""
    for name in os.listdir(src):
        if name.startswith("run") and name[3:].isdigit():
            continue
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s):
            shutil.copytree(s, d, dirs_exist_ok=True)
        else:
            shutil.copy2(s, d)


def supports_reconcile(pslake):
    out = subprocess.run([pslake, "run", "--help"], capture_output=True, text=True)
    return "--reconcile" in out.stdout


def run_sequence(pslake, base, keep=None, max_shown=40, out=sys.stdout, project=REPO):
    """Run every state of `base` through pslake; print and return [(run, exit code, diffs or None)]."""
    work = keep or tempfile.mkdtemp(prefix="pslake-seq-")
    state, lake = os.path.join(work, "fixtures"), os.path.join(work, "lake")
    if os.path.exists(state):
        shutil.rmtree(state)
    if os.path.exists(lake):
        shutil.rmtree(lake)
    os.makedirs(state)
    runs = reference_model.overlay_runs(base)
    reconcile = supports_reconcile(pslake)
    if not reconcile:
        print("NOTE: `pslake run` has no --reconcile: records deleted from a source by absence stay in the "
              "lake, so deletion-by-absence checks are SKIPPED (the reference keeps vanished records too); "
              "IsDeleted / archived deletions are still checked.", file=out)
    refs = reference_model.compute_runs(runs, reconcile=reconcile)
    results = []
    for k, dirs in enumerate(runs, start=1):
        copy_state(dirs[-1], state)
        cmd = [pslake, "run", "--fixtures", state, "--lake", lake, "--project", project, "--quiet"]
        if reconcile:
            cmd.append("--reconcile")
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=project)
        where = os.path.relpath(dirs[-1], REPO) if dirs[-1].startswith(REPO) else dirs[-1]
        print(f"== run {k} ({where}): pslake exit {res.returncode}", file=out)
        if res.returncode != 0:
            print(res.stdout[-3000:] + res.stderr[-3000:], file=out)
            results.append((k, res.returncode, None))
            continue
        diffs = lake_compare.compare(lake, refs[k - 1])
        n = sum(len(d) for d in diffs.values())
        print(lake_compare.format_diffs(diffs, max_shown) if n else "   lake matches the reference", file=out)
        print(f"   run {k}: {n} difference(s)", file=out)
        if k == 1 and lake_compare.missing_4b(lake):
            print("   not compared (SPEC 4b tables the lake does not have): " + ", ".join(lake_compare.missing_4b(lake)), file=out)
        results.append((k, 0, diffs))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"lake and fixture state kept in {work}", file=out)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pslake", default=os.environ.get("PSLAKE_BIN", "/var/tmp/pslake-target/debug/pslake"))
    ap.add_argument("--fixtures", required=True, help="base fixture dir (run 1) holding run2/, run3/ overlays")
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--max", type=int, default=40, help="differences shown per table")
    ap.add_argument("--project", default=REPO, help="project root whose pipelines/, sql/, models/ pslake runs (default: this repo)")
    a = ap.parse_args()
    results = run_sequence(a.pslake, os.path.abspath(a.fixtures), a.keep and os.path.abspath(a.keep), a.max,
                           project=os.path.abspath(a.project))
    failed = [k for k, rc, diffs in results if rc != 0 or any(diffs.values())]
    sys.stdout.flush()
    os._exit(1 if failed else 0)  # no interpreter teardown (delta-rs native threads; see conftest.py)


if __name__ == "__main__":
    main()
