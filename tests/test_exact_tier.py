"""The exact tier: `exact` values (cases/model.py), zero tolerance (oracle/compare.py), the `exact` suite
(cases/suites.py), and what it catches that the rounded tier may not (tests/support/targets.py).

The sums of |terms| are recomputed here by the lax route of support/targets.py (and torch autograd for the
vjp), not by the golden under test; sizes and magnitudes are worked out by hand in the comments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from convt_oracle import compare as C
from convt_oracle.cases import suites
from convt_oracle.cases.model import EXACT, EXACT_INTEGERS, EXACT_LARGEST, VALUE_KINDS, make_case
from convt_oracle.harness.crosscheck import check_case, check_vjp, crosscheck
from convt_oracle.tolerance import Tolerance
from support import targets as T

DTYPES = ("float64", "float32", "float16", "bfloat16")
TAIL_MUTANTS = ("drops_one_product", "adds_one_tap_twice")


@pytest.fixture(scope="module")
def exact_suite():
    return suites.get("exact")


def absolute_sums(case, x, w, bias):
    """Per output element, the sum of |products| plus |bias|, by the lax route (float64, unrounded)."""
    absolute = [None if a is None else np.abs(a.astype(np.float64)) for a in (x, w, bias)]
    return T._lax(*absolute, **case.params())


# --- the data ----------------------------------------------------------------------------------------------


def test_exact_is_a_value_kind_the_suites_draw():
    assert EXACT == "exact" and EXACT in VALUE_KINDS


def test_magnitudes_by_hand_for_576_products():
    # 64 input channels x 3x3 taps, stride 1, input 4x5: interior outputs get all 576 products; with a bias.
    case = make_case(input_size=(4, 5), kernel_size=3, in_channels=64, out_channels=3, bias=True, values=EXACT)
    assert case.max_products == 576
    # bfloat16: 2**8 = 256 < 576 * 1 + 1: m = 1 and a share of x is zeroed. float16: 576*4 + 2 = 2306 > 2048,
    # so m = 1 (577 <= 2048). float32: isqrt(2**24 // 576) = isqrt(29127) = 170, 576*170**2 + 170 =
    # 16646570 <= 16777216. float64: capped at 2**8 = 256.
    magnitudes = {dtype: case.with_dtype(dtype).exact_magnitude() for dtype in DTYPES}
    assert magnitudes == {"bfloat16": 1, "float16": 1, "float32": 170, "float64": 256}
    assert EXACT_LARGEST == 256


def test_max_products_counts_taps_that_land_by_hand():
    # stride 2, kernel 4 on one axis: an interior position is reached by 2 of the 4 taps; kernel 2 at stride 1
    # on the other: 2 taps. 3 channels per group (6 in, 2 groups): 3 * 2 * 2 = 12; nominally 3 * 8 = 24.
    case = make_case(input_size=(5, 3), kernel_size=(4, 2), stride=(2, 1), in_channels=6, out_channels=4, groups=2)
    assert (case.max_products, case.reduction_length) == (12, 24)
    # stride 3 past a 2-tap kernel: no position gets 2 taps.
    assert make_case(input_size=4, kernel_size=2, stride=3, in_channels=5).max_products == 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_exact_case_keeps_its_sums_within_the_dtype_s_exact_integers(exact_suite, dtype):
    limit = EXACT_INTEGERS[dtype]
    for configuration in exact_suite:
        case = configuration.with_dtype(dtype)
        x, w, bias = case.arrays()
        values = [a.astype(np.float64) for a in (x, w, bias) if a is not None]
        for a in values:
            assert np.array_equal(a, np.round(a)) and np.abs(a).max() <= case.exact_magnitude() <= EXACT_LARGEST
        assert (w != 0).all() and (w > 0).any() and (w < 0).any(), case.id
        assert not any(w.shape[a] > 1 and np.array_equal(w, np.flip(w, a)) for a in range(2, w.ndim)), case.id
        assert (x != 0).any(), case.id
        assert absolute_sums(case, x, w, bias).max() <= limit, case.id


def test_a_bfloat16_reduction_too_long_for_full_density_is_thinned_not_emptied():
    # 576 products, bfloat16 (256): about 256/577 of x is kept; every sum fits, and the sums use the room.
    case = make_case(input_size=(4, 5), kernel_size=3, in_channels=64, out_channels=3, bias=True, values=EXACT,
                     dtype="bfloat16", seed=1)
    x, w, bias = case.arrays()
    kept = np.count_nonzero(x.astype(np.float64)) / x.size
    sums = absolute_sums(case, x, w, bias)
    assert 0.25 < kept < 0.6
    assert 128 < sums.max() <= 256
    # float32 has room for every product: nothing is zeroed.
    assert np.count_nonzero(case.with_dtype("float32").arrays()[0].astype(np.float64)) == x.size


def test_the_arrays_are_the_same_on_every_call():
    case = suites.get("exact")[0].with_dtype("bfloat16")
    first, again = case.arrays(), case.arrays()
    assert all(np.array_equal(a.astype(np.float64), b.astype(np.float64)) for a, b in zip(first, again) if a is not None)
    assert np.array_equal(case.cotangent().astype(np.float64), case.cotangent().astype(np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_cotangent_keeps_the_gradients_sums_within_the_limit(exact_suite, dtype):
    pytest.importorskip("torch")
    limit = EXACT_INTEGERS[dtype]
    for configuration in exact_suite[:16]:  # the long reductions and more
        case = configuration.with_dtype(dtype)
        x, w, bias = (None if a is None else np.abs(a.astype(np.float64)) for a in case.arrays())
        grad_out = np.abs(case.cotangent().astype(np.float64))
        assert np.array_equal(grad_out, np.round(grad_out)) and grad_out.max() <= 1 and grad_out.any(), case.id
        grads = T._torch_vjp(x, w, grad_out, bias, **case.params())  # float64 in, float64 out
        assert max(g.max() for g in grads if g is not None) <= limit, case.id


# --- zero tolerance ----------------------------------------------------------------------------------------


def test_an_exact_expectation_has_bound_zero_and_one_unit_off_fails_saying_so():
    # x = [1, 2, 3], w = [1, -1]: y = [1, 1, 1, -3] (full result, stride 1).
    x = np.array([[[1.0, 2.0, 3.0]]], np.float32)
    w = np.array([[[1.0, -1.0]]], np.float32)
    expected = C.expect(x, w, None, {}, "float32", exact=True)
    assert expected.exact and not expected.bound.any()
    assert np.array_equal(expected.value, [[[1, 1, 1, -3]]])
    assert C.compare(np.array([[[1, 1, 1, -3]]], np.float32), expected).outcome == C.PASS
    off = np.array([[[1, 1, 1, np.nextafter(np.float32(-3), np.float32(0))]]], np.float32)
    comparison = C.compare(off, expected)
    assert comparison.outcome == C.VALUE_MISMATCH and comparison.mismatches == 1
    assert comparison.max_bound_ratio == np.inf
    assert "not equal to the golden's" in comparison.message and "the case is exact" in comparison.message
    assert "bit for bit" in comparison.message
    # The rounded tier accepts that last-bit difference: 2 products of S = 5, y = -3 in float32.
    assert C.compare(off, C.expect(x, w, None, {}, "float32")).outcome == C.PASS


def test_a_narrower_accumulation_keeps_the_bound_where_the_sums_exceed_it():
    # x = [2000, 1], w = [1, 2]: full result [2000, 4001, 2], S the same. Accumulated in float16 (2**11 =
    # 2048), the sums 2000 and 2 are exact, 4001 need not be.
    x = np.array([[[2000.0, 1.0]]], np.float32)
    w = np.array([[[1.0, 2.0]]], np.float32)
    narrow = Tolerance(accumulation={"float32": "float16"})
    expected = C.expect(x, w, None, {}, "float32", narrow, exact=True)
    assert expected.exact and np.array_equal(expected.value, [[[2000, 4001, 2]]])
    assert (expected.bound[0, 0, 0], expected.bound[0, 0, 2]) == (0, 0) and expected.bound[0, 0, 1] > 0
    # In float32 accumulation all three are exact.
    assert not C.expect(x, w, None, {}, "float32", exact=True).bound.any()


def test_the_golden_s_expectation_of_an_exact_case_is_exact_in_every_dtype(exact_suite):
    from convt_oracle.harness.crosscheck import Golden

    for dtype in DTYPES:
        case = exact_suite[0].with_dtype(dtype)
        x, w, bias = case.arrays()
        expected = Golden().forward(case, x, w, bias)
        assert expected.exact and not expected.bound.any(), dtype
        normal = make_case(input_size=3, kernel_size=2, dtype=dtype)
        assert not Golden().forward(normal, *normal.arrays()).exact


# --- what it catches -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", T.CORRECT)
def test_correct_targets_pass_the_exact_suite_bit_for_bit(target, dtype):
    if target == "torch_reference":
        pytest.importorskip("torch")
    report = crosscheck(getattr(T, target), suite="exact", dtypes=(dtype,))
    assert len(report.results) == suites.EXACT_SIZE
    assert report.ok, report.summary()


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_correct_vjp_passes_the_exact_suite_bit_for_bit(dtype):
    pytest.importorskip("torch")
    report = crosscheck(T.torch_reference, suite="exact", dtypes=(dtype,), grad=True)
    vjp = [result for result in report.results if result.check == "vjp"]
    assert len(vjp) == suites.EXACT_SIZE and all(result.outcome == C.PASS for result in vjp), report.summary()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mutant", TAIL_MUTANTS)
def test_the_exact_tier_catches_a_kernel_s_tail_bug_in_every_dtype(mutant, dtype, exact_suite):
    function = getattr(T, mutant)
    long = [case.with_dtype(dtype) for case in exact_suite if case.reduction_length >= T.LONG_TAIL]
    caught = [case for case in long if not check_case(function, case, mutant).ok]
    print(f"{mutant} ({dtype}): caught by {len(caught)} of the {len(long)} exact cases it acts on")
    assert len(long) >= 10 and len(caught) == len(long), [case.name or case.id for case in long if case not in caught]
    # Where the reduction is short the mutants are correct: no false alarm on the rest.
    short = [case.with_dtype(dtype) for case in exact_suite if case.reduction_length < T.LONG_TAIL][:8]
    assert all(check_case(function, case, mutant).ok for case in short)


def test_the_exact_tier_is_part_of_the_default_run():
    default = suites.get("default")
    exact = [case for case in default if case.exact]
    assert {case.id for case in suites.get("exact")} <= {case.id for case in exact}
    assert sum(case.exact for case in suites.get("smoke")) >= 1


def test_a_vjp_tail_bug_is_caught_exactly():
    # A vjp that drops grad_w's last tap of the last input channel: exact gradients catch it.
    pytest.importorskip("torch")
    case = next(case for case in suites.get("exact") if case.name == "exact-long-dense-2d").with_dtype("bfloat16")

    def target(x, w, bias=None, **params):
        return T.torch_reference(x, w, bias, **params)

    def vjp(x, w, grad_out, bias=None, **params):
        grad_x, grad_w, grad_bias = T._torch_vjp(x, w, grad_out, bias, **params)
        grad_w = grad_w.copy()
        grad_w[-1, :, -1, -1] = 0
        return grad_x, grad_w, grad_bias

    target.vjp = vjp
    result = check_vjp(target, case, "tail")
    assert result.outcome == C.VALUE_MISMATCH and "in grad_w" in result.detail
    assert "the case is exact" in result.message


def test_the_diagnosis_of_an_exact_case_names_a_structural_mistake_and_invents_no_precision_one():
    case = next(case for case in suites.get("exact") if case.name == "exact-long-dense-2d")
    flipped = check_case(T.unflipped_kernel, case.with_dtype("float16"), "unflipped_kernel")
    assert flipped.diagnosis.name == "flipped_kernel"
    # One product dropped in bfloat16: a float16 or bfloat16 accumulation of these sums would be exact too,
    # so no precision hypothesis explains it.
    dropped = check_case(T.drops_one_product, case.with_dtype("bfloat16"), "drops_one_product")
    assert dropped.outcome == C.VALUE_MISMATCH and dropped.diagnosis.name == "unexplained"


def test_the_reproducer_of_an_exact_failure_fails(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    case = next(case for case in suites.get("exact") if case.name == "exact-long-dense-2d").with_dtype("float32")
    result = check_case(T.drops_one_product, case, "support.targets:drops_one_product")
    script = tmp_path / "reproduce.py"
    script.write_text(result.reproducer())
    tests = Path(__file__).parent
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tests,
                         env={"PYTHONPATH": str(tests), "PATH": ""})
    assert run.returncode != 0 and "not equal to the golden's" in run.stderr, run.stderr[-2000:]


def test_the_exact_suite_is_modest(exact_suite):
    assert 40 <= len(exact_suite) <= 80
    assert all(case.dtype is None and case.valid and case.exact for case in exact_suite)
    long = [case for case in exact_suite if case.max_products >= 512]
    assert len(long) >= 8
    assert any(case.groups > 1 and case.in_channels > case.groups for case in long)  # grouped
    assert any(case.groups == 1 for case in long)  # dense
    assert any(case.spatial_rank == 3 for case in long)
    assert {case.spatial_rank for case in exact_suite} == {1, 2, 3}
    assert sum(math.prod(case.output_shape) for case in exact_suite) < 40_000
