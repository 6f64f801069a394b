"""The diagnosis (convt_oracle.diagnosis, convt_oracle.hypotheses): what kind of wrong a discrepancy is.

Hand-made results with the mistake written out (a crop of the other end, a bias added twice, a result
shifted by one) must be named so, with their parameters; the mutants of tests/support/targets.py must be
named by the mistake they make on most of their discrepancies (the full table: benchmarks/
diagnosis_mutants.py, README); a mutant that adds random noise, and a result right on some elements only,
must be `unexplained`: a diagnosis is never invented. The default suite's seed is SEED (CONVT_MUTATION_SEED).
"""

import json
import os

import numpy as np
import pytest

from convt_oracle import compare as C
from convt_oracle.cases import suites
from convt_oracle.cases.model import make_case
from convt_oracle.diagnosis import REGISTRY, UNEXPLAINED, Candidate, Diagnosis, diagnose, hypothesis
from convt_oracle.harness.crosscheck import check_case, crosscheck
from convt_oracle.harness.report import Report
from support import targets as T

SEED = int(os.environ.get("CONVT_MUTATION_SEED", "0"))


def _diagnose(case, actual, x=None, w=None, bias=None):
    if x is None:
        x, w, bias = case.arrays()
    expected = C.expect(x, w, bias, case.params(), case.dtype)
    comparison = C.compare(actual, expected)
    assert not comparison.ok, "the hand-made result must be a discrepancy"
    return diagnose(case, x, w, bias, actual, expected, outcome=comparison.outcome)


def test_a_crop_of_the_other_end_is_crop_swapped_and_also_a_shift():
    # x = [1, 2], kernel of three ones, stride 2: full result [1, 1, 3, 2, 2]; crop (0, 1) gives [1, 1, 3, 2];
    # the other end, (1, 0), gives [1, 3, 2, 2] (Keras 3.10's torch backend with 'same').
    case = make_case(input_size=2, kernel_size=3, stride=2, padding=[(0, 1)], dtype="float32")
    x = np.array([[[1.0, 2.0]]], np.float32)
    w = np.ones((1, 1, 3), np.float32)
    actual = np.array([[[1.0, 3.0, 2.0, 2.0]]], np.float32)
    diagnosis = _diagnose(case, actual, x, w, None)
    assert diagnosis.name == "crop_swapped"
    assert "shifted" in diagnosis.also
    assert "(1, 0)" in diagnosis.sentence


def test_a_shift_names_its_offset():
    case = make_case(input_size=(4, 5), kernel_size=(2, 2), in_channels=2, out_channels=3, dtype="float64", seed=3)
    x, w, bias = case.arrays()
    full = C.expect(x, w, None, {**case.params(), "output_padding": (3, 3)}, "float64").value
    actual = full[:, :, 0:5, 1:7]  # every element holds the value one column to its right
    diagnosis = _diagnose(case, actual, x, w, bias)
    assert (diagnosis.name, diagnosis.params) == ("shifted", {"offset": [0, 1]})


def test_bias_added_twice_missing_and_per_group():
    case = make_case(input_size=3, kernel_size=2, in_channels=4, out_channels=4, groups=2, bias=True,
                     dtype="float32", seed=5)
    x, w, bias = case.arrays()
    golden = C.expect(x, w, None, case.params(), "float64").value
    spread = bias.astype(np.float64).reshape(-1, 1)
    first_group = np.tile(bias[:2], 2).astype(np.float64).reshape(-1, 1)
    for actual, name in ((golden + 2 * spread, "bias_twice"), (golden, "bias_missing"), (golden + first_group, "bias_per_group")):
        assert _diagnose(case, actual.astype(np.float32), x, w, bias).name == name


def test_another_batch_elements_result_is_wrong_batch():
    case = make_case(input_size=3, kernel_size=2, batch=3, dtype="float32", seed=1)
    x, w, bias = case.arrays()
    golden = C.expect(x, w, bias, case.params(), "float32").value.astype(np.float32)
    diagnosis = _diagnose(case, golden[[0, 0, 2]], x, w, bias)
    assert (diagnosis.name, diagnosis.params) == ("wrong_batch", {"from": [0, 0, 2]})


def test_a_result_right_on_some_elements_only_is_unexplained():
    case = make_case(input_size=5, kernel_size=3, stride=2, padding=[(0, 1)], dtype="float32", seed=2)
    x, w, bias = case.arrays()
    golden = C.expect(x, w, bias, case.params(), "float64").value
    actual = golden.copy()
    actual[..., :3] = np.roll(golden, -1, axis=-1)[..., :3]  # shifted at the start, right after it
    assert _diagnose(case, actual.astype(np.float32), x, w, bias).name == UNEXPLAINED


def test_the_message_never_divides_by_a_vanishing_bound():
    # Stride 3 with a 1-tap kernel leaves holes no product reaches: expected 0, bound ~1e-45.
    case = make_case(input_size=3, kernel_size=1, stride=3, dtype="float32")
    x, w, bias = case.arrays()
    expected = C.expect(x, w, bias, case.params(), "float32")
    actual = expected.value.astype(np.float32) + 0.5
    comparison = C.compare(actual, expected)
    assert comparison.outcome == C.VALUE_MISMATCH
    assert comparison.max_error_where_zero == 0.5
    assert comparison.max_bound_ratio < 1e10, comparison.max_bound_ratio
    assert "max |actual| = 0.5" in comparison.message
    assert "e+4" not in comparison.message  # no 1e46


def test_a_registered_hypothesis_is_used_and_names_are_unique():
    @hypothesis("doubled_everything_for_test")
    def doubled(context):
        yield Candidate({}, context.expect(x=2 * context.x64), "every input doubled")

    try:
        case = make_case(input_size=3, kernel_size=2, dtype="float64", seed=9)
        x, w, bias = case.arrays()
        actual = 2 * C.expect(x, w, bias, case.params(), "float64").value
        assert _diagnose(case, actual, x, w, bias).name == "doubled_everything_for_test"
        with pytest.raises(ValueError, match="already registered"):
            hypothesis("doubled_everything_for_test")(doubled)
    finally:
        REGISTRY.pop("doubled_everything_for_test")


def test_the_diagnosis_is_in_the_result_the_json_the_summary_and_the_message(tmp_path):
    report = crosscheck(T.crop_ends_swapped, suite="default", dtypes=("float32",), seed=SEED, max_cases=120)
    wrong = [r for r in report.results if not r.ok]
    assert wrong, "crop_ends_swapped must fail on asymmetric crops of the default suite"
    assert all(r.diagnosis is not None and r.diagnosis.name == "crop_swapped" for r in wrong)
    assert all(r.diagnosis is None for r in report.results if r.ok)
    assert "diagnosis: crop_swapped" in wrong[0].message and "diagnosis: crop_swapped" in report.summary()
    path = tmp_path / "run.json"
    report.to_json(path)
    assert json.loads(path.read_text())["results"][report.results.index(wrong[0])]["diagnosis"]["name"] == "crop_swapped"
    assert Report.load(path).results[report.results.index(wrong[0])].diagnosis == wrong[0].diagnosis
    assert Diagnosis.from_dict(wrong[0].diagnosis.to_dict()) == wrong[0].diagnosis


def _first_discrepancies(mutant, dtype, limit):
    found = []
    for case in suites.expand(suites.get("default", seed=SEED), (dtype,)):
        result = check_case(getattr(T, mutant), case, mutant)
        if not result.ok and result.diagnosis is not None:
            found.append(result)
            if len(found) == limit:
                break
    return found


NAMED = [name for name in T.MUTANTS if T.MUTANT_DIAGNOSIS[name] is not None]


@pytest.mark.parametrize("mutant", NAMED)
def test_the_diagnosis_names_the_mutation(mutant):
    dtypes = T.MUTANT_DTYPES[mutant]
    dtype = "float32" if "float32" in dtypes else dtypes[0]
    expected = T.MUTANT_DIAGNOSIS[mutant]
    found = _first_discrepancies(mutant, dtype, 12)
    assert found, f"seed {SEED}: {mutant} had no diagnosed discrepancy in {dtype}"
    named = [r for r in found if r.diagnosis.name == expected or expected in r.diagnosis.also]
    print(f"seed {SEED}: {mutant} ({dtype}): {len(named)} of the first {len(found)} discrepancies named {expected}")
    if expected == UNEXPLAINED:  # never invented: every one
        assert len(named) == len(found), [(r.case_id, str(r.diagnosis)) for r in found if r not in named]
    else:
        assert len(named) >= 0.75 * len(found), [(r.case_id, str(r.diagnosis)) for r in found if r not in named]


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_random_noise_is_unexplained_in_every_dtype(dtype):
    found = _first_discrepancies("random_noise", dtype, 12)
    assert found and all(r.diagnosis.name == UNEXPLAINED for r in found), [str(r.diagnosis) for r in found]


def test_a_group_s_nan_in_the_others_is_nan_across_groups():
    # jax 0.10.2's float64 grouped convolution (README, Findings): group 0 finite, group 1 NaN gives [nan, nan].
    case = make_case(input_size=1, kernel_size=1, in_channels=2, out_channels=2, groups=2, dtype="float64")
    x = np.array([[[1.0], [np.nan]]])
    w = np.ones((2, 1, 1))
    diagnosis = _diagnose(case, np.array([[[np.nan], [np.nan]]]), x, w, None)
    assert diagnosis.name == "nan_across_groups"


def test_rounded_products_and_a_sum_in_the_dtype_are_told_apart():
    # TF's Eigen bfloat16 (README, Findings): x0*w1 + x1*w0 with each product rounded to bfloat16 is 1.109375;
    # the exact 1.11566162109375 rounds to 1.1171875.
    import ml_dtypes

    bf16 = np.dtype(ml_dtypes.bfloat16)
    case = make_case(input_size=2, kernel_size=2, dtype="bfloat16")
    x = np.array([[[-1.6328125, -1.96875]]]).astype(bf16)
    w = np.array([[[1.0078125, -1.8984375]]]).astype(bf16)
    golden = C.expect(x, w, None, case.params(), "bfloat16").value
    actual = golden.astype(bf16)
    actual[0, 0, 1] = 1.109375
    assert _diagnose(case, actual, x, w, None).name == "products_rounded"
    # torch's float16 taps summed in float16 (README, Findings): -2048 + 1 * 7 + 2048 = 0, not 7.
    case = make_case(input_size=9, kernel_size=9, dtype="float16")
    x = np.array([[[-2048, 1, 1, 1, 1, 1, 1, 1, 2048]]], np.float16)
    w = np.ones((1, 1, 9), np.float16)
    actual = C.expect(x, w, None, case.params(), "float16").value.astype(np.float16)
    actual[0, 0, 8] = 0.0
    diagnosis = _diagnose(case, actual, x, w, None)
    assert diagnosis.name == "accumulated_in_dtype" and "products_rounded" not in diagnosis.also


def test_the_gate_s_reports_carry_the_diagnosis(tmp_path):
    """A baseline run of a correct target and a candidate run of a wrong one under the same name: the gate's
    Markdown, HTML and JUnit name each new failure's diagnosis."""
    pytest.importorskip("jinja2")
    from convt_oracle.harness import ci_reports
    from convt_oracle.harness.gate import gate

    good = crosscheck(T.lax_reference, suite="default", dtypes=("float32",), seed=SEED, max_cases=60)
    bad = crosscheck(T.crop_ends_swapped, suite="default", dtypes=("float32",), seed=SEED, max_cases=60)
    assert not bad.ok
    paths = tmp_path / "old.json", tmp_path / "new.json"
    good.to_json(paths[0])
    bad.to_json(paths[1])
    result = gate(str(paths[0]), str(paths[1]))
    wrong = len(bad.discrepancies)
    assert ci_reports.gate_markdown(result).count("crop_swapped") >= wrong
    assert ci_reports.gate_html(result).count("crop_swapped") >= wrong
    junit = ci_reports.gate_junit(result)
    assert junit.count("diagnosis: crop_swapped") >= wrong
    assert ci_reports.run_markdown(bad).count("crop_swapped") >= wrong
