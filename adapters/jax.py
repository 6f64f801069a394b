"""jax: `jax.lax.conv_transpose(..., transpose_kernel=True)`, jit-compiled, and its vjp through `jax.vjp`.

jax's rules (the translation, in one place):
- layouts are the golden's, named by `dimension_numbers`: x 'NC' + spatial, w (Cin, Cout // groups, *k)
  read as 'OI' + spatial. With transpose_kernel=True the kernel spec describes the *forward* convolution
  (Cout -> Cin, O = Cin), and jax flips the spatial axes and swaps O and I before convolving;
- padding: mode `same` -> 'SAME' (output i*s), `valid` -> 'VALID' (output (i-1)*s + max(ke, s));
  `explicit` and `output_shape` -> explicit pairs on the stride-dilated input from
  `arithmetic.to_jax_padding`, (ke-1-begin, ke-1-end+output_padding). jax has no output_shape argument: an
  `output_shape` case is asked with the pairs of its canonical padding. Every padding is expressible
  (a pair may be negative: a crop beyond ke-1);
- dilation: `rhs_dilation`;
- groups: lax.conv_transpose has none. What it does internally is

      conv_transpose(x, w; s, d, pairs) = conv_general_dilated(x, flip(w^T), window_strides=1, padding=pairs,
                                                               lhs_dilation=s, rhs_dilation=d)

  with w^T the kernel with O and I swapped; grouped, w (g*Cig, Cog, *k) becomes w^T (g*Cog, Cig, *k)
  (per group the transpose, groups stacked along O) and `feature_group_count=g`. A grouped case is run
  through that native call, with the pairs of its canonical padding in every mode ('SAME' / 'VALID'
  strings mean the forward padding of the dilated input there, not the transposed conv's);
- bias: lax has none; it is added with jnp inside the jitted function (broadcast over N and spatial axes),
  in the input dtype, as Keras's layers do (the derived bound accepts that second rounding,
  convt_oracle.tolerance); the convolution itself is jax's default call in every dtype;
- precision: `jax` leaves the convolution's `precision=` at None, jax's default (exact float32 on the
  CPU); `jax-gpu` asks "highest" (strict float32), `jax-gpu-tf32` "default" (TF32 on Ampere and later);
- dtypes: float16, bfloat16, float32, and float64 with `jax_enable_x64`, which `load()` turns on (a
  process-wide jax setting);
- compiled once per (shapes, dtype, parameters) and process: the parameters (`JaxAdapter.plan`) are a
  static argument of one module-level `jax.jit` function (one for the forward call, one for the vjp), so
  the cache keys on them and on the arrays' shapes and dtypes, and every adapter instance shares it.
  `JaxAdapter.traces` counts the traces (each compiles, or loads from the persistent cache below); `cache_size()`
  reads jit's own caches.
  Across processes, jax's persistent compilation cache keeps the compiled programs on disk, so that a
  rerun compiles nothing it compiled before (convt_oracle.adapters.jax_cache: the folder, the settings).
"""

from __future__ import annotations

import numpy as np

from convt_oracle.adapters import jax_cache
from convt_oracle.adapters.base import Adapter, call_source, literal
from convt_oracle import arithmetic
from convt_oracle.tolerance import Tolerance

_SPATIAL = {1: "H", 2: "HW", 3: "DHW"}
_JITTED = {}  # "forward" / "vjp" -> the jitted function, built by the first load() of the process


class JaxAdapter(Adapter):
    name = "jax"
    framework = "jax"
    autodiff = True
    output_padding_limit = "none: any canonical padding is a pair of lax.conv_transpose"
    traces = 0  # traces of the jitted functions in this process: each one is a compilation or a load from the cache
    # The convolution's `precision=` (a static argument of the jitted call): None, jax's default for the backend
    # (exact float32 on the CPU); the GPU variants name it: "highest" (strict), "default" (TF32 on Ampere).
    precision: str | None = None

    def load(self):
        if self._framework is None:
            jax = super().load()
            jax.config.update("jax_enable_x64", True)  # float64 stays float64 (otherwise silently float32)
            jax_cache.enable(jax)  # a rerun loads its compiled programs from disk (convt_oracle.adapters.jax_cache)
            if not _JITTED:
                _JITTED["forward"] = jax.jit(_conv_transpose, static_argnames=("plan", "precision"))
                _JITTED["vjp"] = jax.jit(_pullback, static_argnames=("plan", "precision"))
        return self._framework

    @classmethod
    def cache_size(cls) -> int:
        """Compiled entries in jit's caches (forward + vjp), 0 before the first load() (a private jax API:
        0 too where a jax lacks it; `traces` is the public count)."""
        return sum(getattr(function, "_cache_size", lambda: 0)() for function in _JITTED.values())

    def limits(self, case):
        negative = any(b < 0 or e < 0 for b, e in case.padding) or any(op < 0 for op in case.output_padding)
        if not case.valid and negative:
            return (
                "jax's explicit pairs pad the stride-dilated input: a negative crop or output_padding is an "
                "ordinary pair for jax, not an error, so this invalid configuration cannot be asked of it"
            )
        if case.requested_output_size:
            return (
                "lax.conv_transpose takes no output size (its padding pairs give it), so a requested output size "
                f"{case.requested_output_size} cannot be asked of jax"
            )
        if not case.valid and case.groups != 1 and (
            not isinstance(case.groups, int) or case.groups < 1 or case.in_channels % case.groups
        ):
            # Without this, the adapter's own kernel reshape (or cin // 0) raised, and the oracle counted
            # that as jax rejecting the case.
            return (
                "lax.conv_transpose has no groups: the grouped call is built from the kernel split into "
                f"groups, and {case.in_channels} input channels in {case.groups} groups cannot be split, so "
                "this invalid configuration cannot be asked of jax"
            )
        return None

    @staticmethod
    def plan(case) -> tuple:
        """The static parameters of the call: hashable, independent of values and seed. The last item names the
        parameters' types where one is not an int: jit's cache compares plans with ==, and would answer an
        invalid case's stride 2.0 with the program compiled for stride 2."""
        if case.groups == 1 and case.mode in ("same", "valid"):
            padding = case.mode.upper()
        else:
            padding = tuple(
                arithmetic.to_jax_padding(k, d, arithmetic.AxisPadding(b, e, op))
                for k, d, (b, e), op in zip(case.kernel_size, case.dilation, case.padding, case.output_padding)
            )
        numbers = (*case.stride, *case.dilation, *(v for pair in case.padding for v in pair), *case.output_padding,
                   case.groups)
        types = () if all(type(n) is int for n in numbers) else tuple(type(n).__name__ for n in numbers)
        return (case.spatial_rank, tuple(case.stride), tuple(case.dilation), padding, case.groups, types)

    def _placed(self, *arrays):
        """The arrays on this adapter's device: jax computes where its inputs are (numpy arrays would go to
        jax's default device, a GPU where there is one)."""
        import jax

        device = jax.devices(self.device)[0]
        return tuple(None if a is None else jax.device_put(a, device) for a in arrays)

    def run(self, case, x, w, bias):
        self.load()
        x, w, bias = self._placed(x, w, bias)
        return np.asarray(_JITTED["forward"](x, w, bias, plan=self.plan(case), precision=self.precision))

    def native_lines(self, case):
        rank, stride, dilation, padding, groups, _ = self.plan(case)
        precision = {} if self.precision is None else {"precision": self.precision}
        spatial = _SPATIAL[rank]
        numbers = ("NC" + spatial, "OI" + spatial, "NC" + spatial)
        lines = [
            "import jax",
            "jax.config.update('jax_enable_x64', True)",
            "import jax.numpy as jnp",
            "from jax import lax",
            "",
            f"def conv_transpose(x, w{', bias' if case.bias else ''}):",
        ]
        if groups == 1:
            lines.append("    y = " + call_source(
                "lax.conv_transpose", "x", "w", literal(stride), literal(padding), rhs_dilation=dilation,
                dimension_numbers=numbers, transpose_kernel=True, **precision,
            ))
        else:  # _conv_transpose's grouped call, with the kernel's shapes written out
            cin, cog, *kernel = case.w_shape
            split = literal((groups, cin // groups, cog, *kernel))
            merged = literal((groups * cog, cin // groups, *kernel))
            lines += [
                "    # lax.conv_transpose has no groups: its own formula (flip(w^T), lhs_dilation) with feature_group_count",
                f"    transposed = w.reshape{split}.swapaxes(1, 2).reshape{merged}",
                f"    flipped = jnp.flip(transposed, axis={literal(tuple(range(2, 2 + rank)))})",
                "    y = " + call_source(
                    "lax.conv_general_dilated", "x", "flipped", literal((1,) * rank), literal(padding),
                    lhs_dilation=stride, rhs_dilation=dilation, dimension_numbers=numbers, feature_group_count=groups,
                    **precision,
                ),
            ]
        if case.bias:
            lines.append(f"    y = y + bias.reshape({literal((1, -1) + (1,) * rank)})")
        arrays = "x, w, bias" if case.bias else "x, w"
        lines += [
            "    return y",
            "",
            f"device = jax.devices({self.device!r})[0]",
            f"y = jax.jit(conv_transpose)(*(jax.device_put(a.astype(jnp.{case.dtype}), device) for a in ({arrays})))",
            "actual = np.asarray(y).astype(np.float64)",
        ]
        return lines

    def run_vjp(self, case, x, w, grad_out, bias):
        self.load()
        x, w, bias, grad_out = self._placed(x, w, bias, grad_out)
        grads = _JITTED["vjp"](x, w, bias, grad_out, plan=self.plan(case), precision=self.precision)
        return tuple(None if g is None else np.asarray(g) for g in grads)


class JaxGpuAdapter(JaxAdapter):
    """jax on its first GPU in strict float32: the convolution's precision=HIGHEST (no TF32); every case
    `unsupported`, with the reason, where jax sees no GPU."""

    name = "jax-gpu"
    device = "gpu"
    precision = "highest"

    def device_unavailable(self):
        jax = self.load()
        try:
            jax.devices("gpu")
        except RuntimeError as error:
            return f"jax {jax.__version__} sees no GPU: {str(error).splitlines()[0]}"
        return None

    def kernels(self):
        """The convolution's precision, and the GPU jax computes on (asked once its device is known to be here)."""
        jax = self.load()
        facts = {"precision": self.precision or "default"}
        if self._device_reason() is None:
            device = jax.devices(self.device)[0]
            facts.update(gpu=getattr(device, "device_kind", str(device)), platform_version=_platform_version(device))
        return facts


class JaxGpuTf32Adapter(JaxGpuAdapter):
    """jax-gpu in jax's default precision (precision=DEFAULT: XLA may run float32 convolutions in TF32 on
    Ampere and later). Judged under Tolerance(inputs="tf32") unless a run asks for another tolerance."""

    name = "jax-gpu-tf32"
    precision = "default"
    tolerance = Tolerance(inputs="tf32")


def _platform_version(device) -> str:
    """The device's platform version (CUDA and driver, as XLA reports them), or "unknown"."""
    try:
        return str(device.client.platform_version)
    except Exception:  # noqa: BLE001 - a fact for the report, never fatal
        return "unknown"


def _conv_transpose(x, w, bias, plan, precision=None):
    """The call, traced by jax.jit once per (shapes, dtypes, plan)."""
    import jax

    JaxAdapter.traces += 1  # runs only while tracing
    lax, jnp = jax.lax, jax.numpy
    rank, stride, dilation, padding, groups, _ = plan
    spatial = _SPATIAL[rank]
    numbers = ("NC" + spatial, "OI" + spatial, "NC" + spatial)
    if groups == 1:
        y = lax.conv_transpose(
            x, w, stride, padding, rhs_dilation=dilation, dimension_numbers=numbers, transpose_kernel=True,
            precision=precision,
        )
    else:  # conv_transpose's own formula (module docstring) with feature_group_count
        cin, cog, *kernel = w.shape
        transposed = w.reshape(groups, cin // groups, cog, *kernel).swapaxes(1, 2)
        transposed = transposed.reshape(groups * cog, cin // groups, *kernel)
        flipped = jnp.flip(transposed, axis=tuple(range(2, 2 + rank)))
        y = lax.conv_general_dilated(
            x, flipped, (1,) * rank, padding, lhs_dilation=stride, rhs_dilation=dilation,
            dimension_numbers=numbers, feature_group_count=groups, precision=precision,
        )
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * rank)
    return y


def _pullback(x, w, bias, grad_out, plan, precision=None):
    """(grad_x, grad_w, grad_bias) through jax.vjp of the same call; grad_bias None without a bias."""
    import jax

    _, pullback = jax.vjp(lambda x, w, bias: _conv_transpose(x, w, bias, plan, precision), x, w, bias)
    return pullback(grad_out)
