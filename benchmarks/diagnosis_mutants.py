"""How often the diagnosis names each mutant's mistake, on the default suite.

    .venv/bin/python benchmarks/diagnosis_mutants.py [MUTANT ...] [--seed 0]

For every wrong target of tests/support/targets.py (or those named), in the dtype where its mistake shows
(float32 where it is wrong in every dtype): crosscheck on the default suite, then count its discrepancies
whose diagnosis names the mutation first, and those that name it first or among the others that fit too
(`also`: e.g. a crop swap that equals moving the output_padding to the front). `MUTANT_DIAGNOSIS` says which
name each mutant should get (None: no hypothesis models it). Prints a Markdown table (the README's) and the
seconds per mutant, which include the diagnosis of every discrepancy.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]  # the mutants live in tests/support/

from convt_oracle.harness.crosscheck import crosscheck  # noqa: E402
from support import targets as T  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", nargs="*", default=list(T.MUTANTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = [name for name in args.mutants if name not in T.MUTANT_DIAGNOSIS]
    if unknown:
        parser.error(f"mutants: unknown {', '.join(unknown)}; known: {', '.join(T.MUTANTS)}")
    print(f"default suite, seed {args.seed}\n")
    print("| mutant | dtype | discrepancies | named first | named (first or also) | other diagnoses | seconds |")
    print("|---|---|---:|---:|---:|---|---:|")
    for name in args.mutants:
        dtypes = T.MUTANT_DTYPES[name]
        dtype = "float32" if "float32" in dtypes else dtypes[0]
        start = time.perf_counter()
        report = crosscheck(getattr(T, name), suite="default", dtypes=(dtype,), seed=args.seed)
        seconds = time.perf_counter() - start
        wrong = [r for r in report.results if not r.ok]
        expected = T.MUTANT_DIAGNOSIS[name]
        first = sum(r.diagnosis is not None and r.diagnosis.name == expected for r in wrong)
        anywhere = sum(r.diagnosis is not None and (r.diagnosis.name == expected or expected in r.diagnosis.also)
                       for r in wrong)
        others = collections.Counter(r.diagnosis.name if r.diagnosis else r.outcome for r in wrong
                                     if r.diagnosis is None or r.diagnosis.name != expected)
        shown = ", ".join(f"{n} {c}" for n, c in others.most_common(3))

        def percent(n):
            return f"{n} ({100 * n / len(wrong):.0f}%)" if wrong else "-"

        print(f"| {name} | {dtype} | {len(wrong)} | {percent(first)} | {percent(anywhere)} | {shown} | {seconds:.0f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
