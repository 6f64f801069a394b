"""External truth: the ConvTranspose test data that ships with the onnx wheel.

- Folders (model.onnx plus test_data_set_*/input_*.pb, output_*.pb): pytorch-converted/test_ConvTranspose2d,
  .../test_ConvTranspose2d_no_bias, pytorch-operator/test_operator_convtranspose, and node/test_convtranspose*
  when the wheel ships the node folders (onnx 1.23.2 here does not).
- The node cases' definitions (onnx/backend/test/case/node/convtranspose.py: hand-written inputs and
  expected outputs, the source of the node/test_convtranspose* folders), read in memory.

Each ConvTranspose node's attributes are translated to canonical padding per axis with
convt_oracle.arithmetic.onnx_padding, then convt_oracle.conv_transpose is compared with the stored output.
"""

import glob
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed: no ONNX test data to compare with")
from onnx import numpy_helper  # noqa: E402

from convt_oracle import arithmetic, conv_transpose  # noqa: E402
from support.targets import loop_conv_transpose  # noqa: E402  (an independent reference)

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
FOLDERS = sorted(
    glob.glob(os.path.join(DATA, "pytorch-converted", "test_ConvTranspose*"))
    + glob.glob(os.path.join(DATA, "pytorch-operator", "test_operator_convtranspose*"))
    + glob.glob(os.path.join(DATA, "node", "test_convtranspose*"))
)


def _node_case_definitions():
    """(name, model, inputs, outputs) of the ConvTranspose node cases, without the `_expanded` variants.

    Importing the case module runs its export functions, which register the cases with the package's
    `expect`; reading that list avoids `collect_testcases`, which imports every op's cases (~5 s).
    """
    from onnx.backend.test.case import node as node_cases
    from onnx.backend.test.case.node import convtranspose  # noqa: F401  (registers the cases)

    registered = getattr(node_cases, "_NodeTestCases", None)
    if registered is None:  # layout changed: the slow public route
        registered = node_cases.collect_testcases("ConvTranspose")
    found = {}
    for case in registered:
        ops = [n.op_type for n in case.model.graph.node]
        if ops == ["ConvTranspose"] and not case.name.endswith("_expanded"):
            (inputs, outputs), = case.data_sets
            found[case.name] = (case.model, list(inputs), list(outputs))
    return found


NODE_CASES = _node_case_definitions()


def _attributes(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _canonical_params(node, x, w):
    """oracle keyword arguments for an ONNX ConvTranspose node applied to x and w."""
    attrs = _attributes(node)
    rank = x.ndim - 2
    size, kernel = x.shape[2:], w.shape[2:]
    if "kernel_shape" in attrs:
        assert tuple(attrs["kernel_shape"]) == tuple(kernel), f"kernel_shape {attrs['kernel_shape']} vs W {w.shape}"
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    strides = attrs.get("strides", [1] * rank)
    dilations = attrs.get("dilations", [1] * rank)
    pads = attrs.get("pads", [0] * (2 * rank))
    output_padding = attrs.get("output_padding", [0] * rank)
    output_shape = attrs.get("output_shape")
    if output_shape is not None:
        output_shape = list(output_shape)[-rank:]  # spatial sizes (older models may include N, C)
    axes = [
        arithmetic.onnx_padding(
            size[a],
            kernel[a],
            strides[a],
            dilations[a],
            auto_pad=auto_pad,
            pads=(pads[a], pads[a + rank]),
            output_padding=output_padding[a],
            output_shape=None if output_shape is None else output_shape[a],
        )
        for a in range(rank)
    ]
    return dict(
        stride=tuple(strides),
        dilation=tuple(dilations),
        padding=tuple((p.begin, p.end) for p in axes),
        output_padding=tuple(p.output_padding for p in axes),
        groups=attrs.get("group", 1),
    ), attrs


def _node_inputs(model, fed):
    """The ConvTranspose node's inputs (X, W[, B]) from initializers and the fed graph inputs, in order."""
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    free = [i.name for i in model.graph.input if i.name not in values]
    assert len(free) == len(fed), f"graph inputs {free} but {len(fed)} input files"
    values.update(zip(free, fed))
    (node,) = [n for n in model.graph.node if n.op_type == "ConvTranspose"]
    return node, [values[name] for name in node.input if name]


def _compare(model, fed, expected, where):
    __tracebackhide__ = True
    node, inputs = _node_inputs(model, fed)
    x, w, *bias = inputs
    params, attrs = _canonical_params(node, x, w)
    got = conv_transpose(x, w, bias[0] if bias else None, **params)
    call = f"{where}: attributes {attrs} -> conv_transpose(x{x.shape}, w{w.shape}, bias={bool(bias)}, **{params})"
    assert got.shape == expected.shape, f"{call}: shape {got.shape}, expected {expected.shape}"
    # The stored outputs are float32 results of sums of at most K = Cig * taps products (+ the bias): a
    # correct one lies within gamma_{K+1}(u) * S + u * |y| of the exact y (u = 2**-24, S the sum of the
    # terms' magnitudes, from the loop reference on |x|, |w|, |bias|, not from the golden), per element.
    u, terms = 2.0**-24, w.shape[0] // params["groups"] * np.prod(w.shape[2:]) + 1
    magnitude = loop_conv_transpose(np.abs(x), np.abs(w), np.abs(bias[0]) if bias else None, **params)
    bound = terms * u / (1 - terms * u) * magnitude + u * np.abs(got) + 2.0**-149
    error = np.abs(got - expected.astype(np.float64))
    worst = np.unravel_index(np.argmax(error / bound), error.shape)
    assert np.all(error <= bound), (
        f"{call}: |error| {error[worst]:.3g} > float32 rounding bound {bound[worst]:.3g} at {worst} "
        f"(got {got[worst]!r}, stored {expected[worst]!r}); {int((error > bound).sum())} of {error.size} elements over"
    )


@pytest.mark.parametrize("folder", FOLDERS, ids=[os.path.relpath(f, DATA) for f in FOLDERS])
def test_onnx_data_folder(folder):
    model = onnx.load(os.path.join(folder, "model.onnx"))
    data_sets = sorted(glob.glob(os.path.join(folder, "test_data_set_*")))
    assert data_sets, f"{folder}: no test_data_set_*"
    for data_set in data_sets:

        def load(kind):
            paths = glob.glob(os.path.join(data_set, f"{kind}_*.pb"))
            paths.sort(key=lambda p: int(p.rsplit("_", 1)[1][: -len(".pb")]))
            return [numpy_helper.to_array(onnx.load_tensor(p)) for p in paths]

        (expected,) = load("output")
        _compare(model, load("input"), expected, os.path.relpath(data_set, DATA))


@pytest.mark.parametrize("name", sorted(NODE_CASES), ids=[f"node-case/{n}" for n in sorted(NODE_CASES)])
def test_onnx_node_case(name):
    model, inputs, outputs = NODE_CASES[name]
    (expected,) = outputs
    _compare(model, inputs, np.asarray(expected), f"onnx.backend.test.case.node.convtranspose {name}")


def test_expected_onnx_data_present():
    names = {os.path.basename(f) for f in FOLDERS}
    assert {"test_ConvTranspose2d", "test_ConvTranspose2d_no_bias", "test_operator_convtranspose"} <= names
    assert len(NODE_CASES) >= 11, sorted(NODE_CASES)
