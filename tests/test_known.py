"""Known findings (convt_oracle.harness.known): the findings file's checks, matching real results, stale and
expired entries, `convt-oracle run --known`, and the shipped file against the README.

The results are real: real wrong implementations (tests/support/targets.py: `bias_ignored` drops the bias,
a value_mismatch on exactly the cases with one), a right one (tests/support/matrix_targets.py) and, for the
command line, onnx.reference (its invalid-attribute finding). Dates are fixed: `today` is given.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import convt_oracle
from convt_oracle.cases.model import make_case
from convt_oracle.harness import known
from convt_oracle.harness.cli import EXIT_DISCREPANCIES, EXIT_OK, exit_status
from convt_oracle.harness.report import Report

ROOT = Path(__file__).resolve().parents[1]
TODAY = datetime.date(2027, 1, 15)
WRONG = "support.targets:bias_ignored"
RIGHT = "support.matrix_targets:conv_transpose"
CASES = [
    make_case(input_size=4, kernel_size=3, stride=2, bias=True, seed=1),
    make_case(input_size=(3, 4), kernel_size=2, in_channels=2, out_channels=3, bias=True, seed=2),
    make_case(input_size=5, kernel_size=2, bias=False, seed=3),
]
BIAS_DROPPED = f"""
[[finding]]
id = "bias-ignored"
targets = ["{WRONG}"]
reason = "drops the bias"
issue = "https://example.org/issues/1"
suites = ["custom"]
[[finding.match]]
bias = true
outcome = "value_mismatch"
strict = true
"""


def findings(text: str, tmp_path, name="findings.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return known.load(path)


def crosscheck(target):
    return convt_oracle.crosscheck(target, suite=CASES, dtypes=("float32",))


# --- reading a file ------------------------------------------------------------------------------------------


BAD = {
    "not TOML": ("[[finding]\nid = 1", "not valid TOML"),
    "top-level key": ('schema = 1\n', "unknown top-level key 'schema'"),
    "id": ('[[finding]]\nid = "a b"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n',
           "finding 1: id: got 'a b'; expected a name of letters, digits and - _ ."),
    "unknown key": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\nversion = "1"\n',
                    "finding 1 ('x'): version: got '1'; not a key of a finding; the keys are id, framework"),
    "no reason": ('[[finding]]\nid = "x"\nissue = "i"\ntargets = ["t"]\n', "finding 1 ('x'): reason: got None; expected a non-empty string"),
    "no target": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\n', "targets: got None; a finding names its framework, its targets, or both"),
    "versions without framework": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\nversions = "<=2"\n',
                                   "versions: got '<=2'; a version range needs `framework`"),
    "bad versions": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\nframework = "torch"\nversions = "<=> 2"\n',
                     "versions: got '<=> 2'; expected PEP 440 specifiers"),
    "expires as text": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\nexpires = "2027-01-01"\n',
                        "expires: got '2027-01-01'; expected a TOML date, e.g. expires = 2027-06-30 (no quotes, no time)"),
    "unknown suite": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\nsuites = ["defualt"]\n',
                      "suites: got ['defualt']; unknown suite 'defualt'; known: "),
    "unknown condition": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\nwhere = { cpu = "avx2" }\n',
                          "where.cpu: got 'avx2'; not a condition; the conditions are kernels, cpu_flags"),
    "unknown outcome": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n[[finding.match]]\noutcome = "pass"\n',
                        "match.outcome: got 'pass'; unknown 'pass'; expected among value_mismatch, shape_mismatch"),
    "unknown dtype": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n[[finding.match]]\ndtype = ["f32"]\n',
                      "match.dtype: got ['f32']; unknown 'f32'; expected among float16, bfloat16, float32, float64"),
    "number": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n[[finding.match]]\ngroups = "many"\n',
               "match.groups: got 'many'; expected an int, a list of ints, or a string '<op> N'"),
    "regex": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n[[finding.match]]\ndetail = "("\n',
              "match.detail: got '('; not a regular expression"),
    "match key": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n[[finding.match]]\nkernel = 3\n',
                  "match.kernel: got 3; not a match key"),
    "twice": ('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n' * 2,
              "finding 2: id: 'x' is given twice; ids are unique"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_findings_file_names_the_file_the_entry_the_key_the_value_and_the_rule(name, tmp_path):
    text, words = BAD[name]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(known.KnownFindingsError) as raised:
        known.load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and words in message, message


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(known.KnownFindingsError, match=r"nowhere\.toml: cannot read the findings file: No such file"):
        known.load(tmp_path / "nowhere.toml")


def test_resolve_gives_the_shipped_file_by_default_and_nothing_for_none():
    assert known.resolve(None) == known.resolve("") == known.shipped_path()
    assert known.shipped_path().name == "known-findings.toml" and known.shipped_path().is_file()
    assert known.resolve("none") is None and known.resolve("None") is None
    assert known.resolve("my.toml") == Path("my.toml")


# --- conditions: versions, kernels, CPU flags -----------------------------------------------------------------


def test_the_version_range_is_pep_440_on_the_framework_the_target_runs(tmp_path):
    (finding,) = findings("""
        [[finding]]
        id = "x"
        framework = "torch"
        versions = ">=2.1, <=2.13.0"
        reason = "r"
        issue = "i"
    """, tmp_path)

    def environment(version):
        return {"runtime": {"torch": {"versions": {"torch": version}}, "keras-torch": {"versions": {"keras": "3", "torch": version}}}}

    assert finding.applies("torch", environment("2.13.0+cpu")) is True  # the local label is not compared
    assert finding.applies("keras-torch", environment("2.1.0")) is True  # keras-torch runs torch too
    assert finding.applies("torch@/other/python", {"runtime": {"torch@/other/python": {"versions": {"torch": "2.13.0"}}}})
    assert finding.applies("torch", environment("2.14.1")) is False
    assert finding.applies("torch", environment("2.0.1")) is False
    assert finding.applies("torch", environment("2.14.0rc1")) is False
    assert finding.applies("torch", environment("not a version")) is None
    assert finding.applies("torch", {}) is None  # a report that recorded no runtime: cannot be told
    assert finding.applies("jax", {"runtime": {"jax": {"versions": {"jax": "0.10.2"}}}}) is False


def test_kernel_and_cpu_conditions_are_read_from_what_the_run_recorded(tmp_path):
    """The facts a real adapter reports (torch's oneDNN dtypes, asked of torch) decide the condition."""
    torch = pytest.importorskip("torch", reason="torch is not installed: no real kernel facts to read")
    from convt_oracle.adapters import registry

    bfloat16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    runtime = registry.load("torch").runtime()
    entries = findings(f"""
        [[finding]]
        id = "where-it-runs"
        framework = "torch"
        reason = "r"
        issue = "i"
        where = {{ kernels = {{ onednn_bfloat16 = {str(bfloat16).lower()} }}, cpu_flags = ["avx2"] }}
        [[finding]]
        id = "where-it-does-not"
        framework = "torch"
        reason = "r"
        issue = "i"
        where = {{ kernels = {{ onednn_bfloat16 = {str(not bfloat16).lower()} }} }}
        [[finding]]
        id = "an-unknown-fact"
        framework = "torch"
        reason = "r"
        issue = "i"
        where = {{ kernels = {{ no_such_fact = true }} }}
    """, tmp_path)
    environment = {"runtime": {"torch": runtime}, "cpu_flags": ["avx2", "avx512f"]}
    assert [f.applies("torch", environment) for f in entries] == [True, False, None]
    assert entries[0].applies("torch", {**environment, "cpu_flags": []}) is False
    assert entries[0].applies("torch", {"runtime": {"torch": runtime}}) is None  # no CPU flags recorded


# --- a run against the findings ------------------------------------------------------------------------------------


def test_a_discrepancy_an_entry_explains_is_known_and_does_not_fail_the_report(tmp_path):
    report = crosscheck(WRONG)
    assert [r.outcome for r in report.results] == ["value_mismatch", "value_mismatch", "pass"], report.summary()
    assert not report.ok and exit_status(report) == EXIT_DISCREPANCIES
    marked = known.apply(report, findings(BIAS_DROPPED, tmp_path), source="findings.toml", today=TODAY)
    assert [r.known.id if r.known else None for r in marked.results] == ["bias-ignored", "bias-ignored", None]
    assert marked.results[0].known == ("bias-ignored", "drops the bias", "https://example.org/issues/1")
    assert marked.ok and marked.discrepancies == () and len(marked.known) == 2 and exit_status(marked) == EXIT_OK
    assert marked.verdict() == "OK: no new discrepancy (2 known)"
    assert "  bias-ignored: support.targets:bias_ignored 2 (https://example.org/issues/1)" in marked.summary()
    assert marked.known_stale == () and marked.known_expired == ()


def test_an_entry_explains_only_the_outcome_and_detail_it_names(tmp_path):
    report = crosscheck(WRONG)
    other = findings(BIAS_DROPPED.replace('outcome = "value_mismatch"', 'outcome = "nonfinite_mismatch"'), tmp_path)
    assert known.apply(report, other, today=TODAY).discrepancies == report.discrepancies
    detail = findings(BIAS_DROPPED.replace('outcome = "value_mismatch"', 'detail = "values outside the derived bound"'),
                      tmp_path, "detail.toml")
    assert known.apply(report, detail, today=TODAY).ok
    wrong_detail = findings(BIAS_DROPPED.replace('outcome = "value_mismatch"', 'detail = "grad_w"'), tmp_path, "d2.toml")
    assert not known.apply(report, wrong_detail, today=TODAY).ok


def test_largest_dilation_selects_the_cases_dilated_on_some_axis(tmp_path):
    dilated = [make_case(input_size=(4, 3), kernel_size=2, dilation=(1, 2), bias=True, seed=4),
               make_case(input_size=5, kernel_size=3, dilation=3, bias=True, seed=5)]
    report = convt_oracle.crosscheck(WRONG, suite=CASES + dilated, dtypes=("float32",))
    assert len(report.discrepancies) == 4  # every case with a bias
    entry = findings(BIAS_DROPPED.replace("strict = true", 'largest_dilation = ">= 2"'), tmp_path)
    left = known.apply(report, entry, today=TODAY).discrepancies
    assert sorted(max(r.case.dilation) for r in left) == [1, 1]
    three = findings(BIAS_DROPPED.replace("strict = true", "largest_dilation = 3"), tmp_path, "three.toml")
    assert sorted(r.case.dilation for r in known.apply(report, three, today=TODAY).discrepancies) == [(1,), (1, 1), (1, 2)]


def test_an_entry_whose_target_is_right_now_is_stale_and_does_not_fail(tmp_path):
    """The same entry, for a target that gets the bias right: it explains nothing, it had cases to show on,
    so it is reported stale; the report stays OK."""
    entries = findings(BIAS_DROPPED.replace(WRONG, RIGHT), tmp_path)
    report = known.apply(crosscheck(RIGHT), entries, source="findings.toml", today=TODAY)
    assert report.ok and report.known_stale == ({"id": "bias-ignored", "targets": [RIGHT], "issue": "https://example.org/issues/1"},)
    assert "stale: bias-ignored no longer reproduces on support.matrix_targets:conv_transpose" in report.summary()
    assert report.verdict() == "OK: no discrepancy; 1 known findings stale: bias-ignored"
    # without the cases it is about (no bias), or on a suite it does not name, it is not judged
    no_bias = convt_oracle.crosscheck(RIGHT, suite=CASES[2:], dtypes=("float32",))
    assert known.apply(no_bias, entries, today=TODAY).known_stale == ()
    article = convt_oracle.crosscheck(RIGHT, suite="article", dtypes=("float32",))
    assert known.apply(article, entries, today=TODAY).known_stale == ()


def test_an_expired_entry_explains_nothing_and_fails_the_report(tmp_path):
    entries = findings(BIAS_DROPPED.replace('suites = ["custom"]', "expires = 2027-01-14"), tmp_path)
    report = known.apply(crosscheck(WRONG), entries, source="findings.toml", today=TODAY)
    assert report.known_expired == ({"id": "bias-ignored", "expires": "2027-01-14", "issue": "https://example.org/issues/1"},)
    assert not report.ok and len(report.discrepancies) == 2 and exit_status(report) == EXIT_DISCREPANCIES
    assert "known findings expired: bias-ignored (expired 2027-01-14)" in report.verdict()
    assert "EXPIRED: bias-ignored expired 2027-01-14" in report.summary()
    # on its last day it still holds; for a right target, expired, it still fails the report
    assert known.apply(crosscheck(WRONG), entries, today=datetime.date(2027, 1, 14)).ok
    right = known.apply(crosscheck(RIGHT), findings(BIAS_DROPPED.replace(WRONG, RIGHT).replace(
        'suites = ["custom"]', "expires = 2027-01-14"), tmp_path, "right.toml"), today=TODAY)
    assert right.discrepancies == () and not right.ok and exit_status(right) == EXIT_DISCREPANCIES


def test_the_report_carries_known_stale_and_expired_through_json(tmp_path):
    entries = findings(BIAS_DROPPED, tmp_path) + findings(
        BIAS_DROPPED.replace("bias-ignored", "old").replace('suites = ["custom"]', "expires = 2026-12-31"), tmp_path, "b.toml")
    report = known.apply(crosscheck(WRONG), entries, source="findings.toml", today=TODAY)
    path = tmp_path / "report.json"
    report.to_json(path)
    data = json.loads(path.read_text())
    assert data["known_file"] == "findings.toml" and data["known_expired"][0]["id"] == "old"
    assert data["known_stale"] == [] and data["results"][0]["known"]["id"] == "bias-ignored"
    back = Report.load(path)
    assert back.known_expired == report.known_expired and back.known_file == "findings.toml"
    assert [r.known for r in back.results] == [r.known for r in report.results]


def test_strict_tables_expect_the_failure_of_every_case_they_select(tmp_path):
    (strict,) = findings(BIAS_DROPPED, tmp_path)
    (loose,) = findings(BIAS_DROPPED.replace("strict = true", ""), tmp_path, "loose.toml")
    cases = [case.with_dtype("float32") for case in CASES]
    assert [strict.expects_failure(case, WRONG) for case in cases] == [True, True, False]
    assert not any(loose.expects_failure(case, WRONG) for case in cases)
    assert strict.expects_failure(cases[0], WRONG, check="vjp")  # a table without `check` selects both checks
    (by_id,) = findings(BIAS_DROPPED.replace("bias = true", f'case_id = ["{cases[1].id}"]').replace("strict = true", ""),
                        tmp_path, "ids.toml")
    assert [by_id.expects_failure(case, WRONG) for case in cases] == [False, True, False]  # case_id: strict by default


# --- the shipped file ----------------------------------------------------------------------------------------------


def findings_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Findings")
    return text[start:text.index("\n## ", start + 1)]


def test_the_shipped_file_loads_and_every_entry_is_in_the_readme_s_findings():
    entries = known.load(known.shipped_path())
    section = findings_section()
    missing = [f.id for f in entries if f"`{f.id}`" not in section]
    assert not missing, f"entries of {known.shipped_path().name} that the README's Findings do not name: {missing}"
    assert all(f.reason and f.issue for f in entries)


def test_every_pinned_finding_has_an_entry():
    """Every `@pytest.mark.finding(id, ...)` of the test suite (the finding's minimal reproducer) has an entry of
    the same id in the shipped file."""
    ids = {f.id for f in known.load(known.shipped_path())}
    pinned = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        pinned |= set(re.findall(r'(?:mark\.finding|eigen_finding)\(\s*"([^"]+)"', path.read_text()))
    assert pinned and not pinned - ids, f"pinned findings without an entry: {sorted(pinned - ids)}"


# --- the command line -----------------------------------------------------------------------------------------------


def run(*arguments, timeout=300):
    return subprocess.run([sys.executable, "-m", "convt_oracle", "run", *arguments], capture_output=True, text=True,
                          timeout=timeout)


ONNX = importlib.util.find_spec("onnx") is not None


@pytest.mark.skipif(not ONNX, reason="onnx is not installed: no onnx.reference here")
def test_run_marks_the_shipped_findings_known_and_exits_0(tmp_path):
    """onnx.reference computes a result for invalid attributes and for inputs whose shapes disagree (README,
    Findings): on the `invalid` suite that is `accepted_invalid`, explained by the shipped file's entries."""
    report = tmp_path / "run.json"
    done = run("--suite", "invalid", "--targets", "onnx_reference", "--json", str(report))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "onnx-reference-accepts-invalid-conv-transpose-attributes: onnx_reference 5" in done.stdout, done.stdout
    assert "onnx-reference-accepts-inconsistent-shapes: onnx_reference 7" in done.stdout, done.stdout
    assert "OK: no new discrepancy (12 known)" in done.stdout
    data = json.loads(report.read_text())
    assert data["ok"] and data["known_file"] == str(known.shipped_path()) and data["known_stale"] == []
    assert data["environment"]["runtime"]["onnx_reference"]["versions"]["onnx"]
    assert "known" in done.stdout.split("\n\n")[1]  # the table's column


@pytest.mark.skipif(not ONNX, reason="onnx is not installed: no onnx.reference here")
def test_run_known_none_and_an_expired_entry_exit_1(tmp_path):
    off = run("--suite", "invalid", "--targets", "onnx_reference", "--known", "none")
    assert off.returncode == 1 and "12 discrepancies" in off.stdout, (off.stdout, off.stderr)
    expired = tmp_path / "expired.toml"
    expired.write_text(textwrap.dedent("""
        [[finding]]
        id = "onnx-reference-accepts-invalid-conv-transpose-attributes"
        framework = "onnx"
        reason = "computes invalid attributes"
        issue = "README.md#findings"
        expires = 2020-01-01
        [[finding.match]]
        valid = false
        outcome = "accepted_invalid"
    """))
    done = run("--suite", "invalid", "--targets", "onnx_reference", "--known", str(expired))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "EXPIRED: onnx-reference-accepts-invalid-conv-transpose-attributes expired 2020-01-01" in done.stdout


def test_run_with_a_bad_findings_file_is_a_usage_error_before_any_work(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[finding]]\nid = "x"\nreason = "r"\nissue = "i"\ntargets = ["t"]\n[[finding.match]]\ndtype = "f8"\n')
    done = run("--suite", "article", "--known", str(bad))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"--known: {bad}: finding 1 ('x'): match.dtype: got 'f8'; unknown 'f8'" in done.stderr
    assert "convt-oracle run: suite" not in done.stdout  # nothing ran
