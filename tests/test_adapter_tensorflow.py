"""The tensorflow adapter against the golden, with the real TensorFlow (skipped, with the reason, without it).

Curated cases per mode run in this process. The `smoke` suite, whose contents are not chosen here, runs in a
fresh interpreter (support.isolated): TF has a heap-corrupting kernel
(test_finding_tf_float32_backprop_filter_corrupts_the_heap) and a crash must fail one test, not end the
session.

Which CPU kernel TF runs (oneDNN's or its own Eigen ones) depends on the CPU and on TF_ENABLE_ONEDNN_OPTS;
only oneDNN's take dilation and groups. Expectations that depend on it ask TF (support.probes). Tests named
test_finding_* pin TF bugs found by the cross-check (the `finding` marker, tests/conftest.py): they assert
the correct behaviour, and are strict xfails where the kernel with the bug runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TF's first import
tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed: the tensorflow adapter cannot be checked")

import convt_oracle  # noqa: E402
from convt_oracle import arithmetic as A  # noqa: E402
from convt_oracle.adapters import registry  # noqa: E402
from convt_oracle.cases.model import make_case  # noqa: E402
from support import isolated, probes  # noqa: E402
from support.devices import check_skipped_without_its_device, crosscheck_on_its_device  # noqa: E402

pytestmark = pytest.mark.framework("tensorflow")


def output_shape_case(input_size, kernel_size, stride, padding, sizes, **kwargs):
    """A mode-`output_shape` case: the canonical padding of TF's call with `padding` and output `sizes`."""
    rank = len(input_size)
    dilation = kwargs.pop("dilation", (1,) * rank)
    pads = [
        A.output_shape_padding(i, k, s, d, padding if isinstance(padding, str) else padding[a], o)
        for a, (i, k, s, d, o) in enumerate(zip(input_size, kernel_size, stride, dilation, sizes))
    ]
    return make_case(
        input_size=input_size, kernel_size=kernel_size, stride=stride, dilation=dilation, mode="output_shape",
        padding=[(p.begin, p.end) for p in pads], output_padding=[p.output_padding for p in pads], **kwargs,
    )


# Every mode, in each rank; kernels shorter and longer than the stride; batch and channels > 1; bias.
# (3-d 'SAME' with a kernel shorter than a stride is left to its finding: float64 gradients are wrong.)
NATIVE = [
    make_case(mode="same", input_size=(5,), kernel_size=(3,), stride=2, in_channels=3, out_channels=4, batch=2,
              bias=True, seed=1),
    make_case(mode="same", input_size=(4, 3), kernel_size=(1, 2), stride=(3, 3), in_channels=2, out_channels=3,
              seed=2, name="2-d 'SAME', kernel shorter than the stride: zero-extended"),
    make_case(mode="same", input_size=(3, 2, 2), kernel_size=(2, 3, 3), stride=(2, 1, 3), in_channels=2,
              out_channels=3, bias=True, seed=3),
    make_case(mode="valid", input_size=(4,), kernel_size=(1,), stride=3, in_channels=2, out_channels=2, seed=4,
              name="1-d 'VALID', kernel shorter than the stride: (i-1)*s + max(k, s)"),
    make_case(mode="valid", input_size=(3, 4), kernel_size=(3, 2), stride=(2, 3), in_channels=3, out_channels=2,
              batch=2, bias=True, seed=5),
    make_case(mode="valid", input_size=(2, 3, 2), kernel_size=(2, 2, 1), stride=(1, 2, 2), in_channels=2,
              out_channels=3, seed=6),
    output_shape_case((4, 3), (3, 2), (2, 3), "SAME", (7, 8), in_channels=2, out_channels=3, seed=7,
                      name="'SAME' output_shape below i*s"),
    output_shape_case((3,), (3,), (2,), "VALID", (8,), in_channels=2, out_channels=3, bias=True, seed=8,
                      name="'VALID' output_shape one above the full size: a zero at the end"),
    output_shape_case((3, 2, 2), (2, 3, 1), (2, 1, 3), "VALID", (7, 4, 5), in_channels=2, out_channels=2, seed=9),
    output_shape_case((4, 3), (3, 2), (2, 3), ((1, 0), (0, 2)), (8, 8), in_channels=2, out_channels=3, seed=10,
                      name="asymmetric crop: explicit pairs with output_shape"),
    make_case(input_size=(4, 3), kernel_size=(3, 2), stride=(2, 3), padding=((1, 0), (0, 2)), in_channels=3,
              out_channels=2, batch=2, bias=True, seed=11, name="explicit asymmetric pairs"),
    make_case(input_size=(3, 4), kernel_size=(4, 3), stride=2, padding=((2, 0), (1, 1)), output_padding=(1, 0),
              in_channels=2, out_channels=3, seed=12, name="explicit: output_padding with no end crop"),
    make_case(input_size=(2, 3), kernel_size=(2, 3), stride=(1, 2), padding=((2, 0), (2, 2)), in_channels=2,
              out_channels=2, seed=13, name="explicit: crop as large as the kernel"),
    make_case(input_size=(5, 4), kernel_size=(3, 3), stride=2, padding=1, output_padding=1, in_channels=4,
              out_channels=6, bias=True, seed=14, name="explicit: torch-style p=1, output_padding=1"),
    make_case(input_size=(4, 3), kernel_size=(3, 3), stride=2, padding=((1, 1), (0, 0)), output_padding=(2, 0),
              in_channels=2, out_channels=2, seed=15,
              name="explicit: output_padding 2 = stride gives back the end crop: pairs (1, 0) with op 1"),
    make_case(input_size=(5,), kernel_size=(3,), stride=2, padding=((1, 0),), in_channels=3, out_channels=2,
              batch=2, bias=True, seed=16, name="1-d explicit pairs: conv2d_transpose on a unit height axis"),
    make_case(input_size=(4,), kernel_size=(4,), stride=3, padding=1, output_padding=1, in_channels=2,
              out_channels=3, seed=17, name="1-d explicit: p=1, output_padding=1"),
]
# Dilation and groups: only TF's oneDNN kernels take them (float32; bfloat16 where oneDNN runs it).
ONEDNN = [
    make_case(mode="same", input_size=(3, 4), kernel_size=(3, 2), stride=(2, 1), dilation=(2, 3), in_channels=2,
              out_channels=3, bias=True, seed=20),
    make_case(mode="valid", input_size=(5,), kernel_size=(2,), stride=2, dilation=3, in_channels=3, out_channels=2,
              seed=21),
    make_case(mode="same", input_size=(4, 5), kernel_size=(3, 3), stride=2, groups=2, in_channels=4, out_channels=6,
              bias=True, seed=22),
    make_case(mode="valid", input_size=(6,), kernel_size=(3,), stride=1, groups=3, in_channels=3, out_channels=6,
              seed=23),
    output_shape_case((3, 4), (3, 2), (2, 1), "SAME", (5, 4), dilation=(2, 3), groups=2, in_channels=4,
                      out_channels=4, seed=24),
]
UNSUPPORTED = {  # case -> a piece of the reason
    "3-d explicit": (make_case(input_size=(3, 3, 2), kernel_size=(3, 2, 2), stride=2, padding=((1, 0), (0, 0), (1, 1)),
                               seed=30), "tf.nn.conv3d_transpose takes padding 'SAME' or 'VALID' only"),
    "3-d output_shape, neither SAME nor VALID": (
        make_case(mode="output_shape", input_size=(3, 2, 2), kernel_size=(3, 2, 2), padding=((1, 1), (0, 0), (0, 0)),
                  seed=31), "takes padding 'SAME' or 'VALID' only"),
    "output_padding >= stride": (
        make_case(input_size=(4, 4), kernel_size=(3, 3), stride=2, padding=((0, 0), (0, 0)), output_padding=(2, 0),
                  seed=33), "is not accepted for input size"),
}
REFUSED = {  # case -> a piece of TF's message: outside TF's CPU kernels' domain (dilation, groups), TF refuses it
    "1-d explicit pairs with dilation": (
        make_case(input_size=(6,), kernel_size=(3,), stride=2, dilation=2, padding=((2, 1),), in_channels=2,
                  out_channels=3, bias=True, seed=25),
        "Current CPU implementations do not yet support dilation rates larger than 1"),
    "explicit pairs with dilation": (
        make_case(input_size=(4, 4), kernel_size=(3, 3), dilation=2, padding=1, seed=34, dtype="float32"),
        "dilation rates larger than 1"),
    "3-d groups": (make_case(mode="same", input_size=(2, 2, 2), kernel_size=2, groups=2, in_channels=2,
                             out_channels=2, seed=35, dtype="float32"), "must have the same"),
}


def onednn_kernels_take_dilation_and_groups(dtype) -> bool:
    """Whether TF's CPU kernels here take dilated and grouped transposed convolutions in `dtype` (asked of TF)."""
    return probes.tf_refuses(dtype, dilated=True) is None and probes.tf_refuses(dtype, grouped=True) is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tensorflow_adapter_agrees_with_the_golden_in_every_mode(dtype):
    cases = NATIVE + ONEDNN
    report = convt_oracle.crosscheck("tensorflow", suite=cases, dtypes=(dtype,), grad=True)
    assert report.ok, report.summary()
    forward = [r for r in report.results if r.check == "forward"]
    native = [r.case.id for r in forward if r.outcome == "pass"]
    # every curated case runs natively, but dilation and groups where TF's kernels here refuse them
    expected_native = len(NATIVE) + (len(ONEDNN) if onednn_kernels_take_dilation_and_groups(dtype) else 0)
    assert len(native) == expected_native, report.summary()
    assert {r.case.mode for r in forward if r.outcome == "pass"} == {"same", "valid", "output_shape", "explicit"}
    for result in forward:
        assert result.outcome in ("pass", "refused"), report.summary()
        if result.outcome == "refused":
            assert result.detail.startswith("TF's CPU kernels take") and dtype in result.detail, result.detail


def test_float64_dilation_and_groups_are_refused_with_tf_s_own_message():
    """Outside TF's CPU kernels' domain (dilation and groups run in oneDNN only), TF is asked, and its refusal
    is `refused`, with the declared limit and TF's message."""
    if onednn_kernels_take_dilation_and_groups("float64"):
        pytest.skip("TF's CPU kernels here take float64 dilation and groups")
    report = convt_oracle.crosscheck("tensorflow", suite=ONEDNN, dtypes=("float64",), grad=True)
    details = [r.detail for r in report.results]
    assert all(r.outcome == "refused" for r in report.results), report.summary()
    assert all("only where oneDNN runs the call (float64 here); tensorflow refused it" in d for d in details), details
    assert any("do not yet support dilation rates larger than 1" in d for d in details), details
    assert any("Gradients for grouped convolutions are not supported" in d for d in details), details


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_cases_tf_cannot_express_are_unsupported_with_a_specific_reason(name):
    case, reason = UNSUPPORTED[name]
    report = convt_oracle.crosscheck("tensorflow", suite=[case], dtypes=("float32",) if case.dtype is None else (case.dtype,))
    (result,) = report.results
    assert result.outcome == "unsupported", report.summary()
    assert reason in result.detail, result.detail


@pytest.mark.parametrize("name", list(REFUSED))
def test_dilation_and_groups_tf_s_kernels_refuse_are_refused_with_tf_s_message(name):
    case, message = REFUSED[name]
    dtype = "float32" if case.dtype is None else case.dtype
    report = convt_oracle.crosscheck("tensorflow", suite=[case], dtypes=(dtype,))
    (result,) = report.results
    assert result.outcome == "refused", report.summary()
    assert message in result.detail and result.detail.startswith("TF's CPU kernels take"), result.detail


def test_tensorflow_declares_its_domain_and_whether_onednn_is_on():
    from tensorflow.python.util import _pywrap_util_port

    adapter = registry.load("tensorflow")
    assert any("only where oneDNN runs the call" in limit for limit in adapter.capabilities()["domain"])
    assert adapter.runtime() == {"versions": {"tensorflow": tf.__version__},
                                 "kernels": {"onednn": bool(_pywrap_util_port.IsMklEnabled())}}


def test_the_mode_picks_the_tf_call():
    adapter = registry.load("tensorflow")
    assert adapter.plan(NATIVE[0].with_dtype("float32"))[0] == "SAME"
    assert adapter.plan(NATIVE[3].with_dtype("float32"))[0] == "VALID"
    assert adapter.plan(NATIVE[6].with_dtype("float32"))[0] == "SAME"  # output_shape reproduced by 'SAME'
    assert adapter.plan(NATIVE[7].with_dtype("float32"))[0] == "VALID"  # ... by 'VALID'
    assert adapter.plan(NATIVE[9].with_dtype("float32"))[0] == [(1, 0), (0, 0)]  # ... by explicit pairs only
    assert adapter.plan(NATIVE[10].with_dtype("float32"))[0] == [(1, 0), (0, 2)]  # the case's own pairs
    assert adapter.plan(NATIVE[14].with_dtype("float32"))[0] == [(1, 0), (0, 0)]  # the same crop, least end


def test_the_registry_loads_tensorflow():
    adapter = registry.load("tensorflow")
    assert adapter.version() == tf.__version__
    assert adapter.capabilities()["autodiff"] is True


# --- the smoke suite, in a fresh interpreter -------------------------------------------------------------------


def golden_nonfinite_vjp_policy(row):
    """Known, not TF's: with inf/NaN in x, the gradient of a filter tap whose outputs are cropped is 0 or NaN
    depending on whether an implementation multiplies the cropped (zero) cotangent by x; the golden does it in
    some configurations and not in others (reported; convt_oracle.golden's to settle)."""
    return row.check == "vjp" and row.outcome == "nonfinite_mismatch" and row.case.values == "nonfinite"


def tf_conv3d_same_float64(row):
    """test_finding_tf_conv3d_same_float64_kernel_shorter_than_stride: grad_x of a 3-d 'SAME' case is conv3d."""
    case = row.case
    return (
        row.check == "vjp" and row.outcome == "value_mismatch" and case.spatial_rank == 3
        and case.dtype in ("float64", "float16")
        and any(A.effective_kernel(k, d) < s for k, s, d in zip(case.kernel_size, case.stride, case.dilation))
    )


def inf_weight_meets_padding_zeros(row):
    """test_finding_tf_inf_weight_meets_padding_zeros: reproduced exactly by support.findings's model."""
    return row.padding_zeros


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_smoke_suite(dtype):
    rows = isolated.crosscheck("tensorflow", "smoke", [dtype], grad=True)
    known = (golden_nonfinite_vjp_policy, tf_conv3d_same_float64, inf_weight_meets_padding_zeros)
    unexplained = [
        str(row) for row in rows
        if row.outcome not in ("pass", "unsupported", "refused") and not any(rule(row) for rule in known)
    ]
    assert not unexplained, "\n\n".join(unexplained)
    forward = [row.outcome for row in rows if row.check == "forward"]
    native = forward.count("pass")
    # TF has no explicit padding in 1-d and 3-d, and no dilation or groups where its kernels here refuse them
    assert native >= len(forward) // (3 if onednn_kernels_take_dilation_and_groups(dtype) else 6), f"{native} of {len(forward)} native"
    vjp = [row.outcome for row in rows if row.check == "vjp"]
    ran = len(forward) - forward.count("unsupported") - forward.count("refused")
    assert len(vjp) - vjp.count("unsupported") - vjp.count("refused") == ran  # a gradient wherever the forward runs


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_smoke_suite_low_precision_within_dtype_accumulation(dtype):
    """float16 and bfloat16 are not within the default bound (float32 accumulation, one rounding): TF's Eigen
    kernels round partial results, and bias_add rounds a second time. Within the bound of accumulating in
    the dtype itself they are, but for the bfloat16 findings of oneDNN below."""
    rows = isolated.crosscheck("tensorflow", "smoke", [dtype], grad=True, accumulation={dtype: dtype})

    def bfloat16_findings(row):
        return dtype == "bfloat16" and (
            (row.check == "forward" and row.outcome == "nonfinite_mismatch" and row.case.values == "nonfinite")  # NaN leak
            or (row.check == "vjp" and row.outcome == "value_mismatch")  # uninitialized filter-gradient taps
        )

    known = (golden_nonfinite_vjp_policy, tf_conv3d_same_float64, bfloat16_findings, inf_weight_meets_padding_zeros)
    unexplained = [
        str(row) for row in rows
        if row.outcome not in ("pass", "unsupported", "refused") and not any(rule(row) for rule in known)
    ]
    assert not unexplained, "\n\n".join(unexplained)


# --- findings ----------------------------------------------------------------------------------------------------


def conv3d_same_reference(x, f, strides):
    """Forward 'SAME' cross-correlation by loops: NDHWC input, DHWIO filter, TF's padding rule."""
    import itertools

    size, kernel = x.shape[1:4], f.shape[:3]
    out = [-(-i // s) for i, s in zip(size, strides)]
    begin = [A.forward_same_padding(i, k, s, 1)[0] for i, k, s in zip(size, kernel, strides)]
    y = np.zeros((x.shape[0], *out, f.shape[-1]))
    for index in itertools.product(*map(range, out)):
        for tap in itertools.product(*map(range, kernel)):
            source = [o * s + t - b for o, s, t, b in zip(index, strides, tap, begin)]
            if all(0 <= a < n for a, n in zip(source, size)):
                y[(slice(None), *index)] += x[(slice(None), *source)] @ f[tap]
    return y


@pytest.mark.finding(
    "tf-conv3d-same-float64-off-by-one",
    "tensorflow-cpu 2.21: tf.nn.conv3d 'SAME' in float64 (and float16) is off by one element when the kernel is "
    "shorter than the stride",
)
def test_finding_tf_conv3d_same_float64_kernel_shorter_than_stride():
    """x = [1, 2, 3] along W, a 1x1x1 kernel of 1, stride 3 along W, 'SAME': the output is x[0] = 1 (TF's own
    padding rule gives no padding; float32 and conv2d give 1); float64 conv3d gives x[1] = 2, as if it padded
    by (ke - s) // 2 = -1. TF's conv3d_transpose gradient wrt its input is this conv3d, so the tensorflow
    adapter's float64 vjp of 3-d 'SAME' cases with k < s is wrong (the forward transposed conv is right).
    The same bug was fixed for conv2d in 2016 (tensorflow#1991)."""
    x = np.arange(1.0, 4.0).reshape(1, 1, 1, 3, 1)
    f = np.ones((1, 1, 1, 1, 1))
    expected = conv3d_same_reference(x, f, (1, 1, 3))
    assert expected.ravel().tolist() == [1.0]
    y = tf.nn.conv3d(tf.constant(x), tf.constant(f), strides=[1, 1, 1, 3, 1], padding="SAME").numpy()
    np.testing.assert_array_equal(y, expected)


@pytest.mark.finding(
    "tf-onednn-bfloat16-nan-leaks-into-the-neighbouring-pixel",
    "tensorflow-cpu 2.21 (oneDNN, native bfloat16 instructions): bfloat16 conv2d_transpose with an odd number of "
    "input channels lets a NaN/inf input pixel turn the previous output pixel into NaN",
    where=lambda: probes.onednn_runs(probes.tf_kernel("bfloat16 conv2d_transpose 'VALID'"), isa="bfloat16"),
)
def test_finding_tf_bfloat16_nan_leaks_into_the_neighbouring_pixel():
    """1x1 kernel, 1 input channel, x = [1, nan, 1, 1, 1] along W: float32 gives [.25, nan, .25, .25, .25];
    bfloat16 gives [nan, nan, .25, .25, .25] (with 3 channels too; 2, 4, 8, 16 channels are right). Consistent
    with pairing (channel, channel + 1) for a bfloat16 dot-product instruction across pixel boundaries when
    the channel count is odd, with a zero weight: 0 * nan = nan. Finite inputs are unaffected."""
    x = np.array([1, np.nan, 1, 1, 1], np.float32).reshape(1, 1, 5, 1)
    w = np.full((1, 1, 1, 1), 0.25, np.float32)
    y = tf.nn.conv2d_transpose(tf.constant(x, tf.bfloat16), tf.constant(w, tf.bfloat16), [1, 1, 5, 1], [1, 1], "VALID")
    assert np.isnan(y.numpy().astype(np.float32).ravel()).tolist() == [False, True, False, False, False]


@pytest.mark.finding(
    "tf-onednn-bfloat16-backprop-filter-uninitialized",
    "tensorflow-cpu 2.21 (oneDNN): bfloat16 Conv2DBackpropFilter returns uninitialized memory for filter taps that "
    "no output reaches",
    where=lambda: probes.onednn_runs(probes.tf_kernel("bfloat16 Conv2DBackpropFilter, 'SAME'")),
)
def test_finding_tf_bfloat16_backprop_filter_leaves_unreached_taps_uninitialized():
    """Forward conv input of width 1, filter width 3, 'SAME': only the middle filter column meets the input, so
    the filter gradient's other columns are 0 (float32 gives 0). In bfloat16 they hold whatever the buffer
    held (values up to 2.6e38 after other allocations). This is the filter gradient of the tensorflow adapter's
    conv2d_transpose (found as a vjp mismatch in the smoke suite)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 7, 1, 2)).astype(np.float32)
    dy = rng.standard_normal((1, 4, 1, 3)).astype(np.float32)
    worst = 0.0
    for _ in range(20):
        tf.constant(rng.standard_normal((64, 64)) * 1e30, tf.bfloat16)  # leave some non-zero memory behind
        g = tf.raw_ops.Conv2DBackpropFilter(
            input=tf.constant(x, tf.bfloat16), filter_sizes=[3, 3, 2, 3], out_backprop=tf.constant(dy, tf.bfloat16),
            strides=[1, 2, 5, 1], padding="SAME",
        )
        worst = max(worst, float(np.abs(g.numpy().astype(np.float32)[:, [0, 2]]).max()))
    assert worst == 0.0


HEAP_REPRODUCER = textwrap.dedent(
    """
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np, tensorflow as tf
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((1, 5, 8, 3)), tf.float32)   # the forward conv's input, 5 x 8
    dy = tf.constant(rng.standard_normal((1, 5, 4, 2)), tf.float32)  # its output gradient: 1x1 filter, stride (1, 2)
    for _ in range(500):
        tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[1, 1, 3, 2], out_backprop=dy,
                                        strides=[1, 1, 2, 1], padding="VALID")
    print("survived")
    """
)


@pytest.mark.finding(
    "tf-onednn-float32-backprop-filter-corrupts-the-heap",
    "tensorflow-cpu 2.21 (oneDNN's AVX-512 kernels): float32 Conv2DBackpropFilter with a 1x1 filter and stride (1, 2) "
    "on a 5x8 input corrupts the heap (abort or segfault within a few hundred calls)",
    where=lambda: probes.onednn_runs(probes.tf_kernel("float32 Conv2DBackpropFilter, 1x1 filter, stride (1, 2)"),
                                     isa="AVX-512"),
)
def test_finding_tf_float32_backprop_filter_corrupts_the_heap():
    """Found through the tensorflow adapter's vjp of a 2-d 'VALID' case (i 5x4, k 1x1, s 1x2: the filter
    gradient is this call). glibc aborts with "corrupted size vs. prev_size", "free(): invalid size" or the
    process segfaults; the values it returns before that are right. Not every shape does it (5x6, 3x8 did not
    in 300 calls; 5x12 and 5x16 did). It needs oneDNN's AVX-512 kernel: TF's Eigen kernel
    (TF_ENABLE_ONEDNN_OPTS=0) and oneDNN's AVX2 kernel (jit_1x1:avx2) survive the 500 calls."""
    completed = subprocess.run([sys.executable, "-c", HEAP_REPRODUCER], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0 and "survived" in completed.stdout, (completed.returncode, completed.stderr[-500:])


def test_the_reproducer_of_an_adapter_result_asks_in_the_case_s_mode():
    """A 1-d 'same' case: tf.nn.conv1d_transpose takes 'SAME' but no explicit pairs, so a reproducer that
    called the adapter with the canonical padding would get Unsupported; it must use call_case."""
    case = make_case(input_size=5, kernel_size=3, stride=2, mode="same", in_channels=2, out_channels=3, seed=4)
    (result,) = convt_oracle.crosscheck("tensorflow", suite=[case]).results
    assert result.outcome == "pass", result.message
    exec(compile(result.reproducer(), "<reproducer>", "exec"), {})  # runs clean: asked with 'SAME'


@pytest.mark.finding(
    "tf-onednn-inf-weight-meets-padding-zeros",
    "tensorflow-cpu 2.21 (oneDNN): conv1d_transpose turns an inf weight into NaN at outputs where the weight meets "
    "no input (inf * the zeros of the padding)",
    where=lambda dtype: probes.onednn_runs(probes.tf_kernel(f"{dtype} conv1d_transpose 'VALID', stride 2")),
)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_finding_tf_inf_weight_meets_padding_zeros(dtype):
    """x = [1] (NWC 1x1x1), filter [inf, 1, 1] (WOI 3x1x1), stride 2, 'VALID': the result is
    [x*w0, x*w1, x*w2] = [inf, 1, 1]. Where oneDNN runs it TF gives [inf, 1, nan]: its kernel correlates the
    stride-dilated, zero-padded input with the flipped filter, and inf times a padding zero is NaN. TF's Eigen
    kernel, and float64, are right. support.findings models the mechanism and explains every such
    discrepancy of the tensorflow adapter on the smoke suite. Standalone:

        tf.nn.conv1d_transpose(tf.ones((1, 1, 1)), tf.constant([[[np.inf]], [[1.0]], [[1.0]]]), [1, 3, 1], 2, "VALID")
    """
    x = tf.ones((1, 1, 1), dtype)
    f = tf.cast(tf.constant([[[np.inf]], [[1.0]], [[1.0]]]), dtype)
    y = tf.nn.conv1d_transpose(x, f, [1, 3, 1], strides=2, padding="VALID")
    assert tf.cast(y, tf.float64).numpy().ravel().tolist() == [np.inf, 1.0, 1.0]


# --- device selection: CPU always, a GPU where TensorFlow sees one -----------------------------------------------


def test_the_gpu_variant_says_why_it_is_skipped_without_a_gpu():
    check_skipped_without_its_device("tensorflow-gpu", NATIVE[:3], "sees no GPU")


def test_the_gpu_variant_agrees_with_the_golden():
    report = crosscheck_on_its_device("tensorflow-gpu", NATIVE, grad=True)
    assert report.ok, report.summary()


# --- findings of TF's Eigen kernels (oneDNN's, where it runs the call, are right) ----------------------------------

PADDINGS = {"'VALID'": "VALID", "explicit pairs": [[0, 0], [0, 0], [0, 0], [0, 0]]}


def eigen_finding(finding: str, reason: str, dtype: str):
    """A finding of TF's Eigen kernel for conv2d_transpose in `dtype`, its test run with each of PADDINGS: a
    strict xfail where oneDNN does not run that call (tests/conftest.py)."""

    def where(padding):
        return probes.onednn_does_not_run(probes.tf_kernel(f"{dtype} conv2d_transpose {padding}"))

    def mark(test):
        return pytest.mark.finding(finding, reason, where=where)(pytest.mark.parametrize("padding", list(PADDINGS))(test))

    return mark


@eigen_finding("tf-eigen-float16-sums-the-taps-in-float16",
               "tensorflow-cpu 2.21 (Eigen): float16 conv2d_transpose sums the taps in float16", "float16")
def test_finding_tf_float16_sums_the_taps_in_float16(padding):
    """Output 8 is x[8]*w[0] + ... + x[0]*w[8] = -2048 + 7 + 2048 = 7, exact in float16; summed in float16 in
    reverse tap order, 2048 + 1 rounds back to 2048 and the result is 0 (float32 gives 7). Where oneDNN runs
    the call (float16 'VALID' on CPUs with AVX512_FP16) TF gives 7. On the default suite every float16 and
    bfloat16 value_mismatch of the tensorflow adapter is an Eigen case, each within the bound of accumulating
    in the dtype.

        x = tf.constant(np.array([2048, 1, 1, 1, 1, 1, 1, 1, -2048], np.float16).reshape(1, 1, 9, 1))
        tf.nn.conv2d_transpose(x, tf.ones((1, 9, 1, 1), tf.float16), [1, 1, 17, 1], 1, "VALID")[0, 0, 8, 0]
    """
    x = tf.constant(np.array([2048, 1, 1, 1, 1, 1, 1, 1, -2048], np.float16).reshape(1, 1, 9, 1))
    f = tf.ones((1, 9, 1, 1), tf.float16)
    assert float(tf.nn.conv2d_transpose(x, f, [1, 1, 17, 1], strides=1, padding=PADDINGS[padding])[0, 0, 8, 0]) == 7.0


@eigen_finding("tf-eigen-bfloat16-rounds-each-product",
               "tensorflow-cpu 2.21 (Eigen): bfloat16 conv2d_transpose rounds each product to bfloat16 before summing",
               "bfloat16")
def test_finding_tf_bfloat16_rounds_each_product(padding):
    """Output 1 is x0*w1 + x1*w0 = -1.6328125 * -1.8984375 + -1.96875 * 1.0078125 = 1.11566162109375, which
    rounds to 1.1171875 in bfloat16 (oneDNN gives it, where it runs bfloat16). TF's Eigen kernel gives
    1.109375 = bf16(3.0998) + bf16(-1.9841): each product rounded first.

        x = tf.constant([[[[-1.6328125], [-1.96875]]]], tf.bfloat16)
        f = tf.constant([[[[1.0078125]], [[-1.8984375]]]], tf.bfloat16)
        tf.nn.conv2d_transpose(x, f, [1, 1, 3, 1], 1, [[0, 0], [0, 0], [0, 0], [0, 0]])[0, 0, 1, 0]
    """
    x = tf.constant([[[[-1.6328125], [-1.96875]]]], tf.bfloat16)
    f = tf.constant([[[[1.0078125]], [[-1.8984375]]]], tf.bfloat16)
    assert float(tf.nn.conv2d_transpose(x, f, [1, 1, 3, 1], 1, PADDINGS[padding])[0, 0, 1, 0]) == 1.1171875


@pytest.mark.finding(
    "tf-accepts-an-output-size-of-zero",
    "tensorflow-cpu 2.21: conv2d_transpose accepts an output_shape of size 0 (a crop of the whole result) and "
    "returns an empty array; torch and onnxruntime raise",
)
def test_finding_tf_accepts_an_output_size_of_zero():
    """x = [1, 1], w = [1, 1]: the full result has 3 elements; cropping (2, 1) leaves none. TF's own rule
    (the forward convolution of the output size gives the input size: (0 + 2 + 1 - 2) + 1 = 2) lets it
    through, and the result is an empty array, where the configuration is invalid.

        tf.nn.conv2d_transpose(tf.ones((1, 1, 2, 1)), tf.ones((1, 2, 1, 1)), [1, 1, 0, 1], 1, [[0, 0], [0, 0], [2, 1], [0, 0]])
    """
    with pytest.raises(Exception):
        tf.nn.conv2d_transpose(tf.ones((1, 1, 2, 1)), tf.ones((1, 2, 1, 1)), [1, 1, 0, 1], 1,
                               [[0, 0], [0, 0], [2, 1], [0, 0]])


# --- invalid configurations (the `invalid` suite: tests/test_invalid_inputs.py) -----------------------------------


@pytest.mark.finding(
    "tf-accepts-zero-size-axes",
    "tensorflow-cpu 2.21: conv2d_transpose computes an input with an empty spatial axis (a result of zeros out of "
    "nothing), 0 input channels and a kernel of size 0; torch refuses each",
)
def test_finding_tf_accepts_zero_size_axes():
    """An empty height: the output height (0-1)*1 + 2 = 1 is what the size formula gives for i = 0, and TF
    returns zeros of shape (1, 1, 5, 3), Eigen and oneDNN alike (also for 0 input channels, and a kernel of
    height 0). torch: "Only zero batch or zero channel inputs are supported".

        tf.nn.conv2d_transpose(tf.ones((1, 0, 4, 2)), tf.ones((2, 2, 3, 2)), [1, 1, 5, 3], 1, "VALID").shape
    """
    with pytest.raises(Exception):
        tf.nn.conv2d_transpose(tf.ones((1, 0, 4, 2)), tf.ones((2, 2, 3, 2)), [1, 1, 5, 3], 1, "VALID")


NEGATIVE_SIZE_REPRODUCER = textwrap.dedent(
    """
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    try:  # stride -1 on the width: the output width (4-1)*(-1) + 2 = -1
        tf.nn.conv2d_transpose(tf.ones((1, 3, 4, 2)), tf.ones((2, 2, 3, 2)), [1, 6, -1, 3], [2, -1], "VALID")
    except Exception as error:
        print("raised", type(error).__name__)
    """
)


@pytest.mark.finding(
    "tf-onednn-aborts-on-a-negative-output-size",
    "tensorflow-cpu 2.21 (oneDNN): Conv2DBackpropInput with 'VALID' aborts the process on an output_shape with a "
    "negative size (a negative stride gives one) instead of raising",
    where=lambda: probes.onednn_runs(probes.tf_kernel("float32 conv2d_transpose 'VALID', stride 2")),
)
def test_finding_tf_onednn_aborts_on_a_negative_output_size():
    """The tensorflow adapter's 'VALID' case with stride (2, -1): TF's Eigen kernel raises "Row and column
    strides should be larger than 0"; oneDNN's (mkl_conv_grad_input_ops.cc) checks the output shape first with
    a CHECK: "Check failed: ... Dimension -1 must be >= 0", SIGABRT. In a subprocess."""
    completed = subprocess.run([sys.executable, "-c", NEGATIVE_SIZE_REPRODUCER], capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 0 and "raised" in completed.stdout, (completed.returncode, completed.stderr[-500:])


@pytest.mark.finding(
    "tf-truncates-a-float-stride",
    "tensorflow-cpu 2.21: conv2d_transpose truncates a float stride (1.5 becomes 1) and computes with it "
    "instead of refusing it",
)
def test_finding_tf_truncates_a_float_stride():
    """strides=[1.5, 1] with the output_shape of stride 1 is computed (shape (1, 4, 5, 3)); so is [2.0, 2.0], as
    stride 2. torch: "argument 'stride' must be tuple of ints"; onnxruntime refuses a FLOATS strides attribute.

        tf.nn.conv2d_transpose(tf.ones((1, 3, 4, 2)), tf.ones((2, 2, 3, 2)), [1, 4, 5, 3], [1.5, 1], "VALID")
    """
    with pytest.raises(Exception):
        tf.nn.conv2d_transpose(tf.ones((1, 3, 4, 2)), tf.ones((2, 2, 3, 2)), [1, 4, 5, 3], [1.5, 1], "VALID")
