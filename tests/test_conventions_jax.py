"""jax's conventions (lax.conv_transpose with transpose_kernel=True: 'SAME', 'VALID', explicit pairs on the
stride-dilated input, use_consistent_padding), checked through convt_oracle.arithmetic against jax itself
(support.conventions says how). float64 with jax_enable_x64.
"""

from __future__ import annotations

import contextlib
import inspect

import numpy as np
import pytest

from convt_oracle import arithmetic as A
from support.conventions import assert_close, channels_first, channels_last, golden, random_case, tf_filter

pytestmark = pytest.mark.framework("jax")


@contextlib.contextmanager
def jax_x64():
    """jax with jax_enable_x64 on for the duration (restored afterwards); yields jax.lax."""
    jax = pytest.importorskip("jax")
    previous = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield jax.lax
    finally:
        jax.config.update("jax_enable_x64", previous)


def jax_transpose(lax, x, w, stride, padding, dilation, layout, **kwargs):
    """lax.conv_transpose(transpose_kernel=True) on golden-layout arrays, run in the given layout."""
    if layout == "NCHW":  # the golden's own layout: the weight (Cin, Cout, kh, kw) reads as 'OIHW'
        y = lax.conv_transpose(
            x, w, tuple(stride), padding, rhs_dilation=tuple(dilation),
            dimension_numbers=("NCHW", "OIHW", "NCHW"), transpose_kernel=True, **kwargs,
        )
        return np.asarray(y)
    y = lax.conv_transpose(  # TF layout: NHWC input, filter (kh, kw, Cout, Cin) reads as 'HWIO'
        channels_last(x), tf_filter(w), tuple(stride), padding, rhs_dilation=tuple(dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), transpose_kernel=True, **kwargs,
    )
    return channels_first(np.asarray(y))


# (input size, kernel, stride, dilation); the second has kernels shorter than the strides
JAX_CONFIGS = [
    ((4, 3), (3, 2), (2, 3), (1, 2)),
    ((3, 2), (1, 2), (3, 3), (2, 1)),
    ((2, 3), (4, 3), (1, 2), (2, 2)),
]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_jax_same_and_valid(padding, layout):
    """lax.conv_transpose 'SAME' -> same_padding (output i*s), 'VALID' -> valid_padding, with rhs_dilation."""
    translate = A.same_padding if padding == "SAME" else A.valid_padding
    with jax_x64() as lax:
        for n, (input_size, kernel, stride, dilation) in enumerate(JAX_CONFIGS):
            x, w = random_case(400 + n, input_size, kernel)
            pads = [translate(i, k, s, d) for i, k, s, d in zip(input_size, kernel, stride, dilation)]
            y = jax_transpose(lax, x, w, stride, padding, dilation, layout)
            assert y.dtype == np.float64
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


def test_jax_explicit_pairs_from_to_jax_padding():
    """Explicit lax.conv_transpose pairs from to_jax_padding: crops, output_padding, crops beyond ke-1."""
    input_size, kernel, stride, dilation = (4, 3), (3, 2), (2, 3), (2, 1)
    # (begin, end, output_padding) per axis; full sizes are 11 and 8, ke 5 and 2
    cases = [
        ((0, 0, 0), (0, 0, 0)),
        ((2, 1, 0), (1, 0, 2)),
        ((1, 0, 3), (0, 1, 0)),
        ((6, 2, 0), (3, 2, 1)),  # begin > ke-1 on both axes: negative jax padding at the start
        ((0, 4, 4), (1, 1, 1)),  # end and output_padding both positive
    ]
    with jax_x64() as lax:
        x, w = random_case(500, input_size, kernel)
        for axes in cases:
            pads = [A.AxisPadding(*p) for p in axes]
            pairs = [A.to_jax_padding(k, d, p) for k, d, p in zip(kernel, dilation, pads)]
            y = jax_transpose(lax, x, w, stride, pairs, dilation, "NCHW")
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


def test_jax_explicit_pairs_through_from_jax_padding():
    """Arbitrary lax.conv_transpose pairs, read back with from_jax_padding (lo > ke-1 prepends zeros)."""
    input_size, kernel, stride, dilation = (3, 4), (2, 3), (3, 2), (1, 2)  # ke 2 and 5
    pair_cases = [
        ((1, 1), (4, 4)),
        ((0, 3), (2, 0)),
        ((3, -1), (6, 1)),  # lo > ke-1: zeros before the full result
        ((-1, 2), (-1, 0)),  # negative padding: crops
    ]
    with jax_x64() as lax:
        x, w = random_case(501, input_size, kernel)
        for pairs in pair_cases:
            pads = [A.from_jax_padding(k, d, lo, hi) for k, d, (lo, hi) in zip(kernel, dilation, pairs)]
            y = jax_transpose(lax, x, w, stride, list(pairs), dilation, "NHWC")
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


def test_jax_use_consistent_padding_pairs_are_crops():
    """With use_consistent_padding=True a pair is the forward conv's padding: the canonical crop itself."""
    with jax_x64() as lax:
        if "use_consistent_padding" not in inspect.signature(lax.conv_transpose).parameters:
            pytest.skip("this jax has no use_consistent_padding")
        input_size, kernel, stride, dilation = (4, 3), (3, 2), (2, 3), (2, 1)
        x, w = random_case(502, input_size, kernel)
        for crops in [((0, 0), (0, 0)), ((2, 1), (1, 0)), ((0, 3), (0, 1)), ((4, 4), (1, 2))]:
            pads = [A.AxisPadding(b, e, 0) for b, e in crops]
            y = jax_transpose(lax, x, w, stride, list(crops), dilation, "NCHW", use_consistent_padding=True)
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)
