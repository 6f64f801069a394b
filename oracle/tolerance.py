"""Tolerances derived from the computation, not guessed: the one place for this rule.

Every output element of a transposed convolution is a sum of K products (in_channels per group x the
kernel taps that reach it) plus the bias. For a dot product of K terms computed with unit roundoff u in
any order, the classic bound (Higham, Accuracy and Stability of Numerical Algorithms, 3.1) is

    |fl(s) - s| <= gamma_K(u) * sum_i |x_i * w_i|,        gamma_K(u) = K*u / (1 - K*u).

Adding the bias is one more term, so with S = conv_transpose(|x|, |w|) + |bias| (computed by the golden)
the accumulated value is within gamma_{K+1}(u_acc) * S of the exact one. Rounding the accumulator to the
output dtype adds at most u_out * |y|. The golden itself computes in float64, so its own error,
gamma_{K+1}(u_64) * S, is added too (it matters only for float64 targets). Per element:

    bound = gamma_{K+1}(u_acc) * S + u_out * |y| + gamma_{K+1}(u_64) * S + eta_out

where eta_out is half the output dtype's smallest subnormal (a tiny result may underflow).

Inputs are exactly representable in the case's dtype, so there is no input-rounding term: a target that
rounds its inputs to a narrower type (or accumulates in one) exceeds the bound on some cases.

u_acc is the unit roundoff of the accumulation. Policy (`Tolerance.accumulation`): float16 and bfloat16
inputs are assumed to accumulate in float32, as every CPU kernel we checked does; float32 in float32,
float64 in float64. A target that accumulates float16 in float16 is flagged: pass
`Tolerance(accumulation={"float16": "float16"})` to accept it instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Unit roundoff u = 2**-p for a p-bit significand (including the implicit bit), round to nearest.
UNIT_ROUNDOFF = {
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}
# The largest finite value of each dtype; a result at or beyond max + ulp(max)/2 rounds to infinity.
LARGEST = {
    "float64": float(np.finfo(np.float64).max),
    "float32": float(np.finfo(np.float32).max),
    "float16": 65504.0,
    "bfloat16": float.fromhex("0x1.fep127"),
}
OVERFLOW_THRESHOLD = {name: LARGEST[name] * (1 + UNIT_ROUNDOFF[name] / 2) if name != "float64" else np.inf for name in LARGEST}

# Half the smallest subnormal: the absolute error of rounding a tiny result into the dtype.
UNDERFLOW = {"float64": 2.0**-1075, "float32": 2.0**-150, "float16": 2.0**-25, "bfloat16": 2.0**-134}

DEFAULT_ACCUMULATION = {"float16": "float32", "bfloat16": "float32", "float32": "float32", "float64": "float64"}


def gamma(k, u: float):
    """gamma_k(u) = k*u / (1 - k*u); infinite where k*u >= 1 (no bound)."""
    k = np.asarray(k, dtype=np.float64)
    ku = k * u
    with np.errstate(divide="ignore"):
        return np.where(ku < 1, ku / np.maximum(1 - ku, 0), np.inf)


@dataclass(frozen=True)
class Tolerance:
    """The accumulation policy: which dtype each input dtype is assumed to accumulate in."""

    accumulation: dict = field(default_factory=lambda: dict(DEFAULT_ACCUMULATION))

    def accumulation_dtype(self, dtype: str) -> str:
        return {**DEFAULT_ACCUMULATION, **self.accumulation}[dtype]

    def bound(self, dtype: str, expected: np.ndarray, magnitude: np.ndarray, terms: np.ndarray) -> np.ndarray:
        """Per-element bound on |actual - expected| for a result computed in `dtype`.

        `expected`: the golden's float64 result; `magnitude`: S, the same computation on absolute values;
        `terms`: K + 1, the number of rounded additions per element (products plus bias).
        """
        u_acc = UNIT_ROUNDOFF[self.accumulation_dtype(dtype)]
        u_out = UNIT_ROUNDOFF[dtype]
        with np.errstate(invalid="ignore", over="ignore"):
            accumulated = (gamma(terms, u_acc) + gamma(terms, UNIT_ROUNDOFF["float64"])) * magnitude
            return accumulated + u_out * np.abs(expected) + UNDERFLOW[dtype]
