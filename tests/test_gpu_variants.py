"""The GPU variants, strict and TF32 (torch-cuda, jax-gpu, tensorflow-gpu and their *-tf32), what they set
around their calls, the tolerance they carry into workers, and the TF32 policy shown on the CPU with targets
that round their inputs to TF32 (there is no GPU on the machines these tests are written on: each variant's
cases are `unsupported` with its framework's words)."""

import importlib.util
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from convt_oracle import Tolerance
from convt_oracle.adapters import registry
from convt_oracle.cases import suites
from convt_oracle.cases.model import make_case
from convt_oracle.harness.crosscheck import DeviceUnavailable, crosscheck
from convt_oracle.harness.kernels import gpu_device_files
from support import targets as T
from support.devices import check_skipped_without_its_device

TF32 = Tolerance(inputs="tf32")
VARIANTS = {  # name: (framework, device, tolerance)
    "torch-cuda": ("torch", "cuda", None), "torch-cuda-tf32": ("torch", "cuda", TF32),
    "jax-gpu": ("jax", "gpu", None), "jax-gpu-tf32": ("jax", "gpu", TF32),
    "tensorflow-gpu": ("tensorflow", "gpu", None), "tensorflow-gpu-tf32": ("tensorflow", "gpu", TF32),
}
ROOT = Path(__file__).resolve().parents[1]


def _counts(report) -> dict:
    (counts,) = report.counts().values()
    return {outcome: count for outcome, count in counts.items() if count}


# --- the variants as registered ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_each_variant_is_registered_with_its_device_and_tolerance(name):
    framework, device, tolerance = VARIANTS[name]
    adapter_class = registry.available()[name].load()  # the class: no framework imported
    assert (adapter_class.framework, adapter_class.device, adapter_class.tolerance) == (framework, device, tolerance)
    words = "strict" if tolerance is None else "inputs rounded to tf32"
    assert adapter_class().capabilities()["tolerance"] == words


def test_convt_oracle_adapters_shows_the_variants_with_their_tolerance():
    from convt_oracle.harness.run import describe_adapters

    text = describe_adapters()
    for name, (_, device, tolerance) in VARIANTS.items():
        line = next(line for i, line in enumerate(text.splitlines()[1:], 1) if text.splitlines()[i - 1].startswith(name + " "))
        assert f'"device": "{device}"' in line
        assert f'"tolerance": "{"strict" if tolerance is None else "inputs rounded to tf32"}"' in line


@pytest.mark.parametrize("name", ["torch-cuda-tf32", "jax-gpu-tf32", "tensorflow-gpu-tf32"])
def test_a_tf32_variant_without_its_device_is_unsupported_and_says_so_loudly(name):
    pytest.importorskip(VARIANTS[name][0])
    cases = suites.get("smoke")[:3]
    check_skipped_without_its_device(name, cases, "sees no")
    reason = registry.load(name).device_unavailable()
    with pytest.warns(DeviceUnavailable, match=f"{name}: .*sees no .*: every case is unsupported"):
        report = crosscheck(name, suite=cases)
    assert {r.detail for r in report.results} == {f"skipped: {reason}"}


# --- what each variant sets around its calls ------------------------------------------------------------------


def test_torch_cuda_turns_tf32_off_around_its_calls_and_restores_the_process_s_flags():
    torch = pytest.importorskip("torch")
    backends = torch.backends

    def flags():
        return backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32

    before = flags()
    try:
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = True, True
        for name, inside in (("torch-cuda", (False, False)), ("torch-cuda-tf32", (True, False))):
            with registry.load(name).tf32_mode():
                assert flags() == inside, name
            assert flags() == (True, True)
    finally:
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = before
    assert torch.backends.cudnn.allow_tf32 is True  # torch's own default: cuDNN may use TF32 (why torch-cuda sets it)


def test_tensorflow_gpu_turns_tensor_float_32_off_around_its_calls_and_restores_it():
    tf = pytest.importorskip("tensorflow")
    experimental = tf.config.experimental
    assert experimental.tensor_float_32_execution_enabled()  # TF's default
    for name, inside in (("tensorflow-gpu", False), ("tensorflow-gpu-tf32", True)):
        with registry.load(name).tf32_mode():
            assert experimental.tensor_float_32_execution_enabled() is inside, name
        assert experimental.tensor_float_32_execution_enabled()


@pytest.mark.parametrize("precision, written", [("highest", "Precision.HIGHEST"), ("default", "Precision.DEFAULT"),
                                                (None, "precision=None")])
def test_jax_s_precision_reaches_the_convolution(precision, written):
    jax = pytest.importorskip("jax")
    from convt_oracle.adapters.jax import JaxAdapter, _conv_transpose

    for groups in (1, 2):
        case = make_case(input_size=(3,), kernel_size=(2,), in_channels=2, out_channels=2, groups=groups,
                         dtype="float32", seed=1)
        x, w, bias = case.arrays()
        plan = JaxAdapter.plan(case)
        text = str(jax.make_jaxpr(lambda x, w: _conv_transpose(x, w, None, plan, precision))(x, w))
        assert written in text, text


@pytest.mark.parametrize("name, words", [
    ("torch-cuda", ["torch.backends.cudnn.allow_tf32 = False", "torch.backends.cuda.matmul.allow_tf32 = False"]),
    ("torch-cuda-tf32", ["torch.backends.cudnn.allow_tf32 = True", "torch.backends.cuda.matmul.allow_tf32 = False"]),
    ("jax-gpu", ["precision='highest'"]),
    ("jax-gpu-tf32", ["precision='default'"]),
    ("tensorflow-gpu", ["tf.config.experimental.enable_tensor_float_32_execution(False)"]),
    ("tensorflow-gpu-tf32", ["tf.config.experimental.enable_tensor_float_32_execution(True)"]),
])
def test_a_variant_s_native_source_sets_what_its_calls_set(name, words):
    pytest.importorskip(VARIANTS[name][0])
    case = make_case(input_size=(3, 3), kernel_size=(2, 2), in_channels=2, out_channels=2, groups=2, dtype="float32")
    lines = registry.load(name).native_lines(case)
    for word in words:
        assert any(word in line for line in lines), lines


@pytest.mark.parametrize("name, facts", [
    ("torch-cuda", {"cudnn_allow_tf32": False, "matmul_allow_tf32": False}),
    ("torch-cuda-tf32", {"cudnn_allow_tf32": True, "matmul_allow_tf32": False}),
    ("jax-gpu", {"precision": "highest"}),
    ("jax-gpu-tf32", {"precision": "default"}),
    ("tensorflow-gpu", {"tensor_float_32": False}),
    ("tensorflow-gpu-tf32", {"tensor_float_32": True}),
])
def test_a_variant_s_kernel_facts_say_its_tf32_setting(name, facts):
    pytest.importorskip(VARIANTS[name][0])
    kernels = registry.load(name).runtime()["kernels"]
    assert facts.items() <= kernels.items(), kernels


# --- the tolerance a worker's target carries ------------------------------------------------------------------


def test_a_worker_carries_its_target_s_own_tolerance():
    from convt_oracle.harness.isolation import IsolatedTarget

    pytest.importorskip("torch")
    with IsolatedTarget("torch-cuda-tf32") as worker:  # the adapter's class attribute, asked in the worker
        assert worker.tolerance == TF32 == registry.available()["torch-cuda-tf32"].load().tolerance
    with IsolatedTarget("support.targets:tf32_inputs_declared") as worker:  # a function's own attribute
        assert worker.tolerance == TF32
    with IsolatedTarget("support.targets:tf32_inputs") as worker:
        assert worker.tolerance is None


def test_a_run_judges_each_worker_s_target_by_its_own_tolerance():
    """convt-oracle run evaluates in the main process what its workers answer: a target declaring TF32 mode is
    judged under Tolerance(inputs="tf32") there, one declaring nothing strictly."""
    from convt_oracle.harness.run import run
    from convt_oracle.harness.targets import TargetSpec

    report = run([TargetSpec("support.targets:tf32_inputs_declared"), TargetSpec("support.targets:tf32_inputs")],
                 suite="smoke")
    by_target = report.counts()
    ran = sum(r.target == "support.targets:tf32_inputs_declared" for r in report.results)
    assert by_target["support.targets:tf32_inputs_declared"]["pass"] == ran >= 40
    assert by_target["support.targets:tf32_inputs"]["value_mismatch"] >= 30
    isolated = crosscheck("support.targets:tf32_inputs_declared", suite="smoke", isolate=True)
    assert isolated.ok


# --- the TF32 policy, shown on the CPU -------------------------------------------------------------------------


def _tf32_reference(value: float) -> float:
    """`value` rounded to 11 significant bits, ties to even, with Python's exact arithmetic (float32's range)."""
    if value == 0 or not math.isfinite(value):
        return value
    mantissa, exponent = math.frexp(value)  # value = mantissa * 2**exponent, 0.5 <= |mantissa| < 1
    scaled = mantissa * 2**11
    return math.ldexp(round(scaled), exponent - 11)  # round(): ties to even


def test_the_tf32_rounding_of_the_targets_is_round_to_nearest_even_to_11_bits():
    ulp = 2.0**-10
    values = [1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 2 + 2.0**-20, -(1 + ulp / 2), 3.1415927, -2.7182817e-3,
              np.float32(3.4e38), 1e-30, 0.0, -0.0]
    values += list(np.random.default_rng(0).standard_normal(200).astype(np.float32))
    rounded = T.round_to_tf32(np.array(values, np.float32))
    expected = [_tf32_reference(float(np.float32(v))) for v in values]
    assert rounded.tolist() == expected
    assert rounded[:4].tolist() == [1.0, 1 + 2 * ulp, 1 + ulp, -1.0]  # ties to even, and above a tie up


# A failing run diagnoses every discrepancy (~0.1 s each): the failures are shown on the default suite's first
# FAILING cases, the passes on all of it.
FAILING = 300


def _rounded(report):
    """The results a rounding of the inputs can change: valid cases not of the exact tier (whose integers
    are exact in TF32 and bfloat16)."""
    return [r for r in report.results if r.case.valid and not r.case.exact]


def test_tf32_inputs_fail_the_strict_default_and_pass_the_tf32_policy():
    strict = crosscheck(T.tf32_inputs, max_cases=FAILING)
    tf32 = crosscheck(T.tf32_inputs, tolerance=TF32)
    print(f"tf32_inputs, float32: strict {_counts(strict)} (default's first {FAILING}); "
          f"Tolerance(inputs='tf32') {_counts(tf32)} (default)")
    assert len(strict.discrepancies) >= 0.9 * len(_rounded(strict))
    named = [r for r in strict.discrepancies if r.diagnosis.name == "inputs_rounded" and r.diagnosis.params == {"to": "tf32"}]
    assert len(named) >= 0.9 * len(strict.discrepancies)
    assert tf32.ok, tf32.summary()


def test_bfloat16_inputs_fail_the_tf32_policy_they_declare():
    declared = crosscheck(T.bfloat16_inputs_under_tf32, max_cases=FAILING)  # its own tolerance attribute: TF32
    asked = crosscheck(T.bfloat16_inputs_under_tf32, max_cases=FAILING, tolerance=TF32)
    print(f"bfloat16_inputs_under_tf32, float32, under TF32 (default's first {FAILING}): {_counts(declared)}")
    assert _counts(declared) == _counts(asked)
    assert len(declared.discrepancies) >= 0.9 * len(_rounded(declared))
    assert all(r.diagnosis.name == "inputs_rounded" for r in declared.discrepancies[:50])
    assert {r.diagnosis.params["to"] for r in declared.discrepancies[:50]} == {"bfloat16"}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_a_correct_target_passes_strict_and_tf32(dtype):
    for tolerance in (None, TF32):
        report = crosscheck(T.lax_reference, dtypes=(dtype,), tolerance=tolerance)
        assert report.ok, report.summary()


def test_the_tf32_policy_through_torch_tensors():
    """The same through array="torch" on the CPU: a torch kernel that rounds its tensors to TF32 and calls
    torch's conv_transpose, on the default suite's valid cases."""
    pytest.importorskip("torch")
    cases = [case for case in suites.get("default") if case.valid]
    strict = crosscheck(T.torch_tf32_inputs, suite=cases[:FAILING], array="torch")
    tf32 = crosscheck(T.torch_tf32_inputs, suite=cases, array="torch", tolerance=TF32)
    correct = crosscheck(T.torch_tensors, suite=cases, array="torch")
    print(f"torch_tf32_inputs (array='torch'), float32: strict {_counts(strict)} (first {FAILING} valid cases); "
          f"Tolerance(inputs='tf32') {_counts(tf32)}; torch_tensors {_counts(correct)} ({len(cases)} valid cases)")
    assert len(strict.discrepancies) >= 0.9 * FAILING
    assert tf32.ok and correct.ok, (tf32.summary(), correct.summary())


# --- the prepared GPU script -------------------------------------------------------------------------------------


def test_the_gpu_script_says_no_gpu_is_visible_here():
    if gpu_device_files():
        pytest.skip("a GPU device file is here: the script would run the variants")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_variants.py")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    installed = [name for name, (framework, _, _) in VARIANTS.items() if importlib.util.find_spec(framework)]
    assert "no GPU is visible here: nothing to measure" in done.stdout
    for name in installed:
        assert f"  {name}: " in done.stdout and "sees no" in done.stdout
