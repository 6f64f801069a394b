"""Invalid arguments raise ValueError or TypeError naming the argument and the offending value.

Each case: the call, the argument that must be named, and the text of the offending value that must appear
in the message (a shape, a dtype, or the value as the caller spelled it).
"""

import re

import ml_dtypes
import numpy as np
import pytest

from convt_oracle import conv, conv_transpose, conv_transpose_vjp

X1, W1 = np.ones((1, 2, 3)), np.ones((2, 1, 2))  # 1-d: x (N=1, Cin=2, 3), w (Cin=2, Cout=1, k=2)
X2, W2 = np.ones((1, 2, 3, 3)), np.ones((2, 1, 2, 2))


def _ct(x=X1, w=W1, bias=None, **params):
    return lambda: conv_transpose(x, w, bias, **params)


# (id, call, argument name, text of the value)
CASES = [
    # ranks
    ("w-rank2-no-spatial-axis", _ct(np.ones((1, 2)), np.ones((2, 1))), "w", "(2, 1)"),
    ("x-rank4-w-rank3", _ct(np.ones((1, 2, 3, 3)), W1), "x", "(1, 2, 3, 3)"),
    ("x-rank2-w-rank3", _ct(np.ones((2, 3)), W1), "x", "(2, 3)"),
    ("x-0d", _ct(np.float64(1.0), W1), "x", "()"),
    ("x-rank6-w-rank5", _ct(np.ones((1,) * 6), np.ones((1,) * 5)), "x", str((1,) * 6)),
    ("x-rank6-w-rank6", _ct(np.ones((1,) * 6), np.ones((1,) * 6)), "w", str((1,) * 6)),
    # channels and groups
    ("x-channels-3-vs-w.shape[0]-2", _ct(np.ones((1, 3, 3)), W1), "x", "3"),
    ("x-channels-4-vs-w.shape[0]-2-groups2", _ct(np.ones((1, 4, 3)), W1, groups=2), "x", "4"),
    ("in-channels-3-not-divisible-by-groups-2", _ct(np.ones((1, 3, 3)), np.ones((3, 1, 2)), groups=2), "groups", "2"),
    ("w-zero-out-channels", _ct(X1, np.ones((2, 0, 2))), "w", "(2, 0, 2)"),
    ("w-zero-kernel", _ct(X1, np.ones((2, 1, 0))), "w", "(2, 1, 0)"),
    ("x-empty-spatial-axis", _ct(np.ones((1, 2, 0)), W1), "x", "0"),
    # stride, dilation, groups
    ("stride-0", _ct(stride=0), "stride", "0"),
    ("stride-negative", _ct(stride=-2), "stride", "-2"),
    ("stride-(1,0)", _ct(X2, W2, stride=(1, 0)), "stride", "(1, 0)"),
    ("stride-float", _ct(stride=2.0), "stride", "2.0"),
    ("stride-bool", _ct(stride=True), "stride", "True"),
    ("stride-None", _ct(stride=None), "stride", "None"),
    ("dilation-0", _ct(dilation=0), "dilation", "0"),
    ("dilation-(2,-1)", _ct(X2, W2, dilation=(2, -1)), "dilation", "(2, -1)"),
    ("groups-0", _ct(groups=0), "groups", "0"),
    ("groups-negative", _ct(groups=-1), "groups", "-1"),
    ("groups-float", _ct(groups=1.0), "groups", "1.0"),
    # padding and output_padding
    ("padding-negative-int", _ct(padding=-1), "padding", "-1"),
    ("padding-negative-in-pair", _ct(X2, W2, padding=((0, 0), (2, -3))), "padding", "-3"),
    ("padding-negative-per-axis", _ct(X2, W2, padding=(1, -2)), "padding", "-2"),
    ("output_padding-negative", _ct(output_padding=-1), "output_padding", "-1"),
    ("output_padding-(0,-4)", _ct(X2, W2, output_padding=(0, -4)), "output_padding", "(0, -4)"),
    # wrong number of per-axis values
    ("stride-3-values-for-2d", _ct(X2, W2, stride=(1, 2, 3)), "stride", "(1, 2, 3)"),
    ("dilation-1-value-for-2d", _ct(X2, W2, dilation=(2,)), "dilation", "(2,)"),
    ("output_padding-2-values-for-1d", _ct(output_padding=(1, 1)), "output_padding", "(1, 1)"),
    ("padding-1-pair-for-2d", _ct(X2, W2, padding=((1, 1),)), "padding", "((1, 1),)"),
    ("padding-3-ints-for-2d", _ct(X2, W2, padding=(1, 1, 1)), "padding", "(1, 1, 1)"),
    ("padding-string", _ct(padding="SAME"), "padding", "'SAME'"),
    # padding pair of the wrong length
    ("padding-triple", _ct(X2, W2, padding=((1, 2, 3), (0, 0))), "padding", "(1, 2, 3)"),
    ("padding-single", _ct(padding=((1,),)), "padding", "(1,)"),
    ("padding-float-pair", _ct(padding=((0.5, 0),)), "padding", "0.5"),
    # output size below 1: full 4 (i=3, k=2), crop 3 + 2 leaves -1
    ("output-size-below-1", _ct(padding=((3, 2),)), "padding", "(3, 2)"),
    ("output-size-exactly-0", _ct(X2, W2, padding=((0, 0), (2, 2))), "padding", "(2, 2)"),
    # bias
    ("bias-too-long", _ct(bias=np.ones(2)), "bias", "(2,)"),
    ("bias-2d", _ct(bias=np.ones((1, 1))), "bias", "(1, 1)"),
    ("bias-scalar", _ct(bias=np.float64(1.0)), "bias", "()"),
    ("bias-string-dtype", _ct(bias=np.array(["a"])), "bias", "<U1"),
    # dtypes
    ("x-strings", _ct(np.full((1, 2, 3), "a")), "x", "<U1"),
    ("x-object", _ct(np.ones((1, 2, 3), dtype=object)), "x", "object"),
    ("x-None", _ct(None), "x", "object"),
    ("x-bool", _ct(np.ones((1, 2, 3), dtype=bool)), "x", "bool"),
    ("x-complex", _ct(np.ones((1, 2, 3), dtype=complex)), "x", "complex128"),
    ("w-complex64", _ct(X1, np.ones((2, 1, 2), dtype=np.complex64)), "w", "complex64"),
    ("w-bool", _ct(X1, np.ones((2, 1, 2), dtype=bool)), "w", "bool"),
    ("w-bytes", _ct(X1, np.full((2, 1, 2), b"a")), "w", "S1"),
    ("x-int-beyond-2**53", _ct(np.full((1, 2, 3), 2**62, dtype=np.int64)), "x", str(2**62)),
    # 2**53 + 1 rounds to 2**53 in float64: a check made after converting would let it through
    ("x-int-2**53+1", _ct(np.full((1, 2, 3), 2**53 + 1, dtype=np.int64)), "x", str(2**53 + 1)),
    ("w-int-minus-2**53-1", _ct(X1, np.full((2, 1, 2), -(2**53) - 1, dtype=np.int64)), "w", str(-(2**53) - 1)),
    ("w-uint64-max", _ct(X1, np.full((2, 1, 2), 2**64 - 1, dtype=np.uint64)), "w", str(2**64 - 1)),
    ("stride-string", _ct(stride="2"), "stride", "'2'"),
    ("x-ragged", _ct([[[1, 2], [3]]]), "x", "rectangular"),
    # the adjoint and the vjp
    ("conv-y-channels", lambda: conv(np.ones((1, 3, 4)), W1), "y", "3"),
    ("conv-y-size-no-input-fits", lambda: conv(np.ones((1, 1, 5)), W1, stride=2), "y", "5"),
    ("conv-y-strings", lambda: conv(np.full((1, 1, 4), "a"), W1), "y", "<U1"),
    ("vjp-grad_out-shape", lambda: conv_transpose_vjp(X1, W1, np.ones((1, 1, 5))), "grad_out", "(1, 1, 5)"),
    ("vjp-grad_out-complex", lambda: conv_transpose_vjp(X1, W1, np.ones((1, 1, 4), complex)), "grad_out", "complex128"),
    ("vjp-x-channels", lambda: conv_transpose_vjp(np.ones((1, 3, 3)), W1, np.ones((1, 1, 4))), "x", "3"),
    ("vjp-stride-0", lambda: conv_transpose_vjp(X1, W1, np.ones((1, 1, 4)), stride=0), "stride", "0"),
]


@pytest.mark.parametrize("call, name, value", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_argument_is_named(call, name, value):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    named = re.search(rf"(?<![\w.\[]){re.escape(name)}(?!\w)", message)
    assert named, f"message does not name {name!r}: {message!r}"
    assert value in message, f"message does not show the value {value!r}: {message!r}"


def test_empty_batch_is_handled():
    # batch 0: either an empty result of the right shape or an error that names x; not a bare numpy error.
    x = np.ones((0, 2, 3))
    try:
        out = conv_transpose(x, W1)
    except (ValueError, TypeError) as error:
        assert re.search(r"(?<!\w)x(?!\w)", str(error)) and "(0, 2, 3)" in str(error), f"unnamed error: {error!r}"
    else:
        assert out.shape == (0, 1, 4) and out.dtype == np.float64


# --- accepted dtypes: converted exactly, the result is float64 ----------------------------------------------

ACCEPTED = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8]


@pytest.mark.parametrize("dtype", ACCEPTED, ids=[np.dtype(d).name for d in ACCEPTED])
def test_accepted_dtypes_return_float64(dtype):
    # small integers are exact in every accepted dtype, so the result equals the float64 one exactly;
    # by hand: x=[1,2,3], w=[1,2], stride 1 -> [1, 2+2, 3+4, 6] = [1, 4, 7, 6]
    x = np.array([[[1, 2, 3]]]).astype(dtype)
    w = np.array([[[1, 2]]]).astype(dtype)
    bias = np.array([3]).astype(dtype)
    out = conv_transpose(x, w, bias)
    assert out.dtype == np.float64
    assert np.array_equal(out, [[[4.0, 7.0, 10.0, 9.0]]])
    # adjoint by hand: y=[1,4,7,6], w=[1,2] -> [1+8, 4+14, 7+12] = [9, 18, 19]
    back = conv(np.array([[[1, 4, 7, 6]]]).astype(dtype), w)
    assert back.dtype == np.float64 and np.array_equal(back, [[[9.0, 18.0, 19.0]]])
    grads = conv_transpose_vjp(x, w, np.ones((1, 1, 4), dtype=dtype), bias)
    assert all(g.dtype == np.float64 for g in grads)


def test_float16_and_bfloat16_values_convert_exactly():
    # 1 + 2**-10 is exact in float16 (not in bfloat16); 1 + 2**-7 exact in bfloat16. The product with w=1
    # must keep them exactly.
    for dtype, value in [(np.float16, 1 + 2**-10), (ml_dtypes.bfloat16, 1 + 2**-7)]:
        out = conv_transpose(np.array([[[value]]], dtype=dtype), np.array([[[1.0]]], dtype=dtype))
        assert out.dtype == np.float64 and out[0, 0, 0] == value, (dtype, out)


def test_integers_up_to_2_to_the_53_are_accepted_exactly():
    # the largest integers float64 holds exactly, by hand: x * 1 on a 1-tap kernel
    for value in (2**53, -(2**53)):
        out = conv_transpose(np.array([[[value]]], dtype=np.int64), np.ones((1, 1, 1), dtype=np.int64))
        assert out[0, 0, 0] == float(value)


def test_python_lists_are_accepted():
    out = conv_transpose([[[1, 2, 3]]], [[[1, 2]]], stride=2)  # by hand: [1, 2, 2, 4, 3, 6]
    assert out.dtype == np.float64 and np.array_equal(out, [[[1.0, 2.0, 2.0, 4.0, 3.0, 6.0]]])
