"""Assertions for your own tests: a transposed convolution checked against the golden, numpy.testing-style.

    from convt_oracle.testing import assert_conv_transpose_close   # also convt_oracle.assert_conv_transpose_close
    assert_conv_transpose_close(my_result, x, w, bias, stride=2, padding=1)
"""

from __future__ import annotations

import numpy as np

from convt_oracle import compare as C
from convt_oracle.tolerance import UNIT_ROUNDOFF, Tolerance


def assert_conv_transpose_close(actual, x, w, bias=None, *, tolerance: Tolerance | None = None, exact: bool = False,
                                **params):
    """Assert that `actual` is a correct transposed convolution of (x, w, bias) in x's dtype.

    The expected value is the golden's; the tolerance is derived per element (convt_oracle.tolerance). On
    failure the message says the outcome, how many elements mismatch, the largest error and error/bound,
    and the first mismatching indices with actual, expected and bound. `exact=True`: x, w and bias hold
    small integers (|v| <= 256, as an exact case draws them) and the result must equal the golden's bit for
    bit wherever every partial sum is held exactly (convt_oracle.compare.expectation).
    """
    __tracebackhide__ = True
    if tolerance is not None and not isinstance(tolerance, Tolerance):
        raise TypeError(f"tolerance: got {type(tolerance).__name__}; expected a convt_oracle.Tolerance or None")
    dtype = str(np.asarray(x).dtype)
    if dtype not in UNIT_ROUNDOFF:
        raise TypeError(
            f"x: dtype {dtype}; the tolerance is derived for {', '.join(UNIT_ROUNDOFF)} results (a result has "
            f"its input's dtype); for other inputs compare with convt_oracle.conv_transpose(x, w, bias, ...) directly"
        )
    expected = C.expect(x, w, bias, params, dtype, tolerance, exact=exact)
    comparison = C.compare(actual, expected)
    if not comparison.ok:
        call = ", ".join(f"{key}={value!r}" for key, value in params.items())
        raise AssertionError(
            f"conv_transpose result is not close ({comparison.outcome}): x{tuple(np.shape(x))} {dtype}, "
            f"w{tuple(np.shape(w))}, bias {'none' if bias is None else np.shape(bias)}, {call}\n{comparison.message}"
        )
    return comparison

