"""What kind of wrong a discrepancy is: hypotheses, each an exact transformation of the golden's computation.

A hypothesis (convt_oracle.hypotheses, one small function each, registered by name with `@hypothesis`)
looks at a discrepancy's `Context` (the case, its arrays, the target's actual result, the golden's
expectation) and yields `Candidate`s: what a target making that mistake returns, as an expectation with
its derived bound (or, for non-finite mistakes, with NaN accepted exactly where the mistake makes one). The
hypothesis explains the result when one candidate fits EVERY element (convt_oracle.compare.compare passes
against it); one that fits only some elements explains nothing. `diagnose` returns the first hypothesis
that fits, in the registry's order (the most specific first), naming the others that fit too in `also`;
`unexplained` when none does: a diagnosis is never invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from convt_oracle import arithmetic
from convt_oracle import compare as C
from convt_oracle.tolerance import Tolerance

UNEXPLAINED = "unexplained"
SAME = object()  # Context.expect's default: the case's own bias (None is "no bias")
# The outcomes a diagnosis is made for: a result was returned and it is wrong.
DIAGNOSED_OUTCOMES = (C.VALUE_MISMATCH, C.NONFINITE_MISMATCH, C.SHAPE_MISMATCH)


@dataclass(frozen=True)
class Diagnosis:
    """The hypothesis that explains a discrepancy: its name, its parameters and one sentence for people;
    `also` names other hypotheses that fit as well (an ambiguous case)."""

    name: str
    params: dict = field(default_factory=dict)
    sentence: str = ""
    also: tuple[str, ...] = ()

    @property
    def explained(self) -> bool:
        return self.name != UNEXPLAINED

    def to_dict(self) -> dict:
        return {"name": self.name, "params": dict(self.params), "sentence": self.sentence, "also": list(self.also)}

    @classmethod
    def from_dict(cls, data: dict) -> Diagnosis:
        return cls(name=data["name"], params=dict(data.get("params", {})), sentence=data.get("sentence", ""),
                   also=tuple(data.get("also", ())))

    def __str__(self) -> str:
        text = self.name if not self.params else f"{self.name} {_params_text(self.params)}"
        return f"{text}: {self.sentence}" if self.sentence else text


def _params_text(params: dict) -> str:
    return "(" + ", ".join(f"{key}={value}" for key, value in params.items()) + ")"


@dataclass(frozen=True)
class Candidate:
    """What a target making one mistake returns: `expected` (one Expected for a forward result; for a vjp
    the (grad_x, grad_w, grad_bias) expectations, None where there is no bias), with the mistake's
    parameters and a sentence saying it."""

    params: dict
    expected: object
    sentence: str


@dataclass(frozen=True)
class Hypothesis:
    name: str
    function: Callable[[Context], Iterable[Candidate]]
    checks: tuple[str, ...]  # "forward", "vjp"
    outcomes: tuple[str, ...]  # the discrepancy outcomes it can explain


REGISTRY: dict[str, Hypothesis] = {}


def hypothesis(name: str, *, outcomes=(C.VALUE_MISMATCH, C.SHAPE_MISMATCH), checks=("forward",)):
    """Register `function(context) -> iterable of Candidate` under `name` (after those registered before:
    the registry's order is the order of preference)."""

    def register(function):
        if name in REGISTRY or name == UNEXPLAINED:
            raise ValueError(f"hypothesis: {name!r} is already registered")
        REGISTRY[name] = Hypothesis(name, function, tuple(checks), tuple(outcomes))
        return function

    return register


class Context:
    """A discrepancy as the hypotheses see it. `x`, `w`, `bias` as the target got them (the case's dtype),
    `actual` the target's result (for a vjp: its three gradients, `grad_out` the cotangent), `expected` the
    golden's expectation (for a vjp: the three), `tolerance` the policy the result was judged by."""

    def __init__(self, case, x, w, bias, actual, expected, *, tolerance=None, check="forward", grad_out=None,
                 outcome=C.VALUE_MISMATCH):
        self.case, self.check, self.outcome = case, check, outcome
        self.dtype = case.dtype
        self.params = case.params()
        self.x, self.w, self.bias, self.grad_out = x, w, bias, grad_out
        self.x64, self.w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
        self.bias64 = None if bias is None else np.asarray(bias, np.float64)
        self.actual, self.expected = actual, expected
        self.tolerance = tolerance or Tolerance()
        # An exact case (the exact tier: integer data): every candidate's expectation is exact where its sums are
        # held exactly (convt_oracle.compare.expectation), as the golden's is.
        self.exact = any(getattr(one, "exact", False) for one in (expected if isinstance(expected, tuple) else (expected,)))
        self._sums = None
        self._canvas = {}

    @property
    def rank(self) -> int:
        return self.x64.ndim - 2

    def sums(self) -> C.Sums:
        """The golden's sums of the case itself (value, magnitude S, terms n)."""
        if self._sums is None:
            self._sums = C.sums(self.x64, self.w64, self.bias64, self.params)
        return self._sums

    def expectation(self, found: C.Sums, tolerance=None) -> C.Expected:
        """convt_oracle.compare.expectation of sums `found` in the case's dtype, under `tolerance` (None: the
        result's), exact as the case is."""
        return C.expectation(found, self.dtype, tolerance or self.tolerance, exact=self.exact)

    def expect(self, *, x=None, w=None, bias=SAME, params=None, tolerance=None) -> C.Expected | None:
        """The golden's expectation for the case with some of its inputs or parameters replaced; None where
        the golden refuses the replaced call (the mistake cannot happen on this case)."""
        x = self.x64 if x is None else x
        w = self.w64 if w is None else w
        params = {**self.params, **(params or {})}
        try:
            return C.expect(x, w, self.bias64 if bias is SAME else bias, params, self.dtype, tolerance or self.tolerance,
                            exact=self.exact)
        except (ValueError, TypeError):
            return self._empty(x, w, params)

    def _empty(self, x, w, params) -> C.Expected | None:
        """Where the golden refuses a call because an axis of its output is empty (a crop past the whole
        result), the empty result a kernel returns for it (many do); else None."""
        sizes = [
            max(0, arithmetic.output_size(i, k, s, d, b, e, op))
            for i, k, s, d, (b, e), op in zip(x.shape[2:], w.shape[2:], params["stride"], params["dilation"],
                                                params["padding"], params["output_padding"])
        ]
        shape = (x.shape[0], w.shape[1] * params["groups"], *sizes)
        if 0 not in sizes:
            return None
        empty = np.zeros(shape)
        return C.Expected(value=empty, bound=empty, dtype=self.dtype, border=((0, 0),) * len(sizes))

    def expect_vjp(self, *, x=None, w=None, grad_out=None, bias=SAME, params=None, tolerance=None):
        """The golden's (grad_x, grad_w, grad_bias) expectations with some inputs, the cotangent, the
        parameters or the tolerance replaced; None where the golden refuses the call."""
        try:
            return C.expect_vjp(
                self.x64 if x is None else x, self.w64 if w is None else w,
                np.asarray(self.grad_out, np.float64) if grad_out is None else grad_out,
                self.bias64 if bias is SAME else bias, {**self.params, **(params or {})}, self.dtype,
                tolerance or self.tolerance, exact=self.exact,
            )
        except (ValueError, TypeError):
            return None

    def window(self, starts) -> C.Expected | None:
        """The expectation of the output window that begins at full-result position `starts[a]` on each
        spatial axis (the case's own output begins at its begin crop), as long as the case's output; positions
        before or past the full result hold the bias alone. None where the window is not within reach."""
        margin = max(0, *(-(s) for s in starts), *(s - b for s, (b, _) in zip(starts, self.case.padding)))
        canvas = self._canvas_for(margin)
        if canvas is None:
            return None
        size = self.case.output_shape[2:]
        index = tuple(slice(s + margin, s + margin + o) for s, o in zip(starts, size))
        if any(sl.start < 0 or sl.stop > n for sl, n in zip(index, canvas.value.shape[2:])):
            return None
        return sliced(canvas, (slice(None), slice(None), *index))

    def _canvas_for(self, margin: int) -> C.Expected | None:
        """The expectation over full-result positions [-margin, F + output_padding + margin) per axis,
        F the full result's size (crops 0): computed once per margin."""
        if margin not in self._canvas:
            extra = tuple(op + margin + max(0, e) for op, (_, e) in zip(self.case.output_padding, self.case.padding))
            params = {**self.params, "padding": ((0, 0),) * self.rank, "output_padding": tuple(max(1, n) for n in extra)}
            try:
                found = C.sums(self.x64, self.w64, self.bias64, params)
            except (ValueError, TypeError):
                self._canvas[margin] = None
                return None
            arrays = [found.value, found.magnitude, found.terms]
            for axis in range(2, 2 + self.rank):  # the rows before the full result hold the bias alone, like those past it
                arrays = [
                    np.concatenate([np.repeat(np.take(a, [-1], axis=axis), margin, axis=axis), a], axis=axis) for a in arrays
                ]
            value, magnitude, terms = arrays
            canvas = C.Sums(value, magnitude, np.broadcast_to(terms, value.shape), found.bias, ((0, 0),) * self.rank)
            self._canvas[margin] = self.expectation(canvas)
        return self._canvas[margin]

    def fits(self, candidate: Candidate) -> bool:
        """Whether the candidate explains every element of the actual result."""
        if self.check == "forward":
            return candidate.expected is not None and C.compare(self.actual, candidate.expected).ok
        if candidate.expected is None:
            return False
        for got, want in zip(self.actual, candidate.expected):
            if want is not None and not C.compare(got, want).ok:
                return False
        return True


def sliced(expected: C.Expected, index) -> C.Expected:
    """`expected` restricted to `index` (a tuple of slices over all axes)."""
    overflow = None
    if expected.accumulation_overflow is not None:
        up, down = (np.broadcast_to(a, expected.shape)[index] for a in expected.accumulation_overflow)
        overflow = (up, down) if up.any() or down.any() else None
    vanishing = None if expected.vanishing is None else np.broadcast_to(expected.vanishing, expected.shape)[index]
    return replace(
        expected, value=expected.value[index], bound=np.broadcast_to(expected.bound, expected.shape)[index],
        accumulation_overflow=overflow, vanishing=vanishing if vanishing is not None and vanishing.any() else None,
        border=((0, 0),) * max(0, expected.value.ndim - 2),
    )


def mapped(expected: C.Expected, function) -> C.Expected:
    """`expected` with `function` (an array -> array rearrangement: a transpose, a channel order) applied to
    each of its arrays."""
    overflow = None if expected.accumulation_overflow is None else tuple(
        function(np.broadcast_to(a, expected.shape)) for a in expected.accumulation_overflow
    )
    vanishing = None if expected.vanishing is None else function(np.broadcast_to(expected.vanishing, expected.shape))
    value = function(expected.value)
    return replace(
        expected, value=value, bound=function(np.broadcast_to(expected.bound, expected.shape)),
        accumulation_overflow=overflow, vanishing=vanishing, border=((0, 0),) * max(0, value.ndim - 2),
    )


def diagnose(case, x, w, bias, actual, expected, *, outcome: str, tolerance: Tolerance | None = None,
             check: str = "forward", grad_out=None, all_fits: bool = True) -> Diagnosis:
    """The hypothesis that explains a discrepancy (outcome among DIAGNOSED_OUTCOMES), or `unexplained`.

    `actual`/`expected`: the target's result and the golden's Expected (for a vjp: the three gradients and
    their expectations, `grad_out` the cotangent). `all_fits=False` stops at the first hypothesis that fits
    (no `also`)."""
    from convt_oracle import hypotheses  # noqa: F401 - registers the hypotheses

    context = Context(case, x, w, bias, actual, expected, tolerance=tolerance, check=check, grad_out=grad_out,
                      outcome=outcome)
    fitting = []
    for entry in REGISTRY.values():
        if check not in entry.checks or outcome not in entry.outcomes:
            continue
        with np.errstate(all="ignore"):
            found = next((c for c in entry.function(context) if c is not None and context.fits(c)), None)
        if found is not None:
            fitting.append((entry.name, found))
            if not all_fits:
                break
    if not fitting:
        return Diagnosis(UNEXPLAINED, {}, "no hypothesis explains every element of the result")
    name, found = fitting[0]
    return Diagnosis(name, found.params, found.sentence, also=tuple(other for other, _ in fitting[1:]))


__all__ = ["Diagnosis", "Candidate", "Context", "REGISTRY", "UNEXPLAINED", "DIAGNOSED_OUTCOMES", "diagnose", "hypothesis"]
