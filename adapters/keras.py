"""Keras 3: `keras.ops.conv_transpose` on the jax, torch and tensorflow backends, with `keras.ops.add` for the bias.

Keras's rules (the translation, in one place):
- layouts: data_format='channels_last', x (N, *spatial, Cin), kernel (*k, Cout, Cin) = w.transpose(2.., 1, 0);
  no groups;
- `padding` is 'same' or 'valid' (one for every axis) and `output_padding` is None or one int per axis,
  documented as "lower than the stride"; convt_oracle.arithmetic.keras_padding gives the canonical padding
  of each combination (None and 0 differ). The torch backend crops to the same window on purpose
  (`compute_conv_transpose_output_crops_for_torch`); the tensorflow backend asks tf.nn.conv_transpose for
  that size with 'SAME' and gets the same window whenever TF accepts the size (tests/test_adapter_keras.py
  checks the arithmetic against TF's 'SAME' rule), and raises for the others (op = 0 with an even
  effective kernel: size (i-1)*s, below TF's accepted range; a finding, see the tests);
- modes: `same` -> ('same', None), `valid` -> ('valid', None); `explicit` and `output_shape` -> the first
  of ('valid', ops), ('same', ops), ('valid', None), ('same', None), ops in [0, stride-1] per axis, that
  selects the case's elements (adapters.base.spell); then ('valid', ops), ('same', ops) with any ops >= 0:
  output_padding >= stride is outside Keras's documented domain ("must be lower than the stride",
  `domain`), so such a case is asked all the same and a refusal is `refused`; none -> unsupported, with
  what each gives;
- the bias is added with keras.ops.add (broadcast over the channels-last axis), as Keras's layers do; this
  is the only composition around the op;
- gradients: the same call through the backend's autodiff (jax.vjp, torch.autograd, tf.GradientTape).

The backend is chosen by os.environ["KERAS_BACKEND"] when keras is first imported in a process and cannot
change afterwards: each adapter runs in its own process (a worker), and refuses to run (RuntimeError) if
keras was already imported there with another backend.
"""

from __future__ import annotations

import os
import sys
import warnings

import ml_dtypes
import numpy as np

from convt_oracle.adapters.base import Adapter, Spelling, call_source, spell
from convt_oracle.adapters.tensorflow import (
    KERNEL_DOMAIN, channels_first, channels_last, channels_last_source, golden_weight, kernel_domain, onednn_enabled,
    tf_filter,
)
from convt_oracle import arithmetic


class KerasAdapter(Adapter):
    """keras.ops.conv_transpose on the backend named by `backend` (a subclass per backend)."""

    framework = "keras"
    backend = ""
    configure_source: tuple[str, ...] = ()  # what `configure` does, as native_source's lines
    groups = False
    autodiff = True  # through the backend's own: jax.vjp, torch.autograd, tf.GradientTape
    output_padding_limit = "crops that padding 'same' or 'valid' with an output_padding give"
    documented_domain = ("output_padding lower than the stride (keras.ops.conv_transpose)",)

    # --- the framework ----------------------------------------------------------------------------------
    def load(self):
        if self._framework is not None:
            return self._framework
        if "keras" in sys.modules:
            current = sys.modules["keras"].backend.backend()
            if current != self.backend:
                raise RuntimeError(
                    f"{self.name}: keras is already imported in this process with the {current!r} backend; "
                    f"Keras picks its backend (KERAS_BACKEND) once per process, so {self.name} needs a process "
                    f"of its own (run it in an isolated worker)"
                )
        else:
            os.environ["KERAS_BACKEND"] = self.backend
        self.configure()
        import keras

        loaded = keras.backend.backend()
        if loaded != self.backend:
            raise RuntimeError(f"{self.name}: keras loaded the {loaded!r} backend, not {self.backend!r}")
        self._framework = keras
        return keras

    def configure(self):
        """Configure the backend; runs before keras is imported, if it is not yet (override)."""

    def version(self) -> str:
        keras = self.load()
        backend = sys.modules[self.backend]
        return f"{keras.__version__} ({self.backend} {getattr(backend, '__version__', 'unknown')})"

    # --- the translation --------------------------------------------------------------------------------
    def plan(self, case):
        """(padding, output_padding) of the Keras call for `case`, or (None, the reason)."""
        if not case.valid:  # no result to reproduce: ask Keras as the mode says, it accepts or rejects
            if case.mode in ("same", "valid"):
                return case.mode, None
            if case.mode == "explicit" and all(pair == (0, 0) for pair in case.padding):
                return "valid", tuple(case.output_padding)  # no crop: ('valid', op) is (0, 0, op) as given
            return None, f"keras.ops.conv_transpose takes no explicit padding; invalid case: {case.reason}"

        def keras(padding, with_output_padding, beyond_stride=False) -> Spelling:
            def options(axis):
                i, k, s, d = case.input_size[axis], case.kernel_size[axis], case.stride[axis], case.dilation[axis]
                # Beyond the stride: up to the largest output_padding that can give the case's size
                # ('valid': F + op, 'same': (i-1)*s + ke % 2 + op).
                ops = range(max(s, case.output_shape[2 + axis] - (i - 1) * s + 1)) if beyond_stride else range(s)
                for op in ops if with_output_padding else [None]:
                    yield op, arithmetic.keras_padding(i, k, s, d, padding, op)

            label = f"({padding!r}, None)"
            if with_output_padding:
                label = f"({padding!r}, output_padding {'>= 0' if beyond_stride else '< stride'})"
            return Spelling(label, options, call=lambda ops: (padding, ops if with_output_padding else None))

        if case.mode in ("same", "valid"):
            spellings = [keras(case.mode, False)]
        else:
            # Within Keras's documented domain first; then output_padding >= stride (`domain`).
            spellings = [keras("valid", True), keras("same", True), keras("valid", False), keras("same", False),
                         keras("valid", True, beyond_stride=True), keras("same", True, beyond_stride=True)]
        found = spell(case, spellings)
        if found.argument is not None:
            return found.argument
        return None, f"keras.ops.conv_transpose takes only padding 'same'/'valid' plus an output_padding: {found.tried}"

    def limits(self, case):
        padding, detail = self.plan(case)
        return detail if padding is None else None

    def domain(self, case):
        padding, output_padding = self.plan(case)
        if padding is not None and output_padding is not None and any(
            op >= s for op, s in zip(output_padding, case.stride)
        ):
            return (
                f"Keras takes output_padding lower than the stride; the case needs output_padding {list(output_padding)} "
                f"with stride {list(case.stride)}"
            )
        return None

    def runtime(self):
        keras = self.load()
        backend = sys.modules[self.backend]
        versions = {"keras": keras.__version__, self.backend: str(getattr(backend, "__version__", "unknown"))}
        return {"versions": versions, "kernels": self.kernels()}

    # --- the call ---------------------------------------------------------------------------------------
    def to_backend(self, array):
        """A numpy array (bfloat16 from ml_dtypes included) as a tensor of the backend, in its dtype."""
        keras = self.load()
        return keras.ops.convert_to_tensor(array)

    def to_numpy(self, tensor, dtype: str):
        keras = self.load()
        array = np.asarray(keras.ops.convert_to_numpy(tensor))
        if dtype == "bfloat16" and keras.backend.standardize_dtype(tensor.dtype) == "bfloat16":
            array = array.astype(ml_dtypes.bfloat16)  # exact: a backend may hand bfloat16 out as float32
        return array

    def call_arguments(self, case) -> dict:
        """keras.ops.conv_transpose's keyword arguments for `case`, from `plan` (one place for `run` and
        `native_source`)."""
        padding, output_padding = self.plan(case)
        return dict(
            strides=case.stride, padding=padding, output_padding=output_padding, data_format="channels_last",
            dilation_rate=case.dilation,
        )

    def _forward(self, case, x, w, bias=None):
        """keras.ops.conv_transpose (plus keras.ops.add for the bias) on backend tensors in Keras's layouts."""
        keras = self.load()
        y = keras.ops.conv_transpose(x, w, **self.call_arguments(case))
        if bias is not None:
            y = keras.ops.add(y, bias)  # Keras's layers add the bias the same way
        return y

    def native_lines(self, case):
        lines = [
            "import os",
            f"os.environ['KERAS_BACKEND'] = {self.backend!r}  # read once, at keras's first import",
            *self.configure_source,
            "import keras",
            *channels_last_source(case.spatial_rank, "keras.ops.convert_to_tensor", repr(case.dtype), "_k", case.bias),
            "y = " + call_source("keras.ops.conv_transpose", "x_k", "w_k", **self.call_arguments(case)),
        ]
        if case.bias:
            lines.append("y = keras.ops.add(y, b_k)")
        lines.append("actual = np.moveaxis(keras.ops.convert_to_numpy(y).astype(np.float64), -1, 1)")
        return lines

    def run(self, case, x, w, bias):
        with warnings.catch_warnings():
            # numpy 2 about the backend's __array__(copy=...): not about the result
            warnings.filterwarnings("ignore", message=".*__array__ implementation doesn't accept a copy keyword")
            inputs = [self.to_backend(channels_last(x)), self.to_backend(tf_filter(w))]
            if bias is not None:
                inputs.append(self.to_backend(bias))
            return channels_first(self.to_numpy(self._forward(case, *inputs), case.dtype))

    def run_vjp(self, case, x, w, grad_out, bias):
        """(grad_x, grad_w, grad_bias) of the same Keras call, through the backend's autodiff (`pullback`)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*__array__ implementation doesn't accept a copy keyword")
            inputs = [self.to_backend(channels_last(x)), self.to_backend(tf_filter(w))]
            if bias is not None:
                inputs.append(self.to_backend(bias))
            grads = self.pullback(lambda *args: self._forward(case, *args), inputs,
                                  self.to_backend(channels_last(grad_out)))
            grad_x = channels_first(self.to_numpy(grads[0], case.dtype))
            grad_w = golden_weight(self.to_numpy(grads[1], case.dtype))
            return grad_x, grad_w, None if bias is None else self.to_numpy(grads[2], case.dtype)

    def pullback(self, function, inputs, cotangent) -> list:
        """The gradients of <function(*inputs), cotangent> with respect to the inputs (per backend)."""
        raise NotImplementedError


class KerasJaxAdapter(KerasAdapter):
    name = "keras-jax"
    backend = "jax"
    # configure's x64 flag (float64 stays float64); not jax's compilation cache, which changes no result
    configure_source = ("import jax", "jax.config.update('jax_enable_x64', True)")

    def configure(self):
        import jax

        from convt_oracle.adapters import jax_cache

        jax.config.update("jax_enable_x64", True)  # float64 stays float64 (jax's default is to downcast)
        jax_cache.enable(jax)  # jax's persistent compilation cache, as the jax adapter has it

    def pullback(self, function, inputs, cotangent):
        import jax

        _, backward = jax.vjp(function, *inputs)
        return list(backward(cotangent))


class KerasTorchAdapter(KerasAdapter):
    name = "keras-torch"
    backend = "torch"

    def kernels(self):
        """torch's facts: keras's torch backend calls torch's conv_transpose, so torch's kernels run it."""
        import torch

        from convt_oracle.adapters.torch import kernel_facts

        return kernel_facts(torch)

    def pullback(self, function, inputs, cotangent):
        leaves = [tensor.detach().requires_grad_(True) for tensor in inputs]
        function(*leaves).backward(cotangent)
        return [leaf.grad for leaf in leaves]


class KerasTensorflowAdapter(KerasAdapter):
    name = "keras-tensorflow"
    backend = "tensorflow"

    def configure(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    def pullback(self, function, inputs, cotangent):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = function(*inputs)
        return tape.gradient(y, inputs, output_gradients=cotangent)

    documented_domain = (*KerasAdapter.documented_domain, f"the tensorflow backend's: {KERNEL_DOMAIN}")

    def domain(self, case):
        # keras calls tf.nn.conv_transpose with a padding string: TF's CPU kernels' limits apply too
        return "; ".join(limit for limit in (super().domain(case), kernel_domain(case)) if limit) or None

    def kernels(self):
        return {"onednn": onednn_enabled()}
