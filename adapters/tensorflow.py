"""TensorFlow: `tf.nn.conv{1,2,3}d_transpose`, with `tf.nn.bias_add` for the bias.

TF's rules (the translation, in one place):
- layouts: x (N, *spatial, Cin) (channels last, the only layout TF's CPU kernels take), filter
  (*k, Cout // groups, Cin) = w.transpose(2.., 1, 0); grouped convolution is implicit in the filter's
  shape (`output_shape` holds all Cout channels);
- TF always takes an explicit `output_shape`, and its result is the gradient of a forward convolution of
  an input of that shape: elements full[begin : begin + O] of the uncropped result (zeros past its end),
  with `begin` the forward convolution's padding at the start. The output size must be one the forward
  convolution maps back to the input size (convt_oracle.arithmetic.accepted_output_sizes); the canonical
  padding of a call is convt_oracle.arithmetic.output_shape_padding(i, k, s, d, padding, O);
- `padding` is 'SAME', 'VALID' (every rank), or explicit forward (begin, end) pairs per axis
  (conv2d_transpose only). tf.nn.conv1d_transpose is expand_dims + Conv2DBackpropInput + squeeze and
  passes its padding string through; a 1-d case that needs explicit pairs is asked the same way, through
  tf.nn.conv2d_transpose on a unit height axis (the op and kernel conv1d_transpose itself runs). 3-d has no
  explicit pairs (Conv3DBackpropInputV2 takes 'SAME' / 'VALID' only);
- modes: `same` -> 'SAME', `valid` -> 'VALID', `output_shape` -> 'SAME' or 'VALID' when one gives the
  case's canonical padding, else explicit pairs; `explicit` -> explicit pairs: the case's own (begin, end),
  else the same crop with the least end (a padding's result is full[begin : begin + O], so (b, e, op) and
  (b, e - op, 0) are one computation); where pairs are out of reach (3-d; groups or dilation, which TF's
  CPU kernels refuse with pairs) 'SAME' or 'VALID' with the case's output_shape when one gives the same
  crop. Each call is checked with the arithmetic before it is made; a case no call reproduces is
  unsupported, with the reason (output_padding past stride - 1 beyond the end crop, a 3-d crop no
  padding string gives);
- TF's op takes no bias: it is added with `tf.nn.bias_add`, as TF's and Keras's layers do. This is the
  only composition around the op (no crop, pad or slice);
- dilation > 1 and groups > 1 run only in TF's oneDNN CPU kernels (float32 everywhere oneDNN is on;
  bfloat16 where the CPU has it); TF's other CPU kernels refuse them: outside that domain (`kernel_domain`)
  a case is asked all the same, and TF's refusal is `refused`, with TF's message. Which combinations this
  installation runs is asked of TF itself once (`kernel_refusal`) only to choose the spelling: a padding
  string where TF's kernels refuse explicit pairs but take the string;
- gradients: tf.GradientTape, with respect to x, the filter and the bias.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import NamedTuple

import numpy as np

from convt_oracle.adapters.base import (
    Adapter, RunsInTf32Mode, Spelling, call_source, case_padding, literal, spell,
)
from convt_oracle.cases.model import numpy_dtype
from convt_oracle import arithmetic
from convt_oracle.tolerance import Tolerance


def channels_last(array: np.ndarray) -> np.ndarray:
    """(N, C, *spatial) -> (N, *spatial, C)."""
    return np.ascontiguousarray(np.moveaxis(array, 1, -1))


def channels_first(array: np.ndarray) -> np.ndarray:
    """(N, *spatial, C) -> (N, C, *spatial)."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1))


def tf_filter_axes(rank: int) -> tuple[int, ...]:
    """The transpose of a golden weight (Cin, Cout // groups, *k) into a TF/Keras filter (*k, Cout // groups, Cin)."""
    return (*range(2, rank + 2), 1, 0)


def tf_filter(w: np.ndarray) -> np.ndarray:
    """Golden weight (Cin, Cout // groups, *k) -> TF/Keras filter (*k, Cout // groups, Cin)."""
    return np.ascontiguousarray(w.transpose(tf_filter_axes(w.ndim - 2)))


def channels_last_source(rank: int, convert: str, dtype: str, suffix: str, bias: bool) -> list[str]:
    """Source lines of a native source turning its float64 x, w (and bias) into tensors x{suffix}, w{suffix}
    (b{suffix}) in TF's and Keras's layouts, with `convert` (e.g. tf.constant) to `dtype` (source text): the
    transposes of `channels_last` and `tf_filter`."""
    axes = ", ".join(str(axis) for axis in tf_filter_axes(rank))
    lines = [
        f"x{suffix} = {convert}(np.moveaxis(x, 1, -1), dtype={dtype})  # (N, *spatial, Cin)",
        f"w{suffix} = {convert}(w.transpose({axes}), dtype={dtype})  # (*k, Cout // groups, Cin)",
    ]
    return lines + ([f"b{suffix} = {convert}(bias, dtype={dtype})"] if bias else [])


def golden_weight(filter_: np.ndarray) -> np.ndarray:
    """Inverse of `tf_filter`."""
    rank = filter_.ndim - 2
    return np.ascontiguousarray(filter_.transpose(rank + 1, rank, *range(rank)))


def import_tensorflow():
    """Import TensorFlow with its C++ log quiet (the variable is read at the first import only)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow

    return tensorflow


class TfCall(NamedTuple):
    """What TF is asked for a case: `tf.nn.<function>(x, w, output_shape, strides, padding=..., dilations=...)`,
    with x and w given a unit height axis (and the result's squeezed) where `unit_height` (1-d, explicit pairs)."""

    function: str
    output_shape: list
    strides: list
    padding: str | list
    dilations: list
    unit_height: bool = False


def tf_transpose_op(tf, rank: int):
    return {1: tf.nn.conv1d_transpose, 2: tf.nn.conv2d_transpose, 3: tf.nn.conv3d_transpose}[rank]


@functools.cache
def kernel_refusal(rank: int, dtype: str, explicit: bool, dilated: bool, grouped: bool) -> str | None:
    """TF's own error message if its CPU kernel for this combination refuses it here, else None.

    Asked once per combination with a tiny call of the same kind (rank, dtype, explicit pairs or a padding
    string, dilation 2 or not, 2 groups or not). Which kernel runs depends on the installation and the CPU
    (oneDNN on or off, bfloat16 and float16 support in oneDNN): the known refusals are "Current CPU
    implementations do not yet support dilation rates larger than 1", "Gradients for grouped convolutions
    are not supported on CPU" (TF's forward transposed convolution is that gradient) and, for 3-d groups,
    "input and filter must have the same depth".
    """
    if not (dilated or grouped):
        return None
    tf = import_tensorflow()
    groups = 2 if grouped else 1
    dilation = 2 if dilated else 1
    dtype_ = numpy_dtype(dtype)
    x = np.ones((1, *(2,) * rank, 2), dtype_)
    w = np.ones((*(2,) * rank, 2 // groups, 2), dtype_)
    size = arithmetic.full_size(2, 2, 1, dilation)
    padding = [[0, 0], *[[0, 0]] * rank, [0, 0]] if explicit else "VALID"
    try:
        tf_transpose_op(tf, rank)(
            tf.constant(x), tf.constant(w), [1, *(size,) * rank, 2], [1] * rank, padding=padding,
            dilations=[dilation] * rank,
        )
    except Exception as error:  # noqa: BLE001 - any refusal is TF's answer
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "}}" in message:  # drop the "{{function_node ...}}" prefix
            message = message.split("}}", 1)[1].strip()
        return message
    return None


def refusal_reason(rank: int, case, explicit: bool) -> str | None:
    """The reason TF's CPU kernels refuse `case`'s dilation or groups here, asked of TF (`kernel_refusal`)."""
    dilated, grouped = max(case.dilation) > 1, case.groups > 1
    message = kernel_refusal(rank, case.dtype, explicit, dilated, grouped)
    if message is None:
        return None
    what = " and ".join(part for part, on in (("dilation > 1", dilated), ("groups > 1", grouped)) if on)
    call = f"conv{rank}d_transpose with {'explicit padding pairs' if explicit else 'a padding string'}"
    return f"TF's CPU {call} refuses {what} in {case.dtype} here: {message}"


# TF's CPU kernels for dilation and groups: the limit TensorFlow's own kernels state when they refuse.
KERNEL_DOMAIN = (
    "dilation > 1 and groups > 1 only where oneDNN runs the call (float32 with oneDNN on, bfloat16 on AVX-512): "
    "TF's own CPU kernels refuse them ('Current CPU implementations do not yet support dilation rates larger "
    "than 1', 'Gradients for grouped convolutions are not supported on CPU')"
)


def kernel_domain(case) -> str | None:
    """TF's CPU kernels' limit that `case` breaks (dilation or groups), or None (shared with keras-tensorflow)."""
    what = [part for part, on in (("dilation > 1", max(case.dilation) > 1), ("groups > 1", case.groups > 1)) if on]
    if not what:
        return None
    return f"TF's CPU kernels take {' and '.join(what)} only where oneDNN runs the call ({case.dtype} here)"


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN kernels in this process (TF_ENABLE_ONEDNN_OPTS, or by default on
    CPUs with AVX-512), asked of TensorFlow."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


class TensorflowAdapter(Adapter):
    name = "tensorflow"
    framework = "tensorflow"
    autodiff = True
    output_padding_limit = (
        "an output_shape TF's rule accepts (its forward convolution gives the input size): output_padding "
        "beyond stride - 1 past the end crop is not expressible; explicit pairs in 1-d and 2-d only"
    )
    documented_domain = (KERNEL_DOMAIN,)

    def load(self):
        if self._framework is None:
            self._framework = import_tensorflow()
        return self._framework

    # --- the translation --------------------------------------------------------------------------------
    def plan(self, case):
        """(padding argument, output spatial size) of the TF call for `case`, or (None, the reason)."""
        rank = case.spatial_rank
        if not case.valid:
            return self._plan_invalid(case)
        sizes = case.output_shape[2:]

        def asked(label, padding_of_axis, argument) -> Spelling:
            """TF's output_shape rule with these forward paddings: the crop TF computes, or its objection."""

            def options(axis):
                i, k, s, d = case.input_size[axis], case.kernel_size[axis], case.stride[axis], case.dilation[axis]
                try:
                    yield argument, arithmetic.output_shape_padding(i, k, s, d, padding_of_axis(axis), sizes[axis])
                except ValueError as error:
                    yield argument, str(error)

            return Spelling(label, options, call=lambda _: argument)

        def string(name):
            return asked(repr(name), lambda axis: name, name)

        def pairs(chosen):
            return asked(f"explicit pairs {chosen}", lambda axis: chosen[axis], chosen)

        # Explicit pairs exist for Conv2DBackpropInput (1-d and 2-d), where TF's CPU kernels take them: the
        # case's own (begin, end) pairs, then the same crop written with the least end. Where they are out
        # of reach, an explicit case whose crop a padding string gives is asked that way.
        pairs_asked = case.mode in ("explicit", "output_shape")
        refused = pairs_asked and (rank == 3 or refusal_reason(2, case, explicit=True) is not None)
        own = [tuple(pair) for pair in case.padding]
        least = [(p.begin, p.end) for p in case_padding(case)]
        strings = {"same": ["SAME"], "valid": ["VALID"], "output_shape": ["SAME", "VALID"]}.get(case.mode, [])
        spellings = [string(name) for name in strings]
        if pairs_asked and not refused:
            spellings += [pairs(own)] + ([pairs(least)] if least != own else [])
        if case.mode == "explicit":
            spellings += [string("SAME"), string("VALID")]
        found = spell(case, spellings)
        if found.argument is not None:
            return found.argument, sizes
        if case.mode in ("same", "valid"):
            return None, f"TF's {found.tried}"
        if rank == 3:
            return None, (
                "tf.nn.conv3d_transpose takes padding 'SAME' or 'VALID' only (explicit pairs exist for "
                f"Conv2DBackpropInput only, which 1-d and 2-d use); {found.tried}"
            )
        if refused:
            return own, sizes  # outside TF's kernels' domain: asked, and TF's refusal is `refused`
        return None, f"not expressible in TF: {found.tried}"

    def _plan_invalid(self, case):
        """An invalid case has no result to reproduce: TF is asked with the sizes the canonical formula gives
        (possibly < 1), or the size an `output_shape` case requests, so that TF itself accepts or rejects the
        configuration."""
        rank = case.spatial_rank
        if not isinstance(case.groups, int) or case.groups < 1 or case.in_channels % case.groups:
            return None, (
                "TF has no groups argument (groups are implicit in the filter's shape), so an invalid group "
                f"count ({case.groups!r} for {case.in_channels} input channels) cannot be asked of it"
            )
        # The canonical formula's sizes (possibly < 1), or the case's requested size. TF's output_shape is an
        # int tensor: a size that is an integral float (stride 1.5 gives 5.0) is written as that int, so
        # that TF meets the float where the case has it; a size that is no integer (9.5: a fractional
        # output_padding, which TF can state only there) goes as it is.
        sizes = tuple(int(n) if isinstance(n, float) and n.is_integer() else n for n in case.asked_output_size)
        if case.mode in ("same", "valid"):
            return case.mode.upper(), sizes
        if rank in (1, 2):
            return [tuple(pair) for pair in case.padding], sizes
        return None, f"tf.nn.conv{rank}d_transpose takes padding 'SAME' or 'VALID' only; invalid case: {case.reason}"

    def limits(self, case):
        padding, detail = self.plan(case)
        return detail if padding is None else None

    def domain(self, case):
        return kernel_domain(case)

    def kernels(self):
        return {"onednn": onednn_enabled()}

    # --- the call ---------------------------------------------------------------------------------------
    def _tensor(self, array):
        tf = self.load()
        return None if array is None else tf.constant(array)

    def tf_call(self, case) -> TfCall:
        """TF's call for `case`, from `plan` (one place for `run` and `native_source`)."""
        rank = case.spatial_rank
        padding, sizes = self.plan(case)
        output_shape = [case.batch, *sizes, case.out_channels]
        if isinstance(padding, str):
            return TfCall(f"conv{rank}d_transpose", output_shape, list(case.stride), padding, list(case.dilation))
        if rank == 1:  # as tf.nn.conv1d_transpose does it, with explicit pairs: a unit height axis
            return TfCall(
                "conv2d_transpose", [case.batch, 1, *sizes, case.out_channels], [1, *case.stride],
                [[0, 0], [0, 0], list(padding[0]), [0, 0]], [1, *case.dilation], unit_height=True,
            )
        return TfCall(
            "conv2d_transpose", output_shape, list(case.stride), [[0, 0], *[list(pair) for pair in padding], [0, 0]],
            list(case.dilation),
        )

    def _forward(self, case, x, w, bias):
        """x, w, bias: TF tensors in TF's layouts; returns the channels-last result."""
        tf = self.load()
        call = self.tf_call(case)
        if call.unit_height:
            x, w = tf.expand_dims(x, 1), tf.expand_dims(w, 0)
        y = getattr(tf.nn, call.function)(
            x, w, call.output_shape, call.strides, padding=call.padding, dilations=call.dilations
        )
        if call.unit_height:
            y = tf.squeeze(y, 1)  # the unit height axis, as conv1d_transpose drops it
        if bias is not None:
            y = tf.nn.bias_add(y, bias)  # what TF's and Keras's layers do; the op itself takes no bias
        return y

    def native_lines(self, case):
        call = self.tf_call(case)
        x, w = ("tf.expand_dims(x_tf, 1)", "tf.expand_dims(w_tf, 0)") if call.unit_height else ("x_tf", "w_tf")
        body = channels_last_source(case.spatial_rank, "tf.constant", f"tf.{case.dtype}", "_tf", case.bias)
        body.append("y = " + call_source(
            f"tf.nn.{call.function}", x, w, literal(call.output_shape), literal(call.strides),
            padding=call.padding, dilations=call.dilations,
        ))
        if call.unit_height:
            body.append("y = tf.squeeze(y, 1)")
        if case.bias:
            body.append("y = tf.nn.bias_add(y, b_tf)")
        return [
            "import tensorflow as tf",
            f"with tf.device({self.tf_device!r}):",
            *("    " + line for line in body),
            "actual = np.moveaxis(y.numpy().astype(np.float64), -1, 1)",
        ]

    def run(self, case, x, w, bias):
        tf = self.load()
        with tf.device(self.tf_device):
            y = self._forward(case, self._tensor(channels_last(x)), self._tensor(tf_filter(w)), self._tensor(bias))
        return channels_first(y.numpy())

    @property
    def tf_device(self) -> str:
        return "/GPU:0" if self.device == "gpu" else "/CPU:0"

    def run_vjp(self, case, x, w, grad_out, bias):
        tf = self.load()
        with tf.device(self.tf_device):
            return self._vjp(case, x, w, grad_out, bias)

    def _vjp(self, case, x, w, grad_out, bias):
        tf = self.load()
        inputs = [self._tensor(channels_last(x)), self._tensor(tf_filter(w))]
        if bias is not None:
            inputs.append(self._tensor(bias))
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = self._forward(case, inputs[0], inputs[1], inputs[2] if bias is not None else None)
        grads = tape.gradient(y, inputs, output_gradients=self._tensor(channels_last(grad_out)))
        grad_x = channels_first(grads[0].numpy())
        grad_w = golden_weight(grads[1].numpy())
        return grad_x, grad_w, None if bias is None else grads[2].numpy()


class TensorflowGpuAdapter(RunsInTf32Mode, TensorflowAdapter):
    """TensorFlow on its first GPU in strict float32: TensorFloat-32 execution off around every call
    (tf.config.experimental.enable_tensor_float_32_execution(False), the process's setting restored after);
    every case `unsupported`, with the reason, where TF sees no GPU."""

    name = "tensorflow-gpu"
    device = "gpu"
    tensor_float_32 = False  # TF's own default is True: tensorflow-gpu-tf32

    def device_unavailable(self):
        tf = self.load()
        if tf.config.list_physical_devices("GPU"):
            return None
        return f"TensorFlow {tf.__version__} sees no GPU: tf.config.list_physical_devices('GPU') is empty"

    @contextlib.contextmanager
    def tf32_mode(self):
        """TF's TensorFloat-32 execution set to `tensor_float_32` while the block runs, restored after."""
        experimental = self.load().config.experimental
        before = experimental.tensor_float_32_execution_enabled()
        experimental.enable_tensor_float_32_execution(self.tensor_float_32)
        try:
            yield
        finally:
            experimental.enable_tensor_float_32_execution(before)

    def native_lines(self, case):
        lines = super().native_lines(case)
        return lines[:1] + [f"tf.config.experimental.enable_tensor_float_32_execution({self.tensor_float_32})"] + lines[1:]

    def kernels(self):
        """oneDNN, the TensorFloat-32 setting this variant runs with, and the GPUs TF sees."""
        tf = self.load()
        gpus = tf.config.list_physical_devices("GPU")
        facts = {**super().kernels(), "tensor_float_32": self.tensor_float_32, "gpus": len(gpus)}
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            facts["gpu"] = details.get("device_name", gpus[0].name)
            facts["compute_capability"] = list(details.get("compute_capability", ()))
        return facts


class TensorflowGpuTf32Adapter(TensorflowGpuAdapter):
    """tensorflow-gpu in TF's default mode: TensorFloat-32 execution on (float32 convolutions in TF32 on Ampere
    and later). Judged under Tolerance(inputs="tf32") unless a run asks for another tolerance."""

    name = "tensorflow-gpu-tf32"
    tensor_float_32 = True
    tolerance = Tolerance(inputs="tf32")
