"""The code that runs inside an isolated worker process.

convt_oracle.harness.isolation sends this module's source through execnet (`gateway.remote_exec(module)`),
so it stands alone: it imports only the standard library until it has made convt_oracle importable from
the folders the parent imports it from (the worker's interpreter need not have it installed, and uses the
parent's copy even if it has another). Then it uses convt_oracle.harness.wire, which needs numpy.

Protocol on one execnet channel (the values: convt_oracle.harness.wire):

    parent -> worker  {"packages": {package: folder}, "paths": [...], "target": "module:attribute" or
                       "module:Class()", "fault_log": path, "output": path or None}
    worker -> parent  ("ready", {"pid", "python", "executable", "numpy", "methods", "kernels", "tolerance"})
                   or ("unusable", type name, message)                the interpreter cannot run a worker
                   or ("failed", type name, message)                  the target could not be loaded
    parent -> worker  (number, method, encoded args, params)          repeated; method "call" or one of
                                                                      "methods" (wire.METHODS the target has)
                   or [(number, method, encoded args, params), ...]   a batch: answered one by one, in
                                                                      order, each as soon as it is done
    worker -> parent  (number, "ok", encoded result, seconds)
                   or (number, "error", kind, type name, module, message, traceback text, seconds)
    parent -> worker  None                                            the worker returns and exits
"""

from __future__ import annotations

import faulthandler
import importlib
import importlib.abc
import importlib.util
import os
import signal
import sys
import time


class _Packages(importlib.abc.MetaPathFinder):
    """Finds each of `folders` ({"convt_oracle": folder, "convt_oracle.cases": folder, ...}) where the parent
    has it; first on sys.meta_path, so that parent and worker run the same code."""

    def __init__(self, folders: dict):
        self.folders = folders

    def find_spec(self, name, path=None, target=None):
        folder = self.folders.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, os.path.join(folder, "__init__.py"), submodule_search_locations=[folder]
        )


def resolve(reference: str):
    """The object named by "module:attribute.path"; "module:Class()" is an instance made with no arguments."""
    module_name, _, attribute = reference.partition(":")
    construct = attribute.endswith("()")
    found = importlib.import_module(module_name)
    for part in attribute.removesuffix("()").split("."):
        found = getattr(found, part)
    return found() if construct else found


def serve(channel) -> None:
    """Load the target once, then answer calls until the parent sends None."""
    # The parent decides when a worker ends (it kills it outright): a Ctrl-C or a SIGTERM sent to the whole
    # process group interrupts the run, not a case in the middle of its call.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    config = channel.receive()
    sys.meta_path.insert(0, _Packages(config["packages"]))
    for path in reversed(config["paths"]):
        if path not in sys.path:
            sys.path.insert(0, path)
    if config.get("output"):  # the target's prints, its framework's log lines and warnings go to this file
        log = os.open(config["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
        os.close(log)
    os.dup2(2, 1)  # execnet points fd 1 at /dev/null; let the target's prints reach stderr instead
    if config["fault_log"]:
        # On a segfault or abort, Python's stacks go to this file; the parent reads it to say where.
        faulthandler.enable(open(config["fault_log"], "w"), all_threads=True)
    try:
        from convt_oracle.harness import wire
    except Exception as error:  # this interpreter cannot run a worker (numpy missing, say)
        channel.send(("unusable", type(error).__name__, str(error)))
        return
    try:
        target = resolve(config["target"])
        if callable(getattr(target, "load", None)):  # an adapter: import its framework now, not in a case's time
            target.load()
    except Exception as error:
        channel.send(("failed", type(error).__name__, str(error)))
        return
    import numpy

    from convt_oracle.harness.kernels import framework_settings

    channel.send((
        "ready",
        {
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "numpy": numpy.__version__,
            "methods": [name for name in wire.METHODS if callable(getattr(target, name, None))],
            "kernels": framework_settings(),  # what the target's frameworks say decides their kernels
            "tolerance": _tolerance(target),  # the precision mode the target declares, for the parent to judge by
        },
    ))
    while True:
        message = channel.receive()
        if message is None:
            return
        for request in message if isinstance(message, list) else (message,):
            channel.send(answer(wire, target, request))


def _tolerance(target):
    """The target's own `tolerance` (an adapter of a reduced-precision mode: torch-cuda-tf32) as plain values
    (Tolerance's fields), or None."""
    tolerance = getattr(target, "tolerance", None)
    if tolerance is None:
        return None
    return {"accumulation": dict(tolerance.accumulation), "bias_after_rounding": bool(tolerance.bias_after_rounding),
            "inputs": tolerance.inputs}


def answer(wire, target, request) -> tuple:
    """The reply to one request (number, method, encoded args, params)."""
    number, what, args, params = request
    start = None
    try:
        function = target if what == "call" else getattr(target, what)
        args = [wire.decode(arg) for arg in args]
        start = time.perf_counter()
        result = function(*args, **params)
        seconds = time.perf_counter() - start
        return (number, "ok", wire.encode(result), seconds)
    except Exception as error:  # the target's failure is reported, never the worker's end
        seconds = 0.0 if start is None else time.perf_counter() - start
        return (number, "error", *wire.describe(error), seconds)


if __name__ == "__channelexec__":
    serve(channel)  # noqa: F821 (execnet defines `channel` in the remote namespace)
