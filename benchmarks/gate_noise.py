"""How much max error / bound moves between runs of the same versions: the noise `convt-oracle gate` ignores.

    python benchmarks/gate_noise.py A.json B.json [--label "two runs, two threads"]

A and B are run reports of the same suite, seed and targets (`convt-oracle run --json`), typically two runs of
the same command on the same machine, or the same command with another thread count. For each target and
each result compared in both, the two bound ratios are set side by side: how many are bit-identical, how many
moved, the largest moves (as a factor, and in absolute terms), and how many results each candidate noise
threshold (a factor with a floor below which movement is ignored; convt_oracle.harness.gate.error_moved)
would flag as error_grew or error_shrank. Ends with the gate's own verdict on B against A.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

from convt_oracle.harness import gate as G
from convt_oracle.harness.report import Report

FACTORS = (1.1, 1.25, 1.5, 2.0, 3.0)
FLOORS = (0.0, 0.01, 0.05, 0.1)


def moves(old: Report, new: Report) -> dict[str, list[tuple[float, float]]]:
    """{target: [(old ratio, new ratio)]} over the results compared in both runs (finite ratios only)."""
    before = {(r.target, r.case.id, r.check): r for r in old.results}
    found = defaultdict(list)
    for result in new.results:
        other = before.get((result.target, result.case.id, result.check))
        if other is None:
            continue
        a, b = other.max_bound_ratio, result.max_bound_ratio
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            continue
        found[result.target].append((a, b))
    return found


def flagged(pairs, factor: float, floor: float) -> int:
    count = 0
    for a, b in pairs:
        low, high = sorted((a, b))
        if a != b and high > floor and high / max(low, floor, 1e-300) > factor:
            count += 1
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline")
    parser.add_argument("candidate")
    parser.add_argument("--label", default="", help="what the two runs were, for the table's title")
    args = parser.parse_args(argv)
    old, new = Report.load(args.baseline), Report.load(args.candidate)
    found = moves(old, new)
    print(f"{args.label or 'noise'}: {args.baseline} -> {args.candidate} (suite {new.suite!r}, dtypes "
          f"{', '.join(new.dtypes)})\n")
    print("| target | compared in both | identical | moved | largest factor | its ratios | largest move above 0.05 |")
    print("|---|---:|---:|---:|---:|---|---:|")
    everything = []
    for target, pairs in found.items():
        everything += pairs
        moved = [(a, b) for a, b in pairs if a != b]
        factor, worst = 1.0, ("", "")
        above = 1.0
        for a, b in moved:
            low, high = sorted((a, b))
            this = high / low if low > 0 else math.inf
            if this > factor:
                factor, worst = this, (a, b)
            if high > 0.05:
                above = max(above, high / max(low, 1e-300))
        ratios = f"{worst[0]:.3g} -> {worst[1]:.3g}" if moved else ""
        print(f"| {target} | {len(pairs)} | {len(pairs) - len(moved)} | {len(moved)} | {factor:.3g} | {ratios} | {above:.3g} |")
    print("\nResults a threshold would flag (error_grew or error_shrank), all targets:\n")
    print("| factor \\ floor | " + " | ".join(f"{floor:g}" for floor in FLOORS) + " |")
    print("|---|" + "---:|" * len(FLOORS))
    for factor in FACTORS:
        print(f"| {factor:g} | " + " | ".join(str(flagged(everything, factor, floor)) for floor in FLOORS) + " |")
    result = G.gate(args.baseline, args.candidate)
    counts = {category: count for category, count in result.counts().items() if count}
    print(f"\nconvt-oracle gate (factor {G.NOISE_FACTOR:g}, floor {G.NOISE_FLOOR:g}): {counts}; {result.verdict()}")
    for warning in result.warnings:
        print(f"  warning: {warning}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
