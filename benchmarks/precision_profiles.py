"""The precision each target behaves like (Report.precision), as the README's tables.

    .venv/bin/python benchmarks/precision_profiles.py RUN.json          # every target of a run, per dtype
    .venv/bin/python benchmarks/precision_profiles.py --mutants [--suite default] [--seed 0] [--only TARGET ...]

With RUN.json (`convt-oracle run --dtypes float32,float16,bfloat16,float64 --known none --json RUN.json`),
a Markdown table of the frameworks' profiles: one row per target and check, one column per dtype. With
--mutants, the correct targets and the precision mutants of tests/support/targets.py crosschecked on the
suite in the dtypes where each is wrong: their profile, and whether the report fails (Report.ok), with the
seconds each took.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]  # the mutants live in tests/support/

from convt_oracle.harness.crosscheck import crosscheck  # noqa: E402
from convt_oracle.harness.report import Report  # noqa: E402
from convt_oracle.precision import describe_model  # noqa: E402

DTYPES = ("float32", "float16", "bfloat16", "float64")


def cell(found) -> str:
    """A profile in a few words: the model, the rounding, the bits kept."""
    if found is None:
        return "-"
    model = describe_model(found.model).replace("inputs as given, ", "") if found.model else "none fits"
    rounding = "" if found.rounding == "nearest" else f"; rounds {found.rounding.upper()}"
    bits = "exact" if math.isinf(found.bits) else f"{found.bits:.1f} bits"
    return f"{model}{rounding}; {bits}"


def frameworks(path: str) -> None:
    report = Report.load(path)
    profiles = {(p.target, p.check, p.dtype): p for p in report.precision()}
    dtypes = [d for d in DTYPES if d in report.dtypes]
    print(f"{path}: suite {report.suite!r}, seed {report.seed}, {len(report.results):,} results\n")
    print("| target | check | " + " | ".join(dtypes) + " |")
    print("|---|---|" + "---|" * len(dtypes))
    for target in report.targets:
        for check in ("forward", "vjp"):
            row = [profiles.get((target, check, dtype)) for dtype in dtypes]
            if any(row):
                print(f"| {target} | {check} | " + " | ".join(cell(found) for found in row) + " |")
    biased = report.biased()
    print(f"\nbiased rounding: {', '.join(f'{p.target} {p.dtype}' for p in biased) if biased else 'none'}")


def mutants(suite: str, seed: int, only=()) -> None:
    from support import targets as T

    runs = [(name, dtype) for name in T.CORRECT for dtype in DTYPES]
    runs += [("inputs_rounded_to_bfloat16", "float32"), ("inputs_rounded_to_float16", "float32"),
             ("tf32_inputs", "float32"), ("accumulate_in_input_dtype", "float16"),
             ("accumulate_in_input_dtype", "bfloat16")]
    runs += [(name, dtype) for name, dtypes in T.SUITE_MUTANTS.items() for dtype in dtypes]
    runs = [(name, dtype) for name, dtype in runs if not only or name in only]
    print(f"suite {suite!r}, seed {seed}\n")
    print("| target | dtype | behaves like | rounding (errors toward zero) | report | seconds |")
    print("|---|---|---|---|---|---:|")
    for name, dtype in runs:
        start = time.perf_counter()
        report = crosscheck(getattr(T, name), suite=suite, dtypes=(dtype,), seed=seed)
        seconds = time.perf_counter() - start
        (found,) = report.precision()
        share = f"{100 * found.toward_zero / found.errors:.1f}% of {found.errors:,}" if found.errors else "no error"
        verdict = "ok" if report.ok else ("FAILS: biased" if report.biased() and not report.discrepancies
                                           else f"FAILS: {len(report.discrepancies)} discrepancies"
                                           + (", biased" if report.biased() else ""))
        print(f"| {name} | {dtype} | {describe_model(found.model)} | {found.rounding} ({share}) | {verdict} | "
              f"{seconds:.1f} |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="a run report (convt-oracle run --json)")
    parser.add_argument("--mutants", action="store_true", help="profile the correct targets and precision mutants")
    parser.add_argument("--suite", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", default=(), metavar="TARGET", help="with --mutants: these targets only")
    args = parser.parse_args(argv)
    if not args.run and not args.mutants:
        parser.error("give RUN.json, or --mutants")
    if args.run:
        frameworks(args.run)
    if args.mutants:
        mutants(args.suite, args.seed, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
