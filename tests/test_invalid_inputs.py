"""Invalid inputs of every kind (cases/invalid.py): the case model states each defect, the golden rejects each with
a message naming the argument, and every installed CPU framework is asked at least 30 of them, each rejected or
a known finding.

Shapes and ids are written here by hand, not computed by the code under test. The framework runs go through
convt_oracle.harness.run (each adapter in its own worker, as `convt-oracle run` does), so that an abort is one
`crash` and Keras gets a process per backend.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import convt_oracle
from convt_oracle.cases import invalid as invalid_cases
from convt_oracle.cases import suites
from convt_oracle.cases.model import DEFECTS, Case, make_case
from convt_oracle.harness import known
from convt_oracle.harness.crosscheck import check_case
from convt_oracle.harness.run import installed_targets, run
from convt_oracle.harness.targets import TargetSpec

ASKED_AT_LEAST = 30  # invalid cases each CPU framework must be asked (not `unsupported`)
CPU_ADAPTERS = {  # adapter -> the modules it needs (its `framework` marker)
    "torch": ("torch",), "torch-channels-last": ("torch",), "tensorflow": ("tensorflow",), "jax": ("jax",),
    "keras-jax": ("keras", "jax"), "keras-torch": ("keras", "torch"), "keras-tensorflow": ("keras", "tensorflow"),
    "onnxruntime": ("onnxruntime", "onnx"), "onnx_reference": ("onnx",),
}


def by_name() -> dict[str, Case]:
    return {case.name: case for case in suites.get("invalid")}


# --- the case model ------------------------------------------------------------------------------------------------


def test_the_invalid_suite_has_every_defect_and_enough_cases():
    cases = suites.get("invalid")
    assert len(cases) >= 40
    assert all(not case.valid and case.defect in DEFECTS and case.name.startswith("invalid-") for case in cases)
    assert {case.defect for case in cases} == set(DEFECTS)
    assert len({case.seed for case in cases}) == len(cases)  # a fixed seed each
    assert [case.id for case in suites.get("invalid")] == [case.id for case in invalid_cases.invalid()]


def test_ids_show_the_defect_and_its_data():
    cases = by_name()
    assert cases["invalid-bias-one-too-long-2d"].id == (
        "2d-b1-c2x3-g1-i3x4-k2x2-s1x1-d1x1-p0.0x0.0-op0x0-bias-any-mvalid-invalid_bias_length-biaslen4-r19")
    assert cases["invalid-weight-in-channels-1d"].id == (
        "1d-b1-c2x3-g1-i5-k3-s1-d1-p0.0-op0-nobias-any-mexplicit-invalid_weight_in_channels-wcin4-r26")
    assert cases["invalid-output-shape-past-full-2d"].id == (
        "2d-b1-c2x3-g1-i3x4-k3x3-s2x2-d1x1-p0.0x0.0-op0x0-nobias-any-moutput_shape-invalid_output_shape_inconsistent"
        "-asked9x9-r39")
    assert cases["invalid-rank-x-2d-kernel-3d"].id == (
        "2d-b1-c2x3-g1-i3x4-k2x2x2-s1x1-d1x1-p0.0x0.0-op0x0-nobias-any-mexplicit-invalid_rank_mismatch-r29")
    assert cases["invalid-float-stride-valid-2d"].id == (
        "2d-b1-c2x3-g1-i3x4-k3x3-s2.0x2.0-d1x1-p0.0x0.0-op0x0-nobias-any-mvalid-invalid_non_integer_attribute-r45")
    assert cases["invalid-stride-2-63-2d"].id.startswith("2d-b1-c2x3-g1-i1x3-k2x2-s9223372036854775808x1-")


def test_a_valid_case_s_dict_and_id_are_as_before():
    case = make_case(input_size=(3, 4), kernel_size=2, in_channels=2, out_channels=3, bias=True, seed=7)
    assert case.defect == "" and case.id == "2d-b1-c2x3-g1-i3x4-k2x2-s1x1-d1x1-p0.0x0.0-op0x0-bias-any-mexplicit-r7"
    assert not {"defect", "bias_elements", "weight_in_channels", "requested_output_size"} & set(case.to_dict())


def test_every_invalid_case_survives_a_json_round_trip():
    for case in suites.get("invalid"):
        for dtype in (None, "float32"):
            case = dataclasses.replace(case, dtype=dtype)
            back = Case.from_dict(json.loads(json.dumps(case.to_dict())))
            assert back == case and back.id == case.id and hash(back) == hash(case), case.name
            assert back.name == case.name and back.reason == case.reason


def test_the_arrays_realize_each_array_defect():
    cases = by_name()

    def shapes(name):
        x, w, bias = cases[name].with_dtype("float32").arrays()
        return x.shape, w.shape, None if bias is None else bias.shape

    assert shapes("invalid-bias-one-too-long-2d") == ((1, 2, 3, 4), (2, 3, 2, 2), (4,))
    assert shapes("invalid-bias-one-too-short-same-2d") == ((1, 2, 3, 3), (2, 4, 3, 3), (3,))
    assert shapes("invalid-weight-one-more-in-channel-2d") == ((1, 2, 3, 4), (3, 3, 2, 2), None)
    assert shapes("invalid-weight-in-channels-valid-3d") == ((1, 2, 2, 3, 2), (1, 2, 2, 2, 2), None)
    assert shapes("invalid-rank-x-2d-kernel-3d") == ((1, 2, 3, 4), (2, 3, 2, 2, 2), None)
    assert shapes("invalid-rank-x-1d-kernel-2d") == ((1, 2, 4), (2, 2, 2, 2), None)
    assert shapes("invalid-zero-input-size-2d") == ((1, 2, 0, 4), (2, 3, 2, 2), None)
    assert shapes("invalid-zero-in-channels-2d") == ((1, 0, 3, 4), (0, 3, 2, 2), None)
    assert shapes("invalid-zero-out-channels-2d") == ((1, 2, 3, 4), (2, 0, 2, 2), None)
    assert shapes("invalid-zero-kernel-size-2d") == ((1, 2, 3, 4), (2, 3, 0, 2), None)
    # 2 groups of 2 output channels in the weight; the bias states 5
    assert shapes("invalid-out-channels-not-divisible-by-groups-2d") == ((1, 4, 3, 4), (4, 2, 2, 2), (5,))
    x, w, bias = cases["invalid-bias-one-too-long-2d"].with_dtype("float32").arrays()
    assert x.dtype == w.dtype == bias.dtype == np.float32 and np.isfinite(x).all() and x.std() > 0


def test_attribute_defects_are_kept_as_given():
    cases = by_name()
    assert cases["invalid-fractional-stride-valid-2d"].stride == (1.5, 1)
    assert cases["invalid-float-stride-valid-2d"].stride == (2.0, 2.0)
    assert all(isinstance(s, float) for s in cases["invalid-float-stride-valid-2d"].stride)
    assert cases["invalid-float-groups-2d"].groups == 2.0 and isinstance(cases["invalid-float-groups-2d"].groups, float)
    assert cases["invalid-stride-2-64-1d"].stride == (18446744073709551616,)
    assert cases["invalid-padding-2-31-2d"].padding == ((2147483648, 2147483648), (0, 0))
    assert cases["invalid-output-shape-negative-2d"].requested_output_size == (-1, 5)
    assert cases["invalid-output-shape-negative-2d"].asked_output_size == (-1, 5)
    # no requested size: what the parameters give, below 1 for a crop that leaves nothing
    assert cases["invalid-crop-leaves-negative-2d"].asked_output_size == (-2, 4)


def test_make_case_checks_what_states_a_defect():
    with pytest.raises(ValueError, match="defect: got 'typo'; expected one of bias_length"):
        make_case(input_size=3, kernel_size=2, defect="typo")
    with pytest.raises(ValueError, match="defect: 'bias_length' named, but the golden accepts the configuration"):
        make_case(input_size=3, kernel_size=2, out_channels=2, bias=True, bias_elements=2, defect="bias_length")
    with pytest.raises(ValueError, match="requested_output_size: got \\(5,\\); only an output_shape case"):
        make_case(input_size=3, kernel_size=2, requested_output_size=(5,), defect="output_shape_inconsistent")
    with pytest.raises(ValueError, match="out_channels: 5 is not a multiple of groups=2"):  # only a named defect
        make_case(input_size=3, kernel_size=2, in_channels=4, out_channels=5, groups=2, bias=True)


# --- the golden --------------------------------------------------------------------------------------------------

# The argument each defect's message starts with (the golden's messages name the argument first).
ARGUMENT = {
    "bias_length": ("bias: got shape",),
    "weight_in_channels": ("x: got",),
    "rank_mismatch": ("x: got shape",),
    "zero_size": ("x: spatial size", "w: got shape"),
    "output_shape_inconsistent": ("output_size: got",),
    "groups_not_dividing_in_channels": ("w: in_channels",),
    "groups_not_dividing_out_channels": ("bias: got shape",),
    "zero_attribute": ("stride: got", "dilation: got", "groups: got"),
    "negative_attribute": ("stride: got", "dilation: got", "groups: got", "padding: got", "output_padding: got"),
    "non_integer_attribute": ("stride: got", "dilation: got", "groups: got", "padding: got", "output_padding: got"),
    "huge_attribute": ("stride: got", "dilation: got", "groups: got", "padding: ", "output_padding: got",
                       "stride, dilation, output_padding: stride"),
    "empty_output": ("padding: crop",),
}


def test_the_golden_rejects_each_case_with_its_reason_naming_the_argument():
    for case in suites.get("invalid"):
        x, w, bias = case.with_dtype("float64").arrays()
        with pytest.raises((ValueError, TypeError)) as raised:
            convt_oracle.conv_transpose(x, w, bias, output_size=case.requested_output_size or None, **case.params())
        assert str(raised.value) == case.reason, case.name
        assert case.reason.startswith(ARGUMENT[case.defect]), (case.name, case.reason)


def test_the_golden_s_new_rules_say_value_and_rule():
    x, w = np.ones((1, 1, 3)), np.ones((1, 1, 2))
    assert convt_oracle.conv_transpose(x, w, output_size=(4,)).shape == (1, 1, 4)  # what the parameters give
    with pytest.raises(ValueError, match=r"output_size: got \(6,\); the input, .* give \(4,\)"):
        convt_oracle.conv_transpose(x, w, output_size=(6,))
    with pytest.raises(ValueError, match=r"output_size: got 0; each value must be a positive integer"):
        convt_oracle.output_shape((1, 1, 3), (1, 1, 2), output_size=0)
    # (3-1) * 2**62 + 2 = 2**63 + 2: past int64
    with pytest.raises(ValueError, match=r"stride 4611686018427387904, .* output size of 9223372036854775810 .* "
                                         r"must fit this platform's index type \(at most 2\*\*63 - 1\)"):
        convt_oracle.output_shape((1, 1, 3), (1, 1, 2), stride=2**62)
    with pytest.raises(ValueError, match=r"bias: got shape \(5,\); expected \(out_channels,\) = \(4,\), w.shape\[1\] "
                                         r"\* groups = 2 \* 2; 5 output channels are not a multiple of groups=2"):
        convt_oracle.output_shape((1, 4, 3), (4, 2, 2), (5,), groups=2)


def test_a_function_target_is_not_asked_for_an_output_size_it_cannot_take():
    """The golden as a target with its own signature: it rejects every invalid case it is asked; the cases that
    request an output size are `unsupported` (the golden's keyword parameters carry none)."""
    outcomes = {}
    for case in suites.get("invalid"):
        outcomes[case.name] = check_case(convt_oracle.conv_transpose, case.with_dtype("float32"), "golden").outcome
    requested = {name for name, case in by_name().items() if case.requested_output_size}
    assert requested and {name for name, outcome in outcomes.items() if outcome == "unsupported"} == requested
    assert all(outcome == "pass" for name, outcome in outcomes.items() if name not in requested)


# --- every installed CPU framework ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def findings():
    return known.load(known.shipped_path())


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.framework(module) for module in modules])
    for name, modules in CPU_ADAPTERS.items()
])
def test_each_framework_is_asked_enough_invalid_cases_and_rejects_them_or_a_finding_explains(name, findings):
    """`convt-oracle run --suite invalid` for one adapter: at least 30 cases asked (not unsupported), and each
    answer a rejection (`pass`) or a known finding (accepted_invalid, crash), with the shipped findings file.
    Skipped, saying why, where the framework is not installed (the `framework` marker)."""
    found, left_out = installed_targets()
    if name not in {spec.label for spec in found}:
        pytest.skip(f"{name}: {left_out.get(name, 'not an installed adapter here')}")
    report = known.apply(run([TargetSpec(name)], suite="invalid", dtypes=("float32",), timeout=120), findings)
    assert name not in report.targets_not_run, report.targets_not_run
    results = [result for result in report.results if result.target == name]
    assert len(results) == len(suites.get("invalid"))
    asked = [result for result in results if result.outcome != "unsupported"]
    assert len(asked) >= ASKED_AT_LEAST, (name, len(asked))
    unexplained = [r for r in asked if r.outcome != "pass" and r.known is None]
    assert not unexplained, "\n".join(f"{r.outcome} {r.case.name}: {r.message[:300]}" for r in unexplained)
    unsupported = [r for r in results if r.outcome == "unsupported"]
    assert all(r.detail for r in unsupported)  # each says why the framework cannot be asked it
