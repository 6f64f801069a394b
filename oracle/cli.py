"""Command line: `convt-oracle selfcheck` (also `python -m oracle`)."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _article_example() -> bool:
    from cases import article
    from oracle import arithmetic, conv_transpose

    pads = [arithmetic.same_padding(size, k, article.STRIDE, 1) for size, k in zip(article.INPUT.shape, article.KERNEL.shape)]
    result = conv_transpose(
        article.INPUT[None, None],
        article.KERNEL[None, None],
        stride=article.STRIDE,
        padding=[(p.begin, p.end) for p in pads],
        output_padding=[p.output_padding for p in pads],
    )[0, 0]
    print("The article's example: tf.nn.conv2d_transpose(x, ones(3x3), output_shape=(1,4,4,1), strides=2, 'SAME')")
    print(f"x =\n{article.INPUT}\ncanonical padding per axis: {pads}\nconv_transpose(x, w) =\n{result}")
    ok = np.array_equal(result, article.EXPECTED)
    print(f"matches the article's published result: {'yes' if ok else 'NO'}\n")
    return ok


def _adjoint_identity(seed: int, count: int) -> bool:
    """<conv_transpose(x), y> == <x, conv(y)> exactly, on integer-valued random configurations."""
    from oracle import conv, conv_transpose

    rng = np.random.default_rng(seed)
    failures = 0
    for _ in range(count):
        rank = int(rng.integers(1, 4))
        groups = int(rng.integers(1, 4))
        cig, cog = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        kernel = tuple(int(v) for v in rng.integers(1, 4, rank))
        stride = tuple(int(v) for v in rng.integers(1, 4, rank))
        dilation = tuple(int(v) for v in rng.integers(1, 3, rank))
        size = tuple(int(v) for v in rng.integers(1, 5, rank))
        full = [(i - 1) * s + d * (k - 1) + 1 for i, s, d, k in zip(size, stride, dilation, kernel)]
        padding = tuple((int(rng.integers(0, (f + 1) // 2)), int(rng.integers(0, (f + 1) // 2))) for f in full)
        output_padding = tuple(int(v) for v in rng.integers(0, 3, rank))
        params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
        x = rng.integers(-3, 4, (2, groups * cig, *size)).astype(float)
        w = rng.integers(-3, 4, (groups * cig, cog, *kernel)).astype(float)
        out = conv_transpose(x, w, **params)
        y = rng.integers(-3, 4, out.shape).astype(float)
        if np.vdot(out, y) != np.vdot(x, conv(y, w, **params)):
            failures += 1
            print(f"  adjoint identity FAILED for x{x.shape} w{w.shape} {params}")
    print(f"adjoint identity <conv_transpose(x), y> == <x, conv(y)>: {count - failures}/{count} exact (seed {seed})")
    return failures == 0


def selfcheck(seed: int, count: int) -> int:
    ok = _article_example()
    ok &= _adjoint_identity(seed, count)
    print("self-check:", "passed" if ok else "FAILED")
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="convt-oracle", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("selfcheck", help="the article's example and the golden's adjoint self-check")
    check.add_argument("--seed", type=int, default=0, help="seed of the random configurations (default 0)")
    check.add_argument("--count", type=int, default=300, help="number of random configurations (default 300)")
    args = parser.parse_args(argv)
    if args.command == "selfcheck":
        return selfcheck(args.seed, args.count)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
