"""conv is the adjoint of conv_transpose, and conv_transpose_vjp is the derivative of conv_transpose.

1. <conv_transpose(x, w), y> == <x, conv(y, w)> exactly on integer-valued data (every product and partial
   sum is an integer far below 2**53, so any summation order gives the same float64), over 500
   Hypothesis-generated valid configurations (derandomized, so every run sees the same ones).
2. The vjp against central finite differences in random directions. conv_transpose is linear in x, in w
   and in bias, so the central difference has no truncation error; only rounding is left.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from convt_oracle import conv, conv_transpose, conv_transpose_vjp


@st.composite
def axis_configs(draw, max_size):
    """One spatial axis: (input size, kernel, stride, dilation, (begin, end), output_padding), output >= 1."""
    i = draw(st.integers(1, max_size))
    k = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    op = draw(st.integers(0, 3))
    room = (i - 1) * s + d * (k - 1) + 1 + op - 1  # begin + end may use this much and leave one element
    begin = draw(st.integers(0, min(room, 4)))
    end = draw(st.integers(0, min(room - begin, 4)))
    return i, k, s, d, (begin, end), op


def _spell(values, draw):
    """Per-axis values, sometimes spelled as one int when they are all equal."""
    if all(v == values[0] for v in values) and draw(st.booleans()):
        return values[0]
    return tuple(values)


@st.composite
def configs(draw):
    rank = draw(st.integers(1, 3))
    axes = [draw(axis_configs(max_size=(5, 4, 3)[rank - 1])) for _ in range(rank)]
    size, kernel, stride, dilation, crops, output_padding = (list(v) for v in zip(*axes))
    if all(b == e for b, e in crops) and draw(st.booleans()):
        padding = _spell([b for b, _ in crops], draw)
    else:
        padding = tuple(crops)
    params = dict(
        stride=_spell(stride, draw),
        padding=padding,
        output_padding=_spell(output_padding, draw),
        dilation=_spell(dilation, draw),
        groups=draw(st.integers(1, 3)),
    )
    shape = dict(batch=draw(st.integers(1, 2)), cig=draw(st.integers(1, 2)), cog=draw(st.integers(1, 2)))
    return tuple(size), tuple(kernel), shape, params, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_adjoint_identity_exact(config):
    size, kernel, shape, params, seed = config
    groups = params["groups"]
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (shape["batch"], groups * shape["cig"], *size)).astype(float)
    w = rng.integers(-3, 4, (groups * shape["cig"], shape["cog"], *kernel)).astype(float)
    note(f"x.shape={x.shape} w.shape={w.shape} params={params} data seed={seed}")
    out = conv_transpose(x, w, **params)
    y = rng.integers(-3, 4, out.shape).astype(float)
    back = conv(y, w, **params)
    assert back.shape == x.shape
    lhs, rhs = float(np.sum(out * y)), float(np.sum(x * back))
    assert lhs == rhs, f"<conv_transpose(x), y> = {lhs} != <x, conv(y)> = {rhs}"


# --- vjp against finite differences ---------------------------------------------------------------------

# (id, batch, groups, Cig, Cog, input size, kernel, params)
VJP_CASES = [
    ("1d-s2-crop(1,0)-op1", 2, 1, 2, 3, (5,), (3,), dict(stride=2, padding=[(1, 0)], output_padding=1)),
    ("2d-groups2-d2-s(1,3)-op(0,2)",
     1, 2, 2, 2, (3, 4), (2, 3), dict(stride=(1, 3), dilation=2, padding=((0, 1), (2, 0)), output_padding=(0, 2))),
    ("2d-stride3>kernel2-op3-past-full", 2, 1, 1, 2, (3, 3), (2, 2), dict(stride=3, output_padding=3, padding=1)),
    ("3d-groups3-s2-crop1", 1, 3, 1, 2, (2, 3, 2), (2, 2, 3), dict(stride=2, padding=1, dilation=(1, 1, 2))),
]


def _directional(f, point, direction, h):
    return (f(point + h * direction) - f(point - h * direction)) / (2 * h)


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", VJP_CASES, ids=[c[0] for c in VJP_CASES])
def test_vjp_matches_central_differences(case, with_bias):
    name, batch, groups, cig, cog, size, kernel, params = case
    seed = sum(map(ord, name)) + with_bias
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, groups * cig, *size))
    w = rng.standard_normal((groups * cig, cog, *kernel))
    b = rng.standard_normal(groups * cog) if with_bias else None
    params = dict(params, groups=groups)
    g = rng.standard_normal(conv_transpose(x, w, b, **params).shape)
    grad_x, grad_w, grad_b = conv_transpose_vjp(x, w, g, b, **params)
    assert grad_x.shape == x.shape and grad_w.shape == w.shape
    assert (grad_b is None) == (b is None)

    def loss(xx, ww, bb):
        return float(np.sum(conv_transpose(xx, ww, bb, **params) * g))

    h = 1e-3
    for trial in range(3):
        u, v = rng.standard_normal(x.shape), rng.standard_normal(w.shape)
        checks = [
            ("grad_x", _directional(lambda p: loss(p, w, b), x, u, h), np.sum(grad_x * u), np.abs(grad_x * u).sum()),
            ("grad_w", _directional(lambda p: loss(x, p, b), w, v, h), np.sum(grad_w * v), np.abs(grad_w * v).sum()),
        ]
        if b is not None:
            c = rng.standard_normal(b.shape)
            numeric = _directional(lambda p: loss(x, w, p), b, c, h)
            checks.append(("grad_bias", numeric, np.sum(grad_b * c), np.abs(grad_b * c).sum()))
        for what, numeric, analytic, scale in checks:
            assert abs(numeric - analytic) <= 1e-9 * max(scale, 1.0), (
                f"{what} (seed {seed}, direction {trial}): finite difference {numeric!r} vs vjp {analytic!r}"
            )
