"""The pytest plugin (oracle/harness/pytest_plugin.py), run inside pytester sessions and, for xdist, subprocesses.

Most inner sessions use the curated `article` suite (3 configurations), so that they are fast and do not
depend on how the generated suites grow; the xdist run uses `smoke`, and the determinism test collects
`smoke` and `default` in two fresh interpreters.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points

import ml_dtypes
import numpy as np
import pytest

from convt_oracle.cases import suites
from convt_oracle.harness import pytest_plugin

pytest_plugins = ["pytester"]

TESTS = os.path.dirname(os.path.abspath(__file__))
CHECK_TEST = """
def test_check(convt_case, convt_target, convt_check):
    convt_check(convt_case, convt_target)
"""
CASE_TEST = """
def test_case(convt_case):
    assert convt_case.dtype is not None
"""
# A wrong target: the kernel is not flipped (a correlation, not a transposed convolution).
WRONG_TARGET = """
import convt_oracle

def conv_transpose(x, w, bias=None, **params):
    return convt_oracle.conv_transpose(x, w[(..., *(slice(None, None, -1),) * (w.ndim - 2))], bias, **params).astype(x.dtype)
"""
UNSUPPORTED_TARGET = """
import convt_oracle

def conv_transpose(x, w, bias=None, **params):
    raise convt_oracle.Unsupported("no transposed convolution in " + str(x.dtype) + " here")
"""


def case_ids(suite, dtypes, seed=0):
    return [case.id for case in suites.expand(suites.get(suite, seed=seed), dtypes)]


def collected_ids(result, test="test_case"):
    """Parameter ids of `test` in a `--collect-only -q` output, in order."""
    pattern = re.compile(rf"::{test}\[(.*)\]$")
    return [match.group(1) for line in result.outlines if (match := pattern.search(line.strip()))]


@pytest.fixture
def run(pytester, monkeypatch):
    """pytester with the test support package importable (tests/ on sys.path) and a fresh target cache."""
    pytester.syspathinsert(TESTS)
    pytester.syspathinsert()
    # and for subprocess runs (pytest-xdist's workers among them)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, str(pytester.path), os.environ.get("PYTHONPATH", "")]))
    # Hypothesis' plugin imports hypothesis, assertion-rewritten, at the end of every inner session: seconds.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    pytest_plugin._LOADED.clear()
    pytest_plugin._ENVIRONMENTS.clear()
    yield pytester
    pytest_plugin._LOADED.clear()
    pytest_plugin._ENVIRONMENTS.clear()


def test_registered_through_pytest11():
    points = {point.name: point.value for point in entry_points(group="pytest11")}
    assert points.get("convt_oracle") == "convt_oracle.harness.pytest_plugin"


def test_options_in_their_group_and_header(run):
    run.makepyfile(CASE_TEST)
    result = run.runpytest(
        "--convt-suite", "article", "--convt-dtypes", "float64, bfloat16", "--convt-seed", "7",
        "--convt-targets", "mymod:conv,torch", "--collect-only",
    )
    assert result.ret == 0
    try:  # the adapter's framework version, read from the installed package (not imported)
        torch_version = f", torch {importlib.metadata.version('torch')}"
    except importlib.metadata.PackageNotFoundError:
        torch_version = ", torch not installed"
    result.stdout.fnmatch_lines([
        "convt-oracle: suite article, dtypes float64, bfloat16, seed 7, targets mymod:conv, torch",
        f"convt-oracle versions: numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}{torch_version}*",
    ])
    help_text = run.runpytest("--help").stdout.str()
    group = help_text[help_text.index("convt-oracle: transposed-convolution cases and targets"):]
    for option in ("--convt-suite", "--convt-targets", "--convt-dtypes", "--convt-seed"):
        assert option in group


def test_defaults_and_ini(run):
    run.makepyfile(CASE_TEST)
    plain = run.runpytest("--collect-only", "--convt-suite", "article")
    plain.stdout.fnmatch_lines(["convt-oracle: suite article, dtypes float32, seed 0, targets none*"])
    run.makeini("[pytest]\nconvt_suite = article\nconvt_dtypes = float16 float64\nconvt_seed = 3\nconvt_targets = a:b\n")
    from_ini = run.runpytest("--collect-only")
    from_ini.stdout.fnmatch_lines(["convt-oracle: suite article, dtypes float16, float64, seed 3, targets a:b"])
    overridden = run.runpytest("--collect-only", "--convt-dtypes", "float32", "--convt-seed", "0")
    overridden.stdout.fnmatch_lines(["convt-oracle: suite article, dtypes float32, seed 0, targets a:b"])


def test_header_imports_no_framework_and_reports_imported_ones(run):
    """Versions of frameworks appear only when something imported them before the header; never imported."""
    record = run.path / "imported.txt"
    run.makeconftest(f"""
import sys, types
sys.modules["keras"] = types.SimpleNamespace(__version__="0.0-fake")  # as if a conftest imported keras

def pytest_unconfigure(config):
    open({str(record)!r}, "w").write(" ".join(m for m in ("torch", "tensorflow", "jax", "onnxruntime") if m in sys.modules))
""")
    run.makepyfile(CASE_TEST)
    result = run.runpytest_subprocess("--convt-suite", "article", "--collect-only")
    assert result.ret == 0
    header = [line for line in result.outlines if line.startswith("convt-oracle versions:")]
    assert header and header[0].endswith(", keras 0.0-fake"), header
    assert record.read_text() == ""


def test_node_ids_are_case_ids(run):
    run.makepyfile(CASE_TEST)
    result = run.runpytest("--convt-suite", "article", "--convt-dtypes", "float32,float16", "--collect-only", "-q")
    assert result.ret == 0
    assert collected_ids(result) == case_ids("article", ("float32", "float16"))


def test_cases_and_targets_run_and_pass(run):
    run.makepyfile(CHECK_TEST)
    result = run.runpytest("--convt-suite", "article", "--convt-dtypes", "float32,bfloat16", "-v",
                           "--convt-targets", "support.matrix_targets:conv_transpose")
    result.assert_outcomes(passed=6)
    for case_id in case_ids("article", ("float32", "bfloat16")):
        result.stdout.fnmatch_lines([f"*::test_check[[]{case_id}-support.matrix_targets:conv_transpose[]] PASSED*"])


def test_without_targets_the_test_is_skipped_saying_how(run):
    run.makepyfile(CHECK_TEST)
    result = run.runpytest("--convt-suite", "article", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*no target; pass --convt-targets module:function*"])


def test_marker_overrides_suite_dtypes_and_seed(run):
    run.makepyfile("""
import pytest

@pytest.mark.convt(dtypes=("float64",))
def test_case(convt_case):
    assert convt_case.dtype == "float64"

@pytest.mark.convt("article", dtypes="bfloat16", seed=5)
def test_other(convt_case):
    assert convt_case.dtype == "bfloat16"
""")
    result = run.runpytest("--convt-suite", "article", "--convt-dtypes", "float16", "--collect-only", "-q")
    assert collected_ids(result) == case_ids("article", ("float64",))
    assert collected_ids(result, "test_other") == case_ids("article", ("bfloat16",), seed=5)
    result = run.runpytest("--convt-suite", "article", "--convt-dtypes", "float16")
    result.assert_outcomes(passed=6)


@pytest.mark.parametrize(
    "marker, message",
    [
        ('suite="no-such-suite"', "*@pytest.mark.convt: suite: unknown 'no-such-suite'; known suites: *article*"),
        ('dtypes="float8"', "*@pytest.mark.convt: dtypes: unknown 'float8'; known dtypes: float16, bfloat16, float32, float64"),
        ("size=3", "*@pytest.mark.convt on *: unexpected [[]'size'[]]; it takes suite, dtypes, seed"),
    ],
)
def test_bad_marker_is_a_collection_error(run, marker, message):
    run.makepyfile(f"""
import pytest

@pytest.mark.convt({marker})
def test_case(convt_case):
    pass
""")
    result = run.runpytest("--convt-suite", "article")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--convt-suite", "no-such-suite"], "ERROR: convt-oracle: --convt-suite: unknown 'no-such-suite'; known suites: *article*"),
        (["--convt-dtypes", "float32,f16"], "ERROR: convt-oracle: --convt-dtypes: unknown 'f16'; known dtypes: float16, bfloat16, float32, float64"),
        (["--convt-dtypes", ","], "ERROR: convt-oracle: --convt-dtypes: none given; known dtypes: *"),
        (["--convt-seed", "zero"], "ERROR: convt-oracle: --convt-seed: got 'zero'; expected an integer"),
    ],
)
def test_bad_option_is_a_usage_error(run, args, message):
    run.makepyfile(CASE_TEST)
    result = run.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_plugin_can_be_disabled(run):
    run.makepyfile(CASE_TEST)
    result = run.runpytest("-p", "no:convt_oracle")
    assert "convt-oracle:" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*fixture 'convt_case' not found*"])


def test_failure_carries_the_message_and_a_reproducer_that_runs(run):
    run.makepyfile(wrongtarget=WRONG_TARGET, test_wrong=CHECK_TEST)
    result = run.runpytest("--convt-suite", "article", "--convt-targets", "wrongtarget:conv_transpose")
    result.assert_outcomes(failed=3)
    case_id = case_ids("article", ("float32",))[-1]
    result.stdout.fnmatch_lines([
        f"convt-oracle: value_mismatch: wrongtarget:conv_transpose on {case_id}",
        "  values outside the derived bound: *",
        "To reproduce, run:",
        "import convt_oracle",
    ])
    output = result.outlines
    start = max(i for i, line in enumerate(output) if line == "To reproduce, run:") + 1
    snippet = []
    for line in output[start:]:  # unindented: it pastes as printed; it ends with the assertion
        snippet.append(line)
        if line.startswith("convt_oracle.assert_conv_transpose_close("):
            break
    assert "case = Case.from_dict(" in "\n".join(snippet)
    ran = subprocess.run([sys.executable, "-c", "\n".join(snippet)], cwd=run.path, capture_output=True, text=True)
    assert ran.returncode == 1
    assert "AssertionError: conv_transpose result is not close (value_mismatch)" in ran.stderr


def test_unsupported_skips_with_the_reason_and_a_bad_target_fails_saying_so(run):
    run.makepyfile(cannot=UNSUPPORTED_TARGET, test_cannot=CHECK_TEST)
    result = run.runpytest("--convt-suite", "article", "--convt-targets", "cannot:conv_transpose,nowhere:nothing", "-rs")
    result.assert_outcomes(skipped=3, failed=3)
    result.stdout.fnmatch_lines([
        "convt-oracle: cannot load target 'nowhere:nothing': ValueError: *No module named 'nowhere'*",
        "SKIPPED [[]3[]] *: convt-oracle: cannot:conv_transpose: unsupported: no transposed convolution in float32 here",
    ])


def test_check_returns_the_result():
    case = suites.expand(suites.get("article"), ("float32",))[0]
    result = pytest_plugin.check(case, "support.matrix_targets:conv_transpose")
    assert result.outcome == "pass" and result.case_id == case.id


# --- known findings (--convt-known) --------------------------------------------------------------------
RIGHT = "support.matrix_targets:conv_transpose"


def findings_file(run, target, table, name="findings.toml"):
    """A test-only findings file: one entry for `target`, with one match table (TOML lines)."""
    path = run.path / name
    path.write_text(
        f'[[finding]]\nid = "test-finding"\ntargets = ["{target}"]\nreason = "a finding for this test"\n'
        f'issue = "https://example.org/1"\n[[finding.match]]\n{table}\n'
    )
    return str(path)


def test_a_fixed_finding_xpasses_and_fails_the_run(run):
    """A right target, matched by a strict entry (one case, by id): the case is a strict xfail that passes, so
    the run fails with XPASS(strict), with the entry's id, reason and issue; the other cases pass."""
    run.makepyfile(CHECK_TEST)
    case_id = case_ids("article", ("float32",))[1]
    known = findings_file(run, RIGHT, f'case_id = ["{case_id}"]')
    result = run.runpytest("--convt-suite", "article", "--convt-targets", RIGHT, "--convt-known", known, "-rX")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        f"_* test_check[[]{case_id}-{RIGHT}[]] _*",
        "[[]XPASS(strict)[]] test-finding: a finding for this test (https://example.org/1)",
    ])
    result.stdout.fnmatch_lines([f"convt-oracle known findings: {known} (1 entries)"])


def test_a_known_discrepancy_is_an_xfail_strict_or_not_and_another_outcome_still_fails(run):
    run.makepyfile(wrongtarget=WRONG_TARGET, test_wrong=CHECK_TEST)
    target = "wrongtarget:conv_transpose"
    ids = ", ".join(f'"{case_id}"' for case_id in case_ids("article", ("float32",)))
    strict = findings_file(run, target, f'case_id = [{ids}]\noutcome = "value_mismatch"', "strict.toml")
    result = run.runpytest("--convt-suite", "article", "--convt-targets", target, "--convt-known", strict, "-rx")
    result.assert_outcomes(xfailed=3)
    result.stdout.fnmatch_lines(["XFAIL *test-finding: a finding for this test (https://example.org/1)*"])
    loose = findings_file(run, target, 'outcome = "value_mismatch"\ndtype = "float32"', "loose.toml")
    result = run.runpytest("--convt-suite", "article", "--convt-targets", target, "--convt-known", loose, "-rx")
    result.assert_outcomes(xfailed=3)
    result.stdout.fnmatch_lines(["XFAIL *known finding test-finding: a finding for this test (https://example.org/1)*"])
    other = findings_file(run, target, f'case_id = [{ids}]\noutcome = "nonfinite_mismatch"', "other.toml")
    result = run.runpytest("--convt-suite", "article", "--convt-targets", target, "--convt-known", other)
    result.assert_outcomes(failed=3)  # a strict xfail for another outcome: the value_mismatch fails
    result.stdout.fnmatch_lines([f"convt-oracle: value_mismatch: {target} on *"])
    result = run.runpytest("--convt-suite", "article", "--convt-targets", target, "--convt-known", "none")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["convt-oracle known findings: none"])


def test_a_bad_findings_file_is_a_usage_error(run):
    run.makepyfile(CASE_TEST)
    bad = findings_file(run, RIGHT, 'mode = "sideways"')
    result = run.runpytest("--convt-known", bad)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: convt-oracle: --convt-known: {bad}: finding 1 ('test-finding'): match.mode: "
                                 "got 'sideways'; unknown 'sideways'; expected among explicit, same, valid, output_shape"])


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx is not installed: no onnx.reference here")
def test_the_shipped_findings_make_onnx_reference_s_known_bugs_xfails(run):
    """The shipped file, by default: onnx.reference on the `invalid` suite computes 12 invalid configurations
    (its invalid-attribute and inconsistent-shape findings, non-strict entries: xfails where it happens),
    rejects 42, and cannot be asked 7 (attributes past int64: skipped)."""
    run.makepyfile(CHECK_TEST)
    # In a subprocess: pytester's in-process run drops the onnx modules it imported from sys.modules, and
    # onnx's C extension aborts the process when imported again ("nanobind: duplicate key").
    result = run.runpytest_subprocess("--convt-suite", "invalid", "--convt-targets", "onnx_reference", "-rx")
    result.assert_outcomes(passed=42, xfailed=12, skipped=7)
    result.stdout.fnmatch_lines(["XFAIL *known finding onnx-reference-accepts-invalid-conv-transpose-attributes: *"])
    result.stdout.fnmatch_lines(["XFAIL *known finding onnx-reference-accepts-inconsistent-shapes: *"])


# --- pytest-xdist ---------------------------------------------------------------------------------------
def test_xdist_workers_collect_identical_cases(run):
    """pytest-xdist stops a run whose workers collected different tests; this one runs the smoke suite."""
    run.makepyfile(CHECK_TEST)
    dtypes = ("float32", "float16")
    result = run.runpytest_subprocess("-n", "2", "--convt-suite", "smoke", "--convt-dtypes", ",".join(dtypes),
                                      "--convt-targets", "support.matrix_targets:conv_transpose", "-v")
    result.assert_outcomes(passed=len(case_ids("smoke", dtypes)))
    assert {"[gw0]", "[gw1]"} <= set(re.findall(r"\[gw\d\]", result.stdout.str()))


def test_xdist_catches_a_suite_that_is_not_deterministic(run):
    """The control: a suite drawn from os.urandom makes xdist refuse, so the test above has teeth."""
    run.makeconftest("""
import os
from convt_oracle.cases import suites
from convt_oracle.cases.model import make_case

@suites.suite
def unseeded(seed=0):
    return [make_case(input_size=(3,), kernel_size=(2,), seed=int.from_bytes(os.urandom(4), "little"))]
""")
    run.makepyfile(CASE_TEST)
    result = run.runpytest_subprocess("-n", "2", "--convt-suite", "unseeded")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*Different tests were collected between gw* and gw*"])


def test_generated_suites_collect_the_same_in_separate_processes(run, monkeypatch):
    """Two interpreters with different hash seeds collect the smoke and default suites with the case ids,
    in the order, that this process generates."""
    run.makepyfile("""
import pytest

@pytest.mark.convt(suite="smoke")
def test_smoke(convt_case):
    pass

@pytest.mark.convt(suite="default")
def test_default(convt_case):
    pass
""")
    dtypes = ("float32", "bfloat16")
    for hash_seed in ("1", "2"):
        monkeypatch.setenv("PYTHONHASHSEED", hash_seed)
        result = run.runpytest_subprocess("--convt-dtypes", ",".join(dtypes), "--collect-only", "-q")
        assert result.ret == 0
        assert collected_ids(result, "test_smoke") == case_ids("smoke", dtypes)
        assert collected_ids(result, "test_default") == case_ids("default", dtypes)
