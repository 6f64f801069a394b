"""Models of framework findings' mechanisms, for the adapter tests: a discrepancy is excused only when a
model of the finding's mechanism accounts for every difference, not because of the kind of case it
occurred on.

The mechanism modelled here (README, Findings: "an inf or NaN weight turns outputs it does not reach into
NaN"): XLA's runtime convolution and oneDNN's transposed convolutions correlate the zero-dilated,
zero-padded input (or, for the gradient with respect to x, the zero-padded cotangent) with the kernel, so
every tap multiplies the zeros it meets as well, and inf * 0 = NaN. The definition (the golden) has no such
products.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from convt_oracle import compare as C

from support import targets as T


def _accepting_nan_where(expected: C.Expected, model: np.ndarray, actual) -> C.Expected:
    """The expectation with NaN accepted where the model can make one: where the model is NaN and the actual
    result is NaN, NaN is expected; elsewhere the golden's value stands. (Kernels multiply some of the
    zeros and skip others, so the model says where NaN may come from, not where it must.)"""
    produced = np.isnan(model) & np.isnan(np.asarray(actual, np.float64))
    return dataclasses.replace(expected, value=np.where(produced, np.nan, expected.value))


def forward_with_padding_zeros(x, w, bias, params) -> np.ndarray:
    """conv_transpose in float64 with every tap multiplying inserted and padded zeros too."""
    with np.errstate(invalid="ignore", over="ignore"):
        return T._lax(x.astype(np.float64), w.astype(np.float64), None if bias is None else bias.astype(np.float64),
                      **params, mask_zeros=False)


def grad_x_with_padding_zeros(w, grad_out, params, input_size) -> np.ndarray:
    """The gradient with respect to x, conv(grad_out, w), with grad_out read as 0 outside its extent and
    those zeros multiplied by the weights too: grad_x[n, g*Cig + ci, i] = sum_{co, t} w[g*Cig + ci, co, t] *
    grad_out[n, g*Cog + co, i*s + t*d - begin]."""
    stride, dilation, padding, groups = params["stride"], params["dilation"], params["padding"], params["groups"]
    cin, cog, *kernel = w.shape
    batch, _, *output_size = grad_out.shape
    y = grad_out.astype(np.float64).reshape(batch, groups, cog, *output_size)
    wg = w.astype(np.float64).reshape(groups, cin // groups, cog, *kernel)
    grad_x = np.zeros((batch, groups, cin // groups, *input_size))
    with np.errstate(invalid="ignore", over="ignore"):
        for tap in itertools.product(*(range(k) for k in kernel)):
            indices = [np.arange(i) * s + t * d - b for i, s, t, d, (b, _) in zip(input_size, stride, tap, dilation, padding)]
            inside = np.ones(tuple(input_size), bool)
            for axis, (a, o) in enumerate(zip(indices, output_size)):
                inside = inside & ((a >= 0) & (a < o)).reshape([-1 if j == axis else 1 for j in range(len(indices))])
            read = y[(..., *np.ix_(*[np.clip(a, 0, o - 1) for a, o in zip(indices, output_size)]))] * inside
            grad_x += np.einsum("ngc...,gdc->ngd...", read, wg[(..., *tap)])
    return grad_x.reshape(batch, cin, *input_size)


def padding_zeros_explain(result, target, tolerance=None) -> bool:
    """True when `result` (a discrepancy of adapter `target` on an inf/NaN-weight case) is explained by the
    padding-zeros mechanism: the target's answer passes the comparison once NaN is accepted where the
    model makes one (under `tolerance`, an convt_oracle.Tolerance); any other difference still fails. The target
    is called again, in this process."""
    case = result.case
    if result.outcome != C.NONFINITE_MISMATCH or case.values != "nonfinite_weights":
        return False
    x, w, bias = case.arrays()
    params = case.params()
    if result.check == "forward":
        actual = target.call_case(case, x, w, bias)
        expected = C.expect(x, w, bias, params, case.dtype, tolerance)
        model = forward_with_padding_zeros(x, w, bias, params)
        return C.compare(actual, _accepting_nan_where(expected, model, actual)).ok
    grad_out = case.cotangent()
    actual = target.vjp_case(case, x, w, grad_out, bias)
    expected = C.expect_vjp(x, w, grad_out, bias, params, case.dtype, tolerance)
    model = grad_x_with_padding_zeros(w, grad_out, params, case.input_size)
    checks = [C.compare(actual[0], _accepting_nan_where(expected[0], model, actual[0]))]
    checks += [C.compare(got, want) for got, want in zip(actual[1:], expected[1:]) if want is not None]
    return all(check.ok for check in checks)
