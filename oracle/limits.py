"""How much memory the golden may take: a computation whose result and scratch would pass the limit is
refused before the result and scratch are allocated, with a ValueError that names the shape, its size and the limit, so
that no argument makes the machine's out-of-memory killer end the process.

The limit is half of this machine's physical memory, or the `CONVT_ORACLE_MEMORY_LIMIT` environment
variable (bytes, or with a K, M, G or T suffix: "8G"), or what `set_memory_limit` sets in this process.
"""

from __future__ import annotations

import math
import os

ENVIRONMENT_VARIABLE = "CONVT_ORACLE_MEMORY_LIMIT"
_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_set: int | None = None


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system that says
        return None


def _parse(given: str) -> int:
    """Bytes from the environment variable's text: a number, optionally with a K, M, G or T suffix (and B)."""
    text = given.strip().upper().removesuffix("B")
    suffix = text[-1:] if text[-1:] in ("K", "M", "G", "T") else ""
    try:
        value = float(text.removesuffix(suffix)) * _SUFFIXES[suffix]
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or int(value) < 1:
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE}: got {given!r}; expected a positive number of bytes, optionally with a K, M, "
            f"G or T suffix (e.g. 8G)"
        )
    return int(value)


def memory_limit() -> tuple[int, str]:
    """(bytes the golden may take, where that limit comes from)."""
    if _set is not None:
        return _set, "set by convt_oracle.limits.set_memory_limit"
    if os.environ.get(ENVIRONMENT_VARIABLE):
        return _parse(os.environ[ENVIRONMENT_VARIABLE]), f"{ENVIRONMENT_VARIABLE}={os.environ[ENVIRONMENT_VARIABLE]}"
    physical = _physical_memory()
    if physical is None:
        return 8 * 2**30, "a default, this machine's memory being unknown"
    return physical // 2, f"half of this machine's {format_bytes(physical)} of memory"


def set_memory_limit(nbytes: int | None) -> None:
    """Set the limit for this process (None: back to the environment variable or half the memory)."""
    global _set
    if nbytes is not None and (isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes <= 0):
        raise ValueError(f"nbytes: got {nbytes!r}; expected a positive int, or None for the default")
    _set = nbytes


def format_bytes(nbytes: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def check(what: str, shape, needed: int) -> None:
    """A ValueError unless `needed` bytes (the result of `shape` in float64 and the scratch that goes with
    it) fit the limit."""
    limit, source = memory_limit()
    if needed > limit:
        result = 8 * math.prod(shape)
        raise ValueError(
            f"{what}: the result of shape {tuple(shape)} takes {format_bytes(result)} in float64 ({result} bytes) "
            f"and, with its scratch, about {format_bytes(needed)}; the golden's limit is {format_bytes(limit)}, "
            f"{source} ({ENVIRONMENT_VARIABLE} or convt_oracle.limits.set_memory_limit sets it): refused before "
            f"allocating it"
        )
