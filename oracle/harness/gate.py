"""`convt-oracle gate BASELINE CANDIDATE`: what changed between two run reports, and whether it is a regression.

Each side is a run report (`convt-oracle run --json`), or `RUN.json::TARGET` for one target of a run with
several. Two runs of one target each are compared whatever their targets' names. Otherwise, without
`::TARGET` on either side, the targets of the two runs are paired by name (every target of either run; one that
only one run has gives `new_case` or `missing_case` for all its results); with it, each side is one target:
the one named, or the run's only target, or the target of the other side's name.

Every (target, case, dtype, check) gets one category, the first of these that applies (PRECEDENCE):

    new_case           only the candidate has the result
    missing_case       only the baseline has it
    known              the candidate's result is a discrepancy that matched a known finding (Result.known)
    new_failure        the candidate's is a discrepancy, the baseline's was not (pass, unsupported or refused)
    newly_refused      the candidate refused the case (outcome `refused`), the baseline did not
    newly_unsupported  the candidate cannot be asked the case (`unsupported`), the baseline could
    fixed              the baseline's was a discrepancy, the candidate passes
    no_longer_refused  the baseline refused it, the candidate passes
    newly_supported    the baseline could not be asked it, the candidate passes
    error_grew         both compared, and the candidate's max error / bound grew past the noise (error_moved)
    error_shrank       both compared, and it shrank past the noise
    still_failing      both are discrepancies (the error within the noise)
    unchanged          everything else: pass and pass within the noise, unsupported twice, refused twice

Every (target, dtype, check) whose precision profile (Report.precision, convt_oracle.precision) changed gets
one more:

    precision_lost     its rounding became biased, or it keeps PRECISION_BITS fewer significant bits
    precision_changed  another model, a rounding no longer biased, or more bits

Categories in `fail_on` (DEFAULT_FAIL_ON unless given) are regressions: `convt-oracle gate` exits 1 with any,
0 without; 2 for a usage error; 3 for a report that cannot be read or gated (another suite, seed or schema,
an interrupted run, a target that did not run). Differences in what decides the kernels between the two
runs' machines (convt_oracle.harness.kernels) are warnings.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import Counter
from dataclasses import dataclass, field

from convt_oracle.compare import NOT_DISCREPANCIES, REFUSED, UNSUPPORTED
from convt_oracle.harness.report import Report, ReportFormatError, Result, _strict
from convt_oracle.precision import Profile

UNCHANGED = "unchanged"
NEW_FAILURE = "new_failure"
FIXED = "fixed"
STILL_FAILING = "still_failing"
ERROR_GREW = "error_grew"
ERROR_SHRANK = "error_shrank"
NEWLY_UNSUPPORTED = "newly_unsupported"
NEWLY_SUPPORTED = "newly_supported"
NEWLY_REFUSED = "newly_refused"
NO_LONGER_REFUSED = "no_longer_refused"
NEW_CASE = "new_case"
MISSING_CASE = "missing_case"
KNOWN = "known"
# A target's precision profile (convt_oracle.precision) per dtype and check, compared between the two runs: it
# lost precision (its rounding became biased, or it keeps at least PRECISION_BITS fewer bits), or it changed
# otherwise (another model, a rounding that is no longer biased, more bits).
PRECISION_LOST = "precision_lost"
PRECISION_CHANGED = "precision_changed"
PRECISION_BITS = 1.0  # one bit: the error doubled (NOISE_FACTOR)
CATEGORIES = (
    UNCHANGED, NEW_FAILURE, FIXED, STILL_FAILING, ERROR_GREW, ERROR_SHRANK, NEWLY_UNSUPPORTED, NEWLY_SUPPORTED,
    NEWLY_REFUSED, NO_LONGER_REFUSED, NEW_CASE, MISSING_CASE, KNOWN, PRECISION_LOST, PRECISION_CHANGED,
)
# The order in which `classify` tries them: the first that applies is a result's category.
PRECEDENCE = (
    NEW_CASE, MISSING_CASE, KNOWN, NEW_FAILURE, NEWLY_REFUSED, NEWLY_UNSUPPORTED, FIXED, NO_LONGER_REFUSED,
    NEWLY_SUPPORTED, ERROR_GREW, ERROR_SHRANK, STILL_FAILING, UNCHANGED,
)
DEFAULT_FAIL_ON = (NEW_FAILURE, ERROR_GREW, NEWLY_UNSUPPORTED, NEWLY_REFUSED, PRECISION_LOST)

# The noise of max error / bound between two runs of the same versions: a move counts only where the larger
# ratio is above NOISE_FLOOR and it is more than NOISE_FACTOR times the smaller one (taken as at least
# NOISE_FLOOR). Measured with benchmarks/gate_noise.py (README, "Gate: comparing two runs") on `run --suite
# default --targets torch,jax,tensorflow,onnxruntime --dtypes float32,float16` (8,584 ratios compared in both
# runs): the same command twice moved none (bit-identical); OMP_NUM_THREADS=1 against two threads moved 6 of
# torch's, by at most 1.4x (0.156 -> 0.218); TensorFlow's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS=1) moved 102,
# up to 4.8x, of which these thresholds flag 10. Below the floor (5 % of the bound) one rounding more or less
# is a large factor and says nothing about a kernel's precision.
NOISE_FACTOR = 2.0
NOISE_FLOOR = 0.05

# The schema of the gate's own JSON (`GateResult.to_dict`).
GATE_SCHEMA = 1


class GateError(Exception):
    """The gate cannot compare what it was given; `status` is the exit status (2 usage, 3 a report)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _usage(message: str) -> GateError:
    return GateError(message, 2)


def _unusable(message: str) -> GateError:
    return GateError(message, 3)


def failing(result: Result) -> bool:
    """A discrepancy, whether or not it is a known finding."""
    return result.outcome not in NOT_DISCREPANCIES


def error_moved(old: float | None, new: float | None) -> int:
    """+1 where max error / bound grew from `old` to `new` past the noise, -1 where it shrank, 0 otherwise
    (and where either was not measured: nothing compared, or no finite element)."""
    if old is None or new is None or math.isnan(old) or math.isnan(new) or old == new:
        return 0
    low, high = sorted((old, new))
    if high <= NOISE_FLOOR or high / max(low, NOISE_FLOOR) <= NOISE_FACTOR:
        return 0
    return 1 if new > old else -1


def classify(old: Result | None, new: Result | None) -> str:
    """The category of one result of the baseline (`old`) and of the candidate (`new`), by PRECEDENCE."""
    if old is None:
        return NEW_CASE
    if new is None:
        return MISSING_CASE
    if failing(new) and new.known is not None:
        return KNOWN
    if failing(new) and not failing(old):
        return NEW_FAILURE
    if new.outcome == REFUSED and old.outcome != REFUSED:
        return NEWLY_REFUSED
    if new.outcome == UNSUPPORTED and old.outcome != UNSUPPORTED:
        return NEWLY_UNSUPPORTED
    if failing(old) and not failing(new):
        return FIXED  # the candidate passes: its refused and unsupported are taken above
    if old.outcome == REFUSED and new.outcome != REFUSED:
        return NO_LONGER_REFUSED
    if old.outcome == UNSUPPORTED and new.outcome != UNSUPPORTED:
        return NEWLY_SUPPORTED
    moved = error_moved(old.max_bound_ratio, new.max_bound_ratio)
    if moved:
        return ERROR_GREW if moved > 0 else ERROR_SHRANK
    return STILL_FAILING if failing(old) else UNCHANGED


def parse_categories(text: str, option: str = "--fail-on") -> tuple[str, ...]:
    """Comma-separated category names, checked; GateError (usage) naming the option otherwise."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise _usage(f"{option}: got {text!r}; give categories, comma-separated: {', '.join(CATEGORIES)}")
    unknown = [name for name in names if name not in CATEGORIES]
    if unknown:
        raise _usage(f"{option}: unknown {', '.join(map(repr, unknown))}; the categories: {', '.join(CATEGORIES)}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Side:
    """One side of the gate: a run report read from `path`, and the target `RUN.json::TARGET` named, if any."""

    role: str  # "baseline" or "candidate"
    path: str
    report: Report
    target: str | None = None

    @classmethod
    def load(cls, role: str, text: str) -> Side:
        path, target = split_target(text)
        try:
            report = Report.load(path)
        except ReportFormatError as error:
            raise _unusable(f"{role} {error}") from None
        if target is not None and target not in report.targets:
            raise _usage(f"{role} {text!r}: no target {target!r} in {path}; its targets: {', '.join(report.targets)}")
        if not report.complete:
            raise _unusable(f"{role} {path}: an interrupted run (complete: false); gate complete runs only")
        chosen = report.targets if target is None else (target,)
        not_run = {name: why for name, why in report.targets_not_run.items() if name in chosen}
        if not_run:
            name, why = next(iter(not_run.items()))
            raise _unusable(f"{role} {path}: target {name} did not run ({why})")
        return cls(role, path, report, target)

    def versions(self, target: str) -> str:
        """The framework version the run recorded for `target`."""
        return str(self.report.environment.get("frameworks", {}).get(target, "version unknown"))


def split_target(text: str) -> tuple[str, str | None]:
    """(path, target) of 'RUN.json::TARGET'; (path, None) of a plain path (an existing file is never split)."""
    if os.path.exists(text) or "::" not in text:
        return text, None
    path, _, target = text.rpartition("::")
    if not target:
        raise _usage(f"{text!r}: nothing after '::'; give RUN.json::TARGET")
    return path, target


def check_compatible(baseline: Side, candidate: Side) -> None:
    """GateError (3) naming the candidate's file and the mismatch where the two runs cannot be compared."""
    for name in ("suite", "seed"):
        old, new = getattr(baseline.report, name), getattr(candidate.report, name)
        if old != new:
            raise _unusable(
                f"candidate {candidate.path}: {name} {new!r}, but the baseline {baseline.path} has {name} {old!r}; "
                f"gate two runs of the same suite and seed"
            )


def pair_targets(baseline: Side, candidate: Side) -> list[tuple[str | None, str | None]]:
    """(baseline target, candidate target) pairs to compare; None where one run lacks the target."""
    one_each = len(baseline.report.targets) == len(candidate.report.targets) == 1
    if baseline.target is None and candidate.target is None and not one_each:
        names = list(dict.fromkeys(baseline.report.targets + candidate.report.targets))
        return [(name if name in baseline.report.targets else None, name if name in candidate.report.targets else None)
                for name in names]

    def resolve(side: Side, other: Side) -> str:
        if side.target is not None:
            return side.target
        if len(side.report.targets) == 1:
            return side.report.targets[0]
        if other.target in side.report.targets:
            return other.target
        raise _usage(
            f"{side.role} {side.path}: a run of several targets ({', '.join(side.report.targets)}); "
            f"name one: {side.path}::TARGET"
        )

    return [(resolve(baseline, candidate), resolve(candidate, baseline))]


@dataclass(frozen=True)
class Change:
    """One result's category, with the two results (None on the side that lacks it)."""

    category: str
    baseline_target: str | None
    candidate_target: str | None
    baseline: Result | None
    candidate: Result | None

    @property
    def result(self) -> Result:
        """The candidate's result, or the baseline's where the candidate lacks it."""
        return self.candidate if self.candidate is not None else self.baseline

    @property
    def target(self) -> str:
        return self.candidate_target if self.candidate_target is not None else self.baseline_target

    def to_dict(self, fail_on) -> dict:
        case = self.result.case
        old, new = self.baseline, self.candidate
        return {
            "target": self.target,
            "baseline_target": self.baseline_target,
            "case_id": case.id,
            "dtype": case.dtype,
            "check": self.result.check,
            "category": self.category,
            "regression": self.category in fail_on,
            "baseline_outcome": None if old is None else old.outcome,
            "candidate_outcome": None if new is None else new.outcome,
            "baseline_bound_ratio": None if old is None else old.max_bound_ratio,
            "candidate_bound_ratio": None if new is None else new.max_bound_ratio,
            "baseline_max_abs_error": None if old is None else old.max_abs_error,
            "candidate_max_abs_error": None if new is None else new.max_abs_error,
            "known": None if new is None or new.known is None else new.known._asdict(),
        }


@dataclass(frozen=True)
class PrecisionChange:
    """A target's precision profile in one dtype and check, in both runs (None on a side without it)."""

    category: str  # PRECISION_LOST or PRECISION_CHANGED
    target: str
    dtype: str
    check: str
    baseline: Profile | None
    candidate: Profile | None

    def describe(self) -> str:
        def said(found):
            return "absent" if found is None else found.words()

        return f"{self.target} {self.dtype} {self.check}: {said(self.baseline)} -> {said(self.candidate)}"

    def to_dict(self, fail_on) -> dict:
        return {"category": self.category, "target": self.target, "dtype": self.dtype, "check": self.check,
                "regression": self.category in fail_on,
                "baseline": None if self.baseline is None else self.baseline.to_dict(),
                "candidate": None if self.candidate is None else self.candidate.to_dict()}


def precision_category(old: Profile | None, new: Profile | None) -> str | None:
    """PRECISION_LOST, PRECISION_CHANGED or None (the same model, rounding and bits within PRECISION_BITS)."""
    if old is None or new is None:
        return None  # a dtype or check one run lacks: its cases are new or missing already
    if new.biased and not old.biased:
        return PRECISION_LOST
    if new.bits < old.bits - PRECISION_BITS:
        return PRECISION_LOST
    if new.model != old.model or new.rounding != old.rounding or new.bits > old.bits + PRECISION_BITS:
        return PRECISION_CHANGED
    return None


def precision_changes(old: Report, new: Report, pairs) -> tuple[PrecisionChange, ...]:
    found = []
    before = {(p.target, p.dtype, p.check): p for p in old.precision()}
    after = {(p.target, p.dtype, p.check): p for p in new.precision()}
    for old_target, new_target in pairs:
        if old_target is None or new_target is None:
            continue
        keys = dict.fromkeys([key[1:] for key in before if key[0] == old_target]
                             + [key[1:] for key in after if key[0] == new_target])
        for dtype, check in keys:
            a, b = before.get((old_target, dtype, check)), after.get((new_target, dtype, check))
            category = precision_category(a, b)
            if category is not None:
                found.append(PrecisionChange(category, new_target, dtype, check, a, b))
    return tuple(found)


@dataclass(frozen=True)
class GateResult:
    """Every result's category (`entries`, unchanged ones included), the regressions and the warnings."""

    baseline: Side
    candidate: Side
    pairs: tuple[tuple[str | None, str | None], ...]
    entries: tuple[Change, ...]
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    warnings: tuple[str, ...] = field(default=())
    precision: tuple[PrecisionChange, ...] = ()  # the profiles that changed (PRECISION_LOST, PRECISION_CHANGED)

    def counts(self) -> dict[str, int]:
        """{category: number} over every category, zeros included (a precision change counts once per target,
        dtype and check)."""
        found = Counter(entry.category for entry in (*self.entries, *self.precision))
        return {category: found.get(category, 0) for category in CATEGORIES}

    @property
    def precision_regressions(self) -> tuple[PrecisionChange, ...]:
        return tuple(change for change in self.precision if change.category in self.fail_on)

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every entry but the unchanged ones."""
        return tuple(entry for entry in self.entries if entry.category != UNCHANGED)

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(entry for entry in self.entries if entry.category in self.fail_on)

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.precision_regressions

    def verdict(self) -> str:
        if self.ok:
            return f"OK: no regression (fail on: {', '.join(self.fail_on)})"
        found = Counter(entry.category for entry in (*self.regressions, *self.precision_regressions))
        total = len(self.regressions) + len(self.precision_regressions)
        return f"REGRESSIONS: {total} ({', '.join(f'{c} {n}' for c, n in found.items())})"

    def headline(self) -> str:
        """One line: what was compared with what, and the framework versions of each side."""
        parts = []
        for old, new in self.pairs:
            before = "absent" if old is None else f"{old} {self.baseline.versions(old)}"
            after = "absent" if new is None else f"{new} {self.candidate.versions(new)}"
            parts.append(f"{before} -> {after}")
        report = self.baseline.report
        return (f"convt-oracle gate: suite {report.suite!r}, seed {report.seed}; {'; '.join(parts)}; "
                f"{self.baseline.path} -> {self.candidate.path}")

    def to_dict(self) -> dict:
        def side(side: Side) -> dict:
            report = side.report
            return {"path": side.path, "target": side.target, "targets": list(report.targets), "suite": report.suite,
                    "seed": report.seed, "dtypes": list(report.dtypes), "environment": report.environment}

        return {
            "schema": GATE_SCHEMA,
            "ok": self.ok,
            "verdict": self.verdict(),
            "fail_on": list(self.fail_on),
            "noise": {"factor": NOISE_FACTOR, "floor": NOISE_FLOOR},
            "pairs": [list(pair) for pair in self.pairs],
            "warnings": list(self.warnings),
            "counts": self.counts(),
            "regressions": len(self.regressions) + len(self.precision_regressions),
            "changes": [entry.to_dict(self.fail_on) for entry in self.changes],
            "precision_changes": [change.to_dict(self.fail_on) for change in self.precision],
            "baseline": side(self.baseline),
            "candidate": side(self.candidate),
        }

    def to_json(self, path=None) -> str:
        """Strict JSON (non-finite numbers as "inf", "-inf", "nan"); written atomically to `path` when given."""
        from convt_oracle.harness.outputs import write_atomically

        text = json.dumps(_strict(self.to_dict()), indent=1, allow_nan=False)
        if path is not None:
            write_atomically(path, text)
        return text

    def summary(self, limit: int = 20) -> str:
        lines = [self.headline()]
        lines += [f"warning: {warning}" for warning in self.warnings]
        counts = self.counts()
        lines.append("counts: " + ", ".join(f"{category} {counts[category]}" for category in CATEGORIES if counts[category]))
        shown = sorted(self.changes, key=lambda entry: (entry.category not in self.fail_on, PRECEDENCE.index(entry.category)))
        for change in sorted(self.precision, key=lambda change: change.category not in self.fail_on):
            lines.append(f"  {change.category}: {change.describe()}")
        for entry in shown[:limit]:
            lines.append(f"  {entry.category}: {describe(entry)}")
        if len(shown) > limit:
            lines.append(f"  ... and {len(shown) - limit} more changes (--json, --markdown, --html)")
        lines.append(self.verdict())
        return "\n".join(lines)


def describe(entry: Change) -> str:
    """'torch on CASE (check): pass (error/bound 0.01) -> value_mismatch (error/bound 3.2)'."""
    def state(result: Result | None) -> str:
        if result is None:
            return "absent"
        ratio = result.max_bound_ratio
        return result.outcome if ratio is None else f"{result.outcome} (error/bound {ratio:.3g})"

    result = entry.result
    return f"{entry.target} on {result.case.id} ({result.check}): {state(entry.baseline)} -> {state(entry.candidate)}"


def gate(baseline: str, candidate: str, *, fail_on=DEFAULT_FAIL_ON, known: str | None = None) -> GateResult:
    """Compare the run report `candidate` with `baseline` (paths, each optionally with ::TARGET).

    `known`: a known-findings file re-applied to the candidate (convt_oracle.harness.known.apply).
    GateError (with its exit status) where they cannot be compared.
    """
    unknown = [name for name in fail_on if name not in CATEGORIES]
    if unknown:
        raise _usage(f"fail_on: unknown {', '.join(map(repr, unknown))}; the categories: {', '.join(CATEGORIES)}")
    old = Side.load("baseline", baseline)
    new = Side.load("candidate", candidate)
    check_compatible(old, new)
    if known is not None:
        new = Side(new.role, new.path, _apply_known(new.report, known), new.target)
    pairs = pair_targets(old, new)
    entries = []
    for old_target, new_target in pairs:
        before = _by_key(old.report, old_target)
        after = _by_key(new.report, new_target)
        for key in dict.fromkeys([*before, *after]):
            entries.append(Change(classify(before.get(key), after.get(key)), old_target, new_target,
                                  before.get(key), after.get(key)))
    warnings = []
    for old_target, new_target in pairs:
        if old_target is not None and new_target is not None:
            warnings += kernel_differences(old.report.environment, new.report.environment, old_target, new_target)
    return GateResult(old, new, tuple(pairs), tuple(entries), tuple(fail_on), tuple(dict.fromkeys(warnings)),
                      precision_changes(old.report, new.report, pairs))


def _by_key(report: Report, target: str | None) -> dict:
    """{(case id, check): result} of one target (nothing for None)."""
    if target is None:
        return {}
    return {(result.case.id, result.check): result for result in report.results if result.target == target}


def _apply_known(report: Report, path: str) -> Report:
    """The candidate with the known findings of `path` applied (convt_oracle.harness.known), as `run --known`
    applies them; "none" applies none."""
    from convt_oracle.harness import known

    try:
        found = known.from_option(path)
    except known.KnownFindingsError as error:
        raise _usage(f"--known: {error}") from None
    if found is None:
        return report
    source, findings = found
    return known.apply(report, findings, source=source)


def kernel_differences(old_env: dict, new_env: dict, old_target: str, new_target: str) -> list[str]:
    """A line per difference in what decides the kernels between two runs' environments (for one target of
    each): the machine's settings, and what the frameworks both targets had imported said about themselves
    (convt_oracle.harness.kernels)."""
    lines = []
    records = (
        ("machine", old_env.get("kernel_settings"), new_env.get("kernel_settings")),
        (f"target {new_target}" if old_target == new_target else f"targets {old_target} / {new_target}",
         old_env.get("target_kernels", {}).get(old_target), new_env.get("target_kernels", {}).get(new_target)),
    )
    for what, old, new in records:
        if old is None or new is None:
            missing = [side for side, record in (("baseline", old), ("candidate", new)) if record is None]
            lines.append(f"the {' and the '.join(missing)} record{'s' if len(missing) == 1 else ''} no kernel settings "
                         f"({what}): whether the kernels differ is not known")
            continue
        if what != "machine":  # a framework that only one target imported does not decide the other's kernels
            shared = set(old) & set(new)
            old, new = ({name: value for name, value in record.items() if name in shared} for record in (old, new))
        flat_old, flat_new = _flatten(old), _flatten(new)
        for key in dict.fromkeys([*flat_old, *flat_new]):
            before, after = flat_old.get(key, "absent"), flat_new.get(key, "absent")
            if before != after:
                lines.append(f"kernels may differ ({what}): {key}: baseline {_shown(before)}, candidate {_shown(after)}")
    return lines


def _flatten(record, prefix: str = "") -> dict:
    if not isinstance(record, dict):
        return {prefix: record}
    flat = {}
    for key, value in record.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _shown(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def gate_command(args) -> int:
    """`convt-oracle gate`; its exit status is one of convt_oracle.harness.cli.EXIT_STATUSES."""
    from convt_oracle.harness import ci_reports
    from convt_oracle.harness.cli import EXIT_DISCREPANCIES, EXIT_ENVIRONMENT, EXIT_OK
    from convt_oracle.harness.outputs import ReportNotWritable, check_writable, write_atomically

    try:
        fail_on = DEFAULT_FAIL_ON if args.fail_on is None else parse_categories(args.fail_on)
        outputs = {option: path for option, path in (("--json", args.json), ("--junit", args.junit),
                                                     ("--markdown", args.markdown), ("--html", args.html)) if path}
        try:
            for option, path in outputs.items():
                check_writable(option, path)
            if args.html:
                ci_reports.check_html_available()
        except (ReportNotWritable, ci_reports.ReportLibraryMissing) as error:
            raise _unusable(str(error)) from None
        result = gate(args.baseline, args.candidate, fail_on=fail_on, known=args.known)
    except GateError as error:
        print(f"convt-oracle gate: {error}", file=sys.stderr)
        return error.status
    print(result.summary())
    renderers = {"--json": result.to_json, "--junit": lambda: ci_reports.gate_junit(result),
                 "--markdown": lambda: ci_reports.gate_markdown(result), "--html": lambda: ci_reports.gate_html(result)}
    written = True
    for option, path in outputs.items():
        try:
            write_atomically(path, renderers[option]())
            print(f"{option.removeprefix('--')} written to {path}")
        except ReportNotWritable as error:
            print(f"convt-oracle gate: {option}: {error}", file=sys.stderr)
            written = False
    if not written:
        return EXIT_ENVIRONMENT
    return EXIT_OK if result.ok else EXIT_DISCREPANCIES
