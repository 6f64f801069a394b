"""What installing convt-oracle puts into an environment: one import package, convt_oracle, which works in
a project that has modules of its own named `cases`, `adapters` or `oracle`.

A wheel is built from this checkout and installed into a folder of its own (the dependencies come from
this environment), and a project in a temporary folder uses it from a fresh interpreter: the pytest
plugin (autoloaded through its entry point) and crosscheck, in this process's worker too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built from a copy of what the distribution is made of (so that the build
    leaves nothing in the checkout), without build isolation: the environment's setuptools builds it offline."""
    source, folder = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("oracle", "adapters", "cases"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(folder), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (found,) = folder.glob("convt_oracle-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own, to put first on PYTHONPATH."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return target


def test_the_wheel_holds_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {name for name in top if not name.endswith(".dist-info")} == {"convt_oracle"}
    for path in ("convt_oracle/golden.py", "convt_oracle/harness/pytest_plugin.py", "convt_oracle/adapters/torch.py",
                 "convt_oracle/cases/suites.py", "convt_oracle/cases/default-seed0.json",
                 "convt_oracle/harness/templates/report.html.j2", "convt_oracle/known-findings.toml"):
        assert path in names, path
    (metadata,) = [name for name in names if name.endswith(".dist-info/top_level.txt")] or [None]
    if metadata is not None:
        assert zipfile.ZipFile(wheel).read(metadata).decode().split() == ["convt_oracle"]


PROJECT = {
    # The project's own modules, with the generic names another package must not take from it.
    "cases.py": "WHOSE = 'the project'\n",
    "adapters/__init__.py": "WHOSE = 'the project'\n",
    "oracle.py": "WHOSE = 'the project'\n",
    "mykernel.py": textwrap.dedent(
        """
        import convt_oracle

        def conv_transpose(x, w, bias=None, **params):
            return convt_oracle.conv_transpose(x, w, bias, **params).astype(x.dtype)
        """
    ),
    "test_mine.py": textwrap.dedent(
        """
        import adapters, cases, oracle

        def test_my_modules_are_mine():
            assert cases.WHOSE == adapters.WHOSE == oracle.WHOSE == "the project"

        def test_my_kernel(convt_case, convt_target, convt_check):
            assert convt_check(convt_case, convt_target).outcome == "pass"
        """
    ),
    "check_mine.py": textwrap.dedent(
        """
        import adapters, cases, oracle
        import convt_oracle

        assert cases.WHOSE == adapters.WHOSE == oracle.WHOSE == "the project"
        for isolate in (False, True):
            report = convt_oracle.crosscheck("mykernel:conv_transpose", suite="article", isolate=isolate)
            assert report.ok and len(report.results) == 3, report.summary()
        print("crosscheck ok")
        """
    ),
}


@pytest.fixture
def project(tmp_path, installed) -> tuple[Path, dict]:
    for name, text in PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(installed)
    return tmp_path, env


def test_the_plugin_works_in_a_project_with_its_own_cases_adapters_and_oracle(project):
    folder, env = project
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--convt-suite", "article",
         "--convt-targets", "mykernel:conv_transpose", "test_mine.py"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 passed" in done.stdout, done.stdout[-2000:]


def test_crosscheck_works_in_a_project_with_its_own_cases_adapters_and_oracle(project, installed):
    folder, env = project
    done = subprocess.run([sys.executable, "check_mine.py"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "crosscheck ok" in done.stdout, done.stderr[-3000:]
    where = subprocess.run([sys.executable, "-c", "import convt_oracle; print(convt_oracle.__file__)"], cwd=folder,
                           env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(installed))  # the wheel's copy, not this checkout's
