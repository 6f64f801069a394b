"""jax's persistent compilation cache for the jax and keras-jax adapters (convt_oracle.adapters.jax_cache): a second
process running the same cases compiles nothing, it loads every program the first one stored; the folder
follows CONVT_ORACLE_JAX_CACHE, else XDG_CACHE_HOME; an empty CONVT_ORACLE_JAX_CACHE turns the cache off.

Each run is a fresh interpreter (the cache is configured once per process, before its first compilation),
with the real adapter on the `article` suite; what the cache did is read from jax's own monitoring events
and from the folder's files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.framework("jax")

SCRIPT = """
import json, sys
import jax
from convt_oracle.adapters import jax_cache, registry
from convt_oracle.cases import suites

adapter = registry.load(sys.argv[1])
for case in suites.select("article", ("float32", "float64")):
    adapter.call_case(case, *case.arrays())
print(json.dumps({"folder": jax.config.jax_compilation_cache_dir, **jax_cache.counts}))
"""


def run_cases(adapter: str, **environment) -> tuple[dict, str]:
    """(what the process's cache did, its stderr) for the adapter on the article suite."""
    settings = {key: value for key, value in os.environ.items() if key not in ("CONVT_ORACLE_JAX_CACHE", "XDG_CACHE_HOME")}
    done = subprocess.run([sys.executable, "-c", SCRIPT, adapter], capture_output=True, text=True, timeout=300,
                          env={**settings, **environment})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def entries(folder) -> int:
    return sum(1 for name in os.listdir(folder) if not name.startswith(".")) if os.path.isdir(folder) else 0


@pytest.mark.parametrize("adapter", ["jax", pytest.param("keras-jax", marks=pytest.mark.framework("keras"))])
def test_a_rerun_compiles_nothing_it_loads_every_program(adapter, tmp_path):
    folder = tmp_path / "cache"
    first, first_err = run_cases(adapter, CONVT_ORACLE_JAX_CACHE=str(folder))
    stored = entries(folder)
    print(f"{adapter}: first process {first}, {stored} entries in the folder")
    assert first["folder"] == str(folder) and first["hits"] == 0 and first["misses"] > 0
    assert stored == first["misses"]  # every compiled program was stored, however small
    assert (f"convt-oracle: jax compilation cache {folder}: 0 programs loaded from it, {first['misses']} compiled "
            f"and stored") in first_err
    again, again_err = run_cases(adapter, CONVT_ORACLE_JAX_CACHE=str(folder))
    print(f"{adapter}: second process {again}")
    assert again["misses"] == 0 and again["hits"] == first["misses"] and entries(folder) == stored
    assert f"{first['misses']} programs loaded from it, 0 compiled and stored" in again_err


def test_the_default_folder_is_under_xdg_cache_home(tmp_path):
    found, _ = run_cases("jax", XDG_CACHE_HOME=str(tmp_path))
    folder = tmp_path / "convt-oracle" / "jax"
    assert found["folder"] == str(folder) and entries(folder) == found["misses"] > 0


def test_an_empty_convt_oracle_jax_cache_turns_it_off(tmp_path):
    found, err = run_cases("jax", CONVT_ORACLE_JAX_CACHE="", XDG_CACHE_HOME=str(tmp_path))
    assert found == {"folder": None, "hits": 0, "misses": 0}
    assert not (tmp_path / "convt-oracle").exists() and "compilation cache" not in err
