"""`convt-oracle run` as a user meets it: exit codes (0 no discrepancy, 1 new discrepancies, 2 usage error), the
outcome table, the JSON report, and the workers' output kept out of the report. Real adapters (onnxruntime,
the quickest to start) in real worker processes; skipped, saying so, without them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None


def run(*arguments, timeout=300):
    return subprocess.run([sys.executable, "-m", "convt_oracle", "run", *arguments], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize(
    "arguments, words",
    [
        (["--suite", "nope"], "--suite: unknown 'nope'; known suites:"),
        (["--targets", "nope"], "--targets: unknown adapter 'nope'; known adapters:"),
        (["--targets", ","], "--targets: got ','"),
        (["--targets", "onnxruntime,onnxruntime"], "--targets: onnxruntime given twice"),
        (["--targets", "torch@/no/such/python"], "no interpreter '/no/such/python'"),
        (["--dtypes", "float8"], "--dtypes: unknown 'float8'; known dtypes:"),
        (["--timeout", "0"], "--timeout: got 0; a case needs a positive, finite number of seconds"),
        (["--seed", "x"], "--seed: invalid int value"),
    ],
    ids=["suite", "target", "no-target", "twice", "interpreter", "dtype", "timeout", "seed"],
)
def test_a_usage_error_exits_2_naming_the_argument(arguments, words):
    done = run(*arguments)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert words in done.stderr, done.stderr


@pytest.mark.skipif(not ONNXRUNTIME, reason="onnxruntime is not installed: no real adapter to run here")
def test_no_discrepancy_exits_0_with_the_table_and_a_json_report(tmp_path):
    report = tmp_path / "run.json"
    logs = tmp_path / "logs"
    done = run("--suite", "article", "--targets", "onnxruntime", "--json", str(report), "--worker-logs", str(logs))
    assert done.returncode == 0, done.stderr
    assert "target" in done.stdout and "onnxruntime" in done.stdout and "OK: no discrepancy" in done.stdout
    data = json.loads(report.read_text())
    assert data["ok"] is True and data["seed"] == 0 and data["suite"] == "article"
    assert data["environment"]["frameworks"]["onnxruntime"] and data["complete"] is True and data["compared"] == 3
    assert {"python", "platform", "cpu", "numpy"} <= set(data["environment"])
    assert len(data["results"]) == 3 and all(r["case"] and r["outcome"] == "pass" for r in data["results"])
    assert (logs / "onnxruntime.log").exists()  # the worker's own output, not the report's


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx is not installed: no onnx.reference here")
def test_discrepancies_exit_1_and_are_listed():
    """onnx.reference computes a result for invalid attributes (README, Findings): on the `invalid` suite
    that is `accepted_invalid`, a discrepancy; without the known findings (which explain it:
    tests/test_known.py) it is a new one."""
    done = run("--suite", "invalid", "--targets", "onnx_reference", "--known", "none")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "accepted_invalid" in done.stdout and "discrepancies" in done.stdout, done.stdout
