"""Tolerances derived from the computation, not guessed: the one place for this rule.

The model. Every output element of a transposed convolution is a sum y = p_1 + ... + p_n of n terms:
K products x*w (in_channels per group x the kernel taps that reach the element) and, with a bias, the bias
(n = K + 1). Let S = |p_1| + ... + |p_n|; the golden computes it as conv_transpose(|x|, |w|) + |bias|.

1. Accumulation. A target forms the products and their sum in an accumulation format with unit roundoff
   u_a, in any order (sequential, pairwise, blocked, with or without FMA). With the standard model
   fl(a op b) = (a op b)(1 + delta), |delta| <= u_a, plus an absolute eta_a (half the smallest subnormal)
   when a product underflows (a sum of floats never underflows inexactly), Higham (Accuracy and Stability
   of Numerical Algorithms, 2nd ed., 3.1, 3.5) gives for the accumulated value y_a

       |y_a - y| <= gamma_n(u_a) * S + 2 n eta_a,        gamma_n(u) = n*u / (1 - n*u)   (n*u < 1).

   (gamma_n(u) counts n roundings per term: one product and at most n - 1 additions. Where n*u >= 1 there
   is no bound: gamma is infinite.)
2. Output rounding. The accumulator is rounded once to the output dtype (the input dtype), unit roundoff
   u_o: |fl(y_a) - y_a| <= u_o |y_a| + eta_o <= u_o |y| + u_o |y_a - y| + eta_o. So a correct result
   y_t satisfies |y_t - y| <= (1 + u_o) e_a + u_o |y| + eta_o, where e_a is the bound of step 1. (When
   the accumulation format is the output format there is no second rounding; the extra u_o |y| is slack.)
3. The golden. It computes in float64 from exactly converted inputs, so its value y_g and its S_g carry
   their own error: |y_g - y| <= gamma_n(u_64) S, and S <= S_g / (1 - gamma_n(u_64)) <= S_g (1 + 2 gamma_n(u_64))
   (a sum of non-negative terms is computed with relative error at most gamma_n; 2 gamma covers the
   reciprocal while gamma_n(u_64) <= 1/2, that is for n < 2**51). Then |y| <= |y_g| + gamma_n(u_64) S.

Putting the three together, with g = (1 + u_o)(gamma_n(u_a) + gamma_n(u_64))(1 + 2 gamma_n(u_64)):

    |y_t - y_g| <= bound = g * S_g + u_o * |y_g| + 2 n ((1 + u_o) eta_a + eta_64) + eta_o.

(The u_o * gamma_n(u_64) * S cross term of |y| <= |y_g| + ... is inside g's (1 + u_o) gamma_n(u_64) S.)

Inputs are exactly representable in the case's dtype, so there is no input-rounding term: a target that
rounds its inputs to a narrower type, or accumulates in one, exceeds the bound on some cases.

Overflow. A result that certainly lies beyond the output dtype's range must be the infinity of its sign
(convt_oracle.compare). The analysis above assumes no intermediate overflow in the accumulation; every partial
sum lies between -N (1 + gamma_n(u_a)) and P (1 + gamma_n(u_a)), where P and N are the sums of the positive
and of the negated negative terms (P + N = S, P - N = y). Where P (1 + gamma) reaches the accumulation
format's overflow threshold a correct target may produce +inf, where N does -inf, where both do NaN
(bfloat16 results near 3e38 accumulated in float32, say). `accumulation_overflow` marks those elements and
convt_oracle.compare accepts those values there; a finite result must still lie within the bound (a finite
result means nothing overflowed, so the analysis holds).

u_a is the unit roundoff of the accumulation. Policy (`Tolerance.accumulation`): float16 and bfloat16
inputs are assumed to accumulate in float32, as every CPU kernel we checked does; float32 in float32,
float64 in float64. A target that accumulates float16 in float16 is flagged: pass
`Tolerance(accumulation={"float16": "float16"})` to accept it instead.

The bias. Above, the bias is one more term of the accumulation. Many targets instead round the
convolution to the output dtype and add the bias afterwards, in the output dtype (TF's and Keras's layers:
an op without a bias, then bias_add): y_t = fl_o(c_t + b) with c_t = fl_o(conv_a). Then
|c_t - c| <= e_1 = (1 + u_o) e_a + u_o |c| + eta_o (c = y - b, the convolution without its bias), and
|y_t - y| <= e_1 + u_o (|y| + e_1) + eta_o = (1 + u_o) e_1 + u_o |y| + eta_o: the bound above with e_a
multiplied by (1 + u_o) once more, plus (1 + u_o) u_o |c| + eta_o. `Tolerance.bias_after_rounding`
(default True) accepts that order too: both are correct ways to add a bias in the dtype; False insists on
a single rounding. |c| is taken as |y_g - b| + gamma_n(u_64) S (the golden's own error).

Reduced-precision modes asked for on purpose. A kernel may round its inputs to a narrower format before it
multiplies (TF32 tensor cores: 10 mantissa bits; bfloat16 ones: 7), `Tolerance(inputs="tf32")`. Each of x,
w and bias then carries a relative error of at most u_in, so each product one of at most
eps = 2 u_in + u_in**2, and the exact sum y' of the rounded terms satisfies |y' - y| <= eps S and
S' <= (1 + eps) S. Step 1 applies to y' and S': the accumulation's error becomes
(gamma_n(u_a) (1 + eps) + eps) S, which is what `bound` uses in place of gamma_n(u_a) S. Rounding to a
format with as many significand bits as the dtype, or more, changes nothing (eps = 0: float16 inputs are
exact in TF32). TF32 and bfloat16 have float32's exponent range, so for float32 inputs the rounding adds no
underflow; float64 inputs beyond float32's range are outside this model. A narrower accumulation is
`Tolerance(accumulation="float16")` (every dtype) or per dtype, `accumulation={"float32": "float16"}`.
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
# The largest finite value of each dtype.
LARGEST = {
    "float64": float(np.finfo(np.float64).max),
    "float32": float(np.finfo(np.float32).max),
    "float16": 65504.0,
    "bfloat16": float.fromhex("0x1.fep127"),
}
# A result rounds to infinity (round to nearest even) iff |result| >= max + ulp(max)/2 = 2**emax * (2 - u).
# Exact: float16 65520, bfloat16 0x1.ffp127, float32 0x1.ffffffp127. float64's lies past float64's range:
# the golden cannot hold such a value, so no float64 result is ever *certainly* beyond it.
OVERFLOW_THRESHOLD = {
    "float64": np.inf,
    "float32": float.fromhex("0x1.ffffffp127"),
    "float16": float.fromhex("0x1.ffep15"),
    "bfloat16": float.fromhex("0x1.ffp127"),
}

# Half the smallest subnormal: the absolute error of rounding a tiny result into the dtype. For float64 that
# half (2**-1075) is not a float64 (it is 0.0, which would make the bound of an element no term reaches
# exactly 0): the smallest subnormal itself is used.
UNDERFLOW = {"float64": 2.0**-1074, "float32": 2.0**-150, "float16": 2.0**-25, "bfloat16": 2.0**-134}

DEFAULT_ACCUMULATION = {"float16": "float32", "bfloat16": "float32", "float32": "float32", "float64": "float64"}

# The formats a kernel may round its inputs to before it multiplies (`Tolerance.inputs`), by unit roundoff:
# TF32 keeps 10 of float32's 23 mantissa bits (11 significant bits with the implicit one).
INPUT_ROUNDOFF = {"tf32": 2.0**-11, "bfloat16": 2.0**-8, "float16": 2.0**-11}


def gamma(k, u: float):
    """gamma_k(u) = k*u / (1 - k*u); infinite where k*u >= 1 (no bound)."""
    k = np.asarray(k, dtype=np.float64)
    ku = k * u
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ku < 1, ku / np.maximum(1 - ku, 0), np.inf)


@dataclass(frozen=True)
class Tolerance:
    """The precision a target is held to: which format each input dtype is assumed to accumulate in, and
    the format it may round its inputs to (module doc).

    `accumulation` overrides DEFAULT_ACCUMULATION per input dtype, e.g. {"float16": "float16"}, or names one
    format for every dtype ("float16"). `inputs`: None (the inputs are used as given: the strict default),
    or "tf32", "bfloat16" or "float16", a mode a user asked for on purpose (TF32 on a GPU), under which a
    kernel that is right for that mode passes.
    """

    accumulation: dict = field(default_factory=lambda: dict(DEFAULT_ACCUMULATION))
    bias_after_rounding: bool = True  # accept a bias added after the convolution is rounded (module doc)
    inputs: str | None = None

    def __post_init__(self):
        if isinstance(self.accumulation, str):
            if self.accumulation not in UNIT_ROUNDOFF:
                raise ValueError(
                    f"accumulation: got {self.accumulation!r}; expected one of {', '.join(UNIT_ROUNDOFF)} or a dict "
                    f"{{input dtype: accumulation dtype}}"
                )
            object.__setattr__(self, "accumulation", {dtype: self.accumulation for dtype in DEFAULT_ACCUMULATION})
        if not isinstance(self.accumulation, dict):
            raise TypeError(f"accumulation: got {type(self.accumulation).__name__}; expected a dict or a dtype name")
        for source, target in dict(self.accumulation).items():
            if source not in UNIT_ROUNDOFF or target not in UNIT_ROUNDOFF:
                raise ValueError(
                    f"accumulation: got {source!r} -> {target!r}; both must be among {', '.join(UNIT_ROUNDOFF)}"
                )
        if self.inputs is not None and self.inputs not in INPUT_ROUNDOFF:
            raise ValueError(
                f"inputs: got {self.inputs!r}; expected None (inputs used as given) or one of {', '.join(INPUT_ROUNDOFF)}"
            )

    def __hash__(self):  # a dict field: hash its items (a Tolerance keys the golden's shared cache)
        return hash((tuple(sorted(self.accumulation.items())), self.bias_after_rounding, self.inputs))

    def accumulation_dtype(self, dtype: str) -> str:
        return {**DEFAULT_ACCUMULATION, **self.accumulation}[dtype]

    def input_roundoff(self, dtype: str) -> float:
        """u_in: the unit roundoff of rounding `dtype` inputs to `inputs`; 0 where that loses nothing (no
        `inputs`, or a format with as many significand bits as the dtype)."""
        if self.inputs is None or INPUT_ROUNDOFF[self.inputs] <= UNIT_ROUNDOFF[dtype]:
            return 0.0
        return INPUT_ROUNDOFF[self.inputs]

    def describe(self) -> str:
        """The policy in words, e.g. "inputs rounded to tf32; float16 accumulates in float32"."""
        changed = {d: a for d, a in self.accumulation.items() if DEFAULT_ACCUMULATION[d] != a}
        parts = [f"inputs rounded to {self.inputs}"] if self.inputs else ["inputs as given"]
        parts += [f"{d} accumulates in {a}" for d, a in changed.items()]
        if not self.bias_after_rounding:
            parts.append("bias in the same rounding")
        return "; ".join(parts)

    def bound(self, dtype: str, expected: np.ndarray, magnitude: np.ndarray, terms: np.ndarray, bias=None) -> np.ndarray:
        """Per-element bound on |actual - expected| for a result computed in `dtype` (see the module doc).

        `expected`: the golden's float64 result; `magnitude`: S, the same computation on absolute values;
        `terms`: n = K + 1 with a bias (K without), the number of terms summed per element; `bias`: the
        bias broadcast to the result (None without one), for `bias_after_rounding`.
        """
        accumulation = self.accumulation_dtype(dtype)
        u_acc, u_out, u_64 = UNIT_ROUNDOFF[accumulation], UNIT_ROUNDOFF[dtype], UNIT_ROUNDOFF["float64"]
        u_in = self.input_roundoff(dtype)
        eps = 2 * u_in + u_in * u_in  # a product of two rounded inputs (module doc); 0 without `inputs`
        terms = np.asarray(terms, dtype=np.float64)
        golden = gamma(terms, u_64)
        with np.errstate(invalid="ignore", over="ignore"):
            factor = (1 + u_out) * (gamma(terms, u_acc) * (1 + eps) + eps + golden) * (1 + 2 * golden)
            underflow = 2 * terms * ((1 + u_out) * UNDERFLOW[accumulation] + UNDERFLOW["float64"]) + UNDERFLOW[dtype]
            bound = factor * magnitude + u_out * np.abs(expected) + underflow
            if bias is None or not self.bias_after_rounding:
                return bound
            convolution = np.abs(expected - bias) + golden * magnitude  # |y - b|, with the golden's error
            return (1 + u_out) * bound + (1 + u_out) * u_out * convolution + UNDERFLOW[dtype]

    def accumulation_overflow(self, dtype: str, expected: np.ndarray, magnitude: np.ndarray, terms: np.ndarray):
        """(up, down): True where a partial sum of the accumulation may reach +inf, resp. -inf.

        The positive terms sum to P = (S + y) / 2 and the negative ones to -N, N = (S - y) / 2; every
        partial sum, in any order, lies within [-N (1 + gamma_n(u_a)), P (1 + gamma_n(u_a))]. So +inf is
        possible only where P (1 + gamma) reaches the accumulation's overflow threshold, -inf only where N
        does, and NaN (inf - inf) only where both do. P and N come from the golden's y and S, enlarged by
        3 gamma_n(u_64) S for their own rounding. Only for finite S: where an input inf or NaN reaches an
        element, IEEE arithmetic fixes the result (inf of the product's sign, NaN for inf*0 or inf - inf)
        whatever the order, as the golden computes it.
        """
        accumulation = self.accumulation_dtype(dtype)
        golden = gamma(terms, UNIT_ROUNDOFF["float64"])
        u_in = self.input_roundoff(dtype)
        growth = (1 + gamma(terms, UNIT_ROUNDOFF[accumulation])) * (1 + 2 * u_in + u_in * u_in)
        threshold = OVERFLOW_THRESHOLD[accumulation]
        with np.errstate(invalid="ignore", over="ignore"):
            finite = np.isfinite(magnitude) & np.isfinite(expected)
            widened = magnitude * (1 + 3 * golden)
            up = finite & ((widened + expected) / 2 * growth >= threshold)
            down = finite & ((widened - expected) / 2 * growth >= threshold)
        return up, down
