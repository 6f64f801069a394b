"""The arithmetic's translations of framework conventions, checked against the frameworks themselves.

Each test runs a real framework op (TF, jax, torch, onnxruntime, onnx.reference) on a small random case
with distinct in/out channel counts and non-square sizes, translates the op's padding convention into the
canonical (begin, end, output_padding) of oracle/arithmetic.py, and compares with the golden
convt_oracle.conv_transpose. float64 where the framework supports it, float32 with a tolerance otherwise.

Frameworks are imported inside the tests with pytest.importorskip: a missing one is skipped, with the
reason. Python caches the import, so each framework is imported once per process.

Tests named test_finding_* document places where an installed framework disagrees with its own documented
rule. They are strict xfails that assert the documented rule: they show up as "xfailed" with the reason,
and fail (XPASS strict) once the framework changes, so that the finding gets revisited.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import os

import numpy as np
import pytest

from convt_oracle import arithmetic as A
from convt_oracle import conv_transpose

RTOL64, ATOL64 = 1e-12, 1e-12
RTOL32, ATOL32 = 2e-5, 2e-5
BATCH, CIN, COUT = 2, 3, 2


# --- helpers ------------------------------------------------------------------------------------------------


def golden(x, w, stride, dilation, pads):
    """The golden for x (N, Cin, *i), w (Cin, Cout, *k) and one canonical AxisPadding per spatial axis.

    A negative begin (ONNX's rule with a negative total padding, a jax pair with lo > ke-1) means -begin
    zeros before the full result: conv_transpose crops 0 there and the zeros are prepended here.
    """
    out = conv_transpose(
        x,
        w,
        stride=tuple(stride),
        dilation=tuple(dilation),
        padding=[(max(p.begin, 0), p.end) for p in pads],
        output_padding=[p.output_padding for p in pads],
    )
    lead = [max(-p.begin, 0) for p in pads]
    if any(lead):
        out = np.pad(out, [(0, 0), (0, 0)] + [(n, 0) for n in lead])
    return out


def channels_last(a):
    return np.moveaxis(a, 1, -1)


def channels_first(a):
    return np.moveaxis(a, -1, 1)


def tf_filter(w):
    """Golden weight (Cin, Cout, *k) as a TF/jax 'HWIO'-style filter (*k, Cout, Cin)."""
    return w.transpose(*range(2, w.ndim), 1, 0)


def random_case(seed, input_size, kernel_size, dtype=np.float64, batch=BATCH, cin=CIN, cout=COUT):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, cin, *input_size)).astype(dtype)
    w = rng.standard_normal((cin, cout, *kernel_size)).astype(dtype)
    return x, w


def assert_close(actual, expected, dtype):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"shape {actual.shape} != golden {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(actual, expected, rtol=RTOL64, atol=ATOL64 * scale)
    else:
        np.testing.assert_allclose(actual, expected, rtol=RTOL32, atol=ATOL32 * scale)


# --- TensorFlow ---------------------------------------------------------------------------------------------


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


@pytest.mark.framework("tensorflow")
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


@pytest.mark.framework("tensorflow")
def test_tf_same_stride_2_accepts_7_and_8_from_4():
    """REFERENCE.md: SAME, s=2, i=4 accepts output sizes 7 and 8 (the extra row is taken at the end)."""
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


@pytest.mark.framework("tensorflow")
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


@pytest.mark.framework("tensorflow")
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


@pytest.mark.framework("tensorflow")
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_tf_dilation_float32(padding):
    """Dilation > 1 runs on CPU only in float32 (oneDNN); every accepted output_shape."""
    tf = import_tf()
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


@pytest.mark.framework("tensorflow")
def test_tf_float64_rejects_output_shape_shorter_than_the_kernel():
    tf = import_tf()
    k, d = SHORTER_THAN_KERNEL["dilation_1"]
    x, w = random_case(301, (1, 2), (k, 1))
    assert list(A.accepted_output_sizes(1, k, 2, d, "VALID")) == [3, 4]
    with pytest.raises(tf_errors(tf), match="out_backprop"):
        tf_transpose(tf, x, w, (2, 2), (2, 1), "VALID")


@pytest.mark.framework("tensorflow")
@pytest.mark.parametrize("k, d", list(SHORTER_THAN_KERNEL.values()), ids=list(SHORTER_THAN_KERNEL))
@pytest.mark.xfail(
    strict=True,
    reason="FINDING tensorflow-cpu 2.21: float32 conv2d_transpose accepts an output_shape shorter than the kernel",
)
def test_finding_tf_float32_accepts_output_shape_shorter_than_the_kernel(k, d):
    """tf.nn.conv2d_transpose in float32 (the oneDNN kernel, with or without dilation), 1-element input,
    ke=3, s=2, 'VALID', output_shape 2: returns full[0:2] instead of raising. The forward 'VALID' conv of 2
    elements with ke=3 has no output, so 2 is not a valid output_shape for i=1 (accepted: 3, 4), and the
    float64 kernel raises "Size of out_backprop doesn't match computed" for it
    (test_tf_float64_rejects_output_shape_shorter_than_the_kernel). Affected: i=1 and ke-s < size < ke,
    as if the forward size were computed as trunc((size - ke) / s) + 1. Related, in the forward op:
    tf.nn.conv2d float32 'VALID' returns n outputs (float64: 0) for an input of n < ke elements.
    """
    tf = import_tf()
    x, w = random_case(302, (1, 2), (k, 1), dtype=np.float32)
    assert list(A.accepted_output_sizes(1, k, 2, d, "VALID")) == [3, 4]
    with pytest.raises(tf_errors(tf)):
        tf_transpose(tf, x, w, (2, 2), (2, 1), "VALID", (d, 1))


@pytest.mark.framework("tensorflow")
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


# --- jax --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def jax_x64():
    """jax with jax_enable_x64 on for the duration (restored afterwards); yields jax.lax."""
    jax = pytest.importorskip("jax")
    previous = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        yield jax.lax
    finally:
        jax.config.update("jax_enable_x64", previous)


def jax_transpose(lax, x, w, stride, padding, dilation, layout, **kwargs):
    """lax.conv_transpose(transpose_kernel=True) on golden-layout arrays, run in the given layout."""
    if layout == "NCHW":  # the golden's own layout: the weight (Cin, Cout, kh, kw) reads as 'OIHW'
        y = lax.conv_transpose(
            x, w, tuple(stride), padding, rhs_dilation=tuple(dilation),
            dimension_numbers=("NCHW", "OIHW", "NCHW"), transpose_kernel=True, **kwargs,
        )
        return np.asarray(y)
    y = lax.conv_transpose(  # TF layout: NHWC input, filter (kh, kw, Cout, Cin) reads as 'HWIO'
        channels_last(x), tf_filter(w), tuple(stride), padding, rhs_dilation=tuple(dilation),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), transpose_kernel=True, **kwargs,
    )
    return channels_first(np.asarray(y))


# (input size, kernel, stride, dilation); the second has kernels shorter than the strides
JAX_CONFIGS = [
    ((4, 3), (3, 2), (2, 3), (1, 2)),
    ((3, 2), (1, 2), (3, 3), (2, 1)),
    ((2, 3), (4, 3), (1, 2), (2, 2)),
]


@pytest.mark.framework("jax")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_jax_same_and_valid(padding, layout):
    """lax.conv_transpose 'SAME' -> same_padding (output i*s), 'VALID' -> valid_padding, with rhs_dilation."""
    translate = A.same_padding if padding == "SAME" else A.valid_padding
    with jax_x64() as lax:
        for n, (input_size, kernel, stride, dilation) in enumerate(JAX_CONFIGS):
            x, w = random_case(400 + n, input_size, kernel)
            pads = [translate(i, k, s, d) for i, k, s, d in zip(input_size, kernel, stride, dilation)]
            y = jax_transpose(lax, x, w, stride, padding, dilation, layout)
            assert y.dtype == np.float64
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


@pytest.mark.framework("jax")
def test_jax_explicit_pairs_from_to_jax_padding():
    """Explicit lax.conv_transpose pairs from to_jax_padding: crops, output_padding, crops beyond ke-1."""
    input_size, kernel, stride, dilation = (4, 3), (3, 2), (2, 3), (2, 1)
    # (begin, end, output_padding) per axis; full sizes are 11 and 8, ke 5 and 2
    cases = [
        ((0, 0, 0), (0, 0, 0)),
        ((2, 1, 0), (1, 0, 2)),
        ((1, 0, 3), (0, 1, 0)),
        ((6, 2, 0), (3, 2, 1)),  # begin > ke-1 on both axes: negative jax padding at the start
        ((0, 4, 4), (1, 1, 1)),  # end and output_padding both positive
    ]
    with jax_x64() as lax:
        x, w = random_case(500, input_size, kernel)
        for axes in cases:
            pads = [A.AxisPadding(*p) for p in axes]
            pairs = [A.to_jax_padding(k, d, p) for k, d, p in zip(kernel, dilation, pads)]
            y = jax_transpose(lax, x, w, stride, pairs, dilation, "NCHW")
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


@pytest.mark.framework("jax")
def test_jax_explicit_pairs_through_from_jax_padding():
    """Arbitrary lax.conv_transpose pairs, read back with from_jax_padding (lo > ke-1 prepends zeros)."""
    input_size, kernel, stride, dilation = (3, 4), (2, 3), (3, 2), (1, 2)  # ke 2 and 5
    pair_cases = [
        ((1, 1), (4, 4)),
        ((0, 3), (2, 0)),
        ((3, -1), (6, 1)),  # lo > ke-1: zeros before the full result
        ((-1, 2), (-1, 0)),  # negative padding: crops
    ]
    with jax_x64() as lax:
        x, w = random_case(501, input_size, kernel)
        for pairs in pair_cases:
            pads = [A.from_jax_padding(k, d, lo, hi) for k, d, (lo, hi) in zip(kernel, dilation, pairs)]
            y = jax_transpose(lax, x, w, stride, list(pairs), dilation, "NHWC")
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


@pytest.mark.framework("jax")
def test_jax_use_consistent_padding_pairs_are_crops():
    """With use_consistent_padding=True a pair is the forward conv's padding: the canonical crop itself."""
    with jax_x64() as lax:
        if "use_consistent_padding" not in inspect.signature(lax.conv_transpose).parameters:
            pytest.skip("this jax has no use_consistent_padding")
        input_size, kernel, stride, dilation = (4, 3), (3, 2), (2, 3), (2, 1)
        x, w = random_case(502, input_size, kernel)
        for crops in [((0, 0), (0, 0)), ((2, 1), (1, 0)), ((0, 3), (0, 1)), ((4, 4), (1, 2))]:
            pads = [A.AxisPadding(b, e, 0) for b, e in crops]
            y = jax_transpose(lax, x, w, stride, list(crops), dilation, "NCHW", use_consistent_padding=True)
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


# --- torch ------------------------------------------------------------------------------------------------------


TORCH_CONFIGS = [  # (input size, kernel, stride, padding, dilation)
    ((4, 3), (3, 2), (2, 3), (1, 0), (1, 2)),
    ((3, 5), (1, 4), (3, 2), (0, 2), (2, 1)),
    ((2, 3), (2, 3), (1, 2), (1, 1), (3, 1)),
]


def torch_module(torch, w, kernel, stride, padding, dilation):
    module = torch.nn.ConvTranspose2d(
        w.shape[0], w.shape[1], kernel, stride=stride, padding=padding, dilation=dilation, bias=False
    ).double()
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w))
    return module


@pytest.mark.framework("torch")
def test_torch_output_size_to_output_padding():
    """nn.ConvTranspose2d(..., output_size=...) for every accepted size -> torch_output_padding."""
    torch = pytest.importorskip("torch")
    for n, (input_size, kernel, stride, padding, dilation) in enumerate(TORCH_CONFIGS):
        x, w = random_case(600 + n, input_size, kernel)
        module = torch_module(torch, w, kernel, stride, padding, dilation)
        ranges = [
            range(A.output_size(i, k, s, d, p, p), A.output_size(i, k, s, d, p, p) + s)
            for i, k, s, p, d in zip(input_size, kernel, stride, padding, dilation)
        ]
        for size in itertools.product(*ranges):
            ops = [
                A.torch_output_padding(i, k, s, d, p, o)
                for i, k, s, d, p, o in zip(input_size, kernel, stride, dilation, padding, size)
            ]
            with torch.no_grad():
                y = module(torch.from_numpy(x), output_size=list(size)).numpy()
            pads = [A.AxisPadding(p, p, op) for p, op in zip(padding, ops)]
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


@pytest.mark.framework("torch")
def test_torch_rejects_the_output_sizes_the_arithmetic_rejects():
    torch = pytest.importorskip("torch")
    input_size, kernel, stride, padding, dilation = TORCH_CONFIGS[0]
    x, w = random_case(610, input_size, kernel)
    module = torch_module(torch, w, kernel, stride, padding, dilation)
    smallest = [A.output_size(i, k, s, d, p, p) for i, k, s, p, d in zip(input_size, kernel, stride, padding, dilation)]
    for axis in range(2):
        for outside in (smallest[axis] - 1, smallest[axis] + stride[axis]):
            size = list(smallest)
            size[axis] = outside
            with pytest.raises(ValueError, match="output_size"):
                A.torch_output_padding(
                    input_size[axis], kernel[axis], stride[axis], dilation[axis], padding[axis], outside
                )
            with pytest.raises(ValueError):
                module(torch.from_numpy(x), output_size=size)


@pytest.mark.framework("torch")
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_torch_symmetric_padding_and_output_padding(rank):
    """F.conv_transpose{1,2,3}d(padding=p, output_padding=op): canonical (p, p, op); op < max(s, d)."""
    torch = pytest.importorskip("torch")
    functional = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
                  3: torch.nn.functional.conv_transpose3d}[rank]
    configs = {  # (input size, kernel, stride, padding, dilation, output_padding)
        1: [((5,), (3,), (2,), (1,), (1,), (1,)), ((4,), (2,), (1,), (0,), (3,), (2,))],  # op >= s, < d
        2: [((4, 3), (3, 2), (2, 3), (1, 0), (1, 2), (1, 2)), ((3, 4), (1, 3), (3, 1), (0, 2), (2, 2), (2, 1))],
        3: [((3, 2, 2), (2, 3, 1), (2, 1, 3), (1, 1, 0), (1, 2, 1), (1, 1, 2))],
    }[rank]
    for n, (input_size, kernel, stride, padding, dilation, op) in enumerate(configs):
        x, w = random_case(700 + 10 * rank + n, input_size, kernel)
        assert all(o < A.torch_output_padding_limit(s, d) for o, s, d in zip(op, stride, dilation))
        y = functional(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                       output_padding=op, dilation=dilation).numpy()
        pads = [A.AxisPadding(p, p, o) for p, o in zip(padding, op)]
        assert_close(y, golden(x, w, stride, dilation, pads), np.float64)
        # one more than the limit on the first axis is refused
        too_big = (A.torch_output_padding_limit(stride[0], dilation[0]),) + tuple(op[1:])
        with pytest.raises(RuntimeError, match="output padding"):
            functional(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                       output_padding=too_big, dilation=dilation)


# --- ONNX: onnxruntime and onnx.reference -------------------------------------------------------------------------

ONNX_OPSET = 22


def onnx_model(x_shape, w_shape, **attrs):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("ConvTranspose", ["X", "W"], ["Y"], **attrs)
    graph = helper.make_graph(
        [node],
        "conv_transpose",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape)),
         helper.make_tensor_value_info("W", TensorProto.FLOAT, list(w_shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])


def run_onnxruntime(model, x, w):
    ort = pytest.importorskip("onnxruntime")
    ort.set_default_logger_severity(3)  # the xfail findings make it log errors
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": x, "W": w})[0]


def run_reference(model, x, w):
    pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, {"X": x, "W": w})[0]


RUNTIMES = {"onnxruntime": run_onnxruntime, "onnx.reference": run_reference}


def onnx_check(runtime, input_size, kernel, stride, *, seed=0, **attrs):
    """Run ConvTranspose in `runtime` (float32) and compare with the golden under onnx_padding."""
    rank = len(input_size)
    dilation = tuple(attrs.pop("dilations", (1,) * rank))
    x, w = random_case(seed, input_size, kernel, dtype=np.float32, batch=1, cin=2, cout=3)
    model = onnx_model(x.shape, w.shape, strides=list(stride), dilations=list(dilation), **attrs)
    pads_attr = attrs.get("pads", [0] * (2 * rank))
    output_padding = attrs.get("output_padding", [0] * rank)
    output_shape = attrs.get("output_shape", [None] * rank)
    pads = [
        A.onnx_padding(
            i, k, s, d, auto_pad=attrs.get("auto_pad", "NOTSET"), pads=(pads_attr[a], pads_attr[a + rank]),
            output_padding=output_padding[a], output_shape=output_shape[a],
        )
        for a, (i, k, s, d) in enumerate(zip(input_size, kernel, stride, dilation))
    ]
    expected = golden(x, w, stride, dilation, pads)
    assert_close(RUNTIMES[runtime](model, x, w), expected, np.float32)


# (input size, kernel, stride, attributes); totals are per axis, F = full size
ONNX_SPEC_CASES = {
    "notset_asymmetric_pads_output_padding": ((3, 4), (3, 2), (2, 3), dict(pads=[2, 0, 1, 1], output_padding=[1, 2])),
    "notset_pads_dilation": ((3, 4), (2, 3), (2, 2), dict(pads=[0, 3, 2, 1], dilations=(2, 1))),
    "valid": ((3, 4), (3, 2), (2, 3), dict(auto_pad="VALID")),
    "valid_output_padding": ((3, 4), (1, 2), (2, 3), dict(auto_pad="VALID", output_padding=[1, 2])),
    "same_upper_odd_and_even_total": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_UPPER")),  # totals 1, 2
    "same_lower_odd_and_even_total": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_LOWER")),
    "same_upper_output_padding": ((3, 4), (3, 4), (2, 3), dict(auto_pad="SAME_UPPER", output_padding=[1, 2])),
    "same_lower_output_padding": ((3, 4), (3, 4), (2, 3), dict(auto_pad="SAME_LOWER", output_padding=[1, 2])),
    "same_upper_dilation": ((3, 4), (2, 3), (2, 2), dict(auto_pad="SAME_UPPER", dilations=(2, 2))),  # totals 1, 3
    "same_lower_dilation": ((3, 4), (2, 3), (2, 2), dict(auto_pad="SAME_LOWER", dilations=(2, 2))),
    # output_shape under SAME_*: positive odd and even totals (F = 7 x 10)
    "output_shape_same_upper": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_UPPER", output_shape=[6, 7])),
    "output_shape_same_lower": ((3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_LOWER", output_shape=[6, 7])),
    "output_shape_same_upper_output_padding": (
        (3, 4), (3, 4), (2, 2), dict(auto_pad="SAME_UPPER", output_shape=[5, 8], output_padding=[1, 1])),
    # the spec's own example (test_convtranspose_output_shape): total -1, a zero row/column at the end
    "output_shape_total_minus_1": ((3, 3), (3, 3), (3, 2), dict(output_shape=[10, 8])),
    "output_shape_total_minus_1_same_lower": (
        (3, 3), (3, 3), (3, 2), dict(auto_pad="SAME_LOWER", output_shape=[10, 8])),
}

# output_shape and auto_pad NOTSET / VALID: the spec derives the pads from output_shape (larger half at the
# start) and ignores `pads`; onnxruntime does, onnx.reference does not.
ONNX_OUTPUT_SHAPE_NOT_SAME_CASES = {
    "notset_odd_even": ((3, 4), (3, 4), (2, 2), dict(output_shape=[6, 7])),  # totals 1, 3
    "notset_with_pads_ignored": ((3, 4), (3, 4), (2, 2), dict(output_shape=[5, 8], pads=[2, 0, 0, 2])),
    "notset_output_padding": ((3, 4), (3, 4), (2, 3), dict(output_shape=[6, 10], output_padding=[1, 2])),
    "valid_odd_even": ((3, 4), (3, 4), (2, 2), dict(auto_pad="VALID", output_shape=[6, 8])),  # totals 1, 2
}

# Negative total padding: SAME with ke + output_padding < s, or output_shape beyond the full result F.
ONNX_NEGATIVE_TOTAL_CASES = {
    # auto_pad SAME, kernel shorter than the stride: totals -1 (odd) and -2 (even); the output must be i*s
    "same_upper_kernel_shorter_than_stride": ((2, 3), (1, 1), (2, 3), dict(auto_pad="SAME_UPPER")),
    "same_lower_kernel_shorter_than_stride": ((2, 3), (1, 1), (2, 3), dict(auto_pad="SAME_LOWER")),
    "same_upper_output_padding": ((2, 3), (1, 2), (3, 3), dict(auto_pad="SAME_UPPER", output_padding=[1, 0])),
    # output_shape beyond the full result (F = 4 x 5): totals -2 (even: one zero at each end, either reading)
    "output_shape_same_upper_total_minus_2": ((2, 2), (1, 2), (3, 3), dict(auto_pad="SAME_UPPER", output_shape=[6, 7])),
    "output_shape_same_lower_total_minus_2": ((2, 2), (1, 2), (3, 3), dict(auto_pad="SAME_LOWER", output_shape=[6, 7])),
    # total -1 under SAME_UPPER: floor division puts the zero at the start
    "output_shape_same_upper_total_minus_1": ((2, 2), (1, 2), (3, 3), dict(auto_pad="SAME_UPPER", output_shape=[5, 6])),
}
# the same with auto_pad NOTSET (both runtimes deviate from the spec formula here, each for its own reason)
ONNX_NEGATIVE_TOTAL_NOTSET = {
    "output_shape_notset_total_minus_2": ((2, 2), (1, 2), (3, 3), dict(output_shape=[6, 7])),
}


@pytest.mark.framework("onnx")
@pytest.mark.parametrize("case", list(ONNX_SPEC_CASES))
@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_onnx_conv_transpose(runtime, case):
    """Both runtimes follow the spec: pads/output_padding, VALID, SAME_UPPER/LOWER, output_shape."""
    input_size, kernel, stride, attrs = ONNX_SPEC_CASES[case]
    onnx_check(runtime, input_size, kernel, stride, seed=800 + list(ONNX_SPEC_CASES).index(case), **dict(attrs))


@pytest.mark.framework("onnxruntime")
@pytest.mark.parametrize("case", list(ONNX_OUTPUT_SHAPE_NOT_SAME_CASES))
def test_onnxruntime_output_shape_without_same_auto_pad(case):
    """onnxruntime: output_shape with NOTSET/VALID, positive totals: the spec's split, `pads` ignored."""
    input_size, kernel, stride, attrs = ONNX_OUTPUT_SHAPE_NOT_SAME_CASES[case]
    onnx_check("onnxruntime", input_size, kernel, stride, seed=1, **dict(attrs))


@pytest.mark.framework("onnx")
@pytest.mark.parametrize("case", list(ONNX_OUTPUT_SHAPE_NOT_SAME_CASES) + list(ONNX_NEGATIVE_TOTAL_NOTSET))
@pytest.mark.xfail(
    strict=True,
    reason="FINDING onnx 1.23.2: onnx.reference ConvTranspose ignores output_shape for the pads unless auto_pad SAME_*",
)
def test_finding_onnx_reference_ignores_output_shape_unless_same_auto_pad(case):
    """onnx.reference (onnx/reference/ops/op_conv_transpose.py) sets `pads` to zeros when they are absent and
    auto_pad is not SAME_UPPER/SAME_LOWER, before looking at output_shape. With output_shape and NOTSET or
    VALID it therefore crops `pads` (default 0) instead of the spec's split of the total padding: a positive
    total raises a shape error in col2im, an explicit `pads` is used although the spec says it is ignored,
    and a negative total is all put at the end. The spec text and onnxruntime derive the pads.
    """
    input_size, kernel, stride, attrs = {**ONNX_OUTPUT_SHAPE_NOT_SAME_CASES, **ONNX_NEGATIVE_TOTAL_NOTSET}[case]
    onnx_check("onnx.reference", input_size, kernel, stride, seed=1, **dict(attrs))


@pytest.mark.framework("onnx")
@pytest.mark.parametrize("case", list(ONNX_NEGATIVE_TOTAL_CASES))
def test_onnx_reference_negative_total_padding(case):
    """onnx.reference follows the spec formula (floor division) when the total padding is negative."""
    input_size, kernel, stride, attrs = ONNX_NEGATIVE_TOTAL_CASES[case]
    onnx_check("onnx.reference", input_size, kernel, stride, seed=2, **dict(attrs))


@pytest.mark.framework("onnxruntime")
@pytest.mark.parametrize("case", list(ONNX_NEGATIVE_TOTAL_CASES) + list(ONNX_NEGATIVE_TOTAL_NOTSET))
@pytest.mark.xfail(
    strict=True,
    reason="FINDING onnxruntime 1.32.0: ConvTranspose clamps a negative total padding to 0 (spec: split it; SAME: i*s)",
)
def test_finding_onnxruntime_clamps_negative_total_padding(case):
    """onnxruntime computes total = max(0, F + output_padding - output_shape) (F = (i-1)*s + ke), where the
    spec has no max. So:
    - auto_pad SAME_UPPER/SAME_LOWER with ke + output_padding < s: output size F + output_padding, not the
      spec's i*s (onnx.reference gives i*s);
    - output_shape beyond F + output_padding: the result is zero-extended at the end only; the spec's split
      (start = total - total/2, or total/2 under SAME_UPPER) puts zeros at the start too (onnx.reference
      does, under SAME_*); output_shape >= F + output_padding + s is refused as inconsistent.
    For total -1 without SAME_UPPER the clamp and the spec agree (test_onnx_negative_odd_total_without_same_upper).
    """
    input_size, kernel, stride, attrs = {**ONNX_NEGATIVE_TOTAL_CASES, **ONNX_NEGATIVE_TOTAL_NOTSET}[case]
    onnx_check("onnxruntime", input_size, kernel, stride, seed=2, **dict(attrs))


@pytest.mark.framework("onnx")
@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_LOWER"])
@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_onnx_negative_odd_total_without_same_upper(runtime, auto_pad):
    """Total -1 and not SAME_UPPER: floor division, onnxruntime's clamp and onnx.reference agree (a zero at
    the end), as in the spec's own test_convtranspose_output_shape."""
    onnx_check(runtime, (2, 2), (1, 2), (3, 3), seed=3, auto_pad=auto_pad, output_shape=[5, 6])


@pytest.mark.framework("onnx")
@pytest.mark.xfail(
    strict=True,
    reason="FINDING onnx 1.23.2: shape inference of ConvTranspose with auto_pad SAME_* does not give i*s",
)
@pytest.mark.parametrize(
    "input_size, kernel, stride, output_padding",
    [((3, 4), (3, 4), (2, 3), [1, 2]), ((2, 3), (1, 2), (2, 3), [0, 0])],
    ids=["output_padding", "kernel_shorter_than_stride"],
)
def test_finding_onnx_shape_inference_same_auto_pad(input_size, kernel, stride, output_padding):
    """onnx.shape_inference infers (i-1)*s + ke + output_padding - max(0, ke - s) under SAME_UPPER/SAME_LOWER:
    i*s + output_padding when ke >= s, (i-1)*s + ke + output_padding when ke < s. The spec text and
    onnx.reference give i*s; onnxruntime gives i*s when ke + output_padding >= s.
    """
    onnx = pytest.importorskip("onnx")
    model = onnx_model((1, 2, *input_size), (2, 3, *kernel), strides=list(stride), auto_pad="SAME_UPPER",
                       output_padding=output_padding)
    inferred = onnx.shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape
    dims = [d.dim_value for d in inferred.dim]
    assert dims == [1, 3, *(i * s for i, s in zip(input_size, stride))]


def onnx_node_cases():
    """ONNX's own ConvTranspose node test cases (inputs and expected outputs written in its source)."""
    pytest.importorskip("onnx")
    import onnx
    from onnx.backend.test.case.node import convtranspose

    captured = []
    original = convtranspose.expect
    convtranspose.expect = lambda node, inputs, outputs, name, **kw: captured.append((name, node, inputs, outputs))
    try:
        for attr in dir(convtranspose.ConvTranspose):
            if attr.startswith("export"):
                getattr(convtranspose.ConvTranspose, attr)()
    finally:
        convtranspose.expect = original
    return [(name, {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}, inputs, outputs[0])
            for name, node, inputs, outputs in captured]


@pytest.mark.framework("onnx")
def test_onnx_spec_node_cases():
    """onnx_padding + the golden reproduce every ConvTranspose test case of the ONNX spec.

    These include test_convtranspose_output_shape (total padding -1: the zero row is at the end) and
    test_convtranspose_autopad_same (SAME_UPPER, odd total: the extra crop at the end).
    """
    cases = onnx_node_cases()
    assert len(cases) >= 10
    for name, attrs, inputs, expected in cases:
        x, w = inputs[:2]
        rank = x.ndim - 2
        stride = attrs.get("strides", [1] * rank)
        dilation = attrs.get("dilations", [1] * rank)
        if attrs.get("group", 1) != 1:
            continue  # the golden's grouping is not the arithmetic's concern
        pads_attr = attrs.get("pads", [0] * 2 * rank)
        output_shape = attrs.get("output_shape", [None] * rank)
        output_padding = attrs.get("output_padding", [0] * rank)
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        pads = [
            A.onnx_padding(i, k, s, d, auto_pad=auto_pad, pads=(pads_attr[a], pads_attr[a + rank]),
                           output_padding=output_padding[a], output_shape=output_shape[a])
            for a, (i, k, s, d) in enumerate(zip(x.shape[2:], w.shape[2:], stride, dilation))
        ]
        result = golden(x, w, stride, dilation, pads)
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6, err_msg=name)
