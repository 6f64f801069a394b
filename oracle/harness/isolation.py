"""Run a target in a long-lived worker process, so that its crash or hang costs one case, not the run.

    target = IsolatedTarget("mypackage.conv:conv_transpose", timeout=60)            # this interpreter
    target = IsolatedTarget(my_function, python="/other/venv/bin/python")           # another one
    target = IsolatedTarget("torch", python="/other/venv/bin/python")               # an adapter, by name
    y = target(x, w, bias, stride=(2,), padding=((0, 0),), output_padding=(0,), dilation=(1,), groups=1)

The worker is an execnet gateway (`popen//python=...`) running convt_oracle.harness.worker: it imports
convt_oracle from the folders this process imports it from, puts the directory the target's module was
imported from (when this process knows it) on its `sys.path`, imports the target once, then answers
calls. The worker's interpreter needs numpy, and ml_dtypes only if a bfloat16 array is sent; it does not
need this package installed. Arrays cross as raw bytes with their dtype and shape
(convt_oracle.harness.wire), never as pickles.

What the caller sees:
- the target's result, rebuilt as a numpy array in the parent;
- `convt_oracle.Unsupported` if the target raised it (likewise TargetCrashed / TargetTimedOut);
- any other exception of the target as a `RemoteTargetError` whose class carries the remote type's name
  (and derives from the builtin of that name, so `except ValueError` still works), with the same message;
  the remote traceback is in `.remote_traceback`;
- `convt_oracle.TargetTimedOut` when no answer comes within `timeout` seconds: the worker is killed;
- the target's own `tolerance` (a reduced-precision mode it declares: torch-cuda-tf32) as `.tolerance`,
  so that its results are judged by it here (convt_oracle.harness.crosscheck.judging_tolerance);
- `convt_oracle.TargetCrashed` when the worker dies (segfault, abort, os._exit, SIGKILL from the out-of-memory
  killer), with its exit code or signal and, for a fatal signal, where Python was.
After a timeout or a crash the next call starts a fresh worker. `vjp`, and an adapter's `call_case` and
`vjp_case`, exist only when the target has them. `target.stream(calls)` answers many calls in order,
sending them ahead in chunks (what `convt-oracle run` uses): the same answers, far less waiting.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from convt_oracle.errors import TargetCrashed, TargetTimedOut
from convt_oracle.tolerance import Tolerance
from convt_oracle.harness import wire, worker as worker_module
from convt_oracle.harness.wire import RemoteObject, RemoteTargetError  # noqa: F401 (part of this module's API)

if TYPE_CHECKING:
    from convt_oracle.cases.model import Case

# The packages a worker imports from where this process has them (the repository's folders map into them).
PACKAGES = ("convt_oracle", "convt_oracle.adapters", "convt_oracle.cases")
# Workers of one process start at most this many at a time: a framework's import is CPU-bound, and nine of
# them starting on two cores take longer each than any start limit allows.
STARTING_AT_ONCE = os.cpu_count() or 1
_starting = threading.BoundedSemaphore(STARTING_AT_ONCE)
# A start that passes its limit is tried once more with this many times the limit before it fails.
START_RETRY_FACTOR = 3


def package_folders() -> dict[str, str]:
    """{package: the folder this process imports it from}, for the worker to import the same code."""
    import importlib

    return {name: os.path.dirname(importlib.import_module(name).__file__) for name in PACKAGES}


# --- naming the target so that another process can import it ---------------------------------------------
def target_reference(target) -> tuple[str, list[str]]:
    """("module:attribute", extra sys.path entries) for what the worker is to import.

    `target`: "module:function"; "module:Class()" (the worker makes one instance); an adapter name (its
    registered class, made in the worker); or an object reachable from its module: a module-level
    function or class, or a module-level instance (found in its module's namespace). A lambda, a closure
    or a bound method is not.
    """
    if isinstance(target, str):
        if ":" not in target:
            from convt_oracle.adapters import registry

            points = registry.available()
            if target not in points:
                registry.load(target)  # fails, listing the known names
            target = f"{points[target].module}:{points[target].attr}()"
        return target, _import_roots(target.partition(":")[0])
    if not callable(target):
        raise TypeError(f"target: got {type(target).__name__}; expected a callable or 'module:function'")
    module_name = getattr(target, "__module__", None)
    module = sys.modules.get(module_name or "")
    qualname = getattr(target, "__qualname__", None)
    if module is not None and qualname and "<" not in qualname:
        found = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is target:
            return f"{module_name}:{qualname}", _import_roots(module_name)
    if module is not None and not qualname:  # a module-level instance, such as an adapter object
        for attribute, value in vars(module).items():
            if value is target:
                return f"{module_name}:{attribute}", _import_roots(module_name)
    raise ValueError(
        f"target: {target!r} cannot be imported by reference in another process "
        f"(module {module_name!r}, name {qualname!r}); use a module-level function or 'module:function'"
    )


def _import_roots(module_name: str) -> list[str]:
    """Where the parent imported `module_name` from, as a sys.path entry (none if not imported here, nor for
    convt_oracle's own modules: the worker finds those through `package_folders`)."""
    if module_name.partition(".")[0] == PACKAGES[0]:
        return []
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return []
    root = Path(path).resolve().parent
    if Path(path).stem == "__init__":
        root = root.parent
    for _ in range(module_name.count(".")):
        root = root.parent
    return [str(root)]


# --- the worker process ------------------------------------------------------------------------------------
class _Worker:
    """One worker process: an execnet gateway of `group` running worker.serve, with the target loaded.

    The group holds only the current worker, so terminating the group ends this worker alone.
    """

    def __init__(self, group, python: str, reference: str, paths: list[str], fault_log: str, start_timeout: float,
                 output: str | None = None):
        import execnet

        self.group, self.fault_log, self.gateway = group, fault_log, None
        try:
            self.gateway = group.makegateway(f"popen//python={python}")
            self.channel = self.gateway.remote_exec(worker_module)
            self.channel.send({
                "packages": package_folders(), "paths": paths, "target": reference, "fault_log": fault_log,
                "output": output,
            })
            reply = self.channel.receive(timeout=start_timeout)
        except execnet.TimeoutError:
            self.kill()
            raise TargetTimedOut(f"the worker ({python}) did not load {reference} within {start_timeout:g} s") from None
        except execnet.RemoteError as error:  # the worker's own code failed before it could answer
            self.kill()
            raise ValueError(f"python: {python} cannot run the worker ({_last_line(error)})") from None
        except (EOFError, OSError) as error:
            fate = self.fate(error)
            self.kill()
            raise TargetCrashed(f"the worker ({python}) died while loading {reference}: {fate}") from None
        if reply[0] == "unusable":
            self.close()
            raise ValueError(f"python: {python} cannot run the worker ({reply[1]}: {reply[2]}); a worker needs numpy")
        if reply[0] == "failed":
            self.close()
            raise ValueError(f"target: cannot load {reference!r} in {python} ({reply[1]}: {reply[2]})")
        self.info = reply[1]

    @property
    def popen(self):
        """The worker's subprocess.Popen (execnet keeps it on its io object), or None."""
        return getattr(getattr(self.gateway, "_io", None), "popen", None)

    def alive(self) -> bool:
        return self.popen is None or self.popen.poll() is None

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        self.group.terminate(timeout=1)

    def close(self) -> None:
        """Ask the worker to return, then end it (by force after 2 s)."""
        try:
            if self.alive():
                self.channel.send(None)
        except (OSError, EOFError):
            pass
        self.group.terminate(timeout=2)

    def fate(self, error: BaseException | None = None) -> str:
        """How the worker ended: exit code or signal, and where Python was for a fatal signal.

        Call it before kill(): a SIGKILL found here came from outside (the out-of-memory killer, say)."""
        code = None
        if self.popen is not None:
            try:
                code = self.popen.wait(timeout=5)
            except Exception:
                pass
        if code is None:
            text = f"its connection failed ({type(error).__name__}: {error})" if error else "it stopped answering"
        elif code < 0:
            try:
                text = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                text = f"killed by signal {-code}"
            if -code == signal.SIGKILL:
                text += " (from outside the worker: the out-of-memory killer?)"
        else:
            text = f"exited with code {code}"
        where = _fault_summary(self.fault_log)
        return f"{text}; {where}" if where else text


def _last_line(error: BaseException) -> str:
    """The last line of a remote traceback: 'ModuleNotFoundError: No module named ...'."""
    lines = str(error).strip().splitlines()
    return lines[-1].strip() if lines else type(error).__name__


def _fault_summary(path: str) -> str:
    """'Fatal Python error: Segmentation fault at File "...", line N in f' from a faulthandler log."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    fatal = next((line.strip() for line in lines if line.startswith("Fatal Python error")), "")
    current = next((i for i, line in enumerate(lines) if line.startswith("Current thread")), None)
    frame = ""
    if current is not None:
        frame = next((line.strip() for line in lines[current + 1 :] if line.strip().startswith("File")), "")
    return f"{fatal} at {frame}" if fatal and frame else fatal


# --- the isolated target -----------------------------------------------------------------------------------
class IsolatedTarget:
    """A target called in a long-lived worker process; see the module docstring.

    `target`: "module:function" or an importable callable. `timeout`: seconds per call (None: no limit).
    `python`: the worker's interpreter, a path or a command line (default: this one); it needs numpy.
    `start_timeout`: seconds to start the worker and import the target (default max(60, timeout): a
    framework's import may take longer than one call); it counts from the worker's own start, not from the
    wait for one of the STARTING_AT_ONCE start slots, and a start that passes it is tried once more with
    START_RETRY_FACTOR times the limit. The worker starts here, so that a target that cannot be loaded
    fails at once (ValueError); after a crash or a timeout it restarts on the next call. Calls from several threads are serialized; use one IsolatedTarget per concurrent worker.
    `output`: a file that receives the worker's stdout and stderr (a framework's log lines and warnings),
    appended across restarts; None leaves them on this process's stderr.
    """

    receives_copies = True  # arrays reach the worker serialized: crosscheck need not copy them first

    def __init__(self, target, *, timeout: float = 60, python: str | None = None, start_timeout: float | None = None,
                 output: str | None = None):
        import execnet

        self.reference, self.paths = target_reference(target)
        self.python = python or sys.executable
        self._command = _interpreter(python)
        self.timeout = timeout
        self.start_timeout = max(60.0, timeout or 0) if start_timeout is None else start_timeout
        self.name = self.reference if python is None else f"{self.reference}@{self.python}"
        self.restarts = 0
        self.output = output
        self._lock = threading.Lock()
        self._calls = 0
        handle, self._fault_log = tempfile.mkstemp(prefix="convt-worker-", suffix=".log")
        os.close(handle)
        self._group = execnet.Group()  # one group for every worker of this target (one at a time)
        self._worker: _Worker | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        for method in self.info["methods"]:  # the target's optional methods, and only those
            setattr(self, method, getattr(self, f"_{method}"))

    @property
    def has_vjp(self) -> bool:
        return "vjp" in self.info["methods"]

    def __call__(self, x, w, bias=None, **params):
        return self._run("call", (x, w, bias), params)

    def _vjp(self, x, w, grad_out, bias=None, **params):
        """(grad_x, grad_w, grad_bias) from the target's own vjp, in the worker."""
        return self._run("vjp", (x, w, grad_out, bias), params)

    def _call_case(self, case: Case, x, w, bias):
        """An adapter's call_case, in the worker."""
        return self._run("call_case", (case, x, w, bias), {})

    def _vjp_case(self, case: Case, x, w, grad_out, bias):
        """An adapter's vjp_case, in the worker."""
        return self._run("vjp_case", (case, x, w, grad_out, bias), {})

    def _check_environment(self):
        """An adapter's check_environment, in the worker: None, or why it cannot run there."""
        return self._run("check_environment", (), {})

    def _native_source(self, case: Case) -> str:
        """An adapter's native_source, written in the worker: its framework's own version and spelling."""
        return self._run("native_source", (case,), {})

    def _runtime(self):
        """An adapter's runtime (its framework's versions and kernel facts), asked in the worker."""
        return self._run("runtime", (), {})

    def _start(self) -> None:
        self._worker = None
        limit = self.start_timeout
        for attempt in (1, 2):
            with _starting:  # the limit counts from here: waiting for a slot is not the worker's time
                try:
                    self._worker = _Worker(
                        self._group, self._command, self.reference, self.paths, self._fault_log, limit, self.output
                    )
                    break
                except TargetTimedOut as error:
                    if attempt == 2:
                        raise TargetTimedOut(
                            f"{error}, twice (the first time within {self.start_timeout:g} s); the machine may be "
                            f"busy: give a longer start limit"
                        ) from None
                    limit *= START_RETRY_FACTOR
        self.info = dict(self._worker.info)  # pid, python, executable, numpy, methods of the current worker
        declared = self.info.get("tolerance")  # the target's own tolerance, judged by here (judging_tolerance)
        self.tolerance = None if declared is None else Tolerance(**declared)

    def abort(self) -> None:
        """Kill the worker now, from any thread, without waiting for a call in flight (an interrupted run):
        that call then ends as TargetCrashed. close() still cleans up."""
        worker = self._worker
        if worker is not None and worker.popen is not None and worker.popen.poll() is None:
            worker.popen.kill()

    def _run(self, what: str, args: tuple, params: dict):
        import execnet

        args, params = [wire.encode_argument(arg) for arg in args], wire.plain(params)
        with self._lock:
            worker = self._current_worker()
            self._calls += 1
            try:
                worker.channel.send((self._calls, what, args, params))
            except execnet.DataFormatError as error:  # nothing was sent: the worker is fine
                raise TypeError(f"{what}: the arguments cannot be sent to the worker ({error})") from None
            reply = self._receive(worker, self._calls)
        value, error, _ = wire.answer_of(reply)
        if error is not None:
            raise error
        return value

    def stream(self, calls, *, chunk: int = 16):
        """The answers to many calls, in order: for each (method, args) or (method, args, params) of
        `calls` (method "call_case", "vjp_case", "call" or "vjp", as the target has them; args and params
        as that method takes them) one (value, error, seconds). `error` is the exception the single call
        would raise (Unsupported, TargetCrashed, TargetTimedOut, a RemoteTargetError...) or None;
        `seconds` is the target's own time in the worker (for a crash or a timeout, how long its answer
        was waited for).

        The calls go to the worker `chunk` at a time in one message, up to two chunks ahead, and the worker
        answers each as soon as it is done: the caller's work on one answer (`convt-oracle run` computes
        the golden) overlaps the worker's next calls, and far fewer messages cross than with one call at
        a time (benchmarks/bench_run.py). A crash or a timeout still costs only its own call: the worker
        is killed, a fresh one started, and the calls sent after it are sent again. The timeout counts
        from when the caller starts waiting for an answer (the worker may have begun the call earlier).
        `calls` is read lazily, ahead of the answers. The target is locked until the generator is
        exhausted or closed (call nothing else on it meanwhile); closed early, it kills a worker that
        still owes answers.
        """
        import itertools
        from collections import deque

        calls = iter(calls)
        pending = deque()  # (number, method, encoded args, params) sent and not answered yet, in order
        more = True
        with self._lock:
            try:
                while True:
                    while more and len(pending) <= chunk:
                        batch = [
                            (what, [wire.encode_argument(a) for a in args], wire.plain(params[0]) if params else {})
                            for what, args, *params in itertools.islice(calls, chunk)
                        ]
                        more = len(batch) == chunk
                        failed = self._send(pending, batch)
                        for _ in batch if failed is not None else ():  # no worker to send them to
                            yield None, failed, 0.0
                    if not pending:
                        return
                    start = time.perf_counter()
                    try:
                        reply = self._receive(self._worker, pending[0][0])
                    except (TargetCrashed, TargetTimedOut) as error:  # the worker is dead: the rest go again
                        pending.popleft()
                        yield None, error, time.perf_counter() - start
                        again = [request[1:] for request in pending]
                        pending.clear()
                        failed = self._send(pending, again)
                        for _ in again if failed is not None else ():
                            yield None, failed, 0.0
                        continue
                    pending.popleft()
                    yield wire.answer_of(reply)
            finally:
                if pending and self._worker is not None:  # closed early: its answers would confuse the next call
                    self._worker.kill()

    def _send(self, pending, batch, retry: bool = True) -> Exception | None:
        """Send a batch of (method, encoded args, params) as one message and record it in `pending`; if no
        worker could be started for it (nothing sent), the exception a single call would have raised."""
        if not batch:
            return None
        if pending:  # calls in flight: the same worker takes these (if it died, one of those calls killed it)
            worker = self._worker
        else:
            try:
                worker = self._current_worker()
            except Exception as error:
                return error
        numbered = []
        for request in batch:
            self._calls += 1
            numbered.append((self._calls, *request))
        try:
            worker.channel.send(numbered)
        except (OSError, EOFError):  # the worker died since it was last seen alive
            if not pending and retry:  # it owed nothing, so no call of ours killed it: a fresh one takes these
                worker.kill()
                return self._send(pending, batch, retry=False)
            # Otherwise a call in flight killed it: receiving says which, and everything after it goes again.
        pending.extend(numbered)
        return None

    def _current_worker(self) -> _Worker:
        """The worker, (re)started if it never was or died since the last call."""
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.kill()
                self.restarts += 1
            self._start()
        return self._worker

    def _receive(self, worker: _Worker, number: int) -> tuple:
        """The worker's reply to call `number`. A timeout, a crash or a reply to another call kills the
        worker and raises TargetTimedOut / TargetCrashed."""
        import execnet

        try:
            reply = worker.channel.receive(timeout=self.timeout)
        except execnet.TimeoutError:
            worker.kill()
            raise TargetTimedOut(
                f"no answer within {self.timeout:g} s; the worker (pid {worker.info['pid']}) was killed"
            ) from None
        except execnet.RemoteError as error:  # the worker's loop itself ended (SystemExit in the target)
            worker.kill()
            raise TargetCrashed(f"the worker (pid {worker.info['pid']}) stopped serving: {_last_line(error)}") from None
        except (EOFError, OSError) as error:
            fate = worker.fate(error)
            worker.kill()
            raise TargetCrashed(f"the worker (pid {worker.info['pid']}) {fate}") from None
        except BaseException:  # interrupted: the answer may still come, so this worker cannot be trusted
            worker.kill()
            raise
        if reply[0] != number:
            worker.kill()
            raise TargetCrashed(f"the worker answered call {reply[0]} instead of {number}")
        return reply

    def close(self) -> None:
        """Stop the worker (politely, then by force) and remove its fault log."""
        with self._lock:
            if self._worker is not None:
                self._worker.close()
                self._worker = None
        try:
            os.unlink(self._fault_log)
        except OSError:
            pass

    def __enter__(self) -> IsolatedTarget:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        pid = self._worker.info["pid"] if self._worker is not None else None
        return f"IsolatedTarget({self.name!r}, timeout={self.timeout:g}, worker pid {pid}, restarts {self.restarts})"


def _interpreter(python: str | None) -> str:
    """The worker's command for execnet: an interpreter's path, or a command line ("python3.12 -X dev")."""
    python = python or sys.executable
    if "//" in python:
        raise ValueError(f"python: got {python!r}; the path must not contain '//' (execnet's spec separator)")
    if os.path.isfile(python) and os.access(python, os.X_OK):
        return shlex.quote(python)  # execnet splits the command line like a shell
    program = shlex.split(python)[0] if python.strip() else ""
    if not program or shutil.which(program) is None:
        raise ValueError(f"python: {python!r} is not an executable interpreter")
    return python


__all__ = ["IsolatedTarget", "RemoteTargetError", "RemoteObject", "target_reference"]
