"""The jax adapter against the golden, with the real jax (skipped, with the reason, without it).

Compilation dominates the time here (~0.1-0.3 s per new shape for the forward call, about twice that for
the vjp, on a 2-core machine): the tests reuse shapes where they can, and one test checks that repeated
shapes do not compile again. Tests named test_finding_* pin jax bugs (the `finding` marker,
tests/conftest.py); where a finding depends on how XLA emits the convolution, XLA is asked (support.probes).
"""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed: the jax adapter cannot be checked")

import convt_oracle  # noqa: E402
from convt_oracle.adapters import registry  # noqa: E402
from convt_oracle.adapters.jax import JaxAdapter  # noqa: E402
from convt_oracle.cases import suites  # noqa: E402
from convt_oracle.cases.model import make_case  # noqa: E402
from support import probes  # noqa: E402
from support.devices import check_skipped_without_its_device, crosscheck_on_its_device  # noqa: E402
from support.findings import padding_zeros_explain  # noqa: E402

pytestmark = pytest.mark.framework("jax")

# The jax code paths: lax.conv_transpose with 'SAME', 'VALID' and explicit pairs (also for output_shape),
# and the grouped route (conv_general_dilated with feature_group_count) in every mode; bias (added in
# float32 for the narrow dtypes), dilation, asymmetric crops, output_padding >= stride, kernel shorter
# than the stride, negative jax pairs (crop beyond ke-1), 1-, 2- and 3-d.
JAX_CASES = [
    make_case(name="1d-explicit-asym-op-bias", input_size=6, kernel_size=4, stride=3, padding=((2, 0),),
              output_padding=2, in_channels=3, out_channels=2, bias=True, seed=2),
    make_case(name="1d-groups-dilation-bias", input_size=7, kernel_size=3, stride=2, dilation=3,
              padding=((1, 4),), output_padding=1, in_channels=4, out_channels=6, groups=2, bias=True, seed=3),
    make_case(name="2d-explicit-crop-beyond-ke", input_size=(4, 5), kernel_size=(2, 2), stride=(2, 3),
              padding=((3, 0), (1, 1)), output_padding=(1, 2), in_channels=3, out_channels=2, batch=2, seed=4),
    make_case(name="2d-op-ge-stride", input_size=(4, 3), kernel_size=(2, 2), stride=(1, 2), dilation=(3, 1),
              output_padding=(2, 0), in_channels=2, out_channels=2, seed=8),
    make_case(name="2d-same-odd-even-bias", input_size=(3, 4), kernel_size=(3, 4), stride=(2, 2), mode="same",
              in_channels=2, out_channels=3, bias=True, seed=12),
    make_case(name="2d-same-kernel-shorter-than-stride", input_size=(2, 3), kernel_size=(1, 2), stride=(2, 3),
              mode="same", in_channels=2, out_channels=3, seed=13),
    make_case(name="2d-same-groups-dilation-bias", input_size=(4, 3), kernel_size=(2, 3), stride=(2, 1),
              dilation=(2, 2), mode="same", in_channels=4, out_channels=6, groups=2, bias=True, seed=14),
    make_case(name="2d-valid-kernel-shorter-than-stride-bias", input_size=(3, 4), kernel_size=(1, 2),
              stride=(2, 3), mode="valid", in_channels=3, out_channels=2, bias=True, seed=22),
    make_case(name="2d-valid-groups", input_size=(3, 3), kernel_size=(3, 2), stride=(1, 2), dilation=(1, 2),
              mode="valid", in_channels=4, out_channels=2, groups=2, seed=23),
    make_case(name="2d-output-shape-beyond-full", input_size=(2, 2), kernel_size=(1, 2), stride=(3, 3),
              output_padding=(2, 1), mode="output_shape", in_channels=2, out_channels=3, seed=33),
    make_case(name="3d-output-shape-groups-bias", input_size=(2, 3, 2), kernel_size=(2, 2, 3),
              stride=(2, 2, 1), padding=((1, 1), (0, 1), (1, 0)), output_padding=(1, 0, 0),
              mode="output_shape", in_channels=4, out_channels=4, groups=2, bias=True, seed=36),
    make_case(name="3d-depthwise-explicit", input_size=(3, 2, 4), kernel_size=(2, 3, 1), stride=(2, 1, 3),
              dilation=(1, 2, 1), padding=((1, 0), (2, 1), (0, 0)), output_padding=(1, 0, 2),
              in_channels=2, out_channels=2, groups=2, bias=True, seed=9),
]


def smoke():
    return suites.get("smoke")


def known_issue(result) -> str | None:
    """Why a discrepancy is expected: a jax finding (see the test_finding_* tests)."""
    case = result.case
    if case.values == "nonfinite_weights" and padding_zeros_explain(result, registry.load("jax")):
        return "jax finding: an inf/NaN weight meets the zeros of the padding (reproduced by support.findings)"
    if case.values != "nonfinite":
        return None
    if result.check == "forward" and case.dtype == "float64" and case.groups > 1:
        return "jax finding: float64 grouped convolution leaks inf/NaN into the other groups"
    return None


def assert_agrees(report):
    unexplained = [r for r in report.discrepancies if known_issue(r) is None]
    assert not unexplained, "\n".join(f"{r.outcome} {r.case_id}: {r.message}\n{r.reproducer()}" for r in unexplained)


@pytest.mark.parametrize("dtype, grad", [("float32", True), ("float64", True), ("float16", False), ("bfloat16", False)])
def test_jax_agrees_with_the_golden_on_smoke(dtype, grad):
    """Natively on every valid case (jax expresses every padding); the vjp in float32 and float64."""
    report = convt_oracle.crosscheck("jax", suite=smoke(), dtypes=(dtype,), grad=grad)
    assert_agrees(report)
    unsupported = [r for r in report.results if r.outcome == "unsupported" and r.case.valid]
    assert not unsupported, report.summary()


@pytest.mark.parametrize("dtype, grad", [("float32", True), ("float64", True), ("float16", False), ("bfloat16", False)])
def test_jax_agrees_with_the_golden_on_its_own_cases(dtype, grad):
    report = convt_oracle.crosscheck("jax", suite=JAX_CASES, dtypes=(dtype,), grad=grad)
    assert all(r.outcome == "pass" for r in report.results), report.summary()


def test_float64_stays_float64():
    case = JAX_CASES[0].with_dtype("float64")
    x, w, bias = case.arrays()
    assert registry.load("jax").call_case(case, x, w, bias).dtype == np.float64


def test_repeated_shapes_do_not_compile_again():
    """Cases that differ only in their values (seed) reuse the compiled call: jit's cache and the trace count
    grow once per shape, not per case; a new adapter instance shares the cache."""
    base = [case.with_dtype("float32") for case in JAX_CASES[:4]]
    adapter = registry.load("jax")

    def run_all(seed_offset, target):
        for case in base:
            case = dataclasses.replace(case, seed=case.seed + seed_offset)
            x, w, bias = case.arrays()
            target.call_case(case, x, w, bias)
            target.vjp_case(case, x, w, case.cotangent(), bias)

    run_all(0, adapter)
    traces, cached = JaxAdapter.traces, JaxAdapter.cache_size()
    for offset in (1, 2, 3):
        run_all(offset, adapter)
    run_all(4, registry.load("jax"))
    assert (JaxAdapter.traces, JaxAdapter.cache_size()) == (traces, cached)
    # a new shape compiles once for the forward call
    bigger = dataclasses.replace(base[0], input_size=(base[0].input_size[0] + 1,))
    x, w, bias = bigger.arrays()
    adapter.call_case(bigger, x, w, bias)
    assert JaxAdapter.traces == traces + 1


@pytest.mark.finding(
    "jax-accepts-a-negative-output-size",
    "jax 0.10.2: conv_transpose returns an empty array where the output size is negative",
)
def test_finding_jax_accepts_a_negative_output_size():
    """A crop larger than the full result (output size (i-1)*s + ke - begin - end = -1) is invalid: torch and
    onnxruntime raise, jax clamps the size to 0 and returns an empty array. Standalone:

        lax.conv_transpose(np.ones((1, 1, 2), np.float32), np.ones((1, 1, 2), np.float32), (1,), [(-1, -1)],
                           dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True).shape  # (1, 1, 0)
    """
    case = make_case(input_size=2, kernel_size=2, padding=((2, 2),), dtype="float32", seed=41)
    assert not case.valid
    result = convt_oracle.crosscheck("jax", suite=[case], dtypes=("float32",)).results[0]
    assert result.outcome == "pass", result.message  # pass = the invalid case was rejected


@pytest.mark.finding(
    "jax-accepts-zero-size-axes",
    "jax 0.10.2: conv_transpose computes an input with an empty spatial axis (zeros out of nothing), 0 input "
    "channels and 0 output channels instead of refusing them",
)
def test_finding_jax_accepts_zero_size_axes():
    """An empty input: the output size (0-1)*1 + 2 = 1 is what the size formula gives for i = 0, and jax returns
    one zero per channel; torch: "Only zero batch or zero channel inputs are supported". (Also 0 input channels:
    zeros; 0 output channels: an empty array.)

        lax.conv_transpose(np.ones((1, 2, 0), np.float32), np.ones((2, 3, 2), np.float32), (1,), "VALID",
                           dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True).shape  # (1, 3, 1)
    """
    with pytest.raises(Exception):
        jax.lax.conv_transpose(np.ones((1, 2, 0), np.float32), np.ones((2, 3, 2), np.float32), (1,), "VALID",
                               dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True).block_until_ready()


# Runs in a fresh interpreter (the finding is a cache of the process): lax.conv_general_dilated with the
# lhs_dilation of each argument in turn ("2,2" ints, "2.0,2.0" floats), printing each shape or error type.
CACHE_REPRODUCER = """
import sys, numpy as np
from jax import lax
y, w = np.ones((1, 2, 3, 4), np.float32), np.ones((3, 2, 3, 3), np.float32)
for text in sys.argv[1:]:
    dilation = tuple(float(v) if "." in v else int(v) for v in text.split(","))
    try:
        print(lax.conv_general_dilated(y, w, (1, 1), [(2, 2), (2, 2)], lhs_dilation=dilation,
                                       dimension_numbers=("NCHW", "OIHW", "NCHW")).shape)
    except Exception as error:
        print("raised", type(error).__name__)
"""


def cache_reproducer(*dilations) -> list[str]:
    completed = subprocess.run([sys.executable, "-c", CACHE_REPRODUCER, *dilations], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.strip().splitlines()


@pytest.mark.finding(
    "jax-conv-caches-a-float-stride-as-the-int-one",
    "jax 0.10.2: eager lax.conv_general_dilated caches by parameters in which 2.0 is 2: a float lhs_dilation "
    "gets the int call's result, and a failed float call makes the int call fail",
)
def test_finding_jax_conv_caches_a_float_stride_as_the_int_one():
    """The stride of a transposed convolution is conv_general_dilated's lhs_dilation (Keras's jax backend calls
    it so, eagerly). Alone, (2.0, 2.0) raises TypeError ("'numpy.float64' object cannot be interpreted as an
    integer"); after a (2, 2) call of the same shapes it returns that call's (1, 3, 7, 9); and after a failed
    (2.0, 2.0) call, the valid (2, 2) call raises the same TypeError. Found as keras-jax's `accepted_invalid` on
    a float stride in the default suite (not in the invalid suite alone: no int call of those shapes before it).
    The jax adapter's jit cache keeps the two apart (JaxAdapter.plan)."""
    assert cache_reproducer("2.0,2.0", "2,2") == ["raised TypeError", "(1, 3, 7, 9)"]  # the int call still works
    assert cache_reproducer("2,2", "2.0,2.0")[1] == "raised TypeError"  # the float call is refused


@pytest.mark.finding(
    "jax-float64-grouped-convolution-leaks-nonfinite-values-across-groups",
    "jax 0.10.2 (XLA CPU): a float64 grouped convolution leaks inf/NaN across groups",
)
def test_finding_jax_float64_grouped_convolution_leaks_nonfinite_values_across_groups():
    """Group 0 is finite, group 1 NaN: float32 gives [1.0, nan], float64 [nan, nan] (inf in group 1 gives
    [nan, inf]). The grouped route of this adapter (conv_general_dilated with feature_group_count) meets it on
    float64 cases with non-finite inputs; finite inputs are unaffected."""
    lax = jax.lax
    x = np.array([[[1.0], [np.nan]]], np.float64)  # (N=1, C=2, W=1)
    w = np.ones((2, 1, 1), np.float64)  # (O=2, I=1, W=1), feature_group_count=2
    y = lax.conv_general_dilated(x, w, (1,), [(0, 0)], dimension_numbers=("NCH", "OIH", "NCH"), feature_group_count=2)
    assert np.asarray(y)[0, 0, 0] == 1.0


def test_golden_vjp_of_a_cropped_case_with_inf():
    """1-d, crop (2, 2) of a full result of 5: the one output element is full[2] = x[2]*w[0] + x[0]*w[1], so
    grad_w[ci, co, 1] = x[0]*grad_out[0] only. With x[1] = inf, a term that does not exist, grad_w stays
    finite (as in jax and in a loop over the terms that exist); a gradient that multiplied the cropped
    outputs' zero cotangent would give NaN."""
    case = make_case(input_size=3, kernel_size=2, dilation=2, padding=((2, 2),), dtype="float64", seed=1)
    x, w, _ = case.arrays()
    x[0, 0, 1] = np.inf
    grad_out = case.cotangent()
    _, grad_w, _ = convt_oracle.conv_transpose_vjp(x, w, grad_out, **case.params())
    assert grad_w[0, 0, 1] == x[0, 0, 0] * grad_out[0, 0, 0]


@pytest.mark.finding(
    "jax-xla-runtime-convolution-inf-weight-meets-padding-zeros",
    "jax 0.10.2 (XLA CPU's runtime convolution): conv_transpose turns an inf weight into NaN at outputs where the "
    "weight meets no input (inf * the zeros of the padding)",
    where=lambda dtype: probes.xla_runtime_convolution(probes.jax_kernel(f"{dtype} conv_transpose 'VALID', stride 1")),
)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_finding_jax_inf_weight_meets_padding_zeros(dtype):
    """x = [1, 1, 1], w = [inf, 1, 1] (1 channel, stride 1): the full result is [inf, inf, inf, 1 + 1, 1]
    (output 3 takes x[1]*w[2] + x[2]*w[1], output 4 x[2]*w[2]; w[0] reaches outputs 0-2 only). jax gives
    [inf, inf, inf, nan, nan] in float32: XLA hands the convolution of the padded input with the flipped kernel
    to its runtime convolution, and the padding's zeros times inf are NaN. In float64 XLA emits the
    convolution as a loop of its own, which skips the padding: the exact result, as torch (float32, float64)
    and onnxruntime give. support.findings models the mechanism and explains every such discrepancy of the
    jax and keras-jax adapters on the smoke suite. Standalone:

        lax.conv_transpose(np.ones((1, 1, 3), np.float32), np.array([[[np.inf, 1, 1]]], np.float32), (1,),
                           "VALID", dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True)
    """
    from jax import lax

    dtypes = {"float32": np.float32, "float16": np.float16, "bfloat16": jax.numpy.bfloat16}
    x = np.ones((1, 1, 3), dtypes[dtype])
    w = np.array([[[np.inf, 1, 1]]], dtypes[dtype])
    y = lax.conv_transpose(x, w, (1,), "VALID", dimension_numbers=("NCH", "OIH", "NCH"), transpose_kernel=True)
    assert np.asarray(y, np.float64).ravel().tolist() == [np.inf, np.inf, np.inf, 2.0, 1.0]


# --- device selection: CPU always, a GPU where jax sees one -----------------------------------------------------


def test_the_gpu_variant_says_why_it_is_skipped_without_a_gpu():
    check_skipped_without_its_device("jax-gpu", JAX_CASES[:3], "sees no GPU")


def test_the_gpu_variant_agrees_with_the_golden():
    report = crosscheck_on_its_device("jax-gpu", JAX_CASES, grad=True)
    assert all(r.outcome == "pass" for r in report.results), report.summary()
