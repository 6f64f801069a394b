"""Reference targets for the cross-check tests: two correct implementations and many wrong ones.

Every target has the golden's signature,

    target(x, w, bias, *, stride, padding, output_padding, dilation, groups) -> numpy.ndarray

validates its arguments (an invalid configuration raises ValueError), and is usable as
"support.targets:<name>" (tests/ on sys.path) or imported.

Correct ones, each independent of the golden:
- `lax_reference`: jax's lax_reference route. Dilate the input by the stride (s - 1 zeros between pixels),
  pad each axis by (ke-1-begin, ke-1-end+output_padding) (a negative pad crops), correlate with the
  spatially flipped kernel dilated by d, one tap at a time; a tap adds nothing where it meets an inserted
  or padded zero (so an inf or NaN weight makes no inf*0 there). Float64, rounded to the case's dtype.
- `torch_reference`: torch.nn.functional.conv_transpose{1,2,3}d in float32 (float64 for float64 inputs)
  with padding 0, then the canonical crop [begin : begin + O] taken by slicing (zero past the full result),
  then the bias, then rounding to the case's dtype. Only finite values go through torch; products with an
  inf or NaN factor are added from the definition. It has a `vjp` (torch autograd) for grad=True.
- `loop_reference`: the scatter form as a plain loop over input positions and kernel taps (numpy only over
  batch and channels), float64, rounded.

Wrong ones (MUTANTS): each is one plausible real bug, built on the lax route with one step changed; each
docstring says which cases expose it. `MUTANT_DTYPES` lists the dtypes where each is wrong.
"""

from __future__ import annotations

import functools
import itertools

import ml_dtypes
import numpy as np

from convt_oracle.tolerance import Tolerance

BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
INT64_MAX = 2**63 - 1


def check_arguments(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Reject what no transposed convolution can compute (a ValueError naming the argument)."""
    if x.ndim != w.ndim or not 3 <= x.ndim <= 5:
        raise ValueError(f"x {x.shape} and w {w.shape} must both be (batch/channels, channels, 1 to 3 spatial axes)")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if x.shape[1] != w.shape[0] or x.shape[1] % groups:
        raise ValueError(f"x has {x.shape[1]} channels, w {w.shape[0]} input channels, groups {groups}")
    if min(x.shape[2:]) < 1 or min(w.shape) < 1:
        raise ValueError(f"x {x.shape} and w {w.shape} must have no empty axis but the batch")
    values = list(_flat((stride, padding, output_padding, dilation)))
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"stride {stride}, padding {padding}, output_padding {output_padding} and dilation "
                         f"{dilation} must be ints")
    if max(values) > INT64_MAX or groups > INT64_MAX:
        raise ValueError("an argument past int64")
    stride, padding, output_padding, dilation = _canonical(x, stride, padding, output_padding, dilation)
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"stride {stride} and dilation {dilation} must be positive")
    if min(output_padding) < 0 or min(min(pair) for pair in padding) < 0:
        raise ValueError(f"padding {padding} and output_padding {output_padding} must be non-negative")
    for i, k, s, d, (b, e), op in zip(x.shape[2:], w.shape[2:], stride, dilation, padding, output_padding):
        if (i - 1) * s + d * (k - 1) + 1 - b - e + op < 1:
            raise ValueError(f"padding {padding} leaves no output")
        if (i - 1) * s + d * (k - 1) + 1 - b - e + op > INT64_MAX:
            raise ValueError("an output size past int64")
    if bias is not None and bias.shape != (w.shape[1] * groups,):
        raise ValueError(f"bias {bias.shape} must be (out_channels,) = ({w.shape[1] * groups},)")


def rounded(function):
    """A target: the function's result (any float dtype) rounded to the input dtype, without warnings for
    the overflow to inf or the NaN of inf - inf that such results legitimately carry."""

    @functools.wraps(function)
    def target(x, w, bias=None, **params):
        check_arguments(x, w, bias, **params)
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(function(x, w, bias, **params)).astype(x.dtype)

    return target


# --- the lax route, one step per function -------------------------------------------------------------


def _flat(value):
    """The numbers in a parameter value (an int, or nested sequences of them), as given."""
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _flat(item)
    else:
        yield value


def _per_axis(value, rank):
    return (int(value),) * rank if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)


def _pairs(padding, rank):
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * rank
    return tuple((int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1])) for p in padding)


def _canonical(x, stride, padding, output_padding, dilation):
    rank = x.ndim - 2
    return (
        _per_axis(stride, rank),
        _pairs(padding, rank),
        _per_axis(output_padding, rank),
        _per_axis(dilation, rank),
    )


def dilate(x, stride, dtype=np.float64):
    """Insert stride - 1 zeros between neighbouring input pixels on every spatial axis."""
    shape = (*x.shape[:2], *((i - 1) * s + 1 for i, s in zip(x.shape[2:], stride)))
    out = np.zeros(shape, dtype)
    out[(..., *(slice(None, None, s) for s in stride))] = x
    return out


def pad_or_crop(x, pairs):
    """Pad each spatial axis with zeros by (lo, hi); a negative amount crops instead (as lax.pad does)."""
    x = np.pad(x, [(0, 0), (0, 0), *((max(0, lo), max(0, hi)) for lo, hi in pairs)])
    return x[(..., *(slice(max(0, -lo), size - max(0, -hi)) for (lo, hi), size in zip(pairs, x.shape[2:])))]


def lax_pads(kernel, stride, padding, output_padding, dilation):
    """jax's pairs for a canonical crop: (ke-1-begin, ke-1-end+output_padding) per axis."""
    del stride
    return tuple(
        (d * (k - 1) - b, d * (k - 1) - e + op) for k, d, (b, e), op in zip(kernel, dilation, padding, output_padding)
    )


def correlate(xp, w, dilation, groups, dtype=np.float64, occupied=None):
    """out[n, g*Cog+co, o] = sum_{ci, t} xp[n, g*Cig+ci, o + t*d] * w[g*Cig+ci, co, t], one tap at a time.

    `occupied` (spatial, bool): where xp holds an input pixel rather than an inserted or padded zero. A tap
    contributes nothing where it meets such a zero -- exactly 0, even for an inf or NaN weight (the
    definition has no product there, so no inf*0).
    """
    batch, cin, *size = xp.shape
    _, cog, *kernel = w.shape
    out_size = [p - d * (k - 1) for p, k, d in zip(size, kernel, dilation)]
    xg = xp.reshape(batch, groups, cin // groups, *size).astype(dtype, copy=False)
    wg = w.reshape(groups, cin // groups, cog, *kernel).astype(dtype, copy=False)
    out = np.zeros((batch, groups, cog, *out_size), dtype)
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(slice(t * d, t * d + o) for t, d, o in zip(tap, dilation, out_size))
        contribution = np.einsum("ngc...,gcd->ngd...", xg[(..., *window)], wg[(..., *tap)])
        if occupied is not None:
            contribution = np.where(occupied[window], contribution, 0)
        out += contribution
    return out.reshape(batch, groups * cog, *out_size)


def flip(w):
    """Reverse the kernel on every spatial axis."""
    return w[(slice(None), slice(None), *(slice(None, None, -1) for _ in w.shape[2:]))]


def _lax(x, w, bias, *, stride, padding, output_padding, dilation, groups, dtype=np.float64, pads=None, kernel=None,
         mask_zeros=True):
    """The lax route in `dtype`, unrounded; `pads` / `kernel` override the padding pairs / prepared kernel;
    `mask_zeros=False` lets the taps multiply the inserted and padded zeros too (inf * 0 = NaN)."""
    stride, padding, output_padding, dilation = _canonical(x, stride, padding, output_padding, dilation)
    pairs = pads if pads is not None else lax_pads(w.shape[2:], stride, padding, output_padding, dilation)
    xp = pad_or_crop(dilate(np.asarray(x).astype(dtype), stride, dtype), pairs)
    occupied = pad_or_crop(dilate(np.ones((1, 1, *x.shape[2:])), stride), pairs)[0, 0] > 0 if mask_zeros else None
    out = correlate(xp, flip(w) if kernel is None else kernel, dilation, groups, dtype, occupied)
    if bias is not None:
        out += np.asarray(bias).astype(dtype).reshape(-1, *([1] * (x.ndim - 2)))
    return out


@rounded
def lax_reference(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """CORRECT: dilate the input by the stride, pad, correlate with the flipped kernel; float64, rounded."""
    params = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    return _lax(x, w, bias, **params)


def nonfinite_products(x, w, stride, padding, output_padding, dilation, groups):
    """The sum, per output element, of the products x*w that have an inf or NaN factor (0 elsewhere), in
    float64, from the scatter form: full[i*s + t*d] += x[i] * w[t], cropped by `begin`."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    batch, cin, *size = x.shape
    _, cog, *kernel = w.shape
    cig = cin // groups
    out_size = [(i - 1) * s + d * (k - 1) + 1 - b - e + o
                for i, k, s, d, (b, e), o in zip(size, kernel, stride, dilation, padding, output_padding)]
    out = np.zeros((batch, cog * groups, *out_size))

    def position(i, t):
        o = tuple(ii * s + tt * d - b for ii, tt, s, d, (b, _) in zip(i, t, stride, dilation, padding))
        return o if all(0 <= oo < n for oo, n in zip(o, out_size)) else None

    bad_x = ~np.isfinite(x64)
    for n, ci, *i in np.argwhere(bad_x):  # every product of a non-finite input
        g = ci // cig
        for co in range(cog):
            for t in itertools.product(*(range(k) for k in kernel)):
                o = position(i, t)
                if o is not None:
                    out[(n, g * cog + co, *o)] += x64[(n, ci, *i)] * w64[(ci, co, *t)]
    for ci, co, *t in np.argwhere(~np.isfinite(w64)):  # and of a non-finite weight with a finite input
        g = ci // cig
        for n in range(batch):
            for i in itertools.product(*(range(v) for v in size)):
                o = position(i, t)
                if o is not None and not bad_x[(n, ci, *i)]:
                    out[(n, g * cog + co, *o)] += x64[(n, ci, *i)] * w64[(ci, co, *t)]
    return out


@rounded
def torch_reference(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """CORRECT: torch's conv_transpose with padding 0 in float32 (float64), cropped by slicing, rounded.

    Only finite values go through torch: the products with an inf or NaN factor are added from the
    definition (nonfinite_products), so torch's own non-finite handling (it leaks a NaN weight into
    positions past the input, see the report) does not enter this reference.
    """
    import torch

    stride, padding, output_padding, dilation = _canonical(x, stride, padding, output_padding, dilation)
    rank = x.ndim - 2
    compute = np.float64 if x.dtype == np.float64 else np.float32
    special = not (np.isfinite(x.astype(np.float64)).all() and np.isfinite(w.astype(np.float64)).all())
    finite = [np.where(np.isfinite(a.astype(np.float64)), a.astype(compute), 0) for a in (x, w)] if special else [x, w]
    xt = torch.from_numpy(np.ascontiguousarray(finite[0].astype(compute)))
    wt = torch.from_numpy(np.ascontiguousarray(finite[1].astype(compute)))
    function = getattr(torch.nn.functional, f"conv_transpose{rank}d")
    with torch.no_grad():
        full = function(xt, wt, None, stride=stride, padding=0, output_padding=0, groups=groups, dilation=dilation)
    full = full.numpy()
    sizes = [f - b - e + op for f, (b, e), op in zip(full.shape[2:], padding, output_padding)]
    out = np.zeros((*full.shape[:2], *sizes), compute)
    kept = [max(0, min(o, f - b)) for o, f, (b, _) in zip(sizes, full.shape[2:], padding)]
    out[(..., *(slice(0, k) for k in kept))] = full[(..., *(slice(b, b + k) for k, (b, _) in zip(kept, padding)))]
    if special:  # inf or NaN: the result there is inf or NaN whatever the finite part
        out = out + nonfinite_products(x, w, stride, padding, output_padding, dilation, groups)
    if bias is not None:
        out += bias.astype(compute).reshape(-1, *([1] * rank))
    return out


def _torch_vjp(x, w, grad_out, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """torch_reference's vector-Jacobian product: torch autograd through the same padding-0 call, crop
    (torch.nn.functional.pad with negative amounts) and bias, in float32 (float64); rounded."""
    import torch

    check_arguments(x, w, bias, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    stride, padding, output_padding, dilation = _canonical(x, stride, padding, output_padding, dilation)
    rank = x.ndim - 2
    compute = np.float64 if x.dtype == np.float64 else np.float32
    xt, wt, bt = (
        None if a is None else torch.from_numpy(np.ascontiguousarray(a.astype(compute))).requires_grad_(True)
        for a in (x, w, bias)
    )
    function = getattr(torch.nn.functional, f"conv_transpose{rank}d")
    full = function(xt, wt, None, stride=stride, padding=0, output_padding=0, groups=groups, dilation=dilation)
    amounts = []
    for (begin, end), extra in reversed(list(zip(padding, output_padding))):  # F.pad lists the last axis first
        amounts += [-begin, extra - end]
    out = torch.nn.functional.pad(full, amounts)
    if bt is not None:
        out = out + bt.reshape(-1, *([1] * rank))
    out.backward(torch.from_numpy(np.ascontiguousarray(grad_out.astype(compute))))
    with np.errstate(over="ignore", invalid="ignore"):
        return tuple(None if t is None else t.grad.numpy().astype(x.dtype) for t in (xt, wt, bt))


torch_reference.vjp = _torch_vjp


@rounded
def loop_reference(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """CORRECT: the scatter form as a plain loop over input positions and kernel taps, in float64, rounded:
    full[n, g*Cog + co, i*s + t*d] += sum_ci x[n, g*Cig + ci, i] * w[g*Cig + ci, co, t], kept where
    0 <= i*s + t*d - begin < O (zero elsewhere), plus the bias. Only existing products are formed, so
    inf and NaN follow IEEE arithmetic term by term."""
    stride, padding, output_padding, dilation = _canonical(x, stride, padding, output_padding, dilation)
    batch, cin, *size = x.shape
    _, cog, *kernel = w.shape
    cig = cin // groups
    out_size = [(i - 1) * s + d * (k - 1) + 1 - b - e + op
                for i, k, s, d, (b, e), op in zip(size, kernel, stride, dilation, padding, output_padding)]
    xg = x.astype(np.float64).reshape(batch, groups, cig, *size)
    wg = w.astype(np.float64).reshape(groups, cig, cog, *kernel)
    out = np.zeros((batch, groups, cog, *out_size))
    for i in itertools.product(*(range(v) for v in size)):
        for t in itertools.product(*(range(k) for k in kernel)):
            o = tuple(ii * s + tt * d - b for ii, tt, s, d, (b, _) in zip(i, t, stride, dilation, padding))
            if all(0 <= oo < n for oo, n in zip(o, out_size)):
                # (n, g, ci) x (g, ci, co) -> (n, g, co): the input channels of each group
                out[(..., *o)] += np.einsum("ngc,gcd->ngd", xg[(..., *i)], wg[(..., *t)])
    out = out.reshape(batch, groups * cog, *out_size)
    if bias is not None:
        out += bias.astype(np.float64).reshape(-1, *([1] * len(kernel)))
    return out


def loop_conv_transpose(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Gather form with Python floats: for each output element, loop over ci and taps, find i."""
    batch, cin, *size = x.shape
    _, cog, *kernel = w.shape
    rank, cig = len(size), cin // groups
    s, d, op = _per_axis(stride, rank), _per_axis(dilation, rank), _per_axis(output_padding, rank)
    crop = _pairs(padding, rank)
    out_size = [
        (size[a] - 1) * s[a] + d[a] * (kernel[a] - 1) + 1 - crop[a][0] - crop[a][1] + op[a] for a in range(rank)
    ]
    out = np.zeros((batch, groups * cog, *out_size))
    for n, c_out in itertools.product(range(batch), range(groups * cog)):
        g, co = divmod(c_out, cog)
        for o in itertools.product(*(range(v) for v in out_size)):
            total = 0.0 if bias is None else float(bias[c_out])
            for ci, t in itertools.product(range(cig), itertools.product(*(range(v) for v in kernel))):
                i = []
                for a in range(rank):
                    q, r = divmod(o[a] + crop[a][0] - t[a] * d[a], s[a])  # i*s == o + begin - t*d
                    if r or not 0 <= q < size[a]:
                        break
                    i.append(q)
                else:
                    total += float(x[(n, g * cig + ci, *i)]) * float(w[(g * cig + ci, co, *t)])
            out[(n, c_out, *o)] = total
    return out


CORRECT = ("lax_reference", "torch_reference", "loop_reference")


# --- mutants ------------------------------------------------------------------------------------------


def _params(stride, padding, output_padding, dilation, groups):
    return dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)


@rounded
def unflipped_kernel(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: correlates with the kernel as stored (forgot the flip). Exposed by any kernel > 1 tap."""
    p = _params(stride, padding, output_padding, dilation, groups)
    return _lax(x, w, bias, **p, kernel=w)


@rounded
def weight_in_forward_layout(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: reads w as the forward conv's (Cout/g, Cin, *k) buffer and transposes it (reshape, not
    transpose, of the first two axes). Exposed when Cin > 1 and Cout/groups > 1."""
    cin, cog, *kernel = w.shape
    read = np.ascontiguousarray(w).reshape(cog, cin, *kernel).swapaxes(0, 1)
    p = _params(stride, padding, output_padding, dilation, groups)
    return _lax(x, read, bias, **p)


def _interleave(channels, groups):
    """Channel order g*C/G + c -> c*G + g: the permutation a groups-interleaved layout applies."""
    per = channels // groups
    return np.arange(channels).reshape(per, groups).T.reshape(-1) if channels % groups == 0 else np.arange(channels)


@rounded
def input_groups_interleaved(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: group g takes input channels g, g+G, g+2G, ... instead of the block g*Cig .. (g+1)*Cig-1.
    Exposed by groups > 1 with Cig > 1."""
    p = _params(stride, padding, output_padding, dilation, groups)
    return _lax(x[:, _interleave(x.shape[1], groups)], w, bias, **p)


@rounded
def weight_groups_interleaved(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: group g's weights taken from rows g, g+G, ... of w (strided slice) instead of its block.
    Exposed by groups > 1 with Cig > 1."""
    p = _params(stride, padding, output_padding, dilation, groups)
    return _lax(x, w, bias, **p, kernel=flip(w[_interleave(w.shape[0], groups)]))


@rounded
def output_groups_interleaved(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: writes output channel (g, co) to co*G + g instead of g*Cog + co. Exposed by groups > 1
    with Cout/groups > 1."""
    p = _params(stride, padding, output_padding, dilation, groups)
    out = _lax(x, w, None, **p)
    order = np.argsort(_interleave(out.shape[1], groups))
    out = out[:, order]
    if bias is not None:
        out += bias.astype(np.float64).reshape(-1, *([1] * (x.ndim - 2)))
    return out


@rounded
def axis_parameters_reversed(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: per-axis parameters applied in reverse axis order (W, H instead of H, W). Exposed in 2-d/3-d
    by parameters that differ between axes."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    p = _params(s[::-1], pad[::-1], op[::-1], d[::-1], groups)
    return _lax(x, w, bias, **p)


@rounded
def spatial_axes_swapped(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: transposes the last two spatial axes of x on the way in and of the result on the way out
    (an NHWC/NWHC mix-up), but not the kernel or the parameters. Exposed by 2-d/3-d cases that are not
    symmetric under the swap."""
    if x.ndim < 4:
        return lax_reference(x, w, bias, **_params(stride, padding, output_padding, dilation, groups))
    p = _params(stride, padding, output_padding, dilation, groups)
    return _lax(x.swapaxes(-1, -2), w, bias, **p).swapaxes(-1, -2)


@rounded
def crop_ends_swapped(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: crops `end` at the start and `begin` at the end. Exposed by asymmetric padding."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    return _lax(x, w, bias, **_params(s, tuple((e, b) for b, e in pad), op, d, groups))


@rounded
def output_padding_at_start(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: the output_padding rows are added before the result instead of after it. Exposed by
    output_padding > 0."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    pads = tuple(
        (dd * (k - 1) - b + o, dd * (k - 1) - e) for k, dd, (b, e), o in zip(w.shape[2:], d, pad, op)
    )
    return _lax(x, w, bias, **_params(s, pad, op, d, groups), pads=pads)


@rounded
def output_padding_ignored(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: output_padding ignored (the result is too short). Exposed by output_padding > 0."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    return _lax(x, w, bias, **_params(s, pad, (0,) * len(op), d, groups))


@rounded
def output_padding_as_zeros(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: crops begin and end, then appends output_padding rows of zeros (plus bias), where the rows
    of the full result that the end crop removed belong. Exposed by end crop > 0 with output_padding > 0
    (torch's padding=1, output_padding=1 at stride 2, say)."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    out = _lax(x, w, None, **_params(s, pad, (0,) * len(op), d, groups))
    out = np.pad(out, [(0, 0), (0, 0), *((0, o) for o in op)])
    if bias is not None:
        out += bias.astype(np.float64).reshape(-1, *([1] * (x.ndim - 2)))
    return out


@rounded
def stride_and_dilation_swapped(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: stride used as dilation and dilation as stride (arguments passed positionally in the wrong
    order). Exposed by stride != dilation."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    return _lax(x, w, bias, **_params(d, pad, op, s, groups))


@rounded
def dilation_off_by_one(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: a dilation d > 1 spaces the taps d + 1 apart (dilation read as the number of holes), while
    the output keeps its correct size and start. Exposed by dilation > 1 with kernel > 1 tap."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    spaced = tuple(dd + 1 if dd > 1 else dd for dd in d)
    pads = tuple((sp * (k - 1) - b, dd * (k - 1) - e + o) for k, dd, sp, (b, e), o in zip(w.shape[2:], d, spaced, pad, op))
    return _lax(x, w, bias, **_params(s, pad, op, spaced, groups), pads=pads)


@rounded
def bias_ignored(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: the bias is never added. Exposed by any case with bias."""
    return _lax(x, w, None, **_params(stride, padding, output_padding, dilation, groups))


@rounded
def bias_twice(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: the bias is added twice (once by the op, once by its caller). Exposed by any case with bias."""
    p = _params(stride, padding, output_padding, dilation, groups)
    out = _lax(x, w, bias, **p)
    if bias is not None:
        out += bias.astype(np.float64).reshape(-1, *([1] * (x.ndim - 2)))
    return out


@rounded
def bias_groups_interleaved(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: the bias of output channel g*Cog + co is read from bias[co*G + g]. Exposed by groups > 1
    with Cout/groups > 1 and bias."""
    p = _params(stride, padding, output_padding, dilation, groups)
    shuffled = None if bias is None else bias[_interleave(bias.shape[0], groups)]
    return _lax(x, w, shuffled, **p)


@rounded
def bias_only_where_reached(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: the bias is added to the full result before the crop, so output_padding rows past its end
    hold 0 instead of the bias. Exposed by output_padding past the full extent with bias."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    full = _lax(x, w, bias, **_params(s, ((0, 0),) * len(s), (0,) * len(s), d, groups))
    sizes = [f - b - e + o for f, (b, e), o in zip(full.shape[2:], pad, op)]
    out = np.zeros((*full.shape[:2], *sizes))
    kept = [max(0, min(o, f - b)) for o, f, (b, _) in zip(sizes, full.shape[2:], pad)]
    out[(..., *(slice(0, k) for k in kept))] = full[(..., *(slice(b, b + k) for k, (b, _) in zip(kept, pad)))]
    return out


@rounded
def batch_from_first_sample(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: every batch element is computed from sample 0 (a broadcast where a loop was meant). Exposed
    by batch > 1."""
    p = _params(stride, padding, output_padding, dilation, groups)
    return _lax(np.broadcast_to(x[:1], x.shape), w, bias, **p)


@rounded
def nonfinite_inputs_zeroed(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: inf and NaN inputs are replaced by 0 ("sanitised"). Exposed by inputs holding inf or NaN."""
    p = _params(stride, padding, output_padding, dilation, groups)
    clean = np.where(np.isfinite(x.astype(np.float64)), x.astype(np.float64), 0.0)
    return _lax(clean, w, bias, **p)


@rounded
def nan_output_zeroed(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: NaN in the result replaced by 0 (np.nan_to_num with the infinities kept). Exposed by inputs
    holding NaN, or inf and -inf reaching one output."""
    p = _params(stride, padding, output_padding, dilation, groups)
    return np.nan_to_num(_lax(x, w, bias, **p), nan=0.0, posinf=np.inf, neginf=-np.inf)


@rounded
def accumulate_in_input_dtype(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG for float16 / bfloat16: products and sums in the input dtype, sequentially over taps and
    input channels (every partial sum rounded). Exposed by long reductions (>= 512 products)."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    dtype = x.dtype
    pads = lax_pads(w.shape[2:], s, pad, op, d)
    xp = pad_or_crop(dilate(x, s, dtype), pads)
    batch, cin, *size = xp.shape
    _, cog, *kernel = w.shape
    cig = cin // groups
    out_size = [p - dd * (k - 1) for p, k, dd in zip(size, kernel, d)]
    wf = flip(w)
    out = np.zeros((batch, groups, cog, *out_size), dtype)
    xg = xp.reshape(batch, groups, cig, *size)
    wg = wf.reshape(groups, cig, cog, *kernel)
    expand = (slice(None), slice(None), None) + (slice(None),) * len(kernel)
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = xg[(..., *(slice(t * dd, t * dd + o) for t, dd, o in zip(tap, d, out_size)))]
        for ci in range(cig):
            weights = wg[(slice(None), ci, slice(None), *tap)].reshape(1, groups, cog, *([1] * len(kernel)))
            out = (out + (window[:, :, ci][expand] * weights).astype(dtype)).astype(dtype)
    out = out.reshape(batch, groups * cog, *out_size)
    if bias is not None:
        out = (out + bias.reshape(-1, *([1] * len(kernel)))).astype(dtype)
    return out


@rounded
def kernel_dilated_with_zeros(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG for non-finite inputs: dilates the kernel by inserting zeros and correlates with it. Equal for
    finite inputs, but an input inf meets the inserted zeros: inf*0 = NaN where the result is finite or
    inf. Exposed by inf/NaN inputs with dilation > 1."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    spread = np.zeros((*w.shape[:2], *(dd * (k - 1) + 1 for k, dd in zip(w.shape[2:], d))), np.float64)
    spread[(slice(None), slice(None), *(slice(None, None, dd) for dd in d))] = w
    return _lax(x, spread, bias, **_params(s, pad, op, (1,) * len(d), groups))


@rounded
def dense_matrix_route(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG for non-finite inputs: the article's route, y = C^T x with the forward convolution's dense
    matrix C. Equal for finite inputs, but every input inf or NaN meets the matrix's zeros: NaN across its
    whole sample and group. Exposed by any inf/NaN input."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    batch, cin, *size = x.shape
    _, cog, *kernel = w.shape
    cig = cin // groups
    out_size = [(i - 1) * ss + dd * (k - 1) + 1 - b - e + o for i, k, ss, dd, (b, e), o in zip(size, kernel, s, d, pad, op)]
    wg = w.astype(np.float64).reshape(groups, cig, cog, *kernel)
    # matrix[o, i, g, co, ci]: the weight that carries input position i to output position o (C^T)
    matrix = np.zeros((int(np.prod(out_size)), int(np.prod(size)), groups, cog, cig))
    for tap in itertools.product(*(range(k) for k in kernel)):
        inputs = [np.arange(i) for i in size]
        outputs = [i * ss + t * dd - b for i, t, ss, dd, (b, _) in zip(inputs, tap, s, d, pad)]
        keep = [(o >= 0) & (o < n) for o, n in zip(outputs, out_size)]
        inputs = np.meshgrid(*(i[k] for i, k in zip(inputs, keep)), indexing="ij")
        outputs = np.meshgrid(*(o[k] for o, k in zip(outputs, keep)), indexing="ij")
        rows = np.ravel_multi_index(outputs, out_size).reshape(-1)
        columns = np.ravel_multi_index(inputs, size).reshape(-1)
        matrix[rows, columns] += wg[(..., *tap)].transpose(0, 2, 1)
    matrix = matrix.transpose(2, 3, 0, 4, 1).reshape(groups, cog * int(np.prod(out_size)), cig * int(np.prod(size)))
    columns = x.astype(np.float64).reshape(batch, groups, cig * int(np.prod(size)), 1)
    out = np.matmul(matrix, columns).reshape(batch, groups * cog, *out_size)
    if bias is not None:
        out = out + bias.astype(np.float64).reshape(-1, *([1] * len(size)))
    return out


@rounded
def kernel_spatially_transposed(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """WRONG: the kernel's last two spatial axes transposed ((kh, kw) read as (kw, kh)). Exposed in 2-d/3-d
    by a kernel that is not symmetric under the transpose (a non-square one changes the output size)."""
    p = _params(stride, padding, output_padding, dilation, groups)
    read = w.swapaxes(-1, -2) if w.ndim >= 4 else w
    return _lax(x, read, bias, **p)


def _skipping_zero_products(x, w, bias, skip, *, stride, padding, output_padding, dilation, groups):
    """The lax route with products left out where `skip(inputs, weights)` says (a sparsity shortcut):
    in float64, unrounded."""
    s, pad, op, d = _canonical(x, stride, padding, output_padding, dilation)
    pairs = lax_pads(w.shape[2:], s, pad, op, d)
    xp = pad_or_crop(dilate(x.astype(np.float64), s), pairs)
    occupied = pad_or_crop(dilate(np.ones((1, 1, *x.shape[2:])), s), pairs)[0, 0] > 0
    batch, cin, *size = xp.shape
    _, cog, *kernel = w.shape
    cig = cin // groups
    out_size = [p - dd * (k - 1) for p, k, dd in zip(size, kernel, d)]
    xg = xp.reshape(batch, groups, cig, 1, *size)
    wg = flip(w).astype(np.float64).reshape(groups, cig, cog, *kernel)
    out = np.zeros((batch, groups, cog, *out_size))
    spatial = (None,) * len(kernel)
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = tuple(slice(t * dd, t * dd + o) for t, dd, o in zip(tap, d, out_size))
        weights = wg[(..., *tap)][(None, ..., *spatial)]  # (1, G, Cig, Cog, 1...)
        inputs = xg[(..., *window)]
        products = np.where(~skip(inputs, weights) & occupied[window], inputs * weights, 0.0)
        out += products.sum(axis=2)
    out = out.reshape(batch, groups * cog, *out_size)
    if bias is not None:
        out += bias.astype(np.float64).reshape(-1, *([1] * len(kernel)))
    return out


@rounded
def zero_weights_skipped(x, w, bias=None, **params):
    """WRONG for non-finite inputs: products with an exactly zero weight are skipped (a sparsity shortcut),
    so an input inf meeting a zero weight gives no NaN (inf*0). Exposed only by an exact zero in w meeting
    an inf or NaN in x."""
    return _skipping_zero_products(x, w, bias, lambda inputs, weights: weights == 0, **_params_of(params))


@rounded
def zeros_of_the_padding_multiplied(x, w, bias=None, **params):
    """WRONG for non-finite weights: correlates the zero-dilated, zero-padded input with the flipped kernel
    and lets every tap multiply what it meets, inserted and padded zeros included, so an inf or NaN weight
    makes NaN (inf * 0) at outputs it does not reach. What XLA's float32 and oneDNN's (TF float32, torch and
    TF float16 / bfloat16) transposed convolutions do (README, Findings). Exposed by an inf or NaN in w."""
    return _lax(x, w, bias, **params, mask_zeros=False)


@rounded
def zero_inputs_skipped(x, w, bias=None, **params):
    """WRONG for non-finite weights: products with an exactly zero input are skipped (a sparse-activation
    shortcut, e.g. after a ReLU), so a zero input meeting an inf weight gives no NaN (0*inf). Exposed by
    an exact zero in x meeting an inf or NaN in w."""
    return _skipping_zero_products(x, w, bias, lambda inputs, weights: inputs == 0, **_params_of(params))


def _params_of(params):
    defaults = dict(stride=1, padding=0, output_padding=0, dilation=1, groups=1)
    return {**defaults, **params}


@rounded
def nonfinite_weights_zeroed(x, w, bias=None, **params):
    """WRONG for non-finite weights: inf and NaN in w and bias replaced by 0 when the weights are loaded.
    Exposed only by inf or NaN in w or bias."""
    clean = [None if a is None else np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0) for a in (w, bias)]
    return _lax(x, clean[0], clean[1], **params)


def _rounded_inputs(to, compute):
    @rounded
    def target(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
        p = _params(stride, padding, output_padding, dilation, groups)
        xr, wr = x.astype(to).astype(compute), w.astype(to).astype(compute)
        br = None if bias is None else bias.astype(to).astype(compute)
        return _lax(xr, wr, br, **p, dtype=compute)

    return target


inputs_rounded_to_bfloat16 = _rounded_inputs(BFLOAT16, np.float32)
inputs_rounded_to_bfloat16.__name__ = inputs_rounded_to_bfloat16.__qualname__ = "inputs_rounded_to_bfloat16"
inputs_rounded_to_bfloat16.__doc__ = (
    "WRONG for float32 / float16 / float64: inputs rounded to bfloat16, then a float32 computation."
)
inputs_rounded_to_float16 = _rounded_inputs(np.float16, np.float32)
inputs_rounded_to_float16.__name__ = inputs_rounded_to_float16.__qualname__ = "inputs_rounded_to_float16"
inputs_rounded_to_float16.__doc__ = "WRONG for float32 / float64: inputs rounded to float16, then a float32 computation."
float64_computed_in_float32 = _rounded_inputs(np.float32, np.float32)
float64_computed_in_float32.__name__ = float64_computed_in_float32.__qualname__ = "float64_computed_in_float32"
float64_computed_in_float32.__doc__ = "WRONG for float64: inputs rounded to float32 and computed in float32."


@rounded
def random_noise(x, w, bias=None, **params):
    """WRONG: the right result plus random noise of 2% of the result's largest finite magnitude (a race, an
    uninitialized read). Exposed by every case; no mistake of convt_oracle.hypotheses explains it, so its
    diagnosis must be `unexplained` (a diagnosis is never invented)."""
    out = _lax(x, w, bias, **_params_of(params))
    finite = np.abs(out[np.isfinite(out)])
    scale = 0.02 * (finite.max() if finite.size else 1.0) or 0.02
    return out + scale * np.random.default_rng(out.size).standard_normal(out.shape)


def rounds_toward_zero(x, w, bias=None, **params):
    """WRONG: the exact result rounded toward zero (truncated) to the dtype instead of to nearest. Every
    element but those near the dtype's range stays within its bound (an error under one ulp): only the
    distribution of the errors shows it (convt_oracle.precision's bias test), so it is in SUITE_MUTANTS,
    not MUTANTS."""
    check_arguments(x, w, bias, **params)
    out = _lax(x, w, bias, **_params_of(params))
    with np.errstate(over="ignore", invalid="ignore"):
        nearest = out.astype(x.dtype)
        beyond = np.isfinite(out) & (np.abs(nearest.astype(np.float64)) > np.abs(out))
    nearest[beyond] = np.nextafter(nearest[beyond], np.zeros((), x.dtype))
    return nearest


# Mutants whose mistake no single case shows, only a suite's errors together (convt_oracle.precision): each
# with the dtypes it is wrong in and the rounding Report.precision() must find.
SUITE_MUTANTS = {"rounds_toward_zero": ("float32", "float16", "bfloat16")}  # float64: the exact sum, truncated


# Where a blocked kernel's tail bugs below act: reductions of at least this many products (in_channels per
# group x kernel taps), so long that one product lies within the rounded tier's bound on many elements.
LONG_TAIL = 64


def _long(w, groups) -> bool:
    return w.shape[0] // groups * int(np.prod(w.shape[2:])) >= LONG_TAIL


@rounded
def drops_one_product(x, w, bias=None, **params):
    """WRONG where the reduction is long (>= LONG_TAIL = 64 products): drops exactly one product of every
    output element's reduction, that of its group's last input channel at the last kernel tap (a blocked
    kernel's tail loop one short). Exposed by the exact tier (zero tolerance) in every dtype; the rounded
    tier sees it only where that one product exceeds the element's bound."""
    params = _params_of(params)
    if not _long(w, params["groups"]):
        return _lax(x, w, bias, **params)
    cig = w.shape[0] // params["groups"]
    dropped = w.astype(np.float64)  # a copy
    dropped[(slice(cig - 1, None, cig), slice(None), *(k - 1 for k in w.shape[2:]))] = 0.0
    return _lax(x, dropped, bias, **params)


@rounded
def adds_one_tap_twice(x, w, bias=None, **params):
    """WRONG where the reduction is long (>= LONG_TAIL = 64 products): the products of the first kernel tap
    are added twice (a blocked kernel's tail loop that runs the first tap again). Exposed by the exact tier
    in every dtype, and by the rounded tier wherever that tap's sum exceeds the bound."""
    params = _params_of(params)
    if not _long(w, params["groups"]):
        return _lax(x, w, bias, **params)
    doubled = w.astype(np.float64)  # a copy
    doubled[(slice(None), slice(None), *(0 for _ in w.shape[2:]))] *= 2.0
    return _lax(x, doubled, bias, **params)


# --- reduced-precision modes: TF32 inputs, on the CPU -------------------------------------------------------


def round_to_tf32(array: np.ndarray) -> np.ndarray:
    """float32 (or float64) values rounded to nearest, ties to even, to TF32's 10 explicit significand bits
    (float32's range), as a GPU's TF32 tensor cores take their inputs; inf and NaN kept. Float32 or float64."""
    single = np.asarray(array, np.float32)
    bits = single.view(np.uint32)
    half, odd = np.uint32(0xFFF), (bits >> np.uint32(13)) & np.uint32(1)  # below the kept bits: 13 of them
    rounded = ((bits + half + odd) & np.uint32(0xFFFFE000)).view(np.float32)
    out = np.where(np.isfinite(single), rounded, single)
    return out.astype(array.dtype) if array.dtype == np.float64 else out


def _tf32_mode(round_inputs):
    """A target rounding x, w and bias with `round_inputs` (float32 and float64 only; float16 and bfloat16
    are exact in TF32), then computing in float32 (float64 for float64 inputs), rounded."""

    @rounded
    def target(x, w, bias=None, **params):
        compute = np.float64 if x.dtype == np.float64 else np.float32
        if x.dtype in (np.float32, np.float64):
            x, w = round_inputs(x), round_inputs(w)
            bias = None if bias is None else round_inputs(bias)
        return _lax(x, w, bias, **_params_of(params), dtype=compute)

    return target


def _named(function, name: str, doc: str):
    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


tf32_inputs = _named(
    _tf32_mode(round_to_tf32), "tf32_inputs",
    "WRONG for float32 / float64 under the strict default, right under Tolerance(inputs='tf32'): inputs rounded "
    "to TF32 (10 significand bits), then a float32 (float64) computation: a GPU kernel in TF32 mode.",
)
tf32_inputs_declared = _named(
    _tf32_mode(round_to_tf32), "tf32_inputs_declared",
    "CORRECT in the TF32 mode it declares (its `tolerance` attribute, as torch-cuda-tf32 does): tf32_inputs.",
)
tf32_inputs_declared.tolerance = Tolerance(inputs="tf32")
bfloat16_inputs_under_tf32 = _named(
    _tf32_mode(lambda a: a.astype(BFLOAT16).astype(a.dtype)), "bfloat16_inputs_under_tf32",
    "WRONG for float32 / float64 even in the TF32 mode it declares (`tolerance`): inputs rounded to bfloat16 "
    "(7 significand bits), 3 bits fewer than TF32 keeps.",
)
bfloat16_inputs_under_tf32.tolerance = Tolerance(inputs="tf32")


# --- kernels that write into a prefilled out= buffer (crosscheck(..., out=True)) ---------------------------


def lax_into_out(x, w, bias=None, *, out, **params):
    """CORRECT: lax_reference written into `out` (an out= kernel; returns None)."""
    out[...] = lax_reference(x, w, bias, **params)


def last_column_unwritten(x, w, bias=None, *, out, **params):
    """WRONG: an out= kernel whose grid misses the last output column (the last element of the last spatial
    axis is never written). Exposed by every case whose right value there is not NaN."""
    out[..., :-1] = lax_reference(x, w, bias, **params)[..., :-1]


def adds_into_out(x, w, bias=None, *, out, **params):
    """WRONG: an out= kernel that adds its result to what `out` holds (`out += ...`, a missing zero-init)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out += lax_reference(x, w, bias, **params)


def unwritten_outputs(x, w, bias=None, **params):
    """WRONG: last_column_unwritten as crosscheck(..., out=True) calls it (the oracle's prefilled buffer,
    convt_oracle.harness.arrays): its last output column still holds the oracle's NaN."""
    from convt_oracle.harness.arrays import ArrayTarget

    return ArrayTarget(last_column_unwritten, out=True)(x, w, bias, **params)


def accumulated_outputs(x, w, bias=None, **params):
    """WRONG: adds_into_out as crosscheck(..., out=True) calls it: the result plus the oracle's sentinel."""
    from convt_oracle.harness.arrays import ArrayTarget

    return ArrayTarget(adds_into_out, out=True)(x, w, bias, **params)


# --- kernels that take and return a framework's arrays (crosscheck(..., array="torch" / "jax")) ----------


def _from_torch(tensor):
    """A torch tensor's values as a numpy array of its dtype (bfloat16 through int16), None stays None."""
    if tensor is None:
        return None
    import torch

    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(BFLOAT16)
    return tensor.numpy()


def _to_torch(array, device):
    import torch

    array = np.ascontiguousarray(array)
    if array.dtype == BFLOAT16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16).to(device)
    return torch.from_numpy(array).to(device)


def torch_tensors(x, w, bias=None, **params):
    """CORRECT: takes torch tensors and returns one on their device: lax_reference of their values. Its vjp
    (torch autograd, _torch_vjp) takes and returns tensors too."""
    arrays = [_from_torch(t) for t in (x, w, bias)]
    return _to_torch(lax_reference(*arrays, **params), x.device)


def _torch_tensors_vjp(x, w, grad_out, bias=None, **params):
    grads = _torch_vjp(*(_from_torch(t) for t in (x, w, grad_out, bias)), **params)
    return tuple(None if g is None else _to_torch(g, x.device) for g in grads)


torch_tensors.vjp = _torch_tensors_vjp


def torch_into_out(x, w, bias=None, *, out, **params):
    """CORRECT: torch_tensors written into the torch tensor `out` (returns it, as torch's out= functions do)."""
    return out.copy_(torch_tensors(x, w, bias, **params))


def torch_tensors_to_numpy(x, w, bias=None, **params):
    """WRONG as called with torch tensors: returns a numpy array (the right values) instead of a tensor."""
    return lax_reference(*(_from_torch(t) for t in (x, w, bias)), **params)


def torch_tf32_inputs(x, w, bias=None, *, stride, padding, output_padding, dilation, groups):
    """WRONG in strict float32, right under Tolerance(inputs='tf32'): a torch kernel that rounds its float32
    tensors to TF32 (integer bit arithmetic on their int32 view, ties to even), then torch's own
    conv_transpose in float32 with padding 0, the crop and output_padding by torch.nn.functional.pad, the
    bias added. Finite inputs (torch's CPU kernel and the pad are not checked for inf and NaN here)."""
    import torch

    def tf32(t):
        if t is None or t.dtype != torch.float32:
            return t
        bits = t.view(torch.int32)
        rounded = ((bits + 0xFFF + ((bits >> 13) & 1)) & ~0x1FFF).view(torch.float32)
        return torch.where(torch.isfinite(t), rounded, t)

    x, w, bias = tf32(x), tf32(w), tf32(bias)
    rank = x.dim() - 2
    function = getattr(torch.nn.functional, f"conv_transpose{rank}d")
    with torch.no_grad():
        full = function(x, w, None, stride=stride, padding=0, output_padding=0, groups=groups, dilation=dilation)
        amounts = []
        for (begin, end), extra in reversed(list(zip(padding, output_padding))):  # F.pad lists the last axis first
            amounts += [-begin, extra - end]
        out = torch.nn.functional.pad(full, amounts)
        return out if bias is None else out + bias.reshape(-1, *([1] * rank))


def jax_arrays(x, w, bias=None, **params):
    """CORRECT: takes jax arrays and returns one on their device: lax_reference of their values."""
    import jax

    arrays = [None if a is None else np.asarray(jax.device_get(a)) for a in (x, w, bias)]
    return jax.device_put(lax_reference(*arrays, **params), next(iter(x.devices())))


# The dtypes in which each mutant computes something wrong (where the mutation test looks for it).
ALL = ("float64", "float32", "float16", "bfloat16")
MUTANT_DTYPES = {
    "unflipped_kernel": ALL,
    "weight_in_forward_layout": ALL,
    "input_groups_interleaved": ALL,
    "weight_groups_interleaved": ALL,
    "output_groups_interleaved": ALL,
    "axis_parameters_reversed": ALL,
    "spatial_axes_swapped": ALL,
    "crop_ends_swapped": ALL,
    "output_padding_at_start": ALL,
    "output_padding_ignored": ALL,
    "output_padding_as_zeros": ALL,
    "stride_and_dilation_swapped": ALL,
    "dilation_off_by_one": ALL,
    "bias_ignored": ALL,
    "bias_twice": ALL,
    "bias_groups_interleaved": ALL,
    "bias_only_where_reached": ALL,
    "batch_from_first_sample": ALL,
    "nonfinite_inputs_zeroed": ALL,
    "nan_output_zeroed": ALL,
    "kernel_dilated_with_zeros": ALL,
    "dense_matrix_route": ALL,
    "kernel_spatially_transposed": ALL,
    "accumulate_in_input_dtype": ("float16", "bfloat16"),
    "inputs_rounded_to_bfloat16": ("float32", "float16", "float64"),
    "inputs_rounded_to_float16": ("float32", "float64"),
    "float64_computed_in_float32": ("float64",),
    "zero_weights_skipped": ALL,
    "zero_inputs_skipped": ALL,
    "nonfinite_weights_zeroed": ALL,
    "zeros_of_the_padding_multiplied": ALL,
    "random_noise": ALL,
    "drops_one_product": ALL,
    "adds_one_tap_twice": ALL,
    "tf32_inputs": ("float32", "float64"),
    "bfloat16_inputs_under_tf32": ("float32", "float64"),
    "unwritten_outputs": ALL,
    "accumulated_outputs": ALL,
}
MUTANTS = tuple(MUTANT_DTYPES)

# The name convt_oracle.diagnosis should give each mutant's discrepancies (tests/test_diagnosis.py,
# benchmarks/diagnosis_mutants.py); None where no hypothesis models the mutation (its discrepancies are
# `unexplained`, which is right: a diagnosis is never invented).
MUTANT_DIAGNOSIS = {
    "unflipped_kernel": "flipped_kernel",
    "weight_in_forward_layout": "weight_in_forward_layout",
    "input_groups_interleaved": "groups_interleaved",
    "weight_groups_interleaved": "groups_interleaved",
    "output_groups_interleaved": "groups_interleaved",
    "axis_parameters_reversed": "axes_transposed",
    "spatial_axes_swapped": "axes_transposed",
    "crop_ends_swapped": "crop_swapped",
    "output_padding_at_start": "output_padding_at_front",
    "output_padding_ignored": "output_padding_ignored",
    "output_padding_as_zeros": "output_padding_as_zeros",
    "stride_and_dilation_swapped": "stride_dilation_swapped",
    "dilation_off_by_one": None,
    "bias_ignored": "bias_missing",
    "bias_twice": "bias_twice",
    "bias_groups_interleaved": "groups_interleaved",
    "bias_only_where_reached": "bias_missing_past_the_result",
    "batch_from_first_sample": "wrong_batch",
    "nonfinite_inputs_zeroed": "nonfinite_inputs_zeroed",
    "nan_output_zeroed": "nan_replaced_by_zero",
    "kernel_dilated_with_zeros": None,
    "dense_matrix_route": None,
    "kernel_spatially_transposed": "axes_transposed",
    "accumulate_in_input_dtype": "accumulated_in_dtype",
    "inputs_rounded_to_bfloat16": "inputs_rounded",
    "inputs_rounded_to_float16": "inputs_rounded",
    "float64_computed_in_float32": "inputs_rounded",
    "zero_weights_skipped": None,
    "zero_inputs_skipped": None,
    "nonfinite_weights_zeroed": "nonfinite_inputs_zeroed",
    "zeros_of_the_padding_multiplied": "nan_from_padding_zeros",
    "random_noise": "unexplained",
    "drops_one_product": None,
    "adds_one_tap_twice": None,
    "tf32_inputs": "inputs_rounded",
    "bfloat16_inputs_under_tf32": "inputs_rounded",
    "unwritten_outputs": "unwritten",
    "accumulated_outputs": "accumulated_into_out",
}

