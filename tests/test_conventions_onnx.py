"""ONNX's conventions (ConvTranspose: pads, output_padding, auto_pad, output_shape), checked through
convt_oracle.arithmetic.onnx_padding, the spec's text, against onnxruntime, onnx.reference and the spec's
own node test cases (support.conventions says how).

Tests named test_finding_* pin places where an installed runtime disagrees with the spec (the `finding`
marker, tests/conftest.py): they assert the spec's answer and are strict xfails.
"""

from __future__ import annotations

import numpy as np
import pytest

from convt_oracle import arithmetic as A
from support.conventions import assert_close, golden, random_case

pytestmark = pytest.mark.framework("onnx")

ONNX_OPSET = 22


def onnx_model(x_shape, w_shape, **attrs):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], **attrs)
    graph = helper.make_graph(
        [node],
        "conv_transpose",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape)),
         helper.make_tensor_value_info("W", TensorProto.FLOAT, list(w_shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])


def run_onnxruntime(model, x, w):
    ort = pytest.importorskip("onnxruntime")
    ort.set_default_logger_severity(3)  # the xfail findings make it log errors
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": x, "W": w})[0]


def run_reference(model, x, w):
    pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, {"X": x, "W": w})[0]


RUNTIMES = {"onnxruntime": run_onnxruntime, "onnx.reference": run_reference}


def onnx_check(runtime, input_size, kernel, stride, *, seed=0, **attrs):
    """Run ConvTranspose in `runtime` (float32) and compare with the golden under onnx_padding."""
    rank = len(input_size)
    dilation = tuple(attrs.pop("dilations", (1,) * rank))
    x, w = random_case(seed, input_size, kernel, dtype=np.float32, batch=1, cin=2, cout=3)
    model = onnx_model(x.shape, w.shape, strides=list(stride), dilations=list(dilation), **attrs)
    pads_attr = attrs.get("pads", [0] * (2 * rank))
    output_padding = attrs.get("output_padding", [0] * rank)
    output_shape = attrs.get("output_shape", [None] * rank)
    pads = [
        A.onnx_padding(
            i, k, s, d, auto_pad=attrs.get("auto_pad", "NOTSET"), pads=(pads_attr[a], pads_attr[a + rank]),
            output_padding=output_padding[a], output_shape=output_shape[a],
        )
        for a, (i, k, s, d) in enumerate(zip(input_size, kernel, stride, dilation))
    ]
    expected = golden(x, w, stride, dilation, pads)
    assert_close(RUNTIMES[runtime](model, x, w), expected, np.float32)


# (input size, kernel, stride, attributes); totals are per axis, F = full size
ONNX_SPEC_CASES = {
    "notset_asymmetric_pads_output_padding": ((3, 4), (3, 2), (2, 3), dict(pads=[2, 0, 1, 1], output_padding=[1, 2])),
    "notset_pads_dilation": ((3, 4), (2, 3), (2, 2), dict(pads=[0, 3, 2, 1], dilations=(2, 1))),
    "valid": ((3, 4), (3, 2), (2, 3), dict(auto_pad="VALID")),
    "valid_output_padding": ((3, 4), (1, 2), (2, 3), dict(auto_pad="VALID", output_padding=[1, 2])),
    "same_upper_odd_and_even_total": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_UPPER")),  # totals 1, 2
    "same_lower_odd_and_even_total": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_LOWER")),
    "same_upper_output_padding": ((3, 4), (3, 4), (2, 3), dict(auto_pad="SAME_UPPER", output_padding=[1, 2])),
    "same_lower_output_padding": ((3, 4), (3, 4), (2, 3), dict(auto_pad="SAME_LOWER", output_padding=[1, 2])),
    "same_upper_dilation": ((3, 4), (2, 3), (2, 2), dict(auto_pad="SAME_UPPER", dilations=(2, 2))),  # totals 1, 3
    "same_lower_dilation": ((3, 4), (2, 3), (2, 2), dict(auto_pad="SAME_LOWER", dilations=(2, 2))),
    # output_shape under SAME_*: positive odd and even totals (F = 7 x 10)
    "output_shape_same_upper": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_UPPER", output_shape=[6, 7])),
    "output_shape_same_lower": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_LOWER", output_shape=[6, 7])),
    "output_shape_same_upper_output_padding": (
        (3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_UPPER", output_shape=[5, 8], output_padding=[1, 1])),
    # the spec's own example (test_convtranspose_output_shape): total -1, a zero row/column at the end
    "output_shape_total_minus_1": ((3, 3), (3, 3), (3, 2), dict(output_shape=[10, 8])),
    "output_shape_total_minus_1_same_lower": (
        (3, 3), (3, 3), (3, 2), dict(auto_pad="SAME_LOWER", output_shape=[10, 8])),
}

# output_shape and auto_pad NOTSET / VALID: the spec derives the pads from output_shape (larger half at the
# start) and ignores `pads`; onnxruntime does, onnx.reference does not.
ONNX_OUTPUT_SHAPE_NOT_SAME_CASES = {
    "notset_odd_even": ((3, 4), (3, 4), (2, 2), dict(output_shape=[6, 7])),  # totals 1, 3
    "notset_with_pads_ignored": ((3, 4), (3, 4), (2, 2), dict(output_shape=[5, 8], pads=[2, 0, 0, 2])),
    "notset_output_padding": ((3, 4), (3, 4), (2, 3), dict(output_shape=[6, 10], output_padding=[1, 2])),
    "valid_odd_even": ((3, 4), (3, 4), (2, 2), dict(auto_pad="VALID", output_shape=[6, 8])),  # totals 1, 2
}

# Negative total padding: SAME with ke + output_padding < s, or output_shape beyond the full result F.
ONNX_NEGATIVE_TOTAL_CASES = {
    # auto_pad SAME, kernel shorter than the stride: totals -1 (odd) and -2 (even); the output must be i*s
    "same_upper_kernel_shorter_than_stride": ((2, 3), (1, 1), (2, 3), dict(auto_pad="SAME_UPPER")),
    "same_lower_kernel_shorter_than_stride": ((2, 3), (1, 1), (2, 3), dict(auto_pad="SAME_LOWER")),
    "same_upper_output_padding": ((2, 3), (1, 2), (3, 3), dict(auto_pad="SAME_UPPER", output_padding=[1, 0])),
    # output_shape beyond the full result (F = 4 x 5): totals -2 (even: one zero at each end, either reading)
    "output_shape_same_upper_total_minus_2": ((2, 2), (1, 2), (3, 3), dict(auto_pad="SAME_UPPER", output_shape=[6, 7])),
    "output_shape_same_lower_total_minus_2": ((2, 2), (1, 2), (3, 3), dict(auto_pad="SAME_LOWER", output_shape=[6, 7])),
    # total -1 under SAME_UPPER: floor division puts the zero at the start
    "output_shape_same_upper_total_minus_1": ((2, 2), (1, 2), (3, 3), dict(auto_pad="SAME_UPPER", output_shape=[5, 6])),
}
# the same with auto_pad NOTSET (both runtimes deviate from the spec formula here, each for its own reason)
ONNX_NEGATIVE_TOTAL_NOTSET = {
    "output_shape_notset_total_minus_2": ((2, 2), (1, 2), (3, 3), dict(output_shape=[6, 7])),
}


@pytest.mark.parametrize("case", list(ONNX_SPEC_CASES))
@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_onnx_conv_transpose(runtime, case):
    """Both runtimes follow the spec: pads/output_padding, VALID, SAME_UPPER/LOWER, output_shape."""
    input_size, kernel, stride, attrs = ONNX_SPEC_CASES[case]
    onnx_check(runtime, input_size, kernel, stride, seed=800 + list(ONNX_SPEC_CASES).index(case), **dict(attrs))


@pytest.mark.framework("onnxruntime")
@pytest.mark.parametrize("case", list(ONNX_OUTPUT_SHAPE_NOT_SAME_CASES))
def test_onnxruntime_output_shape_without_same_auto_pad(case):
    """onnxruntime: output_shape with NOTSET/VALID, positive totals: the spec's split, `pads` ignored."""
    input_size, kernel, stride, attrs = ONNX_OUTPUT_SHAPE_NOT_SAME_CASES[case]
    onnx_check("onnxruntime", input_size, kernel, stride, seed=1, **dict(attrs))


@pytest.mark.parametrize("case", list(ONNX_OUTPUT_SHAPE_NOT_SAME_CASES) + list(ONNX_NEGATIVE_TOTAL_NOTSET))
@pytest.mark.finding(
    "onnx-reference-ignores-output-shape-unless-same-auto-pad",
    "onnx 1.23.2: onnx.reference ConvTranspose ignores output_shape for the pads unless auto_pad SAME_*",
)
def test_finding_onnx_reference_ignores_output_shape_unless_same_auto_pad(case):
    """onnx.reference (onnx/reference/ops/op_conv_transpose.py) sets `pads` to zeros when they are absent and
    auto_pad is not SAME_UPPER/SAME_LOWER, before looking at output_shape. With output_shape and NOTSET or
    VALID it therefore crops `pads` (default 0) instead of the spec's split of the total padding: a positive
    total raises a shape error in col2im, an explicit `pads` is used although the spec says it is ignored,
    and a negative total is all put at the end. The spec text and onnxruntime derive the pads.
    """
    input_size, kernel, stride, attrs = {**ONNX_OUTPUT_SHAPE_NOT_SAME_CASES, **ONNX_NEGATIVE_TOTAL_NOTSET}[case]
    onnx_check("onnx.reference", input_size, kernel, stride, seed=1, **dict(attrs))


@pytest.mark.parametrize("case", list(ONNX_NEGATIVE_TOTAL_CASES))
def test_onnx_reference_negative_total_padding(case):
    """onnx.reference follows the spec formula (floor division) when the total padding is negative."""
    input_size, kernel, stride, attrs = ONNX_NEGATIVE_TOTAL_CASES[case]
    onnx_check("onnx.reference", input_size, kernel, stride, seed=2, **dict(attrs))


@pytest.mark.framework("onnxruntime")
@pytest.mark.parametrize("case", list(ONNX_NEGATIVE_TOTAL_CASES) + list(ONNX_NEGATIVE_TOTAL_NOTSET))
@pytest.mark.finding(
    "onnxruntime-clamps-negative-total-padding",
    "onnxruntime 1.32.0: ConvTranspose clamps a negative total padding to 0 (spec: split it; SAME: i*s)",
)
def test_finding_onnxruntime_clamps_negative_total_padding(case):
    """onnxruntime computes total = max(0, F + output_padding - output_shape) (F = (i-1)*s + ke), where the
    spec has no max. So:
    - auto_pad SAME_UPPER/SAME_LOWER with ke + output_padding < s: output size F + output_padding, not the
      spec's i*s (onnx.reference gives i*s);
    - output_shape beyond F + output_padding: the result is zero-extended at the end only; the spec's split
      (start = total - total/2, or total/2 under SAME_UPPER) puts zeros at the start too (onnx.reference
      does, under SAME_*); output_shape >= F + output_padding + s is refused as inconsistent.
    For total -1 without SAME_UPPER the clamp and the spec agree (test_onnx_negative_odd_total_without_same_upper).
    """
    input_size, kernel, stride, attrs = {**ONNX_NEGATIVE_TOTAL_CASES, **ONNX_NEGATIVE_TOTAL_NOTSET}[case]
    onnx_check("onnxruntime", input_size, kernel, stride, seed=2, **dict(attrs))


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_LOWER"])
@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_onnx_negative_odd_total_without_same_upper(runtime, auto_pad):
    """Total -1 and not SAME_UPPER: floor division, onnxruntime's clamp and onnx.reference agree (a zero at
    the end), as in the spec's own test_convtranspose_output_shape."""
    onnx_check(runtime, (2, 2), (1, 2), (3, 3), seed=3, auto_pad=auto_pad, output_shape=[5, 6])


@pytest.mark.finding(
    "onnx-shape-inference-same-auto-pad",
    "onnx 1.23.2: shape inference of ConvTranspose with auto_pad SAME_* does not give i*s",
)
@pytest.mark.parametrize(
    "input_size, kernel, stride, output_padding",
    [((3, 4), (3, 4), (2, 3), [1, 2]), ((2, 3), (1, 2), (2, 3), [0, 0])],
    ids=["output_padding", "kernel_shorter_than_stride"],
)
def test_finding_onnx_shape_inference_same_auto_pad(input_size, kernel, stride, output_padding):
    """onnx.shape_inference infers (i-1)*s + ke + output_padding - max(0, ke - s) under SAME_UPPER/SAME_LOWER:
    i*s + output_padding when ke >= s, (i-1)*s + ke + output_padding when ke < s. The spec text and
    onnx.reference give i*s; onnxruntime gives i*s when ke + output_padding >= s.
    """
    onnx = pytest.importorskip("onnx")
    model = onnx_model((1, 2, *input_size), (2, 3, *kernel), strides=list(stride), auto_pad="SAME_UPPER",
                       output_padding=output_padding)
    inferred = onnx.shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape
    dims = [d.dim_value for d in inferred.dim]
    assert dims == [1, 3, *(i * s for i, s in zip(input_size, stride))]


def onnx_node_cases():
    """ONNX's own ConvTranspose node test cases (inputs and expected outputs written in its source)."""
    pytest.importorskip("onnx")
    import onnx
    from onnx.backend.test.case.node import convtranspose

    captured = []
    original = convtranspose.expect
    convtranspose.expect = lambda node, inputs, outputs, name, **kw: captured.append((name, node, inputs, outputs))
    try:
        for attr in dir(convtranspose.ConvTranspose):
            if attr.startswith("export"):
                getattr(convtranspose.ConvTranspose, attr)()
    finally:
        convtranspose.expect = original
    return [(name, {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}, inputs, outputs[0])
            for name, node, inputs, outputs in captured]


def test_onnx_spec_node_cases():
    """onnx_padding + the golden reproduce every ConvTranspose test case of the ONNX spec.

    These include test_convtranspose_output_shape (total padding -1: the zero row is at the end) and
    test_convtranspose_autopad_same (SAME_UPPER, odd total: the extra crop at the end).
    """
    cases = onnx_node_cases()
    assert len(cases) >= 10
    for name, attrs, inputs, expected in cases:
        x, w = inputs[:2]
        rank = x.ndim - 2
        stride = attrs.get("strides", [1] * rank)
        dilation = attrs.get("dilations", [1] * rank)
        if attrs.get("group", 1) != 1:
            continue  # the golden's grouping is not the arithmetic's concern
        pads_attr = attrs.get("pads", [0] * 2 * rank)
        output_shape = attrs.get("output_shape", [None] * rank)
        output_padding = attrs.get("output_padding", [0] * rank)
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        pads = [
            A.onnx_padding(i, k, s, d, auto_pad=auto_pad, pads=(pads_attr[a], pads_attr[a + rank]),
                           output_padding=output_padding[a], output_shape=output_shape[a])
            for a, (i, k, s, d) in enumerate(zip(x.shape[2:], w.shape[2:], stride, dilation))
        ]
        result = golden(x, w, stride, dilation, pads)
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6, err_msg=name)
