"""`convt-oracle run` when things go wrong around it: signals, report paths that cannot be written, targets
whose environment cannot run them, runs that compare nothing, and a machine whose cores are busy. Each
failure has its own exit status and one clear line; the results finished before an interruption are kept.

The runs are real (`python -m convt_oracle run` in a subprocess, real adapters in real workers); a target
whose framework is missing is skipped, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest

ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
needs_onnxruntime = pytest.mark.skipif(not ONNXRUNTIME, reason="onnxruntime and onnx are not installed: no quick adapter to run")


def command(*arguments) -> list[str]:
    return [sys.executable, "-m", "convt_oracle", "run", *arguments]


def run(*arguments, timeout=600, env=None):
    return subprocess.run(command(*arguments), capture_output=True, text=True, timeout=timeout, env=env)


# --- report paths: checked before anything runs, exit 3 ---------------------------------------------------------


@pytest.mark.parametrize("where", ["folder", "missing-folder", "unwritable-folder"])
def test_a_report_that_cannot_be_written_is_one_line_and_exit_3_before_any_case(tmp_path, where):
    path = {
        "folder": tmp_path,
        "missing-folder": tmp_path / "no" / "such" / "run.json",
        "unwritable-folder": "/proc/convt-oracle-run.json",
    }[where]
    done = run("--suite", "article", "--targets", "onnx_reference", "--json", str(path))
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.strip().count("\n") == 0 and "--json" in done.stderr, done.stderr
    assert "convt-oracle run: suite" not in done.stdout  # refused before the run began


def test_worker_logs_that_cannot_be_written_are_one_line_and_exit_3():
    done = run("--suite", "article", "--targets", "onnx_reference", "--worker-logs", "/proc/convt-oracle-logs")
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.strip().count("\n") == 0 and "--worker-logs" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("timeout", ["inf", "nan", "-1"])
def test_a_timeout_that_is_not_a_positive_finite_number_is_a_usage_error(timeout):
    done = run("--suite", "article", "--targets", "onnx_reference", "--timeout", timeout)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "--timeout" in done.stderr and "Traceback" not in done.stderr


def test_an_error_of_convt_oracle_itself_is_exit_4_never_the_status_of_a_finding(monkeypatch, capsys):
    """A bug of ours, stood in for by a command that raises: its traceback and status 4, which `make run`
    does not accept (it accepts 1, the status of the targets' findings)."""
    from convt_oracle.harness import cli

    def broken(parser, args):
        raise RuntimeError("a bug of convt-oracle")

    monkeypatch.setattr(cli, "_dispatch", broken)
    assert cli.main(["adapters"]) == 4
    err = capsys.readouterr().err
    assert "RuntimeError: a bug of convt-oracle" in err and "internal error" in err


@needs_onnxruntime
def test_the_report_is_written_atomically(tmp_path):
    report = tmp_path / "run.json"
    report.write_text("an earlier report")
    report.chmod(0o640)
    earlier = report.stat()
    done = run("--suite", "article", "--targets", "onnxruntime", "--json", str(report))
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["complete"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left beside it
    now = report.stat()
    assert now.st_ino != earlier.st_ino  # a new file renamed over the old one, not the old one rewritten
    assert now.st_mode == earlier.st_mode  # with the mode the report had


# --- nothing compared: exit 5, never OK ----------------------------------------------------------------------------


@needs_onnxruntime
def test_a_run_that_compares_nothing_says_so_and_exits_5(tmp_path):
    """onnxruntime has no float64 kernel on the CPU: every case is refused (outside its documented domain)."""
    report = tmp_path / "run.json"
    done = run("--suite", "article", "--targets", "onnxruntime", "--dtypes", "float64", "--json", str(report))
    assert done.returncode == 5, (done.returncode, done.stdout, done.stderr)
    assert "nothing was compared" in done.stdout and "OK" not in done.stdout
    data = json.loads(report.read_text())
    assert data["compared"] == 0 and data["verdict"].startswith("nothing was compared")
    assert {r["outcome"] for r in data["results"]} == {"refused"} and "NOT_IMPLEMENTED" in data["results"][0]["detail"]


# --- environments that cannot run a target: not run, one line, exit 3 ------------------------------------------------


def shadowing(tmp_path, module: str) -> str:
    """An interpreter command whose environment cannot import `module` (a package of that name that raises
    ImportError shadows it), otherwise this environment."""
    folder = tmp_path / "shadow" / module
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(f"raise ImportError(\"No module named '{module}'\")\n")
    return f"env PYTHONPATH={tmp_path / 'shadow'} {sys.executable}"


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed")
def test_an_onnxruntime_environment_without_onnx_is_not_run_saying_so(tmp_path):
    report = tmp_path / "run.json"
    done = run("--suite", "article", "--targets", f"onnxruntime@{shadowing(tmp_path, 'onnx')}", "--json", str(report))
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    data = json.loads(report.read_text())
    ((label, reason),) = data["targets_not_run"].items()
    assert label.startswith("onnxruntime@") and "onnx" in reason and "install onnx" in reason, reason
    assert data["results"] == []  # no `crash` or `raised` per case
    assert "not run: " in done.stdout and "OK" not in done.stdout


def test_an_interpreter_without_numpy_is_not_run_saying_so(tmp_path):
    report = tmp_path / "run.json"
    done = run("--suite", "article", "--targets", f"onnx_reference@{sys.executable} -S", "--json", str(report))
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    data = json.loads(report.read_text())
    (reason,) = data["targets_not_run"].values()
    assert "No module named 'numpy'" in reason and "a worker needs numpy" in reason, reason
    assert data["results"] == []


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_a_device_variant_without_its_device_is_not_run_with_the_framework_s_words(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA device here")
    report = tmp_path / "run.json"
    done = run("--suite", "article", "--targets", "torch-cuda", "--json", str(report))
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    (reason,) = json.loads(report.read_text())["targets_not_run"].values()
    assert "sees no CUDA device" in reason


# --- signals: the results so far, complete false, 128 + the signal, never OK -------------------------------------------


@needs_onnxruntime
@pytest.mark.parametrize("name, to_group", [("SIGTERM", False), ("SIGHUP", False), ("SIGINT", True)])
def test_a_signal_part_way_writes_the_results_so_far(tmp_path, name, to_group):
    """onnxruntime on the default suite takes over a minute (a session per case); the signal comes once the
    run reports its first quarter done. SIGINT goes to the whole process group, as Ctrl-C in a terminal
    sends it: the worker is in that group too, and its end is not a crash."""
    from convt_oracle.cases import suites

    report = tmp_path / "run.json"
    process = subprocess.Popen(
        command("--suite", "default", "--targets", "onnxruntime", "--json", str(report)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    seen = []
    for line in process.stderr:  # the progress lines: "  onnxruntime: DONE/TOTAL" at each quarter
        seen.append(line)
        if line.startswith("  onnxruntime: "):
            break
    assert process.poll() is None, (seen, process.communicate())
    number = getattr(signal, name)
    if to_group:
        os.killpg(process.pid, number)
    else:
        process.send_signal(number)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + number, (process.returncode, stdout[-2000:], stderr[-2000:])
    assert "OK" not in stdout and "INTERRUPTED" in stdout
    data = json.loads(report.read_text())
    assert data["complete"] is False and data["environment"]["interrupted_by"] == name
    # no crash but those of the known findings (onnxruntime's segfault on an empty 3-d input is in the suite)
    outcomes = {r["outcome"] for r in data["results"] if not r["known"]}
    cases = len(suites.select("default", ("float32",), seed=0))
    assert 0 < len(data["results"]) < cases and outcomes <= {"pass", "unsupported", "refused"}, outcomes


# --- a busy machine: every target still starts ---------------------------------------------------------------------


def test_every_installed_target_runs_while_the_cores_are_busy(tmp_path):
    """Two CPU-bound processes hold both cores while every installed adapter's worker starts and runs the
    smoke suite: no target is left without results, none is `not run`, no result is a crash."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        report = tmp_path / "run.json"
        done = run("--suite", "smoke", "--json", str(report), timeout=1500)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert done.returncode in (0, 1), (done.returncode, done.stdout[-3000:], done.stderr[-3000:])
    data = json.loads(report.read_text())
    assert data["targets_not_run"] == {} and data["complete"] is True
    assert {r["target"] for r in data["results"]} == set(data["targets"])
    assert not [r["case_id"] for r in data["results"] if r["outcome"] == "crash"]
