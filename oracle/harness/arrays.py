"""Targets called with a framework's arrays on a device, and targets that write into a prefilled `out=`.

    crosscheck(kernel, array="torch", device="cuda")            # kernel(x, w, bias, **params) -> torch.Tensor
    crosscheck(kernel, array="torch", device="cuda", out=True)  # kernel(x, w, bias, out=buffer, **params)

`ArrayTarget(function, array=..., device=..., out=...)` is what crosscheck calls in such a run: a callable with
the golden's signature on numpy arrays (so check_case's comparison and diagnosis work unchanged) that calls
`function` as a kernel author calls it. Each of x, w and bias becomes an array of the kind asked for
(`array`: "numpy", "torch", "jax" or "cupy") on `device` (None: the framework's default; "cpu", "cuda",
"cuda:N"), in the case's dtype (bfloat16 too: torch through a view of int16, jax and numpy through
ml_dtypes); the result comes back as a numpy array of its own dtype (DLPack where it lies on the CPU, the
framework's copy to the host otherwise, `__array__` as the fallback). A kind of array is one small class
below (`Kind`); its framework is imported when it is first asked for.

Rules, each checked where it can be:
- before any case (crosscheck raises ValueError naming the argument, the value and the rule): an unknown
  kind; a framework that is not installed ("array='cupy': cupy is not installed (pip install
  cupy-cuda12x)"); a device the framework cannot see ("device='cuda': torch sees no CUDA device
  (torch.cuda.is_available() is False)"); `out=True` with jax (its arrays are immutable);
- per case, a finding about the target, never a crash of the oracle: a result that is not of the kind
  asked for, or lies on another device (a numpy array where torch was asked, a tensor moved to the CPU)
  raises `WrongArray` in the wrapper, so the result is `raised` with what came back and what was
  expected; it is not converted, since a kernel that does not return what its callers get is wrong as
  called. A target that changes its inputs in place is noted as for numpy targets (the device arrays are
  read back after the call where they are copies).

`out=True`. The target is called as `function(x, w, bias, out=buffer, **params)`: `buffer` an array of the
output's shape and the case's dtype, of the same kind and on the same device. It must return None or
`buffer` itself (any other value raises `WrongArray`). The oracle calls it twice: first with the buffer
prefilled with a NaN carrying a payload no arithmetic makes (`convt_oracle.hypotheses.PREFILL_NAN`),
then with a finite sentinel (`PREFILL_SENTINEL`, -7840). An element that holds the prefill after both
calls was never written; the result compared is the second call's buffer with that NaN put back at those
elements, so they are a `nonfinite_mismatch`, and the diagnosis recognizes the payload's bits:
`unwritten` (how many, and the first indices). A kernel that adds its result to what `out` holds shows as
the sentinel added to the right result: `accumulated_into_out`. An unwritten element whose right value is
NaN itself (NaN inputs) passes: the comparison cannot tell the two NaNs apart. An invalid case has no
output shape to allocate: with `out=True` it is `unsupported`.

A `vjp` of the target is kept, called with the framework's arrays and returning them (never with `out=`).
The wrapper keeps the target's own `tolerance` (a reduced-precision mode it declares).
"""

from __future__ import annotations

import importlib
import importlib.util
import re

import ml_dtypes
import numpy as np

from convt_oracle.errors import Unsupported
from convt_oracle.hypotheses import prefilled, unwritten_mask

_CUDA = re.compile(r"cuda(?::(\d+))?")
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)


class WrongArray(TypeError):
    """A target's result (or out= return value) is not the array kind, or not on the device, it was asked for."""


class Kind:
    """One kind of array: its framework, where its arrays live, and the conversions from and to numpy."""

    name = ""
    module = ""  # the framework's module, imported on first use
    install = ""  # how to install it, for the error that says it is missing
    immutable = False  # jax: an array cannot be written in place (no out=)

    def __init__(self):
        self._framework = None

    def load(self):
        if self._framework is None:
            if importlib.util.find_spec(self.module) is None:
                raise ValueError(f"array={self.name!r}: {self.module} is not installed ({self.install})")
            self._framework = importlib.import_module(self.module)
        return self._framework

    def version(self) -> str:
        return str(getattr(self.load(), "__version__", "unknown"))

    def resolve(self, device):
        """The framework's device object for `device` (None: the framework's default); ValueError naming the
        device and why the framework cannot use it."""
        raise NotImplementedError

    def describe(self, device) -> str:
        """The device as a report writes it."""
        return str(device)

    def put(self, array: np.ndarray | None, device):
        """`array` as this kind's array on `device` (None stays None), bit for bit."""
        raise NotImplementedError

    def owns(self, value) -> bool:
        """Whether `value` is an array of this kind."""
        raise NotImplementedError

    def where(self, value):
        """The device `value` lies on, comparable with what `resolve` returns."""
        raise NotImplementedError

    def host(self, value) -> np.ndarray:
        """`value` (an array of this kind) as a numpy array of its dtype, a copy of its bits."""
        raise NotImplementedError

    def shares(self, value, array: np.ndarray) -> bool:
        """Whether `value` is a view of the numpy `array` (no copy to read back after the call)."""
        return False

    def source(self, device) -> list[str]:
        """Source lines defining `to_array(a)` (a numpy array, None stays None, to this kind on the device) and
        `to_numpy(value)`, for a reproducer (convt_oracle.harness.reproducers)."""
        raise NotImplementedError


class NumpyKind(Kind):
    name = "numpy"
    module = "numpy"

    def resolve(self, device):
        if device not in (None, "cpu"):
            raise ValueError(f"device={device!r}: array='numpy' computes on the CPU; give array='torch', 'jax' or "
                             f"'cupy' for another device")
        return "cpu"

    def put(self, array, device):
        return array

    def owns(self, value):
        return isinstance(value, np.ndarray)

    def where(self, value):
        return "cpu"

    def host(self, value):
        return np.array(value, copy=True)

    def shares(self, value, array):
        return value is array

    def source(self, device):
        return ["def to_array(a):", "    return a", "", "def to_numpy(value):", "    return value"]


class TorchKind(Kind):
    name = "torch"
    module = "torch"
    install = "pip install torch"

    def resolve(self, device):
        torch = self.load()
        device = "cpu" if device is None else device
        try:
            found = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as error:
            raise ValueError(f"device={device!r}: not a device torch knows ({error}); expected 'cpu', 'cuda' or "
                             f"'cuda:N'") from None
        if found.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(f"device={device!r}: torch sees no CUDA device (torch.cuda.is_available() is False)")
            index = torch.cuda.current_device() if found.index is None else found.index
            count = torch.cuda.device_count()
            if index >= count:
                raise ValueError(f"device={device!r}: torch sees {count} CUDA device(s) (torch.cuda.device_count() "
                                 f"is {count})")
            return torch.device("cuda", index)
        if found.type != "cpu":
            backend = getattr(torch, found.type, None)
            if backend is None or not callable(getattr(backend, "is_available", None)) or not backend.is_available():
                raise ValueError(f"device={device!r}: torch sees no {found.type} device (torch.{found.type}."
                                 f"is_available() is not True)")
        return found

    def put(self, array, device):
        if array is None:
            return None
        torch = self.load()
        array = np.ascontiguousarray(array)
        if array.dtype == BFLOAT16:  # numpy has no bfloat16 of its own: the same bits through int16
            tensor = torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(array)
        return tensor if device.type == "cpu" else tensor.to(device)

    def owns(self, value):
        return isinstance(value, self.load().Tensor)

    def where(self, value):
        return value.device

    def host(self, value):
        torch = self.load()
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        tensor = tensor.contiguous()
        if tensor.dtype == torch.bfloat16:
            return np.array(tensor.view(torch.int16).numpy().view(BFLOAT16), copy=True)
        try:
            return np.array(np.from_dlpack(tensor), copy=True)
        except (TypeError, BufferError, RuntimeError):  # a dtype DLPack cannot carry to numpy
            return np.array(tensor, copy=True)

    def shares(self, value, array):
        return value.device.type == "cpu" and value.data_ptr() == array.ctypes.data

    def source(self, device):
        return [
            "import torch",
            "import ml_dtypes",
            "",
            "def to_array(a):",
            "    if a is None:",
            "        return None",
            "    a = np.ascontiguousarray(a)",
            "    if a.dtype == ml_dtypes.bfloat16:  # the same bits through int16",
            "        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16).to(" + repr(str(device)) + ")",
            "    return torch.from_numpy(a).to(" + repr(str(device)) + ")",
            "",
            "def to_numpy(value):",
            "    value = value.detach().cpu().contiguous()",
            "    if value.dtype == torch.bfloat16:",
            "        return value.view(torch.int16).numpy().view(ml_dtypes.bfloat16)",
            "    return value.numpy()",
        ]


class JaxKind(Kind):
    name = "jax"
    module = "jax"
    install = "pip install jax"
    immutable = True

    def load(self):
        if self._framework is None:
            jax = super().load()
            jax.config.update("jax_enable_x64", True)  # float64 stays float64, as the jax adapter sets it
        return self._framework

    def resolve(self, device):
        jax = self.load()
        if device is None:
            return jax.devices()[0]
        found = _CUDA.fullmatch(device) if isinstance(device, str) else None
        if device != "cpu" and found is None:
            raise ValueError(f"device={device!r}: expected 'cpu', 'cuda' or 'cuda:N' (jax's first or N-th GPU)")
        platform, index = ("cpu", 0) if device == "cpu" else ("gpu", int(found.group(1) or 0))
        try:
            devices = jax.devices(platform)
        except RuntimeError as error:
            raise ValueError(f"device={device!r}: jax sees no {platform.upper()} (jax.devices({platform!r}): "
                             f"{str(error).splitlines()[0]})") from None
        if index >= len(devices):
            raise ValueError(f"device={device!r}: jax sees {len(devices)} {platform.upper()} device(s)")
        return devices[index]

    def describe(self, device):
        """"cpu" or "cuda:N" (N: its place among jax's GPUs), as `resolve` reads it back."""
        if device.platform == "cpu":
            return "cpu"
        return f"cuda:{self.load().devices(device.platform).index(device)}"

    def put(self, array, device):
        return None if array is None else self.load().device_put(array, device)

    def owns(self, value):
        return isinstance(value, self.load().Array)

    def where(self, value):
        devices = value.devices()
        return next(iter(devices)) if len(devices) == 1 else devices

    def host(self, value):
        return np.array(self.load().device_get(value), copy=True)

    def source(self, device):
        return [
            "import jax",
            "jax.config.update('jax_enable_x64', True)",
            "",
            f"device = jax.devices({device.platform!r})[{self.load().devices(device.platform).index(device)}]",
            "",
            "def to_array(a):",
            "    return None if a is None else jax.device_put(a, device)",
            "",
            "def to_numpy(value):",
            "    return np.asarray(jax.device_get(value))",
        ]


class CupyKind(Kind):
    name = "cupy"
    module = "cupy"
    install = "pip install cupy-cuda12x"

    def resolve(self, device):
        cupy = self.load()
        found = _CUDA.fullmatch(device) if isinstance(device, str) else None
        if device is not None and found is None:
            raise ValueError(f"device={device!r}: cupy arrays live on a CUDA device; expected None, 'cuda' or 'cuda:N'")
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as error:  # noqa: BLE001 - cupy's CUDARuntimeError: no driver, no device
            raise ValueError(f"device={device!r}: cupy sees no CUDA device ({error})") from None
        index = cupy.cuda.runtime.getDevice() if found is None or found.group(1) is None else int(found.group(1))
        if index >= count:
            raise ValueError(f"device={device!r}: cupy sees {count} CUDA device(s)")
        return cupy.cuda.Device(index)

    def describe(self, device):
        return f"cuda:{device.id}"

    def put(self, array, device):
        if array is None:
            return None
        if array.dtype == BFLOAT16:
            raise Unsupported("array='cupy': CuPy has no bfloat16 arrays")
        cupy = self.load()
        with device:
            return cupy.asarray(array)

    def owns(self, value):
        return isinstance(value, self.load().ndarray)

    def where(self, value):
        return value.device

    def host(self, value):
        return np.array(self.load().asnumpy(value), copy=True)

    def source(self, device):
        return [
            "import cupy",
            "",
            "def to_array(a):",
            f"    with cupy.cuda.Device({device.id}):",
            "        return None if a is None else cupy.asarray(a)",
            "",
            "def to_numpy(value):",
            "    return cupy.asnumpy(value)",
        ]


KINDS = {kind.name: kind for kind in (NumpyKind, TorchKind, JaxKind, CupyKind)}


def kind_of(array) -> Kind:
    """The Kind named `array`; ValueError listing the known ones."""
    if array not in KINDS:
        raise ValueError(f"array: got {array!r}; expected one of {', '.join(map(repr, KINDS))}")
    return KINDS[array]()


class ArrayTarget:
    """`function` called with `array` arrays on `device` (and with a prefilled `out=` where `out`), seen as
    a target with the golden's signature on numpy arrays (module docstring). Every argument is checked
    here: ValueError / TypeError naming it."""

    def __init__(self, function, *, array: str = "numpy", device: str | None = None, out: bool = False):
        if not callable(function):
            raise TypeError(f"target: got {type(function).__name__}; expected a callable")
        if not isinstance(out, bool):
            raise TypeError(f"out: got {out!r}; expected True or False")
        if hasattr(function, "call_case"):
            raise ValueError(f"array={array!r}, out={out!r}: the target is an adapter ({getattr(function, 'name', '?')}), "
                             f"which converts the arrays itself; array, device and out apply to a function")
        self.function = function
        self.kind = kind_of(array)
        self.device = self.kind.resolve(device)
        if out and self.kind.immutable:
            raise ValueError(f"out=True: array={array!r} arrays are immutable, so a {array} target returns its "
                             f"result; give out=False")
        self.out = out
        self.__doc__ = getattr(function, "__doc__", None)
        if getattr(function, "tolerance", None) is not None:  # a mode the target declares (judging_tolerance)
            self.tolerance = function.tolerance
        if callable(getattr(function, "vjp", None)):
            self.vjp = self._vjp

    @property
    def calling(self) -> dict:
        """How the target is called, as a report records it: array, device, out."""
        return {"array": self.kind.name, "device": self.kind.describe(self.device), "out": self.out}

    def describe(self) -> dict:
        """`calling` with the framework's version (the report's environment)."""
        return {**self.calling, "version": self.kind.version()}

    def _expected(self) -> str:
        return f"a {self.kind.name} array on {self.kind.describe(self.device)}"

    def _check(self, value, what: str) -> None:
        """WrongArray unless `value` is an array of this kind on this device."""
        if not self.kind.owns(value):
            kind = type(value)
            raise WrongArray(f"array={self.kind.name!r}, device={self.kind.describe(self.device)!r}: {what} is "
                             f"{kind.__module__}.{kind.__qualname__}, expected {self._expected()}")
        where = self.kind.where(value)
        if where != self.device:
            raise WrongArray(f"array={self.kind.name!r}, device={self.kind.describe(self.device)!r}: {what} lies on "
                             f"{where}, expected {self._expected()}")

    def _put(self, arrays):
        return [self.kind.put(a, self.device) for a in arrays]

    def _read_back(self, given, arrays) -> None:
        """Copy what the target did to its device inputs into the numpy arrays it was given, so that check_case
        notes an input changed in place (a view of the numpy array needs nothing)."""
        if self.kind.immutable:
            return
        for value, array in zip(given, arrays):
            if value is not None and self.kind.owns(value) and not self.kind.shares(value, array):
                np.copyto(array, self.kind.host(value).reshape(array.shape))

    def __call__(self, x, w, bias=None, **params):
        if self.out:
            return self._into_out(x, w, bias, params)
        given = self._put((x, w, bias))
        result = self.function(*given, **params)
        self._read_back(given, (x, w, bias))
        self._check(result, "the result")
        return self.kind.host(result)

    def _into_out(self, x, w, bias, params) -> np.ndarray:
        from convt_oracle.golden import output_shape

        try:
            shape = output_shape(x.shape, w.shape, None if bias is None else bias.shape, **params)
        except (ValueError, TypeError) as error:
            raise Unsupported(f"out=True: the case has no output shape to allocate ({error})") from None
        given = self._put((x, w, bias))
        written = []
        for fill in ("nan", "sentinel"):
            buffer = self.kind.put(prefilled(fill, x.dtype, shape), self.device)
            returned = self.function(*given, out=buffer, **params)
            if returned is not None and returned is not buffer:
                raise WrongArray(f"out=True: the target returned {type(returned).__name__}, not None or `out` "
                                 f"itself; an out= target writes its result into out")
            written.append(self.kind.host(buffer))
        self._read_back(given, (x, w, bias))
        first, second = written
        sentinel = prefilled("sentinel", x.dtype, second.shape)
        never = unwritten_mask(first) & (second.view(_bits(second)) == sentinel.view(_bits(sentinel)))
        result = second.copy()
        result[never] = first[never]  # the prefill's NaN, bits and all (a copy, no arithmetic), where nothing was written
        return result

    def _vjp(self, x, w, grad_out, bias=None, **params):
        given = self._put((x, w, grad_out, bias))
        grads = self.function.vjp(*given, **params)
        self._read_back(given, (x, w, grad_out, bias))
        if not isinstance(grads, (tuple, list)) or len(grads) != 3:
            return grads  # check_vjp says what a vjp must return
        found = []
        for name, grad in zip(("grad_x", "grad_w", "grad_bias"), grads):
            if grad is None:
                found.append(None)
                continue
            self._check(grad, f"the vjp's {name}")
            found.append(self.kind.host(grad))
        return tuple(found)

    def __repr__(self) -> str:
        return f"ArrayTarget({self.function!r}, array={self.kind.name!r}, device={self.kind.describe(self.device)!r}, out={self.out})"


def _bits(array: np.ndarray) -> np.dtype:
    """The unsigned integer dtype of the same width as `array`'s, to compare bit patterns."""
    return np.dtype(f"u{array.dtype.itemsize}")


def wrap(function, *, array: str = "numpy", device: str | None = None, out: bool = False):
    """`function` itself where it is called as a numpy target (numpy on the CPU, no out=), else its ArrayTarget."""
    if array == "numpy" and device in (None, "cpu") and out is False:
        return function
    return ArrayTarget(function, array=array, device=device, out=out)


__all__ = ["ArrayTarget", "WrongArray", "KINDS", "kind_of", "wrap"]
