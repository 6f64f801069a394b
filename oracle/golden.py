"""The golden transposed convolution, its adjoint (forward correlation) and its vector-Jacobian product.

Definition (scatter form, per spatial axis):

    full[n, g*Cog + co, i*s + t*d] += x[n, g*Cig + ci, i] * w[g*Cig + ci, co, t]
    out = full[begin : begin + O]            (zero past the end of full), plus bias
    O = (i-1)*s + d*(k-1) + 1 - begin - end + output_padding

with i the input size, k the kernel size, s the stride, d the dilation, (begin, end) the crop (`padding`),
Cig = Cin / groups and Cog = Cout / groups. Everything is computed in float64 from exactly converted
inputs, and inf and NaN follow IEEE: a NaN only where some existing term x * w is NaN (a NaN factor, or
inf * 0) or the terms hold both infinities (`_ieee_products`).

The routes that compute the sum live apart: `convt_oracle.phase_route` is the fast route
`conv_transpose` uses (the sum one stride phase at a time, a matrix product per phase), and
`convt_oracle.definition` is the plain route, the scatter form read literally, that the tests check it
against. The adjoint `conv` reads, for every kernel tap, the strided window of y that the tap writes,
and `conv_transpose_vjp` combines the two.
"""

from __future__ import annotations

import math

import numpy as np

from convt_oracle import arithmetic, limits, phase_route
from convt_oracle import params as P


def conv_transpose(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1, output_size=None):
    """Transposed convolution of x (batch, Cin, *spatial) with w (Cin, Cout // groups, *kernel).

    `stride`, `dilation`, `output_padding`: an int or one int per spatial axis. `padding`: an int, one int
    per axis, or one (begin, end) pair per axis: elements cropped from the full result. Output size per
    axis: (i-1)*s + d*(k-1) + 1 - begin - end + output_padding. `output_size` (optional, spatial): the size
    the caller expects, checked against that (a ValueError where it differs; it chooses no crop). Returns float64.

    Computed one stride phase at a time: the output positions o = q*s + r of phase r receive
    x[i] * w[t] from exactly the taps t with (t*d - begin - r) divisible by s, at i = q - shift(t). So a
    phase is a sum over its taps of shifted copies of x, contracted with those taps: one matrix product.
    """
    x64, w64, params = P.prepare(x, w, stride, padding, output_padding, dilation, groups)
    cog, kernel_size = w64.shape[1], w64.shape[2:]
    bias64 = P.check_bias(bias, cog * params.groups, params.groups)
    asked, output_size = output_size, P.check_output_size(params, x64.shape[2:], kernel_size)
    P.check_requested_size(asked, output_size)
    result_shape = (x64.shape[0], cog * params.groups, *output_size)
    blocks = min(phase_route.BLOCK_ELEMENTS, math.prod(kernel_size) * math.prod(result_shape))
    _check_memory("conv_transpose", x64, result_shape, gathered=blocks)
    out = _ieee_products(lambda a, b: phase_route.scatter(a, b, params, output_size), x64, w64)
    if bias64 is not None:
        out += bias64.reshape(-1, *([1] * len(output_size)))
    return out


def conv(y, w, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """The forward correlation that is the adjoint of `conv_transpose` with the same parameters.

    Takes y shaped like conv_transpose's output (batch, Cout, *O) and returns x-shaped (batch, Cin, *i):
    x[n, g*Cig + ci, i] = sum_{co, t} w[g*Cig + ci, co, t] * y[n, g*Cog + co, i*s + t*d - begin].
    """
    y64, w64, params = P.prepare(y, w, stride, padding, output_padding, dilation, groups, x_name="y")
    batch, cout, *output_size = y64.shape
    cin, cog, *kernel_size = w64.shape
    groups = params.groups
    if cout != cog * groups:
        raise ValueError(
            f"y: got {cout} channels; w of shape {w64.shape} with groups={groups} produces "
            f"out_channels = w.shape[1] * groups = {cog * groups}"
        )
    input_size = _input_size_for(params, output_size, kernel_size)
    gathered = batch * cout * math.prod(kernel_size) * math.prod(input_size)
    _check_memory("conv", y64, (batch, cin, *input_size), gathered=gathered)
    return _ieee_products(lambda a, b: _gather(a, b, params, input_size), y64, w64)


def conv_transpose_vjp(x, w, grad_out, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Vector-Jacobian product of `conv_transpose` at (x, w, bias) with cotangent `grad_out`.

    Returns (grad_x, grad_w, grad_bias), float64; grad_bias is None when bias is None.
    """
    x64, w64, params = P.prepare(x, w, stride, padding, output_padding, dilation, groups)
    batch, cin, *input_size = x64.shape
    cog, kernel_size, groups = w64.shape[1], w64.shape[2:], params.groups
    bias64 = P.check_bias(bias, cog * groups, groups)
    output_size = P.check_output_size(params, input_size, kernel_size)
    g64 = P.as_float64("grad_out", grad_out)
    expected = (batch, cog * groups, *output_size)
    if g64.shape != expected:
        raise ValueError(f"grad_out: got shape {g64.shape}; expected the output shape {expected}")
    _check_memory("conv_transpose_vjp", x64, expected,
                  gathered=batch * cog * groups * math.prod(kernel_size) * math.prod(input_size))
    keywords = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    grad_x = conv(g64, w64, **keywords)

    grad_w = _ieee_products(lambda a, b: _weight_gradient(a, b, params, kernel_size), x64, g64)
    grad_bias = None if bias64 is None else g64.sum(axis=(0, *range(2, g64.ndim)))
    return grad_x, grad_w, grad_bias


def output_shape(x_shape, w_shape, bias_shape=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                 output_size=None):
    """The shape `conv_transpose` returns for arrays of these shapes, or the error it raises for them."""
    x = np.broadcast_to(np.zeros((), np.float64), tuple(x_shape))
    w = np.broadcast_to(np.zeros((), np.float64), tuple(w_shape))
    x64, w64, params = P.prepare(x, w, stride, padding, output_padding, dilation, groups)
    P.check_bias(None if bias_shape is None else np.broadcast_to(np.zeros(()), tuple(bias_shape)),
                 w64.shape[1] * params.groups, params.groups)
    size = P.check_output_size(params, x64.shape[2:], w64.shape[2:])
    P.check_requested_size(output_size, size)
    return (x64.shape[0], w64.shape[1] * params.groups, *size)


def _check_memory(what: str, x64: np.ndarray, result_shape, gathered: int = 0) -> None:
    """Refuse, before allocating, a computation whose float64 arrays would pass convt_oracle.limits's limit:
    the result and about three more of its size (scratch, and the IEEE handling of inf and NaN), the input,
    and `gathered`: the scratch beyond those (the adjoint's gathered windows of y, the fast route's blocks)."""
    limits.check(what, result_shape, 8 * (4 * math.prod(result_shape) + x64.size + gathered))


def _ieee_products(op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """op(a, b) for a bilinear `op` (a sum of products a[.] * b[.] over the terms that exist), with IEEE
    semantics for inf and NaN.

    The matrix products in `op` also multiply zeros that stand for terms that do not exist (positions
    outside x or y), and 0 * inf would make them NaN. So the finite part is op of the factors with their
    inf/NaN zeroed, and each element then is, as IEEE says of a sum: NaN if some existing term is NaN
    (a NaN factor, or inf * 0) or the terms hold both infinities; else +-inf if some term is; else finite.
    Whether an element has such a term is counted with `op` itself on indicator arrays.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a sum is finite when every term is, bar overflow
        if np.isfinite(a.sum()) and np.isfinite(b.sum()):  # no scratch, unlike np.isfinite(a).all()
            return op(a, b)
    finite_a, finite_b = np.isfinite(a), np.isfinite(b)
    if finite_a.all() and finite_b.all():  # the sums overflowed
        with np.errstate(over="ignore"):  # finite inputs may still give an infinite result, as IEEE says
            return op(a, b)
    with np.errstate(invalid="ignore", over="ignore"):
        value = op(np.where(finite_a, a, 0.0), np.where(finite_b, b, 0.0))

        def some(p, q):
            return op(p.astype(np.float64), q.astype(np.float64)) > 0

        every_a, every_b = np.ones(a.shape), np.ones(b.shape)
        inf_a, inf_b = np.isinf(a), np.isinf(b)
        nan = some(np.isnan(a), every_b) | some(every_a, np.isnan(b)) | some(inf_a, b == 0) | some(a == 0, inf_b)
        positive_a, negative_a, positive_b, negative_b = a > 0, a < 0, b > 0, b < 0
        plus = (
            some(np.isposinf(a), positive_b) | some(np.isneginf(a), negative_b)
            | some(positive_a & finite_a, np.isposinf(b)) | some(negative_a & finite_a, np.isneginf(b))
        )
        minus = (
            some(np.isposinf(a), negative_b) | some(np.isneginf(a), positive_b)
            | some(positive_a & finite_a, np.isneginf(b)) | some(negative_a & finite_a, np.isposinf(b))
        )
    return np.where(nan | (plus & minus), np.nan, np.where(plus, np.inf, np.where(minus, -np.inf, value)))


def _input_size_for(params: P.ConvParams, output_size, kernel_size) -> tuple[int, ...]:
    """The spatial input size whose transposed convolution has `output_size`, or a ValueError."""
    sizes = []
    for axis, (o, k, s, d, (b, e), op) in enumerate(
        zip(output_size, kernel_size, params.stride, params.dilation, params.padding, params.output_padding)
    ):
        size = arithmetic.input_size(o, k, s, d, b, e, op)
        if size is None:
            raise ValueError(
                f"y: spatial size {o} on axis {axis} is not the output size of any transposed convolution "
                f"with kernel {k}, stride {s}, dilation {d}, padding ({b}, {e}), output_padding {op}; "
                f"it must equal (i-1)*s + d*(k-1) + 1 - begin - end + output_padding for some i >= 1"
            )
        sizes.append(size)
    return tuple(sizes)


def _gather_taps(y64: np.ndarray, params: P.ConvParams, input_size, kernel_size) -> np.ndarray:
    """cols[n, c, t, i] = y[n, c, i*s + t*d - begin] (zero outside y): the windows conv_transpose writes."""
    batch, channels, *output_size = y64.shape
    taps = math.prod(kernel_size)
    cols = np.zeros((batch, channels, taps, *input_size))
    for tap, inputs, outputs in phase_route.tap_windows(params, input_size, output_size, kernel_size):
        cols[(slice(None), slice(None), tap, *inputs)] = y64[(..., *outputs)]
    return cols


def _gather(y64: np.ndarray, w64: np.ndarray, params: P.ConvParams, input_size) -> np.ndarray:
    """The forward correlation of y64 with w64: for every tap, the window of y it reads, one matrix product."""
    batch = y64.shape[0]
    cin, cog, *kernel_size = w64.shape
    groups, taps = params.groups, math.prod(kernel_size)
    cols = _gather_taps(y64, params, input_size, kernel_size)
    cols = cols.reshape(batch, groups, cog * taps, math.prod(input_size))  # rows (co, t)
    # kernel[g, ci, co*taps + t] = w[g*Cig + ci, co, t]
    kernel = w64.reshape(groups, cin // groups, cog * taps)
    return np.matmul(kernel, cols).reshape(batch, cin, *input_size)


def _weight_gradient(x64: np.ndarray, g64: np.ndarray, params: P.ConvParams, kernel_size) -> np.ndarray:
    """grad_w[g*Cig + ci, co, t] = sum_{n, i} x[n, g*Cig + ci, i] * grad_out[n, g*Cog + co, i*s + t*d - begin]."""
    batch, cin, *input_size = x64.shape
    groups, cog = params.groups, g64.shape[1] // params.groups
    taps, positions = math.prod(kernel_size), math.prod(input_size)
    cols = _gather_taps(g64, params, input_size, kernel_size).reshape(batch, groups, cog * taps, positions)
    x_grouped = x64.reshape(batch, groups, cin // groups, positions)
    grad_w = np.einsum("ngcp,ngkp->gck", x_grouped, cols, optimize=True)
    return grad_w.reshape(cin, cog, *kernel_size)
