"""The torch adapter against the golden, with the real torch (skipped, with the reason, without it).

Which CPU kernel torch runs for a transposed convolution (oneDNN's, or its own slow_conv_transpose) depends
on the dtype, the CPU and torch.backends.mkldnn: float16 goes to oneDNN only on CPUs with AVX512_FP16 or
AMX_FP16, bfloat16 only where oneDNN has it and output_padding < stride. Tests named test_finding_* pin
torch bugs (the `finding` marker, tests/conftest.py): they assert the correct behaviour and are strict
xfails where the kernel with the bug runs, asked of torch (support.probes).
"""

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: the torch adapter cannot be checked")

import convt_oracle  # noqa: E402
from convt_oracle.adapters import registry  # noqa: E402
from convt_oracle.cases import suites  # noqa: E402
from convt_oracle.cases.model import make_case  # noqa: E402
from support import probes  # noqa: E402
from support.devices import check_skipped_without_its_device, crosscheck_on_its_device  # noqa: E402
from support.findings import padding_zeros_explain  # noqa: E402

pytestmark = pytest.mark.framework("torch")

MODES_AND_SHAPES = [
    make_case(input_size=(5, 7), kernel_size=(3, 2), in_channels=4, out_channels=6, groups=2, batch=2,
              stride=(2, 1), dilation=(1, 2), padding=1, output_padding=(1, 0), bias=True, seed=17),
    make_case(input_size=(6,), kernel_size=(4,), in_channels=2, out_channels=3, stride=3, padding=2,
              output_padding=2, seed=5, name="1d output_padding 2 < stride 3"),
    make_case(input_size=(3, 4, 2), kernel_size=(2, 3, 2), in_channels=3, out_channels=2, stride=(1, 2, 2),
              padding=(0, 1, 0), bias=True, seed=6),
    make_case(input_size=(5,), kernel_size=(3,), stride=2, mode="output_shape", padding=1, output_padding=1, seed=1, bias=True),
    make_case(input_size=(4, 5), kernel_size=(3, 3), in_channels=2, out_channels=4, groups=2, stride=2,
              mode="output_shape", padding=1, output_padding=1, seed=2),
    make_case(input_size=(4, 5), kernel_size=(4, 4), in_channels=2, out_channels=3, stride=2, mode="same", seed=3),
    make_case(input_size=(4, 5), kernel_size=(3, 3), in_channels=2, out_channels=3, stride=2, mode="valid", seed=4),
]


@pytest.mark.parametrize("name", ["torch", "torch-channels-last"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_adapter_agrees_with_the_golden(name, dtype):
    report = convt_oracle.crosscheck(name, suite=MODES_AND_SHAPES + suites.get("article"), dtypes=(dtype,), grad=True)
    assert report.ok, report.summary()
    native = [r for r in report.results if r.outcome == "pass" and r.check == "forward"]
    assert len(native) >= 5, report.summary()


def test_an_end_crop_past_begin_plus_output_padding_is_unsupported_and_large_output_padding_is_refused():
    """A crop torch's API cannot express (it would need a negative output_padding) is not asked: unsupported.
    output_padding >= max(stride, dilation), and an output_size past the sizes output_padding < stride gives,
    are outside torch's documented domain: they are asked, and torch's refusal is `refused`, with torch's
    own message after the limit."""
    cases = [
        make_case(input_size=(4,), kernel_size=(3,), padding=((0, 1),), seed=1),
        make_case(input_size=(4,), kernel_size=(3,), stride=2, output_padding=2, seed=1),
        make_case(input_size=(4,), kernel_size=(2,), stride=2, dilation=3, output_padding=2, mode="output_shape", seed=1),
    ]
    report = convt_oracle.crosscheck("torch", suite=cases, dtypes=("float32",), grad=True)
    forward = [r for r in report.results if r.check == "forward"]
    assert [r.outcome for r in forward] == ["unsupported", "refused", "refused"], report.summary()
    assert "would need output_padding -1" in forward[0].detail
    assert "torch requires output_padding < max(stride, dilation)" in forward[1].detail
    assert "RuntimeError: output padding must be smaller than either stride or dilation" in forward[1].detail
    assert "output_size accepts the sizes that need output_padding < stride" in forward[2].detail
    assert "ValueError: requested an output size of [12], but valid sizes range from [10] to [11]" in forward[2].detail
    vjp = [r.outcome for r in report.results if r.check == "vjp"]
    assert vjp == ["unsupported", "refused", "refused"], report.summary()
    assert report.ok and report.compared == 0 and report.verdict().startswith("nothing was compared")


def test_a_refusal_crosses_the_worker_boundary_as_refused():
    """In an isolated worker (convt-oracle run's way) torch's refusal comes back as `refused`, not `raised`."""
    case = make_case(input_size=(4,), kernel_size=(3,), stride=2, output_padding=2, seed=1)
    report = convt_oracle.crosscheck("torch", suite=[case], dtypes=("float32",), isolate=True)
    (result,) = report.results
    assert result.outcome == "refused", report.summary()
    assert "torch refused it: RuntimeError: output padding must be smaller than either stride or dilation" in result.detail


def test_output_padding_at_or_past_the_stride_but_below_the_dilation_is_inside_torch_s_domain_and_compared():
    """torch's limit is max(stride, dilation): output_padding 2 with stride 1 and dilation 3 is inside it, so it
    is asked and compared like any other case (not refused)."""
    case = make_case(input_size=(4,), kernel_size=(2,), stride=1, dilation=3, output_padding=2, seed=3)
    adapter = registry.load("torch")
    assert adapter.domain(case.with_dtype("float32")) is None
    report = convt_oracle.crosscheck(adapter, suite=[case], dtypes=("float32", "float64"))
    assert [r.outcome for r in report.results] == ["pass", "pass"], report.summary()


def test_torch_declares_its_domain_and_its_kernels():
    adapter = registry.load("torch")
    capabilities = adapter.capabilities()
    assert any("output_padding < max(stride, dilation)" in limit for limit in capabilities["domain"])
    runtime = adapter.runtime()
    assert runtime["versions"] == {"torch": torch.__version__}
    assert runtime["kernels"]["onednn_bfloat16"] == torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert runtime["kernels"]["onednn_float16"] == torch.ops.mkldnn._is_mkldnn_fp16_supported()
    assert runtime["kernels"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_an_asymmetric_crop_is_padding_begin_and_output_padding_begin_minus_end():
    """torch crops `padding` at both ends and appends output_padding: the canonical crop (2, 1) with stride 2
    is torch's padding=2, output_padding=1 (convt_oracle.arithmetic.torch_padding), in both call paths."""
    cases = [
        make_case(input_size=(4, 3), kernel_size=(3, 2), stride=2, padding=((2, 1), (1, 1)), in_channels=2,
                  out_channels=3, bias=True, seed=2),
        make_case(input_size=(5,), kernel_size=(4,), stride=3, padding=((2, 0),), output_padding=0, seed=3),
        make_case(input_size=(4,), kernel_size=(3,), stride=2, padding=((1, 0),), mode="output_shape", seed=4),
    ]
    assert registry.load("torch").torch_padding(cases[0].with_dtype("float32")) == ((2, 1), (1, 0))
    report = convt_oracle.crosscheck("torch", suite=cases, dtypes=("float32", "float64"), grad=True)
    assert report.ok and {r.outcome for r in report.results} == {"pass"}, report.summary()


def test_the_registry_lists_torch_and_rejects_unknown_names():
    assert {"torch", "torch-channels-last"} <= set(registry.available())
    with pytest.raises(ValueError, match="known adapters: .*torch"):
        registry.load("no-such-framework")
    assert registry.load("torch").version() == torch.__version__



@pytest.mark.parametrize("name", ["torch", "torch-channels-last"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_is_within_the_bound_of_accumulating_in_the_dtype(name, dtype):
    """torch's float16 (and bfloat16 with output_padding >= stride) sums the kernel taps in the input dtype (the
    findings below), so it is checked against that bound here: nothing else may go wrong. The exceptions are
    oneDNN's findings with non-finite values: the bfloat16 NaN leak with an odd channel count, and an inf/NaN
    weight meeting the zeros of the padding (explained by support.findings's model)."""
    tolerance = convt_oracle.Tolerance(accumulation={dtype: dtype})
    report = convt_oracle.crosscheck(name, suite=suites.get("smoke") + MODES_AND_SHAPES, dtypes=(dtype,), tolerance=tolerance)
    adapter = registry.load(name)
    unexplained = [
        r for r in report.discrepancies
        if not onednn_bfloat16_odd_channels(r)
        and not padding_zeros_explain(r, adapter, tolerance)  # oneDNN: an inf/NaN weight meets the zeros of the padding
    ]
    assert not unexplained, "\n".join(f"{r.outcome} {r.case_id}: {r.message}" for r in unexplained)
    assert sum(r.outcome == "pass" for r in report.results) >= len(report.results) // 3, report.summary()

def onednn_bfloat16_odd_channels(result) -> bool:
    """test_finding_torch_bfloat16_onednn_nan_leaks_into_the_previous_pixel, where its kernel runs: with an odd
    number of input channels per group, an inf or NaN input or weight also meets a zero of the channel padding."""
    case = result.case
    return (
        case.dtype == "bfloat16" and result.outcome == "nonfinite_mismatch"
        and case.values in ("nonfinite", "nonfinite_weights") and (case.in_channels // case.groups) % 2 == 1
        and bool(nan_leak_kernel().applies)
    )


# --- findings ------------------------------------------------------------------------------------------------


@pytest.mark.finding(
    "torch-native-float16-sums-the-taps-in-float16",
    "torch 2.13.0 (slow_conv_transpose, not oneDNN): float16 conv_transpose sums the kernel taps in float16 "
    "(col2im in the input dtype), exceeding the float32-accumulation bound by up to ~850x on the default suite",
    where=lambda: probes.onednn_does_not_run(probes.torch_kernel("float16 conv_transpose1d")),
)
def test_finding_torch_float16_conv_transpose_accumulates_the_taps_in_float16():
    """Output element 8 is x[8]*w[0] + x[7]*w[1] + ... + x[0]*w[8] = 2048 + 7*1 - 2048 = 7, exact in float16.
    torch returns 0: each 2048 + 1 rounds back to 2048 in float16. float32 gives 7, and so does torch's own
    float16 conv1d (the forward convolution accumulates in float32).

    Mechanism (bit-exact on random 1-d and 2-d cases, with and without bias): slow_conv_transpose's GEMM sums
    the input channels in float32 and rounds each (output channel, tap, input pixel) column to float16; col2im
    then adds the taps into the float16 output one by one, each addition rounded; the bias is added last, one
    more rounding. The result is within the bound of a float16 accumulation, not of a float32 one. Where torch
    sends float16 to oneDNN's deconvolution (CPUs with AVX512_FP16 or AMX_FP16), which accumulates in float32,
    this is an ordinary test (every output equals the float32 result rounded once to float16)."""
    x = torch.tensor([-2048.0, 1, 1, 1, 1, 1, 1, 1, 2048], dtype=torch.float16).reshape(1, 1, 9)
    w = torch.ones((1, 1, 9), dtype=torch.float16)
    assert torch.nn.functional.conv_transpose1d(x.float(), w.float())[0, 0, 8].item() == 7.0
    assert torch.nn.functional.conv_transpose1d(x, w)[0, 0, 8].item() == 7.0
    rounded_once = torch.nn.functional.conv_transpose1d(x.float(), w.float()).half()
    assert torch.equal(torch.nn.functional.conv_transpose1d(x, w), rounded_once)


@pytest.mark.finding(
    "torch-weight-gradient-adds-the-batch-in-the-dtype",
    "torch 2.13.0 and 2.14.1: the weight gradient of a float16 / bfloat16 conv_transpose adds the batch items' "
    "contributions in the input dtype",
    where=lambda dtype: probes.onednn_does_not_run(probes.torch_kernel(f"{dtype} conv_transpose1d weight gradient")),
)
@pytest.mark.parametrize("dtype, big", [("float16", 2048.0), ("bfloat16", 256.0)])
def test_finding_torch_weight_gradient_adds_the_batch_in_the_dtype(dtype, big):
    """A 1x1 kernel of one, x = [big, 1, 1] as three batch items, a cotangent of ones: grad_w = big + 2,
    exact in the dtype (2050 in float16, 258 in bfloat16). torch returns big: each item's contribution is
    added to the running sum in the dtype, and big + 1 rounds back to big. The same three values along the
    spatial axis of one item give big + 2 (within an item the sum is in float32). Found by the gate of torch
    2.13.0 against 2.14.1 (README, "The gate on real versions"): every one of the 475 float16 / bfloat16
    grad_w `value_mismatch` of the default suite, in both, passes under the bound of accumulating in the dtype."""
    torch_dtype = getattr(torch, dtype)
    x = torch.tensor([big, 1.0, 1.0], dtype=torch_dtype).reshape(3, 1, 1)
    w = torch.ones((1, 1, 1), dtype=torch_dtype, requires_grad=True)
    (grad_w,) = torch.autograd.grad(torch.nn.functional.conv_transpose1d(x, w).sum(), w)
    assert grad_w.item() == big + 2


@pytest.mark.finding(
    "torch-native-bfloat16-sums-the-taps-in-bfloat16",
    "torch 2.13.0 (slow_conv_transpose, not oneDNN): bfloat16 conv_transpose sums the kernel taps in bfloat16; "
    "it runs where oneDNN has no bfloat16 and, everywhere, with output_padding >= stride (allowed where it is "
    "< dilation)",
    where=lambda output_padding: probes.onednn_does_not_run(
        probes.torch_kernel(f"bfloat16 conv_transpose1d, dilation 2{', output_padding 1' if output_padding else ''}")
    ),
)
@pytest.mark.parametrize("output_padding", [0, 1])
def test_finding_torch_bfloat16_native_kernel_accumulates_in_bfloat16(output_padding):
    """Dilation 2, 5 taps of 1: output element 8 is x[8] + x[6] + x[4] + x[2] + x[0] = 256 + 3*1 - 256 = 3.
    oneDNN gives 3; torch's own kernel gives 0: 256 + 1 rounds back to 256 in bfloat16. With output_padding 1
    (>= stride 1, < dilation 2) torch takes its own kernel on every CPU; with 0, where oneDNN has no bfloat16.
    On the default suite this is every bfloat16 value_mismatch of the torch adapters (up to ~50x the
    float32-accumulation bound)."""
    x = torch.tensor([-256.0, 0, 1, 0, 1, 0, 1, 0, 256], dtype=torch.bfloat16).reshape(1, 1, 9)
    w = torch.ones((1, 1, 5), dtype=torch.bfloat16)
    y = torch.nn.functional.conv_transpose1d(x, w, dilation=2, output_padding=output_padding)
    assert y[0, 0, 8].item() == 3.0


@pytest.mark.finding(
    "torch-native-bfloat16-runs-beside-onednn-where-output-padding-reaches-the-stride",
    "torch 2.13.0: an asymmetric crop (padding 1, output_padding 1 >= stride 1, < dilation 2) goes to torch's own "
    "kernel on every CPU, also where oneDNN takes bfloat16, and it sums the taps in bfloat16",
)
def test_finding_torch_bfloat16_crop_past_the_stride_takes_the_native_kernel():
    """The data of the test above, cropped by 1 at the front (padding 1, output_padding 1: how the torch
    adapters ask for crops (1, 0)): output element 7 is 3 (float32 gives 3; where oneDNN takes bfloat16, so
    does the uncropped call at element 8), and this call gives 0 on every CPU: the crop's output_padding
    sends it to torch's own kernel. The known entry is the one for CPUs whose oneDNN takes bfloat16 (where it
    does not, torch-native-bfloat16-sums-the-taps-in-bfloat16 explains every bfloat16 case). On the default
    suite of an AVX512_BF16 CPU: every bfloat16 value_mismatch of the torch adapters (18 of the 1,060
    bfloat16 cases that ran, all dilated, most with output_padding >= stride in torch's call)."""
    x = torch.tensor([-256.0, 0, 1, 0, 1, 0, 1, 0, 256], dtype=torch.bfloat16).reshape(1, 1, 9)
    w = torch.ones((1, 1, 5), dtype=torch.bfloat16)
    y = torch.nn.functional.conv_transpose1d(x, w, dilation=2, padding=1, output_padding=1)
    assert y[0, 0, 7].item() == 3.0


def nan_leak_kernel():
    """Whether oneDNN runs the NaN-leak finding's call with native bfloat16 instructions here."""
    return probes.onednn_runs(probes.torch_kernel("bfloat16 conv_transpose1d, stride 2, output_padding 1"), isa="bfloat16")


@pytest.mark.finding(
    "torch-onednn-bfloat16-nan-leaks-into-the-previous-pixel",
    "torch 2.13.0 (oneDNN 3.12, native bfloat16 instructions): bfloat16 conv_transpose with an odd number of "
    "input channels lets a NaN/inf input pixel turn the previous pixel's output into NaN",
    where=nan_leak_kernel,
)
def test_finding_torch_bfloat16_onednn_nan_leaks_into_the_previous_pixel():
    """x = [1, nan, 1, 1] (1 channel), a 1-tap kernel of 1, stride 2, output_padding 1: the result is
    [1, 0, nan, 0, 1, 0, 1, 0] (float32, float16, and bfloat16 with torch.backends.mkldnn disabled); oneDNN's
    bfloat16 gives [nan, 0, nan, ...]. An inf gives NaN there too, so a zero weight multiplies it: consistent
    with the bfloat16 dot-product instruction pairing channel c with c + 1 across a pixel boundary when the
    channel count is odd (1, 3, 5 leak; 2, 4, 8 do not). tensorflow-cpu 2.21 shows the same oneDNN bug
    (tests/test_adapter_tensorflow.py, test_finding_tf_bfloat16_nan_leaks_into_the_neighbouring_pixel)."""
    x = torch.tensor([1.0, float("nan"), 1.0, 1.0], dtype=torch.bfloat16).reshape(1, 1, 4)
    w = torch.ones((1, 1, 1), dtype=torch.bfloat16)
    y = torch.nn.functional.conv_transpose1d(x, w, stride=2, output_padding=1)
    assert torch.isnan(y.float()).flatten().tolist() == [False, False, True, False, False, False, False, False]


@pytest.mark.finding(
    "torch-weight-gradient-multiplies-inf-by-cropped-outputs",
    "torch 2.13.0: the weight gradient of a cropped conv_transpose multiplies an inf input by the zero cotangent "
    "of a cropped output: NaN where the gradient is finite",
)
def test_finding_torch_weight_gradient_multiplies_inf_by_cropped_outputs():
    """x = [1, inf], w = [2, 3], padding 1: the full result is [2, 3 + inf*2, inf*3], cropped to [inf]; the one
    output is x[0]*w[1] + x[1]*w[0], so d out / d w = [x[1], x[0]] = [inf, 1]. torch gives [inf, nan]: its
    backward sums x[1] * grad over the uncropped result, where the cropped element's cotangent is 0, and
    inf * 0 = NaN. jax 0.10.2 (lax.conv_transpose, jax.vjp) gives [inf, 1]; tensorflow-cpu 2.21 gives
    [inf, nan] too. The same NaN in a forward result (a term that does not exist times inf) is what the jax
    float64 grouped finding is. Every vjp discrepancy of the torch adapters on the default suite (float32 and
    float64, nonfinite values only) is this one: the NaN pattern is that of the golden's vjp with the cotangent
    zero-padded to the uncropped result."""
    x = torch.tensor([[[1.0, float("inf")]]], requires_grad=True)
    w = torch.tensor([[[2.0, 3.0]]], requires_grad=True)
    y = torch.nn.functional.conv_transpose1d(x, w, padding=1)
    y.backward(torch.ones_like(y))
    assert x.grad.flatten().tolist() == [3.0, 2.0]
    assert w.grad.flatten().tolist() == [float("inf"), 1.0]


@pytest.mark.finding(
    "torch-onednn-inf-weight-meets-padding-zeros",
    "torch 2.13.0 (oneDNN 3.12): conv_transpose turns an inf weight into NaN at outputs where the weight meets no "
    "input (inf * the zeros of the padding)",
    where=lambda dtype: probes.onednn_runs(probes.torch_kernel(f"{dtype} conv_transpose1d, stride 2")),
)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_finding_torch_onednn_inf_weight_meets_padding_zeros(dtype):
    """x = [1], w = [inf, 1, 1], stride 2: the result is [x*w0, x*w1, x*w2] = [inf, 1, 1]. Where oneDNN's
    deconvolution runs it (bfloat16 where oneDNN has it; float16 with AVX512_FP16 or AMX_FP16) torch gives
    [inf, 1, nan]: the kernel correlates the stride-dilated, zero-padded input with the flipped kernel, and
    inf times a padding zero is NaN. torch's own kernel is right, and so are float32 and float64.
    support.findings models the mechanism and explains such discrepancies of the torch adapters.

        torch.nn.functional.conv_transpose1d(torch.ones((1, 1, 1), dtype=torch.bfloat16),
                                             torch.tensor([[[float("inf"), 1, 1]]], dtype=torch.bfloat16), stride=2)
    """
    torch_dtype = getattr(torch, dtype)
    x = torch.ones((1, 1, 1), dtype=torch_dtype)
    w = torch.tensor([[[float("inf"), 1.0, 1.0]]], dtype=torch_dtype)
    y = torch.nn.functional.conv_transpose1d(x, w, stride=2)
    assert y.double().flatten().tolist() == [float("inf"), 1.0, 1.0]


# --- device selection: CPU always, a GPU where torch sees one -------------------------------------------------


def test_the_cuda_variant_says_why_it_is_skipped_without_a_gpu():
    assert (registry.load("torch-cuda").device_unavailable() is None) == torch.cuda.is_available()
    check_skipped_without_its_device("torch-cuda", MODES_AND_SHAPES, "sees no CUDA device")


def test_the_cuda_variant_agrees_with_the_golden():
    report = crosscheck_on_its_device("torch-cuda", MODES_AND_SHAPES + suites.get("article"), grad=True)
    assert report.ok, report.summary()
    assert sum(r.outcome == "pass" for r in report.results) >= 5, report.summary()


def test_device_variants_are_left_out_of_the_default_run_without_a_gpu_device_file():
    from convt_oracle.harness.run import gpu_device_files, installed_targets

    targets, left_out = installed_targets()
    names = {t.adapter for t in targets}
    assert {"torch", "torch-channels-last"} <= names
    if not gpu_device_files():
        assert "torch-cuda" not in names and "no GPU device file" in left_out["torch-cuda"]


@pytest.mark.finding(
    "torch-backward-with-permuted-input-and-weight-raises",
    "torch 2.13.0: the backward of conv_transpose2d raises 'grad_weight needs to be contiguous' when the input and "
    "the weight are permuted views (Keras's channels-last input and kernel layout)",
)
def test_finding_torch_conv_transpose_backward_with_permuted_input_and_weight_raises():
    """Keras's torch backend calls conv_transpose2d on x.permute(0, 3, 1, 2) and kernel.permute(3, 2, 0, 1);
    with one input channel the backward raises (the forward is right, and contiguous copies of either
    tensor make the backward work). Every keras-torch vjp `raised` on the smoke suite is this."""
    x = torch.ones((2, 2, 4, 1), dtype=torch.float64, requires_grad=True)   # NHWC
    k = torch.ones((2, 4, 3, 1), dtype=torch.float64, requires_grad=True)   # (kh, kw, out, in), Keras's layout
    y = torch.nn.functional.conv_transpose2d(x.permute(0, 3, 1, 2), k.permute(3, 2, 0, 1))
    y.sum().backward()
    assert k.grad.shape == k.shape
