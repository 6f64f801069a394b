"""Models of framework findings' mechanisms, for the adapter tests: a discrepancy is excused only when a
model of the finding's mechanism accounts for every difference, not because of the kind of case it
occurred on.

The mechanism modelled here (README, Findings: "an inf or NaN weight turns outputs it does not reach into
NaN"; the diagnosis's `nan_from_padding_zeros`, convt_oracle.hypotheses, whose models these use): XLA's runtime convolution and oneDNN's transposed convolutions correlate the zero-dilated,
zero-padded input (or, for the gradient with respect to x, the zero-padded cotangent) with the kernel, so
every tap multiplies the zeros it meets as well, and inf * 0 = NaN. The definition (the golden) has no such
products.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from convt_oracle import compare as C
from convt_oracle.hypotheses import grad_x_with_padding_zeros, forward_with_padding_zeros


def _accepting_nan_where(expected: C.Expected, model: np.ndarray, actual) -> C.Expected:
    """The expectation with NaN accepted where the model can make one: where the model is NaN and the actual
    result is NaN, NaN is expected; elsewhere the golden's value stands. (Kernels multiply some of the
    zeros and skip others, so the model says where NaN may come from, not where it must.)"""
    produced = np.isnan(model) & np.isnan(np.asarray(actual, np.float64))
    return dataclasses.replace(expected, value=np.where(produced, np.nan, expected.value))


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
        model = forward_with_padding_zeros(x, w, params)
        return C.compare(actual, _accepting_nan_where(expected, model, actual)).ok
    grad_out = case.cotangent()
    actual = target.vjp_case(case, x, w, grad_out, bias)
    expected = C.expect_vjp(x, w, grad_out, bias, params, case.dtype, tolerance)
    model = grad_x_with_padding_zeros(w, grad_out, params, case.input_size)
    checks = [C.compare(actual[0], _accepting_nan_where(expected[0], model, actual[0]))]
    checks += [C.compare(got, want) for got, want in zip(actual[1:], expected[1:]) if want is not None]
    return all(check.ok for check in checks)
