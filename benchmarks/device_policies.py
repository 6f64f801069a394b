"""The README's tables of kernels called as a kernel author calls them: the TF32 policy shown on the CPU,
and out= buffers prefilled by the oracle.

    .venv/bin/python benchmarks/device_policies.py [--suite default] [--seed 0]

Each row crosschecks one target of tests/support/targets.py on the suite (strictly, or under
Tolerance(inputs="tf32"); as numpy arrays, torch tensors or into an out= buffer) and prints its outcomes and
the diagnoses of its discrepancies, with the seconds it took. Needs torch for the torch rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]  # the targets live in tests/support/

from convt_oracle.harness.crosscheck import crosscheck  # noqa: E402
from convt_oracle.tolerance import Tolerance  # noqa: E402

TF32 = Tolerance(inputs="tf32")
# (target, dtype, crosscheck's keyword arguments): the TF32 policy, then out= buffers.
ROWS = [
    ("tf32_inputs", "float32", {}),
    ("tf32_inputs", "float32", {"tolerance": TF32}),
    ("bfloat16_inputs_under_tf32", "float32", {"tolerance": TF32}),
    ("lax_reference", "float32", {}),
    ("lax_reference", "float32", {"tolerance": TF32}),
    ("torch_tf32_inputs", "float32", {"array": "torch"}),
    ("torch_tf32_inputs", "float32", {"array": "torch", "tolerance": TF32}),
    *(("lax_into_out", dtype, {"out": True}) for dtype in ("float64", "float32", "float16", "bfloat16")),
    ("last_column_unwritten", "float32", {"out": True}),
    ("adds_into_out", "float32", {"out": True}),
]


def described(options: dict) -> str:
    words = [f"array={options['array']!r}"] if "array" in options else []
    words += ["out=True"] if options.get("out") else []
    words += ["Tolerance(inputs='tf32')" if options.get("tolerance") else "strict"]
    return ", ".join(words)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from support import targets as T

    print(f"suite {args.suite!r}, seed {args.seed}\n")
    print("| target | dtype | called | outcomes | discrepancies by outcome and diagnosis | seconds |")
    print("|---|---|---|---|---|---:|")
    for name, dtype, options in ROWS:
        start = time.perf_counter()
        report = crosscheck(getattr(T, name), suite=args.suite, dtypes=(dtype,), seed=args.seed, **options)
        seconds = time.perf_counter() - start
        outcomes = Counter(result.outcome for result in report.results)
        kinds = Counter(f"{r.outcome} {r.kind}" for r in report.discrepancies)
        found = ", ".join(f"{kind}: {count:,}" for kind, count in kinds.most_common()) or "none"
        counted = ", ".join(f"{outcome} {count:,}" for outcome, count in outcomes.most_common())
        print(f"| {name} | {dtype} | {described(options)} | {counted} | {found} | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
