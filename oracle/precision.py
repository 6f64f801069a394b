"""The precision a target behaves like, estimated from its errors over a suite (`Report.precision()`).

The bound of convt_oracle.tolerance is made of per-element quantities: S (the sum of the terms' magnitudes),
n (how many terms), |y| (the result). A model of a kernel's arithmetic, the format its inputs are rounded to
and the format it accumulates in, turns them into a bound; a kernel behaves like a model when its errors
stay within that model's bound on every element.

Per result (`error_stats`, computed where the golden's sums are at hand, kept in Result.errors):
- for each model of the dtype's ladder (`ladder`: the most precise first), the largest ratio of
  |actual - golden| to that model's bound;
- the largest |error| / S: -log2 of it is the number of significant bits the result keeps at the least;
- how many errors point toward zero (error and result of opposite signs) and how many away from it.

Over a suite (`profile`): the target behaves like the model of the ladder whose bound holds on every
element of every result and that its errors come closest to (for nested models, the most precise that
holds) ("inputs rounded to 10 mantissa bits (TF32, or float16), float32 accumulation"; for a kernel
that rounds one way, twice over: its errors reach one ulp where rounding to nearest errs by half). A bias
test on
the signs: a kernel that rounds to nearest errs toward zero as often as away from it (a fair coin), so a
share of errors toward zero far from 1/2 (|z| >= BIAS_Z standard deviations, and at least BIAS_SHARE of
them one way) says it rounds toward zero (truncates) or away from it, a mistake that stays inside every
per-element bound (an error under one ulp) and that only the distribution shows (the TOSA reference
model's bias test). Results whose discrepancy is a structural mistake (a shift, a missing bias: any
diagnosis but a precision one, or none that fits) are left out: their errors say nothing of rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convt_oracle import compare as C
from convt_oracle.tolerance import DEFAULT_ACCUMULATION, INPUT_ROUNDOFF, UNIT_ROUNDOFF, Tolerance

# The outcomes whose errors are profiled: a result within its bound, or one outside it (by how much tells the
# precision it has).
PROFILED_OUTCOMES = (C.PASS, C.VALUE_MISMATCH)
# Diagnoses (convt_oracle.hypotheses) that describe a kernel's precision rather than a structural mistake: their
# results stay in the profile.
PRECISION_DIAGNOSES = frozenset({"inputs_rounded", "accumulated_in_dtype", "products_rounded", "rounded_toward_zero"})
# The models, most precise first: (the format the inputs are rounded to or None, the accumulation format).
MODELS = (
    (None, "float64"),
    (None, "float32"),
    ("tf32", "float32"),
    ("bfloat16", "float32"),
    (None, "float16"),
    ("bfloat16", "float16"),
    (None, "bfloat16"),
)
# The bias test: so many standard deviations of a fair coin, and at least this share of the errors one way.
BIAS_Z = 6.0
BIAS_SHARE = 0.75
# Fewer errors than this (most results exact, say) decide nothing about the rounding.
BIAS_MIN_ERRORS = 100
# A biased profile's model: the first whose bound holds this many times over (one ulp against half of one).
DIRECTED_SLACK = 2.0
INPUT_WORDS = {None: "inputs as given", "tf32": "inputs rounded to 10 mantissa bits (TF32, or float16)",
               "bfloat16": "inputs rounded to bfloat16 (7 mantissa bits)", "float16": "inputs rounded to float16"}


def ladder(dtype: str) -> tuple[tuple[str | None, str], ...]:
    """The models that differ for `dtype` inputs, most precise first: an input rounding that loses nothing
    for the dtype (TF32 of float16 values) is left out."""
    return tuple(
        (inputs, accumulation) for inputs, accumulation in MODELS
        if inputs is None or INPUT_ROUNDOFF[inputs] > UNIT_ROUNDOFF[dtype]
    )


def model_tolerance(dtype: str, model: tuple[str | None, str]) -> Tolerance:
    inputs, accumulation = model
    return Tolerance(accumulation={dtype: accumulation}, inputs=inputs)


def describe_model(model: tuple[str | None, str] | None) -> str:
    if model is None:
        return "none of the models fits"
    inputs, accumulation = model
    return f"{INPUT_WORDS[inputs]}, {accumulation} accumulation"


@dataclass(frozen=True)
class ErrorStats:
    """One result's errors, summed up for the profile (module doc). `ratios`: per model of `ladder(dtype)`,
    in its order, max |error| / that model's bound; `max_relative`: max |error| / S (0: exact)."""

    elements: int
    ratios: tuple[float, ...]
    max_relative: float
    toward_zero: int
    away_from_zero: int

    def to_dict(self) -> dict:
        return dict(elements=self.elements, ratios=list(self.ratios), max_relative=self.max_relative,
                    toward_zero=self.toward_zero, away_from_zero=self.away_from_zero)

    @classmethod
    def from_dict(cls, data: dict) -> ErrorStats:
        return cls(elements=data["elements"], ratios=tuple(float(r) for r in data["ratios"]),
                   max_relative=float(data["max_relative"]), toward_zero=data["toward_zero"],
                   away_from_zero=data["away_from_zero"])


def error_stats(actuals, found: list[C.Sums], dtype: str) -> ErrorStats | None:
    """The ErrorStats of a result made of `actuals` (one array, or a vjp's gradients) against the golden's
    `found` sums; None where nothing can be judged (no element finite in both with a finite S)."""
    models = ladder(dtype)
    ratios = np.zeros(len(models))
    elements = toward = away = 0
    max_relative = 0.0
    for actual, sums in zip(actuals, found):
        got = np.asarray(actual, np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            usable = np.isfinite(got) & np.isfinite(sums.value) & np.isfinite(sums.magnitude)
        if not usable.any():
            continue
        value, magnitude, terms = sums.value[usable], sums.magnitude[usable], np.broadcast_to(sums.terms, usable.shape)[usable]
        bias = None if sums.bias is None else np.broadcast_to(sums.bias, usable.shape)[usable]
        error = got[usable] - value
        for index, model in enumerate(models):
            bound = model_tolerance(dtype, model).bound(dtype, value, magnitude, terms, bias=bias)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratios[index] = max(ratios[index], float(np.max(np.abs(error) / bound)))
        reached = magnitude > 0
        if reached.any():
            max_relative = max(max_relative, float(np.max(np.abs(error[reached]) / magnitude[reached])))
        signed = error * np.sign(value)
        toward += int(np.count_nonzero(signed < 0))
        away += int(np.count_nonzero(signed > 0))
        elements += int(usable.sum())
    if not elements:
        return None
    return ErrorStats(elements, tuple(float(r) for r in ratios), max_relative, toward, away)


@dataclass(frozen=True)
class Profile:
    """The precision one target behaves like in one dtype and check, over a suite (module doc)."""

    target: str
    dtype: str
    check: str
    results: int  # results profiled
    left_out: int  # discrepancies left out: structural mistakes (a diagnosis that is not about precision)
    elements: int
    model: tuple[str | None, str] | None  # the first model of the ladder that holds everywhere; None: none does
    worst_ratio: float  # max |error| / bound of that model (of the least precise one where none holds)
    max_relative: float  # max |error| / S
    toward_zero: int
    away_from_zero: int

    @property
    def bits(self) -> float:
        """-log2(max |error| / S): significant bits every result keeps at the least (inf: all exact)."""
        return math.inf if self.max_relative == 0 else -math.log2(self.max_relative)

    @property
    def errors(self) -> int:
        """Elements whose error is not zero and whose result is not zero (those the bias test counts)."""
        return self.toward_zero + self.away_from_zero

    @property
    def z(self) -> float:
        """(toward - away) / sqrt(errors): standard deviations from a fair coin (0 without errors)."""
        return (self.toward_zero - self.away_from_zero) / math.sqrt(self.errors) if self.errors else 0.0

    @property
    def rounding(self) -> str:
        """"nearest", "toward zero", "away from zero", or "undetermined" (fewer than BIAS_MIN_ERRORS errors)."""
        return _biased(self.toward_zero, self.away_from_zero)

    @property
    def biased(self) -> bool:
        return self.rounding in ("toward zero", "away from zero")

    def words(self) -> str:
        """e.g. "inputs rounded to 10 mantissa bits (TF32, or float16), float32 accumulation; rounds to nearest (50.2% of
        8,113 errors toward zero); at least 11.0 bits"."""
        model = describe_model(self.model)
        if self.model is None:
            model += f" (errors up to {self.worst_ratio:.3g} x the bound of {describe_model(ladder(self.dtype)[-1])})"
        if self.errors:
            share = f"{100 * self.toward_zero / self.errors:.1f}% of {self.errors:,} errors toward zero"
            how = {"nearest": "rounds to nearest", "undetermined": "rounding undetermined"}.get(self.rounding, f"rounds {self.rounding}")
            rounding = f"{how} ({share})"
        else:
            rounding = "every result exact"
        bits = "exact" if math.isinf(self.bits) else f"at least {self.bits:.1f} significant bits"
        return f"{model}; {rounding}; {bits}"

    def to_dict(self) -> dict:
        return dict(
            target=self.target, dtype=self.dtype, check=self.check, results=self.results, left_out=self.left_out,
            elements=self.elements, model=None if self.model is None else list(self.model),
            worst_ratio=self.worst_ratio, max_relative=self.max_relative, bits=self.bits,
            toward_zero=self.toward_zero, away_from_zero=self.away_from_zero, z=self.z, rounding=self.rounding,
            words=self.words(),
        )


def _biased(toward: int, away: int) -> str:
    """The bias test (module doc) on the counts of errors toward and away from zero."""
    errors = toward + away
    if errors < BIAS_MIN_ERRORS:
        return "undetermined"
    z, share = (toward - away) / math.sqrt(errors), toward / errors
    if z >= BIAS_Z and share >= BIAS_SHARE:
        return "toward zero"
    if z <= -BIAS_Z and share <= 1 - BIAS_SHARE:
        return "away from zero"
    return "nearest"


def profile(target: str, dtype: str, check: str, stats: list[ErrorStats], left_out: int = 0) -> Profile:
    """The Profile of one target's results in one dtype and check (their ErrorStats)."""
    models = ladder(dtype)
    worst = [max((s.ratios[i] for s in stats), default=0.0) for i in range(len(models))]
    toward, away = sum(s.toward_zero for s in stats), sum(s.away_from_zero for s in stats)
    # A kernel that rounds one way errs by up to one ulp where rounding to nearest errs by half: its models
    # are those whose bound holds twice over (module doc).
    limit = DIRECTED_SLACK if _biased(toward, away) != "nearest" else 1.0
    fits = [i for i, ratio in enumerate(worst) if ratio <= limit]
    # The tightest fit: where models are nested (float64 within float32 accumulation) the most precise one
    # that holds; between models that are not (TF32 inputs, float16 accumulation), the one whose bound the
    # errors come closest to: the data tell them apart where each model's errors exceed the other's bound.
    chosen = max(fits, key=lambda i: (worst[i], -i)) if fits else None
    return Profile(
        target=target, dtype=dtype, check=check, results=len(stats), left_out=left_out,
        elements=sum(s.elements for s in stats),
        model=None if chosen is None else models[chosen],
        worst_ratio=worst[chosen if chosen is not None else -1] if worst else 0.0,
        max_relative=max((s.max_relative for s in stats), default=0.0),
        toward_zero=toward, away_from_zero=away,
    )


def default_model(dtype: str) -> tuple[None, str]:
    """The strict default's model for `dtype`: inputs as given, the default accumulation."""
    return (None, DEFAULT_ACCUMULATION[dtype])
