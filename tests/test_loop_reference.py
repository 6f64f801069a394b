"""A per-output-element loop (gather form) as an obviously right reference for the golden.

    out[n, g*Cog + co, o] = bias[g*Cog + co]
                            + sum_{ci, t} x[n, g*Cig + ci, i] * w[g*Cig + ci, co, t]
                              over the taps t for which some input index i has i*s + t*d - begin == o.
"""

import math

import numpy as np
import pytest

from convt_oracle import conv_transpose
from support.targets import loop_conv_transpose


def _assert_unreached_is_bias(got, bias, x_shape, w_shape, params):
    """Output positions that no (input, tap) pair reaches hold exactly the bias (or exactly 0)."""
    __tracebackhide__ = True
    reached = loop_conv_transpose(np.ones(x_shape), np.ones(w_shape), **params)[0, 0] != 0  # spatial mask
    bias = np.zeros(got.shape[1]) if bias is None else bias
    for c in range(got.shape[1]):
        values = got[:, c][:, ~reached]
        assert np.all(values == bias[c]), f"channel {c}: unreached positions hold {values}, not bias {bias[c]}"


# (id, batch, groups, Cig, Cog, input size, kernel, with bias, params)
CASES = [
    ("1d-plain", 1, 1, 1, 1, (4,), (3,), False, {}),
    ("1d-s3>k2-crop(0,2)-op2-past-full-bias",
     2, 1, 2, 2, (3,), (2,), True, dict(stride=3, padding=[(0, 2)], output_padding=2)),
    ("1d-groups3-d3-s2", 1, 3, 2, 1, (4,), (3,), True, dict(stride=2, dilation=3, padding=[(2, 1)])),
    ("2d-groups2-cig2-cog3-s(2,3)-d(2,1)-crop((1,0),(0,2))-op(3,1)-bias",
     2, 2, 2, 3, (3, 2), (2, 3), True,
     dict(stride=(2, 3), dilation=(2, 1), padding=((1, 0), (0, 2)), output_padding=(3, 1))),
    ("2d-s4>k2-op(0,4)-crop1", 1, 1, 3, 2, (2, 3), (2, 2), True, dict(stride=4, padding=1, output_padding=(0, 4))),
    ("2d-k1-s2-op3", 1, 1, 1, 1, (3, 2), (1, 1), False, dict(stride=2, output_padding=3)),
    ("3d-groups2-s(1,2,3)-d(2,1,1)-crop((0,1),(1,1),(2,0))-op(0,2,1)-bias",
     2, 2, 1, 2, (2, 3, 2), (2, 2, 2), True,
     dict(stride=(1, 2, 3), dilation=(2, 1, 1), padding=((0, 1), (1, 1), (2, 0)), output_padding=(0, 2, 1))),
    ("3d-s3>k1", 1, 1, 2, 1, (2, 2, 2), (1, 1, 2), True, dict(stride=3, padding=((0, 0), (0, 0), (1, 1)))),
]


def _data(case, seed):
    _, batch, groups, cig, cog, size, kernel, with_bias, params = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * cig, *size))
    w = rng.standard_normal((groups * cig, cog, *kernel))
    bias = rng.standard_normal(groups * cog) if with_bias else None
    return x, w, bias, dict(params, groups=groups)


SEED = 7


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-seed{SEED}" for c in CASES])
def test_golden_matches_loop(case):
    x, w, bias, params = _data(case, SEED)
    expected = loop_conv_transpose(x, w, bias, **params)
    got = conv_transpose(x, w, bias, **params)
    assert got.shape == expected.shape and got.dtype == np.float64
    scale = np.abs(x).max() * np.abs(w).max() * math.prod(w.shape[2:]) * w.shape[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14 * scale, err_msg=f"seed {SEED}, {params}")
    _assert_unreached_is_bias(got, bias, x.shape, w.shape, params)


def _nonfinite_pattern(a):
    return np.where(np.isnan(a), 2, np.where(np.isposinf(a), 1, np.where(np.isneginf(a), -1, 0)))


@pytest.mark.parametrize("case", [c for c in CASES if c[7]], ids=[c[0] for c in CASES if c[7]])
def test_inf_times_zero_weight_gives_nan_exactly_where_the_loop_says(case):
    x, w, bias, params = _data(case, SEED)
    rng = np.random.default_rng(SEED + 1)
    x.flat[rng.integers(x.size)] = np.inf
    x.flat[rng.integers(x.size)] = -np.inf
    w[rng.random(w.shape) < 0.4] = 0.0  # some taps have zero weight: inf * 0 -> NaN
    with np.errstate(invalid="ignore"):
        expected = loop_conv_transpose(x, w, bias, **params)
        got = conv_transpose(x, w, bias, **params)
    assert np.array_equal(_nonfinite_pattern(got), _nonfinite_pattern(expected)), (
        f"seed {SEED}: non-finite positions differ, params {params}\n"
        f"golden NaN at {np.argwhere(np.isnan(got)).tolist()}\nloop NaN at {np.argwhere(np.isnan(expected)).tolist()}"
    )
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-12, atol=1e-12)
    _assert_unreached_is_bias(got, bias, x.shape, w.shape, params)


def test_nan_propagates_through_nonzero_weight_only():
    # 1-d, s=2, k=2, w=[0, 1]: x[1]=NaN reaches o=2 (tap 0, weight 0) and o=3 (tap 1, weight 1): both NaN
    # (NaN * 0 is NaN); o=0, 1 come from x[0] only; o=4 (op) is reached by nothing and stays bias.
    x = np.array([[[2.0, np.nan]]])
    w = np.array([[[0.0, 1.0]]])
    got = conv_transpose(x, w, np.array([0.5]), stride=2, output_padding=1)[0, 0]
    assert np.array_equal(np.isnan(got), [False, False, True, True, False])
    assert got[0] == 0.5 and got[1] == 2.5 and got[4] == 0.5


# --- random configurations: seeded, each one small enough for the loop ------------------------------------

SWEEP_SEED, SWEEP_SIZE = 20261202, 240


def _random_config(rng):
    """(batch, groups, Cig, Cog, input size, kernel, with bias, params): every parameter drawn, crops up to
    leaving one element, output_padding up to past the full result; Cig > Cog about half the time."""
    rank = int(rng.integers(1, 4))
    small = rank == 3
    size = tuple(int(v) for v in rng.integers(1, 4 if small else 6, rank))
    kernel = tuple(int(v) for v in rng.integers(1, 3 if small else 4, rank))
    stride = tuple(int(v) for v in rng.integers(1, 4, rank))
    dilation = tuple(int(v) for v in rng.integers(1, 3, rank))
    output_padding = tuple(int(v) for v in rng.integers(0, 4, rank))
    padding = []
    for i, k, s, d, op in zip(size, kernel, stride, dilation, output_padding):
        full = (i - 1) * s + d * (k - 1) + 1 + op
        begin = int(rng.integers(0, full))
        padding.append((begin, int(rng.integers(0, full - begin))))
    groups = int(rng.integers(1, 4))
    cig, cog = (int(v) for v in rng.integers(1, 4, 2))
    params = dict(stride=stride, dilation=dilation, padding=tuple(padding), output_padding=output_padding)
    return (int(rng.integers(1, 3)), groups, cig, cog, size, kernel, bool(rng.integers(2)), params)


def test_golden_matches_loop_on_random_configurations():
    rng = np.random.default_rng(SWEEP_SEED)
    configs = [_random_config(rng) for _ in range(SWEEP_SIZE)]
    assert sum(c[2] > c[3] for c in configs) >= SWEEP_SIZE // 4  # both of the golden's orders of summation
    assert sum(c[2] <= c[3] for c in configs) >= SWEEP_SIZE // 4
    for number, config in enumerate(configs):
        x, w, bias, params = _data(("random", *config), SWEEP_SEED + number)
        expected = loop_conv_transpose(x, w, bias, **params)
        got = conv_transpose(x, w, bias, **params)
        where = f"sweep seed {SWEEP_SEED}, configuration {number}: {config}"
        assert got.shape == expected.shape, where
        scale = np.abs(x).max() * np.abs(w).max() * math.prod(w.shape[2:]) * w.shape[0]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14 * scale, err_msg=where)
        _assert_unreached_is_bias(got, bias, x.shape, w.shape, params)
