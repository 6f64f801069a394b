"""TensorFlow's conventions (tf.nn.conv{1,2,3}d_transpose: 'SAME', 'VALID', explicit forward pairs, output_shape),
checked through convt_oracle.arithmetic against TF itself (support.conventions says how).

Which CPU kernel TF runs (Eigen's or oneDNN's) depends on the CPU and TF_ENABLE_ONEDNN_OPTS: only oneDNN's
take dilation, and a finding holds for oneDNN's float32 kernel only; both are asked of TF (support.probes).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from convt_oracle import arithmetic as A
from support import probes
from support.conventions import channels_first, channels_last, assert_close, golden, random_case, tf_filter

pytestmark = pytest.mark.framework("tensorflow")


def import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep the C++ log quiet; set before the first import
    return pytest.importorskip("tensorflow")


def tf_errors(tf):
    return (tf.errors.InvalidArgumentError, tf.errors.AbortedError, ValueError)


def tf_transpose(tf, x, w, size, stride, padding, dilation=None):
    """tf.nn.conv{1,2,3}d_transpose on golden-layout arrays: NC... input, (Cin, Cout, *k) weight."""
    rank = x.ndim - 2
    op = {1: tf.nn.conv1d_transpose, 2: tf.nn.conv2d_transpose, 3: tf.nn.conv3d_transpose}[rank]
    if not isinstance(padding, str):
        padding = [[0, 0], *[list(pair) for pair in padding], [0, 0]]
    kwargs = {} if dilation is None else {"dilations": list(dilation)}
    y = op(
        channels_last(x),
        tf_filter(w),
        output_shape=[x.shape[0], *size, w.shape[1]],
        strides=list(stride),
        padding=padding,
        **kwargs,
    )
    return channels_first(y.numpy())


# (input size, kernel, stride) per axis; the second of each rank has a kernel shorter than the stride
TF_CONFIGS = {
    1: [((4,), (3,), (2,)), ((4,), (1,), (3,)), ((3,), (4,), (1,))],
    2: [((4, 3), (3, 2), (2, 3)), ((3, 2), (1, 2), (3, 2)), ((2, 3), (4, 5), (1, 2))],
    3: [((3, 2, 2), (2, 3, 1), (2, 1, 3))],
}


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_tf_output_shape_every_accepted_size(rank, padding):
    """tf.nn.conv{1,2,3}d_transpose, 'SAME'/'VALID', each accepted output_shape -> output_shape_padding."""
    tf = import_tf()
    for n, (input_size, kernel, stride) in enumerate(TF_CONFIGS[rank]):
        x, w = random_case(100 + 10 * rank + n, input_size, kernel)
        dilation = (1,) * rank
        accepted = [A.accepted_output_sizes(i, k, s, 1, padding) for i, k, s in zip(input_size, kernel, stride)]
        for size in itertools.product(*accepted):
            pads = [
                A.output_shape_padding(i, k, s, 1, padding, o) for i, k, s, o in zip(input_size, kernel, stride, size)
            ]
            expected = golden(x, w, stride, dilation, pads)
            assert_close(tf_transpose(tf, x, w, size, stride, padding), expected, np.float64)


def test_tf_same_stride_2_accepts_7_and_8_from_4():
    """docs/conventions.md: SAME, s=2, i=4 accepts output sizes 7 and 8 (the extra row is taken at the end)."""
    tf = import_tf()
    x, w = random_case(7, (4,), (3,))
    assert list(A.accepted_output_sizes(4, 3, 2, 1, "SAME")) == [7, 8]
    for size in (7, 8):
        pad = A.output_shape_padding(4, 3, 2, 1, "SAME", size)
        assert_close(tf_transpose(tf, x, w, (size,), (2,), "SAME"), golden(x, w, (2,), (1,), [pad]), np.float64)
    for size in (6, 9):
        with pytest.raises(ValueError, match="output_shape"):
            A.output_shape_padding(4, 3, 2, 1, "SAME", size)
        with pytest.raises(tf_errors(tf)):
            tf_transpose(tf, x, w, (size,), (2,), "SAME")


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((1, 0), (0, 2))])
def test_tf_rejects_exactly_the_sizes_the_arithmetic_rejects(padding):
    tf = import_tf()
    input_size, kernel, stride = (4, 3), (3, 2), (2, 3)
    x, w = random_case(11, input_size, kernel)
    pad_of_axis = [padding] * 2 if isinstance(padding, str) else list(padding)
    accepted = [A.accepted_output_sizes(i, k, s, 1, p) for i, k, s, p in zip(input_size, kernel, stride, pad_of_axis)]
    for axis in range(2):
        for outside in (accepted[axis].start - 1, accepted[axis].stop):
            size = [r.start for r in accepted]
            size[axis] = outside
            with pytest.raises(ValueError, match="output_shape"):
                A.output_shape_padding(input_size[axis], kernel[axis], stride[axis], 1, pad_of_axis[axis], outside)
            with pytest.raises(tf_errors(tf)):
                tf_transpose(tf, x, w, size, stride, padding)


def test_tf_explicit_padding_pairs():
    """tf.nn.conv2d_transpose with explicit (begin, end) pairs of the forward conv, every accepted size.

    TF takes explicit pairs only in conv2d_transpose (conv1d/conv3d_transpose want a string), and only
    without dilation on CPU.
    """
    tf = import_tf()
    configs = [
        ((4, 3), (3, 2), (2, 3), ((1, 0), (0, 2))),
        ((3, 4), (4, 3), (2, 2), ((2, 1), (1, 1))),
        ((3, 2), (1, 2), (3, 3), ((1, 2), (0, 0))),  # kernel shorter than the stride
        ((2, 3), (2, 3), (1, 2), ((2, 0), (2, 2))),  # padding as large as the kernel
    ]
    for n, (input_size, kernel, stride, pairs) in enumerate(configs):
        x, w = random_case(200 + n, input_size, kernel)
        accepted = [A.accepted_output_sizes(i, k, s, 1, p) for i, k, s, p in zip(input_size, kernel, stride, pairs)]
        assert all(len(r) for r in accepted)
        for size in itertools.product(*accepted):
            pads = [
                A.output_shape_padding(i, k, s, 1, p, o)
                for i, k, s, p, o in zip(input_size, kernel, stride, pairs, size)
            ]
            assert_close(tf_transpose(tf, x, w, size, stride, pairs), golden(x, w, stride, (1, 1), pads), np.float64)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_tf_dilation_float32(padding):
    """Dilation > 1, every accepted output_shape. Only TF's oneDNN kernels take it (float32), so where TF
    refuses it here there is nothing to check."""
    tf = import_tf()
    refusal = probes.tf_refuses("float32", dilated=True)
    if refusal is not None:
        pytest.skip(f"TF's CPU kernels here refuse dilation in float32: {refusal}")
    input_size, kernel, stride, dilation = (3, 4), (3, 2), (2, 1), (2, 3)
    x, w = random_case(300, input_size, kernel, dtype=np.float32)
    axes = list(zip(input_size, kernel, stride, dilation))
    accepted = [A.accepted_output_sizes(i, k, s, d, padding) for i, k, s, d in axes]
    for size in itertools.product(*accepted):
        pads = [A.output_shape_padding(i, k, s, d, padding, o) for (i, k, s, d), o in zip(axes, size)]
        y = tf_transpose(tf, x, w, size, stride, padding, dilation)
        assert_close(y, golden(x, w, stride, dilation, pads), np.float32)


# i=1, kernel k (ke with dilation d), stride 2, 'VALID': accepted sizes are ke and ke+1; ke-1 is not (the
# forward 'VALID' conv of ke-1 elements has no output)
SHORTER_THAN_KERNEL = {"dilation_1": (3, 1), "dilation_2": (2, 2)}  # (k, d): ke 3 both ways


def test_tf_float64_rejects_output_shape_shorter_than_the_kernel():
    tf = import_tf()
    k, d = SHORTER_THAN_KERNEL["dilation_1"]
    x, w = random_case(301, (1, 2), (k, 1))
    assert list(A.accepted_output_sizes(1, k, 2, d, "VALID")) == [3, 4]
    with pytest.raises(tf_errors(tf), match="out_backprop"):
        tf_transpose(tf, x, w, (2, 2), (2, 1), "VALID")


@pytest.mark.parametrize("k, d", list(SHORTER_THAN_KERNEL.values()), ids=list(SHORTER_THAN_KERNEL))
@pytest.mark.finding(
    "tf-onednn-float32-accepts-output-shape-shorter-than-the-kernel",
    "tensorflow-cpu 2.21 (oneDNN): float32 conv2d_transpose accepts an output_shape shorter than the kernel",
    where=lambda: probes.onednn_runs(
        probes.tf_kernel("float32 conv2d_transpose 'VALID', output_shape shorter than the kernel")
    ),
)
def test_finding_tf_float32_accepts_output_shape_shorter_than_the_kernel(k, d):
    """tf.nn.conv2d_transpose in float32 (the oneDNN kernel, with or without dilation), 1-element input,
    ke=3, s=2, 'VALID', output_shape 2: returns full[0:2] instead of raising. The forward 'VALID' conv of 2
    elements with ke=3 has no output, so 2 is not a valid output_shape for i=1 (accepted: 3, 4), and the
    float64 kernel raises "Size of out_backprop doesn't match computed" for it
    (test_tf_float64_rejects_output_shape_shorter_than_the_kernel). Affected: i=1 and ke-s < size < ke,
    as if the forward size were computed as trunc((size - ke) / s) + 1. Related, in the forward op:
    tf.nn.conv2d float32 'VALID' returns n outputs (float64: 0) for an input of n < ke elements. TF's Eigen
    kernel refuses the size as float64 does.
    """
    tf = import_tf()
    if d > 1 and probes.tf_refuses("float32", dilated=True) is not None:
        pytest.skip("TF's CPU kernels here refuse dilation in float32: no output_shape is asked")
    x, w = random_case(302, (1, 2), (k, 1), dtype=np.float32)
    assert list(A.accepted_output_sizes(1, k, 2, d, "VALID")) == [3, 4]
    with pytest.raises(tf_errors(tf)):
        tf_transpose(tf, x, w, (2, 2), (2, 1), "VALID", (d, 1))


def test_tf_article_example():
    """The source article's tf.nn.conv2d_transpose call gives its published result, and so does the golden."""
    from convt_oracle.cases import article

    tf = import_tf()
    x = article.INPUT[None, None]
    w = article.KERNEL[None, None]
    size = (article.OUTPUT_SIZE,) * 2
    y = tf_transpose(tf, x, w, size, (article.STRIDE,) * 2, article.PADDING)
    np.testing.assert_array_equal(y[0, 0], article.EXPECTED)
    pads = [
        A.output_shape_padding(i, k, article.STRIDE, 1, article.PADDING, article.OUTPUT_SIZE)
        for i, k in zip(x.shape[2:], w.shape[2:])
    ]
    np.testing.assert_array_equal(golden(x, w, (article.STRIDE,) * 2, (1, 1), pads)[0, 0], article.EXPECTED)
