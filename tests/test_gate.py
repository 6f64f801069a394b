"""`convt-oracle gate BASELINE CANDIDATE`: each category, the precedence between them, each exit status,
`RUN.json::TARGET`, incompatible reports, the warnings about kernels, the JSON diff; and what every run
report records about what decides the kernels (convt_oracle.harness.kernels).

The reports are real runs: crosscheck of a correct target (support.targets.lax_reference) and of a wrong one
(bias_twice) on the `smoke` suite (seed 0), real adapters where a test needs `unsupported`, and a real
`convt-oracle run` with two targets for `::TARGET`. Two outcomes no code on this branch produces yet are made
from real results with dataclasses.replace: `refused` (an unsupported result relabelled; the adapters will
refuse cases themselves) and `known` (a discrepancy given a Known; `run --known` will set it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

import convt_oracle
from convt_oracle.compare import PASS, REFUSED, UNSUPPORTED
from convt_oracle.harness import gate as G
from convt_oracle.harness.cli import main
from convt_oracle.harness.kernels import ISA_FLAGS
from convt_oracle.harness.report import Known, Report
from convt_oracle.tolerance import Tolerance

SEED = 0  # the suites' seed, printed in every report's headline
GOOD, WRONG = "support.targets:lax_reference", "support.targets:bias_twice"
KEYS = ("case_id", "dtype", "check", "category", "baseline_outcome", "candidate_outcome", "baseline_bound_ratio",
        "candidate_bound_ratio")


def crosscheck(target, dtypes=("float32",), suite="smoke", **options) -> Report:
    return convt_oracle.crosscheck(target, suite=suite, dtypes=dtypes, seed=SEED, **options)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """name -> path of a run report written once for the module, and the Reports themselves."""
    folder = tmp_path_factory.mktemp("reports")
    made = {
        "good": crosscheck(GOOD),
        "wrong": crosscheck(WRONG),
        "good_two_dtypes": crosscheck(GOOD, dtypes=("float32", "float16")),
        "good_article": crosscheck(GOOD, suite="article"),
        "good_seed_1": convt_oracle.crosscheck(GOOD, suite="smoke", dtypes=("float32",), seed=1),
    }
    paths = {}
    for name, report in made.items():
        paths[name] = str(folder / f"{name}.json")
        report.to_json(paths[name])
    return paths, made


def write(report: Report, folder, name: str) -> str:
    path = str(folder / f"{name}.json")
    report.to_json(path)
    return path


def categories(result: G.GateResult) -> dict:
    """{(case id, check): category}."""
    return {(entry.result.case.id, entry.result.check): entry.category for entry in result.entries}


def gate_exit(capsys, *arguments) -> tuple[int, str, str]:
    status = main(["gate", *arguments])
    out, err = capsys.readouterr()
    return status, out, err


# --- categories ---------------------------------------------------------------------------------------------
def test_the_same_report_is_unchanged_everywhere_and_exits_0(reports, capsys):
    paths, made = reports
    result = G.gate(paths["good"], paths["good"])
    assert len(result.entries) == len(made["good"].results) == 42
    assert set(categories(result).values()) == {"unchanged"} and result.changes == () and result.ok
    status, out, _ = gate_exit(capsys, paths["good"], paths["good"])
    assert status == 0 and "OK: no regression" in out and "counts: unchanged 42" in out


def test_a_wrong_candidate_is_new_failure_and_exits_1(reports, capsys):
    paths, made = reports
    result = G.gate(paths["good"], paths["wrong"])
    failed = {(r.case.id, r.check) for r in made["wrong"].results if r.outcome != PASS}
    assert failed and all(r.case.bias for r in made["wrong"].discrepancies)  # only a bias can be added twice
    found = categories(result)
    assert {key for key, category in found.items() if category == "new_failure"} == failed
    assert {category for key, category in found.items() if key not in failed} == {"unchanged"}
    status, out, _ = gate_exit(capsys, paths["good"], paths["wrong"])
    assert status == 1 and f"REGRESSIONS: {len(failed)} (new_failure {len(failed)})" in out


def test_a_fixed_candidate_is_fixed_and_exits_0(reports, capsys):
    paths, made = reports
    found = categories(G.gate(paths["wrong"], paths["good"]))
    failed = {(r.case.id, r.check) for r in made["wrong"].discrepancies}
    assert {key for key, category in found.items() if category == "fixed"} == failed
    assert gate_exit(capsys, paths["wrong"], paths["good"])[0] == 0


def test_a_discrepancy_in_both_is_still_failing_a_regression_only_when_asked(reports, capsys):
    paths, made = reports
    found = categories(G.gate(paths["wrong"], paths["wrong"]))
    failed = {(r.case.id, r.check) for r in made["wrong"].discrepancies}
    assert {key for key, category in found.items() if category == "still_failing"} == failed
    assert gate_exit(capsys, paths["wrong"], paths["wrong"])[0] == 0
    assert gate_exit(capsys, paths["wrong"], paths["wrong"], "--fail-on", "still_failing")[0] == 1


def test_a_bound_ratio_past_the_noise_is_error_grew_or_error_shrank(tmp_path, capsys):
    """The same correct target judged in float16 under two tolerances: assuming float16 accumulation makes
    every bound much larger, so that the error / bound of the same results shrinks; the reverse grows."""
    strict = crosscheck(GOOD, dtypes=("float16",))
    loose = crosscheck(GOOD, dtypes=("float16",), tolerance=Tolerance(accumulation={"float16": "float16"}))
    old, new = write(strict, tmp_path, "strict"), write(loose, tmp_path, "loose")
    ratios = {(r.case.id, r.check): (r.max_bound_ratio, s.max_bound_ratio) for r, s in zip(strict.results, loose.results)}
    # The documented rule (README, "Gate"): a move counts where the larger ratio is above 0.05 and more than
    # twice the smaller one taken as at least 0.05.
    expected_shrank = {key for key, (a, b) in ratios.items()
                       if a is not None and b is not None and a > 0.05 and a > 2 * max(b, 0.05)}
    assert len(expected_shrank) > 5, ratios  # the test means something
    found = categories(G.gate(old, new))
    assert {key for key, category in found.items() if category == "error_shrank"} == expected_shrank
    assert set(found.values()) == {"error_shrank", "unchanged"}
    grew = categories(G.gate(new, old))
    assert {key for key, category in grew.items() if category == "error_grew"} == expected_shrank
    assert gate_exit(capsys, old, new)[0] == 0 and gate_exit(capsys, new, old)[0] == 1


@pytest.mark.parametrize(
    "old, new, moved",
    [(0.01, 0.04, 0), (0.0, 0.05, 0), (0.04, 0.11, 1), (0.1, 0.3, 1), (0.3, 0.1, -1), (0.5, 0.9, 0), (0.9, 0.5, 0),
     (2.0, float("inf"), 1), (float("inf"), float("inf"), 0), (float("nan"), 3.0, 0), (None, 3.0, 0), (3.0, 7.0, 1)],
)
def test_the_noise_rule(old, new, moved):
    """A factor of 2 with a floor of 0.05 (README, "Gate": measured on repeated runs)."""
    assert (G.NOISE_FACTOR, G.NOISE_FLOOR) == (2.0, 0.05)
    assert G.error_moved(old, new) == moved


@pytest.mark.framework("onnxruntime")
def test_unsupported_and_refused_transitions(reports, tmp_path, capsys):
    """onnxruntime declines some smoke cases: those it cannot be asked (unsupported) and output_padding >=
    stride (refused, ONNX's documented domain). Its results with every declined case relabelled `unsupported`,
    and again relabelled `refused`, stand for a framework that cannot express them and one that refuses them."""
    paths, made = reports
    found = crosscheck("onnxruntime")
    assert {r.outcome for r in found.results} >= {UNSUPPORTED, REFUSED} and not found.discrepancies

    def relabelled(outcome):
        return dataclasses.replace(found, results=tuple(
            dataclasses.replace(r, outcome=outcome) if r.outcome in (UNSUPPORTED, REFUSED) else r for r in found.results))

    runtime, refusing = relabelled(UNSUPPORTED), relabelled(REFUSED)
    unsupported = {(r.case.id, r.check) for r in runtime.results if r.outcome == UNSUPPORTED}
    runtime_path, refusing_path = write(runtime, tmp_path, "onnxruntime"), write(refusing, tmp_path, "refusing")

    def changed(old, new):
        """The categories but unchanged and the error's moves (onnxruntime sums in float32, where the correct
        target rounds a float64 result once: its error / bound is larger, as it may be)."""
        moves = ("unchanged", "error_grew", "error_shrank")
        return {key: category for key, category in categories(G.gate(old, new)).items() if category not in moves}

    assert changed(paths["good"], runtime_path) == dict.fromkeys(unsupported, "newly_unsupported")
    assert changed(runtime_path, paths["good"]) == dict.fromkeys(unsupported, "newly_supported")
    assert changed(runtime_path, refusing_path) == dict.fromkeys(unsupported, "newly_refused")
    assert changed(refusing_path, runtime_path) == dict.fromkeys(unsupported, "newly_unsupported")
    assert changed(refusing_path, paths["good"]) == dict.fromkeys(unsupported, "no_longer_refused")
    assert changed(paths["good"], refusing_path) == dict.fromkeys(unsupported, "newly_refused")
    assert gate_exit(capsys, paths["good"], runtime_path)[0] == 1  # newly_unsupported: a regression by default
    assert gate_exit(capsys, runtime_path, refusing_path)[0] == 1  # newly_refused too
    assert gate_exit(capsys, refusing_path, paths["good"])[0] == 0
    # Precedence: a case the baseline could not be asked that the candidate gets wrong is a new failure.
    against_wrong = categories(G.gate(runtime_path, paths["wrong"]))
    wrong_failed = {(r.case.id, r.check) for r in made["wrong"].discrepancies}
    both = unsupported & wrong_failed
    assert both and all(against_wrong[key] == "new_failure" for key in both)


def test_new_and_missing_cases(reports, capsys):
    paths, made = reports
    float16 = {(r.case.id, r.check) for r in made["good_two_dtypes"].results if r.case.dtype == "float16"}
    found = categories(G.gate(paths["good"], paths["good_two_dtypes"]))
    assert {key for key, category in found.items() if category == "new_case"} == float16
    assert {category for key, category in found.items() if key not in float16} == {"unchanged"}
    gone = categories(G.gate(paths["good_two_dtypes"], paths["good"]))
    assert {key for key, category in gone.items() if category == "missing_case"} == float16
    assert gate_exit(capsys, paths["good_two_dtypes"], paths["good"])[0] == 0
    assert gate_exit(capsys, paths["good_two_dtypes"], paths["good"], "--fail-on", "missing_case")[0] == 1


def test_a_known_finding_is_known_before_any_other_category(reports, tmp_path, capsys):
    paths, made = reports
    wrong = made["wrong"]
    known = dataclasses.replace(wrong, results=tuple(
        dataclasses.replace(r, known=Known("bias-twice", "adds the bias twice", "#1")) if not r.ok else r
        for r in wrong.results))
    path = write(known, tmp_path, "known")
    found = categories(G.gate(paths["good"], path))  # the baseline passed: known, not new_failure
    failed = {(r.case.id, r.check) for r in wrong.discrepancies}
    assert {key for key, category in found.items() if category == "known"} == failed
    assert gate_exit(capsys, paths["good"], path)[0] == 0
    status, _, _ = gate_exit(capsys, paths["good"], path, "--json", str(tmp_path / "diff.json"))
    changes = json.loads((tmp_path / "diff.json").read_text())["changes"]
    assert {c["known"]["id"] for c in changes if c["category"] == "known"} == {"bias-twice"}


def test_known_applies_a_findings_file_to_the_candidate(reports, tmp_path, capsys):
    """`gate --known FILE` marks the candidate's discrepancies an entry explains, as `run --known` does: the
    regression becomes `known` and the gate passes; a file that is not a findings file is a usage error."""
    paths, made = reports
    findings = tmp_path / "findings.toml"
    findings.write_text(
        '[[finding]]\nid = "bias-twice"\ntargets = ["%s"]\nreason = "adds the bias twice"\nissue = "#1"\n'
        '[[finding.match]]\nbias = true\noutcome = "value_mismatch"\n' % made["wrong"].targets[0])
    assert gate_exit(capsys, paths["good"], paths["wrong"])[0] == 1
    status, _, _ = gate_exit(capsys, paths["good"], paths["wrong"], "--known", str(findings), "--json", str(tmp_path / "d.json"))
    diff = json.loads((tmp_path / "d.json").read_text())
    assert status == 0 and diff["counts"]["known"] == len(made["wrong"].discrepancies) and diff["counts"]["new_failure"] == 0
    assert {c["known"]["id"] for c in diff["changes"] if c["category"] == "known"} == {"bias-twice"}
    findings.write_text('[[finding]]\nid = "x"\n')
    status, _, err = gate_exit(capsys, paths["good"], paths["wrong"], "--known", str(findings))
    assert status == 2 and f"--known: {findings}" in err


def test_the_precedence_is_documented_and_covers_every_category():
    per_result = [c for c in G.CATEGORIES if c not in (G.PRECISION_LOST, G.PRECISION_CHANGED)]
    assert set(G.PRECEDENCE) == set(per_result) and len(G.PRECEDENCE) == len(per_result) == 13
    for category in G.CATEGORIES:
        assert f"    {category} " in G.__doc__, category
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    assert " > ".join(f"`{category}`" for category in G.PRECEDENCE) in readme


# --- exit statuses, options and incompatible reports --------------------------------------------------------
def test_an_unknown_category_in_fail_on_is_a_usage_error(reports, capsys):
    paths, _ = reports
    status, _, err = gate_exit(capsys, paths["good"], paths["good"], "--fail-on", "new_failure,nope")
    assert status == 2 and "--fail-on: unknown 'nope'; the categories: unchanged, new_failure" in err
    assert gate_exit(capsys, paths["good"], paths["good"], "--fail-on", ",")[0] == 2


def test_reports_of_another_suite_or_seed_exit_3_naming_the_file(reports, capsys):
    paths, _ = reports
    status, _, err = gate_exit(capsys, paths["good"], paths["good_seed_1"])
    assert status == 3 and f"candidate {paths['good_seed_1']}: seed 1, but the baseline" in err
    assert len(err.strip().splitlines()) == 1
    status, _, err = gate_exit(capsys, paths["good"], paths["good_article"])
    assert status == 3 and f"candidate {paths['good_article']}: suite 'article', but the baseline" in err


def test_unreadable_reports_exit_3_naming_the_file(reports, tmp_path, capsys):
    paths, _ = reports
    data = json.loads(open(paths["good"]).read())
    for name, change in [("schema1", {"schema": 1}), ("interrupted", {"complete": False})]:
        (tmp_path / f"{name}.json").write_text(json.dumps({**data, **change}))
    (tmp_path / "text.json").write_text("not json")
    cases = {
        "schema1": "report schema 1; this convt-oracle reads schema 2",
        "interrupted": "an interrupted run (complete: false)",
        "text": "not JSON",
        "absent": "cannot read it",
    }
    for name, words in cases.items():
        path = str(tmp_path / f"{name}.json")
        status, _, err = gate_exit(capsys, paths["good"], path)
        assert status == 3 and f"candidate {path}: " in err and words in err, (name, err)
        status, _, err = gate_exit(capsys, path, paths["good"])
        assert status == 3 and f"baseline {path}: " in err, (name, err)


def test_a_diff_that_cannot_be_written_exits_3_before_reading(reports, tmp_path, capsys):
    paths, _ = reports
    status, out, err = gate_exit(capsys, paths["good"], paths["wrong"], "--json", str(tmp_path / "no" / "diff.json"))
    assert status == 3 and "--json: the folder of" in err and out == ""


def test_the_json_diff(reports, tmp_path, capsys):
    paths, made = reports
    diff = tmp_path / "diff.json"
    assert gate_exit(capsys, paths["good"], paths["wrong"], "--json", str(diff))[0] == 1
    data = json.loads(diff.read_text())
    assert list(data["counts"]) == list(G.CATEGORIES)
    failed = {r.case.id: r for r in made["wrong"].discrepancies}
    assert data["counts"]["new_failure"] == len(failed) == len(data["changes"])
    good = {r.case.id: r for r in made["good"].results}
    for change in data["changes"]:
        assert set(KEYS) <= set(change)
        old, new = good[change["case_id"]], failed[change["case_id"]]
        assert change["dtype"] == "float32" and change["check"] == "forward" and change["category"] == "new_failure"
        assert (change["baseline_outcome"], change["candidate_outcome"]) == (old.outcome, new.outcome)
        ratios = (change["baseline_bound_ratio"], change["candidate_bound_ratio"])  # strict JSON: inf as "inf"
        assert tuple(None if r is None else float(r) for r in ratios) == (old.max_bound_ratio, new.max_bound_ratio)
    assert data["baseline"]["environment"]["kernel_settings"] and data["candidate"]["environment"]["numpy"]
    assert data["ok"] is False and data["fail_on"] == list(G.DEFAULT_FAIL_ON)


# --- ::TARGET, from a real run of two targets --------------------------------------------------------------
@pytest.fixture(scope="module")
def two_targets(tmp_path_factory):
    """A real `convt-oracle run` of torch twice: in this interpreter's worker and under its path (NAME@PYTHON)."""
    pytest.importorskip("torch", reason="torch is not installed: no two-target run here")
    folder = tmp_path_factory.mktemp("two")
    path = folder / "run.json"
    other = f"torch@{sys.executable}"
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "article", "--targets",
                           f"torch,{other}", "--json", str(path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return str(path), other


def test_one_target_of_a_run_of_several(two_targets, capsys):
    path, other = two_targets
    result = G.gate(f"{path}::torch", f"{path}::{other}")
    assert result.pairs == (("torch", other),) and len(result.entries) == 3
    assert set(categories(result).values()) == {"unchanged"}
    # No warning: the same machine, settings and framework, in two interpreters.
    assert result.warnings == (), result.warnings
    assert gate_exit(capsys, f"{path}::torch", f"{path}::{other}")[0] == 0
    both = G.gate(path, path)  # without ::, the targets are paired by name
    assert both.pairs == (("torch", "torch"), (other, other)) and len(both.entries) == 6
    assert G.gate(f"{path}::torch", path).pairs == (("torch", "torch"),)  # the other side's name


def test_a_target_that_is_not_there_or_not_named_is_a_usage_error(two_targets, reports, capsys):
    path, other = two_targets
    status, _, err = gate_exit(capsys, f"{path}::tensorflow", path)
    assert status == 2 and f"no target 'tensorflow' in {path}; its targets: torch, {other}" in err
    good = reports[0]["good_article"]
    assert G.gate(good, f"{path}::torch").pairs == ((GOOD, "torch"),)  # each side is one target
    paired = G.gate(good, path)  # one target against two: paired by name, none shared
    assert paired.pairs == ((GOOD, None), ("torch", "torch"), (other, other))[:1] + ((None, "torch"), (None, other))
    assert {entry.category for entry in paired.entries} == {"missing_case", "new_case"}
    status, _, err = gate_exit(capsys, f"{good}::{GOOD}", path)
    assert status == 2 and f"candidate {path}: a run of several targets (torch, {other}); name one" in err


def test_a_target_that_did_not_run_cannot_be_gated(tmp_path, reports, capsys):
    path = tmp_path / "run.json"
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "smoke", "--targets",
                           f"onnx_reference@{sys.executable} -S", "--json", str(path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 3, done.stderr
    status, _, err = gate_exit(capsys, reports[0]["good"], str(path))
    assert status == 3 and f"candidate {path}: target onnx_reference@{sys.executable} -S did not run" in err


# --- what decides the kernels: recorded, and compared ------------------------------------------------------
def test_a_difference_in_what_decides_the_kernels_is_a_warning(reports, tmp_path, monkeypatch, capsys):
    paths, _ = reports
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = write(crosscheck(GOOD), tmp_path, "capped")
    result = G.gate(paths["good"], capped)
    assert result.warnings == (
        "kernels may differ (machine): variables.ONEDNN_MAX_CPU_ISA: baseline unset, candidate AVX2",
    )
    status, out, _ = gate_exit(capsys, paths["good"], capped)
    assert status == 0 and "warning: kernels may differ (machine): variables.ONEDNN_MAX_CPU_ISA" in out
    data = json.loads(open(capped).read())
    del data["environment"]["kernel_settings"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    (warning,) = G.gate(str(tmp_path / "old.json"), paths["good"]).warnings
    assert warning == "the baseline records no kernel settings (machine): whether the kernels differ is not known"


def _fresh_interpreter(code: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.framework("torch")
def test_a_run_records_what_torch_says_decides_its_kernels(monkeypatch):
    settings = {"ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    report = convt_oracle.crosscheck("torch", suite="article", isolate=True)
    machine = report.environment["kernel_settings"]
    assert {name: machine["variables"][name] for name in settings} == settings
    said = report.environment["target_kernels"]["torch"]["torch"]
    asked = _fresh_interpreter("import torch; print(torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(), "
                               "torch.backends.mkldnn.is_available())", settings)
    assert f"{said['cpu_capability']} {said['threads']} {said['mkldnn_available']}" == asked == "DEFAULT 1 True"
    assert said["cuda"] is False or "gpu" in said


@pytest.mark.framework("tensorflow")
def test_a_run_records_whether_tensorflow_runs_onednn(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    report = convt_oracle.crosscheck("tensorflow", suite="article", isolate=True)
    said = report.environment["target_kernels"]["tensorflow"]["tensorflow"]
    asked = _fresh_interpreter("from tensorflow.python.util import _pywrap_util_port as p; print(p.IsMklEnabled())",
                               {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert str(said["onednn"]) == asked == "True"
    assert report.environment["kernel_settings"]["variables"]["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_the_machine_record_names_the_cpu_and_its_isa():
    report = crosscheck(GOOD, suite="article")
    machine = report.environment["kernel_settings"]
    flags = set()
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    assert set(machine["cpu_isa"]) == flags & set(ISA_FLAGS)
    assert ("avx2" in flags) == ("avx2" in machine["cpu_isa"])
    assert machine["cpus"] == os.cpu_count() and machine["usable_cpus"] == len(os.sched_getaffinity(0))
