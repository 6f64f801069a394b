"""The derived bound (convt_oracle.tolerance): gamma_K, unit roundoffs, the accumulation policy, and the bound
against real computations on long reductions.

Expected numbers are worked out by hand in the comments (or taken from numpy / ml_dtypes' own finfo), not
copied from the module.
"""

import ml_dtypes
import numpy as np
import pytest

from convt_oracle.cases.model import make_case
from convt_oracle import compare as C
from convt_oracle import tolerance as T
from convt_oracle.tolerance import Tolerance, gamma

# --- unit roundoffs and gamma_K -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, finfo",
    [
        ("float64", np.finfo(np.float64)),
        ("float32", np.finfo(np.float32)),
        ("float16", np.finfo(np.float16)),
        ("bfloat16", ml_dtypes.finfo(ml_dtypes.bfloat16)),
    ],
)
def test_unit_roundoff_is_half_the_machine_epsilon(dtype, finfo):
    # eps = 2**(1-p) is the gap above 1.0; round to nearest errs by at most half of it.
    assert T.UNIT_ROUNDOFF[dtype] == float(finfo.eps) / 2


def test_unit_roundoffs_by_hand():
    # p = 53, 24, 11 and 8 significand bits (implicit bit included): u = 2**-p.
    assert T.UNIT_ROUNDOFF["float64"] == 1.1102230246251565e-16
    assert T.UNIT_ROUNDOFF["float32"] == 5.960464477539063e-08
    assert T.UNIT_ROUNDOFF["float16"] == 0.00048828125
    assert T.UNIT_ROUNDOFF["bfloat16"] == 0.00390625


@pytest.mark.parametrize(
    "k, u, expected",
    [
        (0, 2.0**-11, 0.0),
        (1, 0.5, 1.0),  # 0.5 / (1 - 0.5)
        (3, 0.25, 3.0),  # 0.75 / 0.25
        (64, 2.0**-8, 1 / 3),  # 0.25 / 0.75
        (10, 2.0**-11, 5 / 1019),  # (10/2048) / (2038/2048) = 10/2038
        (1, 2.0**-24, 1 / (2**24 - 1)),
        (4, 0.25, np.inf),  # k*u = 1: no bound
        (512, 2.0**-8, np.inf),  # k*u = 2
    ],
)
def test_gamma_by_hand(k, u, expected):
    assert gamma(k, u) == pytest.approx(expected, rel=1e-15)


def test_gamma_is_elementwise_and_increasing():
    values = gamma(np.array([[1, 2], [100, 2047]]), 2.0**-11)
    assert values.shape == (2, 2)
    assert values[0, 0] < values[0, 1] < values[1, 0] < values[1, 1] < np.inf
    assert gamma(np.array([2047, 2048, 4096]), 2.0**-11).tolist()[1:] == [np.inf, np.inf]


def test_overflow_thresholds_are_max_plus_half_an_ulp():
    # float16: max 65504 = (2 - 2**-10) * 2**15, ulp 32: anything from 65520 on rounds to inf.
    assert T.OVERFLOW_THRESHOLD["float16"] == 65520.0
    assert np.float16(65519.99) == 65504
    with np.errstate(over="ignore"):
        assert np.isinf(np.float16(65520.0))
    # bfloat16: max (1 + 127/128) * 2**127, ulp 2**120; float32: max (2 - 2**-23) * 2**127, ulp 2**104.
    assert T.OVERFLOW_THRESHOLD["bfloat16"] == (2 - 2.0**-8) * 2.0**127
    assert T.OVERFLOW_THRESHOLD["float32"] == (2 - 2.0**-24) * 2.0**127
    # (From float32: ml_dtypes converts float64 through float32, rounding twice.)
    below = np.nextafter(np.float32(T.OVERFLOW_THRESHOLD["bfloat16"]), np.float32(0))
    assert np.isfinite(np.array(below).astype(ml_dtypes.bfloat16))
    with np.errstate(over="ignore"):
        assert np.isinf(np.array(T.OVERFLOW_THRESHOLD["bfloat16"]).astype(ml_dtypes.bfloat16))
        assert np.isinf(np.float32(T.OVERFLOW_THRESHOLD["float32"]))
    assert np.isfinite(np.float32(np.nextafter(T.OVERFLOW_THRESHOLD["float32"], 0)))


# --- the accumulation policy ---------------------------------------------------------------------------


def test_default_policy_accumulates_half_precision_in_float32():
    tolerance = Tolerance()
    assert tolerance.accumulation_dtype("float16") == "float32"
    assert tolerance.accumulation_dtype("bfloat16") == "float32"
    assert tolerance.accumulation_dtype("float32") == "float32"
    assert tolerance.accumulation_dtype("float64") == "float64"


def test_policy_is_configurable_per_dtype():
    tolerance = Tolerance(accumulation={"float16": "float16"})
    assert tolerance.accumulation_dtype("float16") == "float16"
    assert tolerance.accumulation_dtype("bfloat16") == "float32"  # the others keep the default


def test_policy_rejects_unknown_dtypes():
    with pytest.raises(ValueError, match="float8"):
        Tolerance(accumulation={"float16": "float8"})
    with pytest.raises(ValueError, match="int8"):
        Tolerance(accumulation={"int8": "float32"})


# --- the bound, by hand --------------------------------------------------------------------------------


def _bound(dtype, y, s, n, tolerance=None):
    tolerance = tolerance or Tolerance()
    return float(tolerance.bound(dtype, np.array([y]), np.array([s]), np.array([n]))[0])


def test_bound_by_hand_float16_with_float32_accumulation():
    # n = 4 terms, S = 10, y = 2: gamma_4(2**-24) * 10 + 2**-11 * 2 = 40 * 2**-24 / (1 - 2**-22) + 2**-10,
    # plus 2**-25 (half float16's smallest subnormal 2**-24) for a result that underflows.
    expected = 40 * 2.0**-24 / (1 - 2.0**-22) + 2.0**-10 + 2.0**-25
    assert _bound("float16", 2.0, 10.0, 4) == pytest.approx(expected, rel=1e-5)


def test_bound_by_hand_float16_with_float16_accumulation():
    # gamma_4(2**-11) = (4/2048) / (2044/2048) = 1/511; times S = 10; plus 2**-11 * 2. Here the rounding
    # to the output also applies to the accumulated error: the first term grows by (1 + 2**-11). Products
    # computed in float16 may underflow too: 2n half-subnormals of float16, 8 * 2**-25.
    expected = (1 + 2.0**-11) * 10 / 511 + 2.0**-10 + 2.0**-25 + 8 * 2.0**-25
    assert _bound("float16", 2.0, 10.0, 4, Tolerance(accumulation={"float16": "float16"})) == pytest.approx(expected, rel=1e-5)


def test_bound_by_hand_float32_and_float64():
    # float32, n = 100, S = 50, y = -3: gamma_100(2**-24) * 50 + 2**-24 * 3.
    expected = 50 * 100 * 2.0**-24 / (1 - 100 * 2.0**-24) + 3 * 2.0**-24
    assert _bound("float32", -3.0, 50.0, 100) == pytest.approx(expected, rel=1e-6)
    # float64: the target's gamma_n(2**-53) plus the golden's own, each n * 2**-53 * S; plus 2**-53 |y|.
    expected = 2 * 50 * 100 * 2.0**-53 + 3 * 2.0**-53
    assert _bound("float64", -3.0, 50.0, 100) == pytest.approx(expected, rel=1e-6)


def test_bound_is_never_zero():
    # An element that no product reaches (output_padding past the full result, no bias) must hold exactly
    # 0; the bound is still positive, so an exact 0 passes (0 / 0 would otherwise fail it).
    for dtype in T.UNIT_ROUNDOFF:
        assert 0 < _bound(dtype, 0.0, 0.0, 0) < 1e-7


def test_bound_is_infinite_where_the_reduction_is_too_long_for_the_accumulation():
    tolerance = Tolerance(accumulation={"bfloat16": "bfloat16"})
    assert _bound("bfloat16", 1.0, 300.0, 256, tolerance) == np.inf  # 256 * 2**-8 = 1
    assert np.isfinite(_bound("bfloat16", 1.0, 300.0, 255, tolerance))


def test_accumulation_overflow_directions():
    # bfloat16 accumulates in float32, which overflows from (2 - 2**-24) * 2**127 on. With y the sum and S the
    # sum of magnitudes, the positive terms add up to P = (S + y) / 2 and the negative ones to -(S - y) / 2.
    y = np.array([0.0, 2.0**129, -(2.0**129), 0.0, 2.0**127, np.inf, np.nan])
    s = np.array([1.0, 2.0**129, 2.0**129, 2.0**130, 2.0**127, np.inf, np.nan])
    up, down = Tolerance().accumulation_overflow("bfloat16", y, s, np.full(y.shape, 2.0))
    # nothing; all positive (P = 2**129); all negative; P = N = 2**129; P = 2**127 (fits); inputs inf / NaN
    assert up.tolist() == [False, True, False, True, False, False, False]
    assert down.tolist() == [False, False, True, True, False, False, False]
    up, down = Tolerance().accumulation_overflow("float64", y, s, np.full(y.shape, 2.0))
    assert not up.any() and not down.any()
    f16 = Tolerance(accumulation={"float16": "float16"})  # float16 overflows from 65520 on
    up, down = f16.accumulation_overflow("float16", np.array([0.0, 0.0]), np.array([120000.0, 140000.0]), np.array([2, 2]))
    assert up.tolist() == down.tolist() == [False, True]


# --- the bound against real computations on long reductions ---------------------------------------------

# 64 input channels x 9 taps = 576 products per interior output element (>= 512).
LONG = dict(input_size=(12,), kernel_size=(9,), in_channels=64, out_channels=3, batch=2, bias=True, seed=11)
# 2-d, two groups of 96 channels, stride 2 on the first axis (2 of its 4 taps per output): 96 x 2 x 3 = 576.
LONG_2D = dict(input_size=(4, 3), kernel_size=(4, 3), in_channels=192, out_channels=4, groups=2, stride=(2, 1), seed=12)


def _products_per_element(case):
    """How many products meet in each output element: the transposed convolution of ones with ones."""
    torch = pytest.importorskip("torch")
    function = getattr(torch.nn.functional, f"conv_transpose{case.spatial_rank}d")
    ones = torch.ones(1, *case.x_shape[1:], dtype=torch.float64)
    return function(ones, torch.ones(case.w_shape, dtype=torch.float64), stride=case.stride, groups=case.groups).numpy()


def _arrays(dtype, spec):
    case = make_case(dtype=dtype, **spec)
    x, w, bias = case.arrays()
    return case, x, w, bias


def _float32_accumulated(case, x, w, bias):
    """torch in float32 (every product and sum in float32), rounded once to the case's dtype."""
    torch = pytest.importorskip("torch")
    function = getattr(torch.nn.functional, f"conv_transpose{case.spatial_rank}d")
    as32 = [None if a is None else torch.from_numpy(a.astype(np.float32)) for a in (x, w, bias)]
    stride = case.stride
    with torch.no_grad():
        out = function(*as32, stride=stride, groups=case.groups).numpy()
    return out.astype(x.dtype)


def _sequential_in(dtype, case, x, w, bias):
    """Scatter form in `dtype` itself, one product at a time: every product and partial sum rounded."""
    batch, cin, *size = x.shape
    _, cog, *kernel = w.shape
    cig = cin // case.groups
    full = [(i - 1) * s + k for i, s, k in zip(size, case.stride, kernel)]
    out = np.zeros((batch, cog * case.groups, *full), dtype)
    for ci in range(cin):
        g = ci // cig
        for tap in np.ndindex(*kernel):
            window = tuple(slice(t, t + (i - 1) * s + 1, s) for t, i, s in zip(tap, size, case.stride))
            for co in range(cog):
                target = (slice(None), g * cog + co, *window)
                out[target] = (out[target] + (x[:, ci] * w[(ci, co, *tap)]).astype(dtype)).astype(dtype)
    if bias is not None:
        out = (out + bias.reshape(-1, *([1] * len(size)))).astype(dtype)
    return out


@pytest.mark.parametrize("spec", [LONG, LONG_2D], ids=["1d-576-products", "2d-grouped-576-products"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_float32_accumulation_rounded_once_is_within_the_bound(dtype, spec):
    case, x, w, bias = _arrays(dtype, spec)
    assert _products_per_element(case).max() == 576
    expected = C.expect(x, w, bias, case.params(), dtype)
    comparison = C.compare(_float32_accumulated(case, x, w, bias), expected)
    assert comparison.outcome == C.PASS, comparison.message
    # The output rounding dominates (u_out |y|): the error uses a good part of the bound, not a sliver.
    assert 0.1 < comparison.max_bound_ratio <= 1


@pytest.mark.parametrize("spec", [LONG, LONG_2D], ids=["1d-576-products", "2d-grouped-576-products"])
def test_float32_result_is_within_the_bound(spec):
    case, x, w, bias = _arrays("float32", spec)
    expected = C.expect(x, w, bias, case.params(), "float32")
    comparison = C.compare(_float32_accumulated(case, x, w, bias), expected)
    assert comparison.outcome == C.PASS, comparison.message


@pytest.mark.parametrize("spec", [LONG, LONG_2D], ids=["1d-576-products", "2d-grouped-576-products"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_accumulation_in_the_input_dtype_exceeds_the_bound(dtype, spec):
    case, x, w, bias = _arrays(dtype, spec)
    expected = C.expect(x, w, bias, case.params(), dtype)
    comparison = C.compare(_sequential_in(x.dtype, case, x, w, bias), expected)
    assert comparison.outcome == C.VALUE_MISMATCH
    assert comparison.interior_mismatches > 0  # where all 576 products meet
    assert comparison.max_bound_ratio > 2


def test_float16_accumulation_passes_when_the_policy_says_so():
    case, x, w, bias = _arrays("float16", LONG)
    tolerance = Tolerance(accumulation={"float16": "float16"})
    expected = C.expect(x, w, bias, case.params(), "float16", tolerance)
    comparison = C.compare(_sequential_in(np.float16, case, x, w, bias), expected)
    assert comparison.outcome == C.PASS, comparison.message


def test_input_rounding_to_bfloat16_exceeds_the_float32_bound():
    # Inputs exactly representable in float32 but rounded to bfloat16 (8 bits) before a float32 computation.
    case, x, w, bias = _arrays("float32", LONG)
    rounded = [None if a is None else a.astype(ml_dtypes.bfloat16).astype(np.float32) for a in (x, w, bias)]
    comparison = C.compare(_float32_accumulated(case, *rounded), C.expect(x, w, bias, case.params(), "float32"))
    assert comparison.outcome == C.VALUE_MISMATCH


def test_a_bias_added_after_rounding_is_accepted_unless_the_policy_says_one_rounding():
    """x = w = 1 + 2**-10 (float16): the product is 1 + 2**-9 + 2**-20 (exact in float32); the bias
    -(1 + 2**-9) leaves y = 2**-20, exact in float16. Rounding once gives 2**-20; rounding the product to
    float16 first (1 + 2**-9, ties to even) and then adding the bias gives 0, an error of 2**-20, far
    past the single-rounding bound (about 2**-22) and within u16 * |y - b| (about 2**-11)."""
    x = np.array([[[1 + 2.0**-10]]], np.float16)
    w = np.array([[[1 + 2.0**-10]]], np.float16)
    bias = np.array([-(1 + 2.0**-9)], np.float16)
    one_rounding, bias_after_rounding = np.array([[[2.0**-20]]], np.float16), np.zeros((1, 1, 1), np.float16)
    assert float(bias_after_rounding[0, 0, 0]) == float(np.float16(np.float16(x[0, 0, 0] * w[0, 0, 0]) + bias[0]))
    default = C.expect(x, w, bias, {}, "float16")
    strict = C.expect(x, w, bias, {}, "float16", Tolerance(bias_after_rounding=False))
    assert C.compare(one_rounding, default).outcome == C.PASS
    assert C.compare(bias_after_rounding, default).outcome == C.PASS
    assert C.compare(one_rounding, strict).outcome == C.PASS
    assert C.compare(bias_after_rounding, strict).outcome == C.VALUE_MISMATCH
    # without a bias nothing changes: the bound is the single-rounding one
    assert np.array_equal(C.expect(x, w, None, {}, "float16").bound,
                          C.expect(x, w, None, {}, "float16", Tolerance(bias_after_rounding=False)).bound)
