"""The cross-check API: targets, outcomes, the Report, reproducers, case selection, vjp, and the assertion
helper for users' own tests."""

import json
import traceback

import numpy as np
import pytest

import convt_oracle
from convt_oracle import compare as C
from convt_oracle.cases.model import Case, make_case
from convt_oracle.errors import Unsupported
from convt_oracle.harness.crosscheck import crosscheck, crosscheck_target
from convt_oracle.harness.report import Report, ReportFormatError
from support import targets as T

SEED = 0


# A small custom suite: configurations (dtype None), one float16-only case, and invalid ones.
CONFIGS = [
    make_case(input_size=(3, 4), kernel_size=(2, 3), in_channels=4, out_channels=6, groups=2, stride=(2, 1),
              padding=((1, 0), (0, 1)), output_padding=(1, 0), bias=True, batch=2, seed=1, name="grouped-2d"),
    make_case(input_size=(5,), kernel_size=(3,), in_channels=2, out_channels=3, dilation=2, bias=True, seed=2),
    make_case(input_size=(2, 2, 3), kernel_size=(2, 1, 2), in_channels=1, out_channels=2, stride=(1, 2, 1), seed=3),
]
FLOAT16_ONLY = make_case(input_size=(4,), kernel_size=(2,), in_channels=3, out_channels=2, dtype="float16",
                         values="large", seed=4, name="float16-overflow")
INVALID = [
    make_case(input_size=(2,), kernel_size=(2,), in_channels=2, out_channels=3, padding=((2, 1),), seed=5),
    make_case(input_size=(3,), kernel_size=(2,), in_channels=3, out_channels=2, groups=2, seed=6),
]
SUITE = CONFIGS + [FLOAT16_ONLY] + INVALID


# --- targets of every kind --------------------------------------------------------------------------------


def returns_a_list(x, w, bias=None, **params):
    return T.lax_reference(x, w, bias, **params).tolist()


def returns_wrong_shape(x, w, bias=None, **params):
    return T.lax_reference(x, w, bias, **params)[..., :-1]


def returns_float64(x, w, bias=None, **params):
    return T.lax_reference(x, w, bias, **params).astype(np.float64)


def raises_on_groups(x, w, bias=None, *, groups, **params):
    if groups > 1:
        raise RuntimeError("grouped convolutions are not implemented")
    return T.lax_reference(x, w, bias, groups=groups, **params)


def accepts_anything(x, w, bias=None, **params):
    """Correct on valid cases, but returns zeros for an invalid one instead of raising."""
    try:
        return T.lax_reference(x, w, bias, **params)
    except ValueError:
        return np.zeros((1,), x.dtype)


def no_dilation(x, w, bias=None, *, dilation, **params):
    if max(dilation) > 1:
        raise Unsupported("this kernel has no dilation")
    return T.lax_reference(x, w, bias, dilation=dilation, **params)


def wrong_vjp_target(x, w, bias=None, **params):
    return T.lax_reference(x, w, bias, **params)


def _doubled_grad_w(x, w, grad_out, bias=None, **params):
    grad_x, grad_w, grad_bias = T.torch_reference.vjp(x, w, grad_out, bias, **params)
    return grad_x, (grad_w.astype(np.float64) * 2).astype(w.dtype), grad_bias


wrong_vjp_target.vjp = _doubled_grad_w


# --- running targets ------------------------------------------------------------------------------------


def test_a_correct_callable_passes_the_article_suite():
    report = crosscheck(T.lax_reference, suite="article", seed=SEED)
    assert report.ok, report.summary()
    assert len(report.results) == 3
    assert {r.outcome for r in report.results} == {C.PASS}
    assert report.suite == "article" and report.dtypes == ("float32",) and report.seed == SEED


def test_a_module_function_string_is_loaded():
    report = crosscheck("support.targets:lax_reference", suite=SUITE, dtypes=("float32", "float16"))
    assert report.ok, report.summary()
    assert report.targets == ("support.targets:lax_reference",)
    assert all(r.target == "support.targets:lax_reference" for r in report.results)
    assert callable(crosscheck_target("support.targets:lax_reference"))


@pytest.mark.parametrize(
    "target, error, words",
    [
        ("support.targets:no_such_function", ValueError, ["support.targets:no_such_function", "module:function"]),
        ("no_such_module_here:f", ValueError, ["no_such_module_here"]),
        ("support.targets:MUTANTS", TypeError, ["not callable"]),
        (42, TypeError, ["int"]),
        ("no-such-adapter", ValueError, ["no-such-adapter", "known adapters"]),
    ],
)
def test_unknown_targets_fail_loudly(target, error, words):
    with pytest.raises(error) as info:
        crosscheck(target, suite="article")
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "target, outcome",
    [
        (returns_a_list, C.SHAPE_MISMATCH),
        (returns_wrong_shape, C.SHAPE_MISMATCH),
        (returns_float64, C.DTYPE_MISMATCH),
    ],
)
def test_a_wrong_result_gets_its_outcome_on_every_case(target, outcome):
    report = crosscheck(target, suite=CONFIGS, dtypes=("float32",))
    assert [r.outcome for r in report.results] == [outcome] * len(CONFIGS)
    assert not report.ok and len(report.discrepancies) == len(CONFIGS)


def test_a_raising_target_gets_raised_and_the_run_continues():
    report = crosscheck(raises_on_groups, suite=CONFIGS, dtypes=("float32", "float64"))
    outcomes = [(r.case.groups, r.outcome) for r in report.results]
    assert outcomes == [(2, C.RAISED), (2, C.RAISED), (1, C.PASS), (1, C.PASS), (1, C.PASS), (1, C.PASS)]
    raised = report.discrepancies[0]
    assert "RuntimeError" in raised.detail and "grouped convolutions" in raised.detail
    assert "grouped convolutions" in raised.message


def test_invalid_cases_raising_pass_and_returning_is_accepted_invalid():
    assert not any(case.valid for case in INVALID)
    rejecting = crosscheck(T.lax_reference, suite=INVALID)
    assert [r.outcome for r in rejecting.results] == [C.PASS, C.PASS]
    assert all("rejected as it should be" in r.detail for r in rejecting.results)
    accepting = crosscheck(accepts_anything, suite=INVALID)
    assert [r.outcome for r in accepting.results] == [C.ACCEPTED_INVALID] * 2
    assert INVALID[0].reason in accepting.results[0].detail  # the golden's reason comes along


def test_unsupported_is_not_a_discrepancy_and_keeps_its_reason():
    report = crosscheck(no_dilation, suite=CONFIGS)
    assert [r.outcome for r in report.results] == [C.PASS, C.UNSUPPORTED, C.PASS]
    assert report.ok and report.discrepancies == ()
    assert report.results[1].detail == "this kernel has no dilation"
    assert report.counts()[report.targets[0]][C.UNSUPPORTED] == 1


def doubles_w_in_place(x, w, bias=None, **params):
    """Writes into the w it was given, then returns the right answer for the modified w."""
    w *= 2
    return T.lax_reference(x, w, bias, **params)


def exits(x, w, bias=None, **params):
    raise SystemExit(3)


def test_a_target_that_writes_into_its_inputs_cannot_change_the_expectation():
    report = crosscheck(doubles_w_in_place, suite=CONFIGS)
    assert [r.outcome for r in report.results] == [C.VALUE_MISMATCH] * len(CONFIGS)
    assert all("modified its input(s) w in place" in r.detail for r in report.results)


def test_a_target_raising_system_exit_is_raised_and_the_run_goes_on():
    report = crosscheck(exits, suite=CONFIGS)
    assert [r.outcome for r in report.results] == [C.RAISED] * len(CONFIGS)
    assert "SystemExit: 3" in report.results[0].detail


def test_results_without_a_comparison_have_no_metrics():
    raised = crosscheck(exits, suite=CONFIGS[:1]).results[0]
    assert raised.comparison is None
    assert (raised.mismatches, raised.max_abs_error, raised.max_bound_ratio, raised.mismatch_percent) == (None,) * 4
    passed = crosscheck(T.lax_reference, suite=CONFIGS[:1]).results[0]
    assert passed.mismatches == 0 and passed.mismatch_percent == 0.0 and passed.elements > 0


# --- the report -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing_report():
    return crosscheck(T.bias_twice, suite=SUITE, dtypes=("float32", "float16"), seed=SEED)


def test_results_carry_case_target_outcome_and_metrics(failing_report):
    results = failing_report.results
    # 3 configurations in 2 dtypes, the float16-only case, and 2 invalid configurations in 2 dtypes
    assert len(results) == 3 * 2 + 1 + 2 * 2
    for result in results:
        assert isinstance(result.case, Case)
        assert result.case.dtype in ("float32", "float16")
        assert result.case_id == result.case.id
        assert result.target == "support.targets:bias_twice" or result.target.endswith(":bias_twice")
        assert result.outcome in C.OUTCOMES
    grouped = next(r for r in results if r.case.name == "grouped-2d" and r.case.dtype == "float32")
    assert grouped.outcome == C.VALUE_MISMATCH  # it has a bias
    assert grouped.mismatches == grouped.comparison.mismatches > 0
    assert grouped.max_abs_error > 0 and grouped.max_bound_ratio > 1
    assert grouped.border_mismatches + grouped.interior_mismatches == grouped.mismatches
    assert grouped.first_mismatches[0].bound > 0
    no_bias = next(r for r in results if r.case.seed == 3)
    assert no_bias.outcome == C.PASS and no_bias.ok
    assert [r.case for r in results].count(FLOAT16_ONLY) == 1


def test_report_ok_and_discrepancies(failing_report):
    assert not failing_report.ok
    assert failing_report.discrepancies == tuple(r for r in failing_report.results if r.outcome not in (C.PASS, C.UNSUPPORTED))
    assert {r.case.bias for r in failing_report.discrepancies} == {True}


def test_summary_names_what_ran_and_what_failed(failing_report):
    text = failing_report.summary()
    assert "suite 'custom'" in text and "float32, float16" in text and f"seed {SEED}" in text
    assert "value_mismatch" in text and "pass" in text
    first = failing_report.discrepancies[0]
    assert first.case_id in text
    assert f"{len(failing_report.discrepancies)} discrepancies" in text
    assert crosscheck(T.lax_reference, suite="article").summary().endswith("OK: no discrepancy")


def test_to_json_holds_every_result_the_environment_and_the_seed(failing_report, tmp_path):
    path = tmp_path / "report.json"
    text = failing_report.to_json(path)
    data = json.loads(text)
    assert json.loads(path.read_text()) == data
    assert data["seed"] == SEED and data["dtypes"] == ["float32", "float16"] and data["suite"] == "custom"
    assert data["ok"] is False
    assert {"python", "numpy", "platform"} <= set(data["environment"])
    assert len(data["results"]) == len(failing_report.results)
    assert [r["case_id"] for r in data["results"]] == [r.case_id for r in failing_report.results]
    assert Case.from_dict(data["results"][0]["case"]) == failing_report.results[0].case
    mismatch = next(r for r in data["results"] if r["outcome"] == C.VALUE_MISMATCH)
    assert mismatch["metrics"]["mismatches"] > 0
    assert 0 < mismatch["metrics"]["mismatch_percent"] <= 100
    assert mismatch["metrics"]["first_mismatches"][0]["index"]


def test_to_json_is_strict_json_with_non_finite_numbers_as_strings():
    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    report = crosscheck(T.nan_output_zeroed, suite=[make_case(input_size=4, kernel_size=2, values="nonfinite", seed=5)])
    data = json.loads(report.to_json(), parse_constant=reject)
    metrics = data["results"][0]["metrics"]
    assert data["results"][0]["outcome"] == C.NONFINITE_MISMATCH
    assert "nan" in {str(m["expected"]) for m in metrics["first_mismatches"]}


def test_a_report_read_back_from_its_json_is_the_same_report(failing_report, tmp_path):
    path = tmp_path / "run.json"
    text = failing_report.to_json(path)
    back = Report.load(path)
    assert back.results == failing_report.results
    assert (back.suite, back.dtypes, back.seed, back.targets) == ("custom", ("float32", "float16"), SEED, failing_report.targets)
    assert back.to_json() == text


def test_a_report_with_non_finite_metrics_reads_back():
    report = crosscheck(T.nan_output_zeroed, suite=[make_case(input_size=4, kernel_size=2, values="nonfinite", seed=5)])
    text = report.to_json()
    back = Report.from_dict(json.loads(text))
    assert back.to_json() == text  # NaN metrics: compared as JSON, since NaN != NaN in the dataclasses
    assert np.isnan(back.results[0].first_mismatches[0].expected) or np.isnan(back.results[0].max_abs_error)


@pytest.mark.parametrize("content, says", [
    ("{", "not JSON"),
    ('{"a": 1}', "not a convt-oracle run report"),
    ('{"suite": "smoke", "results": [], "schema": 1}', "report schema 1"),
    ('{"suite": "smoke", "results": [{"case": {}}], "schema": 2}', "malformed run report"),
])
def test_a_file_that_is_not_a_run_report_of_this_schema_is_refused_with_its_path(tmp_path, content, says):
    path = tmp_path / "old.json"
    path.write_text(content)
    with pytest.raises(ReportFormatError, match=says) as error:
        Report.load(path)
    assert str(path) in str(error.value)


def test_reproducer_of_a_failing_case_runs_and_fails():
    report = crosscheck("support.targets:bias_twice", suite=CONFIGS, dtypes=("float32",))
    failing = report.discrepancies[0]
    code = failing.reproducer()
    assert "support.targets:bias_twice" in code
    with pytest.raises(AssertionError, match="value_mismatch"):
        exec(compile(code, "<reproducer>", "exec"), {})
    # ... and the same text for a passing case runs clean.
    passing = next(r for r in report.results if r.ok)
    exec(compile(passing.reproducer(), "<reproducer>", "exec"), {})


# --- which cases run ------------------------------------------------------------------------------------


def test_max_cases():
    report = crosscheck(T.lax_reference, suite=SUITE, dtypes=("float32", "float64"), max_cases=4)
    assert len(report.results) == 4


def test_dtype_specific_cases_run_only_when_their_dtype_is_asked_for():
    without = crosscheck(T.lax_reference, suite=SUITE, dtypes=("float32",))
    assert FLOAT16_ONLY not in [r.case for r in without.results]
    assert {r.case.dtype for r in without.results} == {"float32"}
    with_f16 = crosscheck(T.lax_reference, suite=SUITE, dtypes=("float16",))
    assert [r.case for r in with_f16.results].count(FLOAT16_ONLY) == 1
    assert len(with_f16.results) == len(without.results) + 1
    assert with_f16.ok, with_f16.summary()


def test_unknown_dtype_is_rejected():
    with pytest.raises(ValueError, match="float8"):
        crosscheck(T.lax_reference, suite="article", dtypes=("float8",))


# --- vector-Jacobian products ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_a_correct_vjp_passes(dtype):
    pytest.importorskip("torch")
    report = crosscheck(T.torch_reference, suite=CONFIGS, dtypes=(dtype,), grad=True)
    assert report.ok, report.summary()
    checks = [r.check for r in report.results]
    assert checks == ["forward", "vjp"] * len(CONFIGS)
    assert [r.case_id for r in report.results if r.check == "vjp"] == [f"{c.with_dtype(dtype).id}:vjp" for c in CONFIGS]


def test_a_wrong_vjp_is_caught():
    pytest.importorskip("torch")
    report = crosscheck(wrong_vjp_target, suite=CONFIGS, dtypes=("float32",), grad=True)
    vjp = [r for r in report.results if r.check == "vjp"]
    assert [r.outcome for r in vjp] == [C.VALUE_MISMATCH] * len(CONFIGS)
    assert all(r.detail == "in grad_w" for r in vjp)
    assert all(r.outcome == C.PASS for r in report.results if r.check == "forward")


def test_a_target_without_vjp_is_unsupported_for_it():
    report = crosscheck(T.lax_reference, suite=CONFIGS, dtypes=("float32",), grad=True)
    assert report.ok
    vjp = [r for r in report.results if r.check == "vjp"]
    assert len(vjp) == len(CONFIGS) and {r.outcome for r in vjp} == {C.UNSUPPORTED}
    assert "vjp" in vjp[0].detail


def test_invalid_cases_get_no_vjp_check():
    pytest.importorskip("torch")
    report = crosscheck(T.torch_reference, suite=INVALID, grad=True)
    assert [r.check for r in report.results] == ["forward", "forward"]


# --- assert_conv_transpose_close --------------------------------------------------------------------------


def _article():
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    params = dict(stride=2, padding=((0, 1), (0, 1)))
    y = np.array([[[[1, 1, 3, 2], [1, 1, 3, 2], [4, 4, 10, 6], [3, 3, 7, 4]]]], np.float32)
    return x, w, params, y


def test_assert_close_passes_on_the_right_answer():
    x, w, params, y = _article()
    comparison = convt_oracle.assert_conv_transpose_close(y, x, w, **params)
    assert comparison.outcome == C.PASS


def test_assert_close_fails_like_numpy_testing():
    x, w, params, y = _article()
    wrong = y.copy()
    wrong[0, 0, 2, 2] = 11
    with pytest.raises(AssertionError) as info:
        convt_oracle.assert_conv_transpose_close(wrong, x, w, **params)
    message = str(info.value)
    assert "value_mismatch" in message
    assert "x(1, 1, 2, 2) float32" in message and "w(1, 1, 3, 3)" in message and "stride=2" in message
    assert "1 of 16 elements (6.25%)" in message
    assert "max |actual - expected| = 1" in message
    assert "at (0, 0, 2, 2) (interior): actual 11.0, expected 10.0" in message
    with pytest.raises(AssertionError, match="dtype_mismatch"):
        convt_oracle.assert_conv_transpose_close(y.astype(np.float64), x, w, **params)


def test_assert_close_names_an_input_dtype_without_a_tolerance():
    x = np.ones((1, 1, 3), np.int32)
    with pytest.raises(TypeError, match="x: dtype int32"):
        convt_oracle.assert_conv_transpose_close(np.ones((1, 1, 4)), x, np.ones((1, 1, 2), np.int32))


def test_assert_close_hides_itself_from_tracebacks():
    x, w, params, y = _article()
    with pytest.raises(AssertionError) as info:
        convt_oracle.assert_conv_transpose_close(y + 1, x, w, **params)
    frames = [frame for frame, _ in traceback.walk_tb(info.tb)]
    helper = [f for f in frames if f.f_code.co_name == "assert_conv_transpose_close"]
    assert helper and helper[0].f_locals.get("__tracebackhide__") is True
    shown = [entry.name for entry in info.traceback.filter(info)]
    assert "assert_conv_transpose_close" not in shown
    assert "test_assert_close_hides_itself_from_tracebacks" in shown


def test_targets_module_is_importable_as_documented():
    loaded = crosscheck_target("support.targets:torch_reference")
    assert callable(loaded) and callable(loaded.vjp)
