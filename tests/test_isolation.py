"""crosscheck(..., isolate=True): a target's crash or hang costs one case; everything else is as in-process.

The targets are in tests/support/crashy_targets.py; the misbehaving ones misbehave on the case with three input
channels (TRIGGER below) and are correct on the others, which run before and after it.
"""

import os
import shlex
import signal
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from support import crashy_targets as ct
from convt_oracle.cases.model import make_case
from convt_oracle import TargetCrashed, TargetTimedOut, Unsupported, crosscheck
from convt_oracle.harness.isolation import IsolatedTarget, RemoteTargetError, target_reference

TRIGGER = make_case(input_size=5, kernel_size=3, in_channels=ct.TRIGGER_CHANNELS, out_channels=2, padding=1, bias=True)
SUITE = [
    make_case(input_size=5, kernel_size=3, in_channels=2, out_channels=2, stride=2),
    TRIGGER,
    make_case(input_size=(4, 3), kernel_size=(2, 3), in_channels=2, out_channels=4, groups=2, dilation=2, bias=True),
    make_case(input_size=4, kernel_size=3, stride=2, padding=((0, 1),), output_padding=1),
]
ALL_DTYPES = ("float16", "bfloat16", "float32", "float64")


def outcomes(report):
    return [(result.case.in_channels, result.check, result.outcome) for result in report.results]


def expected_outcomes(trigger_outcome, checks=("forward",)):
    return [
        (case.in_channels, check, trigger_outcome if case is TRIGGER else "pass") for case in SUITE for check in checks
    ]


def trigger_result(report, check="forward"):
    (result,) = [r for r in report.results if r.case.in_channels == ct.TRIGGER_CHANNELS and r.check == check]
    return result


# --- the same results as in-process ---------------------------------------------------------------------
@pytest.mark.parametrize("target", [ct.correct, "support.crashy_targets:correct"], ids=["callable", "string"])
def test_correct_target_passes_every_case_and_dtype_as_in_process(target):
    isolated = crosscheck(target, suite=SUITE, dtypes=ALL_DTYPES, grad=True, isolate=True, timeout=20)
    in_process = crosscheck(ct.correct, suite=SUITE, dtypes=ALL_DTYPES, grad=True)
    assert outcomes(isolated) == outcomes(in_process)
    assert {r.outcome for r in isolated.results} == {"pass"}
    assert len(isolated.results) == 2 * len(SUITE) * len(ALL_DTYPES)  # forward and vjp


def test_results_are_bit_identical_to_in_process():
    with IsolatedTarget(ct.correct, timeout=20) as target:
        for case in SUITE:
            for dtype in ALL_DTYPES:
                x, w, bias = case.with_dtype(dtype).arrays()
                got, want = target(x, w, bias, **case.params()), ct.correct(x, w, bias, **case.params())
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.tobytes() == want.tobytes(), (case.id, dtype)
                grad_out = case.with_dtype(dtype).cotangent()
                grads = target.vjp(x, w, grad_out, bias, **case.params())
                wanted = ct.correct.vjp(x, w, grad_out, bias, **case.params())
                assert isinstance(grads, tuple) and len(grads) == 3 and (grads[2] is None) == (bias is None)
                for got, want in zip(grads, wanted):
                    assert got is want is None or (got.dtype == want.dtype and got.tobytes() == want.tobytes())


@pytest.mark.parametrize("dtype", ["float16", ml_dtypes.bfloat16, "float32", "float64", "int8", ">f4"])
def test_arrays_round_trip_bit_for_bit(dtype):
    values = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 65504.0, 6e-8, 1e-40, 3.0e38])
    with np.errstate(over="ignore", invalid="ignore"):
        x = values.astype(dtype).reshape(1, 1, -1)
    strided = np.repeat(x, 2, axis=2)[:, :, ::2]  # not contiguous
    with IsolatedTarget(ct.echo, timeout=20) as target:
        for sent in (x, strided, x[:, :, :0]):
            got = target(sent, np.ones((1, 1, 1)))
            assert got.dtype == sent.dtype and got.shape == sent.shape
            assert got.tobytes() == np.ascontiguousarray(sent).tobytes()
            got[...] = 0  # writable, like the target's own result


# --- crashes, hangs and raising targets cost one case ----------------------------------------------------
@pytest.mark.parametrize(
    "target, how",
    [
        (ct.segfault_on_trigger, "killed by SIGSEGV; Fatal Python error: Segmentation fault at File"),
        (ct.abort_on_trigger, "killed by SIGABRT; Fatal Python error: Aborted at File"),
        (ct.exit_on_trigger, "exited with code 3"),
        (ct.sigkill_on_trigger, "killed by SIGKILL"),
    ],
    ids=["segfault", "abort", "os._exit", "sigkill"],
)
def test_a_dying_worker_is_a_crash_of_that_case_and_the_rest_still_runs(target, how):
    report = crosscheck(target, suite=SUITE, isolate=True, timeout=20)
    assert outcomes(report) == expected_outcomes("crash")
    assert how in trigger_result(report).detail


def test_a_worker_s_own_output_goes_to_its_log_file(tmp_path, capfd):
    log = tmp_path / "worker.log"
    case = SUITE[0].with_dtype("float32")
    x, w, bias = case.arrays()
    with IsolatedTarget(ct.noisy, timeout=20, output=str(log)) as isolated:
        np.testing.assert_array_equal(isolated(x, w, bias, **case.params()), ct.correct(x, w, bias, **case.params()))
    text = log.read_text()
    for line in ("a line on stdout", "a line on stderr", "a warning", "a line from C"):
        assert f"noisy: {line}" in text
    assert "noisy" not in capfd.readouterr().err


def test_a_hang_is_a_timeout_of_that_case_and_the_rest_still_runs():
    report = crosscheck(ct.hang_on_trigger, suite=SUITE, isolate=True, timeout=2)
    assert outcomes(report) == expected_outcomes("timeout")
    assert "no answer within 2 s" in trigger_result(report).detail
    assert trigger_result(report).target_seconds < 10


@pytest.mark.parametrize(
    "target, timeout, error, how",
    [
        (ct.segfault_on_trigger, 20, TargetCrashed, "killed by SIGSEGV"),
        (ct.exit_on_trigger, 20, TargetCrashed, "exited with code 3"),
        (ct.hang_on_trigger, 2, TargetTimedOut, "no answer within 2 s"),
        (ct.raise_on_trigger, 20, ZeroDivisionError, "three channels"),
        (ct.unsupported_on_trigger, 20, Unsupported, "at most two input channels"),
    ],
    ids=["segfault", "os._exit", "hang", "raise", "unsupported"],
)
def test_stream_answers_in_order_and_a_crash_costs_only_its_call(target, timeout, error, how):
    """IsolatedTarget.stream sends calls ahead in chunks; the answers are the single calls' own, in order:
    the trigger's failure lands on the trigger alone, and the calls sent after it are answered (by a
    restarted worker after a crash or a timeout)."""
    suite = [case.with_dtype("float32") for case in SUITE] * 3  # three triggers, in different chunks
    calls = [("call", case.arrays(), case.params()) for case in suite]
    with IsolatedTarget(target, timeout=timeout) as isolated:
        answers = list(isolated.stream(calls, chunk=2))
        restarts = isolated.restarts
    assert len(answers) == len(suite)
    for case, (x, w, bias), (value, caught, seconds) in zip(suite, (call[1] for call in calls), answers):
        if case.in_channels == ct.TRIGGER_CHANNELS:
            assert isinstance(caught, error) and how in str(caught) and value is None
        else:
            assert caught is None and seconds >= 0
            np.testing.assert_array_equal(value, ct.correct(x, w, bias, **case.params()))
    assert restarts == (3 if error in (TargetCrashed, TargetTimedOut) else 0)


def test_a_stream_closed_early_leaves_a_working_target():
    calls = [("call", case.with_dtype("float32").arrays(), case.with_dtype("float32").params()) for case in SUITE * 4]
    with IsolatedTarget(ct.correct, timeout=20) as isolated:
        stream = isolated.stream(calls, chunk=4)
        next(stream)
        stream.close()  # calls still in flight: the worker that owes their answers is replaced
        x, w, bias = calls[0][1]
        np.testing.assert_array_equal(isolated(x, w, bias, **calls[0][2]), ct.correct(x, w, bias, **calls[0][2]))


def test_a_raising_target_is_raised_with_the_remote_type_and_message_as_in_process():
    isolated = crosscheck(ct.raise_on_trigger, suite=SUITE, isolate=True, timeout=20)
    in_process = crosscheck(ct.raise_on_trigger, suite=SUITE)
    assert outcomes(isolated) == outcomes(in_process) == expected_outcomes("raised")
    assert trigger_result(isolated).detail == trigger_result(in_process).detail
    assert trigger_result(isolated).detail == "ZeroDivisionError: three channels, shape (1, 3, 5), is too many"


def test_remote_exceptions_keep_their_type_name_and_traceback():
    x, w, bias = TRIGGER.with_dtype("float32").arrays()
    with IsolatedTarget(ct.raise_on_trigger, timeout=20) as target:
        with pytest.raises(ZeroDivisionError) as caught:  # the builtin of that name still catches it
            target(x, w, bias, **TRIGGER.params())
        assert not target.has_vjp and not hasattr(target, "vjp")  # the target has none
    assert isinstance(caught.value, RemoteTargetError)
    assert type(caught.value).__name__ == "ZeroDivisionError"
    assert "crashy_targets.py" in caught.value.remote_traceback


def test_cases_cross_the_wire_intact():
    """A case crosses as JSON text (convt_oracle.harness.wire.encode_argument); it must come back equal, field by field."""
    import dataclasses

    from convt_oracle.cases import suites
    from convt_oracle.harness import wire

    cases = suites.expand(suites.get("edge") + suites.get("invalid") + SUITE, ("float32", "bfloat16"))
    cases.append(dataclasses.replace(SUITE[0], batch=np.int64(2), seed=np.int32(7), bias=np.bool_(True)))
    for case in cases:
        back = wire.decode(wire.encode_argument(case))
        assert back == case and back.name == case.name and back.id == case.id


def test_remote_traceback_is_pythons_without_the_markers():
    """wire.traceback_text: traceback.format_exception's text (chained exceptions too), minus the ^^^ lines."""
    import traceback

    from convt_oracle.harness.wire import traceback_text

    def inner():
        return {}["missing"]

    def outer():
        try:
            inner()
        except KeyError as error:
            raise ValueError("outer") from error

    for call in (inner, outer):
        with pytest.raises(Exception) as caught:
            call()
        python = "".join(traceback.format_exception(caught.value)).splitlines()
        assert traceback_text(caught.value).splitlines() == [line for line in python if not line.strip() or set(line.strip()) - set("^~")]
        assert "inner" in traceback_text(caught.value)


def test_unsupported_is_unsupported_with_its_reason():
    report = crosscheck(ct.unsupported_on_trigger, suite=SUITE, isolate=True, timeout=20)
    assert outcomes(report) == expected_outcomes("unsupported")
    assert trigger_result(report).detail == "this backend takes at most two input channels"
    assert report.ok


def test_a_non_array_result_is_reported_as_in_process():
    isolated = crosscheck(ct.returns_list, suite=SUITE[:1], isolate=True, timeout=20)
    in_process = crosscheck(ct.returns_list, suite=SUITE[:1])
    assert outcomes(isolated) == outcomes(in_process) == [(2, "forward", "shape_mismatch")]
    assert isolated.results[0].comparison.message == in_process.results[0].comparison.message


# --- adapters: called per case ----------------------------------------------------------------------------
def test_a_class_made_in_the_worker_is_called_per_case_as_in_process():
    suite = [*SUITE, *(make_case(input_size=5, kernel_size=3, stride=2, mode=mode) for mode in ("same", "valid"))]
    isolated = crosscheck("support.crashy_targets:ModeAware()", suite=suite, grad=True, isolate=True, timeout=20)
    in_process = crosscheck(ct.ModeAware(), suite=suite, grad=True)
    assert outcomes(isolated) == outcomes(in_process)
    assert [r.detail for r in isolated.results] == [r.detail for r in in_process.results]
    assert [r.outcome for r in isolated.results if r.case.mode == "same"] == ["unsupported", "pass"]


def test_an_adapter_by_name_runs_in_the_worker_as_in_process():
    pytest.importorskip("onnx")
    isolated = crosscheck("onnx_reference", suite=SUITE, dtypes=("float32", "float16"), isolate=True, timeout=60)
    in_process = crosscheck("onnx_reference", suite=SUITE, dtypes=("float32", "float16"))
    assert outcomes(isolated) == outcomes(in_process)
    assert [r.detail for r in isolated.results] == [r.detail for r in in_process.results]


def test_an_unknown_adapter_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown name 'no-such-framework'; known adapters: .*torch"):
        IsolatedTarget("no-such-framework")


# --- gradients -------------------------------------------------------------------------------------------
def test_vjp_crash_costs_only_that_vjp():
    report = crosscheck(ct.segfault_in_vjp, suite=SUITE, grad=True, isolate=True, timeout=20)
    assert outcomes(report) == [
        (case.in_channels, check, "crash" if case is TRIGGER and check == "vjp" else "pass")
        for case in SUITE
        for check in ("forward", "vjp")
    ]


def test_a_target_without_vjp_has_unsupported_vjps_in_isolation_too():
    report = crosscheck(ct.raise_on_trigger, suite=SUITE[:1], grad=True, isolate=True, timeout=20)
    assert outcomes(report) == [(2, "forward", "pass"), (2, "vjp", "unsupported")]


# --- the worker: long-lived, restarted when it dies, under any interpreter -------------------------------
def _pid(target):
    return int(target(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)))[0])


def _wait_until_dead(pid):
    """Until the child `pid` has exited (a signal is delivered asynchronously); it stays to be reaped."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid to see the worker die")
def test_one_worker_serves_every_call_until_it_dies():
    x, w, bias = TRIGGER.with_dtype("float32").arrays()
    with IsolatedTarget(ct.pid, timeout=20) as target:
        first = _pid(target)
        assert first == target.info["pid"] != os.getpid()
        assert {_pid(target) for _ in range(20)} == {first}
        os.kill(first, signal.SIGKILL)  # dies while idle: the next call gets a new worker and succeeds
        _wait_until_dead(first)
        second = _pid(target)
        assert second != first and target.restarts == 1
    with IsolatedTarget(ct.segfault_on_trigger, timeout=20) as target:
        with pytest.raises(TargetCrashed):
            target(x, w, bias, **TRIGGER.params())
        small = SUITE[0].with_dtype("float32")
        assert target(*small.arrays(), **small.params()).shape == small.output_shape
        assert target.restarts == 1


def test_a_hang_kills_the_worker():
    x, w, bias = TRIGGER.with_dtype("float32").arrays()
    with IsolatedTarget(ct.hang_on_trigger, timeout=1) as target:
        hung = target.info["pid"]
        with pytest.raises(TargetTimedOut):
            target(x, w, bias, **TRIGGER.params())
        with pytest.raises(ProcessLookupError):
            os.kill(hung, 0)


def test_worker_under_an_explicit_interpreter_path():
    case = SUITE[2].with_dtype("float32")
    with IsolatedTarget(ct.correct, python=sys.executable, timeout=20) as target:
        assert target.info["executable"] == sys.executable
        assert target.name == f"support.crashy_targets:correct@{sys.executable}"
        got = target(*case.arrays(), **case.params())
    assert got.tobytes() == ct.correct(*case.arrays(), **case.params()).tobytes()


def _bare_numpy_python():
    """The interpreter this venv was made from, when it has numpy but not ml_dtypes (nor this package)."""
    base = getattr(sys, "_base_executable", None)
    if not base or base == sys.executable:
        return None
    probe = "import numpy, importlib.util as u; assert u.find_spec('ml_dtypes') is None"
    return base if subprocess.run([base, "-c", probe], capture_output=True).returncode == 0 else None


@pytest.mark.skipif(_bare_numpy_python() is None, reason="no other interpreter with numpy and without ml_dtypes")
def test_worker_under_another_interpreter_without_this_package():
    python = _bare_numpy_python()
    x = np.arange(6, dtype=np.float16).reshape(1, 2, 3)
    with IsolatedTarget("support.crashy_targets:double", python=python, timeout=20) as target:
        assert target.info["executable"] == python
        assert target(x, x).tobytes() == (x * 2).tobytes()
        with pytest.raises(RemoteTargetError, match="ml_dtypes"):  # needed only once bfloat16 is sent
            target(x.astype(ml_dtypes.bfloat16), x)
        assert target(x, x).dtype == np.float16  # and the worker carries on


# --- what cannot be isolated fails at once, saying why ---------------------------------------------------
def _closure():
    def inner(x, w, bias=None, **params):
        return x

    return inner


@pytest.mark.parametrize(
    "target, message",
    [
        (lambda x, w, bias=None, **p: x, "module-level function"),
        (_closure(), "module-level function"),
    ],
    ids=["lambda", "closure"],
)
def test_targets_that_cannot_be_imported_by_reference_are_rejected(target, message):
    with pytest.raises(ValueError, match=message):
        IsolatedTarget(target)


def test_references():
    assert target_reference(ct.correct)[0] == "support.crashy_targets:correct"
    assert target_reference(ct.Scaled)[0] == "support.crashy_targets:Scaled"
    assert target_reference(ct.scaled)[0] == "support.crashy_targets:scaled"  # a module-level instance
    assert target_reference("support.crashy_targets:correct")[1] == target_reference(ct.correct)[1]


def test_a_target_the_worker_cannot_load_fails_at_once():
    with pytest.raises(ValueError, match="cannot load 'support.crashy_targets:no_such_function'.*AttributeError"):
        IsolatedTarget("support.crashy_targets:no_such_function")
    with pytest.raises(ValueError, match="ModuleNotFoundError"):
        IsolatedTarget("no_such_module_anywhere:f")


def test_a_missing_interpreter_fails_at_once():
    with pytest.raises(ValueError, match="not an executable interpreter"):
        IsolatedTarget(ct.correct, python="/no/such/python")


def test_an_interpreter_without_numpy_fails_at_once():
    without_site_packages = f"{shlex.quote(sys.executable)} -S"
    with pytest.raises(ValueError, match="cannot run the worker .*No module named 'numpy'"):
        IsolatedTarget(ct.correct, python=without_site_packages)


SLOW_FIRST_IMPORT = """
import os
import time

# The first import (the first worker's) leaves a mark and takes a minute; a later one finds the mark and is quick.
if not os.path.exists({mark!r}):
    open({mark!r}, "w").close()
    time.sleep(60)


def conv_transpose(x, w, bias=None, **params):
    import convt_oracle
    return convt_oracle.conv_transpose(x, w, bias, **params).astype(x.dtype)
"""


def test_a_start_past_its_limit_is_tried_once_more_with_a_longer_one(tmp_path, monkeypatch):
    """A target whose first import takes a minute, under a 5 s start limit: the first start times out, the
    second (3 x the limit) loads it. One whose every import takes a minute fails both, saying so."""
    (tmp_path / "slow_first.py").write_text(SLOW_FIRST_IMPORT.format(mark=str(tmp_path / "imported-once")))
    (tmp_path / "slow_always.py").write_text("import time\ntime.sleep(60)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # where the worker finds them; not imported here

    with IsolatedTarget("slow_first:conv_transpose", start_timeout=5) as target:
        case = TRIGGER.with_dtype("float64")
        x, w, bias = case.arrays()
        assert target(x, w, bias, **case.params()).shape == case.output_shape
    with pytest.raises(TargetTimedOut, match=r"did not load slow_always:conv_transpose within 4.5 s, twice \(the first time within 1.5 s\)"):
        IsolatedTarget("slow_always:conv_transpose", start_timeout=1.5)
