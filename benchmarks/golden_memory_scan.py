"""The golden's peak extra memory over many random geometries, against the (kernel taps + 1) x output budget.

    .venv/bin/python benchmarks/golden_memory_scan.py [--configs N] [--seed S]

bench_golden.py measures memory on its seven fixed cases; this scan draws N geometries (seeded, printed)
with 1-3 spatial axes, strides, dilations up to 7, crops anywhere up to the whole result, output_padding
and groups, keeps those whose output is at least MIN_OUTPUT_BYTES (below that, tracemalloc's count is
dominated by fixed Python overheads, not by the arrays), and prints the worst peak / budget ratios. Exit
status 2 when some geometry is over budget.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import convt_oracle  # noqa: E402
from convt_oracle import arithmetic  # noqa: E402
from benchmarks.memory import peak_extra_memory  # noqa: E402

MIN_OUTPUT_BYTES = 200_000


def random_geometry(rng: np.random.Generator) -> tuple[tuple, tuple, dict]:
    rank, groups = int(rng.integers(1, 4)), int(rng.choice([1, 2]))
    cig, cog = int(rng.integers(4, 17)), int(rng.integers(4, 17))
    input_size = [int(rng.integers(3, 14)) for _ in range(rank)]
    kernel = [int(rng.integers(1, 5)) for _ in range(rank)]
    stride = [int(rng.integers(1, 4)) for _ in range(rank)]
    dilation = [int(rng.choice([1, 1, 2, 7])) for _ in range(rank)]
    padding = []
    for i, k, s, d in zip(input_size, kernel, stride, dilation):
        full = arithmetic.full_size(i, k, s, d)
        begin = int(rng.integers(0, full))
        padding.append((begin, int(rng.integers(0, full - begin))))
    params = dict(stride=stride, padding=padding, output_padding=[int(rng.integers(0, 3)) for _ in range(rank)],
                  dilation=dilation, groups=groups)
    return (4, cig * groups, *input_size), (cig * groups, cog, *kernel), params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=2000, help="geometries drawn (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"seed {args.seed}, {args.configs} geometries drawn")
    rng = np.random.default_rng(args.seed)
    rows = []
    for _ in range(args.configs):
        x_shape, w_shape, params = random_geometry(rng)
        try:
            out_shape = convt_oracle.output_shape(x_shape, w_shape, **params)
        except ValueError:  # an output size below 1
            continue
        output_bytes = 8 * math.prod(out_shape)
        if output_bytes < MIN_OUTPUT_BYTES:
            continue
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        convt_oracle.conv_transpose(x, w, **params)  # warm the plan cache, as in bench_golden.py
        peak = peak_extra_memory(lambda: convt_oracle.conv_transpose(x, w, **params))
        budget = math.prod(w_shape[2:]) + 1
        rows.append((peak / output_bytes / budget, peak / output_bytes, budget, x_shape, w_shape, params))
    rows.sort(key=lambda row: -row[0])
    over = [row for row in rows if row[0] > 1]
    print(f"{len(rows)} with an output of at least {MIN_OUTPUT_BYTES:,} bytes; over budget: {len(over)}")
    print("worst five (peak / budget, peak x output, budget x output, x, w, parameters):")
    for share, ratio, budget, x_shape, w_shape, params in rows[:5]:
        print(f"  {share:.2f}  {ratio:5.2f}x  {budget:3d}x  x{x_shape} w{w_shape} {params}")
    return 2 if over else 0


if __name__ == "__main__":
    sys.exit(main())
