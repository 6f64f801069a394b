"""inf and NaN follow IEEE through the golden and its vjp: only terms that exist can make NaN.

A plain loop over the terms that exist (written here, independent of the golden) is the reference; the
factors hold +inf, -inf, NaN and zeros, so that inf * 0 happens both in existing terms (NaN, correct) and
in the zero-filled positions of the golden's matrix products (which must not make NaN).
"""

import itertools

import numpy as np
import pytest

import convt_oracle

SEED = 20261125


def loop_reference(x, w, y, stride, begin, end, output_padding, dilation, groups):
    n, cin, size = x.shape
    cog, k = w.shape[1:]
    full = (size - 1) * stride + dilation * (k - 1) + 1
    length = full - begin - end + output_padding
    out, grad_w, grad_x = np.zeros((n, groups * cog, length)), np.zeros(w.shape), np.zeros(x.shape)
    with np.errstate(invalid="ignore"):
        for b, ci, co, i, t in itertools.product(range(n), range(cin), range(cog), range(size), range(k)):
            o = i * stride + t * dilation - begin
            if 0 <= o < length:
                channel = ci // (cin // groups) * cog + co
                out[b, channel, o] += x[b, ci, i] * w[ci, co, t]
                grad_w[ci, co, t] += x[b, ci, i] * y[b, channel, o]
                grad_x[b, ci, i] += w[ci, co, t] * y[b, channel, o]
    return out, grad_x, grad_w


def assert_same(actual, expected, what):
    __tracebackhide__ = True
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"{what}: NaN positions differ\n{actual}\n{expected}"
    np.testing.assert_allclose(np.nan_to_num(actual, nan=0.0), np.nan_to_num(expected, nan=0.0), rtol=1e-12, err_msg=what)


@pytest.mark.parametrize("trial", range(40))
def test_nonfinite_values_propagate_like_ieee_sums(trial):
    rng = np.random.default_rng([SEED, trial])
    groups = int(rng.integers(1, 3))
    cin, cog = groups * int(rng.integers(1, 3)), int(rng.integers(1, 3))
    size, k, stride, dilation = (int(v) for v in (rng.integers(1, 5), rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 3)))
    full = (size - 1) * stride + dilation * (k - 1) + 1
    begin = int(rng.integers(0, full))
    end = int(rng.integers(0, full - begin))
    output_padding = int(rng.integers(0, 3))
    x, w = rng.standard_normal((2, cin, size)), rng.standard_normal((cin, cog, k))
    for array in (x, w):
        special = rng.random(array.shape) < 0.25
        array[special] = rng.choice([np.inf, -np.inf, np.nan, 0.0], special.sum())
    params = dict(stride=stride, padding=((begin, end),), output_padding=output_padding, dilation=dilation, groups=groups)
    out = convt_oracle.conv_transpose(x, w, **params)
    y = rng.standard_normal(out.shape)
    y[rng.random(y.shape) < 0.1] = np.inf
    want_out, want_gx, want_gw = loop_reference(x, w, y, stride, begin, end, output_padding, dilation, groups)
    grad_x, grad_w, _ = convt_oracle.conv_transpose_vjp(x, w, y, **params)
    assert_same(out, want_out, f"conv_transpose, seed [{SEED}, {trial}]")
    assert_same(grad_x, want_gx, f"grad_x, seed [{SEED}, {trial}]")
    assert_same(grad_w, want_gw, f"grad_w, seed [{SEED}, {trial}]")
