"""The precision a target behaves like (convt_oracle.precision, Report.precision) and the tolerance policies of
reduced-precision modes (Tolerance(inputs=...), accumulation by name).

The profiles are measured on the `smoke` suite (seed 0, 60 configurations): enough elements for the bias test
(thousands of errors per dtype) at a fraction of the default suite's time. Expected models and roundings are
what each target does by construction (its docstring), not what the code under test says.
"""

import math

import numpy as np
import pytest

from convt_oracle import compare as C
from convt_oracle.harness.crosscheck import crosscheck
from convt_oracle.harness.report import Report
from convt_oracle.hypotheses import round_to
from convt_oracle.precision import ErrorStats, ladder, profile
from convt_oracle.tolerance import Tolerance
from support import targets as T

SEED = 0


# --- the policies ----------------------------------------------------------------------------------------
def test_tf32_inputs_widen_the_bound_by_the_rounding_of_two_inputs():
    # x = 1 + 2**-12 is exact in float32 and rounds to 1 in TF32 (10 mantissa bits): a TF32 kernel returns 1.
    x = np.array([[[1 + 2.0**-12]]], np.float32)
    w = np.array([[[1.0]]], np.float32)
    actual = np.array([[[1.0]]], np.float32)
    params = dict(stride=(1,), padding=((0, 0),), output_padding=(0,), dilation=(1,), groups=1)
    strict = C.expect(x, w, None, params, "float32")
    tf32 = C.expect(x, w, None, params, "float32", Tolerance(inputs="tf32"))
    assert strict.bound.max() < 2.0**-20  # one product: a few float32 roundings of 1
    assert 2 * 2.0**-11 <= tf32.bound.max() < 4 * 2.0**-11  # eps = 2 u + u**2 with u = 2**-11, times S = 1
    assert C.compare(actual, strict).outcome == C.VALUE_MISMATCH
    assert C.compare(actual, tf32).outcome == C.PASS


def test_rounding_to_a_format_as_precise_as_the_dtype_changes_nothing():
    # float16 has 11 significant bits, as TF32: float16 inputs are exact in TF32; bfloat16 (8 bits) is not.
    assert Tolerance(inputs="tf32").input_roundoff("float16") == 0
    assert Tolerance(inputs="tf32").input_roundoff("bfloat16") == 0
    assert Tolerance(inputs="bfloat16").input_roundoff("float16") == 2.0**-8
    assert Tolerance(inputs="tf32").input_roundoff("float32") == 2.0**-11


def test_accumulation_by_name_applies_to_every_dtype_and_bad_policies_are_named():
    assert Tolerance(accumulation="float16").accumulation_dtype("float32") == "float16"
    assert Tolerance(accumulation="float16").accumulation_dtype("bfloat16") == "float16"
    assert hash(Tolerance(inputs="tf32")) == hash(Tolerance(inputs="tf32"))
    with pytest.raises(ValueError, match=r"inputs: got 'tf31'; expected None .* tf32, bfloat16, float16"):
        Tolerance(inputs="tf31")
    with pytest.raises(ValueError, match=r"accumulation: got 'float8'"):
        Tolerance(accumulation="float8")


def test_the_ladder_leaves_out_roundings_that_lose_nothing():
    assert ladder("float32")[:4] == ((None, "float64"), (None, "float32"), ("tf32", "float32"), ("bfloat16", "float32"))
    assert ("tf32", "float32") not in ladder("float16") and ("bfloat16", "float32") in ladder("float16")
    assert all(inputs is None for inputs, _ in ladder("bfloat16"))


# --- the bias test, on counts written by hand -----------------------------------------------------------
def _stats(toward, away, ratios=(0.5,) * 7):
    return ErrorStats(elements=1000, ratios=ratios[: len(ladder("float32"))], max_relative=2.0**-20,
                      toward_zero=toward, away_from_zero=away)


@pytest.mark.parametrize("toward, away, rounding", [
    (80, 20, "toward zero"),  # z = 60 / 10 = 6, 80 % toward zero
    (70, 30, "nearest"),  # z = 4: not past 6 standard deviations
    (20, 80, "away from zero"),
    (60, 0, "undetermined"),  # 60 errors: too few to say
    (5000, 4000, "nearest"),  # z = 10.5 but 55.6 % only: no more than noise of a structured suite
])
def test_the_bias_test_needs_both_significance_and_a_clear_lean(toward, away, rounding):
    found = profile("t", "float32", "forward", [_stats(toward, away)])
    assert found.rounding == rounding
    assert math.isclose(found.z, (toward - away) / math.sqrt(toward + away))


def test_the_model_is_the_tightest_that_holds_everywhere_and_bits_count_the_worst_error():
    ratios = (3.0, 0.9, 0.1, 0.01, 0.95, 0.001, 0.001)  # float16 accumulation fits more tightly than TF32 inputs
    found = profile("t", "float32", "forward", [_stats(50, 50, ratios), _stats(50, 50, (0.5,) * 7)])
    assert found.model == (None, "float16") and found.worst_ratio == 0.95
    assert found.bits == 20.0 and found.results == 2 and found.elements == 2000
    nothing = profile("t", "float32", "forward", [_stats(50, 50, (9.0,) * 7)])
    assert nothing.model is None and "none of the models fits" in nothing.words()


# --- profiles of targets whose precision is known by construction ---------------------------------------
def _tf32_inputs(x, w, bias=None, **params):
    """Inputs rounded to TF32 (to nearest even), then the exact sum rounded to the dtype."""
    rounded = [None if a is None else round_to(a, "tf32") for a in (x, w, bias)]
    return T.lax_reference(*(None if a is None else a.astype(x.dtype) for a in rounded), **params)


@pytest.mark.parametrize("target, dtype, model", [
    ("lax_reference", "float32", (None, "float64")),  # exact sum, one rounding: as precise as float64 accumulation
    ("inputs_rounded_to_bfloat16", "float32", ("bfloat16", "float32")),
    ("accumulate_in_input_dtype", "float16", (None, "float16")),
    ("tf32_inputs", "float32", ("tf32", "float32")),
])
def test_the_profile_names_the_precision_a_target_has(target, dtype, model):
    function = _tf32_inputs if target == "tf32_inputs" else getattr(T, target)
    report = crosscheck(function, suite="smoke", dtypes=(dtype,), seed=SEED)
    (found,) = report.precision()
    print(f"seed {SEED}: {target} {dtype}: {found.words()}")
    assert found.model == model, found.words()
    assert found.rounding == "nearest", found.words()
    assert found.errors >= 1000


def test_torch_in_float32_behaves_like_a_float32_accumulation():
    pytest.importorskip("torch", reason="torch is not installed: torch_reference's profile cannot be measured")
    report = crosscheck(T.torch_reference, suite="smoke", dtypes=("float32",), seed=SEED)
    (found,) = report.precision()
    assert found.model == (None, "float32") and found.rounding == "nearest", found.words()
    assert report.ok


@pytest.mark.parametrize("dtype", T.SUITE_MUTANTS["rounds_toward_zero"])
def test_rounding_toward_zero_fails_the_report_though_values_pass(dtype):
    report = crosscheck(T.rounds_toward_zero, suite="smoke", dtypes=(dtype,), seed=SEED)
    (found,) = report.precision()
    print(f"seed {SEED}: rounds_toward_zero {dtype}: {found.words()}; {report.counts()}")
    assert found.rounding == "toward zero" and found.toward_zero / found.errors > 0.99
    assert not report.ok and "ROUNDING BIASED" in report.verdict()
    if dtype == "float32":  # no element is outside its bound: only the distribution shows the mistake
        assert not report.discrepancies
    assert all(r.diagnosis.name == "rounded_toward_zero" for r in report.discrepancies), report.summary()


def test_correct_targets_round_to_nearest_in_every_dtype():
    for dtype in ("float64", "float32", "float16", "bfloat16"):
        report = crosscheck(T.loop_reference, suite="smoke", dtypes=(dtype,), seed=SEED)
        (found,) = report.precision()
        assert found.rounding in ("nearest", "undetermined") and report.ok, found.words()


def test_structural_discrepancies_are_left_out_and_the_profile_survives_json():
    report = crosscheck(T.bias_twice, suite="smoke", dtypes=("float32",), seed=SEED)
    (found,) = report.precision()
    assert found.left_out == sum(1 for r in report.discrepancies if r.diagnosis and r.diagnosis.name == "bias_twice") > 0
    loaded = Report.from_dict(__import__("json").loads(report.to_json()))
    assert [p.to_dict() for p in loaded.precision()] == [p.to_dict() for p in report.precision()]
    assert "precision (what each target behaves like)" in report.summary()


# --- the gate: what changed in a target's precision between two runs -------------------------------------
def test_the_gate_fails_where_a_target_starts_rounding_toward_zero(tmp_path):
    from convt_oracle.harness import ci_reports
    from convt_oracle.harness.gate import PRECISION_LOST, gate

    name = "kernel"
    before = crosscheck(T.loop_reference, suite="smoke", dtypes=("float32",), seed=SEED)
    after = crosscheck(T.rounds_toward_zero, suite="smoke", dtypes=("float32",), seed=SEED)
    paths = []
    for label, report in (("baseline", before), ("candidate", after)):
        data = __import__("json").loads(report.to_json())
        data["targets"] = [name]
        for result in data["results"]:
            result["target"] = name
        path = tmp_path / f"{label}.json"
        path.write_text(__import__("json").dumps(data))
        paths.append(str(path))
    result = gate(*paths)
    (change,) = result.precision
    assert change.category == PRECISION_LOST and change.candidate.rounding == "toward zero"
    assert not result.ok and "precision_lost 1" in result.verdict()
    assert result.counts()[PRECISION_LOST] == 1 and result.counts()["new_failure"] == 0  # values within their bounds
    assert "rounds toward zero" in ci_reports.gate_markdown(result)
    assert 'type="precision"' in ci_reports.gate_junit(result)
    assert gate(paths[0], paths[0]).ok and not gate(paths[0], paths[0]).precision
