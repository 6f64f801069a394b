"""The code that runs inside an isolated worker process, and the wire format both sides share.

oracle.isolation sends this module's source through execnet (`gateway.remote_exec(module)`), so it must
stand alone: it imports only the standard library and numpy at its top (ml_dtypes only when a bfloat16
array arrives), and the worker's interpreter need not have this package installed. The parent imports the
same module for `encode` / `decode`.

Protocol on one execnet channel (every value is a plain list, tuple, dict, str, int, float, bool, None or
bytes: execnet's own serializer, no pickle):

    parent -> worker  {"paths": [...], "target": "module:attribute" or "module:Class()", "fault_log": path}
    worker -> parent  ("ready", {"pid", "python", "executable", "numpy", "methods"})
                   or ("failed", type name, message)                  the target could not be loaded
    parent -> worker  (number, method, encoded args, params)          repeated; method "call" or one of
                                                                      "methods" (METHODS the target has)
                   or [(number, method, encoded args, params), ...]   a batch: answered one by one, in
                                                                      order, each as soon as it is done
    worker -> parent  (number, "ok", encoded result, seconds)
                   or (number, "error", kind, type name, module, message, traceback text, seconds)
    parent -> worker  None                                            the worker returns and exits

`seconds` is the target's own time for the call, measured in the worker (arguments decoded, result not
yet encoded).

An array is encoded as {"array": (dtype, shape, raw bytes)}: the dtype is numpy's `dtype.str` for numpy's
own types (byte order included) and the name for extension types (`bfloat16`). A result that is not an
array crosses as {"object": (type name, repr)} so that the parent can report what the target returned.
A case (cases.model.Case, for an adapter's call_case / vjp_case) crosses as {"case": JSON text of its
fields} (a dict of them, as case.to_dict() gives, is read too). The traceback text of an error is
empty for the oracle's own exceptions (Unsupported, ...), whose type and message say everything.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import sys
import time
import traceback

import numpy as np

# Exceptions of the oracle that keep their meaning across the process boundary: kind by class name.
SPECIAL = {"Unsupported": "unsupported", "TargetCrashed": "crash", "TargetTimedOut": "timeout"}
# A target's optional methods that the parent can call: the golden-signature vjp, an adapter's per-case calls.
METHODS = ("vjp", "call_case", "vjp_case")


# --- wire format (both sides) -----------------------------------------------------------------------------
def dtype_code(dtype: np.dtype) -> str:
    if dtype.hasobject:
        raise TypeError("an array of Python objects cannot cross the process boundary")
    return dtype.str if np.dtype(dtype.str) == dtype else dtype.name  # '<V2' is not bfloat16: use its name


def dtype_of(code: str) -> np.dtype:
    try:
        return np.dtype(code)
    except TypeError:  # an extension type such as bfloat16: registered by importing ml_dtypes
        import ml_dtypes  # noqa: F401

        return np.dtype(code)


def encode(value):
    """A value as execnet-serializable data; numpy arrays as raw bytes."""
    if isinstance(value, np.ndarray):
        return {"array": (dtype_code(value.dtype), value.shape, value.tobytes())}  # C order, whatever the strides
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [encode(item) for item in value]}
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    return {"object": (type(value).__name__, repr(value)[:200])}


def decode(data, placeholder=None):
    """The value `encode` encoded: arrays writable and C-contiguous; `placeholder(type name, repr)` for
    other objects (default: the repr string)."""
    if not isinstance(data, dict):
        return data
    (kind, payload), = data.items()
    if kind == "array":
        code, shape, raw = payload
        return np.frombuffer(bytearray(raw), dtype_of(code)).reshape(shape)
    if kind in ("tuple", "list"):
        items = [decode(item, placeholder) for item in payload]
        return tuple(items) if kind == "tuple" else items
    if kind == "object":
        return payload[1] if placeholder is None else placeholder(*payload)
    if kind == "case":
        from cases.model import Case  # this repository, on the worker's sys.path

        return Case.from_dict(json.loads(payload) if isinstance(payload, str) else payload)
    raise ValueError(f"cannot decode {kind!r}")


def resolve(reference: str):
    """The object named by "module:attribute.path"; "module:Class()" is an instance made with no arguments."""
    module_name, _, attribute = reference.partition(":")
    construct = attribute.endswith("()")
    found = importlib.import_module(module_name)
    for part in attribute.removesuffix("()").split("."):
        found = getattr(found, part)
    return found() if construct else found


def describe(error: BaseException) -> tuple:
    """(kind, type name, module, message, traceback text) of an exception raised by the target."""
    kind = "raised"
    for klass in type(error).__mro__:
        if klass.__name__ in SPECIAL and klass.__module__.partition(".")[0] == "oracle":
            kind = SPECIAL[klass.__name__]
            break
    # The oracle's own exceptions need no traceback: `unsupported` is a third of torch's cases.
    text = traceback_text(error) if kind == "raised" else ""
    return kind, type(error).__name__, type(error).__module__, str(error), text


def traceback_text(error: BaseException, seen: set | None = None) -> str:
    """traceback.format_exception's text, chained exceptions included, without the ^^^ markers: finding
    those walks each frame's position table (Python 3.11+), ~0.4 ms for a deep stack such as onnx.reference's
    (benchmarks/bench_run.py), against ~0.05 ms for this."""
    seen = set() if seen is None else seen
    seen.add(id(error))
    text = ""
    chained = error.__cause__ if error.__cause__ is not None else None if error.__suppress_context__ else error.__context__
    if chained is not None and id(chained) not in seen:
        text = traceback_text(chained, seen) + (
            "\nThe above exception was the direct cause of the following exception:\n\n"
            if error.__cause__ is not None
            else "\nDuring handling of the above exception, another exception occurred:\n\n"
        )
    if error.__traceback__ is not None:
        stack = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__))
        text += "Traceback (most recent call last):\n" + "".join(stack.format())
    return text + "".join(traceback.format_exception_only(type(error), error))


# --- the worker --------------------------------------------------------------------------------------------
def serve(channel) -> None:
    """Load the target once, then answer calls until the parent sends None."""
    config = channel.receive()
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
        target = resolve(config["target"])
        if callable(getattr(target, "load", None)):  # an adapter: import its framework now, not in a case's time
            target.load()
    except Exception as error:
        channel.send(("failed", type(error).__name__, str(error)))
        return
    channel.send((
        "ready",
        {
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "numpy": np.__version__,
            "methods": [name for name in METHODS if callable(getattr(target, name, None))],
        },
    ))
    while True:
        message = channel.receive()
        if message is None:
            return
        for request in message if isinstance(message, list) else (message,):
            channel.send(answer(target, request))


def answer(target, request) -> tuple:
    """The reply to one request (number, method, encoded args, params)."""
    number, what, args, params = request
    start = None
    try:
        function = target if what == "call" else getattr(target, what)
        args = [decode(arg) for arg in args]
        start = time.perf_counter()
        result = function(*args, **params)
        seconds = time.perf_counter() - start
        return (number, "ok", encode(result), seconds)
    except Exception as error:  # the target's failure is reported, never the worker's end
        seconds = 0.0 if start is None else time.perf_counter() - start
        return (number, "error", *describe(error), seconds)


if __name__ == "__channelexec__":
    serve(channel)  # noqa: F821 (execnet defines `channel` in the remote namespace)
