"""jax's persistent compilation cache for the jax and keras-jax adapters: a rerun of a suite with the same jax
loads each compiled program from disk instead of compiling it again (most of a jax run's time: README,
"Speed of convt-oracle run").

The folder, first found of:
- `CONVT_ORACLE_JAX_CACHE` (an empty value turns the cache off);
- the folder the user gave jax itself (`JAX_COMPILATION_CACHE_DIR`, or `jax_compilation_cache_dir` set before the
  adapter loads), kept as it is;
- `$XDG_CACHE_HOME/convt-oracle/jax`, `~/.cache/convt-oracle/jax` where XDG_CACHE_HOME is not set.

Every program is cached, however quick to compile or small (jax's defaults skip programs that compile in
under a second, which is nearly every program of a suite): `jax_persistent_cache_min_compile_time_secs` 0 and
`jax_persistent_cache_min_entry_size_bytes` -1 (no size limit). jax keys each entry on the program, the
jax and jaxlib versions, the device and the flags, so one folder serves several jax versions without mixing
them. It is never pruned (jax prunes only with `jax_compilation_cache_max_size`, which needs the filelock
package): delete it at will.

Older jax: the settings appeared in jax 0.4.24 (the oldest of pyproject's range, 0.4.20, has none of them:
the adapter then runs without a cache and says so, once, as a warning), and jax caches CPU programs from
0.4.28 on. How the cache served a process (programs loaded from it, and compiled and stored) is counted from
jax's monitoring events and written to stderr when the process ends: in a worker, that is its log file
(`convt-oracle run --worker-logs`).
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings

ENVIRONMENT_VARIABLE = "CONVT_ORACLE_JAX_CACHE"
SETTINGS = {  # every program cached, however quick to compile and however small
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
}
CPU_CACHED_FROM = (0, 4, 28)  # the first jax that caches programs compiled for the CPU
_EVENTS = {"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses"}
counts = {"hits": 0, "misses": 0}  # this process's cache lookups, from jax's monitoring events
_state = {"folder": None, "configured": False}


def default_folder() -> str:
    """$XDG_CACHE_HOME/convt-oracle/jax, or ~/.cache/convt-oracle/jax."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "convt-oracle", "jax")


def chosen_folder(jax) -> str | None:
    """The cache folder by the rules of the module docstring; None: the cache is turned off."""
    if ENVIRONMENT_VARIABLE in os.environ:
        return os.environ[ENVIRONMENT_VARIABLE] or None
    own = getattr(jax.config, "jax_compilation_cache_dir", None) or os.environ.get("JAX_COMPILATION_CACHE_DIR")
    return own or default_folder()


def enable(jax) -> str | None:
    """Point jax's persistent compilation cache at its folder, once per process (before the first compilation);
    return the folder, or None where there is no cache (turned off, or this jax has no such setting: a warning
    says so)."""
    if _state["configured"]:
        return _state["folder"]
    _state["configured"] = True
    folder = chosen_folder(jax)
    if folder is None:
        return None
    version = getattr(jax, "__version__", "unknown")
    if not hasattr(jax.config, "jax_compilation_cache_dir"):
        warnings.warn(f"convt-oracle: jax {version} has no jax_compilation_cache_dir setting (jax >= 0.4.24 has): "
                      f"every program is compiled afresh, none is cached in {folder}", RuntimeWarning, stacklevel=2)
        return None
    folder = os.path.abspath(os.path.expanduser(folder))
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    missing = [name for name in SETTINGS if not hasattr(jax.config, name)]
    for name, value in SETTINGS.items():
        if name not in missing:
            jax.config.update(name, value)
    if missing:
        warnings.warn(f"convt-oracle: jax {version} lacks {', '.join(missing)}: programs below jax's own thresholds "
                      f"are not cached", RuntimeWarning, stacklevel=2)
    if _release(version) < CPU_CACHED_FROM:
        warnings.warn(f"convt-oracle: jax {version} caches no program compiled for the CPU (jax >= 0.4.28 does)",
                      RuntimeWarning, stacklevel=2)
    _count_lookups(jax)
    _state["folder"] = folder
    return folder


def _release(version: str) -> tuple:
    numbers = []
    for part in version.split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


def _count_lookups(jax) -> None:
    """Count the cache's hits and misses (jax.monitoring's events) and report them when the process ends."""
    monitoring = getattr(jax, "monitoring", None)
    register = getattr(monitoring, "register_event_listener", None)
    if register is None:
        return

    def listen(event, *args, **kwargs):  # the listener's signature grew keyword arguments over jax's versions
        key = _EVENTS.get(event)
        if key is not None:
            counts[key] += 1

    register(listen)
    atexit.register(_report)


def _report() -> None:
    if counts["hits"] or counts["misses"]:
        print(f"convt-oracle: jax compilation cache {_state['folder']}: {counts['hits']} programs loaded from it, "
              f"{counts['misses']} compiled and stored", file=sys.stderr, flush=True)


__all__ = ["enable", "chosen_folder", "default_folder", "counts", "ENVIRONMENT_VARIABLE"]
