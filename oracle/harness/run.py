"""`convt-oracle run`: every adapter, each in its own long-lived worker, on a suite of cases.

Each target runs in an isolated worker (convt_oracle.harness.isolation): a crash or hang costs one case and the worker
restarts. Workers of different adapters run concurrently, one driving thread each; the golden's
expectation for a case is computed once and shared by all targets (convt_oracle.harness.crosscheck.Golden). A driving
thread streams its cases to the worker ahead of the answers (IsolatedTarget.stream), so that the golden
and the comparison of one case overlap the worker's next calls (benchmarks/bench_run.py).
A target is an adapter name or "module:function", optionally with another interpreter: `torch@/path/to/venv/bin/python`
(convt_oracle.harness.targets).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import threading
from collections import deque
from dataclasses import replace

from convt_oracle.adapters import registry
from convt_oracle.cases import suites
from convt_oracle import compare as C
from convt_oracle.harness.crosscheck import Golden, check_case, check_vjp, unstated_by_parameters
from convt_oracle.harness.kernels import gpu_device_files
from convt_oracle.harness.report import Report, Result, environment
from convt_oracle.harness.shards import Shard
from convt_oracle.harness.targets import TargetSpec

def installed_targets() -> tuple[list[TargetSpec], dict[str, str]]:
    """(every registered adapter whose framework is importable here, {adapter: why it is left out}),
    found without importing a framework. Device variants (a GPU) are left out on a machine without a GPU
    device file; asked for by name (--targets), they run and say what their framework sees."""
    found, left_out = [], {}
    gpu = gpu_device_files()
    for name, point in sorted(registry.available().items()):
        adapter_class = point.load()
        needed = [adapter_class.framework, getattr(adapter_class, "backend", "")]  # Keras: and its backend
        missing = [module for module in needed if module and importlib.util.find_spec(module) is None]
        if missing:
            left_out[name] = f"{', '.join(missing)} not installed"
        elif adapter_class.device != "cpu" and not gpu:
            left_out[name] = "no GPU device file on this machine (/dev/nvidia*, /dev/kfd)"
        else:
            found.append(TargetSpec(name))
    return found, left_out


class Interrupted(KeyboardInterrupt):
    """A signal that ends a run the way Ctrl-C does (SIGTERM, SIGHUP): the results so far are reported."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run(
    targets: list[TargetSpec],
    *,
    suite: str = "default",
    dtypes=("float32",),
    seed: int = 0,
    grad: bool = False,
    timeout: float = 60,
    progress=None,
    worker_logs: str | None = None,
    shard: Shard | None = None,
) -> Report:
    """Run each target on the suite (in each dtype) in its own worker; targets run concurrently.

    Before a target's first case its worker must start (at most as many starting at once as the machine
    has cores; a start that passes its limit is tried once more with a longer one) and pass its adapter's
    check of the environment (the framework imports and answers a trivial call). A target that does not is
    not run: `Report.targets_not_run` says why, and it has no result.

    `worker_logs`: a directory where each worker's output (its framework's log lines and warnings) goes,
    one file per target; None leaves it on stderr. `progress(target_label, done, total)` is called after
    each result. `shard`: run only that part of the suite's cases (convt_oracle.harness.shards; the report
    records it). Interrupted (Ctrl-C, or `Interrupted` raised by a signal handler), the run kills its
    workers and returns the results finished before the interruption, `complete` False; a worker that dies
    meanwhile costs no `crash`.
    """
    from convt_oracle.harness.isolation import IsolatedTarget

    cases = suites.select(suite, dtypes, seed=seed)
    suite_cases = len(cases)
    if shard is not None:
        cases = shard.select(cases)
    golden = Golden(shared=True)
    results = {spec.label: [] for spec in targets}
    not_run: dict[str, str] = {}
    workers: dict[str, IsolatedTarget] = {}
    versions = {spec.label: "unknown (interrupted before it was looked up)" for spec in targets}
    kernels: dict[str, dict] = {}  # target label -> what its frameworks say decides their kernels
    runtimes = {}  # label -> the adapter's runtime() in its worker: framework versions and kernel facts
    stop = threading.Event()

    def drive(spec: TargetSpec):
        collected = results[spec.label]
        versions[spec.label] = spec.version()  # here, so that nothing is left to do once the cases end
        try:
            output = None if worker_logs is None else os.path.join(worker_logs, f"{spec.log_name}.log")
            worker = workers[spec.label] = spec.isolated(timeout=timeout, output=output)
        except Exception as error:  # the framework does not even start: one line, not a crash per case
            if not stop.is_set():
                not_run[spec.label] = f"the worker did not start: {type(error).__name__}: {error}"
            return
        kernels[spec.label] = worker.info.get("kernels", {})  # convt_oracle.harness.kernels.framework_settings
        try:
            problem = worker.check_environment() if hasattr(worker, "check_environment") else None
        except Exception as error:  # noqa: BLE001 - the check itself failing is the environment's answer
            problem = f"its check of the environment raised {type(error).__name__}: {error}"
        if problem is not None:
            if not stop.is_set():
                not_run[spec.label] = problem
            worker.close()
            return
        adapter = hasattr(worker, "call_case")  # an adapter takes the case (its mode); a function its parameters
        vjp = grad and hasattr(worker, "vjp_case" if adapter else "vjp")  # without: check_vjp says unsupported
        try:  # what the known findings' conditions read (convt_oracle.harness.known)
            runtimes[spec.label] = worker.runtime() if hasattr(worker, "runtime") else {}
        except Exception as error:  # noqa: BLE001 - recorded; a condition that needs it then cannot apply
            runtimes[spec.label] = {"error": f"{type(error).__name__}: {error}"}
        drawn = deque()  # the (x, w, bias) of the cases sent ahead of their answers, in order

        def unstated(case):  # a case a function with the golden's signature cannot be asked: not sent
            return None if adapter else unstated_by_parameters(case)

        def calls():
            for case in cases:
                if unstated(case):
                    continue
                x, w, bias = arrays = case.arrays()
                drawn.append(arrays)
                yield ("call_case", (case, x, w, bias)) if adapter else ("call", (x, w, bias), case.params())
                if vjp and case.valid:
                    grad_out = case.cotangent()
                    yield (("vjp_case", (case, x, w, grad_out, bias)) if adapter
                           else ("vjp", (x, w, grad_out, bias), case.params()))

        answers = worker.stream(calls())
        try:
            for index, case in enumerate(cases):
                if unstated(case):  # not sent (calls); an invalid case, so no vjp either
                    produced = [Result(case, spec.label, C.UNSUPPORTED, detail=unstated(case))]
                else:
                    answer = next(answers)
                    produced = [replace(check_case(_Answered(answer, worker.tolerance), case, spec.label,
                                                   golden=golden, arrays=drawn.popleft()),
                                        target_seconds=answer[2])]
                if grad and case.valid:
                    if vjp:
                        answer = next(answers)
                        produced.append(replace(check_vjp(_Answered(answer, worker.tolerance), case, spec.label, golden=golden),
                                                target_seconds=answer[2]))
                    else:
                        produced.append(check_vjp(worker, case, spec.label, golden=golden))
                if stop.is_set():  # an answer after the interruption may be the interruption's doing
                    return
                collected.extend(produced)
                if progress is not None:
                    progress(spec.label, index + 1, len(cases))
        except Exception as error:  # the run's own failure: the cases left say so, none is dropped silently
            if stop.is_set():
                return
            detail = f"the run could not go on with this target: {type(error).__name__}: {error}"
            done = {(r.case, r.check) for r in collected}
            collected += [Result(c, spec.label, C.CRASH, detail=detail) for c in cases if (c, "forward") not in done]
        finally:
            answers.close()
            worker.close()

    threads = [threading.Thread(target=drive, args=(spec,), daemon=True) for spec in targets]
    interrupted = None
    try:
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(0.2)
    except KeyboardInterrupt as interruption:
        stop.set()
        interrupted = interruption.signum if isinstance(interruption, Interrupted) else signal.SIGINT
        for worker in list(workers.values()):
            worker.abort()
        print(f"\ninterrupted ({signal.Signals(interrupted).name}): reporting the results finished so far",
              file=sys.stderr, flush=True)
    collected = {label: list(found) for label, found in results.items()}  # what a thread adds now is not counted
    extra = {"frameworks": dict(versions), "runtime": {label: runtimes[label] for label in versions if label in runtimes},
             "grad": grad,
             "target_kernels": {spec.label: kernels[spec.label] for spec in targets if spec.label in kernels}}
    if interrupted is not None:
        extra["interrupted_by"] = signal.Signals(interrupted).name
    ran = {label: {r.case for r in found if r.check == "forward"} for label, found in collected.items()}
    complete = interrupted is None and all(
        len(ran[spec.label]) == len(cases) for spec in targets if spec.label not in not_run
    )
    return Report(
        results=tuple(result for spec in targets for result in collected[spec.label]),
        suite=suite,
        dtypes=suites.check_dtypes(dtypes),
        seed=seed,
        targets=tuple(spec.label for spec in targets),
        environment=environment(extra),
        complete=complete,
        targets_not_run={spec.label: not_run[spec.label] for spec in targets if spec.label in not_run},
        shard=shard,
        suite_cases=suite_cases,
    )


class _Answered:
    """Stands for the worker in check_case / check_vjp: its one call returns (or raises) the answer the
    worker already gave, (value, exception or None, seconds) from IsolatedTarget.stream; `tolerance` is the
    target's own (IsolatedTarget.tolerance: an adapter of a reduced-precision mode), which judges it where
    the run asks for none."""

    receives_copies = True  # the worker already answered from serialized copies

    def __init__(self, answer, tolerance=None):
        self._value, self._error, _ = answer
        self.tolerance = tolerance

    def _give(self, *args):
        if self._error is not None:
            raise self._error
        return self._value

    call_case = vjp_case = vjp = _give


def outcome_table(report: Report) -> str:
    """Targets (and, with vjp results, target x check) x outcomes, the outcomes that occur, as aligned text,
    then how many of them known findings explain (`known`, where some do); a target that did not run is one
    line with the reason."""
    checks = sorted({r.check for r in report.results}, key=["forward", "vjp"].index) or ["forward"]
    counts = {}
    for target in report.targets:
        if target in report.targets_not_run:
            continue
        for check in checks:
            label = target if checks == ["forward"] else f"{target} {check}"
            found = [r for r in report.results if r.target == target and r.check == check]
            counts[label] = {outcome: sum(r.outcome == outcome for r in found) for outcome in C.OUTCOMES}
            counts[label]["known"] = sum(r.known is not None for r in found)  # of those, explained by known findings
    shown = [outcome for outcome in (*C.OUTCOMES, "known") if any(row[outcome] for row in counts.values())]
    width = max([len("target")] + [len(label) for label in counts] + [len(label) for label in report.targets_not_run])
    lines = ["  ".join(["target".ljust(width)] + [outcome.rjust(max(len(outcome), 5)) for outcome in shown])]
    for label, row in counts.items():
        lines.append("  ".join([label.ljust(width)] + [str(row[o]).rjust(max(len(o), 5)) for o in shown]))
    for label, reason in report.targets_not_run.items():
        lines.append(f"{label.ljust(width)}  not run: {reason}")
    return "\n".join(lines)


class ProgressPrinter:
    """A rich progress bar per target on a terminal; otherwise a line per target at every quarter done."""

    def __init__(self, labels, total: int):
        self._bar = None
        self._last = {}  # label -> the last quarter reported
        if sys.stdout.isatty():
            try:
                from rich.progress import Progress
            except ImportError:
                Progress = None
            if Progress is not None:
                self._bar = Progress()
                self._tasks = {label: self._bar.add_task(label, total=total) for label in labels}
                self._bar.start()

    def __call__(self, label: str, done: int, total: int):
        if self._bar is not None:
            self._bar.update(self._tasks[label], completed=min(done, total))
            return
        quarter = 4 * done // max(1, total)
        if quarter > self._last.get(label, 0):
            self._last[label] = quarter
            print(f"  {label}: {done}/{total}", file=sys.stderr, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def describe_adapters() -> str:
    """The installed adapters with framework versions and capabilities (`convt-oracle adapters`)."""
    lines = []
    for name, point in sorted(registry.available().items()):
        adapter_class = point.load()
        spec = TargetSpec(name)
        installed = importlib.util.find_spec(adapter_class.framework) is not None
        version = spec.version() if installed else "not installed"
        capabilities = json.dumps(adapter_class().capabilities(), separators=(", ", ": "))
        lines.append(f"{name:22} {adapter_class.framework} {version}\n{'':22} {capabilities}")
    return "\n".join(lines)
