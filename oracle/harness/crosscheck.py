"""`crosscheck`: run a target on a suite of cases and compare every result with the golden.

A target is a callable with the golden's signature,

    target(x, w, bias, *, stride, padding, output_padding, dilation, groups) -> numpy.ndarray

called with numpy arrays in the case's dtype, `stride`, `dilation`, `output_padding` as tuples of ints,
`padding` as a tuple of (begin, end) pairs and `groups` as an int; or a string "module:function" naming
one; or the name of an installed adapter; either name with "@PYTHON" runs in a worker under that
interpreter (convt_oracle.harness.targets: the grammar `convt-oracle run --targets` takes too). A target that
cannot express a case natively raises `convt_oracle.Unsupported(reason)`: the result is `unsupported`, not a
failure; one whose framework raised on a case outside the framework's documented domain raises
`convt_oracle.Refused(reason)`: `refused`, not a failure either (an adapter does so itself:
convt_oracle.adapters.base.Adapter.domain). For `grad=True` the target may
carry a `vjp` attribute, `target.vjp(x, w, grad_out, bias, **params) -> (grad_x, grad_w, grad_bias)`
(grad_bias None without bias); a target without one gets `unsupported` for its vjp results.

An adapter (convt_oracle.adapters.base.Adapter) is called through `call_case(case, x, w, bias)` and
`vjp_case(case, x, w, grad_out, bias)` instead, since it also needs the case's `mode`.

A function may instead take and return torch, jax or CuPy arrays on a device, or write into a prefilled
`out=` buffer: crosscheck's `array`, `device` and `out` wrap it (convt_oracle.harness.arrays.ArrayTarget),
so that check_case still sees the golden's signature on numpy arrays.
"""

from __future__ import annotations

import importlib
import threading
import time
import warnings
from concurrent.futures import Future

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from convt_oracle import compare as C
from convt_oracle.diagnosis import DIAGNOSED_OUTCOMES, diagnose
from convt_oracle.errors import Refused, TargetCrashed, TargetTimedOut, Unsupported
from convt_oracle.harness.arrays import ArrayTarget, wrap
from convt_oracle.harness.kernels import framework_settings
from convt_oracle.harness.report import Report, Result, environment
from convt_oracle.harness.reproducers import remember
from convt_oracle.precision import PROFILED_OUTCOMES, error_stats
from convt_oracle.tolerance import Tolerance

if TYPE_CHECKING:
    from convt_oracle.cases.model import Case


_CHUNK = 64  # cases whose arrays crosscheck draws together


def crosscheck_target(target):
    """The callable behind a target given as a callable, a "module:function" string or an adapter name
    (convt_oracle.harness.targets). A name with "@PYTHON" gives an IsolatedTarget running it in a worker
    under that interpreter: close() it when done."""
    if callable(target):
        return target
    from convt_oracle.harness.targets import TargetSpec

    spec = TargetSpec.parse(target, where="target")  # ValueError / TypeError naming the rule
    if spec.python is not None:
        return spec.isolated()
    if not spec.is_adapter:
        module_name, _, attribute = spec.name.partition(":")
        try:
            found = importlib.import_module(module_name)
            for part in attribute.removesuffix("()").split("."):
                found = getattr(found, part)
            if attribute.endswith("()"):  # "module:Class()": an instance, as a worker makes one
                found = found()
        except (ImportError, AttributeError) as error:
            raise ValueError(f"target: cannot load {target!r} ({error}); expected 'module:function'") from None
        if not callable(found):
            raise TypeError(f"target: {target!r} is {type(found).__name__}, not callable")
        return found
    from convt_oracle.adapters import registry

    return registry.load(spec.name)


def _spec(target):
    """The TargetSpec of a target given by name (checked: ValueError / TypeError naming the rule); None for a callable."""
    if callable(target):
        return None
    from convt_oracle.harness.targets import TargetSpec

    return TargetSpec.parse(target, where="target")


def target_name(target) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, ArrayTarget):  # a function called with other arrays or out=: named as the function
        return target_name(target.function)
    name = getattr(target, "name", None)
    if isinstance(name, str):
        return name
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', type(target).__name__)}"


def _call(function, *args, **kwargs):
    """(result, seconds, outcome-or-None, detail) of calling a target: exceptions become outcomes."""
    start = time.perf_counter()
    try:
        result = function(*args, **kwargs)
    except Unsupported as error:
        return None, time.perf_counter() - start, C.UNSUPPORTED, str(error)
    except Refused as error:
        return None, time.perf_counter() - start, C.REFUSED, str(error)
    except TargetCrashed as error:
        return None, time.perf_counter() - start, C.CRASH, str(error)
    except TargetTimedOut as error:
        return None, time.perf_counter() - start, C.TIMEOUT, str(error)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # a target's failure (SystemExit included) is a finding, never the end of the run
        return None, time.perf_counter() - start, C.RAISED, f"{type(error).__name__}: {error}"
    return result, time.perf_counter() - start, None, ""


def _own_copies(function, *arrays):
    """The arrays the target is called with: copies (None stays None), so that a target that writes into its
    inputs cannot change what the golden is computed from; the arrays themselves for a target that only
    ever sees serialized copies (`receives_copies`: a worker process)."""
    if getattr(function, "receives_copies", False):
        return list(arrays)
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def _modified(given, originals) -> str:
    """A note when the target changed the arrays it was given (a side effect worth knowing), else ''."""
    names = [
        name for name, a, b in zip(("x", "w", "grad_out", "bias"), given, originals)
        if a is not None and a is not b and a.tobytes() != b.tobytes()  # bitwise: NaN equals NaN, -0.0 is not 0.0
    ]
    return f"note: the target modified its input(s) {', '.join(names)} in place" if names else ""


class Golden:
    """The golden's expectations for cases. With `shared=True` each case's sums (value, magnitude, terms) are
    computed once and reused by every target that asks (thread-safe), as `convt-oracle run` does for its
    adapters; each target's expectation is made from them under its own tolerance."""

    def __init__(self, tolerance: Tolerance | None = None, *, shared: bool = False):
        self.tolerance = tolerance
        self.shared = shared
        self._cache = {}
        self._lock = threading.Lock()

    def _once(self, key, compute):
        """compute() once per key. Not shared: only the current case's values are kept (its sums serve
        its expectation and its error profile), so memory stays one case's."""
        if not self.shared:
            if any(cached[1] != key[1] for cached in self._cache):
                self._cache.clear()
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]
        with self._lock:
            future = self._cache.get(key)
            owner = future is None
            if owner:
                future = self._cache[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as error:
                future.set_exception(error)
        return future.result()

    def sums(self, case: Case, x, w, bias) -> C.Sums:
        return self._once(("sums", case), lambda: C.sums(x, w, bias, case.params()))

    def vjp_sums(self, case: Case, x, w, grad_out, bias):
        return self._once(("vjp_sums", case), lambda: C.vjp_sums(x, w, grad_out, bias, case.params()))

    def forward(self, case: Case, x, w, bias, tolerance: Tolerance | None = None) -> C.Expected:
        """The expectation of `case` under `tolerance` (None: this Golden's own); bound 0 for an exact case
        (Case.exact: the exact tier)."""
        tolerance = tolerance or self.tolerance
        found = self.sums(case, x, w, bias)
        return self._once(("forward", case, tolerance),
                          lambda: C.expectation(found, case.dtype, tolerance, exact=case.exact))

    def vjp(self, case: Case, x, w, grad_out, bias, tolerance: Tolerance | None = None):
        tolerance = tolerance or self.tolerance
        found = self.vjp_sums(case, x, w, grad_out, bias)
        return self._once(("vjp", case, tolerance), lambda: tuple(
            None if one is None else C.expectation(one, case.dtype, tolerance, vanishing=False, exact=case.exact)
            for one in found
        ))


def judging_tolerance(function, tolerance: Tolerance | None = None, golden: Golden | None = None) -> Tolerance | None:
    """The tolerance a target's results are judged by: the one asked for (the argument, else the shared
    golden's), else the target's own (`tolerance` attribute: an adapter of a reduced-precision mode, such as
    torch-cuda-tf32), else None (the strict default)."""
    return tolerance or (golden.tolerance if golden is not None else None) or getattr(function, "tolerance", None)


def unstated_by_parameters(case: Case) -> str | None:
    """Why a target with the golden's signature (a function, not an adapter) cannot be asked `case`, or None:
    the golden's keyword parameters carry no requested output size (an adapter takes the case, and asks)."""
    if case.requested_output_size:
        return (
            f"a target with the golden's signature takes no output size, and the case asks for "
            f"{case.requested_output_size} (its defect: {case.defect or 'an output size its parameters do not give'})"
        )
    return None


def check_case(
    function, case: Case, name: str, tolerance: Tolerance | None = None, *, arrays=None, golden: Golden | None = None
) -> Result:
    """Run one case (with a concrete dtype) on a target and compare with the golden.

    `arrays`: the case's (x, w, bias) if already drawn (crosscheck draws them a chunk at a time).
    `golden`: where expectations come from (a shared Golden computes each case once for many targets).
    """
    unstated = None if hasattr(function, "call_case") else unstated_by_parameters(case)
    if unstated:
        return Result(case, name, C.UNSUPPORTED, detail=unstated)
    x, w, bias = case.arrays() if arrays is None else arrays
    params = case.params()
    given = _own_copies(function, x, w, bias)
    if hasattr(function, "call_case"):  # an adapter: it needs the case's mode, not only its parameters
        actual, seconds, outcome, detail = _call(function.call_case, case, *given)
    else:
        actual, seconds, outcome, detail = _call(function, *given, **params)
    note = _modified([given[0], given[1], None, given[2]], [x, w, None, bias])
    detail = "\n".join(part for part in (detail, note) if part)
    if not case.valid:
        if outcome in (C.UNSUPPORTED, C.CRASH, C.TIMEOUT):
            return Result(case, name, outcome, detail=detail, target_seconds=seconds)
        if outcome in (C.RAISED, C.REFUSED):  # rejecting an invalid configuration is right
            return Result(case, name, C.PASS, detail=f"rejected as it should be: {detail}", target_seconds=seconds)
        return Result(
            case, name, C.ACCEPTED_INVALID, detail=f"returned a result for an invalid case; the golden says: {case.reason}",
            target_seconds=seconds,
        )
    if outcome is not None:
        return Result(case, name, outcome, detail=detail, target_seconds=seconds)
    start = time.perf_counter()
    tolerance = judging_tolerance(function, tolerance, golden)
    golden = golden or Golden(tolerance)
    expected = golden.forward(case, x, w, bias, tolerance)
    golden_seconds = time.perf_counter() - start  # the golden's value, S and K: not the comparison
    comparison = C.compare(actual, expected)
    diagnosis = None
    if comparison.outcome in DIAGNOSED_OUTCOMES and isinstance(actual, np.ndarray):
        diagnosis = diagnose(case, x, w, bias, actual, expected, outcome=comparison.outcome, tolerance=tolerance)
    errors = None
    if comparison.outcome in PROFILED_OUTCOMES:
        errors = error_stats([actual], [golden.sums(case, x, w, bias)], case.dtype)
    return Result(
        case, name, comparison.outcome, comparison=comparison, detail=detail, target_seconds=seconds,
        golden_seconds=golden_seconds, diagnosis=diagnosis, errors=errors,
    )


def check_vjp(function, case: Case, name: str, tolerance: Tolerance | None = None, *, golden: Golden | None = None) -> Result:
    """Run a target's vjp on one valid case and compare grad_x, grad_w and grad_bias with the golden's."""
    vjp = getattr(function, "vjp", None)
    if vjp is None:
        return Result(case, name, C.UNSUPPORTED, check="vjp", detail="the target has no vjp attribute")
    x, w, bias = case.arrays()
    grad_out = case.cotangent()
    params = case.params()
    given = _own_copies(function, x, w, grad_out, bias)
    if hasattr(function, "vjp_case"):
        actual, seconds, outcome, detail = _call(function.vjp_case, case, *given)
    else:
        actual, seconds, outcome, detail = _call(vjp, *given, **params)
    detail = "\n".join(part for part in (detail, _modified(given, [x, w, grad_out, bias])) if part)
    if outcome is not None:
        return Result(case, name, outcome, check="vjp", detail=detail, target_seconds=seconds)
    start = time.perf_counter()
    tolerance = judging_tolerance(function, tolerance, golden)
    golden = golden or Golden(tolerance)
    expectations = golden.vjp(case, x, w, grad_out, bias, tolerance)
    golden_seconds = time.perf_counter() - start
    if not isinstance(actual, (tuple, list)) or len(actual) != 3:
        return Result(case, name, C.SHAPE_MISMATCH, check="vjp", detail="vjp must return (grad_x, grad_w, grad_bias)")
    worst = None
    for label, got, expected in zip(("grad_x", "grad_w", "grad_bias"), actual, expectations):
        if expected is None:
            continue
        comparison = C.compare(got, expected)
        if worst is None or (worst.ok and not comparison.ok):
            worst = comparison
            where = label
    where = "" if worst.ok else f"in {where}"
    diagnosis = None
    if worst.outcome in DIAGNOSED_OUTCOMES and all(g is None or isinstance(g, np.ndarray) for g in actual):
        diagnosis = diagnose(case, x, w, bias, tuple(actual), expectations, outcome=worst.outcome, check="vjp",
                             grad_out=grad_out, tolerance=tolerance)
    errors = None
    if worst.outcome in PROFILED_OUTCOMES:
        found = golden.vjp_sums(case, x, w, grad_out, bias)
        errors = error_stats([g for g, s in zip(actual, found) if s is not None], [s for s in found if s is not None],
                             case.dtype)
    return Result(
        case, name, worst.outcome, check="vjp", comparison=worst,
        detail="\n".join(part for part in (where, detail) if part), target_seconds=seconds, golden_seconds=golden_seconds,
        diagnosis=diagnosis, errors=errors,
    )


def crosscheck(
    target,
    *,
    suite="default",
    dtypes=("float32",),
    seed: int = 0,
    grad: bool = False,
    isolate: bool = False,
    timeout: float = 60,
    max_cases: int | None = None,
    tolerance: Tolerance | None = None,
    progress=None,
    array: str = "numpy",
    device: str | None = None,
    out: bool = False,
) -> Report:
    """Run `target` on every case of `suite` in each of `dtypes`; return a Report.

    `suite`: a suite name (convt_oracle.cases.suites) or a sequence of Cases. `isolate=True` runs the target in a
    separate process: an abort, a segfault or a hang past `timeout` seconds becomes `crash` / `timeout`
    for that case, the process is restarted and the remaining cases run (convt_oracle.harness.isolation: the target must
    then be "module:function" or importable by reference, not a lambda or closure). A target named
    "NAME@PYTHON" (convt_oracle.harness.targets) always runs so, in a worker under that interpreter.
    `progress`, if given, is called with each Result as it is produced. Every argument is checked first (ValueError or TypeError
    naming it); a selection of no case at all is a ValueError, since a check of nothing would say nothing.

    `array`, `device`, `out` (a function target in this process): call it with "torch", "jax" or "cupy"
    arrays on `device` ("cpu", "cuda", "cuda:N"; None: the framework's default), and with `out=True` into
    an output buffer the oracle prefills and reads back (convt_oracle.harness.arrays, which states the
    rules); the report's environment records them (`target_arrays`). An adapter whose device is not here
    makes every case `unsupported` with the reason, and a DeviceUnavailable warning says so.
    """
    from convt_oracle.cases import suites

    for flag, value in (("grad", grad), ("isolate", isolate)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag}: got {value!r}; expected True or False")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
                                or timeout == float("inf")):
        raise ValueError(f"timeout: got {timeout!r}; expected a positive number of seconds (or None: no limit)")
    if tolerance is not None and not isinstance(tolerance, Tolerance):
        raise TypeError(f"tolerance: got {type(tolerance).__name__}; expected a convt_oracle.Tolerance or None")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: got {type(progress).__name__}; expected a callable taking each Result, or None")
    spec = _spec(target)  # a target given by name: checked before the suite is built
    calling = array != "numpy" or device not in (None, "cpu") or out is not False
    if calling and (isolate or (spec is not None and (spec.is_adapter or spec.python is not None))
                    or hasattr(target, "call_case")):
        raise ValueError(
            f"array={array!r}, device={device!r}, out={out!r}: these apply to a function called in this process; "
            f"an adapter converts arrays itself, and a worker (isolate=True, NAME@PYTHON) calls its target with numpy "
            f"arrays"
        )
    cases = suites.select(suite, dtypes, seed=seed, max_cases=max_cases)  # checks these arguments too
    dtypes, seed = suites.check_dtypes(dtypes), suites.check_seed(seed)  # as the report states them
    name = target_name(target)
    runner = None
    if spec is not None and (isolate or spec.python is not None):  # NAME@PYTHON: always in its interpreter
        function = runner = spec.isolated(timeout=timeout)
    elif isolate:
        from convt_oracle.harness.isolation import IsolatedTarget

        function = runner = IsolatedTarget(target, timeout=timeout)
    else:
        function = wrap(crosscheck_target(target), array=array, device=device, out=out)  # ValueError naming the rule
    # A function not importable by its name: Result.reproducer embeds its source; one called with other arrays
    # or out=: the reproducer calls it so.
    remember(name, target, calling=getattr(function, "calling", None))
    unavailable = getattr(function, "device_unavailable", None)
    reason = unavailable() if getattr(function, "device", "cpu") != "cpu" and callable(unavailable) else None
    if reason:
        warnings.warn(f"{name}: {reason}: every case is unsupported", DeviceUnavailable, stacklevel=2)
    results = []
    try:
        for start in range(0, len(cases), _CHUNK):
            chunk = cases[start : start + _CHUNK]
            # A chunk's arrays drawn in one go, rather than each between two golden calls: faster
            # (benchmarks/bench_crosscheck.py), and memory stays bounded.
            for case, arrays in zip(chunk, [case.arrays() for case in chunk]):
                produced = [check_case(function, case, name, tolerance, arrays=arrays)]
                if grad and case.valid:
                    produced.append(check_vjp(function, case, name, tolerance))
                for result in produced:
                    results.append(result)
                    if progress is not None:
                        progress(result)
    finally:
        if runner is not None:
            runner.close()
    # What the target's frameworks say decides their kernels (convt_oracle.harness.kernels): its worker's, or this process's.
    kernels = runner.info.get("kernels", {}) if runner is not None else framework_settings()
    report = Report(
        results=tuple(results),
        suite=suite if isinstance(suite, str) else "custom",
        dtypes=dtypes,
        seed=seed,
        targets=(name,),
        environment=environment({"target_kernels": {name: kernels}, **arrays_record(name, function)}),
    )
    # The target itself, for Report.explain's shrinking (not serialized: a loaded report has none).
    object.__setattr__(report, "live_target", LiveTarget(name, None if runner is not None else function, tolerance))
    return report


class DeviceUnavailable(UserWarning):
    """The device of the adapter a crosscheck runs is not here: every case is `unsupported`, with the reason."""


def arrays_record(name: str, function) -> dict:
    """{"target_arrays": {name: array, device, out, version}} for a target called with other arrays or out=
    (convt_oracle.harness.arrays.ArrayTarget), else nothing: a numpy target on the CPU."""
    return {"target_arrays": {name: function.describe()}} if isinstance(function, ArrayTarget) else {}


class LiveTarget(NamedTuple):
    """The target a crosscheck report was made with, as this process holds it (`Report.live_target`):
    `function` is what check_case calls, None where it ran in a worker (isolate=True, NAME@PYTHON: explain
    starts one from `label`); `tolerance` the one the report was judged with."""

    label: str
    function: object
    tolerance: Tolerance | None


__all__ = ["crosscheck", "crosscheck_target", "check_case", "check_vjp", "Golden", "target_name", "LiveTarget",
           "unstated_by_parameters", "DeviceUnavailable"]
