"""Benchmark `convt_oracle.harness.crosscheck` itself: the default suite against a correct NumPy target.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_crosscheck.py [--suite default] [--dtype float32]
        [--target support.matrix_targets:conv_transpose] [--repeat N] [--clock wall|cpu] [--profile] [--json PATH]

Crosschecks of the whole suite in one dtype: the first in the process (it also generates the suite, which
convt_oracle.cases.suites then caches, and warms the caches) and the median of N more. From the Results: golden time =
sum of `golden_seconds` (the golden's value and the golden calls of its error bound, S and K, with the bound
itself), target time = sum of `target_seconds`, and crosscheck's own overhead = total - golden - target
(suite generation, the cases' arrays, copies of them for the target, the comparison, dispatch, Result
objects, the Report). Budgets: total <= 30 s, overhead <= 20 %
of golden + target.

On a shared machine wall time includes waiting for a core, unevenly across the timed sections;
`--clock cpu` runs every clock (the Results' too) on process CPU time, which with OMP_NUM_THREADS=1 is what
the wall time would be on an idle machine. Prints a Markdown table; `--profile` adds a cProfile listing
of one run by cumulative time. Exit status 1 if the target is not found correct (a discrepancy), 2 if a
budget is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import platform
import pstats
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from a checkout; the default target is tests/support/matrix_targets.py

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.machine import cpu_name  # noqa: E402

import convt_oracle  # noqa: E402
from convt_oracle.cases import suites  # noqa: E402

WALL_BUDGET = 30.0  # seconds, one dtype
CLOCK = time.perf_counter
OVERHEAD_BUDGET = 0.20  # of golden + target


def run_once(target, suite: str, dtype: str, seed: int) -> dict:
    start, cpu_start = CLOCK(), time.process_time()
    report = convt_oracle.crosscheck(target, suite=suite, dtypes=(dtype,), seed=seed)
    wall, cpu = CLOCK() - start, time.process_time() - cpu_start
    golden = sum(r.golden_seconds for r in report.results)
    target_time = sum(r.target_seconds for r in report.results)
    overhead = wall - golden - target_time
    return {
        "results": len(report.results),
        "valid": sum(r.case.valid for r in report.results),
        "discrepancies": len(report.discrepancies),
        "wall": wall,
        "cpu": cpu,
        "golden": golden,
        "target": target_time,
        "overhead": overhead,
        "overhead_ratio": overhead / (golden + target_time),
        "report": report,
    }


def profile_overhead(target, suite: str, dtype: str, seed: int, limit: int = 25) -> str:
    """cProfile of one crosscheck: the functions with the most cumulative time, golden and target included."""
    profiler = cProfile.Profile()
    profiler.enable()
    convt_oracle.crosscheck(target, suite=suite, dtypes=(dtype,), seed=seed)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative")
    lines = ["", "cumulative time by function (cProfile, one run; golden and target included):", ""]
    rows = []
    for (filename, line, name), (calls, _, own, cumulative, _) in stats.stats.items():
        rows.append((cumulative, own, calls, f"{Path(filename).name}:{line}({name})"))
    rows.sort(reverse=True)
    lines.append(f"{'cumulative s':>12} {'own s':>8} {'calls':>8}  function")
    lines += [f"{c:12.3f} {o:8.3f} {n:8d}  {f}" for c, o, n, f in rows[:limit]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--target", default="support.matrix_targets:conv_transpose", help="'module:function' or an adapter name")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="steady runs after the first; the table shows their median by wall time")
    parser.add_argument("--profile", action="store_true", help="also profile one run")
    parser.add_argument("--json", help="save the measurements here")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall",
        help="cpu: time everything, the Results' golden_seconds and target_seconds included, in process CPU time "
        "(what wall time is on an idle machine; robust to other load on a shared one)",
    )
    args = parser.parse_args(argv)
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
        # crosscheck times golden and target with time.perf_counter; point its clock at process time.
        importlib.import_module("convt_oracle.harness.crosscheck").time = types.SimpleNamespace(perf_counter=time.process_time)

    target = args.target  # crosscheck loads it (importlib caches the module)
    np.seterr(all="ignore")  # the suite's inf/NaN and overflow cases would print RuntimeWarnings, which cost time
    # The first run in the process pays the suite's generation (then cached by convt_oracle.cases.suites), the target's
    # import and first BLAS calls; the next runs are the steady cost.
    generation = []  # how long the first run spends generating the suite (convt_oracle.cases.suites.get)
    get = suites.get

    depth = [0]  # suites.get calls itself for suites made of others: only the outermost call is timed

    def timed_get(*a, **k):
        start = CLOCK()
        depth[0] += 1
        try:
            return get(*a, **k)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                generation.append(CLOCK() - start)

    suites.get = timed_get
    try:
        first = run_once(target, args.suite, args.dtype, args.seed)
    finally:
        suites.get = get
    first.pop("report")
    first["generation"] = sum(generation)
    # The same run without the suite's generation: what crosscheck itself adds around golden and target.
    without = dict(first, wall=first["wall"] - first["generation"], overhead=first["overhead"] - first["generation"])
    without["overhead_ratio"] = without["overhead"] / (first["golden"] + first["target"])
    runs = sorted((run_once(target, args.suite, args.dtype, args.seed) for _ in range(args.repeat)), key=lambda r: r["wall"])
    run = runs[len(runs) // 2]
    report = run["report"]
    for other in runs:
        other.pop("report", None)

    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.suite} suite, {args.dtype}, seed {args.seed}, target {args.target}, {args.clock} clock; {cpu_name()}, {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={threads}, load average {load:.1f} at the end; numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}, Python {platform.python_version()}"
    )
    print()
    cpu_column = " CPU s |" if args.clock == "wall" else ""
    print(f"| run | results (valid) | total s ({args.clock}) |{cpu_column} golden s | target s | overhead s | overhead / (golden + target) |")
    print("|---|---:|---:|" + ("---:|" if cpu_column else "") + "---:|---:|---:|---:|")
    rows = (
        ("first in the process", first),
        (f"first, less the suite's generation ({first['generation']:.2f} s)", without),
        (f"steady (median of {args.repeat})", run),
    )
    for label, row in rows:
        cpu = f" {row['cpu']:.2f} |" if args.clock == "wall" else ""
        print(
            f"| {label} | {row['results']} ({row['valid']}) | {row['wall']:.2f} |{cpu} {row['golden']:.2f} | "
            f"{row['target']:.2f} | {row['overhead']:.2f} | {100 * row['overhead_ratio']:.1f} % |"
        )
    print()
    if args.repeat > 1:
        print(f"steady runs ({args.clock} s / overhead %): " + ", ".join(f"{r['wall']:.2f} / {100 * r['overhead_ratio']:.1f}" for r in runs))
    worst = max((first, run), key=lambda r: r["wall"])
    print(f"suite generation in the first run: {first['generation']:.2f} s (convt_oracle.cases.suites caches the suite afterwards)")
    wall_ok = worst["wall"] <= WALL_BUDGET
    print(f"total, worst run {worst['wall']:.2f} s: {'within' if wall_ok else 'OVER'} the {WALL_BUDGET:.0f} s budget")
    overhead_ok = True
    for label, row in rows:
        within = row["overhead_ratio"] <= OVERHEAD_BUDGET
        overhead_ok &= within
        print(f"overhead, {label}: {100 * row['overhead_ratio']:.1f} %: "
              f"{'within' if within else 'OVER'} the {100 * OVERHEAD_BUDGET:.0f} % budget")
    if report.discrepancies:
        print(report.summary(limit=5))
    if args.profile:
        print(profile_overhead(target, args.suite, args.dtype, args.seed))
    if args.json:
        Path(args.json).write_text(json.dumps({"suite": args.suite, "dtype": args.dtype, "target": args.target,
                                               "clock": args.clock, "cpu": cpu_name(), "first": first, "runs": runs}, indent=1))
    if report.discrepancies:
        return 1
    return 0 if wall_ok and overhead_ok else 2


if __name__ == "__main__":
    sys.exit(main())
