"""Helpers of the framework-convention tests (tests/test_conventions_*.py): small random arrays in the
golden's layouts, TF's layouts, and the golden of a canonical padding whose `begin` may be negative.

Each of those tests runs a real framework op on a small random case with distinct in/out channel counts
and non-square sizes, translates the op's padding convention into the canonical (begin, end,
output_padding) of convt_oracle.arithmetic, and compares with convt_oracle.conv_transpose: float64 where
the framework supports it, float32 with a tolerance otherwise.
"""

from __future__ import annotations

import numpy as np

from convt_oracle import conv_transpose

RTOL64, ATOL64 = 1e-12, 1e-12
RTOL32, ATOL32 = 2e-5, 2e-5
BATCH, CIN, COUT = 2, 3, 2


def golden(x, w, stride, dilation, pads):
    """The golden for x (N, Cin, *i), w (Cin, Cout, *k) and one canonical AxisPadding per spatial axis.

    A negative begin (ONNX's rule with a negative total padding, a jax pair with lo > ke-1) means -begin
    zeros before the full result: conv_transpose crops 0 there and the zeros are prepended here.
    """
    out = conv_transpose(
        x,
        w,
        stride=tuple(stride),
        dilation=tuple(dilation),
        padding=[(max(p.begin, 0), p.end) for p in pads],
        output_padding=[p.output_padding for p in pads],
    )
    lead = [max(-p.begin, 0) for p in pads]
    if any(lead):
        out = np.pad(out, [(0, 0), (0, 0)] + [(n, 0) for n in lead])
    return out


def channels_last(a):
    return np.moveaxis(a, 1, -1)


def channels_first(a):
    return np.moveaxis(a, -1, 1)


def tf_filter(w):
    """Golden weight (Cin, Cout, *k) as a TF/jax 'HWIO'-style filter (*k, Cout, Cin)."""
    return w.transpose(*range(2, w.ndim), 1, 0)


def random_case(seed, input_size, kernel_size, dtype=np.float64, batch=BATCH, cin=CIN, cout=COUT):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, cin, *input_size)).astype(dtype)
    w = rng.standard_normal((cin, cout, *kernel_size)).astype(dtype)
    return x, w


def assert_close(actual, expected, dtype):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"shape {actual.shape} != golden {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(actual, expected, rtol=RTOL64, atol=ATOL64 * scale)
    else:
        np.testing.assert_allclose(actual, expected, rtol=RTOL32, atol=ATOL32 * scale)
