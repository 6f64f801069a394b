"""The onnxruntime and onnx_reference adapters against the golden, with the real runtimes (skipped, with the
reason, without them).

Both run the same in-memory ConvTranspose model (adapters/_onnx_model.py). onnxruntime is expected to agree
with the golden everywhere it runs; onnx.reference (onnx 1.23.2) has known bugs, each pinned below by the
`finding` marker (test_finding_*, a strict xfail, tests/conftest.py) with a standalone reproducer, and on
the suites every discrepancy it shows must be one of them.
"""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed: the ONNX adapters cannot be checked")

import convt_oracle  # noqa: E402
from convt_oracle.adapters import _onnx_model  # noqa: E402
from convt_oracle.adapters import registry  # noqa: E402
from convt_oracle.cases import suites  # noqa: E402
from convt_oracle.cases.model import make_case  # noqa: E402
from convt_oracle import arithmetic  # noqa: E402
from convt_oracle.errors import Unsupported  # noqa: E402

pytestmark = pytest.mark.framework("onnx")


def import_onnxruntime():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: its adapter cannot be checked")
    ort.set_default_logger_severity(3)
    return ort


# The ONNX code paths: pads + output_padding, auto_pad SAME_UPPER (also with kernel shorter than stride,
# where output_padding makes the total 0) and VALID, output_shape under NOTSET, under SAME_UPPER and with an
# output_padding chosen to place the crop; groups (more than one channel per group), depthwise with bias,
# dilation, 1-, 2- and 3-d; and cases ONNX cannot express.
ONNX_CASES = [
    make_case(name="1d-explicit-asym-op-bias", input_size=6, kernel_size=4, stride=3, padding=((2, 0),),
              output_padding=2, in_channels=3, out_channels=2, bias=True, seed=2),
    make_case(name="2d-explicit-groups-dilation-bias", input_size=(5, 3), kernel_size=(2, 3), stride=(1, 2),
              dilation=(2, 1), padding=((0, 3), (2, 1)), output_padding=(0, 1), in_channels=6, out_channels=9,
              groups=3, bias=True, batch=2, seed=5),
    make_case(name="2d-depthwise-bias", input_size=(4, 4), kernel_size=3, stride=2, padding=1, output_padding=1,
              in_channels=4, out_channels=4, groups=4, bias=True, seed=6),
    make_case(name="3d-explicit", input_size=(3, 2, 4), kernel_size=(2, 3, 1), stride=(2, 1, 3),
              dilation=(1, 2, 1), padding=((1, 0), (2, 1), (0, 0)), output_padding=(1, 0, 2), in_channels=2,
              out_channels=4, seed=9),
    make_case(name="2d-same-odd-even-bias", input_size=(3, 4), kernel_size=(3, 4), stride=(2, 2), mode="same",
              in_channels=2, out_channels=3, bias=True, seed=12),
    make_case(name="2d-same-kernel-shorter-than-stride", input_size=(2, 3), kernel_size=(1, 2), stride=(2, 3),
              mode="same", in_channels=2, out_channels=3, seed=13),
    make_case(name="1d-same-dilation", input_size=4, kernel_size=2, stride=2, dilation=2, mode="same",
              in_channels=2, out_channels=2, seed=14),
    make_case(name="2d-valid-kernel-shorter-than-stride-bias", input_size=(3, 4), kernel_size=(1, 2),
              stride=(2, 3), mode="valid", in_channels=3, out_channels=2, bias=True, seed=22),
    make_case(name="3d-valid", input_size=(2, 2, 3), kernel_size=(2, 1, 2), stride=(1, 2, 3), mode="valid",
              in_channels=1, out_channels=2, seed=24),
    # output_shape: F = 7 and begin 1 (NOTSET split of total 1)
    make_case(name="1d-output-shape-notset", input_size=4, kernel_size=3, stride=2, padding=1, output_padding=1,
              mode="output_shape", in_channels=2, out_channels=3, seed=31),
    # begin 0, end 1 on both axes: only SAME_UPPER puts the odd crop at the end
    make_case(name="2d-output-shape-same-upper-bias", input_size=(4, 4), kernel_size=3, stride=2,
              padding=((0, 1), (0, 1)), mode="output_shape", in_channels=2, out_channels=2, bias=True, seed=32),
    # past the full result by 2 (< stride 3): output_padding 2 makes the total 0
    make_case(name="2d-output-shape-beyond-full", input_size=(2, 2), kernel_size=(1, 2), stride=(3, 3),
              output_padding=(2, 1), mode="output_shape", in_channels=2, out_channels=3, seed=33),
    # refused: output_padding >= stride (outside ONNX's domain); unsupported: an uneven output_shape crop,
    # crops needing two auto_pads
    make_case(name="2d-op-ge-stride", input_size=(4, 3), kernel_size=(2, 2), stride=(1, 2), dilation=(3, 1),
              output_padding=(2, 0), in_channels=2, out_channels=2, seed=8),
    make_case(name="2d-output-shape-uneven", input_size=(3, 3), kernel_size=(3, 3), stride=(2, 2),
              padding=((2, 0), (0, 2)), mode="output_shape", in_channels=2, out_channels=2, seed=34),
    make_case(name="3d-output-shape-mixed-splits", input_size=(2, 3, 2), kernel_size=(2, 2, 3), stride=(2, 2, 1),
              padding=((1, 1), (0, 1), (1, 0)), output_padding=(1, 0, 0), mode="output_shape", in_channels=4,
              out_channels=4, groups=2, bias=True, seed=36),
]
UNSUPPORTED = {"2d-output-shape-uneven", "3d-output-shape-mixed-splits"}
REFUSED = {"2d-op-ge-stride"}
REASONS = ("ONNX output_shape", "ONNX same", "ONNX valid", "ONNX attributes are int64")


def smoke():
    return suites.get("smoke")


def assert_unsupported_reasons_are_specific(report):
    for result in report.results:
        if result.outcome == "unsupported" and result.check == "forward":
            assert result.detail.startswith(REASONS), result.detail
        if result.outcome == "refused":
            assert result.detail.startswith(("ONNX ConvTranspose takes output_padding < stride",
                                             "onnxruntime's CPU execution provider has no")), result.detail


# --- the translation ------------------------------------------------------------------------------------


def test_attributes_reproduce_the_canonical_padding_through_the_spec():
    """For every expressible case, the spec (arithmetic.onnx_padding) applied to the chosen attributes selects
    the canonical elements: same first element, same output size."""
    for case in ONNX_CASES:
        try:
            attrs = _onnx_model.attributes(case)
        except Unsupported:
            assert case.name in UNSUPPORTED
            continue
        assert case.name not in UNSUPPORTED
        rank = case.spatial_rank
        pads = attrs.get("pads", [0] * 2 * rank)
        for axis, (i, k, s, d) in enumerate(zip(case.input_size, case.kernel_size, case.stride, case.dilation)):
            spec = arithmetic.onnx_padding(
                i, k, s, d, auto_pad=attrs.get("auto_pad", "NOTSET"), pads=(pads[axis], pads[axis + rank]),
                output_padding=attrs["output_padding"][axis], output_shape=attrs.get("output_shape", [None] * rank)[axis],
            )
            (begin, _), size = case.padding[axis], case.output_shape[2 + axis]
            assert (spec.begin, arithmetic.output_size(i, k, s, d, *spec)) == (begin, size), (case.name, attrs)


def test_output_shape_picks_notset_then_same_upper():
    by_name = {case.name: case for case in ONNX_CASES}
    notset = _onnx_model.attributes(by_name["1d-output-shape-notset"])
    assert "auto_pad" not in notset and notset["output_shape"] == [8] and notset["output_padding"] == [0]
    upper = _onnx_model.attributes(by_name["2d-output-shape-same-upper-bias"])
    assert upper["auto_pad"] == "SAME_UPPER" and "pads" not in upper
    # totals F + output_padding - O = -1 on both axes: begin 0 and a zero at the end (the spec's floor split;
    # onnxruntime's clamp of a negative total gives the same)
    beyond = _onnx_model.attributes(by_name["2d-output-shape-beyond-full"])
    assert "auto_pad" not in beyond and beyond["output_padding"] == [1, 0]


# --- onnxruntime --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_onnxruntime_agrees_with_the_golden_on_its_own_cases(dtype):
    import_onnxruntime()
    report = convt_oracle.crosscheck("onnxruntime", suite=ONNX_CASES, dtypes=(dtype,), grad=True)
    assert report.ok, report.summary()
    forward = {r.case.name: r for r in report.results if r.check == "forward"}
    assert {name for name, r in forward.items() if r.outcome == "unsupported"} == UNSUPPORTED, report.summary()
    assert {name for name, r in forward.items() if r.outcome == "refused"} == REFUSED, report.summary()
    assert_unsupported_reasons_are_specific(report)
    vjp = [r for r in report.results if r.check == "vjp"]
    assert vjp and all(r.outcome == "unsupported" and "no autodiff" in r.detail for r in vjp)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_onnxruntime_agrees_with_the_golden_on_smoke(dtype):
    import_onnxruntime()
    report = convt_oracle.crosscheck("onnxruntime", suite=smoke(), dtypes=(dtype,))
    assert report.ok, report.summary()
    assert_unsupported_reasons_are_specific(report)
    native = [r for r in report.results if r.outcome == "pass"]
    assert len(native) >= len(report.results) / 2, report.summary()


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_onnxruntime_has_no_float64_or_bfloat16_kernel(dtype):
    """The adapter's declared domain, checked against the installed runtime: the session cannot be created,
    so the case is asked and its refusal is `refused`, with the runtime's message."""
    ort = import_onnxruntime()
    case = ONNX_CASES[0].with_dtype(dtype)
    result = convt_oracle.crosscheck("onnxruntime", suite=[case], dtypes=(dtype,)).results[0]
    assert result.outcome == "refused" and dtype in result.detail and "NOT_IMPLEMENTED" in result.detail, result.detail
    model = _onnx_model.build_model(case, _onnx_model.attributes(case))
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_onnxruntime_sessions_are_cached_per_signature():
    import_onnxruntime()
    adapter = registry.load("onnxruntime")
    cases = [case.with_dtype("float32") for case in ONNX_CASES if case.name not in UNSUPPORTED | REFUSED]
    for seed in range(3):  # new values, same shapes and attributes
        for case in cases:
            case = dataclasses.replace(case, seed=case.seed + seed)
            x, w, bias = case.arrays()
            adapter.call_case(case, x, w, bias)
        assert adapter.compilations == len(cases)


def test_onnxruntime_refuses_output_padding_ge_stride():
    """Why such cases are outside the declared domain: onnxruntime refuses them even where output_padding <
    dilation; the adapter asks them all the same, and reports `refused`."""
    ort = import_onnxruntime()
    case = next(c for c in ONNX_CASES if c.name == "2d-op-ge-stride").with_dtype("float32")
    result = convt_oracle.crosscheck("onnxruntime", suite=[case], dtypes=("float32",)).results[0]
    assert result.outcome == "refused" and "may be too large for stride" in result.detail, result.detail
    attrs = {**_onnx_model.attributes(dataclasses.replace(case, output_padding=(0, 0))),
             "output_padding": list(case.output_padding)}
    session = ort.InferenceSession(_onnx_model.build_model(case, attrs).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x, w, _ = case.arrays()
    with pytest.raises(Exception, match="output_padding|inconsistent"):
        session.run(None, {"X": x, "W": w})


# --- onnx.reference --------------------------------------------------------------------------------------


# The oldest onnxruntime of pyproject.toml's range (onnxruntime>=1.17) that has a wheel for this Python. It
# reads IR version 9 and opsets up to 20; the onnx installed here writes IR 14 by default.
OLDEST_ONNXRUNTIME = "1.17.3"


@pytest.fixture(scope="module")
def oldest_onnxruntime(request, tmp_path_factory) -> str:
    """An interpreter with the oldest onnxruntime and this environment's onnx (numpy 1.x, which that runtime
    was built against), made once from the package index and kept in pytest's cache; skipped, saying why,
    where the index cannot be reached."""
    import venv

    cache = getattr(request.config, "cache", None)
    folder = (cache.mkdir(f"onnxruntime-{OLDEST_ONNXRUNTIME}-py{sys.version_info[0]}{sys.version_info[1]}")
              if cache is not None else tmp_path_factory.mktemp("oldest-onnxruntime"))
    python, ready = folder / "bin" / "python", folder / "ready"
    if not ready.exists():
        venv.create(folder, with_pip=True, clear=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"onnxruntime=={OLDEST_ONNXRUNTIME}",
             f"onnx=={onnx.__version__}", "numpy<2", "ml_dtypes<0.6"],
            capture_output=True, text=True, timeout=900,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot install onnxruntime {OLDEST_ONNXRUNTIME} from the package index here: "
                        f"{done.stderr.strip().splitlines()[-1:]}")
        ready.write_text("")
    return str(python)


def test_the_oldest_onnxruntime_of_the_range_loads_the_models_and_agrees_inside_the_domain(oldest_onnxruntime, tmp_path):
    """onnxruntime 1.17 refuses the IR version and the opset that a current onnx writes by default: the
    adapter asks the runtime what it reads and writes that. Both runtimes, in one run, give the same outcome
    on every smoke case inside ONNX's documented domain (output_padding < stride). Outside it the current
    runtime refuses, while 1.17.3 answers, and some of its answers are wrong: the cases are asked, not
    skipped, so the oracle catches them: the finding `onnxruntime-output-padding-past-stride-misplaces-values`,
    whose entry in the shipped findings file marks them known."""
    report = tmp_path / "run.json"
    targets = f"onnxruntime,onnxruntime@{oldest_onnxruntime}"
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "smoke", "--targets", targets,
                           "--json", str(report)], capture_output=True, text=True, timeout=900)
    data = json.loads(report.read_text())
    assert data["environment"]["frameworks"][f"onnxruntime@{oldest_onnxruntime}"] == OLDEST_ONNXRUNTIME
    outcomes, outside = {}, set()
    for result in data["results"]:
        outcomes.setdefault(result["case_id"], {})[result["target"].partition("@")[2]] = result["outcome"]
        if result["detail"].startswith("ONNX ConvTranspose takes output_padding < stride"):
            outside.add(result["case_id"])
    assert len(outcomes) == len(suites.select("smoke", ("float32",)))
    differ = {case_id for case_id, pair in outcomes.items() if len(set(pair.values())) > 1}
    assert differ <= outside, {case_id: outcomes[case_id] for case_id in differ - outside}
    assert all(outcomes[case_id][""] == "refused" and outcomes[case_id][oldest_onnxruntime] != "refused"
               for case_id in outside), {case_id: outcomes[case_id] for case_id in outside}
    # the wrong ones are the pinned finding below, which the shipped findings file marks known: exit 0
    known = {r["case_id"]: (r["known"] or {}).get("id") for r in data["results"] if r["target"] != "onnxruntime"}
    wrong = [case_id for case_id in outside if outcomes[case_id][oldest_onnxruntime] != "pass"]
    assert wrong and all(known[case_id] == "onnxruntime-output-padding-past-stride-misplaces-values" for case_id in wrong)
    assert done.returncode == 0, (done.returncode, done.stdout[-3000:], done.stderr[-3000:])
    assert sum(pair[""] == "pass" for pair in outcomes.values()) >= len(outcomes) // 2


def known_reference_finding(case) -> str | None:
    """Which onnx.reference bug (the test_finding_* below) a case runs into, or None."""
    if case.groups > 1 and (case.in_channels > case.groups or case.out_channels > case.groups or case.bias):
        return "groups"
    if case.valid and case.mode == "output_shape":
        try:
            attrs = _onnx_model.attributes(case)
        except Unsupported:
            return None
        if "auto_pad" not in attrs:  # NOTSET: onnx.reference ignores output_shape for the pads
            full = [arithmetic.full_size(i, k, s, d) for i, k, s, d in
                    zip(case.input_size, case.kernel_size, case.stride, case.dilation)]
            totals = [f + op - o for f, op, o in zip(full, attrs["output_padding"], attrs["output_shape"])]
            if any(total > 0 for total in totals):
                return "output_shape"
    return None


def check_reference(suite, dtype, tolerance=None):
    report = convt_oracle.crosscheck("onnx_reference", suite=suite, dtypes=(dtype,), tolerance=tolerance)
    unexplained = [r for r in report.discrepancies if known_reference_finding(r.case) is None]
    assert not unexplained, "\n".join(f"{r.outcome} {r.case_id}: {r.message}" for r in unexplained)
    passed_anyway = [r.case_id for r in report.results if known_reference_finding(r.case) and r.outcome == "pass"]
    assert not passed_anyway, f"predicted to hit a known onnx.reference bug but passed: {passed_anyway}"
    assert_unsupported_reasons_are_specific(report)
    return report


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
def test_onnx_reference_agrees_with_the_golden_but_for_its_known_bugs(dtype):
    report = check_reference(ONNX_CASES, dtype)
    forward = {r.case.name: r.outcome for r in report.results}
    assert {name for name, outcome in forward.items() if outcome == "unsupported"} == UNSUPPORTED
    assert {name for name, outcome in forward.items() if outcome == "refused"} == REFUSED
    assert sum(outcome == "pass" for outcome in forward.values()) >= 8, report.summary()


# onnx.reference computes in the input dtype (numpy matmul and col2im `+=` in float16): float16 is checked
# against the bound of a float16 accumulation (the oracle's default assumes float32, see the finding below).
FLOAT16_ACCUMULATION = {"float16": "float16"}


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
def test_onnx_reference_on_smoke_but_for_its_known_bugs(dtype):
    tolerance = convt_oracle.Tolerance(accumulation=FLOAT16_ACCUMULATION) if dtype == "float16" else None
    check_reference(smoke(), dtype, tolerance)


def test_onnx_reference_float16_within_float16_accumulation():
    check_reference(ONNX_CASES, "float16", tolerance=convt_oracle.Tolerance(accumulation=FLOAT16_ACCUMULATION))


@pytest.mark.finding(
    "onnx-reference-accumulates-float16-in-float16", "onnx 1.23.2: onnx.reference ConvTranspose accumulates float16 in float16"
)
def test_finding_onnx_reference_accumulates_float16_in_float16():
    """Every other CPU kernel checked (onnxruntime, torch, jax) accumulates float16 in float32; onnx.reference
    runs numpy in the input dtype. A 2-d case with 2 input channels and a 3x3 kernel (18 products per
    element) already leaves the float32-accumulation bound."""
    case = make_case(input_size=(5, 5), kernel_size=3, stride=1, in_channels=2, out_channels=2, seed=3)
    result = convt_oracle.crosscheck("onnx_reference", suite=[case], dtypes=("float16",)).results[0]
    assert result.outcome == "pass", result.message


REFERENCE_GROUP_BUGS = [  # (name, x, w, bias, expected): group 2, 1-d, one element
    ("depthwise bias: every group gets B[0]", np.ones((1, 2, 1)), np.ones((2, 1, 1)), np.array([0.0, 10.0]),
     [[[1.0], [11.0]]]),
    ("2 input channels per group: W sliced by output channels", np.arange(1.0, 5.0).reshape(1, 4, 1),
     np.ones((4, 1, 1)), None, [[[3.0], [7.0]]]),
    ("2 output channels per group: one channel written per group", np.ones((1, 2, 1)),
     np.arange(1.0, 5.0).reshape(2, 2, 1), None, [[[1.0], [2.0], [3.0], [4.0]]]),
]


@pytest.mark.finding(
    "onnx-reference-grouped-conv-transpose", "onnx 1.23.2: onnx.reference ConvTranspose with group > 1 is wrong"
)
@pytest.mark.parametrize("name, x, w, bias, expected", REFERENCE_GROUP_BUGS, ids=[c[0] for c in REFERENCE_GROUP_BUGS])
def test_finding_onnx_reference_grouped_conv_transpose(name, x, w, bias, expected):
    """onnx/reference/ops/op_conv_transpose.py, group > 1: it runs each group with the whole B (so every group
    adds B[0..Cout/g-1]), slices W by output instead of input channels (W[g*Cout/g : (g+1)*Cout/g]), and
    writes one output channel per group (final[:, g:g+1]). Only one channel per group without bias is right.
    onnx/onnx#8446 fixes the last of the three. Standalone: build ConvTranspose(group=2) with onnx.helper and
    run onnx.reference.ReferenceEvaluator on these arrays (float32)."""
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    arrays = {"X": x.astype(np.float32), "W": w.astype(np.float32)}
    if bias is not None:
        arrays["B"] = bias.astype(np.float32)
    node = helper.make_node("ConvTranspose", list(arrays), ["Y"], group=2)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in arrays.items()],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _onnx_model.OPSET)])
    assert ReferenceEvaluator(model).run(None, arrays)[0].tolist() == expected, name


REFERENCE_UNCHECKED_ATTRIBUTES = [  # (name, x, w, attributes): each is invalid by the spec; onnxruntime refuses it
    ("negative pads", np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 10.0, 100.0]]]), {"pads": [-1, 0]}),
    ("dilation 0", np.arange(1.0, 5.0).reshape(1, 1, 2, 2), np.ones((1, 1, 2, 2)), {"dilations": [1, 0]}),
    ("crop of the whole result", np.array([[[1.0, 2.0]]]), np.array([[[1.0, 10.0]]]), {"pads": [2, 1]}),
]


@pytest.mark.finding(
    "onnx-reference-accepts-invalid-conv-transpose-attributes",
    "onnx 1.23.2: onnx.reference ConvTranspose computes a result for invalid attributes",
)
@pytest.mark.parametrize("name, x, w, attributes", REFERENCE_UNCHECKED_ATTRIBUTES,
                         ids=[c[0] for c in REFERENCE_UNCHECKED_ATTRIBUTES])
def test_finding_onnx_reference_accepts_invalid_conv_transpose_attributes(name, x, w, attributes):
    """The spec: pads "can take any value greater than or equal to 0"; ONNX's own shape inference requires
    positive dilations; an output size must be positive. onnxruntime 1.32 refuses all three (shape inference:
    "Attribute pads must not contain negative values", "Attribute dilations must only contain positive values";
    the last "Computed output dimension is <= 0"). onnx.reference returns [[0 1 12 123 234 340 400]] for
    pads [-1, 0] (a zero prepended, as if pads were a pad), sums taps onto the same pixel for dilation 0 (shape
    (1, 1, 3, 2)), and an empty (1, 1, 0) array for a crop of the whole result. Found as `accepted_invalid` on
    the invalid cases of the default suite."""
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    arrays = {"X": x.astype(np.float32), "W": w.astype(np.float32)}
    node = helper.make_node("ConvTranspose", list(arrays), ["Y"], **attributes)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in arrays.items()],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _onnx_model.OPSET)])
    with pytest.raises(Exception):
        ReferenceEvaluator(model).run(None, arrays)


def conv_transpose_model(shapes: dict, **attributes):
    """A float32 ConvTranspose model with inputs of these shapes ({"X": ..., "W": ..., "B": ...}) and attributes."""
    from onnx import TensorProto, helper

    node = helper.make_node("ConvTranspose", list(shapes), ["Y"], **attributes)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in shapes.items()],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", _onnx_model.OPSET)])


REFERENCE_INCONSISTENT_SHAPES = [  # (name, shapes of X, W, B): the shapes disagree; onnxruntime refuses each
    ("a bias longer than the output channels", {"X": (1, 2, 3), "W": (2, 2, 2), "B": (5,)}),
    ("X of 2 spatial axes, W of 3", {"X": (1, 2, 3, 4), "W": (2, 3, 2, 2, 2)}),
    ("0 input channels", {"X": (1, 0, 3, 4), "W": (0, 3, 2, 2)}),
]


@pytest.mark.finding(
    "onnx-reference-accepts-inconsistent-shapes",
    "onnx 1.23.2: onnx.reference ConvTranspose computes a result where the shapes of X, W and B disagree",
)
@pytest.mark.parametrize("name, shapes", REFERENCE_INCONSISTENT_SHAPES, ids=[c[0] for c in REFERENCE_INCONSISTENT_SHAPES])
def test_finding_onnx_reference_accepts_inconsistent_shapes(name, shapes):
    """onnx.reference adds B[c] for the output channels there are (a longer B: its first ones; shape (1, 2, 4)),
    takes the kernel's shape from W whatever X's rank (shape (1, 3, 4, 5)), and returns zeros for 0 input
    channels. onnxruntime 1.32 says "Bias shape is not compatible with number of output channels" and "Weight
    tensor spatial rank does not match input tensor spatial rank"; 0 input channels it computes too (its own
    finding below). Found as `accepted_invalid` on the invalid suite."""
    from onnx.reference import ReferenceEvaluator

    arrays = {name: np.ones(shape, np.float32) for name, shape in shapes.items()}
    with pytest.raises(Exception):
        ReferenceEvaluator(conv_transpose_model(shapes)).run(None, arrays)


@pytest.mark.finding(
    "onnxruntime-accepts-zero-size-axes",
    "onnxruntime 1.32.0: ConvTranspose computes a 1-d or 2-d input with an empty spatial axis (zeros out of "
    "nothing), 0 input channels and 0 output channels instead of refusing them",
)
def test_finding_onnxruntime_accepts_zero_size_axes():
    """An empty height: the output height (0-1)*1 + 2 = 1 is what the size formula gives for i = 0, and
    onnxruntime returns zeros of shape (1, 3, 1, 5); torch: "Only zero batch or zero channel inputs are
    supported". (Also 0 input channels: zeros; 0 output channels: an empty array.)"""
    ort = import_onnxruntime()
    shapes = {"X": (1, 2, 0, 4), "W": (2, 3, 2, 2)}
    session = ort.InferenceSession(conv_transpose_model(shapes, auto_pad="VALID").SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):
        session.run(None, {name: np.ones(shape, np.float32) for name, shape in shapes.items()})


EMPTY_3D_REPRODUCER = """
import numpy as np, onnxruntime
from onnx import TensorProto, helper
shapes = {"X": (1, 2, 2, 0, 3), "W": (2, 2, 2, 2, 2)}
node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], auto_pad="VALID")
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in shapes.items()],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
try:
    session.run(None, {k: np.ones(v, np.float32) for k, v in shapes.items()})
except Exception as error:
    print("raised", type(error).__name__)
"""


@pytest.mark.finding(
    "onnxruntime-segfaults-on-an-empty-3d-input",
    "onnxruntime 1.32.0: ConvTranspose on a 3-d input with an empty spatial axis kills the process (SIGSEGV)",
)
def test_finding_onnxruntime_segfaults_on_an_empty_3d_input():
    """The 3-d twin of the case above ends the process with SIGSEGV instead of raising. In a subprocess."""
    import_onnxruntime()
    completed = subprocess.run([sys.executable, "-c", EMPTY_3D_REPRODUCER], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0 and "raised" in completed.stdout, (completed.returncode, completed.stderr[-500:])


# --- findings of older onnxruntime releases (the oldest of the range, made by the fixture above) -------------

# Runs in the oldest onnxruntime's interpreter: ConvTranspose of x with w and the attributes given as JSON,
# printing {"returned": [...]} or {"raised": message}. numpy, onnx and onnxruntime only.
OLD_RUNTIME_CALL = """
import json, sys
import numpy as np, onnxruntime
from onnx import TensorProto, helper
x, w, attributes = json.loads(sys.argv[1])
x, w = np.array(x, np.float32), np.array(w, np.float32)
node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attributes)
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
                                       helper.make_tensor_value_info("w", TensorProto.FLOAT, w.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=7)
try:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    print(json.dumps({"returned": session.run(None, {"x": x, "w": w})[0].tolist()}))
except Exception as error:
    print(json.dumps({"raised": str(error)}))
"""


def old_runtime_call(python: str, x, w, attributes: dict) -> dict:
    arguments = json.dumps([np.asarray(x).tolist(), np.asarray(w).tolist(), attributes])
    done = subprocess.run([python, "-c", OLD_RUNTIME_CALL, arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.finding(
    "onnxruntime-output-padding-past-stride-misplaces-values",
    f"onnxruntime {OLDEST_ONNXRUNTIME} (and 1.20.1): ConvTranspose with output_padding >= stride on an axis is "
    "computed, not refused, with the values laid out in rows of the unpadded width",
)
def test_finding_old_onnxruntime_misplaces_values_where_output_padding_passes_the_stride(oldest_onnxruntime):
    """The spec asks output_padding < stride; onnxruntime 1.32 refuses more ("output_padding[0] (1) must be
    less than max(stride, dilation)"). 1.17.3 and 1.20.1 compute it: x = [1, 2, 3] down the height, a 1x1
    kernel of ones, stride 1, output_padding (0, 1) gives [[1, 2], [3, 0], [0, 0]]: the three values written
    one after the other into rows of two, instead of [[1, 0], [2, 0], [3, 0]]. Found by the gate of 1.20.1
    against 1.32.0 (README, "The gate on real versions"): 98 of the default suite's 258 such cases wrong, by
    up to 8e12 x the bound; the others happen to be right."""
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1)
    answer = old_runtime_call(oldest_onnxruntime, x, np.ones((1, 1, 1, 1)), {"strides": [1, 1], "output_padding": [0, 1]})
    assert answer == {"returned": [[[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]]]}


OLD_RUNTIME_INVALID_ATTRIBUTES = {  # each invalid by the spec or ONNX's shape inference; onnxruntime 1.32 refuses it
    "dilation 0": {"dilations": [0]},
    "negative pads": {"pads": [-1, 0]},
    "negative output_padding": {"strides": [2], "output_padding": [-1]},
    "stride 0": {"strides": [0]},
}


@pytest.mark.finding(
    "onnxruntime-accepts-invalid-conv-transpose-attributes",
    f"onnxruntime {OLDEST_ONNXRUNTIME} (and 1.20.1): ConvTranspose computes a result for invalid attributes",
)
@pytest.mark.parametrize("name", list(OLD_RUNTIME_INVALID_ATTRIBUTES))
def test_finding_old_onnxruntime_accepts_invalid_conv_transpose_attributes(oldest_onnxruntime, name):
    """1.17.3 and 1.20.1 return [3, 3, 3, 3] for dilation 0 (every tap on one pixel), a zero prepended for pads
    [-1, 0], a result for output_padding -1, and [4, 4, 4] for stride 0 in 1-d (in 2-d, the default suite's
    stride (0, 1) case kills the process with SIGFPE: a `crash`); 1.32.0 raises a ShapeInferenceError for each."""
    answer = old_runtime_call(oldest_onnxruntime, np.ones((1, 1, 4)), np.ones((1, 1, 3)), OLD_RUNTIME_INVALID_ATTRIBUTES[name])
    assert "raised" in answer, answer


# --- a declared domain: refused, raised, and a wrong result outside it ------------------------------------


class ReferenceWithGroupsOutsideItsDomain:
    """onnx.reference as if it documented "group = 1 only" (it does not): the real runtime behind a narrower
    declared domain, to see what the oracle makes of a refusal and of a result outside the domain."""

    @staticmethod
    def make():
        from convt_oracle.adapters.onnx_reference import OnnxReferenceAdapter

        class Narrowed(OnnxReferenceAdapter):
            name = "onnx_reference-group-1-only"
            documented_domain = ("group = 1 (declared for this test)",)

            def domain(self, case):
                return "group = 1 only (declared for this test)" if case.groups > 1 else None

        return Narrowed()


def test_a_refusal_outside_the_declared_domain_is_refused_inside_it_raised_and_a_wrong_result_is_caught():
    """The same real onnx.reference calls, with and without a declared limit on groups: its exception on a
    grouped case with two channels per group (the grouped finding) is `raised` inside its
    domain and `refused` outside it (with the limit and its message); its wrong depthwise result with bias is
    a `value_mismatch` either way: a result outside the domain is compared like any other."""
    cases = [
        make_case(input_size=4, kernel_size=2, in_channels=4, out_channels=4, groups=2, seed=41),
        make_case(input_size=5, kernel_size=3, stride=2, in_channels=3, out_channels=3, groups=3, bias=True, seed=42),
        make_case(input_size=4, kernel_size=3, stride=2, in_channels=2, out_channels=3, bias=True, seed=43),
    ]
    real = convt_oracle.crosscheck("onnx_reference", suite=cases, dtypes=("float32",))
    narrowed = convt_oracle.crosscheck(ReferenceWithGroupsOutsideItsDomain.make(), suite=cases, dtypes=("float32",))
    assert [r.outcome for r in real.results] == ["raised", "value_mismatch", "pass"], real.summary()
    assert [r.outcome for r in narrowed.results] == ["refused", "value_mismatch", "pass"], narrowed.summary()
    refused = narrowed.results[0]
    assert refused.detail.startswith("group = 1 only (declared for this test); onnx_reference-group-1-only refused it: "
                                     "ValueError: could not broadcast input array"), refused.detail
    assert refused.ok and not refused.compared and refused.comparison is None
    assert real.results[0].detail.startswith("ValueError: could not broadcast") and not real.results[0].ok
    assert narrowed.results[1].max_bound_ratio > 1 and narrowed.discrepancies == (narrowed.results[1],)


def test_the_old_onnxruntime_misplacement_is_shrunk_and_reproduced_where_it_lives(oldest_onnxruntime, tmp_path):
    """The output_padding >= stride finding, as `convt-oracle explain` gives it: shrunk to a small case that
    still fails the same way, and a standalone reproducer (numpy, onnx and onnxruntime only, the model
    written by the old runtime's worker with the opset it reads) that fails under onnxruntime 1.17.3 and,
    under this environment's onnxruntime, is refused with the spec's rule: the fix."""
    from convt_oracle.harness.crosscheck import check_case
    from convt_oracle.harness.reproducers import snippet
    from convt_oracle.harness.shrink import diagnosis_name, shrink
    from convt_oracle.harness.targets import TargetSpec

    label = f"onnxruntime@{oldest_onnxruntime}"
    case = make_case(input_size=(3, 1), kernel_size=(1, 1), stride=1, output_padding=(0, 1), in_channels=1,
                     out_channels=2, dtype="float32", seed=2)
    worker = TargetSpec.parse(label).isolated(timeout=120)
    try:
        result = check_case(worker, case, label)
        assert result.outcome == "value_mismatch", result.message
        shrunk = shrink(worker, case, outcome=result.outcome, diagnosis=diagnosis_name(result), budget=60)
        text = snippet(worker, shrunk.case, name=label)
    finally:
        worker.close()
    assert max(shrunk.case.output_padding) >= min(shrunk.case.stride) and "InferenceSession" in text
    script = tmp_path / "repro.py"
    script.write_text(text)
    old = subprocess.run([oldest_onnxruntime, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert old.returncode != 0 and "AssertionError: result:" in old.stderr, old.stderr[-2000:]
    new = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert new.returncode != 0 and "output_padding" in new.stderr and "AssertionError" not in new.stderr, new.stderr[-2000:]
