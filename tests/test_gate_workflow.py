"""The upgrade-gate workflow (ci/upgrade-gate.yml), its steps run here in order, as GitHub Actions would run
them, on the smoke suite: not GitHub itself, but every `run:` step of every job, with the workflow's
expressions filled in, its matrix expanded, and $GITHUB_OUTPUT / $GITHUB_STEP_SUMMARY honoured.

Steps that `uses:` an action (checkout, setup-python, the artifacts) and the install steps are what GitHub
provides: here the checkout is this one, convt-oracle is installed, and every job shares one folder, which
is what the artifacts carry between jobs. Both versions are this environment's (OLD_PYTHON, NEW_PYTHON:
ci/gate.sh's way of gating existing interpreters), so the gate must find nothing changed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml (the dev extra) reads the workflow")

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "ci" / "upgrade-gate.yml"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def _evaluate(expression: str, context: dict):
    """The value of one of the workflow's expressions: a dotted path into `context`, or fromJSON(path)."""
    wrapped = re.fullmatch(r"fromJSON\((.+)\)", expression)
    value = context
    for part in (wrapped.group(1) if wrapped else expression).split("."):
        value = value[part]
    return json.loads(value) if wrapped else value


def _fill(text: str, context: dict) -> str:
    return EXPRESSION.sub(lambda match: str(_evaluate(match.group(1), context)), text)


def _run_job(job: dict, context: dict, environment: dict, folder: Path) -> tuple[dict, int]:
    """Run a job's `run:` steps in `folder`: ({step id: its outputs}, the exit status of the first step that
    failed, or 0)."""
    steps = {}
    for step in job["steps"]:
        if "run" not in step or step.get("name", "").startswith("Install"):
            continue
        output = folder / "github-output"
        output.write_text("")
        env = {**environment, "GITHUB_OUTPUT": str(output)}
        done = subprocess.run(["bash", "-e", "-c", _fill(step["run"], {**context, "steps": steps})],
                              cwd=folder, env=env, capture_output=True, text=True, timeout=900)
        print(f"--- {step.get('name', step['run'][:40])}: exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        if done.returncode != 0:
            return steps, done.returncode
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        steps[step.get("id", step.get("name", ""))] = {"outputs": outputs}
    return steps, 0


def test_the_workflow_s_steps_gate_a_framework_against_itself_on_the_smoke_suite(tmp_path):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs = workflow["jobs"]
    assert list(jobs) == ["plan", "shard", "gate"] and jobs["shard"]["needs"] == "plan" and jobs["gate"]["needs"] == "shard"
    # `on:` reads as True in YAML 1.1; the inputs the issue asks for
    inputs = {name: spec.get("default", "") for name, spec in workflow[True]["workflow_dispatch"]["inputs"].items()}
    assert {"framework", "old", "new", "suite", "shards"} <= set(inputs)
    inputs.update(framework="onnxruntime", old="this", new="this", suite="smoke", shards="2")
    context = {"inputs": inputs}
    (tmp_path / "ci").symlink_to(ROOT / "ci")  # the checkout's scripts, run from the job's folder
    summary = tmp_path / "summary.md"
    environment = {
        **os.environ,
        **{key: _fill(str(value), context) for key, value in workflow["env"].items()},
        "GITHUB_STEP_SUMMARY": str(summary),
        "OLD_PYTHON": sys.executable, "NEW_PYTHON": sys.executable,
        "CONVT_ORACLE": f"{sys.executable} -m convt_oracle",
    }

    steps, status = _run_job(jobs["plan"], context, environment, tmp_path)
    assert status == 0
    context["needs"] = {"plan": {"outputs": {"shards": steps["shards"]["outputs"]["list"]}}}
    shards = _evaluate(jobs["shard"]["strategy"]["matrix"]["shard"].strip("${} "), context)
    assert shards == [1, 2]
    for shard in shards:
        _, status = _run_job(jobs["shard"], {**context, "matrix": {"shard": shard}}, environment, tmp_path)
        assert status == 0
    steps, status = _run_job(jobs["gate"], context, environment, tmp_path)

    assert status == 0, "the gate of a framework against itself found a regression"
    out = tmp_path / "gate-out"
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["new-1.json", "new-2.json", "old-1.json", "old-2.json"]
    gate = json.loads((out / "gate.json").read_text())
    smoke = json.loads((out / "old.json").read_text())["results"]
    assert smoke and set(gate["counts"]) >= {"unchanged"}
    assert gate["counts"]["unchanged"] == len(smoke) and not gate["changes"]
    assert (out / "gate.xml").read_text().startswith("<?xml") and "<html" in (out / "gate.html").read_text().lower()
    assert summary.read_text().strip(), "the gate's Markdown did not reach the job summary"
    for name in ("old.json", "new.json", "gate.json", "gate.xml", "gate.html"):  # the artifact's paths exist
        assert f"gate-out/{name}" in WORKFLOW.read_text() and (out / name).exists()


def test_gate_sh_without_a_step_or_a_framework_is_a_usage_error(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "ci" / "gate.sh")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "ci/gate.sh FRAMEWORK OLD NEW" in done.stderr
    done = subprocess.run(["bash", str(ROOT / "ci" / "gate.sh"), "shard"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
