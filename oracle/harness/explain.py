"""`Report.explain` and `convt-oracle explain RUN.json`: a run's discrepancies as a few groups, what their cases
share, and a minimal case for each.

1. Grouping. The discrepancies (every result that is not pass, unsupported or refused; known findings too,
   kept apart and marked) are grouped by (target, check, outcome, diagnosis name, known or not). Groups are
   ordered by size, the largest first.
2. Features. For each group, each case feature of FEATURES (one list, each a name and a function of the
   Case) is counted over the population: the target's compared results of the same check (unsupported and
   refused ones were never judged, so they are not passing ones). A feature separates the group when the
   group's results have only some of the values the population has: every result with another value is
   then one that does not fail this way. Separating features are ranked by the share of the results with
   the group's values that fail this way (1.0: the feature alone picks the group), then by how many results
   the other values leave out; the text shows the best few. A greedy combination of them, when it picks
   the group more sharply than the best one alone, is reported too.
3. Shrinking (`shrink=True`). For each group, its smallest case goes to the shrinker
   (convt_oracle.harness.shrink), which looks for a smaller case that fails the same way, within a budget of
   seconds per group and a total budget; convt_oracle.harness.reproducers writes a standalone script for
   the minimal case. The target is the report's own callable when the report was made in this process by
   crosscheck (`Report.live_target`), else a worker made from the target's label as `convt-oracle run`
   makes one (an adapter name, NAME@PYTHON or "module:function"), started once per target and closed
   after its last group. New discrepancies are shrunk before known ones. A group that is not shrunk says
   why in its `note`.

Rendering (text, JSON, Markdown) is separate from the grouping, as for the run report.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from convt_oracle.compare import NOT_COMPARED, NOT_DISCREPANCIES, OUTCOMES
from convt_oracle.diagnosis import Diagnosis

if TYPE_CHECKING:
    from convt_oracle.cases.model import Case
    from convt_oracle.harness.report import Report, Result

# Shrinking's budgets, in seconds (README, "Explaining a run"). Per group: enough for a few hundred tries of a
# small case on a worker. Total: a run of every adapter on the default suite takes minutes (jax alone 4 min
# here), so explain's shrinking of it, worker starts included, stays well within the run's own time.
DEFAULT_BUDGET = 10.0
DEFAULT_TOTAL_BUDGET = 120.0
MIN_SHRINK_SECONDS = 1.0  # a group left less than this by the total budget is not shrunk
SHOWN_FEATURES = 3  # features a group's text shows (the JSON has every separating one)
SHOWN_CASE_IDS = 3  # case ids a group's text shows
SHOWN_STEPS = 12  # shrink steps a group's text shows
COMBINED_AT_MOST = 4  # features in a greedy combination
COMBINED_LEAVES_OUT = 0.25  # a feature joins it only if it leaves out this share of the results left that pass
EXPLAIN_SCHEMA = 1  # the version of `to_dict`'s layout


# --- features -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """A case feature: its `name`, its value for a Case (`of`), and how a value reads in a sentence (`says`:
    None reads as "name = value")."""

    name: str
    of: Callable[[Case], object]
    says: Callable[[object], str] | None = None

    def describe(self, value) -> str:
        return f"{self.name} = {value}" if self.says is None else self.says(value)


def _flag(name: str, of: Callable[[Case], bool], no: str) -> Feature:
    """A yes/no feature: True reads as its name, False as `no`."""
    return Feature(name, lambda case: bool(of(case)), lambda value: name if value else no)


def _per_group(channels: int, groups: int) -> int:
    return channels // max(1, groups)


# Every feature explain counts, in the order ties are broken; add one here to have it counted.
FEATURES: tuple[Feature, ...] = (
    Feature("spatial rank", lambda c: c.spatial_rank, lambda value: f"spatial rank {value}"),
    _flag("batch > 1", lambda c: c.batch > 1, "batch = 1"),
    _flag("groups > 1", lambda c: c.groups > 1, "groups = 1"),
    _flag("in channels per group > 1", lambda c: _per_group(c.in_channels, c.groups) > 1, "1 in channel per group"),
    _flag("out channels per group > 1", lambda c: _per_group(c.out_channels, c.groups) > 1, "1 out channel per group"),
    _flag("stride > 1", lambda c: any(s > 1 for s in c.stride), "stride 1 on every axis"),
    _flag("dilation > 1", lambda c: any(d > 1 for d in c.dilation), "dilation 1 on every axis"),
    _flag("output_padding > 0", lambda c: any(op > 0 for op in c.output_padding), "output_padding = 0"),
    _flag("asymmetric crop", lambda c: any(b != e for b, e in c.padding), "symmetric crop"),
    _flag("crop > 0", lambda c: any(b or e for b, e in c.padding), "no crop"),
    _flag("kernel > 1 tap", lambda c: math.prod(c.kernel_size) > 1, "a 1-tap kernel"),
    _flag("kernel larger than stride", lambda c: any(k > s for k, s in zip(c.kernel_size, c.stride)),
          "kernel <= stride on every axis"),
    _flag("output_padding >= stride", lambda c: any(op >= s for op, s in zip(c.output_padding, c.stride)),
          "output_padding < stride on every axis"),
    _flag("bias", lambda c: c.bias, "no bias"),
    Feature("mode", lambda c: c.mode),
    Feature("dtype", lambda c: c.dtype),
    Feature("values", lambda c: c.values),
    _flag("reduction length >= 512", lambda c: c.reduction_length >= 512, "reduction length < 512"),
    _flag("an invalid configuration", lambda c: not c.valid, "a valid configuration"),
)


@dataclass(frozen=True)
class ValueCount:
    """One value of a feature: the group's results with it (`failing`) among the population's (`total`)."""

    value: object
    failing: int
    total: int

    @property
    def rate(self) -> float:
        return self.failing / self.total if self.total else 0.0


@dataclass(frozen=True)
class FeatureRecord:
    """How a feature separates a group: the values the group's results have (`values`), each value of the
    population with its counts (`counts`, in value order), and one sentence."""

    name: str
    values: tuple
    counts: tuple[ValueCount, ...]
    sentence: str

    @property
    def failing(self) -> int:
        """The group's results (all of them have one of `values`)."""
        return sum(count.failing for count in self.counts if count.value in self.values)

    @property
    def total(self) -> int:
        """The population's results with one of the group's values."""
        return sum(count.total for count in self.counts if count.value in self.values)

    @property
    def precision(self) -> float:
        """The share of the results with the group's values that fail this way."""
        return self.failing / self.total if self.total else 0.0

    @property
    def left_out(self) -> int:
        """The population's results with another value: none of them fails this way."""
        return sum(count.total for count in self.counts if count.value not in self.values)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "values": list(self.values), "sentence": self.sentence, "failing": self.failing,
            "total": self.total, "precision": self.precision,
            "counts": [{"value": c.value, "failing": c.failing, "total": c.total, "rate": c.rate} for c in self.counts],
        }


@dataclass(frozen=True)
class Combination:
    """Several separating features together (greedily chosen): the group's results among the population's
    results that have the group's values of all of them."""

    names: tuple[str, ...]
    failing: int
    total: int
    sentence: str

    def to_dict(self) -> dict:
        return {"names": list(self.names), "failing": self.failing, "total": self.total, "sentence": self.sentence}


# --- groups ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Discrepancies of one target that fail the same way: one check, one outcome, one diagnosis, all known
    findings or none. `known`: the finding ids of a group of known ones (empty: new discrepancies).
    `features`: the separating features, best first; `combined`: a sharper combination of them, or None.
    `minimal_case`, `snippet`, `shrink`: the shrinker's minimal case, its standalone script and its record
    (convt_oracle.harness.shrink.Shrunk), or None / "" / None when not shrunk; `note` then says why, where
    shrinking was asked for."""

    target: str
    check: str
    outcome: str
    diagnosis: Diagnosis | None
    count: int
    case_ids: tuple[str, ...]
    features: tuple[FeatureRecord, ...] = ()
    combined: Combination | None = None
    minimal_case: Case | None = None
    snippet: str = ""
    shrink: object | None = None
    known: tuple[str, ...] = ()
    note: str = ""
    results: tuple[Result, ...] = field(default=(), repr=False, compare=False)

    @property
    def diagnosis_name(self) -> str | None:
        """What kind of wrong the group is (Result.kind): the diagnosis's name, or the type of the exception
        its target raised."""
        if self.results:
            return self.results[0].kind
        return self.diagnosis.name if self.diagnosis is not None else None

    @property
    def smallest_case(self) -> Case:
        """The group's case with the fewest input and weight elements (then the first case id): the
        shrinker's start."""
        return min((r.case for r in self.results), key=lambda case: (_elements(case), case.id))

    def to_dict(self) -> dict:
        shrunk = self.shrink
        return {
            "target": self.target, "check": self.check, "outcome": self.outcome,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "count": self.count, "known": list(self.known), "case_ids": list(self.case_ids),
            "features": [record.to_dict() for record in self.features],
            "combined": None if self.combined is None else self.combined.to_dict(),
            "minimal_case": None if self.minimal_case is None else self.minimal_case.to_dict(),
            "shrink": None if shrunk is None else {
                "steps": [str(step) for step in getattr(shrunk, "steps", ())],
                "tries": getattr(shrunk, "tries", None), "seconds": getattr(shrunk, "seconds", None),
                "complete": getattr(shrunk, "complete", None),
                "outcome": getattr(getattr(shrunk, "result", None), "outcome", None),
            },
            "snippet": self.snippet, "note": self.note,
        }


def _elements(case: Case) -> int:
    return math.prod(case.x_shape) + math.prod(case.w_shape)


def explain(
    report: Report, *, target: str | None = None, shrink: bool = False, budget: float = DEFAULT_BUDGET,
    total_budget: float | None = DEFAULT_TOTAL_BUDGET, progress: Callable[[str], None] | None = None,
) -> list[Group]:
    """The report's discrepancies as Groups, largest first, each with its separating features; with
    `shrink=True` each with a minimal case and its snippet too (module docstring).

    `target`: one target label of the report (None: every target). `budget`: seconds of shrinking per group;
    `total_budget`: seconds for all of it, worker starts included (None: no limit). `progress`, if given, is
    called with a line before each group is shrunk. ValueError or TypeError naming a bad argument.
    """
    _check_arguments(report, target, shrink, budget, total_budget, progress)
    chosen = [r for r in report.results if r.outcome not in NOT_DISCREPANCIES]  # known ones too
    if target is not None:
        chosen = [r for r in chosen if r.target == target]
    members = defaultdict(list)
    for result in chosen:  # by what kind of wrong: the diagnosis, or the exception a target raised
        members[(result.target, result.check, result.outcome, result.kind, result.known is not None)].append(result)
    populations = _populations(report)
    groups = [_group(key[:3], found, populations[key[:2]]) for key, found in members.items()]
    targets = list(report.targets)
    groups.sort(key=lambda g: (
        -g.count, bool(g.known), targets.index(g.target) if g.target in targets else len(targets), g.target,
        g.check, OUTCOMES.index(g.outcome) if g.outcome in OUTCOMES else len(OUTCOMES), g.outcome,
        g.diagnosis_name or "",
    ))
    if shrink:
        groups = _shrink_groups(report, groups, budget, total_budget, progress)
    return groups


def _check_arguments(report, target, shrink, budget, total_budget, progress) -> None:
    if target is not None and target not in report.targets:
        raise ValueError(f"target: {target!r} is not a target of the report; its targets: "
                         f"{', '.join(report.targets) or 'none'}")
    if not isinstance(shrink, bool):
        raise TypeError(f"shrink: got {shrink!r}; expected True or False")
    for name, value, none_ok in (("budget", budget, False), ("total_budget", total_budget, True)):
        if value is None and none_ok:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name}: got {value!r}; expected a positive, finite number of seconds"
                             + (" (None: no limit)" if none_ok else ""))
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: got {type(progress).__name__}; expected a callable taking a line, or None")


@dataclass(frozen=True)
class _Population:
    """The compared results of one target and check (what its groups are set against), and each feature's
    value for each of them ({feature name: values, in the results' order})."""

    results: list
    values_of: dict


def _populations(report: Report) -> dict:
    """{(target, check): its _Population}."""
    found = defaultdict(list)
    for result in report.results:
        if result.outcome not in NOT_COMPARED:
            found[(result.target, result.check)].append(result)
    return {key: _Population(results, {feature.name: [feature.of(r.case) for r in results] for feature in FEATURES})
            for key, results in found.items()}


def _group(key, found: list, population: _Population) -> Group:
    target, check, outcome = key
    known = tuple(sorted({r.known.id for r in found if r.known is not None}))
    features, combined = _separating(found, population)
    return Group(
        target=target, check=check, outcome=outcome, diagnosis=found[0].diagnosis, count=len(found),
        case_ids=tuple(r.case_id for r in found), features=features, combined=combined, known=known,
        results=tuple(found),
    )


def _separating(found: list, population: _Population) -> tuple[tuple[FeatureRecord, ...], Combination | None]:
    """The features whose values in the group are only some of the population's, best first, and their
    greedy combination where it is sharper than the best alone."""
    members = {id(r) for r in found}
    values_of, population = population.values_of, population.results
    records, order = [], {feature.name: index for index, feature in enumerate(FEATURES)}
    for feature in FEATURES:
        values = values_of[feature.name]
        failing, total = defaultdict(int), defaultdict(int)
        for result, value in zip(population, values):
            total[value] += 1
            failing[value] += id(result) in members
        group_values = tuple(sorted({v for r, v in zip(population, values) if id(r) in members}, key=_order))
        if len(group_values) == len(total):
            continue  # every value of the population fails this way somewhere: the feature says nothing
        counts = tuple(ValueCount(value, failing[value], total[value]) for value in sorted(total, key=_order))
        records.append(FeatureRecord(feature.name, group_values, counts, ""))
    records.sort(key=lambda r: (-r.precision, -r.left_out, order[r.name]))
    by_name = {feature.name: feature for feature in FEATURES}
    records = tuple(replace(r, sentence=_sentence(by_name[r.name], r, len(found))) for r in records)
    return records, _combine(records, values_of, population, len(found), by_name)


def _order(value):
    """Values of one feature in a stable order (bools and ints by value, strings alphabetically)."""
    return (str(type(value)), value if value is not None else "")


def _values_text(feature: Feature, values, counts=()) -> str:
    """How `values` of `feature` read: "output_padding > 0", "mode = same or valid", or, where the values
    not named are fewer (`counts`: every value of the population), "values other than large"."""
    others = [c.value for c in counts if c.value not in values]
    if feature.says is None and len(values) > 1:
        if len(others) < len(values):
            return f"{feature.name} other than {' or '.join(str(value) for value in others)}"
        return f"{feature.name} = {' or '.join(str(value) for value in values)}"
    return " or ".join(feature.describe(value) for value in values)


def _all_have(count: int) -> str:
    return f"all {count} have" if count != 1 else "its one case has"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _sentence(feature: Feature, record: FeatureRecord, count: int) -> str:
    """E.g. "all 580 have output_padding > 0: 580 of 584 such cases fail this way (99.3 %), 0 of the 989 with
    output_padding = 0"."""
    others = tuple(c.value for c in record.counts if c.value not in record.values)
    return (f"{_all_have(count)} {_values_text(feature, record.values, record.counts)}: {record.failing} of "
            f"{record.total} such cases fail this way ({_percent(record.failing, record.total)}), 0 of the "
            f"{record.left_out} with {_values_text(feature, others, record.counts)}")


def _combine(records, values_of: dict, population: list, count: int, by_name: dict) -> Combination | None:
    """Add separating features one at a time, each time the one that leaves the fewest results with the
    group's values of all chosen ones, while it leaves out at least COMBINED_LEAVES_OUT of the results left
    that do not fail this way; a Combination of two or more, else None."""
    keep = [True] * len(population)
    chosen, total = [], len(population)
    while len(chosen) < COMBINED_AT_MOST and total > count:
        best = None
        for record in records:
            if record.name in chosen:
                continue
            left = sum(k and v in record.values for k, v in zip(keep, values_of[record.name]))
            if best is None or left < best[0]:
                best = (left, record)
        if best is None or (chosen and total - best[0] < COMBINED_LEAVES_OUT * (total - count)):
            break
        total, record = best
        chosen.append(record.name)
        keep = [k and v in record.values for k, v in zip(keep, values_of[record.name])]
    if len(chosen) < 2:
        return None
    described = " and ".join(_values_text(by_name[r.name], r.values, r.counts)
                             for name in chosen for r in records if r.name == name)
    sentence = (f"{_all_have(count)} {described}: {count} of {total} such cases fail this way "
                f"({_percent(count, total)}), 0 of the other {len(population) - total}")
    return Combination(tuple(chosen), count, total, sentence)


# --- shrinking ------------------------------------------------------------------------------------------


class _NoTarget(Exception):
    """The target cannot be asked again here; the message says why (it becomes the groups' note)."""


def _shrink_groups(report: Report, groups: list[Group], budget: float, total_budget: float | None,
                   progress) -> list[Group]:
    """`groups` with the shrinker's minimal case, snippet and record, or a note saying why not."""
    from convt_oracle.harness.reproducers import snippet
    from convt_oracle.harness.shrink import shrink

    start = time.monotonic()
    order = sorted(range(len(groups)), key=lambda i: (bool(groups[i].known), i))  # new discrepancies first
    pending = defaultdict(int)
    for group in groups:
        pending[group.target] += 1
    targets = _Targets(report, timeout=budget)
    done = list(groups)
    try:
        for step, index in enumerate(order, 1):
            group = groups[index]
            left = None if total_budget is None else total_budget - (time.monotonic() - start)
            try:
                if left is not None and left < MIN_SHRINK_SECONDS:
                    raise _NoTarget(f"not shrunk: the total budget of {total_budget:g} s was spent")
                if progress is not None:
                    progress(f"shrinking {step}/{len(groups)}: {group.target} {group.check} {group.outcome} "
                             f"({_plural(group.count, 'result')})")
                target, named, tolerance = targets.get(group.target)
                seconds = budget if left is None else min(budget, total_budget - (time.monotonic() - start))
                if seconds < MIN_SHRINK_SECONDS:
                    raise _NoTarget(f"not shrunk: the total budget of {total_budget:g} s was spent")
                shrunk = shrink(target, group.smallest_case, check=group.check, outcome=group.outcome,
                                diagnosis=group.diagnosis_name, budget=seconds, tolerance=tolerance)
                text = snippet(target, shrunk.case, check=group.check, tolerance=tolerance,
                               name=named if isinstance(named, str) else None)
                got = getattr(getattr(shrunk, "result", None), "outcome", group.outcome)
                note = "" if got == group.outcome else (
                    f"the case did not fail this way here: {got} (the report says {group.outcome})")
                done[index] = replace(group, minimal_case=shrunk.case, snippet=text, shrink=shrunk, note=note)
            except _NoTarget as why:
                done[index] = replace(group, note=str(why))
            except Exception as error:  # noqa: BLE001 - one group's failure is said there; the others go on
                done[index] = replace(group, note=f"not shrunk: the shrinker raised {type(error).__name__}: {error}")
            pending[group.target] -= 1
            if not pending[group.target]:
                targets.close(group.target)
    finally:
        targets.close_all()
    return done


class _Targets:
    """The targets to shrink against, by label: the report's own callable (crosscheck in this process), else
    one worker per label, started on first use (convt_oracle.harness.targets); a failure is kept and said
    for every group of that target."""

    def __init__(self, report: Report, timeout: float):
        self._live = getattr(report, "live_target", None)
        self._timeout = timeout
        self._workers: dict = {}
        self._failed: dict[str, str] = {}
        self._logs = None  # a folder for the workers' own output (framework log lines, warnings), made on first use

    def _log(self, spec) -> str:
        """The file a worker's own output goes to, as `convt-oracle run` keeps it off the terminal."""
        if self._logs is None:
            self._logs = tempfile.mkdtemp(prefix="convt-oracle-explain-workers-")
            print(f"the workers' own output (framework log lines, warnings): {self._logs}", file=sys.stderr)
        return os.path.join(self._logs, f"{spec.log_name}.log")

    def get(self, label: str):
        """(what the shrinker calls, what the snippet names, the tolerance); _NoTarget when it cannot be had."""
        live = self._live
        if live is not None and live.label == label and live.function is not None:
            return live.function, live.function, live.tolerance
        tolerance = live.tolerance if live is not None and live.label == label else None
        if label in self._failed:
            raise _NoTarget(self._failed[label])
        if label not in self._workers:
            from convt_oracle.harness.targets import TargetSpec

            try:
                spec = TargetSpec.parse(label, where="target")
                worker = spec.isolated(timeout=max(self._timeout, MIN_SHRINK_SECONDS), output=self._log(spec))
            except Exception as error:  # noqa: BLE001 - said in the notes of its groups
                self._failed[label] = (f"not shrunk: no worker for {label!r} here "
                                       f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
                raise _NoTarget(self._failed[label]) from None
            try:
                problem = worker.check_environment() if hasattr(worker, "check_environment") else None
            except Exception as error:  # noqa: BLE001 - the check itself failing is the environment's answer
                problem = f"its check raised {type(error).__name__}: {error}"
            if problem is not None:
                worker.close()
                self._failed[label] = f"not shrunk: {label} failed its check of the environment: {problem}"
                raise _NoTarget(self._failed[label])
            self._workers[label] = worker
        return self._workers[label], label, tolerance

    def close(self, label: str) -> None:
        worker = self._workers.pop(label, None)
        if worker is not None:
            worker.close()

    def close_all(self) -> None:
        for label in list(self._workers):
            self.close(label)


# --- rendering ------------------------------------------------------------------------------------------


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _diagnosis_text(diagnosis: Diagnosis | None) -> str:
    if diagnosis is None:
        return "-"
    params = ", ".join(f"{key}={value}" for key, value in diagnosis.params.items())
    text = diagnosis.name + (f" ({params})" if params else "")
    return text + (f": {diagnosis.sentence}" if diagnosis.sentence else "")


def _heading(group: Group) -> str:
    known = f"known: {', '.join(group.known)}" if group.known else "new"
    raised = f" {group.diagnosis_name}" if group.diagnosis is None and group.diagnosis_name else ""
    return f"{group.target}  {group.check}  {group.outcome}{raised}  {_plural(group.count, 'result')} ({known})"


def render_text(groups: list[Group], report: Report, source: str = "the report") -> str:
    """Each group: target, check, outcome, count, diagnosis, the best features, the minimal case with its
    shrink steps, and its snippet (or why it was not shrunk)."""
    total = sum(group.count for group in groups)
    known = sum(group.count for group in groups if group.known)
    lines = [f"convt-oracle explain: {source}: suite {report.suite!r}, dtypes {', '.join(report.dtypes)}, "
             f"seed {report.seed}; {total} discrepancies" + (f" ({known} known)" if known else "")
             + f" in {_plural(len(groups), 'group')}"]
    if not groups:
        lines.append("no discrepancy to explain")
    for number, group in enumerate(groups, 1):
        lines.append(f"\n{number}. {_heading(group)}")
        lines.append(f"   diagnosis: {_diagnosis_text(group.diagnosis)}")
        more = group.count - SHOWN_CASE_IDS
        lines.append(f"   cases: {', '.join(group.case_ids[:SHOWN_CASE_IDS])}"
                     + (f" and {more} more" if more > 0 else ""))
        if group.features:
            lines.append("   what sets them apart from the target's other compared cases:")
            lines += [f"     - {record.sentence}" for record in group.features[:SHOWN_FEATURES]]
            if group.combined is not None:
                lines.append(f"     - together: {group.combined.sentence}")
        else:
            lines.append("   no feature sets them apart: they have every value of every feature that the target's "
                         "compared cases have")
        if group.minimal_case is not None:
            shrunk = group.shrink
            steps = [str(step) for step in getattr(shrunk, "steps", ())]
            lines.append(f"   minimal case: {group.minimal_case.id} ({_plural(len(steps), 'step')}, "
                         f"{getattr(shrunk, 'tries', '?')} tries, {getattr(shrunk, 'seconds', None) or 0.0:.1f} s"
                         + ("" if getattr(shrunk, "complete", True) else "; the budget ran out before it was minimal")
                         + ")")
            lines += [f"     {index}. {step}" for index, step in enumerate(steps[:SHOWN_STEPS], 1)]
            if len(steps) > SHOWN_STEPS:
                lines.append(f"     ... and {len(steps) - SHOWN_STEPS} more steps")
        if group.note:
            lines.append(f"   {group.note}")
        if group.snippet:
            lines.append("   reproducer:")
            lines += [f"     {line}" for line in group.snippet.rstrip().splitlines()]
    return "\n".join(lines)


def to_dict(groups: list[Group], report: Report, source: str = "the report") -> dict:
    return {
        "schema": EXPLAIN_SCHEMA, "source": source, "suite": report.suite, "dtypes": list(report.dtypes),
        "seed": report.seed, "targets": list(report.targets), "groups": [group.to_dict() for group in groups],
    }


def to_json(groups: list[Group], report: Report, source: str = "the report") -> str:
    from convt_oracle.harness.report import _strict

    return json.dumps(_strict(to_dict(groups, report, source)), indent=1, allow_nan=False)


def render_markdown(groups: list[Group], report: Report, source: str = "the report") -> str:
    """The groups as Markdown: a heading per group, its features as a list, its snippet as a code block."""
    total = sum(group.count for group in groups)
    lines = [f"# convt-oracle explain: {total} discrepancies in {_plural(len(groups), 'group')}",
             f"\n`{source}`: suite `{report.suite}`, dtypes {', '.join(report.dtypes)}, seed {report.seed}"]
    for number, group in enumerate(groups, 1):
        lines.append(f"\n## {number}. {_heading(group)}\n")
        lines.append(f"- diagnosis: {_diagnosis_text(group.diagnosis)}")
        more = group.count - SHOWN_CASE_IDS
        lines.append(f"- cases: {', '.join(f'`{c}`' for c in group.case_ids[:SHOWN_CASE_IDS])}"
                     + (f" and {more} more" if more > 0 else ""))
        lines += [f"- {record.sentence}" for record in group.features[:SHOWN_FEATURES]]
        if group.combined is not None:
            lines.append(f"- together: {group.combined.sentence}")
        if group.minimal_case is not None:
            lines.append(f"- minimal case: `{group.minimal_case.id}` "
                         f"({_plural(len(getattr(group.shrink, 'steps', ())), 'shrink step')})")
        if group.note:
            lines.append(f"- {group.note}")
        if group.snippet:
            lines += ["", "```python", group.snippet.rstrip(), "```"]
    return "\n".join(lines) + "\n"


__all__ = [
    "FEATURES", "Feature", "FeatureRecord", "ValueCount", "Combination", "Group", "explain", "render_text",
    "render_markdown", "to_dict", "to_json", "DEFAULT_BUDGET", "DEFAULT_TOTAL_BUDGET",
]
