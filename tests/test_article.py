"""The source article's examples, with expected values worked out by hand or by the article's own recipes.

The article gives two ways to compute a transposed convolution: unit stride ("pad the input with zeros all
round, then an ordinary convolution") and fractional stride ("insert s-1 zeros between input pixels, then
convolve"). `_direct_route` implements both with plain loops, as a route independent of the golden.
"""

import numpy as np
import pytest

from convt_oracle.cases import article
from convt_oracle import arithmetic, conv_transpose


def _ct2d(x, w, **params):
    """conv_transpose of one 2-d single-channel image with one 2-d kernel."""
    return conv_transpose(np.asarray(x, float)[None, None], np.asarray(w, float)[None, None], **params)[0, 0]


def _direct_route(x, w, stride, crop):
    """The article's recipe: insert stride-1 zeros between pixels, pad by k-1-crop, correlate with the
    spatially flipped kernel. Plain loops; crop is the same on every side."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    (h, wd), (kh, kw) = x.shape, w.shape
    stretched = np.zeros(((h - 1) * stride + 1, (wd - 1) * stride + 1))
    for i in range(h):
        for j in range(wd):
            stretched[i * stride, j * stride] = x[i, j]
    ph, pw = kh - 1 - crop, kw - 1 - crop
    padded = np.zeros((stretched.shape[0] + 2 * ph, stretched.shape[1] + 2 * pw))
    padded[ph : ph + stretched.shape[0], pw : pw + stretched.shape[1]] = stretched
    flipped = w[::-1, ::-1]
    out = np.zeros((padded.shape[0] - kh + 1, padded.shape[1] - kw + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = sum(padded[r + a, c + b] * flipped[a, b] for a in range(kh) for b in range(kw))
    return out


def _check(actual, expected, what):
    __tracebackhide__ = True
    expected = np.asarray(expected, float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == np.float64, f"{what}: dtype {actual.dtype}, expected float64"
    assert np.array_equal(actual, expected), f"{what}:\nactual\n{actual}\nexpected\n{expected}"


# --- (a) the article's TF 'SAME' example: 2x2 -> 4x4, stride 2, 3x3 all-ones filter ------------------------


def test_article_same_example_canonical_padding():
    # TF 'SAME' for a forward conv of 4 -> 2 (k=3, s=2): total padding 1, the odd one at the end.
    out = _ct2d(article.INPUT, article.KERNEL, stride=article.STRIDE, padding=((0, 1), (0, 1)))
    _check(out, article.EXPECTED, "crop ((0, 1), (0, 1))")


def test_article_same_example_via_same_padding():
    pads = [arithmetic.same_padding(i, k, article.STRIDE, 1) for i, k in zip(article.INPUT.shape, article.KERNEL.shape)]
    assert [tuple(p) for p in pads] == [(0, 1, 0), (0, 1, 0)]  # total ke - s = 1, cropped at the end
    out = _ct2d(
        article.INPUT,
        article.KERNEL,
        stride=article.STRIDE,
        padding=[(p.begin, p.end) for p in pads],
        output_padding=[p.output_padding for p in pads],
    )
    assert out.shape == (article.OUTPUT_SIZE,) * 2
    _check(out, article.EXPECTED, f"same_padding {pads}")


def test_article_same_example_differs_from_torch_symmetric_spelling():
    # docs/conventions.md: torch's padding=1, output_padding=1 is a different result (crop at the start instead).
    out = _ct2d(article.INPUT, article.KERNEL, stride=2, padding=1, output_padding=1)
    assert out.shape == (4, 4)
    assert not np.array_equal(out, article.EXPECTED)
    # by hand: full 5x5 rows [1,1,3,2,2],[1,1,3,2,2],[4,4,10,6,6],[3,3,7,4,4],[3,3,7,4,4]; crop 1 at the
    # start, keep 4 (the last is the full's last row/column)
    _check(out, [[1, 3, 2, 2], [4, 10, 6, 6], [3, 7, 4, 4], [3, 7, 4, 4]], "padding=1, output_padding=1")


# --- (b) unit stride: 2x2 -> 4x4 with a 3x3 asymmetric kernel, no crop -------------------------------------

X_2X2 = [[1, 2], [3, 4]]
W_ASYM = [[1, 10, 0], [0, 0, 0], [0, 0, 100]]
# By hand (scatter): tap (0,0) weight 1 puts x at rows/cols 0-1; tap (0,1) weight 10 puts 10x one column
# right; tap (2,2) weight 100 puts 100x two rows down and two columns right.
EXPECTED_UNIT_STRIDE = [[1, 12, 20, 0], [3, 34, 40, 0], [0, 0, 100, 200], [0, 0, 300, 400]]


def test_unit_stride_by_hand():
    _check(_ct2d(X_2X2, W_ASYM), EXPECTED_UNIT_STRIDE, "unit stride, asymmetric kernel")


def test_unit_stride_is_padded_flipped_correlation():
    route = _direct_route(X_2X2, W_ASYM, stride=1, crop=0)
    _check(route, EXPECTED_UNIT_STRIDE, "pad-by-k-1 and flipped-kernel correlation (the test's own loops)")
    _check(_ct2d(X_2X2, W_ASYM), route, "golden vs padded flipped correlation")


# --- (c) fractional stride: 3x3 -> 5x5, k=3, s=2, crop 1 each side -----------------------------------------

X_3X3 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
# 1-d by hand: [a, b, c] -> full [a, a, a+b, b, b+c, c, c] -> crop 1 each side -> [a, a+b, b, b+c, c],
# applied along rows and along columns.
EXPECTED_ONES = [
    [1, 3, 2, 5, 3],
    [5, 12, 7, 16, 9],
    [4, 9, 5, 11, 6],
    [11, 24, 13, 28, 15],
    [7, 15, 8, 17, 9],
]
# Kernel [1,2,3] along rows: [a, b, c] -> full [a, 2a, 3a+b, 2b, 3b+c, 2c, 3c] -> [2a, 3a+b, 2b, 3b+c, 2c]
# along rows; the all-ones rule above along columns.
EXPECTED_ROWS_123 = [
    [2, 6, 4, 10, 6],
    [7, 18, 11, 26, 15],
    [8, 18, 10, 22, 12],
    [19, 42, 23, 50, 27],
    [14, 30, 16, 34, 18],
]
KERNEL_ROWS_123 = np.repeat(np.array([1.0, 2.0, 3.0])[:, None], 3, axis=1)  # w[a, b] = [1, 2, 3][a]


@pytest.mark.parametrize(
    "w, expected",
    [(np.ones((3, 3)), EXPECTED_ONES), (KERNEL_ROWS_123, EXPECTED_ROWS_123)],
    ids=["ones-kernel", "rows-1-2-3-kernel"],
)
def test_fractional_stride_by_hand(w, expected):
    _check(_ct2d(X_3X3, w, stride=2, padding=1), expected, "3x3 stride 2 crop 1")
    _check(_ct2d(X_3X3, w, stride=2, padding=((1, 1), (1, 1))), expected, "same crop spelled as pairs")


@pytest.mark.parametrize(
    "w", [np.ones((3, 3)), KERNEL_ROWS_123, np.array(W_ASYM, float)], ids=["ones", "rows-123", "asym"]
)
def test_fractional_stride_is_zero_insertion_then_convolution(w):
    route = _direct_route(X_3X3, w, stride=2, crop=1)
    assert route.shape == (5, 5)
    _check(_ct2d(X_3X3, w, stride=2, padding=1), route, "golden vs zero-insertion route")
