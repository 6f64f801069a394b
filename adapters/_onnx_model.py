"""What the two ONNX adapters share: the ConvTranspose attributes of a case, the model, a session cache.

ONNX's rules (the operator spec, opset 22; the arithmetic is convt_oracle.arithmetic.onnx_padding):
- layouts are the golden's: X (N, Cin, *spatial), W (Cin, Cout // group, *k), optional B (Cout,);
- NOTSET: `pads` [begin..., end...] crop the full result, `output_padding` appends at the end;
- auto_pad VALID: no pads; `output_padding` appends at the end;
- auto_pad SAME_UPPER: output size i*s, total = F + output_padding - i*s split with the odd element
  cropped at the end;
- `output_shape` O (pads ignored): total = F + output_padding - O, split with the larger half at the start
  (NOTSET) or at the end (SAME_UPPER).

Each mode is asked the way ONNX spells it, and the attributes are accepted only when the spec
(`arithmetic.onnx_padding`) selects the case's elements (`arithmetic.same_elements`, through
adapters.base.spell); otherwise the case is unsupported, with the reason.

- `explicit` -> pads + output_padding (always the canonical padding);
- `same`     -> auto_pad SAME_UPPER + the case's output_padding (non-zero only when ke < s: it makes the
                total 0, so the spec's result is the canonical zero-extension to i*s);
- `valid`    -> auto_pad VALID + the case's output_padding;
- `output_shape` -> output_shape, no pads, auto_pad NOTSET if the spec's split gives the canonical begin,
                else SAME_UPPER; per axis the smallest output_padding in [0, stride) that does (the spec:
                output_padding "participates in the computation of the needed padding amount").

The spec says "each padding value in output_padding must be less than the corresponding stride/dilation
dimension", which both runtimes enforce as output_padding < stride (onnxruntime's message says max(stride,
dilation), then its shape check refuses anything >= stride; onnx.reference's col2im fails): the documented
domain (`OnnxAdapter.domain`). Such a case is asked all the same, and a refusal of it is `refused`.

Known runtime deviations from the spec (tests/test_conventions_onnx.py, test_finding_*) are not avoided here:
onnx.reference ignores `output_shape` unless auto_pad is SAME_*, so it fails the `output_shape` cases
asked with NOTSET and a positive total padding, and the oracle reports it. (onnxruntime clamps a negative
total padding to 0; no accepted case has one that matters: an accepted split never starts before the full
result, which for NOTSET allows a total of -1 only, where the clamp and the spec agree.)
"""

from __future__ import annotations

from collections import OrderedDict

from convt_oracle.adapters.base import Adapter, Spelling, call_source, literal, spell
from convt_oracle import arithmetic
from convt_oracle.errors import Unsupported

OPSET = 22  # ConvTranspose-22 (bfloat16 added to the type list); onnxruntime 1.32 and onnx 1.23 run it
# ConvTranspose-11 is the same operator for float16, float32 and float64: the opset an older runtime that
# knows no opset 22 is given (onnxruntime 1.17 reads opsets up to 20).
OLDER_OPSET = 11
SESSION_CACHE_SIZE = 256


def _elem_type_name(dtype: str) -> str:
    """The TensorProto name of `_elem_type` (FLOAT16, BFLOAT16, FLOAT, DOUBLE), for a native source."""
    from onnx import TensorProto

    return TensorProto.DataType.Name(_elem_type(dtype))


def _elem_type(dtype: str) -> int:
    from onnx import TensorProto

    return {
        "float16": TensorProto.FLOAT16,
        "bfloat16": TensorProto.BFLOAT16,
        "float32": TensorProto.FLOAT,
        "float64": TensorProto.DOUBLE,
    }[dtype]


def _axes(case):
    return zip(case.input_size, case.kernel_size, case.stride, case.dilation, case.padding, case.output_padding)


def _spec_padding(case, axis, auto_pad, output_padding, output_shape=None, pads=(0, 0)):
    i, k, s, d = case.input_size[axis], case.kernel_size[axis], case.stride[axis], case.dilation[axis]
    return arithmetic.onnx_padding(
        i, k, s, d, auto_pad=auto_pad, pads=pads, output_padding=output_padding, output_shape=output_shape
    )


def attributes(case) -> dict:
    """The ConvTranspose attributes that ask for `case` the way its mode says; Unsupported otherwise.

    An invalid case (the golden refuses it) is passed as given, unchecked, for the runtime to refuse: pads,
    output_padding, strides, dilations, group and an `output_shape` case's requested size carry any int64 (a
    float becomes a FLOAT(S) attribute, which the runtime must refuse); past int64, Unsupported.
    """
    attrs = {
        "kernel_shape": list(case.kernel_size),
        "strides": list(case.stride),
        "dilations": list(case.dilation),
        "group": case.groups,
    }
    if not case.valid:
        if case.mode == "output_shape":  # the size the case asks for, its output_padding as it is
            attrs.update(output_shape=list(case.asked_output_size), output_padding=list(case.output_padding))
        else:
            attrs.update(_mode_attributes(case))
        _check_int64(attrs)
        return attrs
    if case.mode == "output_shape":
        attrs.update(_output_shape_attributes(case))
        return attrs
    mode_attrs = _mode_attributes(case)
    auto_pad = mode_attrs.get("auto_pad", "NOTSET")

    def options(axis):
        pads = case.padding[axis] if auto_pad == "NOTSET" else (0, 0)
        yield None, _spec_padding(case, axis, auto_pad, case.output_padding[axis], pads=pads)

    found = spell(case, [Spelling(f"ONNX {case.mode} ({mode_attrs})", options, call=lambda _: mode_attrs)])
    if found.argument is None:
        raise Unsupported(found.tried)
    attrs.update(found.argument)
    return attrs


def _check_int64(attrs: dict) -> None:
    """Unsupported where an integer attribute is past int64: an ONNX model (INT, INTS) cannot hold it."""
    for name, value in attrs.items():
        values = value if isinstance(value, list) else [value]
        huge = [v for v in values if isinstance(v, int) and not -(2**63) <= v < 2**63]
        if huge:
            raise Unsupported(f"ONNX attributes are int64: {name} {value} cannot be written into a model")


def _mode_attributes(case) -> dict:
    """pads + output_padding (explicit), or auto_pad SAME_UPPER / VALID + output_padding."""
    if case.mode == "explicit":
        return {
            "pads": [b for b, _ in case.padding] + [e for _, e in case.padding],
            "output_padding": list(case.output_padding),
        }
    return {"auto_pad": "SAME_UPPER" if case.mode == "same" else "VALID", "output_padding": list(case.output_padding)}


def _output_shape_attributes(case) -> dict:
    """output_shape, with auto_pad NOTSET or SAME_UPPER and a per-axis output_padding, or Unsupported."""
    size = case.output_shape[2:]

    def asked(auto_pad) -> Spelling:
        def options(axis):
            for op in range(case.stride[axis]):
                yield op, _spec_padding(case, axis, auto_pad, op, output_shape=size[axis])

        def call(ops):
            attrs = {"output_shape": list(size), "output_padding": list(ops)}
            return attrs if auto_pad == "NOTSET" else {**attrs, "auto_pad": auto_pad}

        return Spelling(f"output_shape {list(size)} with auto_pad {auto_pad}", options, call)

    found = spell(case, [asked("NOTSET"), asked("SAME_UPPER")])
    if found.argument is None:
        raise Unsupported(
            "ONNX output_shape splits the total crop evenly (larger half at the start, or at the end under "
            f"SAME_UPPER), output_padding < stride: {found.tried}"
        )
    return found.argument


def model_inputs(case) -> list[tuple[str, list[int]]]:
    """The model's inputs, (name, shape): X, W, and B with a bias."""
    inputs = [("X", list(case.x_shape)), ("W", list(case.w_shape))]
    return inputs + ([("B", list(case.bias_shape))] if case.bias else [])


def build_model(case, attrs: dict, *, opset: int = OPSET, ir_version: int | None = None):
    """An in-memory ModelProto: one ConvTranspose node, inputs X, W (and B with a bias), output Y, in
    `opset`, stamped with `ir_version` (None: the one onnx writes by default)."""
    from onnx import helper

    elem = _elem_type(case.dtype)
    inputs = [helper.make_tensor_value_info(name, elem, shape) for name, shape in model_inputs(case)]
    node = helper.make_node("ConvTranspose", [value.name for value in inputs], ["Y"], **attrs)
    graph = helper.make_graph([node], "conv_transpose", inputs, [helper.make_tensor_value_info("Y", elem, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if ir_version is not None:
        model.ir_version = ir_version
    return model


def model_source(case, attrs: dict, *, opset: int = OPSET, ir_version: int | None = None) -> list[str]:
    """`build_model`'s calls as source lines: they bind `model` (the test compares it with build_model's)."""
    elem = f"TensorProto.{_elem_type_name(case.dtype)}"
    inputs = model_inputs(case)
    lines = [
        "from onnx import TensorProto, helper",
        "inputs = [",
        *(f"    helper.make_tensor_value_info({name!r}, {elem}, {literal(shape)})," for name, shape in inputs),
        "]",
        "node = " + call_source("helper.make_node", "'ConvTranspose'", literal([name for name, _ in inputs]), "['Y']", **attrs),
        f"graph = helper.make_graph([node], 'conv_transpose', inputs, [helper.make_tensor_value_info('Y', {elem}, None)])",
        f"model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', {opset})])",
    ]
    if ir_version is not None:
        lines.append(f"model.ir_version = {ir_version}")
    return lines


def signature(case, attrs: dict) -> tuple:
    """What a compiled model depends on: dtype, shapes, bias and attributes (not the values, nor the seed)."""
    return (
        case.dtype,
        case.x_shape,
        case.w_shape,
        case.bias,
        tuple(sorted((key, tuple(v) if isinstance(v, list) else v) for key, v in attrs.items())),
    )


class OnnxAdapter(Adapter):
    """Base of the ONNX adapters: attributes from `attributes`, one compiled model per signature.

    A subclass sets `name`, `framework`, `dtypes` and implements `compile(model)` and
    `execute(compiled, feeds)`, and writes what they do as `session_source` (lines that bind `y`, the runtime's
    first output, from `model` and `feeds`).
    """

    autodiff = False  # ONNX has no autodiff here: vjp is unsupported
    output_padding_limit = "any; `output_shape` crops only where ONNX's even split places them"
    documented_domain = ("output_padding < stride (the spec: 'less than the corresponding stride/dilation dimension'; both runtimes refuse more)",)
    model_format = {"opset": OPSET, "ir_version": None}  # what build_model writes (a runtime may want older)
    session_source: tuple[str, ...] = ()  # compile + execute as native_source's lines

    def __init__(self):
        super().__init__()
        self._compiled = OrderedDict()  # signature -> compiled model, least recently used first
        self.compilations = 0

    def limits(self, case):
        try:
            attributes(case)
        except Unsupported as error:
            return str(error)
        return None

    def domain(self, case):
        if case.mode == "output_shape":  # asked with output_padding < stride by construction
            return None
        for axis, (s, op) in enumerate(zip(case.stride, case.output_padding)):
            if op >= s:
                return f"ONNX ConvTranspose takes output_padding < stride: axis {axis} has output_padding {op}, stride {s}"
        return None

    def compiled(self, case):
        attrs = attributes(case)
        key = signature(case, attrs)
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        compiled = self.compile(build_model(case, attrs, **self.model_format))
        self.compilations += 1
        self._compiled[key] = compiled
        if len(self._compiled) > SESSION_CACHE_SIZE:
            self._compiled.popitem(last=False)
        return compiled

    def run(self, case, x, w, bias):
        feeds = {"X": x, "W": w} if bias is None else {"X": x, "W": w, "B": bias}
        return self.execute(self.compiled(case), feeds)

    def native_lines(self, case):
        self.load()  # onnxruntime's asks the runtime for the model's format
        arrays = {"X": "x", "W": "w", "B": "bias"}  # the source's arrays fed to the model's inputs
        feeds = ", ".join(f"{name!r}: {arrays[name]}.astype(dtype)" for name, _ in model_inputs(case))
        return [
            *model_source(case, attributes(case), **self.model_format),
            f"dtype = helper.tensor_dtype_to_np_dtype(TensorProto.{_elem_type_name(case.dtype)})",
            f"feeds = {{{feeds}}}",
            *self.session_source,
            "actual = y.astype(np.float64)",
        ]

    def compile(self, model):
        raise NotImplementedError

    def execute(self, compiled, feeds):
        raise NotImplementedError
