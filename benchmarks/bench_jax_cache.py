"""What jax's persistent compilation cache (convt_oracle.adapters.jax_cache) saves on a rerun of a suite.

    .venv/bin/python benchmarks/bench_jax_cache.py [--suite default] [--targets jax,keras-jax] [--dtypes float32]
        [--runs 2] [--keep DIR]

Runs `convt-oracle run` (the real command: its workers, the shared golden, the report) `--runs` times, one
after the other, with CONVT_ORACLE_JAX_CACHE pointing at a new empty folder: the first run compiles every
program and stores it, the later ones find them there. For each run: its wall time, the outcome counts (which
must not change), and per target the cache's hits (programs loaded) and misses (compiled and stored) as the
workers wrote them to their logs (jax's monitoring events), with the folder's entries and size after it.
The folder is removed at the end unless --keep names one (then it is used as it is, not emptied).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

LINE = re.compile(r"convt-oracle: jax compilation cache (?P<folder>.*): (?P<hits>\d+) programs loaded from it, "
                  r"(?P<misses>\d+) compiled and stored")


def folder_size(folder: str) -> tuple[int, int]:
    """(entries, bytes) in the cache folder."""
    names = [name for name in os.listdir(folder) if not name.startswith(".")] if os.path.isdir(folder) else []
    return len(names), sum(os.path.getsize(os.path.join(folder, name)) for name in names)


def one_run(arguments, cache: str, scratch: str, number: int) -> dict:
    logs, report = os.path.join(scratch, f"logs{number}"), os.path.join(scratch, f"run{number}.json")
    command = [sys.executable, "-m", "convt_oracle", "run", *arguments, "--worker-logs", logs, "--json", report]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "CONVT_ORACLE_JAX_CACHE": cache})
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"run {number} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    cache_lines = {}
    for name in sorted(os.listdir(logs)):
        with open(os.path.join(logs, name), errors="replace") as log:
            found = [LINE.search(line) for line in log]
        found = [match for match in found if match]
        if found:
            cache_lines[name.removesuffix(".log")] = {key: int(found[-1][key]) for key in ("hits", "misses")}
    with open(report) as handle:
        counts = json.load(handle)["counts"]
    entries, size = folder_size(cache)
    return {"run": number, "seconds": seconds, "cache": cache_lines, "entries": entries, "bytes": size,
            "counts": {target: {k: v for k, v in row.items() if v} for target, row in counts.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="default")
    parser.add_argument("--targets", default="jax,keras-jax")
    parser.add_argument("--dtypes", default="float32")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--keep", metavar="DIR", help="the cache folder to use and keep (default: a new one, removed)")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="bench-jax-cache-")
    cache = args.keep or os.path.join(scratch, "cache")
    arguments = ["--suite", args.suite, "--targets", args.targets, "--dtypes", args.dtypes]
    print(f"convt-oracle run {' '.join(arguments)}, CONVT_ORACLE_JAX_CACHE={cache}, {os.cpu_count()} cores", flush=True)
    rows = []
    try:
        for number in range(1, args.runs + 1):
            rows.append(one_run(arguments, cache, scratch, number))
            row = rows[-1]
            print(f"run {number}: {row['seconds']:.1f} s; " + "; ".join(
                f"{target}: {c['hits']} loaded, {c['misses']} compiled and stored" for target, c in row["cache"].items())
                + f"; folder: {row['entries']} entries, {row['bytes'] / 2**20:.1f} MiB", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\n| run | wall s | " + " | ".join(f"{t}: loaded / compiled" for t in rows[0]["cache"]) + " | entries | MiB |")
    print("|---:|---:|" + "---:|" * len(rows[0]["cache"]) + "---:|---:|")
    for row in rows:
        cells = [f"{c['hits']} / {c['misses']}" for c in row["cache"].values()]
        print(f"| {row['run']} | {row['seconds']:.1f} | " + " | ".join(cells) + f" | {row['entries']} | {row['bytes'] / 2**20:.1f} |")
    same = all(row["counts"] == rows[0]["counts"] for row in rows)
    print(f"\noutcomes: {json.dumps(rows[0]['counts'])}; the same in every run: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
