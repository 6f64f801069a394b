"""The GPU variants on a machine with a GPU: the smoke and the default suite in float32, strict and TF32.

    .venv/bin/python benchmarks/gpu_variants.py [--suites smoke,default] [--json DIR] [--timeout S]

One prepared run for a machine with a GPU (README, "Device arrays, out= and the GPU variants"): every
installed GPU variant (torch-cuda, torch-cuda-tf32, jax-gpu, jax-gpu-tf32, tensorflow-gpu,
tensorflow-gpu-tf32) on each suite in float32 through `convt-oracle run`'s machinery (one worker per
variant, the golden shared), each judged by its own tolerance: strict for the strict variants,
Tolerance(inputs="tf32") for the *-tf32 ones. Then the TF32 variants once more on the smoke suite judged
strictly (crosscheck(..., tolerance=Tolerance())), which says whether TF32 is really in use there: a GPU
without TF32 (before Ampere) passes strictly too. Prints the GPU, the versions, each variant's kernel facts
and a counts table (Markdown) per suite; `--json DIR` writes each suite's run report there.

Where no GPU is visible (no GPU device file, and no installed framework sees one) it prints that, with
each framework's own words, and exits 0: nothing to measure. Exit status 1 if a variant's worker could
not start where a GPU is visible.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

# Several frameworks share one GPU: none may take all its memory up front (workers inherit these).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")

from convt_oracle import Tolerance  # noqa: E402
from convt_oracle.adapters import registry  # noqa: E402
from convt_oracle.harness.kernels import gpu_device_files  # noqa: E402
from convt_oracle.harness.targets import TargetSpec  # noqa: E402

VARIANTS = ("torch-cuda", "torch-cuda-tf32", "jax-gpu", "jax-gpu-tf32", "tensorflow-gpu", "tensorflow-gpu-tf32")


def installed() -> dict[str, str]:
    """{variant: its framework's version} for the variants whose framework is importable here."""
    found = {}
    for name in VARIANTS:
        adapter = registry.available()[name].load()
        if importlib.util.find_spec(adapter.framework) is not None:
            found[name] = TargetSpec(name).version()
    return found


def unavailable(names) -> dict[str, str]:
    """{variant: why its framework sees no GPU}, asked of each framework in this process (imports them)."""
    reasons = {}
    for name in names:
        reason = registry.load(name).device_unavailable()
        if reason:
            reasons[name] = reason
    return reasons


def table(report) -> str:
    """The counts per variant as a Markdown table, with the tolerance each was judged by."""
    from convt_oracle.compare import OUTCOMES

    shown = [o for o in OUTCOMES if any(r.outcome == o for r in report.results)]
    lines = ["| variant | tolerance | " + " | ".join(shown) + " |", "|---|---|" + "---:|" * len(shown)]
    for name in report.targets:
        if name in report.targets_not_run:
            lines.append(f"| {name} | not run: {report.targets_not_run[name]} |" + " |" * len(shown))
            continue
        tolerance = registry.available()[name].load().tolerance
        counts = [sum(r.target == name and r.outcome == o for r in report.results) for o in shown]
        lines.append(f"| {name} | {'strict' if tolerance is None else tolerance.describe()} | "
                     + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default="smoke,default", help="comma-separated suites (default smoke,default)")
    parser.add_argument("--json", metavar="DIR", help="write each suite's run report as DIR/gpu-SUITE.json")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per case before a timeout (default 120)")
    args = parser.parse_args(argv)

    names = installed()
    devices = gpu_device_files()
    reasons = unavailable(names) if names else {}
    seen = [name for name in names if name not in reasons]
    print(f"# GPU variants, float32 ({platform.node()}, Python {platform.python_version()})")
    print(f"GPU device files: {', '.join(devices) or 'none'}")
    if not names:
        print("no GPU variant's framework is installed (torch, jax, tensorflow): nothing to run")
        return 0
    if not seen:
        print("no GPU is visible here: nothing to measure (each framework's words follow)")
        for name, reason in reasons.items():
            print(f"  {name}: {reason}")
        return 0

    from convt_oracle.harness.crosscheck import crosscheck
    from convt_oracle.harness.run import run

    targets = [TargetSpec(name) for name in seen]
    failed = False
    for suite in args.suites.split(","):
        start = time.perf_counter()
        report = run(targets, suite=suite, dtypes=("float32",), timeout=args.timeout)
        seconds = time.perf_counter() - start
        failed |= bool(report.targets_not_run)
        print(f"\n## suite {suite!r}, float32: {len(report.results)} results in {seconds:.0f} s")
        for name in seen:
            runtime = report.environment.get("runtime", {}).get(name, {})
            print(f"- {name}: {runtime.get('versions', names[name])}, kernels {runtime.get('kernels', {})}")
        print()
        print(table(report))
        if args.json:
            Path(args.json).mkdir(parents=True, exist_ok=True)
            report.to_json(Path(args.json) / f"gpu-{suite}.json")
    print("\n## the TF32 variants judged strictly (smoke, float32): mismatches here mean TF32 is in use")
    for name in seen:
        if registry.available()[name].load().tolerance is None:
            continue
        report = crosscheck(name, suite="smoke", dtypes=("float32",), tolerance=Tolerance())
        counts = {outcome: count for outcome, count in report.counts()[name].items() if count}
        print(f"- {name}: {counts}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
