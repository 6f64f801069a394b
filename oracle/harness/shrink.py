"""Shrink a failing case: the smallest configuration that still fails the same way on the same target.

    shrunk = shrink(target, result.case, outcome=result.outcome,
                    diagnosis=None if result.diagnosis is None else result.diagnosis.name)
    shrunk.case, shrunk.steps    # e.g. 1d-b1-c1x1-...-vintegers-r7, ("batch 4 -> 1", "bias on -> off", ...)

A candidate is one move away from the current case: a spatial axis dropped (the other axes keep their
parameters), the batch, the channels and groups (groups dividing both channel counts), one axis's input or
kernel size, stride, dilation, padding crop or output_padding made smaller, the bias off, the mode
explicit (the same canonical padding, asked for as explicit pads), the values `integers` (small exact
integers: convt_oracle.cases.model.INTEGERS). Each is built with make_case, same dtype and seed; one whose
validity differs from the case's is skipped, and so is one that would make any parameter bigger (a
`same` case's padding grows when its stride shrinks: that waits until the mode is explicit). The
candidates are tried smallest first (fewest elements of x, w, bias and the result, then the smallest
parameters), and the first that gives the same outcome and the same diagnosis name becomes the current
case; passes repeat until none does or the budget (wall-clock seconds) is spent. Each accepted move shrinks
one parameter and grows none, so the search ends.

The diagnosis name is read from the Result of check_case / check_vjp (`result.diagnosis.name`, None where
there is none): both None is the same diagnosis.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from convt_oracle import compare as C
from convt_oracle.cases.model import INTEGERS, Case, make_case
from convt_oracle.harness.crosscheck import check_case, check_vjp, crosscheck_target, target_name
from convt_oracle.harness.report import Result

CHECKS = ("forward", "vjp")
_PER_AXIS = ("input_size", "kernel_size", "stride", "dilation", "padding", "output_padding")


@dataclass(frozen=True)
class Shrunk:
    """The smallest failing case found: `result` is its Result on the target; `steps` the moves taken, in
    order ("batch 4 -> 1"); `tries` how many cases ran (the original included); `complete` False when the
    budget ran out before a pass found no smaller failing case."""

    case: Case
    result: Result
    steps: tuple[str, ...]
    tries: int
    seconds: float
    complete: bool


def shrink(target, case: Case, *, check: str = "forward", outcome: str, diagnosis: str | None, budget: float = 10.0,
           tolerance=None, name: str | None = None) -> Shrunk:
    """The smallest case found that fails on `target` with `outcome` and the diagnosis named `diagnosis`.

    `target`: what check_case / check_vjp take (a callable with the golden's signature, an adapter, an
    IsolatedTarget), or a target name (loaded with crosscheck_target; a worker it starts is closed at the
    end). `case` must fail so (ValueError otherwise: nothing to shrink). `budget`: seconds of wall clock,
    checked before each try. `name`: the target's name in the Results (target_name(target) by default).
    """
    if check not in CHECKS:
        raise ValueError(f"check: got {check!r}; expected one of {', '.join(map(repr, CHECKS))}")
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < math.inf:
        raise ValueError(f"budget: got {budget!r}; expected a positive, finite number of seconds")
    if outcome not in C.OUTCOMES or outcome in C.NOT_DISCREPANCIES:
        discrepancies = [o for o in C.OUTCOMES if o not in C.NOT_DISCREPANCIES]
        raise ValueError(f"outcome: got {outcome!r}; expected a discrepancy: one of {', '.join(discrepancies)}")
    if diagnosis is not None and not isinstance(diagnosis, str):
        raise TypeError(f"diagnosis: got {type(diagnosis).__name__}; expected a diagnosis name (str) or None")
    if not isinstance(case, Case) or case.dtype is None:
        raise ValueError(f"case: got {case!r}; expected a Case with a dtype (case.with_dtype(...))")
    if check == "vjp" and not case.valid:
        raise ValueError(f"case: {case.id} is invalid ({case.reason}); a vjp is checked on valid cases only")
    start = time.perf_counter()
    function = crosscheck_target(target)
    name = name if name is not None else target_name(target)
    run = _runner(function, check, name, tolerance)
    try:
        return _search(run, case, outcome, diagnosis, start, budget)
    finally:
        if function is not target and callable(getattr(function, "close", None)):
            function.close()  # a worker started here for a NAME@PYTHON target


def _runner(function, check, name, tolerance):
    def run(case: Case) -> Result:
        with np.errstate(all="ignore"):  # inf and NaN inputs are cases too: the comparison judges
            if check == "vjp":
                return check_vjp(function, case, name, tolerance)
            return check_case(function, case, name, tolerance)

    return run


def diagnosis_name(result: Result) -> str | None:
    """What kind of wrong the result is (Result.kind): a shrink keeps it."""
    return result.kind


def _search(run, case, outcome, diagnosis, start, budget) -> Shrunk:
    def same(result):
        return result.outcome == outcome and diagnosis_name(result) == diagnosis

    result, tries = run(case), 1
    if not same(result):
        raise ValueError(
            f"case: {case.id} gives {result.outcome} (diagnosis {diagnosis_name(result)!r}) on {result.target}, "
            f"not {outcome} (diagnosis {diagnosis!r}): nothing to shrink"
        )
    steps, tried, complete = [], {case}, True
    while complete:
        for step, candidate in _candidates(case):
            if candidate in tried:
                continue
            if time.perf_counter() - start >= budget:
                complete = False
                break
            tried.add(candidate)
            got, tries = run(candidate), tries + 1
            if same(got):
                case, result = candidate, got
                steps.append(step)
                break
        else:
            break  # a whole pass without a smaller failing case: done
    return Shrunk(case, result, tuple(steps), tries, time.perf_counter() - start, complete)


# --- candidates -------------------------------------------------------------------------------------------


def _fields(case: Case) -> dict:
    """make_case's arguments for `case` (its padding and output_padding as they are: make_case derives them
    again in `same` and `valid` modes), an invalid case's defect with it (a candidate that loses it is refused)."""
    return dict(
        batch=case.batch, in_channels=case.in_channels, out_channels=case.out_channels, groups=case.groups,
        input_size=case.input_size, kernel_size=case.kernel_size, stride=case.stride, dilation=case.dilation,
        padding=case.padding, output_padding=case.output_padding, bias=case.bias, dtype=case.dtype,
        seed=case.seed, mode=case.mode, values=case.values, defect=case.defect, bias_elements=case.bias_elements,
        weight_in_channels=case.weight_in_channels, requested_output_size=case.requested_output_size,
    )


def _smaller(value: int, low: int) -> list[int]:
    """A few values below `value` down to `low`, the smallest first: low, half, one less."""
    return sorted({v for v in (low, value // 2, value - 1) if low <= v < value})


def _moves(case: Case):
    """(step, make_case changes) one move away from `case`."""
    rank = case.spatial_rank
    if rank > 1:
        for axis in range(rank):
            changes = {key: tuple(v for a, v in enumerate(getattr(case, key)) if a != axis) for key in _PER_AXIS}
            yield f"spatial axes {rank} -> {rank - 1} (axis {axis} dropped)", changes
    for batch in _smaller(case.batch, 1):
        yield f"batch {case.batch} -> {batch}", {"batch": batch}
    before = f"{case.in_channels}x{case.out_channels} groups {case.groups}"
    for cin, cout, groups in _channel_options(case):
        yield f"channels {before} -> {cin}x{cout} groups {groups}", {
            "in_channels": cin, "out_channels": cout, "groups": groups}
    lows = {"input_size": 1, "kernel_size": 1, "stride": 1, "dilation": 1, "output_padding": 0}
    explicit = case.mode in ("explicit", "output_shape")  # same / valid derive padding and output_padding
    for key, low in lows.items():
        if key == "output_padding" and not explicit:
            continue
        values = getattr(case, key)
        for axis, value in enumerate(values):
            for smaller in _smaller(value, low):
                new = values[:axis] + (smaller,) + values[axis + 1:]
                yield f"{key} {_axes(values)} -> {_axes(new)}", {key: new}
    if explicit:
        for axis, pair in enumerate(case.padding):
            for end in (0, 1):
                for smaller in _smaller(pair[end], 0):
                    new_pair = (smaller, pair[1]) if end == 0 else (pair[0], smaller)
                    new = case.padding[:axis] + (new_pair,) + case.padding[axis + 1:]
                    yield f"padding {_pairs(case.padding)} -> {_pairs(new)}", {"padding": new}
    if case.bias:
        yield "bias on -> off", {"bias": False}
    if case.mode != "explicit":
        yield f"mode {case.mode} -> explicit", {"mode": "explicit"}
    if case.values != INTEGERS:
        yield f"values {case.values} -> {INTEGERS}", {"values": INTEGERS}


def _axes(values) -> str:
    return "x".join(str(v) for v in values)


def _pairs(pairs) -> str:
    return "x".join(f"({b}, {e})" for b, e in pairs)


def _channel_options(case: Case):
    """(in_channels, out_channels, groups), each no bigger than the case's, groups dividing both counts."""
    options = set()
    for groups in {1, case.groups // 2, case.groups - 1, case.groups}:
        if groups < 1:
            continue
        ins = {c for c in (groups, case.in_channels // 2, case.in_channels - groups, case.in_channels)
               if groups <= c <= case.in_channels and c % groups == 0}
        outs = {c for c in (groups, case.out_channels // 2, case.out_channels - groups, case.out_channels)
                if groups <= c <= case.out_channels and c % groups == 0}
        options |= {(cin, cout, groups) for cin in ins for cout in outs}
    options.discard((case.in_channels, case.out_channels, case.groups))
    return sorted(options)


def _candidates(case: Case) -> list[tuple[str, Case]]:
    """The valid (as valid as `case`) candidates one move away that grow no parameter, smallest first."""
    found = {}
    for step, changes in _moves(case):
        try:
            candidate = make_case(**{**_fields(case), **changes})
        except ValueError:  # a combination make_case refuses outright
            continue
        if candidate.valid != case.valid or candidate == case or _grows(candidate, case):
            continue
        found.setdefault(candidate, step)
    return sorted(((step, candidate) for candidate, step in found.items()), key=lambda item: _size(item[1]))


def _parameters(case: Case) -> tuple:
    """Every parameter of `case` as a number, in a fixed order (one spatial rank): what `_grows` compares."""
    per_axis = [  # zip: an invalid case's kernel may have another rank than x
        n for axis in zip(case.input_size, case.kernel_size, case.stride, case.dilation, case.padding,
                          case.output_padding)
        for n in (*axis[:4], *axis[4], axis[5])
    ]
    return (case.batch, case.in_channels, case.out_channels, case.groups, *per_axis, int(case.bias),
            int(case.mode != "explicit"), int(case.values != INTEGERS))


def _grows(candidate: Case, case: Case) -> bool:
    """Whether `candidate` has a parameter bigger than `case`'s (a dropped axis leaves the others as they were)."""
    if candidate.spatial_rank != case.spatial_rank:
        return False
    return any(new > old for new, old in zip(_parameters(candidate), _parameters(case)))


def _size(case: Case) -> tuple:
    """How big a case is: the elements of x, w, bias and the result, then the sum of its parameters."""
    try:
        out = math.prod(case.output_shape)
    except ValueError:  # an invalid case: no result
        out = 0
    elements = math.prod(case.x_shape) + math.prod(case.w_shape) + out + (case.out_channels if case.bias else 0)
    return elements, sum(_parameters(case)), case.id


__all__ = ["Shrunk", "shrink", "diagnosis_name", "CHECKS"]
