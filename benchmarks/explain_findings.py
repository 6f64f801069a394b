"""Which discrepancies of an adapter on a suite the README's findings account for, recomputed.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/explain_findings.py TARGET [--suite default] [--dtypes float16,bfloat16] [--grad]

One adapter in this process (Keras picks one backend per process: one Keras adapter per call). For each
dtype it crosschecks the suite three ways and prints the counts of each:

1. the default tolerance (what `convt-oracle run` reports);
2. `Tolerance(accumulation={dtype: dtype})`, the bound of a kernel that accumulates in the input dtype:
   a `value_mismatch` that passes here is a kernel summing in the dtype (README, Findings);
3. of what is left, how many tests/support/findings.py's padding-zeros model accounts for (an inf weight
   meeting the zeros of the padding), and the rest by outcome, value kind, and whether the case has an odd
   number of input channels per group (oneDNN's bfloat16 leak).

The README's "What the counts say" quotes these figures.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # run from a checkout: the model lives in tests/support/

import convt_oracle  # noqa: E402
from convt_oracle.adapters import registry  # noqa: E402
from support.findings import padding_zeros_explain  # noqa: E402


def counts(report) -> dict:
    return {outcome: n for outcome, n in report.counts()[report.targets[0]].items() if n}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--suite", default="default")
    parser.add_argument("--dtypes", default="float16,bfloat16")
    parser.add_argument("--grad", action="store_true", help="also the vjp results")
    args = parser.parse_args(argv)
    adapter = registry.load(args.target)
    for dtype in args.dtypes.split(","):
        plain = convt_oracle.crosscheck(adapter, suite=args.suite, dtypes=(dtype,), grad=args.grad)
        tolerance = convt_oracle.Tolerance(accumulation={dtype: dtype})
        in_dtype = convt_oracle.crosscheck(adapter, suite=args.suite, dtypes=(dtype,), grad=args.grad, tolerance=tolerance)
        left = collections.Counter()
        for result in in_dtype.discrepancies:
            if padding_zeros_explain(result, adapter, tolerance):
                left["padding zeros (support.findings)"] += 1
            else:
                odd = (result.case.in_channels // max(1, result.case.groups)) % 2 == 1
                left[f"{result.check} {result.outcome} on {result.case.values}{', odd channels' if odd else ''}"] += 1
        print(f"{args.target} {dtype}")
        print(f"  default tolerance:         {counts(plain)}")
        print(f"  accumulation in {dtype}: {counts(in_dtype)}")
        print(f"  of those discrepancies:    {dict(left)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
