"""The shrinker (oracle/harness/shrink.py) on the wrong targets of tests/support/targets.py, and the `integers`
value kind it ends with (cases/model.py)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

import convt_oracle
from convt_oracle import compare as C
from convt_oracle.cases import coverage, suites
from convt_oracle.cases.model import ALL_VALUE_KINDS, VALUE_KINDS, Case, make_case
from convt_oracle.harness.crosscheck import check_case, crosscheck
from convt_oracle.harness.shrink import Shrunk, diagnosis_name, shrink
from support import targets as T

# --- the `integers` value kind -----------------------------------------------------------------------------

INTEGER_CASES = [
    make_case(input_size=1, kernel_size=1, values="integers", seed=0),
    make_case(input_size=3, kernel_size=2, bias=True, values="integers", seed=1),
    make_case(input_size=(4, 5), kernel_size=(3, 2), in_channels=4, out_channels=6, groups=2, stride=2,
              padding=((1, 0), (0, 1)), bias=True, batch=2, values="integers", seed=2),
    make_case(input_size=(2, 3, 2), kernel_size=(2, 2, 3), in_channels=3, out_channels=2, dilation=(1, 2, 1),
              values="integers", seed=3),
    make_case(input_size=(5, 5), kernel_size=(5, 5), in_channels=40, out_channels=3, values="integers", seed=4),
    make_case(input_size=6, kernel_size=7, in_channels=400, out_channels=2, bias=True, values="integers", seed=5),
]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("config", INTEGER_CASES, ids=lambda case: case.id)
def test_integers_are_small_exact_and_every_sum_is_exact(config, dtype):
    case = config.with_dtype(dtype)
    x, w, bias = case.arrays()
    arrays = [a.astype(np.float64) for a in (x, w) + (() if bias is None else (bias,))]
    for array in arrays:
        assert np.array_equal(array, np.round(array)) and np.abs(array).max() <= 3 and array.any()
        if array.size >= 2:
            assert (array > 0).any() and (array < 0).any(), "both signs"
    for axis in range(2, w.ndim):
        assert w.shape[axis] == 1 or not np.array_equal(w, np.flip(w, axis)), f"w mirror-symmetric along axis {axis}"
    # Every partial sum is bounded by the sum of |terms|: within float16's exact integers (2048), bfloat16's
    # (256) for a bfloat16 case, wherever the reduction is short enough for values of magnitude 1 (the
    # documented bound: K + 1 <= the limit); past it the magnitude is 1 and exactness is not promised.
    limit = 256 if dtype == "bfloat16" else 2048
    if case.reduction_length + 1 > limit:
        assert case.integer_magnitude() == 1
        return
    absolute = np.abs(arrays[2]) if bias is not None else None
    magnitude = convt_oracle.conv_transpose(np.abs(arrays[0]), np.abs(arrays[1]), absolute, **case.params())
    assert magnitude.max() <= limit
    # So a computation that accumulates in the narrow dtype itself is exactly right.
    exact = convt_oracle.conv_transpose(*arrays[:2], arrays[2] if bias is not None else None, **case.params())
    narrow = T.accumulate_in_input_dtype(x, w, bias, **case.params())
    assert np.array_equal(narrow.astype(np.float64), exact)


def test_integers_are_deterministic_and_the_same_in_another_process():
    case = INTEGER_CASES[2].with_dtype("float32")
    again = make_case(**_args(case))  # built again, separately
    assert again.id == case.id and case.id.endswith("-vintegers-r2")
    first = case.arrays()
    for a, b in zip(first, again.arrays()):
        assert np.array_equal(a, b)
    code = (
        "import sys, json; from convt_oracle.cases.model import Case; "
        "case = Case.from_dict(json.loads(sys.argv[1])); "
        "print(';'.join(','.join(str(v) for v in a.reshape(-1).tolist()) for a in case.arrays()))"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(case.to_dict())], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ";".join(",".join(str(v) for v in a.reshape(-1).tolist()) for a in first)
    assert not np.array_equal(first[0], make_case(**_args(case, seed=3)).arrays()[0]), "another seed, other values"


def _args(case: Case, **changes) -> dict:
    """make_case's arguments for `case`, with `changes`."""
    return dict(
        batch=case.batch, in_channels=case.in_channels, out_channels=case.out_channels, groups=case.groups,
        input_size=case.input_size, kernel_size=case.kernel_size, stride=case.stride, dilation=case.dilation,
        padding=case.padding, output_padding=case.output_padding, bias=case.bias, dtype=case.dtype,
        seed=case.seed, mode=case.mode, values=case.values,
    ) | changes


def test_integers_cotangent_is_integers_too():
    case = INTEGER_CASES[1].with_dtype("float32")
    grad_out = case.cotangent().astype(np.float64)
    assert np.array_equal(grad_out, np.round(grad_out)) and np.abs(grad_out).max() <= 3 and grad_out.any()


def test_integers_is_a_kind_no_suite_draws():
    assert "integers" in ALL_VALUE_KINDS and "integers" not in VALUE_KINDS
    assert "integers" not in coverage.FEATURES["values"]
    with pytest.raises(ValueError, match="values: got 'whole'; expected one of .*integers"):
        make_case(input_size=2, kernel_size=2, values="whole")


# --- shrinking the mutants -------------------------------------------------------------------------------

PER_AXIS = ("input_size", "kernel_size", "stride", "dilation", "output_padding")


def no_bigger(small: Case, big: Case) -> bool:
    """Whether `small` is no bigger than `big` on every dimension: some choice of `big`'s axes has every
    per-axis parameter at least `small`'s, and every other count is at least `small`'s."""
    if small.spatial_rank > big.spatial_rank:
        return False
    counts = all(getattr(small, k) <= getattr(big, k) for k in ("batch", "in_channels", "out_channels", "groups"))
    if not counts or small.bias > big.bias:
        return False
    for axes in itertools.combinations(range(big.spatial_rank), small.spatial_rank):
        if all(
            getattr(small, key)[a] <= getattr(big, key)[b] for key in PER_AXIS for a, b in enumerate(axes)
        ) and all(small.padding[a][end] <= big.padding[b][end] for a, b in enumerate(axes) for end in (0, 1)):
            return True
    return False


def first_failure(mutant: str, dtype="float32", suite="default", max_cases=120):
    report = crosscheck(getattr(T, mutant), suite=suite, dtypes=(dtype,), max_cases=max_cases)
    assert report.discrepancies, f"{mutant}: no discrepancy in the first {max_cases} cases"
    return report.discrepancies[0]


# (mutant, what its docstring says exposes it, checked on the shrunk case)
EXPOSED_BY = {
    "output_padding_at_start": lambda case: max(case.output_padding) > 0,
    "bias_twice": lambda case: case.bias,
    "crop_ends_swapped": lambda case: any(b != e for b, e in case.padding),
    "batch_from_first_sample": lambda case: case.batch > 1,
    "stride_and_dilation_swapped": lambda case: case.stride != case.dilation,
    "unflipped_kernel": lambda case: max(case.kernel_size) > 1,
}


@pytest.mark.parametrize("mutant", list(EXPOSED_BY))
def test_shrunk_case_is_smaller_and_fails_the_same_way(mutant):
    failing = first_failure(mutant)
    shrunk = shrink(getattr(T, mutant), failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert isinstance(shrunk, Shrunk) and shrunk.complete
    assert no_bigger(shrunk.case, failing.case)
    assert shrunk.case.dtype == failing.case.dtype and shrunk.case.seed == failing.case.seed
    again = check_case(getattr(T, mutant), shrunk.case, "again")
    assert again.outcome == failing.outcome == shrunk.result.outcome
    assert shrunk.result.case == shrunk.case
    assert EXPOSED_BY[mutant](shrunk.case)
    assert shrunk.case.spatial_rank == 1 and shrunk.case.batch <= 2 and shrunk.case.mode == "explicit"
    assert len(shrunk.steps) >= 1 and shrunk.tries > len(shrunk.steps) and shrunk.seconds > 0


def test_bias_twice_shrinks_to_the_smallest_case_with_a_bias():
    failing = first_failure("bias_twice")
    shrunk = shrink(T.bias_twice, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    small = shrunk.case
    assert (small.spatial_rank, small.batch, small.in_channels, small.out_channels, small.input_size,
            small.kernel_size, small.stride, small.dilation, small.padding, small.output_padding, small.bias) == (
        1, 1, 1, 1, (1,), (1,), (1,), (1,), ((0, 0),), (0,), True)
    assert small.values == "integers"
    assert f"batch {failing.case.batch} -> 1" in shrunk.steps or failing.case.batch == 1


def test_each_step_reads_as_one_move_and_replays():
    failing = first_failure("output_padding_at_start")
    shrunk = shrink(T.output_padding_at_start, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert all(" -> " in step for step in shrunk.steps)
    assert any(step.startswith(("spatial axes", "channels", "input_size", "kernel_size")) for step in shrunk.steps)


def test_the_nonfinite_values_stay_where_they_are_the_point():
    case = make_case(input_size=(3, 4), kernel_size=2, in_channels=2, out_channels=2, values="nonfinite",
                     dtype="float32", seed=5)
    failing = check_case(T.nonfinite_inputs_zeroed, case, "t")
    assert failing.outcome == C.NONFINITE_MISMATCH
    shrunk = shrink(T.nonfinite_inputs_zeroed, case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert shrunk.case.values == "nonfinite" and shrunk.result.outcome == C.NONFINITE_MISMATCH
    assert no_bigger(shrunk.case, case) and shrunk.case.spatial_rank == 1


def test_a_float16_accumulation_keeps_a_reduction_long_enough():
    failing = first_failure("accumulate_in_input_dtype", dtype="float16")
    shrunk = shrink(T.accumulate_in_input_dtype, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert no_bigger(shrunk.case, failing.case) and shrunk.result.outcome == failing.outcome
    assert shrunk.case.values != "integers", "integers sum exactly in float16: they cannot expose it"
    assert shrunk.case.reduction_length > 1


def test_the_mode_stays_where_the_framework_call_needs_it():
    """A target wrong only in `same` mode (an adapter-like call_case): the shrunk case keeps the mode."""

    class WrongWhenSame:
        name = "wrong-when-same"

        def call_case(self, case, x, w, bias):
            out = T.lax_reference(x, w, bias, **case.params())
            return out * 2 if case.mode == "same" else out

        def __call__(self, x, w, bias=None, **params):
            return T.lax_reference(x, w, bias, **params)

    case = make_case(input_size=(3, 3), kernel_size=3, stride=2, in_channels=2, out_channels=2, mode="same",
                     dtype="float32", seed=3)
    target = WrongWhenSame()
    failing = check_case(target, case, target.name)
    shrunk = shrink(target, case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert shrunk.case.mode == "same" and shrunk.result.target == "wrong-when-same"
    assert no_bigger(shrunk.case, case) and shrunk.case.spatial_rank == 1


def _golden_vjp_grad_bias_doubled(x, w, grad_out, bias=None, **params):
    grad_x, grad_w, grad_bias = convt_oracle.conv_transpose_vjp(x, w, grad_out, bias, **params)
    cast = [None if g is None else g.astype(x.dtype) for g in (grad_x, grad_w, grad_bias)]
    if cast[2] is not None:
        cast[2] = (cast[2] * 2).astype(x.dtype)
    return tuple(cast)


def grad_bias_doubled(x, w, bias=None, **params):
    return T.lax_reference(x, w, bias, **params)


grad_bias_doubled.vjp = _golden_vjp_grad_bias_doubled


def test_a_vjp_failure_shrinks_with_check_vjp():
    case = make_case(input_size=(4, 3), kernel_size=2, in_channels=2, out_channels=4, groups=2, batch=3,
                     bias=True, dtype="float32", seed=8)
    failing = crosscheck(grad_bias_doubled, suite=[case], grad=True).discrepancies[0]
    assert failing.check == "vjp"
    shrunk = shrink(grad_bias_doubled, case, check="vjp", outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert shrunk.result.check == "vjp" and shrunk.result.outcome == failing.outcome
    assert shrunk.case.bias and shrunk.case.spatial_rank == 1 and shrunk.case.batch == 1
    assert shrunk.case.out_channels == 1 and shrunk.case.in_channels == 1


def test_a_spent_budget_returns_the_original_marked_incomplete():
    failing = first_failure("bias_twice")
    shrunk = shrink(T.bias_twice, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing), budget=1e-9)
    assert not shrunk.complete and shrunk.case == failing.case and shrunk.steps == () and shrunk.tries == 1
    assert shrunk.result.outcome == failing.outcome


def test_a_target_given_by_name_and_an_adapter_like_object():
    failing = first_failure("bias_twice")
    shrunk = shrink("support.targets:bias_twice", failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    assert shrunk.result.target == "support.targets:bias_twice" and shrunk.case.bias
    named = shrink(T.bias_twice, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing), name="mine")
    assert named.result.target == "mine" and named.case == shrunk.case


# --- the same diagnosis, and bad arguments ---------------------------------------------------------------


def biased_failure():
    """bias_twice on a small case with a bias: a value_mismatch."""
    case = make_case(input_size=3, kernel_size=2, in_channels=2, out_channels=2, bias=True, dtype="float32", seed=1)
    result = check_case(T.bias_twice, case, "support.targets:bias_twice")
    assert result.outcome == C.VALUE_MISMATCH
    return result



def test_the_diagnosis_name_must_match_too():
    """The case must fail with the diagnosis named: bias_twice's is `bias_twice`, not `bias_missing`, and not
    None; every shrunk step keeps `bias_twice`."""
    failing = first_failure("bias_twice")
    assert diagnosis_name(failing) == "bias_twice"
    for other in ("bias_missing", None):
        with pytest.raises(ValueError, match=r"not value_mismatch \(diagnosis .*\): nothing to shrink"):
            shrink(T.bias_twice, failing.case, outcome=failing.outcome, diagnosis=other)
    shrunk = shrink(T.bias_twice, failing.case, outcome=failing.outcome, diagnosis="bias_twice")
    assert diagnosis_name(shrunk.result) == "bias_twice"


def test_a_case_that_does_not_fail_so_is_refused():
    failing = first_failure("bias_twice")
    with pytest.raises(ValueError, match=r"case: .* gives pass .* not value_mismatch"):
        shrink(T.lax_reference, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing))
    with pytest.raises(ValueError, match=r"gives value_mismatch .* not shape_mismatch"):
        shrink(T.bias_twice, failing.case, outcome="shape_mismatch", diagnosis=None)


@pytest.mark.parametrize("budget", [0, -1, float("inf"), float("nan"), "10", True, None])
def test_a_bad_budget_is_a_value_error_naming_it(budget):
    failing = biased_failure()
    with pytest.raises(ValueError, match=r"^budget: got .*; expected a positive, finite number of seconds"):
        shrink(T.bias_twice, failing.case, outcome=failing.outcome, diagnosis=diagnosis_name(failing), budget=budget)


@pytest.mark.parametrize("check", ["backward", "Forward", None])
def test_a_bad_check_is_a_value_error_naming_it(check):
    failing = biased_failure()
    with pytest.raises(ValueError, match=r"^check: got .*; expected one of 'forward', 'vjp'"):
        shrink(T.bias_twice, failing.case, check=check, outcome=failing.outcome, diagnosis=None)


@pytest.mark.parametrize("outcome", ["pass", "unsupported", "wrong"])
def test_an_outcome_that_is_no_discrepancy_is_refused(outcome):
    failing = biased_failure()
    with pytest.raises(ValueError, match=r"^outcome: got .*; expected a discrepancy"):
        shrink(T.bias_twice, failing.case, outcome=outcome, diagnosis=None)


def test_a_case_without_dtype_is_refused():
    with pytest.raises(ValueError, match="case: .* expected a Case with a dtype"):
        shrink(T.bias_twice, suites.get("smoke")[0].with_dtype(None), outcome="value_mismatch", diagnosis=None)
