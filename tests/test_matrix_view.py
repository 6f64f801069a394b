"""The article's matrix view: a transposed convolution is the transpose of the forward convolution's matrix.

The forward convolution (the adjoint, x-shaped out of y-shaped in),

    x_grad[n, g*Cig + ci, i] = sum_{co, t} w[g*Cig + ci, co, t] * y[n, g*Cog + co, i*s + t*d - begin],

with y zero outside its extent, is built here as a dense matrix M, one entry at a time with plain loops.
Then conv(y) == M y and conv_transpose(x) == M^T x. Integer-valued data keeps every sum exact, so the
comparisons are exact.
"""

import itertools

import numpy as np
import pytest

from convt_oracle import conv, conv_transpose


def _canonical(value, rank, pairs=False):
    if isinstance(value, int):
        value = (value,) * rank
    if pairs:
        return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)
    return tuple(value)


def _output_size(i, k, s, d, crop, op):
    return tuple(
        (ii - 1) * ss + dd * (kk - 1) + 1 - b - e + o for ii, kk, ss, dd, (b, e), o in zip(i, k, s, d, crop, op)
    )


def _forward_matrix(x_shape, w, groups, stride, padding, output_padding, dilation):
    """Dense M with M @ y.ravel() == forward conv (x-shaped); rows index x, columns index y (C order)."""
    batch, cin, *size = x_shape
    _, cog, *kernel = w.shape
    rank = len(size)
    s, d = _canonical(stride, rank), _canonical(dilation, rank)
    crop, op = _canonical(padding, rank, pairs=True), _canonical(output_padding, rank)
    out = _output_size(size, kernel, s, d, crop, op)
    y_shape = (batch, cog * groups, *out)
    m = np.zeros((int(np.prod(x_shape)), int(np.prod(y_shape))))
    cig = cin // groups
    for n, g, ci, co in itertools.product(range(batch), range(groups), range(cig), range(cog)):
        for i in itertools.product(*(range(v) for v in size)):
            row = np.ravel_multi_index((n, g * cig + ci, *i), x_shape)
            for t in itertools.product(*(range(v) for v in kernel)):
                o = tuple(i[a] * s[a] + t[a] * d[a] - crop[a][0] for a in range(rank))
                if all(0 <= o[a] < out[a] for a in range(rank)):
                    col = np.ravel_multi_index((n, g * cog + co, *o), y_shape)
                    m[row, col] += w[(g * cig + ci, co, *t)]
    return m, y_shape


# (id, batch, groups, Cig, Cog, input size, kernel, stride, dilation, padding, output_padding)
CASES = [
    ("1d-k3-s2-crop(1,0)", 1, 1, 1, 1, (4,), (3,), 2, 1, [(1, 0)], 0),
    ("1d-batch2-s3-k2-op3-past-full", 2, 1, 2, 1, (2,), (2,), 3, 1, 0, 3),
    ("1d-groups3-cig2-cog2-d2-crop(0,3)-op1", 1, 3, 2, 2, (3,), (3,), 2, 2, [(0, 3)], 1),
    ("1d-stride4>kernel2-crop(1,2)", 1, 1, 1, 2, (3,), (2,), 4, 1, [(1, 2)], 2),
    ("2d-groups2-cig2-cog3-s(2,1)-d(1,2)-crop((1,0),(0,2))-op(1,0)",
     2, 2, 2, 3, (3, 2), (2, 3), (2, 1), (1, 2), [(1, 0), (0, 2)], (1, 0)),
    ("2d-k3-s2-crop1-op(0,3)-past-full", 1, 1, 2, 1, (2, 3), (3, 3), 2, 1, 1, (0, 3)),
    ("2d-batch3-groups2-cig1-s3-d2-crop((2,1),(0,0))", 3, 2, 1, 2, (2, 2), (2, 2), 3, 2, [(2, 1), (0, 0)], 0),
    ("3d-groups2-cig2-cog1-s(2,1,3)-d(1,2,1)-crop((0,1),(1,0),(1,1))-op(1,0,2)",
     1, 2, 2, 1, (2, 2, 2), (2, 2, 2), (2, 1, 3), (1, 2, 1), [(0, 1), (1, 0), (1, 1)], (1, 0, 2)),
    ("3d-batch2-k(1,2,3)-s2-op(0,2,0)", 2, 1, 1, 2, (2, 1, 2), (1, 2, 3), 2, 1, 0, (0, 2, 0)),
]


def _case_data(case, seed):
    _, batch, groups, cig, cog, size, kernel, stride, dilation, padding, output_padding = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, (batch, groups * cig, *size)).astype(float)
    w = rng.integers(-4, 5, (groups * cig, cog, *kernel)).astype(float)
    params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    return x, w, params


SEED = 20240611


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-seed{SEED}" for c in CASES])
def test_conv_transpose_is_matrix_transpose(case):
    x, w, params = _case_data(case, SEED)
    m, y_shape = _forward_matrix(x.shape, w, **params)
    expected = (m.T @ x.ravel()).reshape(y_shape)
    got = conv_transpose(x, w, **params)
    assert got.shape == y_shape, f"shape {got.shape}, expected {y_shape}; params {params}"
    assert np.array_equal(got, expected), f"conv_transpose != M^T x for {params}\n{got}\n{expected}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-seed{SEED}" for c in CASES])
def test_conv_is_matrix(case):
    x, w, params = _case_data(case, SEED)
    m, y_shape = _forward_matrix(x.shape, w, **params)
    y = np.random.default_rng(SEED + 1).integers(-4, 5, y_shape).astype(float)
    expected = (m @ y.ravel()).reshape(x.shape)
    got = conv(y, w, **params)
    assert got.shape == x.shape, f"shape {got.shape}, expected {x.shape}; params {params}"
    assert np.array_equal(got, expected), f"conv != M y for {params}\n{got}\n{expected}"


def test_article_matrix_is_16x4():
    # The article: 4x4 input, 3x3 kernel, stride 1 -> 2x2; its matrix is 16x4 and the transpose maps 4 -> 16.
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    m, y_shape = _forward_matrix((1, 1, 2, 2), w, groups=1, stride=1, padding=0, output_padding=0, dilation=1)
    assert m.shape == (4, 16) and y_shape == (1, 1, 4, 4)
    assert np.count_nonzero(m) == 4 * 9  # every input pixel meets all nine taps inside the 4x4 output
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert np.array_equal(conv_transpose(x.reshape(1, 1, 2, 2), w).ravel(), m.T @ x)
