"""The definition route: transposed convolution computed as its scatter form reads, in float64.

Per spatial axis, with Cig = Cin / groups and Cog = Cout / groups:

    full[n, g*Cog + co, i*s + t*d] += x[n, g*Cig + ci, i] * w[g*Cig + ci, co, t]
    out = full[begin : begin + O]            (zero past the end of full), plus bias

`full` has F = (i-1)*s + d*(k-1) + 1 elements per axis. The loop runs over the kernel taps t: tap t
writes the strided window full[t*d : t*d + (i-1)*s + 1 : s], one element per input position, the
grouped channel contraction of x with w[..., t].

No speed tricks, so that it reads as the math and the fast route (`convt_oracle.phase_route`, used by
`convt_oracle.golden.conv_transpose`) can be checked against it. It only multiplies products that exist
(no zeros stand in for positions outside x), so inf and NaN follow IEEE by themselves: inf * 0 only where
x or w really is 0, inf + -inf = NaN. Arguments are checked by the same `convt_oracle.params` functions as
the golden's, and raise the same errors; the golden's memory limit is not applied (it allocates the
uncropped full result, and serves the tests).
"""

from __future__ import annotations

import itertools

import numpy as np

from convt_oracle import arithmetic
from convt_oracle import params as P


def conv_transpose(x, w, bias=None, *, stride=1, padding=0, output_padding=0, dilation=1, groups=1):
    """Transposed convolution of x (batch, Cin, *spatial) with w (Cin, Cout // groups, *kernel), float64."""
    x, w, p = P.prepare(x, w, stride, padding, output_padding, dilation, groups)
    batch, cin, *input_size = x.shape
    _, cog, *kernel_size = w.shape
    rank, g, cig = len(input_size), p.groups, cin // p.groups
    bias = P.check_bias(bias, g * cog, g)
    out_size = P.check_output_size(p, input_size, kernel_size)  # arithmetic.output_size per axis
    full_size = [arithmetic.full_size(i, k, s, d) for i, k, s, d in zip(input_size, kernel_size, p.stride, p.dilation)]

    x = x.reshape(batch, g, cig, *input_size)  # x[n, g, ci, i]
    w = w.reshape(g, cig, cog, *kernel_size)  # w[g, ci, co, t]
    full = np.zeros((batch, g, cog, *full_size))
    with np.errstate(invalid="ignore", over="ignore"):  # inf * 0, inf - inf and overflow give what IEEE says
        for tap in itertools.product(*(range(k) for k in kernel_size)):
            # full[n, g, co, i*s + t*d] += sum_ci x[n, g, ci, i] * w[g, ci, co, t]
            window = tuple(
                slice(t * d, t * d + (i - 1) * s + 1, s) for t, d, i, s in zip(tap, p.dilation, input_size, p.stride)
            )
            full[(..., *window)] += np.einsum("ngc...,gco->ngo...", x, w[(..., *tap)])

        # out = full[begin : begin + O] per axis, zero where that runs past the end of full
        out = np.zeros((batch, g, cog, *out_size))
        kept = full[(..., *(slice(b, b + o) for (b, _), o in zip(p.padding, out_size)))]
        out[(..., *(slice(0, n) for n in kept.shape[3:]))] = kept
        out = out.reshape(batch, g * cog, *out_size)
        if bias is not None:
            out += bias.reshape(-1, *([1] * rank))
    return out
