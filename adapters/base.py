"""The adapter base class: what every framework adapter declares and the defaults it inherits.

One subclass per framework (adapters/<framework>.py) sets `name`, `framework` and the capabilities that
differ from the defaults here, and implements `run` (and `run_vjp` where the framework has autodiff).
The framework is imported in `load()`, never at module top, so a missing or broken install costs
nothing until the adapter is used.

A case the framework's API cannot express at all raises `convt_oracle.Unsupported` with the reason: declared
capabilities are checked by `unsupported()`, framework-specific limits by the subclass's `limits()`.
A case the API can express but that breaks a limit the framework documents (torch's output_padding <
max(stride, dilation), a dtype or a dilation its CPU kernels refuse) is outside its declared domain
(`domain()`): it is still sent, and if the framework raises the adapter raises `convt_oracle.Refused` with
the limit and the framework's message (the result is `refused`, not a discrepancy); if the framework
returns a result, it is compared like any other, so a framework that does not enforce its own limit and
computes garbage is caught. An exception on a case inside the domain is the framework's failure (`raised`).
An adapter never emulates: no crop, pad or slice around the framework's call.

A framework often has several spellings of one crop (TF's 'SAME', 'VALID' or explicit pairs; Keras's
'same'/'valid' with or without output_padding; ONNX's pads, auto_pad or output_shape). `spell` tries an
adapter's spellings in order and keeps the first that selects the case's elements on every axis, and
what each of the others gave, for the reason when none does.

`native_source(case)` writes the framework's own call for a case as standalone Python source (numpy and the
framework only), for a reproducer to paste into the framework's issue tracker. Each adapter writes it from
the same helper its `run` calls with (torch's `torch_call`, TF's `tf_call`, jax's `plan`, Keras's
`call_arguments`, ONNX's `attributes`), so the call and its source have one translation rule each.
"""

from __future__ import annotations

import importlib
import numbers
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

import numpy as np

from convt_oracle import arithmetic
from convt_oracle.cases.model import DTYPES, MODES, Case, make_case
from convt_oracle.errors import Refused, Unsupported
from convt_oracle.tolerance import Tolerance


class Adapter:
    name = ""  # the registry name, e.g. "torch"
    framework = ""  # the module whose __version__ is reported, e.g. "torch"
    spatial_ranks: tuple[int, ...] = (1, 2, 3)
    dtypes: tuple[str, ...] = DTYPES
    modes: tuple[str, ...] = MODES
    groups = True
    bias = True
    dilation = True
    asymmetric_padding = True
    autodiff = False
    output_padding_limit = "none"  # what of output_padding the framework's API can express (`convt-oracle adapters`)
    # The limits the framework documents on what it may be asked, as `convt-oracle adapters` shows them; a
    # case beyond one (`domain()`) is sent all the same, and a refusal of it is `refused`.
    documented_domain: tuple[str, ...] = ()
    device = "cpu"  # where the framework computes: "cpu", or a GPU in the device variants
    # The precision the adapter's results are judged by when a run asks for none: None (strict), or a mode the
    # framework runs by default on purpose (TF32 on a GPU: Tolerance(inputs="tf32"), the *-tf32 variants).
    tolerance: Tolerance | None = None

    def __init__(self):
        self._framework = None
        self._unavailable = None  # the cached answer of device_unavailable()

    # --- the framework ----------------------------------------------------------------------------------
    def load(self):
        """Import the framework once (and configure it); return the module."""
        if self._framework is None:
            self._framework = importlib.import_module(self.framework)
        return self._framework

    def version(self) -> str:
        return str(getattr(self.load(), "__version__", "unknown"))

    def device_unavailable(self) -> str | None:
        """Why this adapter's device cannot be used here (no GPU visible to the framework), or None. Every
        case of an adapter whose device is unavailable is `unsupported`, with this reason."""
        return None

    def _device_reason(self) -> str | None:
        if self._unavailable is None:
            self._unavailable = self.device_unavailable() or ""
        return self._unavailable or None

    def capabilities(self) -> dict:
        return {
            "device": self.device,
            "spatial_ranks": list(self.spatial_ranks),
            "dtypes": list(self.dtypes),
            "modes": list(self.modes),
            "groups": self.groups,
            "bias": self.bias,
            "dilation": self.dilation,
            "asymmetric_padding": self.asymmetric_padding,
            "autodiff": self.autodiff,
            "output_padding": self.output_padding_limit,
            "domain": list(self.documented_domain),
            "tolerance": "strict" if self.tolerance is None else self.tolerance.describe(),
        }

    def runtime(self) -> dict:
        """What this adapter's results depend on besides the case, asked of the framework in the process that
        runs it: {"versions": {framework module: version}, "kernels": {fact: value}}. A run records it per
        target (its report's environment["runtime"]); the known findings' conditions read it
        (convt_oracle.harness.known)."""
        return {"versions": {self.framework: self.version()}, "kernels": self.kernels()}

    def kernels(self) -> dict:
        """Facts that choose the framework's kernels here, asked of the framework (override): TensorFlow's
        oneDNN on or off, the dtypes torch's oneDNN runs natively. JSON values only."""
        return {}

    # --- what it can express ----------------------------------------------------------------------------
    def unsupported(self, case: Case) -> str | None:
        """The reason this adapter cannot run `case` natively, or None."""
        device = self._device_reason()
        if device:
            return f"skipped: {device}"
        if case.spatial_rank not in self.spatial_ranks:
            return f"{self.name} has no {case.spatial_rank}-d transposed convolution"
        if case.dtype not in self.dtypes:
            return f"{self.name} has no {case.dtype} transposed convolution here"
        if case.mode not in self.modes:
            return f"{self.name} cannot be asked for mode {case.mode!r}"
        if (case.groups != 1 or not isinstance(case.groups, int)) and not self.groups:
            return f"{self.name} has no grouped transposed convolution (groups={case.groups!r} cannot be asked of it)"
        if case.bias and not self.bias:
            return f"{self.name}'s transposed convolution takes no bias"
        if max(case.dilation) > 1 and not self.dilation:
            return f"{self.name} has no dilated transposed convolution"
        if not self.asymmetric_padding and any(b != e for b, e in case.padding):
            return f"{self.name} crops both ends equally; padding {case.padding} is asymmetric"
        return self.limits(case)

    def limits(self, case: Case) -> str | None:
        """Framework-specific reasons the API cannot express `case` (override)."""
        return None

    def domain(self, case: Case) -> str | None:
        """The framework's documented limit that `case` breaks, or None (override; the limits are listed in
        `documented_domain`). Such a case is sent: a refusal becomes `Refused`, a result is compared."""
        return None

    def _asked(self, case: Case, call):
        """`call()`, the framework's call for `case`; if it raises on a case outside the declared domain, Refused
        with the limit and the framework's own message."""
        limit = self.domain(case)
        if limit is None:
            return call()
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - whatever the framework raises, it declined as documented
            raise Refused(f"{limit}; {self.name} refused it: {type(error).__name__}: {framework_message(error)}") from error

    # --- the environment ------------------------------------------------------------------------------
    def check_environment(self) -> str | None:
        """Why this adapter cannot run in this process's environment, or None: its device is missing, or its
        framework does not answer a trivial call (the first small case it can express, in float32 where it
        has it) with the right shape. Asked once before a run's first case, so that a broken environment is
        one line of the report instead of a `raised` or `crash` per case."""
        device = self._device_reason()
        if device:
            return device
        case = self.trivial_case()
        if case is None:
            return f"{self.name} can express none of the trivial cases it is checked with"
        try:
            result = self.call_case(case, *case.arrays())
        except Exception as error:  # noqa: BLE001 - whatever it is, the environment cannot run the adapter
            return f"a trivial call ({case.id}) raised {type(error).__name__}: {error}"
        shape = getattr(result, "shape", None)
        if shape != case.output_shape:
            return f"a trivial call ({case.id}) returned {type(result).__name__} of shape {shape}, not {case.output_shape}"
        return None

    def trivial_case(self) -> Case | None:
        """The first of a few small valid cases (3 wide, kernel 2, in each rank and mode) this adapter can express."""
        dtypes = ["float32"] + [dtype for dtype in self.dtypes if dtype != "float32"]
        for rank in self.spatial_ranks:
            for dtype in dtypes:
                for mode in ("explicit", "valid", "same"):
                    case = make_case(input_size=(3,) * rank, kernel_size=2, in_channels=2, out_channels=2,
                                     mode=mode, dtype=dtype, seed=1)
                    if self.unsupported(case) is None:
                        return case
        return None

    # --- calls ------------------------------------------------------------------------------------------
    def call_case(self, case: Case, x, w, bias):
        reason = self.unsupported(case)
        if reason:
            raise Unsupported(reason)
        return self._asked(case, lambda: self.run(case, x, w, bias))

    def vjp_case(self, case: Case, x, w, grad_out, bias):
        device = self._device_reason()
        if device:
            raise Unsupported(f"skipped: {device}")
        if not self.autodiff:
            raise Unsupported(f"{self.name} has no autodiff")
        reason = self.unsupported(case)
        if reason:
            raise Unsupported(reason)
        return self._asked(case, lambda: self.run_vjp(case, x, w, grad_out, bias))

    def run(self, case: Case, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def run_vjp(self, case: Case, x, w, grad_out, bias):
        raise NotImplementedError

    # --- the call as standalone source ---------------------------------------------------------------------
    def native_source(self, case: Case) -> str:
        """Python source of what `call_case(case, x, w, bias)` does natively, for a standalone reproducer.

        Executed where `np` is numpy, `x` and `w` are float64 arrays of shapes case.x_shape / case.w_shape (the
        golden's layouts) and `bias` a float64 array of shape (out_channels,) or None, all holding values
        exact in case.dtype, it imports the framework, converts the arrays to the framework's dtype and
        layout, makes the adapter's call with the case's parameters written as literals, and binds `actual`:
        the result as a float64 numpy array in the golden's layout (N, Cout, *spatial). It imports nothing
        of convt_oracle and rebinds none of np, x, w, bias. Lines joined by "\n", no leading indentation; the
        first is a comment naming the framework, its version (and the device where it is not the CPU).
        A case the adapter cannot express raises Unsupported, as call_case does; a case outside its domain is
        written all the same (its source raises where the framework refuses it).
        """
        reason = self.unsupported(case)
        if reason:
            raise Unsupported(reason)
        device = "" if self.device == "cpu" else f" on {self.device}"
        return "\n".join([f"# {self.framework} {self.version()}{device}", *self.native_lines(case)])

    def native_lines(self, case: Case) -> list[str]:
        """The lines of `native_source` after its comment (override: from the helper `run` uses)."""
        raise NotImplementedError(f"{self.name} does not write its call as source (Adapter.native_lines)")

    def __call__(self, x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
        """The golden's signature: the call in `explicit` mode."""
        return self.call_case(_explicit_case(x, w, bias, stride, padding, output_padding, dilation, groups), x, w, bias)

    def vjp(self, x, w, grad_out, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
        case = _explicit_case(x, w, bias, stride, padding, output_padding, dilation, groups)
        return self.vjp_case(case, x, w, grad_out, bias)


class RunsInTf32Mode:
    """A GPU variant's calls (forward and vjp) made inside its `tf32_mode()`: a context manager that sets the
    framework's TF32 switch as the variant states it and restores the process's setting after. Put before
    the framework's adapter class in the bases."""

    def tf32_mode(self):
        raise NotImplementedError

    def run(self, case, x, w, bias):
        with self.tf32_mode():
            return super().run(case, x, w, bias)

    def run_vjp(self, case, x, w, grad_out, bias):
        with self.tf32_mode():
            return super().run_vjp(case, x, w, grad_out, bias)


def framework_message(error: BaseException) -> str:
    """The first line of a framework's error message, without TensorFlow's "{{function_node ...}}" prefix."""
    text = str(error).strip()
    line = next((line.strip() for line in text.splitlines() if line.strip()), "") if text else ""
    if "}}" in line:
        line = line.split("}}", 1)[1].strip()
    return line or type(error).__name__


class Source(str):
    """Source text among parameter values (a name, an expression): `literal` writes it as it stands."""


def literal(value) -> str:
    """Python source of a parameter value: an int (numpy's too), a finite float (an invalid case's stride 1.5),
    bool, str or None, `Source` text, or a tuple / list / dict of them. TypeError for anything else, so that a
    value with no literal never reaches a source."""
    if isinstance(value, Source):
        return str(value)
    if value is None or isinstance(value, (bool, str)):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real) and np.isfinite(value):
        return repr(float(value))
    if isinstance(value, tuple):
        items = [literal(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(key)}: {literal(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"literal: got {type(value).__name__} {value!r}; expected an int, a finite float, bool, str, None or a tuple, list or dict of them")


def call_source(function: str, *arguments: str, **keywords) -> str:
    """`function(argument, ..., name=value, ...)` as source: `arguments` are source text (names,
    expressions), keyword values are parameter values written as literals (`literal`, `Source` as it stands)."""
    parts = [*arguments, *(f"{name}={literal(value)}" for name, value in keywords.items())]
    return f"{function}({', '.join(parts)})"


def _explicit_case(x, w, bias, stride, padding, output_padding, dilation, groups) -> Case:
    dtype = str(np.asarray(x).dtype)
    return make_case(
        batch=x.shape[0],
        in_channels=x.shape[1],
        out_channels=w.shape[1] * groups,
        groups=groups,
        input_size=tuple(x.shape[2:]),
        kernel_size=tuple(w.shape[2:]),
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=output_padding,
        bias=bias is not None,
        dtype=dtype if dtype in DTYPES else None,
    )


# --- the framework's spellings of a crop ------------------------------------------------------------------


@dataclass(frozen=True)
class Spelling:
    """One way of asking a framework for a case's crop.

    `options(axis)` yields, for one spatial axis, the values of the framework's argument to try, in order,
    each with the canonical padding the framework gives for it (an arithmetic.AxisPadding) or the
    arithmetic's objection to it (a str); `call(values)` makes the framework's argument from the value
    chosen on every axis; `label` names the spelling in a reason.
    """

    label: str
    options: Callable[[int], Iterable[tuple[object, object]]]
    call: Callable[[tuple], object] = tuple


class Spelled(NamedTuple):
    """The framework's argument for a case (None when no spelling selects its elements) and what each
    spelling tried gave."""

    argument: object
    tried: str


def case_padding(case: Case) -> list[arithmetic.AxisPadding]:
    """The case's canonical padding per axis, in its least form (arithmetic.least_padding)."""
    return [
        arithmetic.least_padding(i, k, s, d, arithmetic.AxisPadding(b, e, op))
        for i, k, s, d, (b, e), op in zip(
            case.input_size, case.kernel_size, case.stride, case.dilation, case.padding, case.output_padding
        )
    ]


def describe_padding(padding) -> str:
    """Per-axis paddings as '(begin, end) op N', or an objection as it stands."""
    if isinstance(padding, str):
        return f"an error ({padding})"
    if isinstance(padding, arithmetic.AxisPadding):
        return f"({padding.begin}, {padding.end}) op {padding.output_padding}"
    return "[" + ", ".join(describe_padding(axis) for axis in padding) + "]"


def spell(case: Case, spellings: Iterable[Spelling]) -> Spelled:
    """The argument of the first of `spellings` that selects the case's elements on every axis
    (arithmetic.same_elements); or None, with what each spelling gave on the first axis where it fails."""
    wanted = case_padding(case)
    axes = list(zip(case.input_size, case.kernel_size, case.stride, case.dilation))
    tried = []
    for spelling in spellings:
        values = []
        for axis, ((i, k, s, d), want) in enumerate(zip(axes, wanted)):
            gave = []
            for value, padding in spelling.options(axis):
                if not isinstance(padding, str) and arithmetic.same_elements(i, k, s, d, padding, want):
                    values.append(value)
                    break
                gave.append(padding)
            else:
                if len(gave) == 1:
                    tried.append(f"{spelling.label} gives {describe_padding(gave[0])} on axis {axis}")
                else:
                    tried.append(f"{spelling.label}: none of its {len(gave)} choices gives axis {axis}'s crop")
                break
        else:
            return Spelled(spelling.call(tuple(values)), "")
    return Spelled(None, "; ".join(tried) + f"; the case's padding is {describe_padding(wanted)}")
