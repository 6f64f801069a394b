"""Report files: checked before a run starts, written atomically after it.

A report path that cannot be written is found before any case runs, not after an hour of them; and a
report is written to a temporary file in the same folder and then renamed over the path, so that an
interrupted write never leaves half a report where a CI reads one.
"""

from __future__ import annotations

import os
import stat
import tempfile


class ReportNotWritable(Exception):
    """A report cannot be written where it was asked for; the message says which path and why."""


def check_writable(option: str, path: str) -> None:
    """ReportNotWritable saying why a report cannot be written at `path`, if it cannot. The folder is
    probed with a file created and removed there (permission bits do not tell for root, nor for /proc or
    /sys), and an existing file is opened for appending."""
    absolute = os.path.abspath(path)
    folder = os.path.dirname(absolute)
    if os.path.isdir(absolute):
        raise ReportNotWritable(f"{option}: {path!r} is a folder; give the path of a file to write")
    if not os.path.isdir(folder):
        raise ReportNotWritable(f"{option}: the folder of {path!r} ({folder}) does not exist")
    try:
        check_folder_writable(option, folder)
        if os.path.exists(absolute):
            with open(absolute, "a"):
                pass
    except OSError as error:
        raise ReportNotWritable(f"{option}: cannot write {path!r}: {error.strerror or error}") from None


def check_folder_writable(option: str, folder: str) -> None:
    """ReportNotWritable unless a file can be created in `folder` (created first where it is missing)."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".convt-oracle-", suffix=".probe"):
            pass
    except OSError as error:
        raise ReportNotWritable(f"{option}: cannot write into {folder!r}: {error.strerror or error}") from None


def write_atomically(path: str, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path` (with the mode the file
    had, or the one a new file gets); ReportNotWritable (nothing left behind) if that fails."""
    folder = os.path.dirname(os.path.abspath(path))
    handle = None
    try:
        handle = tempfile.NamedTemporaryFile("w", dir=folder, prefix=".convt-oracle-", suffix=".tmp", delete=False)
        with handle:
            handle.write(text)
        os.chmod(handle.name, _mode_for(path))  # a temporary file is private (0600); a report is not
        os.replace(handle.name, path)
    except OSError as error:
        if handle is not None and os.path.exists(handle.name):
            os.unlink(handle.name)
        raise ReportNotWritable(f"cannot write {path!r}: {error.strerror or error}") from None


def _mode_for(path: str) -> int:
    """The permission bits of the file at `path`, or those open() gives a new file under the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
