"""`Report.explain` and `convt-oracle explain`: groups of discrepancies, the features that set each apart (the
expected numbers counted here from the report's own cases, not by the code under test), shrinking, the
command's output and exit statuses. Real targets: wrong implementations from tests/support/targets.py run
on the default suite in float32."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from convt_oracle.compare import NOT_COMPARED, NOT_DISCREPANCIES
from convt_oracle.diagnosis import Diagnosis
from convt_oracle.harness.crosscheck import check_case, check_vjp, crosscheck
from convt_oracle.harness.explain import render_markdown, render_text, to_dict
from convt_oracle.harness.report import Known, Report
from support import targets as T

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def op_at_start() -> Report:
    """output_padding_at_start on the default suite: wrong on every valid case with output_padding > 0."""
    return crosscheck(T.output_padding_at_start, suite="default", dtypes=("float32",))


@pytest.fixture(scope="module")
def bias_twice() -> Report:
    """bias_twice on the default suite: wrong on every valid case with a bias."""
    return crosscheck(T.bias_twice, suite="default", dtypes=("float32",))


def compared(report: Report) -> list:
    return [r for r in report.results if r.outcome not in NOT_COMPARED]


def record(group, name):
    found = [f for f in group.features if f.name == name]
    assert found, f"{name!r} is not among the group's features: {[f.name for f in group.features]}"
    return found[0]


def explain_cli(*arguments, timeout=300):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "convt_oracle", "explain", *map(str, arguments)],
                          capture_output=True, text=True, timeout=timeout, env=env)


# --- grouping ---------------------------------------------------------------------------------------------


def test_the_mutants_premise_holds_on_the_default_suite(op_at_start, bias_twice):
    """What the feature tests below rely on, checked from the cases: each mutant fails only where its
    docstring says (not on every such case: an inf that swamps the bias, an output_padding row that the
    crop removes), and the suite has cases on both sides."""
    for report, exposed in ((op_at_start, lambda c: max(c.output_padding) > 0), (bias_twice, lambda c: c.bias)):
        wrong = [r for r in report.results if r.outcome not in NOT_DISCREPANCIES]
        assert wrong and all(exposed(r.case) for r in wrong)
        valid = [r for r in compared(report) if r.case.valid and exposed(r.case)]
        assert len(wrong) > 0.9 * len(valid)
        assert any(not exposed(r.case) for r in compared(report))


def test_groups_are_the_discrepancies_by_outcome_largest_first(op_at_start):
    groups = op_at_start.explain()
    wrong = [r for r in op_at_start.results if r.outcome not in NOT_DISCREPANCIES]
    expected = Counter((r.outcome, r.diagnosis.name) for r in wrong)
    assert {(g.outcome, g.diagnosis.name): g.count for g in groups} == dict(expected)
    assert [g.count for g in groups] == sorted(expected.values(), reverse=True)
    assert groups[0].diagnosis.name == "output_padding_at_front"
    for group in groups:
        ids = [r.case_id for r in wrong if (r.outcome, r.diagnosis.name) == (group.outcome, group.diagnosis.name)]
        assert group.case_ids == tuple(ids) and len(group.results) == group.count
        assert group.target == "support.targets:output_padding_at_start" and group.check == "forward"
        assert group.known == () and group.note == ""
        assert group.minimal_case is None and group.snippet == "" and group.shrink is None  # not asked to shrink


def test_output_padding_sets_the_output_padding_mutant_apart(op_at_start):
    """The largest group's best feature is output_padding > 0, with its counts over the compared cases."""
    group = op_at_start.explain()[0]
    population = compared(op_at_start)
    with_op = [r for r in population if max(r.case.output_padding) > 0]
    failing = [r for r in with_op if (r.outcome, r.diagnosis and r.diagnosis.name) == (group.outcome, group.diagnosis.name)]
    without = [r for r in population if max(r.case.output_padding) <= 0]  # an invalid case may have -1
    assert len(failing) == group.count  # every case of the group has output_padding > 0
    best = group.features[0]
    assert best.name == "output_padding > 0" and best.values == (True,)
    counts = {c.value: (c.failing, c.total) for c in best.counts}
    assert counts == {True: (group.count, len(with_op)), False: (0, len(without))}
    assert best.precision == pytest.approx(group.count / len(with_op)) and best.left_out == len(without)
    assert best.sentence.startswith(f"all {group.count} have output_padding > 0: {group.count} of {len(with_op)} ")
    assert best.sentence.endswith(f"0 of the {len(without)} with output_padding = 0")


def test_bias_sets_the_bias_mutant_apart(bias_twice):
    groups = bias_twice.explain()
    assert {g.outcome for g in groups} == {"value_mismatch"}  # bias adds no inf or NaN that was not there
    group = groups[0]
    population = compared(bias_twice)
    with_bias = [r for r in population if r.case.bias]
    no_bias = [r for r in population if not r.case.bias]
    bias = record(group, "bias")
    assert bias is group.features[0] and bias.values == (True,)
    assert {c.value: (c.failing, c.total) for c in bias.counts} == {True: (group.count, len(with_bias)),
                                                                     False: (0, len(no_bias))}
    assert f"0 of the {len(no_bias)} with no bias" in bias.sentence
    # a feature every value of which fails somewhere says nothing, and is not listed
    assert all(len(f.values) < len(f.counts) for f in group.features)
    assert "stride > 1" not in [f.name for f in group.features]


def test_a_multivalued_feature_names_the_values_and_a_combination_is_sharper(op_at_start):
    """The nonfinite group: values (nonfinite, nonfinite_weights) and output_padding > 0, each alone and
    together, counted from the cases."""
    group = next(g for g in op_at_start.explain() if g.outcome == "nonfinite_mismatch")
    values = record(group, "values")
    kinds = {r.case.values for r in group.results}
    assert values.values == tuple(sorted(kinds)) and kinds <= {"nonfinite", "nonfinite_weights"}
    population = compared(op_at_start)
    both = [r for r in population if r.case.values in kinds and max(r.case.output_padding) > 0]
    # The two features, and a third where it sets the group apart further (which, depends on the generated
    # cases: two cases with both fail as value mismatches instead, and a third feature then sharpens it).
    assert group.combined is not None and {"values", "output_padding > 0"} <= set(group.combined.names)
    assert group.combined.failing == group.count and group.combined.total <= len(both)
    assert len(both) < values.total and len(both) < record(group, "output_padding > 0").total
    assert f"0 of the other {len(population) - group.combined.total}" in group.combined.sentence


def test_known_findings_and_diagnoses_form_their_own_groups(bias_twice):
    """Results marked known (those with dilation > 1 here) and diagnosed (1-d ones) are grouped apart;
    a group's diagnosis is its first member's."""
    diagnosis = Diagnosis("bias_twice", {"factor": 2}, "the bias is added twice")
    results = []
    for result in bias_twice.results:
        if result.outcome in NOT_DISCREPANCIES:
            results.append(result)
            continue
        if max(result.case.dilation) > 1:
            result = dataclasses.replace(result, known=Known("finding-a", "a reason", "https://example.org/1"))
        result = dataclasses.replace(result, diagnosis=diagnosis if result.case.spatial_rank == 1 else None)
        results.append(result)
    report = dataclasses.replace(bias_twice, results=tuple(results))
    groups = report.explain()
    wrong = [r for r in results if r.outcome not in NOT_DISCREPANCIES]
    expected = Counter((max(r.case.dilation) > 1, r.case.spatial_rank == 1) for r in wrong)
    assert Counter({(bool(g.known), g.diagnosis is not None): g.count for g in groups}) == expected
    assert [g.count for g in groups] == sorted(expected.values(), reverse=True)
    for group in groups:
        assert group.known in ((), ("finding-a",))
        assert all((r.known is not None) == bool(group.known) for r in group.results)
        assert group.diagnosis in (None, diagnosis)
    text = render_text(groups, report)
    assert "diagnosis: bias_twice (factor=2): the bias is added twice" in text and "diagnosis: -" in text
    assert f"({sum(g.count for g in groups if g.known)} known)" in text and "(known: finding-a)" in text


def test_a_report_without_discrepancies_has_no_group(tmp_path):
    report = crosscheck(T.lax_reference, suite="default", max_cases=40)
    assert report.ok and report.explain() == []
    assert "no discrepancy to explain" in render_text([], report)
    path = tmp_path / "run.json"
    report.to_json(path)
    done = explain_cli(path)
    assert done.returncode == 0, done.stderr
    assert "0 discrepancies in 0 groups" in done.stdout and "no discrepancy to explain" in done.stdout


@pytest.mark.parametrize("options, message", [
    (dict(target="nope"), "target: 'nope' is not a target of the report; its targets: support.targets:bias_twice"),
    (dict(budget=0), "budget: got 0; expected a positive, finite number of seconds"),
    (dict(total_budget=float("inf")), "total_budget: got inf; expected a positive, finite number of seconds"),
    (dict(shrink="yes"), "shrink: got 'yes'; expected True or False"),
    (dict(progress=3), "progress: got int; expected a callable"),
], ids=["target", "budget", "total_budget", "shrink", "progress"])
def test_bad_arguments_are_named(bias_twice, options, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        bias_twice.explain(**options)


def test_the_renderings_carry_the_groups(op_at_start):
    groups = op_at_start.explain()
    data = json.loads(json.dumps(to_dict(groups, op_at_start, source="x.json")))
    assert [g["count"] for g in data["groups"]] == [g.count for g in groups]
    first = data["groups"][0]
    assert first["features"][0]["name"] == "output_padding > 0" and first["case_ids"] == list(groups[0].case_ids)
    assert first["minimal_case"] is None and first["snippet"] == ""
    assert first["diagnosis"]["name"] == "output_padding_at_front"
    markdown = render_markdown(groups, op_at_start, source="x.json")
    assert markdown.startswith(f"# convt-oracle explain: {sum(g.count for g in groups)} discrepancies in {len(groups)} groups")
    assert groups[0].features[0].sentence in markdown


# --- the command ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_targets(op_at_start, bias_twice, tmp_path_factory) -> Path:
    """One run report of both mutants, written as `convt-oracle run --json` writes one."""
    report = dataclasses.replace(op_at_start, results=op_at_start.results + bias_twice.results,
                                 targets=op_at_start.targets + bias_twice.targets)
    path = tmp_path_factory.mktemp("explain") / "run.json"
    report.to_json(path)
    return path


def test_the_command_explains_a_run_report_and_writes_json_and_markdown(two_targets, tmp_path, op_at_start,
                                                                       bias_twice):
    out, md = tmp_path / "groups.json", tmp_path / "groups.md"
    done = explain_cli(two_targets, "--no-shrink", "--json", out, "--markdown", md)
    assert done.returncode == 0, done.stderr  # discrepancies explained: 0, not 1
    wrong = [r for r in op_at_start.results + bias_twice.results if r.outcome not in NOT_DISCREPANCIES]
    keys = {(r.target, r.outcome, r.diagnosis.name) for r in wrong}
    assert f"{len(wrong)} discrepancies in {len(keys)} groups" in done.stdout
    assert "1. support.targets:bias_twice  forward  value_mismatch" in done.stdout
    mismatches = sum(r.outcome == "value_mismatch" and r.diagnosis.name == "output_padding_at_front"
                     for r in op_at_start.results)
    assert f"all {mismatches} have output_padding > 0: " in done.stdout
    assert "not shrunk" not in done.stdout and "reproducer" not in done.stdout  # --no-shrink: nothing started
    data = json.loads(out.read_text())
    assert sum(g["count"] for g in data["groups"]) == len(wrong) and data["source"] == str(two_targets)
    assert md.read_text().startswith("# convt-oracle explain:")


def test_target_selects_one_target_and_an_unknown_one_is_a_usage_error(two_targets, bias_twice):
    done = explain_cli(two_targets, "--no-shrink", "--target", "support.targets:bias_twice")
    assert done.returncode == 0, done.stderr
    count = sum(r.outcome not in NOT_DISCREPANCIES for r in bias_twice.results)
    assert f"{count} discrepancies in 1 group" in done.stdout and "output_padding_at_start" not in done.stdout
    done = explain_cli(two_targets, "--no-shrink", "--target", "torch")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert ("--target: 'torch' is not a target of" in done.stderr
            and "its targets: support.targets:output_padding_at_start, support.targets:bias_twice" in done.stderr)


@pytest.mark.parametrize("arguments, status, words", [
    (["--budget", "0"], 2, "--budget: got 0; expected a positive, finite number of seconds"),
    (["--total-budget", "nan"], 2, "--total-budget: got nan; expected a positive, finite number of seconds"),
    (["--budget", "x"], 2, "--budget: invalid float value: 'x'"),
    (["--json", "/no/such/folder/out.json"], 3, "--json: the folder of '/no/such/folder/out.json'"),
], ids=["budget", "total-budget", "not-a-number", "unwritable"])
def test_bad_options_exit_with_the_option_named(two_targets, arguments, status, words):
    done = explain_cli(two_targets, "--no-shrink", *arguments)
    assert done.returncode == status, (done.stdout, done.stderr)
    assert words in done.stderr, done.stderr


def test_a_file_that_is_not_a_run_report_exits_3(tmp_path):
    not_a_report = tmp_path / "other.json"
    not_a_report.write_text(json.dumps({"counts": {}}))
    done = explain_cli(not_a_report)
    assert done.returncode == 3 and f"{not_a_report}: not a convt-oracle run report" in done.stderr, done.stderr
    done = explain_cli(tmp_path / "missing.json")
    assert done.returncode == 3 and "cannot read it" in done.stderr, done.stderr


# --- shrinking --------------------------------------------------------------------------------------------


def _fails_the_same_way(target, group, case):
    check = check_case if group.check == "forward" else check_vjp
    return check(target, case, "again").outcome == group.outcome


def test_shrinking_in_process_gives_a_smaller_case_that_fails_the_same_way(op_at_start):
    lines = []
    groups = op_at_start.explain(shrink=True, budget=5, progress=lines.append)
    assert len(lines) == len(groups)
    for group in groups:
        assert group.minimal_case is not None, group.note
        size = lambda case: math.prod(case.x_shape) + math.prod(case.w_shape)  # noqa: E731
        assert size(group.minimal_case) <= size(group.smallest_case)
        assert max(group.minimal_case.output_padding) > 0  # the mutant is right without it
        assert _fails_the_same_way(T.output_padding_at_start, group, group.minimal_case)
        assert group.snippet and group.shrink.case == group.minimal_case
    text = render_text(groups, op_at_start)
    assert f"minimal case: {groups[0].minimal_case.id}" in text and "reproducer:" in text


def test_shrinking_stops_at_the_total_budget(bias_twice):
    groups = bias_twice.explain(shrink=True, total_budget=0.5)  # under MIN_SHRINK_SECONDS: nothing is shrunk
    assert groups and all(g.minimal_case is None and "the total budget of 0.5 s was spent" in g.note for g in groups)


def test_a_loaded_report_is_shrunk_on_a_worker_from_the_command(two_targets):
    done = explain_cli(two_targets, "--target", "support.targets:bias_twice", "--budget", "5")
    assert done.returncode == 0, done.stderr
    assert "minimal case: " in done.stdout and "reproducer:" in done.stdout, done.stdout
    assert "shrinking 1/1: support.targets:bias_twice" in done.stderr


def test_a_target_that_cannot_be_started_again_is_said_in_the_note(tmp_path):
    report = crosscheck(lambda x, w, bias=None, **params: T.bias_twice(x, w, bias, **params), suite="edge")
    report.to_json(tmp_path / "run.json")
    groups = Report.load(tmp_path / "run.json").explain(shrink=True, budget=2)
    assert groups and all(g.minimal_case is None and "not shrunk: no worker for" in g.note for g in groups)


def two_errors(x, w, bias=None, **params):
    """A target that raises a ValueError on output_padding and a TypeError on groups, else computes right."""
    if max(params["output_padding"]) > 0:
        raise ValueError("output_padding is not implemented")
    if params["groups"] > 1:
        raise TypeError("groups are not implemented")
    return T.lax_reference(x, w, bias, **params)


def test_raised_results_are_grouped_and_shrunk_by_their_exception():
    """Two exceptions, two groups: each named by its type, and each shrunk case still raises that one."""
    report = crosscheck(two_errors, suite="default", dtypes=("float32",), seed=0, max_cases=300)
    raised = [r for r in report.results if r.outcome == "raised"]
    expected = Counter(r.detail.split(":")[0] for r in raised)
    assert set(expected) == {"ValueError", "TypeError"}
    groups = [g for g in report.explain(shrink=True, budget=5) if g.outcome == "raised"]
    assert {g.diagnosis_name: g.count for g in groups} == dict(expected)
    for group in groups:
        assert all(r.detail.startswith(group.diagnosis_name + ":") for r in group.results)
        again = check_case(two_errors, group.minimal_case, "again")
        assert again.outcome == "raised" and again.detail.startswith(group.diagnosis_name + ":"), again.detail
    assert "raised ValueError" in render_text(groups, report)
