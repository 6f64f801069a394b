"""A correct transposed convolution written apart from oracle/golden.py: the matrix test's default target.

The golden scatters x into the output one stride phase at a time. This target takes the other textbook
route (jax's lax_reference): dilate x by the stride, pad it by d*(k-1) less the crop, correlate it with
the flipped, dilated kernel. Per spatial axis, with e = d*(k-1):

    out[j] = sum_t xp[j + t*d] * w[k-1-t],   xp = (x dilated by s, padded by e at both ends)[begin:]

zero past the end of xp (output_padding can reach past the full result). It computes in float64 and
rounds once to the input's dtype; it validates its own arguments, so invalid cases raise. Imports
nothing from the project.
"""

from __future__ import annotations

import itertools
from numbers import Integral

import numpy as np


def _ints(name, values, rank, minimum):
    values = tuple(values)
    if len(values) != rank or not all(isinstance(v, Integral) and minimum <= v < 2**63 for v in values):
        raise ValueError(f"{name}: got {values}; expected {rank} integers >= {minimum} that int64 holds")
    return values


def conv_transpose(x, w, bias=None, *, stride, padding, output_padding, dilation, groups):
    """(batch, Cin, *spatial) x (Cin, Cout // groups, *kernel) -> (batch, Cout, *out), in x's dtype."""
    x, w = np.asarray(x), np.asarray(w)
    rank = w.ndim - 2
    if not 1 <= rank <= 3 or x.ndim != w.ndim:
        raise ValueError(f"shapes: x {x.shape}, w {w.shape}; expected (N, C, *spatial) and (C, O/g, *kernel), 1-3 spatial axes")
    if not isinstance(groups, Integral) or groups < 1 or w.shape[0] < 1 or w.shape[0] % groups:
        raise ValueError(f"groups: {groups!r} must be a positive integer dividing in_channels {w.shape[0]}")
    if x.shape[1] != w.shape[0] or min(w.shape[1:]) < 1 or min(x.shape[2:]) < 1:
        raise ValueError(f"shapes: x {x.shape} and w {w.shape} do not fit")
    stride = _ints("stride", stride, rank, 1)
    dilation = _ints("dilation", dilation, rank, 1)
    output_padding = _ints("output_padding", output_padding, rank, 0)
    crops = tuple(tuple(pair) for pair in padding)
    if len(crops) != rank or not all(len(p) == 2 and min(_ints("padding", p, 2, 0)) >= 0 for p in crops):
        raise ValueError(f"padding: got {padding}; expected {rank} (begin, end) pairs of integers >= 0")

    batch, cin, *size = x.shape
    cog, kernel = w.shape[1], w.shape[2:]
    reach = [d * (k - 1) for k, d in zip(kernel, dilation)]
    out_size = [(i - 1) * s + e + 1 - b - end + op for i, s, e, (b, end), op in zip(size, stride, reach, crops, output_padding)]
    if min(out_size) < 1:
        raise ValueError(f"padding: crops {crops} leave output size {out_size}")
    if bias is not None and np.shape(bias) != (cog * groups,):
        raise ValueError(f"bias: shape {np.shape(bias)}; expected ({cog * groups},)")

    def dilate_and_pad(values):
        # 1. dilate by the stride: x[i] lands at i*s, zeros between.
        dilated = np.zeros((*values.shape[:2], *[(i - 1) * s + 1 for i, s in zip(size, stride)]))
        dilated[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = values
        # 2. pad by e at both ends, drop the first `begin` positions, and make each axis out + e long.
        left = [max(0, e - b) for e, (b, _) in zip(reach, crops)]
        drop = [max(0, b - e) for e, (b, _) in zip(reach, crops)]
        right = [max(0, n - (l + m - c)) for n, l, m, c in zip(length, left, dilated.shape[2:], drop)]
        padded = np.pad(dilated, [(0, 0), (0, 0), *zip(left, right)])
        return padded[(slice(None), slice(None), *(slice(c, c + n) for c, n in zip(drop, length)))]

    length = [o + e for o, e in zip(out_size, reach)]
    padded = dilate_and_pad(x.astype(np.float64))
    # Where an input pixel landed: a tap meeting an inserted or padded zero forms no product (with an inf
    # weight, inf * 0 would make a NaN the definition does not have).
    occupied = dilate_and_pad(np.ones((1, 1, *size)))[0, 0] > 0
    # 3. correlate with the flipped kernel, dilated by d, channels contracted within each group.
    cig = cin // groups
    grouped = padded.reshape(batch, groups, cig, *length)
    flipped = w.astype(np.float64)[(slice(None), slice(None), *(slice(None, None, -1),) * rank)]
    flipped = flipped.reshape(groups, cig, cog, *kernel)
    out = np.zeros((batch, groups, cog, int(np.prod(out_size))))
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, and a float16 result may overflow
        for tap in itertools.product(*(range(k) for k in kernel)):
            reached = tuple(slice(t * d, t * d + o) for t, d, o in zip(tap, dilation, out_size))
            window = grouped[(slice(None), slice(None), slice(None), *reached)]
            weights = flipped[(slice(None), slice(None), slice(None), *tap)].transpose(0, 2, 1)  # (groups, cog, cig)
            out += np.where(occupied[reached].reshape(-1), weights @ window.reshape(batch, groups, cig, -1), 0.0)
        out = out.reshape(batch, groups * cog, *out_size)
        if bias is not None:
            out += np.asarray(bias, np.float64).reshape(-1, *(1,) * rank)
        return out.astype(x.dtype)
