"""The wire format between a parent and its worker (convt_oracle.harness.isolation, .worker).

Every value on the execnet channel is a plain list, tuple, dict, str, int, float, bool, None or bytes
(execnet's own serializer, no pickle):

- an array is {"array": (dtype, shape, raw bytes)}: the dtype is numpy's `dtype.str` for numpy's own
  types (byte order included) and the name for extension types (`bfloat16`);
- a tuple or list of values is {"tuple": [...]} or {"list": [...]}; a dict with str keys is {"dict": [[key, value], ...]};
- a result that is not an array is {"object": (type name, repr)}, so that the parent can report what the
  target returned;
- a case (convt_oracle.cases.model.Case, for an adapter's call_case / vjp_case) is {"case": JSON text of
  its fields}.

A reply to a call is (number, "ok", encoded result, seconds) or (number, "error", kind, type name, module,
message, traceback text, seconds); `seconds` is the target's own time, measured in the worker. The
oracle's own exceptions (convt_oracle.errors) keep their meaning across the boundary by their class name:
their kind is "unsupported", "refused", "crash" or "timeout", and they carry no traceback; any other exception is
"raised" and is rebuilt in the parent as a RemoteTargetError named like it.

This module needs numpy only (ml_dtypes when a bfloat16 array arrives), so that a worker's interpreter
needs nothing more unless its target does.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import json
import traceback

import numpy as np

# Exceptions of the oracle that keep their meaning across the process boundary: kind by class name.
SPECIAL = {"Unsupported": "unsupported", "Refused": "refused", "TargetCrashed": "crash", "TargetTimedOut": "timeout"}
# A target's optional methods that the parent can call: the golden-signature vjp, an adapter's per-case calls,
# its check of the environment it runs in and what it reports of its framework there (versions, kernels).
METHODS = ("vjp", "call_case", "vjp_case", "check_environment", "runtime", "native_source")


# --- values -----------------------------------------------------------------------------------------------
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
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": [[key, encode(item)] for key, item in value.items()]}
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    return {"object": (type(value).__name__, repr(value)[:200])}


def decode(data, placeholder=None):
    """The value `encode` (or `encode_argument`) encoded: arrays writable and C-contiguous;
    `placeholder(type name, repr)` for other objects (default: the repr string)."""
    if not isinstance(data, dict):
        return data
    (kind, payload), = data.items()
    if kind == "array":
        code, shape, raw = payload
        return np.frombuffer(bytearray(raw), dtype_of(code)).reshape(shape)
    if kind in ("tuple", "list"):
        items = [decode(item, placeholder) for item in payload]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {key: decode(item, placeholder) for key, item in payload}
    if kind == "object":
        return payload[1] if placeholder is None else placeholder(*payload)
    if kind == "case":
        from convt_oracle.cases.model import Case

        return Case.from_dict(json.loads(payload))
    raise ValueError(f"cannot decode {kind!r}")


def encode_argument(value):
    """An argument of a call: an array, None or a case (a JSON string: execnet's serializer is pure Python
    and pays per item, and a case's fields as nested lists would cost a third of a round trip)."""
    from convt_oracle.cases.model import Case

    if isinstance(value, Case):
        fields = {name: getattr(value, name) for name in _case_fields()}
        return {"case": json.dumps(fields, default=_json_item)}
    return encode(value if value is None or isinstance(value, np.ndarray) else np.asarray(value))


@functools.cache
def _case_fields() -> tuple[str, ...]:
    from convt_oracle.cases.model import Case

    return tuple(field.name for field in dataclasses.fields(Case))


def _json_item(value):
    if isinstance(value, np.generic):  # a numpy integer or bool in a case's field
        return value.item()
    raise TypeError(f"a case field of type {type(value).__name__} cannot cross to the worker")


def plain(value):
    """Parameters as plain Python values (numpy integers to int, tuples kept) for the wire."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --- errors -------------------------------------------------------------------------------------------------
def describe(error: BaseException) -> tuple:
    """(kind, type name, module, message, traceback text) of an exception raised by the target."""
    kind = "raised"
    for klass in type(error).__mro__:
        if klass.__name__ in SPECIAL and klass.__module__.partition(".")[0] == "convt_oracle":
            kind = SPECIAL[klass.__name__]
            break
    # The oracle's own exceptions need no traceback: `unsupported` and `refused` are a third of torch's cases.
    text = traceback_text(error) if kind == "raised" else ""
    return kind, type(error).__name__, type(error).__module__, str(error), text


def traceback_text(error: BaseException, seen: set | None = None) -> str:
    """traceback.format_exception's text, chained exceptions included, without the ^^^ markers: finding
    those walks each frame's position table (Python 3.11+), several times the cost of the rest for a deep
    stack such as onnx.reference's."""
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


class RemoteTargetError(Exception):
    """An exception the target raised in its worker. `remote_type` is the remote class's name."""

    remote_type = "Exception"
    remote_module = "builtins"
    remote_traceback = ""


_error_classes: dict[tuple[str, str], type] = {}


def remote_error(type_name: str, module: str, message: str, text: str = "") -> RemoteTargetError:
    """A RemoteTargetError named like the remote exception (ValueError, RuntimeError, ...), deriving from
    the builtin of that name so that `except ValueError` still works."""
    key = (module, type_name)
    if key not in _error_classes:
        bases: tuple = (RemoteTargetError,)
        builtin = getattr(builtins, type_name, None)
        if module == "builtins" and isinstance(builtin, type) and issubclass(builtin, Exception):
            bases = (RemoteTargetError, builtin)
        try:
            klass = type(type_name, bases, {"remote_type": type_name, "remote_module": module})
            klass(message)
        except TypeError:  # a builtin whose constructor wants more (UnicodeDecodeError): name only
            klass = type(type_name, (RemoteTargetError,), {"remote_type": type_name, "remote_module": module})
        _error_classes[key] = klass
    error = _error_classes[key](message)
    error.remote_traceback = text
    return error


class RemoteObject:
    """Stands for a non-array value a target returned in its worker; its class bears the remote type's name."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _remote_object(type_name: str, text: str) -> RemoteObject:
    return type(type_name, (RemoteObject,), {})(text)


def answer_of(reply: tuple) -> tuple:
    """(value, exception or None, seconds) of a worker's reply."""
    from convt_oracle.errors import Refused, TargetCrashed, TargetTimedOut, Unsupported

    if reply[1] == "ok":
        return decode(reply[2], _remote_object), None, reply[3]
    kind, type_name, module, text, trace, seconds = reply[2:8]
    if kind == "unsupported":
        return None, Unsupported(text), seconds
    if kind == "refused":
        return None, Refused(text), seconds
    if kind == "crash":
        return None, TargetCrashed(text), seconds
    if kind == "timeout":
        return None, TargetTimedOut(text), seconds
    return None, remote_error(type_name, module, text, trace), seconds
