"""Results of a cross-check, and their rendering (summary text, JSON). Comparisons live in convt_oracle.compare."""

from __future__ import annotations

import json
import math
import platform
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from typing import TYPE_CHECKING, NamedTuple

from convt_oracle.diagnosis import Diagnosis
from convt_oracle.compare import (
    CRASH, NOT_COMPARED, NOT_DISCREPANCIES, OUTCOMES, RAISED, TIMEOUT, Comparison, ErrorMap, Mismatch,
)
from convt_oracle.harness.explain import DEFAULT_BUDGET, DEFAULT_TOTAL_BUDGET
from convt_oracle.harness.outputs import write_atomically
from convt_oracle.harness.shards import Shard
from convt_oracle.precision import PRECISION_DIAGNOSES, PROFILED_OUTCOMES, ErrorStats, Profile, profile

if TYPE_CHECKING:
    from convt_oracle.cases.model import Case

# The version of the run report's JSON layout (`Report.to_json`); `Report.load` reads this one only.
SCHEMA = 2


class ReportFormatError(ValueError):
    """A file is not a run report this version of convt-oracle reads; the message says which and why."""


class Known(NamedTuple):
    """The known finding (convt_oracle.harness.known) that a discrepancy matched: it does not fail the run."""

    id: str
    reason: str = ""
    issue: str = ""


@dataclass(frozen=True)
class Result:
    """One case (in one dtype) run on one target: its outcome, metrics and how to reproduce it."""

    case: Case
    target: str
    outcome: str
    check: str = "forward"  # "forward", or "vjp" for the vector-Jacobian product
    comparison: Comparison | None = None
    detail: str = ""  # the exception a target raised, the reason it gave for `unsupported`, a crash
    target_seconds: float = 0.0
    golden_seconds: float = 0.0
    known: Known | None = None  # the known finding this discrepancy matched, if any
    # What kind of wrong a value, non-finite or shape discrepancy is (convt_oracle.diagnosis); None otherwise.
    diagnosis: Diagnosis | None = None
    # The result's errors against the golden, summed up for the precision profile (convt_oracle.precision);
    # None where no value was judged.
    errors: ErrorStats | None = None

    @property
    def case_id(self) -> str:
        return self.case.id if self.check == "forward" else f"{self.case.id}:{self.check}"

    @property
    def ok(self) -> bool:
        """Not a discrepancy: a pass, an unsupported or refused case, or a discrepancy that is a known finding."""
        return self.outcome in NOT_DISCREPANCIES or self.known is not None

    @property
    def kind(self) -> str | None:
        """What kind of wrong a discrepancy is: its diagnosis's name; for a target that raised, crashed or
        timed out, the exception's type as its detail starts ("ValueError"); else None."""
        if self.diagnosis is not None:
            return self.diagnosis.name
        if self.outcome in (RAISED, CRASH, TIMEOUT):
            found = re.match(r"([A-Za-z_][\w.]*)(?::|$)", self.detail or "")
            return found.group(1) if found else None
        return None

    @property
    def compared(self) -> bool:
        """Whether the golden judged a result of the target (not unsupported, not refused)."""
        return self.outcome not in NOT_COMPARED

    @property
    def holes(self) -> float | None:
        """How much of the output the data do not decide: the share of output elements no product reaches
        (zeros, or the bias alone; Case.hole_share); None for an invalid case."""
        return self.case.hole_share if self.case.valid else None

    # The comparison's metrics, read as the result's own; None where nothing was compared (the target
    # raised, was unsupported, crashed, or the case is invalid).
    def _metric(self, name):
        return None if self.comparison is None else getattr(self.comparison, name)

    elements = property(lambda self: self._metric("elements"), doc="output elements compared")
    mismatches = property(lambda self: self._metric("mismatches"), doc="elements outside the bound or wrongly non-finite")
    mismatch_percent = property(lambda self: self._metric("mismatch_percent"), doc="mismatches as % of elements")
    max_abs_error = property(lambda self: self._metric("max_abs_error"), doc="max |actual - expected| over finite elements")
    max_bound_ratio = property(lambda self: self._metric("max_bound_ratio"), doc="max |actual - expected| / bound")
    first_mismatches = property(lambda self: self._metric("first_mismatches"), doc="the first few Mismatch records")
    border_mismatches = property(lambda self: self._metric("border_mismatches"), doc="mismatches in the border band")
    interior_mismatches = property(lambda self: self._metric("interior_mismatches"), doc="mismatches in the interior")

    @property
    def message(self) -> str:
        """The diagnosis (what kind of wrong, convt_oracle.diagnosis), the target's detail, the comparison's
        message, and, where any, the share of holes (`holes`); empty for a plain pass."""
        text = self.comparison.message if self.comparison is not None and self.comparison.message else ""
        diagnosis = "" if self.diagnosis is None else f"diagnosis: {self.diagnosis}"
        parts = [part for part in (diagnosis, self.detail, text) if part]
        if parts and self.holes:
            parts.append(f"holes: {self.holes:.1%} of the output elements receive no product (zeros or the bias "
                         f"alone: what the data do not decide)")
        return "\n".join(parts)

    def reproducer(self, function=None) -> str:
        """Python a user can paste to run this case again on the same target (an adapter is asked through
        call_case / vjp_case, honouring the case's mode). A function that cannot be imported by its name (one
        of `__main__`, a script's or a notebook's; a lambda) has its source embedded: `function` if given,
        else the one crosscheck ran (convt_oracle.harness.reproducers.result_reproducer); where its source
        is not available the text says so and a SourceUnavailable warning is issued."""
        from convt_oracle.harness.reproducers import result_reproducer

        return result_reproducer(self, function)

    def to_dict(self) -> dict:
        return {
            "case_id": self.case_id,
            "case": self.case.to_dict(),
            "target": self.target,
            "check": self.check,
            "outcome": self.outcome,
            "detail": self.detail,
            "metrics": None if self.comparison is None else {
                **asdict(self.comparison), "mismatch_percent": self.comparison.mismatch_percent,
            },
            "target_seconds": self.target_seconds,
            "golden_seconds": self.golden_seconds,
            "known": None if self.known is None else self.known._asdict(),
            "holes": self.holes,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
            "errors": None if self.errors is None else self.errors.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        """The Result that `to_dict` wrote (non-finite metrics read back from their strings)."""
        from convt_oracle.cases.model import Case

        metrics = data.get("metrics")
        comparison = None
        if metrics is not None:
            values = {key: value for key, value in metrics.items() if key != "mismatch_percent"}
            for key in ("max_abs_error", "max_bound_ratio"):
                values[key] = _float(values.get(key, 0.0))
            for key in ("actual_shape", "expected_shape"):
                if values.get(key) is not None:
                    values[key] = tuple(values[key])
            values["first_mismatches"] = tuple(
                Mismatch(**{**m, "index": tuple(m["index"]), **{k: _float(m[k]) for k in ("actual", "expected", "bound")}})
                for m in values.get("first_mismatches", ())
            )
            if values.get("error_map") is not None:
                values["error_map"] = ErrorMap.from_dict(values["error_map"])
            comparison = Comparison(**values)
        known = data.get("known")
        diagnosis = data.get("diagnosis")
        return cls(
            case=Case.from_dict(data["case"]),
            target=data["target"],
            outcome=data["outcome"],
            check=data.get("check", "forward"),
            comparison=comparison,
            detail=data.get("detail", ""),
            target_seconds=data.get("target_seconds", 0.0),
            golden_seconds=data.get("golden_seconds", 0.0),
            known=None if known is None else Known(**known),
            diagnosis=None if diagnosis is None else Diagnosis.from_dict(diagnosis),
            errors=None if data.get("errors") is None else ErrorStats.from_dict(data["errors"]),
        )


def environment(extra: dict | None = None) -> dict:
    """Where a report was made: versions, the CPU, and what decides the kernels (`kernel_settings`, from
    convt_oracle.harness.kernels; a run adds each target's `target_kernels`)."""
    import ml_dtypes
    import numpy

    from convt_oracle.harness.kernels import machine_settings

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu(),
        "cpu_flags": cpu_flags(),
        "numpy": numpy.__version__,
        "ml_dtypes": ml_dtypes.__version__,
        "kernel_settings": machine_settings(),
        **(extra or {}),
    }


# The CPU flags that decide which kernels frameworks run (several findings depend on them).
KERNEL_CPU_FLAGS = frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16"})


def _cpuinfo() -> tuple[str, list[str] | None]:
    """(CPU model, its flags among KERNEL_CPU_FLAGS) (convt_oracle.harness.kernels.cpu_info); flags None where
    /proc/cpuinfo cannot be read."""
    from convt_oracle.harness.kernels import cpu_info

    model, flags = cpu_info()
    return model, None if flags is None else sorted(set(flags) & KERNEL_CPU_FLAGS)


def _cpu() -> str:
    """The CPU model and its kernel-deciding flags, as one line."""
    model, flags = _cpuinfo()
    return f"{model} ({', '.join(flags or ()) or 'no AVX2/AVX-512 flags found'})"


def cpu_flags() -> list[str] | None:
    """The machine's CPU flags among KERNEL_CPU_FLAGS (None where /proc/cpuinfo has none): what the known
    findings' CPU conditions read (convt_oracle.harness.known)."""
    return _cpuinfo()[1]


@dataclass(frozen=True)
class Report:
    """All results of one cross-check, with what ran: targets, suite, dtypes, seed and environment.

    `complete` is False for a run that was interrupted (the results so far); `targets_not_run` names each
    target whose worker did not start or whose environment failed its check, with the reason. `shard`: the
    part of the suite a `run --shard K/N` ran (convt_oracle.harness.shards), None for the whole suite;
    `suite_cases`: how many cases the whole suite has in these dtypes (None where not recorded).
    `known_file`: the findings file the discrepancies were matched against (convt_oracle.harness.known;
    None: none); `known_stale`: its entries that no longer reproduce ({"id", "targets", "issue"});
    `known_expired`: its entries past their date ({"id", "expires", "issue"}), which fail the report.
    """

    results: tuple[Result, ...]
    suite: str
    dtypes: tuple[str, ...]
    seed: int
    targets: tuple[str, ...]
    environment: dict = field(default_factory=dict)
    complete: bool = True
    targets_not_run: dict = field(default_factory=dict)
    shard: Shard | None = None
    suite_cases: int | None = None
    known_file: str | None = None
    known_stale: tuple = ()
    known_expired: tuple = ()

    @property
    def ok(self) -> bool:
        """True when no result is a discrepancy (every one is `pass`, `unsupported`, `refused` or a known
        finding), no known finding has expired and no target's rounding is biased (Report.precision)."""
        return all(result.ok for result in self.results) and not self.known_expired and not self.biased()

    def precision(self) -> list[Profile]:
        """The precision each target behaves like, per dtype and check (convt_oracle.precision): over its
        results that passed or whose discrepancy is about precision; a structural discrepancy is left out."""
        groups, left_out = {}, Counter()
        for result in self.results:
            if result.errors is None or result.outcome not in PROFILED_OUTCOMES:
                continue
            key = (result.target, result.case.dtype, result.check)
            if result.outcome != "pass" and (result.diagnosis is None or result.diagnosis.name not in PRECISION_DIAGNOSES):
                left_out[key] += 1
                continue
            groups.setdefault(key, []).append(result.errors)
        order = {target: index for index, target in enumerate(self.targets)}
        return [
            profile(*key, stats, left_out[key])
            for key, stats in sorted(groups.items(), key=lambda item: (order.get(item[0][0], len(order)), item[0]))
        ]

    def biased(self) -> list[Profile]:
        """The profiles whose rounding is biased (toward or away from zero): a finding though every element may
        lie within its bound."""
        return [found for found in self.precision() if found.biased]

    def precision_lines(self) -> list[str]:
        """One line per target, dtype and check: the precision it behaves like."""
        return [
            f"  {found.target} {found.dtype}{'' if found.check == 'forward' else ' ' + found.check}: {found.words()}"
            for found in self.precision()
        ]

    @property
    def known(self) -> tuple[Result, ...]:
        """The discrepancies that known findings explain (Result.known)."""
        return tuple(result for result in self.results if result.known is not None)

    @property
    def compared(self) -> int:
        """How many results the golden judged: every one but those `unsupported` (the target could not be
        asked) or `refused` (it declined, as documented). None judged: the report says nothing either way."""
        return sum(result.compared for result in self.results)

    def verdict(self) -> str:
        """One line: the discrepancies, or that nothing was compared, or OK; never OK for a run that did not
        finish, in which a target did not run, or with an expired known finding. Known and stale findings
        are counted in it."""
        known = f" ({len(self.known)} known)" if self.known else ""
        expired = ", ".join(f"{entry['id']} (expired {entry['expires']})" for entry in self.known_expired)
        stale = ", ".join(entry["id"] for entry in self.known_stale)
        notes = [f"known findings expired: {expired}"] * bool(expired)
        notes += [f"{len(self.known_stale)} known findings stale: {stale}"] * bool(stale)
        notes += [f"not run: {', '.join(self.targets_not_run)}"] * bool(self.targets_not_run)
        biased = self.biased()
        rounding = "ROUNDING BIASED (every value may be within its bound; the errors lean one way): " + ", ".join(
            f"{found.target} {found.dtype} {found.check} rounds {found.rounding} "
            f"({found.toward_zero:,} of {found.errors:,} errors toward zero)" for found in biased
        )
        if biased:  # first: the one finding that fails a report whose every value is within its bound
            notes.insert(0, rounding)
        if self.discrepancies:
            text = f"{len(self.discrepancies)} discrepancies{known}"
        elif not self.compared:
            text = "nothing was compared: " + ("every result is unsupported or refused" if self.results else "no result")
        elif self.complete and not self.targets_not_run and not expired and not biased:
            text = f"OK: no new discrepancy{known}" if known else "OK: no discrepancy"
        else:
            text = f"no {'new ' if known else ''}discrepancy in what ran{known}"
        text = "; ".join([text, *notes]) if not biased or self.discrepancies else "; ".join([*notes, text])
        if self.complete:
            return text
        # a run cut short, or a merge of shards (convt_oracle.harness.merge) with cases missing
        cut = "INCOMPLETE, cases missing" if "merged_from" in self.environment else "INTERRUPTED, the results so far"
        return f"{cut}: {text}"

    @property
    def discrepancies(self) -> tuple[Result, ...]:
        return tuple(result for result in self.results if not result.ok)

    def counts(self) -> dict:
        """{target: {outcome: count}} over every outcome, zeros included."""
        table = {}
        for target in self.targets:
            counter = Counter(r.outcome for r in self.results if r.target == target)
            table[target] = {outcome: counter.get(outcome, 0) for outcome in OUTCOMES}
        return table

    def summary(self, limit: int = 10) -> str:
        lines = [
            f"convt-oracle cross-check: suite {self.suite!r}, dtypes {', '.join(self.dtypes)}, seed {self.seed}, "
            f"{len(self.results)} results"
        ]
        for target, counts in self.counts().items():
            shown = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
            lines.append(f"  {target}: {shown or 'no results'}")
            diagnoses = Counter(r.diagnosis.name for r in self.discrepancies if r.target == target and r.diagnosis)
            if diagnoses:
                lines.append(f"  {target} discrepancies by diagnosis: "
                             + ", ".join(f"{name} {count}" for name, count in diagnoses.most_common()))
        lines += self.trust_lines()
        profiles = self.precision_lines()
        if profiles:
            lines += ["  precision (what each target behaves like):", *profiles]
        lines += self.discrepancy_lines(limit)
        lines += self.known_lines()
        for target, reason in self.targets_not_run.items():
            lines.append(f"  {target}: not run: {reason}")
        lines.append(self.verdict())
        return "\n".join(lines)

    def trust_lines(self) -> list[str]:
        """How much the results say: how many were of the exact tier (bound 0, Case.exact) and how many on an
        output mostly holes (elements no product reaches, Result.holes); nothing where neither."""
        from convt_oracle.cases.coverage import MOSTLY_HOLES

        exact = sum(result.case.exact for result in self.results if result.compared)
        holes = sum(result.holes is not None and result.holes > MOSTLY_HOLES for result in self.results)
        if not exact and not holes:
            return []
        return [f"  exact tier (bound 0, bit for bit): {exact} results; on outputs mostly holes "
                f"(> {MOSTLY_HOLES:.0%} receive no product): {holes} results"]

    def discrepancy_lines(self, limit: int = 10) -> list[str]:
        """The first `limit` discrepancies, each with its outcome, target, case and message."""
        lines = []
        for result in self.discrepancies[:limit]:
            lines.append(f"\n{result.outcome}: {result.target} on {result.case_id}")
            lines += [f"  {line}" for line in result.message.splitlines()]
        if len(self.discrepancies) > limit:
            lines.append(f"\n... and {len(self.discrepancies) - limit} more discrepancies (see to_json())")
        return lines

    def known_lines(self) -> list[str]:
        """The known findings: each entry that explained results (with how many, per target), then the stale
        and the expired entries; nothing when no findings file was used."""
        if self.known_file is None:
            return []
        lines = [f"\nknown findings ({self.known_file}):"]
        explained = {}
        for result in self.known:
            explained.setdefault(result.known, Counter())[result.target] += 1
        for known, targets in explained.items():
            per_target = ", ".join(f"{target} {count}" for target, count in targets.items())
            lines.append(f"  {known.id}: {per_target} ({known.issue})")
        if not explained:
            lines.append("  none of them explained a result")
        for entry in self.known_stale:
            lines.append(f"  stale: {entry['id']} no longer reproduces on {', '.join(entry['targets'])} ({entry['issue']})")
        for entry in self.known_expired:
            lines.append(f"  EXPIRED: {entry['id']} expired {entry['expires']}: revisit it ({entry['issue']})")
        return lines

    def explain(self, *, target: str | None = None, shrink: bool = False, budget: float = DEFAULT_BUDGET,
                total_budget: float | None = DEFAULT_TOTAL_BUDGET, progress=None) -> list:
        """The discrepancies as groups (target, check, outcome, diagnosis; known ones apart), largest first,
        each with the case features that set it apart and, with `shrink=True`, a minimal case and a
        standalone script (convt_oracle.harness.explain.explain says how). `budget`: seconds of shrinking per
        group; `total_budget`: for all of it (None: no limit)."""
        from convt_oracle.harness.explain import explain

        return explain(self, target=target, shrink=shrink, budget=budget, total_budget=total_budget, progress=progress)

    def to_json(self, path=None) -> str:
        """The report as strict JSON (non-finite numbers as the strings "inf", "-inf", "nan"); written to
        `path` too when given, atomically (convt_oracle.harness.outputs: ReportNotWritable if it cannot be)."""
        report = {
            "schema": SCHEMA,
            "suite": self.suite,
            "dtypes": list(self.dtypes),
            "seed": self.seed,
            "targets": list(self.targets),
            "targets_not_run": dict(self.targets_not_run),
            "complete": self.complete,
            "shard": None if self.shard is None else self.shard.to_dict(),
            "suite_cases": self.suite_cases,
            "environment": self.environment,
            "ok": self.ok,
            "compared": self.compared,
            "verdict": self.verdict(),
            "known_file": self.known_file,
            "known_stale": [dict(entry) for entry in self.known_stale],
            "known_expired": [dict(entry) for entry in self.known_expired],
            "counts": self.counts(),
            "precision": [found.to_dict() for found in self.precision()],
            "results": [result.to_dict() for result in self.results],
        }
        text = json.dumps(_strict(report), indent=1, allow_nan=False)
        if path is not None:
            write_atomically(path, text)
        return text


    @classmethod
    def from_dict(cls, data: dict, source: str = "the report") -> Report:
        """The Report that `to_json` wrote; ReportFormatError for anything else (another schema, not a run report)."""
        if not isinstance(data, dict) or "results" not in data or "suite" not in data:
            raise ReportFormatError(f"{source}: not a convt-oracle run report (no 'suite' and 'results')")
        if data.get("schema") != SCHEMA:
            raise ReportFormatError(
                f"{source}: report schema {data.get('schema', 1)!r}; this convt-oracle reads schema {SCHEMA} "
                f"(write the report again with this version)"
            )
        try:
            return cls(
                results=tuple(Result.from_dict(result) for result in data["results"]),
                suite=data["suite"],
                dtypes=tuple(data["dtypes"]),
                seed=data["seed"],
                targets=tuple(data["targets"]),
                environment=data.get("environment", {}),
                complete=data.get("complete", True),
                targets_not_run=data.get("targets_not_run", {}),
                shard=None if data.get("shard") is None else Shard(data["shard"]["index"], data["shard"]["count"]),
                suite_cases=data.get("suite_cases"),
                known_file=data.get("known_file"),
                known_stale=tuple(data.get("known_stale", ())),
                known_expired=tuple(data.get("known_expired", ())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ReportFormatError(f"{source}: a malformed run report: {type(error).__name__}: {error}") from None

    @classmethod
    def load(cls, path) -> Report:
        """The run report written to `path` (`to_json(path)`, `convt-oracle run --json`); ReportFormatError
        naming the path when it cannot be read as one."""
        try:
            with open(path) as handle:
                data = json.load(handle)
        except OSError as error:
            raise ReportFormatError(f"{path}: cannot read it: {error.strerror or error}") from None
        except json.JSONDecodeError as error:
            raise ReportFormatError(f"{path}: not JSON: {error}") from None
        return cls.from_dict(data, source=str(path))


def _float(value):
    """A number from strict JSON, where non-finite ones are the strings "inf", "-inf" and "nan"."""
    return float(value) if isinstance(value, str) else value


def _strict(value):
    """`value` with numpy scalars and arrays as Python ones and non-finite floats as strings, for strict JSON."""
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _strict(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value
