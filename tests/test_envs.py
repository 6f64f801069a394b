"""`convt-oracle env DIR FRAMEWORK==VERSION` (convt_oracle.harness.envs): bad input refused before anything is made
(exit 2), torch's CPU build taken from this machine where pip finds one and PyPI's CUDA build refused with its
download size, and a real environment made with uv from PyPI (onnxruntime 1.17.3, the oldest of the declared
range: about 10 s, 45 MB) that `convt-oracle run` then runs as onnxruntime@DIR/bin/python.

The index is PyPI, reached for real; where it cannot be reached the tests that need it are skipped, saying so.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from convt_oracle.harness import cli, envs

OLDEST_ONNXRUNTIME = "1.17.3"  # pyproject.toml: onnxruntime>=1.17; the oldest with a wheel for Python 3.11


@pytest.fixture(scope="module")
def index():
    found = envs.PackageIndex()
    if found.files("onnxruntime") is None:
        pytest.skip(f"PyPI's index ({envs.PYPI_SIMPLE}) cannot be reached from here")
    return found


def env(*arguments, capsys):
    status = cli.main(["env", *map(str, arguments)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("requirement, words", [
    ("tensorflo==2.1", "FRAMEWORK==VERSION: unknown framework 'tensorflo' in 'tensorflo==2.1'; expected FRAMEWORK==VERSION, "
                       "FRAMEWORK one of torch, tensorflow, tensorflow-cpu, jax, onnxruntime, onnx, keras"),
    ("onnxruntime", "FRAMEWORK==VERSION: got 'onnxruntime'; expected FRAMEWORK==VERSION"),
    ("onnxruntime>=1.17", "FRAMEWORK==VERSION: got 'onnxruntime>=1.17'; expected FRAMEWORK==VERSION"),
    ("onnxruntime==1.17.*", "one exact version"),
    ("onnxruntime==", "FRAMEWORK==VERSION: got 'onnxruntime=='"),
])
def test_a_requirement_that_is_not_framework_eq_version_is_a_usage_error(requirement, words, tmp_path, capsys):
    status, out, err = env(tmp_path / "env", requirement, "--dry-run", capsys=capsys)
    assert status == 2 and words in err and not out, err
    assert not (tmp_path / "env").exists()


def test_a_folder_that_is_not_empty_and_a_backend_for_another_framework_are_usage_errors(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    status, _, err = env(tmp_path, f"onnxruntime=={OLDEST_ONNXRUNTIME}", capsys=capsys)
    assert status == 2 and f"DIR: {tmp_path} exists and is not an empty folder" in err
    status, _, err = env(tmp_path / "env", f"onnxruntime=={OLDEST_ONNXRUNTIME}", "--backend", "jax", capsys=capsys)
    assert status == 2 and "--backend: got 'jax' for onnxruntime; it chooses the backend of keras only" in err
    status, _, err = env(tmp_path / "env", "keras==3.0.0", "--backend", "mxnet", capsys=capsys)
    assert status == 2 and "--backend: got 'mxnet'; expected one of jax, torch, tensorflow" in err


def test_a_version_pypi_does_not_have_is_a_usage_error_with_the_latest_ones(index, tmp_path, capsys):
    status, _, err = env(tmp_path / "env", "onnxruntime==0.0.1", capsys=capsys)
    assert status == 2 and "FRAMEWORK==VERSION: PyPI has no onnxruntime 0.0.1 (its latest releases: " in err, err


def test_keras_gets_its_backend_and_the_adapter_of_that_backend(index, tmp_path, capsys):
    folder = tmp_path / "env"
    status, out, err = env(folder, "keras==3.0.0", "--dry-run", capsys=capsys)
    assert status == 0 and out.split() == [f"keras-jax@{folder}/bin/python"], (out, err)
    assert "installs: keras==3.0.0 jax jaxlib numpy>=1.24 ml_dtypes>=0.3" in err
    assert "with its dependencies as of 2023-12-05 (a week after its release)" in err  # keras 3.0.0: 2023-11-28
    status, out, err = env(folder, "keras==3.0.0", "--backend", "tensorflow==2.15.0", "--dry-run", capsys=capsys)
    assert status == 0 and out.split() == [f"keras-tensorflow@{folder}/bin/python"], (out, err)
    assert f"keras==3.0.0 {envs.FRAMEWORKS['tensorflow'].distribution}==2.15.0" in err
    assert not folder.exists()  # --dry-run makes nothing


# --- torch: its CPU build, or the CUDA build's size said first -------------------------------------------------
def local_cpu_torch_wheels() -> list[str]:
    """The CPU builds of torch in pip's find-links folders (pip's own configuration), read apart from envs."""
    shown = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    folders = [value.strip("'\"") for line in shown.splitlines() if ".find-links=" in line
               for value in line.partition("=")[2].split()]
    folders += os.environ.get("PIP_FIND_LINKS", "").split()
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return sorted({path for folder in folders for path in glob.glob(os.path.join(folder, f"torch-*+cpu-{tag}-*.whl"))})


def test_torch_comes_from_a_cpu_wheel_on_this_machine_where_pip_finds_one(tmp_path, capsys):
    wheels = local_cpu_torch_wheels()
    if not wheels:
        pytest.skip("no CPU build of torch in pip's find-links on this machine")
    version = os.path.basename(wheels[-1]).split("-")[1].partition("+")[0]
    status, out, err = env(tmp_path / "env", f"torch=={version}", "--dry-run", capsys=capsys)
    assert status == 0, err
    assert out.split() == [f"{name}@{tmp_path / 'env'}/bin/python" for name in ("torch", "torch-channels-last", "torch-cuda", "torch-cuda-tf32")]
    assert f"installs: {wheels[-1]} numpy>=1.24 ml_dtypes>=0.3" in err
    assert "a wheel on this machine (found by pip's configuration), not PyPI's CUDA build" in err


def test_pypi_s_cuda_build_of_torch_is_refused_with_its_download_size(index, tmp_path, capsys):
    """The newest torch on PyPI, unless a CPU build of it lies here: on Linux x86_64 PyPI's wheel is the CUDA
    build; env says how much that is and makes nothing without --accept-cuda-build."""
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        pytest.skip("PyPI's torch is its CUDA build on Linux x86_64 only")
    versions = {envs._file_version(f["filename"]) for f in index.files("torch")}
    newest = str(max(v for v in versions if v is not None and not v.is_prerelease))
    if any(os.path.basename(w).startswith(f"torch-{newest}+") for w in local_cpu_torch_wheels()):
        pytest.skip(f"a CPU build of torch {newest} lies on this machine")
    status, out, err = env(tmp_path / "env", f"torch=={newest}", capsys=capsys)
    print(err)
    assert status == 2 and not out and not (tmp_path / "env").exists()
    assert f"torch: no CPU build of torch=={newest} on this machine (pip's find-links); PyPI's is its CUDA build: " in err
    said = err[err.index("PyPI's is its CUDA build: "):]
    assert " for torch and " in said and " CUDA libraries " in said and "nvidia-" in said and " GB to download" in said
    assert float(said.split(" GB to download")[0].rpartition(", ")[2]) > 1  # several GB: torch and its CUDA stack
    assert "Pass --accept-cuda-build to install it" in err


# --- a real environment, then a real run in it ---------------------------------------------------------------
@pytest.fixture(scope="module")
def onnxruntime_env(index, tmp_path_factory) -> tuple[str, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("env") / "onnxruntime"
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "env", str(folder), f"onnxruntime=={OLDEST_ONNXRUNTIME}"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout, done.stderr[-3000:])
    return str(folder), done


def test_env_makes_the_environment_and_prints_the_target_to_use(onnxruntime_env):
    folder, done = onnxruntime_env
    python = os.path.join(folder, "bin", "python")
    assert done.stdout.split() == [f"onnxruntime@{python}"]
    assert f"checked: onnxruntime@{python} runs" in done.stderr
    versions = subprocess.run([python, "-c", "import importlib.metadata as m, json; print(json.dumps({name: m.version(name) "
                               "for name in ('onnxruntime', 'onnx', 'numpy', 'ml_dtypes')}))"],
                              capture_output=True, text=True, check=True)
    found = json.loads(versions.stdout)
    print(f"made with uv: {found}")
    assert found["onnxruntime"] == OLDEST_ONNXRUNTIME
    assert int(found["numpy"].split(".")[0]) < 2  # of its time: onnxruntime 1.17 was built against numpy 1.x


def test_a_run_on_the_new_environment_agrees_with_this_one(onnxruntime_env, tmp_path):
    """Inside ONNX's documented domain (output_padding < stride) both runtimes give the same outcome on every
    smoke case; outside it the current one refuses and 1.17.3 answers (tests/test_adapter_onnx.py's oldest
    runtime test says what of), so there the outcomes may differ and the run may find discrepancies."""
    folder, _ = onnxruntime_env
    target = f"onnxruntime@{folder}/bin/python"
    report = tmp_path / "run.json"
    done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "smoke", "--targets",
                           f"onnxruntime,{target}", "--json", str(report)], capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), (done.returncode, done.stdout[-3000:], done.stderr[-3000:])
    data = json.loads(report.read_text())
    assert data["environment"]["frameworks"][target] == OLDEST_ONNXRUNTIME and not data["targets_not_run"]
    outcomes = {}
    for result in data["results"]:
        outcomes.setdefault(result["case_id"], {})[result["target"]] = result["outcome"]
    inside = {case_id: pair for case_id, pair in outcomes.items() if pair["onnxruntime"] != "refused"}
    assert len(inside) >= len(outcomes) // 2 and all(len(pair) == 2 for pair in outcomes.values())
    assert all(len(set(pair.values())) == 1 for pair in inside.values()), inside
    assert sum(pair[target] == "pass" for pair in outcomes.values()) >= len(outcomes) // 2
