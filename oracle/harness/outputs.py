"""Report files: checked before a run starts, written atomically after it.

A report path that cannot be written is found before any case runs, not after an hour of them; and a
report is written to a temporary file in the same folder and then renamed over the path, so that an
interrupted write never leaves half a report where a CI reads one.
"""

from __future__ import annotations

import os
import tempfile


class ReportNotWritable(Exception):
    """A report cannot be written where it was asked for; the message says which path and why."""


def check_writable(option: str, path: str) -> str:
    """The absolute path of a report to write, or ReportNotWritable saying why it cannot be. The folder is
    probed with a file created and removed there (permission bits do not tell for root, nor for /proc or
    /sys), and an existing file is opened for appending."""
    absolute = os.path.abspath(path)
    folder = os.path.dirname(absolute)
    if os.path.isdir(absolute):
        raise ReportNotWritable(f"{option}: {path!r} is a folder; give the path of a file to write")
    if not os.path.isdir(folder):
        raise ReportNotWritable(f"{option}: the folder of {path!r} ({folder}) does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".convt-oracle-", suffix=".probe"):
            pass
        if os.path.exists(absolute):
            with open(absolute, "a"):
                pass
    except OSError as error:
        raise ReportNotWritable(f"{option}: cannot write {path!r}: {error.strerror or error}") from None
    return absolute


def write_atomically(path: str, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`; ReportNotWritable
    (nothing left behind) if that fails."""
    folder = os.path.dirname(os.path.abspath(path))
    handle = None
    try:
        handle = tempfile.NamedTemporaryFile("w", dir=folder, prefix=".convt-oracle-", suffix=".tmp", delete=False)
        with handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as error:
        if handle is not None and os.path.exists(handle.name):
            os.unlink(handle.name)
        raise ReportNotWritable(f"cannot write {path!r}: {error.strerror or error}") from None
