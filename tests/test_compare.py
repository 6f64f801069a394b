"""compare(): every outcome, the non-finite rules, border and interior counts, the first mismatches.

Inputs are small and chosen so that the expected values, the bounds and the border bands can be worked
out by hand (in the comments); the tests never read the expected values back from the golden.
"""

import ml_dtypes
import numpy as np
import pytest

from convt_oracle import compare as C
from convt_oracle.tolerance import Tolerance

BF16 = ml_dtypes.bfloat16

# The article's example: x = [[1, 2], [3, 4]], a 3x3 kernel of ones, stride 2, TF 'SAME' (4x4 output).
# The full result is 5x5; SAME crops its one extra row and column at the end: padding ((0, 1), (0, 1)).
ARTICLE_X = np.array([[[[1, 2], [3, 4]]]], np.float32)
ARTICLE_W = np.ones((1, 1, 3, 3), np.float32)
ARTICLE_PARAMS = dict(stride=(2, 2), padding=((0, 1), (0, 1)), output_padding=(0, 0), dilation=(1, 1), groups=1)
ARTICLE_Y = np.array([[[[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]]]], np.float32)


def article(dtype=np.float32):
    return C.expect(ARTICLE_X.astype(dtype), ARTICLE_W.astype(dtype), None, ARTICLE_PARAMS, np.dtype(dtype).name)


# --- pass, and each failing outcome ---------------------------------------------------------------------


def test_the_hand_result_passes_with_no_message():
    expected = article()
    assert np.array_equal(expected.value, ARTICLE_Y)  # the article's printed numbers
    comparison = C.compare(ARTICLE_Y.copy(), expected)
    assert comparison.outcome == C.PASS and comparison.ok
    assert comparison.message == ""
    assert (comparison.mismatches, comparison.first_mismatches, comparison.max_abs_error) == (0, (), 0.0)
    assert comparison.elements == 16
    assert comparison.actual_shape == comparison.expected_shape == (1, 1, 4, 4)
    assert comparison.actual_dtype == comparison.expected_dtype == "float32"


def test_error_just_within_and_just_past_the_bound():
    # Element (2, 2) = 1 + 2 + 3 + 4: n = 4 products, S = 10, y = 10. In float32 its bound is
    # gamma_4(2**-24) * 10 + 2**-24 * 10 ~= (40 + 10) * 2**-24 (to 1e-6). One ulp of 10 is 2**-20 = 16 * 2**-24:
    # 3 ulps (48 * 2**-24) are within the bound, 4 ulps (64 * 2**-24) are not.
    expected = article()
    assert expected.bound[0, 0, 2, 2] == pytest.approx(50 * 2.0**-24, rel=1e-6)
    actual = ARTICLE_Y.copy()
    actual[0, 0, 2, 2] = 10 + 3 * 2.0**-20
    assert C.compare(actual, expected).outcome == C.PASS
    actual[0, 0, 2, 2] = 10 + 4 * 2.0**-20
    comparison = C.compare(actual, expected)
    assert comparison.outcome == C.VALUE_MISMATCH
    assert comparison.max_abs_error == 4 * 2.0**-20
    assert comparison.max_bound_ratio == pytest.approx(64 / 50, rel=1e-6)


def test_value_mismatch_reports_counts_places_and_first_mismatches():
    actual = ARTICLE_Y.copy()
    actual[0, 0, 0, 0] = 1.5  # a border element: 1 product (x[0, 0] * w[0, 0]), S = 1
    actual[0, 0, 2, 2] = 10.5  # the only interior element
    comparison = C.compare(actual, article())
    assert comparison.outcome == C.VALUE_MISMATCH and not comparison.ok
    assert comparison.mismatches == 2
    assert comparison.mismatch_percent == 12.5
    assert (comparison.border_mismatches, comparison.interior_mismatches) == (1, 1)
    assert comparison.max_abs_error == 0.5
    first, second = comparison.first_mismatches  # in index order
    assert (first.index, first.actual, first.expected, first.border) == ((0, 0, 0, 0), 1.5, 1.0, True)
    assert first.bound == pytest.approx(2 * 2.0**-24, rel=1e-6)  # gamma_1 * 1 + u * 1
    assert (second.index, second.actual, second.expected, second.border) == ((0, 0, 2, 2), 10.5, 10.0, False)
    assert second.bound == pytest.approx(50 * 2.0**-24, rel=1e-6)
    assert comparison.max_bound_ratio == pytest.approx(0.5 / (2 * 2.0**-24), rel=1e-6)
    message = comparison.message
    assert "2 of 16 elements (12.5%)" in message
    assert "1 in the border band, 1 in the interior" in message
    assert "max |actual - expected| = 0.5" in message
    assert "at (0, 0, 0, 0) (border): actual 1.5, expected 1.0" in message
    assert "at (0, 0, 2, 2) (interior): actual 10.5, expected 10.0" in message


def test_only_the_first_five_mismatches_are_listed():
    actual = ARTICLE_Y + 1
    comparison = C.compare(actual, article())
    assert comparison.mismatches == 16
    assert [m.index for m in comparison.first_mismatches] == [(0, 0, 0, i) for i in range(4)] + [(0, 0, 1, 0)]
    assert comparison.message.count("  at (") == 5


def test_shape_mismatch():
    comparison = C.compare(ARTICLE_Y[..., :3], article())
    assert comparison.outcome == C.SHAPE_MISMATCH
    assert comparison.actual_shape == (1, 1, 4, 3) and comparison.expected_shape == (1, 1, 4, 4)
    assert "(1, 1, 4, 3)" in comparison.message and "(1, 1, 4, 4)" in comparison.message


@pytest.mark.parametrize("actual", [ARTICLE_Y.tolist(), 3.0, None], ids=["list", "float", "None"])
def test_not_an_array_is_a_shape_mismatch(actual):
    comparison = C.compare(actual, article())
    assert comparison.outcome == C.SHAPE_MISMATCH
    assert type(actual).__name__ in comparison.message


def test_dtype_mismatch():
    comparison = C.compare(ARTICLE_Y.astype(np.float64), article())
    assert comparison.outcome == C.DTYPE_MISMATCH
    assert (comparison.actual_dtype, comparison.expected_dtype) == ("float64", "float32")
    assert "float64" in comparison.message and "float32" in comparison.message


def test_checks_come_in_order_shape_dtype_nonfinite_values():
    expected = article()
    wrong_everything = np.full((1, 1, 4, 3), np.nan)  # shape, dtype and values all wrong
    assert C.compare(wrong_everything, expected).outcome == C.SHAPE_MISMATCH
    assert C.compare(np.full((1, 1, 4, 4), np.nan), expected).outcome == C.DTYPE_MISMATCH
    nan_and_value = ARTICLE_Y.copy()
    nan_and_value[0, 0, 0, 0] = np.nan
    nan_and_value[0, 0, 3, 3] = 100
    assert C.compare(nan_and_value, expected).outcome == C.NONFINITE_MISMATCH


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_where_the_golden_is_finite_is_a_mismatch(bad):
    actual = ARTICLE_Y.copy()
    actual[0, 0, 1, 1] = bad
    comparison = C.compare(actual, article())
    assert comparison.outcome == C.NONFINITE_MISMATCH
    assert comparison.mismatches == 1
    (mismatch,) = comparison.first_mismatches
    assert mismatch.index == (0, 0, 1, 1) and mismatch.expected == 1.0
    assert np.isnan(mismatch.actual) if np.isnan(bad) else mismatch.actual == bad
    assert "(0, 0, 1, 1)" in comparison.message


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, BF16], ids=lambda d: np.dtype(d).name)
def test_every_dtype_accepts_the_exact_result(dtype):
    assert C.compare(ARTICLE_Y.astype(dtype), article(dtype)).outcome == C.PASS


# --- overflow -----------------------------------------------------------------------------------------


def _single(x, w, dtype, tolerance=None):
    """One product x*w (1 channel, kernel of 1): the exact result is x*w."""
    x = np.array(x, dtype).reshape(1, 1, 1)
    w = np.array(w, dtype).reshape(1, 1, 1)
    return C.expect(x, w, None, dict(stride=1, padding=0), np.dtype(dtype).name, tolerance)


def _result(value, dtype):
    with np.errstate(over="ignore"):
        return np.array(value, np.float64).astype(dtype).reshape(1, 1, 1)


@pytest.mark.parametrize("sign", [1, -1])
def test_certain_overflow_must_be_the_signed_infinity(sign):
    # float16: 256 * 257 = 65792. Its bound is about 2**-11 * 65792 ~= 32.1, and 65792 - 32.1 is still past
    # 65520 (max 65504 plus half an ulp): a correct result is certainly inf.
    expected = _single(256, sign * 257, np.float16)
    assert expected.value.item() == sign * 65792
    assert C.compare(_result(sign * np.inf, np.float16), expected).outcome == C.PASS
    for wrong in (sign * 65504, -sign * np.inf, np.nan):
        comparison = C.compare(_result(wrong, np.float16), expected)
        assert comparison.outcome == C.NONFINITE_MISMATCH, wrong
        assert comparison.first_mismatches[0].expected == sign * np.inf


def test_possible_overflow_accepts_the_largest_value_and_the_signed_infinity():
    # 255.875 * 256 = 65504 exactly; its bound is about 2**-11 * 65504 ~= 32, so 65504 + bound reaches
    # 65520 while 65504 - bound does not: either 65504 or +inf is acceptable, -inf and NaN are not.
    expected = _single(255.875, 256, np.float16)
    assert expected.bound.item() == pytest.approx(32, rel=1e-3)
    assert C.compare(_result(65504, np.float16), expected).outcome == C.PASS
    assert C.compare(_result(np.inf, np.float16), expected).outcome == C.PASS
    assert C.compare(_result(-np.inf, np.float16), expected).outcome == C.NONFINITE_MISMATCH
    assert C.compare(_result(np.nan, np.float16), expected).outcome == C.NONFINITE_MISMATCH


def test_no_overflow_below_the_band():
    # 255.75 * 256 = 65472: 65472 + 32 < 65520, so inf is wrong.
    expected = _single(255.75, 256, np.float16)
    assert C.compare(_result(65472, np.float16), expected).outcome == C.PASS
    assert C.compare(_result(np.inf, np.float16), expected).outcome == C.NONFINITE_MISMATCH


def test_bfloat16_overflow_to_infinity():
    # 2**64 * 2**65 = 2**129: minus its bound (about 2**-8 * 2**129) still past bfloat16's threshold
    # (2 - 2**-8) * 2**127.
    expected = _single(2.0**64, 2.0**65, BF16)
    assert C.compare(_result(np.inf, BF16), expected).outcome == C.PASS
    assert C.compare(_result(float.fromhex("0x1.fep127"), BF16), expected).outcome == C.NONFINITE_MISMATCH


def _cancelling_bfloat16(sign=-1, tolerance=None):
    """Two products 2**64 * 2**64 and sign * 2**64 * 2**64: each is 2**128, past float32's range."""
    x = np.array([2.0**64, 2.0**64], BF16).reshape(1, 2, 1)
    w = np.array([2.0**64, sign * 2.0**64], BF16).reshape(2, 1, 1)
    return C.expect(x, w, None, dict(stride=1, padding=0), "bfloat16", tolerance)


def test_float32_accumulation_of_bfloat16_may_overflow_both_ways():
    # 2**128 - 2**128 = 0 exactly, but in float32 (the assumed accumulation) both products overflow: a
    # correct float32 kernel returns inf - inf = NaN (or +-inf had one side overflowed alone). So NaN, +inf,
    # -inf and 0 are all acceptable; a finite value must still be within the bound, about
    # gamma_2(2**-24) * 2**129 = 2**106 ~ 8e31, which 1e33 is not.
    expected = _cancelling_bfloat16()
    assert expected.value.item() == 0
    for value in (np.nan, np.inf, -np.inf, 0.0):
        assert C.compare(_result(value, BF16), expected).outcome == C.PASS, value
    assert C.compare(_result(1e33, BF16), expected).outcome == C.VALUE_MISMATCH


def test_float32_accumulation_overflow_of_one_sign_only():
    # 2**128 + 2**128 = 2**129: both products positive, so only +inf can come out (never NaN or -inf).
    expected = _cancelling_bfloat16(sign=1)
    assert C.compare(_result(np.inf, BF16), expected).outcome == C.PASS
    assert C.compare(_result(np.nan, BF16), expected).outcome == C.NONFINITE_MISMATCH
    assert C.compare(_result(-np.inf, BF16), expected).outcome == C.NONFINITE_MISMATCH


def test_float64_accumulation_policy_makes_the_cancelling_sum_exact():
    expected = _cancelling_bfloat16(tolerance=Tolerance(accumulation={"bfloat16": "float64"}))
    assert C.compare(_result(0.0, BF16), expected).outcome == C.PASS
    assert C.compare(_result(np.nan, BF16), expected).outcome == C.NONFINITE_MISMATCH


# --- inf and NaN in the inputs --------------------------------------------------------------------------


def _row(x, w, dtype=np.float32):
    """1-d, one channel, stride 1, no padding: full[o] = sum_t x[o - t] * w[t]."""
    x = np.array(x, dtype).reshape(1, 1, -1)
    w = np.array(w, dtype).reshape(1, 1, -1)
    return C.expect(x, w, None, dict(stride=1, padding=0), np.dtype(dtype).name)


def _out(values, dtype=np.float32):
    return np.array(values, dtype).reshape(1, 1, -1)


def test_inf_times_zero_in_the_inputs_makes_nan_expected():
    expected = _row([np.inf], [0.0])
    assert np.isnan(expected.value.item())
    assert C.compare(_out([np.nan]), expected).outcome == C.PASS
    for wrong in (0.0, np.inf):
        assert C.compare(_out([wrong]), expected).outcome == C.NONFINITE_MISMATCH


def test_an_input_infinity_spreads_only_where_it_reaches():
    # x = [inf, 1], w = [1, 1]: full = [inf*1, inf*1 + 1*1, 1*1] = [inf, inf, 1].
    expected = _row([np.inf, 1.0], [1.0, 1.0])
    assert C.compare(_out([np.inf, np.inf, 1.0]), expected).outcome == C.PASS
    assert C.compare(_out([np.inf, np.nan, 1.0]), expected).outcome == C.NONFINITE_MISMATCH
    assert C.compare(_out([np.inf, np.inf, np.nan]), expected).outcome == C.NONFINITE_MISMATCH
    assert C.compare(_out([0.0, np.inf, 1.0]), expected).outcome == C.NONFINITE_MISMATCH
    assert C.compare(_out([np.inf, np.inf, 1.5]), expected).outcome == C.VALUE_MISMATCH


def test_opposite_infinities_meeting_make_nan():
    # x = [inf, -inf], w = [1, 1]: full = [inf, inf - inf, -inf] = [inf, NaN, -inf].
    expected = _row([np.inf, -np.inf], [1.0, 1.0])
    assert C.compare(_out([np.inf, np.nan, -np.inf]), expected).outcome == C.PASS
    comparison = C.compare(_out([np.inf, 0.0, -np.inf]), expected)  # NaN "cleaned" to 0
    assert comparison.outcome == C.NONFINITE_MISMATCH
    assert comparison.first_mismatches[0].index == (0, 0, 1)
    assert np.isnan(comparison.first_mismatches[0].expected)
    assert C.compare(_out([np.inf, np.inf, -np.inf]), expected).outcome == C.NONFINITE_MISMATCH


def test_nan_input_propagates():
    # x = [NaN, 2], w = [1, -1]: full = [NaN, NaN, -2].
    expected = _row([np.nan, 2.0], [1.0, -1.0])
    assert C.compare(_out([np.nan, np.nan, -2.0]), expected).outcome == C.PASS
    assert C.compare(_out([0.0, -2.0, -2.0]), expected).outcome == C.NONFINITE_MISMATCH


# --- border band and interior ---------------------------------------------------------------------------


def _band(input_size, kernel, **params):
    x = np.ones((1, 1, *input_size), np.float64)
    w = np.ones((1, 1, *kernel), np.float64)
    full = dict(stride=1, padding=0, output_padding=0, dilation=1, groups=1)
    return C.expect(x, w, None, {**full, **params}, "float64")


@pytest.mark.parametrize(
    "input_size, kernel, params, border",
    [
        # i = 4, k = 3: full result 6; every tap reaches full positions 2..3 ((k-1)d .. (i-1)s).
        ((4,), (3,), {}, ((2, 2),)),
        # cropping 2 at each end leaves exactly positions 2..3: no border at all.
        ((4,), (3,), dict(padding=2), ((0, 0),)),
        # crop (1, 0) and output_padding 2: output o is full position o + 1, o = 0..6; interior o = 1, 2;
        # o = 3, 4 are cut by the input's end and o = 5, 6 lie past the full result.
        ((4,), (3,), dict(padding=((1, 0),), output_padding=2), ((1, 4),)),
        # dilation 2: effective kernel 5, full 8; interior would be 4..3: empty, bands of 4 and 4 cover it all.
        ((4,), (3,), dict(dilation=2), ((4, 4),)),
        # stride 2, i = 3, k = 3: full 7, interior full positions 2..4.
        ((3,), (3,), dict(stride=2), ((2, 2),)),
        # 2-d: each axis on its own.
        ((4, 3), (3, 1), dict(padding=((0, 0), (0, 0))), ((2, 2), (0, 0))),
    ],
)
def test_border_bands_by_hand(input_size, kernel, params, border):
    assert _band(input_size, kernel, **params).border == border


def test_border_and_interior_counts():
    # i = 4, k = 3: output 0..5, interior 2..3. Break elements 0, 2 and 5: 2 border, 1 interior.
    expected = _band((4,), (3,))
    actual = expected.value.copy()
    actual[0, 0, [0, 2, 5]] += 1
    comparison = C.compare(actual, expected)
    assert (comparison.border_mismatches, comparison.interior_mismatches) == (2, 1)


def test_border_counts_in_two_dimensions():
    # 4x4 input, 3x3 kernel: 6x6 output, interior rows and columns 2..3 (a 2x2 square).
    expected = _band((4, 4), (3, 3))
    actual = expected.value.copy()
    actual[0, 0, 2, 3] += 1  # interior
    actual[0, 0, 2, 4] += 1  # border (column 4)
    actual[0, 0, 0, 0] += 1  # border
    comparison = C.compare(actual, expected)
    assert (comparison.border_mismatches, comparison.interior_mismatches) == (2, 1)


def test_unreached_elements_must_be_exact_zeros_in_float64():
    # output_padding past the full result and no bias: those elements are exactly 0 (bound > 0).
    expected = _band((2,), (2,), stride=3, output_padding=2)  # full [x0w0, x0w1, 0, x1w0, x1w1] + 2 more
    assert expected.value[0, 0].tolist() == [1, 1, 0, 1, 1, 0, 0]
    assert C.compare(expected.value.copy(), expected).outcome == C.PASS
    actual = expected.value.copy()
    actual[0, 0, 6] = 1e-300
    assert C.compare(actual, expected).outcome == C.VALUE_MISMATCH


def test_expect_vjp_gives_one_expectation_per_gradient():
    x = np.ones((1, 1, 3))
    w = np.ones((1, 2, 2))
    grad_out = np.ones((1, 2, 4))
    grad_x, grad_w, grad_bias = C.expect_vjp(x, w, grad_out, np.zeros(2), dict(stride=1, padding=0), "float64")
    # grad_x[i] = sum_{co, t} w[co, t] * g[i + t] = 4; grad_w[co, t] = sum_i x[i] g[i + t] = 3; grad_bias = 4.
    assert grad_x.value.tolist() == [[[4.0, 4.0, 4.0]]]
    assert grad_w.value.tolist() == [[[3.0, 3.0], [3.0, 3.0]]]
    assert grad_bias.value.tolist() == [4.0, 4.0]
    assert C.compare(np.full((1, 1, 3), 4.0), grad_x).outcome == C.PASS
    assert C.compare(np.full((1, 1, 3), 4.5), grad_x).outcome == C.VALUE_MISMATCH
