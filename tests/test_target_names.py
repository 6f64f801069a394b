"""Target names: `convt-oracle run --targets`, `crosscheck(target)` and the pytest plugin's `--convt-targets` take
the same names (convt_oracle.harness.targets): an adapter, "module:function", either with "@PYTHON" to run in
a worker under another interpreter; and they refuse the same bad names, each naming its own argument.

The second interpreter is a real one: a virtual environment made here (no pip, a .pth file pointing at this
environment's packages), so that its path, not this process's, is what the worker runs.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import site
import subprocess
import sys
import venv

import pytest

from convt_oracle import crosscheck, crosscheck_target
from convt_oracle.harness.targets import TargetSpec

TESTS = os.path.dirname(os.path.abspath(__file__))
ADAPTER = "onnx_reference"  # the quickest adapter to start (README, "Speed of convt-oracle run")
FUNCTION = "support.matrix_targets:conv_transpose"  # a correct NumPy target (tests/support)
needs_onnx = pytest.mark.framework("onnx")


@pytest.fixture(scope="module")
def other_python(tmp_path_factory) -> str:
    """The interpreter of a new virtual environment that sees this one's packages (and tests/, for support)."""
    folder = tmp_path_factory.mktemp("other-python")
    venv.create(folder, with_pip=False)
    python = folder / "bin" / "python"
    found = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(found, "parent-environment.pth"), "w") as pth:
        pth.write("\n".join([*site.getsitepackages(), TESTS]) + "\n")
    return str(python)


# --- one grammar ------------------------------------------------------------------------------------------


def test_the_grammar(other_python):
    assert TargetSpec.parse("torch") == TargetSpec("torch", None)
    assert TargetSpec.parse(f"torch@{other_python}") == TargetSpec("torch", other_python)
    assert TargetSpec.parse(FUNCTION) == TargetSpec(FUNCTION, None)
    spec = TargetSpec.parse(f"{FUNCTION}@{other_python}")
    assert (spec.name, spec.python, spec.is_adapter, spec.adapter) == (FUNCTION, other_python, False, None)
    assert spec.label == f"{FUNCTION}@{other_python}" and spec.framework is None
    instance = crosscheck_target("support.crashy_targets:ModeAware()")  # "module:Class()": an instance
    assert type(instance).__name__ == "ModeAware" and hasattr(instance, "call_case")
    adapter = TargetSpec.parse(f"keras-jax@{other_python}")
    assert adapter.is_adapter and adapter.adapter == "keras-jax" and adapter.framework == "keras"


BAD_NAMES = [
    ("no-such-adapter", "unknown adapter 'no-such-adapter'; known adapters: "),
    ("torch@", "'torch@': no interpreter after '@'"),
    ("torch@/no/such/python", "'torch@/no/such/python': no interpreter '/no/such/python'"),
    ("mod:1function", "'mod:1function': expected 'module:function' (or 'module:Class()'), two dotted Python names"),
    ("no-such-adapter@/no/such/python", "unknown adapter 'no-such-adapter'"),
]


@pytest.mark.parametrize("text, words", BAD_NAMES, ids=["unknown", "no-interpreter", "missing-interpreter",
                                                        "not-a-name", "both"])
def test_crosscheck_refuses_a_bad_name_before_any_case(text, words):
    with pytest.raises(ValueError) as caught:
        crosscheck(text, suite="article")
    assert str(caught.value).startswith("target: ") and words in str(caught.value), caught.value
    with pytest.raises(ValueError, match="^target: "):
        crosscheck_target(text)


@pytest.mark.parametrize("text, words", BAD_NAMES[:4], ids=["unknown", "no-interpreter", "missing-interpreter",
                                                            "not-a-name"])
def test_run_refuses_the_same_names_as_a_usage_error(text, words):
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "article", "--targets", text],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "--targets: " in done.stderr and words in done.stderr, done.stderr


pytest_plugins = ["pytester"]
CHECK_TEST = """
def test_check(convt_case, convt_target, convt_check):
    convt_check(convt_case, convt_target)
"""


@pytest.fixture
def inner(pytester, monkeypatch):
    """A pytester session that sees tests/support, with the plugin's target cache fresh."""
    from convt_oracle.harness import pytest_plugin

    pytester.syspathinsert(TESTS)
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    pytest_plugin._LOADED.clear()
    yield pytester
    pytest_plugin._LOADED.clear()


@pytest.mark.parametrize("text, words", BAD_NAMES[:4], ids=["unknown", "no-interpreter", "missing-interpreter",
                                                            "not-a-name"])
def test_the_plugin_refuses_the_same_names_as_a_usage_error(inner, text, words):
    inner.makepyfile(CHECK_TEST)
    result = inner.runpytest("--convt-suite", "article", "--convt-targets", text)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "convt-oracle: --convt-targets: " in result.stderr.str() and words in result.stderr.str(), result.stderr.str()


# --- NAME@PYTHON runs in that interpreter, everywhere -----------------------------------------------------------


@needs_onnx
def test_crosscheck_runs_name_at_python_in_that_interpreter_with_the_same_results(other_python):
    target = f"{ADAPTER}@{other_python}"
    isolated = crosscheck_target(target)
    try:
        assert isolated.info["executable"] == other_python  # the worker's sys.executable
        assert hasattr(isolated, "call_case")  # the adapter's own entry point, as in a run
    finally:
        isolated.close()
    there = crosscheck(target, suite="smoke", seed=0)
    here = crosscheck(ADAPTER, suite="smoke", seed=0)
    assert there.targets == (target,) and {r.target for r in there.results} == {target}
    assert [(r.case_id, r.outcome, r.max_abs_error) for r in there.results] == \
        [(r.case_id, r.outcome, r.max_abs_error) for r in here.results]
    assert any(r.outcome == "pass" for r in there.results)  # something was compared


@needs_onnx
def test_a_name_at_python_reproducer_runs_in_that_interpreter(other_python, tmp_path):
    """Result.reproducer names its target as given: crosscheck_target reads the same NAME@PYTHON."""
    report = crosscheck(f"{ADAPTER}@{other_python}", suite="article")
    snippet = report.results[0].reproducer()
    assert f"crosscheck_target('{ADAPTER}@{other_python}')" in snippet
    done = subprocess.run([sys.executable, "-c", snippet + "\nprint(target.info['executable']); target.close()"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == other_python


@needs_onnx
def test_the_plugin_runs_name_at_python_targets(inner, other_python):
    inner.makepyfile(CHECK_TEST)
    targets = f"{ADAPTER}@{other_python},{FUNCTION}@{other_python},{FUNCTION}"
    result = inner.runpytest("--convt-suite", "article", "--convt-targets", targets, "-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines([f"convt-oracle: suite article, dtypes float32, seed 0, targets {ADAPTER}@{other_python}, *",
                                 f"*test_check*{ADAPTER}@{other_python}* PASSED*"])


@needs_onnx
def test_run_takes_module_function_and_name_at_python_targets(other_python, tmp_path):
    """A "module:function" target gets the case's parameters (as in crosscheck), and its `vjp` with --grad."""
    with_vjp = "support.crashy_targets:correct"  # a correct target with a vjp attribute (tests/support)
    targets = [f"{ADAPTER}@{other_python}", FUNCTION, f"{with_vjp}@{other_python}"]
    report = tmp_path / "run.json"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "article", "--grad",
                           "--targets", ",".join(targets), "--json", str(report)],
                          capture_output=True, text=True, timeout=300, env=environment)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    data = json.loads(report.read_text())
    assert data["targets"] == targets and data["complete"] is True and not data["targets_not_run"]
    outcomes = {(r["target"], r["check"]): set() for r in data["results"]}
    for r in data["results"]:
        outcomes[(r["target"], r["check"])].add(r["outcome"])
    assert outcomes == {
        (targets[0], "forward"): {"pass"}, (targets[0], "vjp"): {"unsupported"},  # onnx has no autodiff
        (targets[1], "forward"): {"pass"}, (targets[1], "vjp"): {"unsupported"},  # no vjp attribute
        (targets[2], "forward"): {"pass"}, (targets[2], "vjp"): {"pass"},
    }
    frameworks = data["environment"]["frameworks"]
    assert frameworks[FUNCTION] == "n/a (not an adapter)"
    assert frameworks[targets[0]] == importlib.metadata.version("onnx")
