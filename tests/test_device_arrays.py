"""crosscheck(..., array=, device=, out=): targets called with torch or jax arrays (real frameworks, on the
CPU here), targets that write into a prefilled out= buffer, the rules' errors, and their reproducers
(convt_oracle.harness.arrays)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convt_oracle import Tolerance
from convt_oracle.cases import suites
from convt_oracle.cases.model import make_case
from convt_oracle.harness.arrays import ArrayTarget, wrap
from convt_oracle.harness.crosscheck import crosscheck
from convt_oracle.harness.reproducers import snippet
from support import targets as T

torch = pytest.importorskip("torch")
DTYPES = ("float32", "float16", "bfloat16", "float64")
TESTS = Path(__file__).parent


def _counts(report) -> dict:
    (counts,) = report.counts().values()
    return {outcome: count for outcome, count in counts.items() if count}


def _finite(suite):
    """The cases of a suite whose values are finite (torch autograd's own handling of inf and NaN is a finding
    of its own, README: Findings)."""
    return [case for case in suites.get(suite) if "nonfinite" not in case.values]


# --- torch and jax arrays in and out ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_torch_target_on_the_cpu_is_called_with_tensors_and_passes(dtype):
    report = crosscheck(T.torch_tensors, suite="smoke", array="torch", device="cpu", dtypes=(dtype,))
    assert report.ok and _counts(report) == {"pass": len(report.results)}, report.summary()
    assert report.environment["target_arrays"] == {
        "support.targets:torch_tensors": {"array": "torch", "device": "cpu", "out": False, "version": torch.__version__}
    }


def test_a_torch_target_s_vjp_takes_and_returns_tensors():
    report = crosscheck(T.torch_tensors, suite=_finite("smoke"), array="torch", grad=True)
    vjp = [r for r in report.results if r.check == "vjp"]
    assert report.ok and len(vjp) >= 25 and {r.outcome for r in vjp} == {"pass"}, report.summary()


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_jax_target_is_called_with_jax_arrays_and_passes(dtype):
    pytest.importorskip("jax")
    report = crosscheck(T.jax_arrays, suite="smoke", array="jax", dtypes=(dtype,))
    assert report.ok and _counts(report) == {"pass": len(report.results)}, report.summary()
    assert report.environment["target_arrays"]["support.targets:jax_arrays"]["device"] == "cpu"


def test_numpy_on_the_cpu_is_the_target_itself():
    assert wrap(T.lax_reference) is T.lax_reference
    assert wrap(T.lax_reference, device="cpu") is T.lax_reference
    report = crosscheck(T.lax_reference, suite="smoke", max_cases=3)
    assert "target_arrays" not in report.environment


def jax_returns_numpy(x, w, bias=None, **params):
    return T.lax_reference(*(None if a is None else np.asarray(a) for a in (x, w, bias)), **params)


def torch_returns_on_meta(x, w, bias=None, **params):
    return T.torch_tensors(x, w, bias, **params).to("meta")


@pytest.mark.parametrize("target, array, detail", [
    (T.torch_tensors_to_numpy, "torch",
     "WrongArray: array='torch', device='cpu': the result is numpy.ndarray, expected a torch array on cpu"),
    (jax_returns_numpy, "jax",
     "WrongArray: array='jax', device='cpu': the result is numpy.ndarray, expected a jax array on cpu"),
    (torch_returns_on_meta, "torch",
     "WrongArray: array='torch', device='cpu': the result lies on meta, expected a torch array on cpu"),
])
def test_a_result_of_another_kind_or_device_is_a_finding_about_the_target(target, array, detail):
    if array == "jax":
        pytest.importorskip("jax")
    report = crosscheck(target, suite="smoke", array=array, max_cases=3)
    assert [r.outcome for r in report.results] == ["raised"] * 3
    assert {r.detail for r in report.results} == {detail}
    assert {r.kind for r in report.results} == {"WrongArray"}


def doubles_x_in_place(x, w, bias=None, **params):
    result = T.torch_tensors(x, w, bias, **params)
    x.mul_(2)
    return result


def test_a_tensor_changed_in_place_is_noted():
    report = crosscheck(doubles_x_in_place, suite="smoke", array="torch", max_cases=2)
    assert report.ok
    assert all("the target modified its input(s) x in place" in r.detail for r in report.results)


@pytest.mark.parametrize("arguments, error, words", [
    (dict(array="tensorflow"), ValueError, "array: got 'tensorflow'; expected one of 'numpy', 'torch', 'jax', 'cupy'"),
    (dict(array="cupy"), ValueError, "array='cupy': cupy is not installed (pip install cupy-cuda12x)"),
    (dict(array="torch", device="cuda"), ValueError,
     "device='cuda': torch sees no CUDA device (torch.cuda.is_available() is False)"),
    (dict(array="torch", device="cuda:1"), ValueError,
     "device='cuda:1': torch sees no CUDA device (torch.cuda.is_available() is False)"),
    (dict(array="torch", device="tpu"), ValueError, "device='tpu': not a device torch knows"),
    (dict(array="jax", device="cuda"), ValueError, "device='cuda': jax sees no GPU (jax.devices('gpu'):"),
    (dict(array="jax", device="gpu0"), ValueError, "device='gpu0': expected 'cpu', 'cuda' or 'cuda:N'"),
    (dict(array="jax", out=True), ValueError, "out=True: array='jax' arrays are immutable"),
    (dict(device="cuda"), ValueError, "device='cuda': array='numpy' computes on the CPU"),
    (dict(out=1), TypeError, "out: got 1; expected True or False"),
    (dict(array="torch", isolate=True), ValueError, "these apply to a function called in this process"),
])
def test_a_bad_array_device_or_out_is_refused_before_any_case(arguments, error, words):
    if arguments.get("array") == "cupy" and __import__("importlib").util.find_spec("cupy") is not None:
        pytest.skip("cupy is installed here")
    if "cuda" in str(arguments.get("device")) and torch.cuda.is_available():
        pytest.skip("torch sees a CUDA device here")
    if arguments.get("array") == "jax":
        jax = pytest.importorskip("jax")
        if arguments.get("device") == "cuda" and any(d.platform == "gpu" for d in jax.devices()):
            pytest.skip("jax sees a GPU here")
    seen = []
    with pytest.raises(error) as raised:
        crosscheck(T.lax_reference, suite="smoke", progress=seen.append, **arguments)
    assert words in str(raised.value) and not seen


def test_an_adapter_or_a_named_worker_takes_no_array_argument():
    with pytest.raises(ValueError, match="an adapter converts arrays itself"):
        crosscheck("torch", suite="smoke", array="torch")
    with pytest.raises(ValueError, match="the target is an adapter"):
        ArrayTarget(__import__("convt_oracle.adapters.registry", fromlist=["load"]).load("torch"), array="torch")


# --- out=: what a kernel never wrote, or read --------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_correct_out_kernel_raises_no_alarm_on_the_default_suite(dtype):
    report = crosscheck(T.lax_into_out, out=True, dtypes=(dtype,))
    counts = _counts(report)
    invalid = sum(not r.case.valid for r in report.results)
    assert report.ok and len(report.results) >= 1500 and counts == {"pass": len(report.results) - invalid,
                                                                     "unsupported": invalid}, report.summary()
    # an invalid case: no output shape, or an output size asked for that a plain target cannot be given
    assert all(r.detail.startswith(("out=True: the case has no output shape to allocate",
                                    "a target with the golden's signature takes no output size"))
               for r in report.results if r.outcome == "unsupported")
    print(f"lax_into_out, out=True, default suite in {dtype}: {counts}")


def test_unwritten_outputs_are_caught_on_the_default_suite_and_named():
    report = crosscheck(T.last_column_unwritten, out=True)
    wrong = report.discrepancies
    named = [r for r in wrong if r.diagnosis.name == "unwritten"]
    print(f"last_column_unwritten, out=True, default suite in float32: {_counts(report)}, {len(named)} named unwritten")
    assert len(wrong) >= 0.9 * sum(r.case.valid for r in report.results)
    assert len(named) >= 0.9 * len(wrong), [str(r.diagnosis) for r in wrong if r not in named][:5]
    assert "discrepancies by diagnosis: unwritten" in report.summary()


def test_the_diagnosis_counts_the_unwritten_elements_and_names_the_first():
    case = make_case(input_size=(3, 2), kernel_size=(2, 2), in_channels=2, out_channels=3, stride=2, batch=2,
                     bias=True, dtype="float32", seed=7)
    (result,) = crosscheck(T.last_column_unwritten, suite=[case], out=True).results
    batch, channels, height, width = case.output_shape  # the last column: every (n, c, h) at width - 1
    assert result.outcome == "nonfinite_mismatch"
    assert result.diagnosis.name == "unwritten"
    assert result.diagnosis.params == {"elements": batch * channels * height,
                                       "first": [[0, 0, 0, width - 1], [0, 0, 1, width - 1], [0, 0, 2, width - 1]]}
    assert f"{batch * channels * height} of {batch * channels * height * width} output elements were never written" \
        in result.message


def test_a_kernel_that_adds_into_out_is_named():
    report = crosscheck(T.adds_into_out, suite="smoke", out=True)
    wrong = report.discrepancies
    assert len(wrong) >= 0.9 * len(report.results)  # not where the result is so large that -7840 is within its bound
    named = [r for r in wrong if r.diagnosis.name == "accumulated_into_out"]
    assert len(named) >= 0.75 * len(wrong), [str(r.diagnosis) for r in wrong if r not in named][:5]


def torch_last_column_unwritten(x, w, bias=None, *, out, **params):
    out[..., :-1].copy_(T.torch_tensors(x, w, bias, **params)[..., :-1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_out_buffers_pass_and_keep_the_prefill_s_bits(dtype):
    report = crosscheck(T.torch_into_out, suite="smoke", array="torch", out=True, dtypes=(dtype,))
    assert report.ok and _counts(report) == {"pass": len(report.results)}, report.summary()
    normal = [case for case in suites.get("smoke") if case.values == "normal"]  # no result that may overflow to NaN
    report = crosscheck(torch_last_column_unwritten, suite=normal, array="torch", out=True, dtypes=(dtype,))
    assert {r.outcome for r in report.results} == {"nonfinite_mismatch"}
    assert {r.diagnosis.name for r in report.results} == {"unwritten"}, report.summary()


def returns_a_new_array(x, w, bias=None, *, out, **params):
    return T.lax_reference(x, w, bias, **params)


def test_an_out_kernel_returns_none_or_out_itself():
    report = crosscheck(returns_a_new_array, suite="smoke", out=True, max_cases=2)
    assert {r.detail for r in report.results} == {
        "WrongArray: out=True: the target returned ndarray, not None or `out` itself; an out= target writes its "
        "result into out"
    }
    assert crosscheck(T.torch_into_out, suite="smoke", array="torch", out=True, max_cases=2).ok  # returns out itself


# --- what the wrapper keeps of the target ------------------------------------------------------------------


def tf32_declared(x, w, bias=None, **params):
    return T.torch_tf32_inputs(x, w, bias, **params)


tf32_declared.tolerance = Tolerance(inputs="tf32")


def test_the_wrapper_keeps_the_target_s_own_tolerance_and_its_vjp():
    wrapped = ArrayTarget(tf32_declared, array="torch")
    assert wrapped.tolerance == Tolerance(inputs="tf32") and not hasattr(wrapped, "vjp")
    assert hasattr(ArrayTarget(T.torch_tensors, array="torch"), "vjp")
    cases = [case for case in _finite("smoke") if case.valid]
    assert crosscheck(tf32_declared, suite=cases, array="torch").ok
    assert not crosscheck(tf32_declared, suite=cases, array="torch", tolerance=Tolerance()).ok


# --- reproducers and the pytest plugin ------------------------------------------------------------------------


def _run(source: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, env=env, timeout=120)


def test_a_result_s_reproducer_calls_the_target_with_tensors():
    report = crosscheck(T.torch_tf32_inputs, suite="smoke", array="torch")
    wrong = report.discrepancies[0]
    text = wrong.reproducer()
    assert "target = ArrayTarget(target, array='torch', device='cpu', out=False)" in text
    done = _run(text)
    assert done.returncode == 1 and "AssertionError" in done.stderr and "(value_mismatch)" in done.stderr, done.stderr
    assert "ArrayTarget" not in crosscheck(T.torch_tf32_inputs, suite="smoke").discrepancies[0].reproducer()


@pytest.mark.parametrize("target, array, out", [
    (T.torch_into_out, "torch", True), (T.torch_tensors, "torch", False), (T.lax_into_out, "numpy", True),
    (T.jax_arrays, "jax", False),
])
def test_a_standalone_snippet_converts_as_crosscheck_does(target, array, out):
    if array == "jax":
        pytest.importorskip("jax")
    case = suites.get("smoke")[3].with_dtype("bfloat16")
    source = snippet(ArrayTarget(target, array=array, out=out), case)
    assert f"# called with {array} arrays on cpu" in source
    done = _run(source)
    assert done.returncode == 0 and done.stdout.startswith("OK:"), done.stderr[-2000:]


def test_a_standalone_snippet_of_an_out_kernel_shows_the_unwritten_elements():
    case = suites.get("smoke")[3].with_dtype("float32")
    done = _run(snippet(ArrayTarget(T.last_column_unwritten, out=True), case))
    assert done.returncode == 1 and "actual nan" in done.stderr, done.stderr[-2000:]


def test_the_plugin_s_check_takes_array_device_and_out():
    from convt_oracle.harness.pytest_plugin import check

    case = suites.get("smoke")[0].with_dtype("float32")
    assert check(case, "support.targets:torch_tensors", array="torch").outcome == "pass"
    assert check(case, T.lax_into_out, out=True).outcome == "pass"
    with pytest.raises(pytest.fail.Exception) as failed:
        check(case, T.torch_tf32_inputs, array="torch")
    assert "target = ArrayTarget(target, array='torch', device='cpu', out=False)" in str(failed.value)
    with pytest.raises(pytest.fail.Exception, match="array='cupy'|cupy sees no CUDA device"):
        check(case, T.torch_tensors, array="cupy")
