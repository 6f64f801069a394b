"""`convt-oracle merge PARTS... -o RUN.json`: the reports of a run's shards (`run --shard K/N --json PART`) as
the report of the whole run, result for result what one `run` without --shard gives (timings aside).

The parts must be of one run: the same suite, seed, dtypes, --grad, targets, framework versions and numpy /
ml_dtypes; cases this convt-oracle generates for that suite; each result (target, case, check) in one part
only; shards of one partition (the same N), each given once. Anything else is refused (MergeRefused, naming
the parts and the difference) and nothing is written. The parts may have run on different machines: their
CPUs and platforms are kept in the merged environment (`merged_from`) and a difference is a warning, since
which kernels a framework runs depends on the CPU.

Cases missing from the merge (a shard not given, an interrupted part) are counted per target, with the first
ids; the merged report is then `complete: false`. A target that some part did not run is in
`targets_not_run`, with that part's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convt_oracle.harness.report import Report

CHECK_ORDER = {"forward": 0, "vjp": 1}
_SHOWN = 5  # ids, duplicates or differences quoted in a message


class MergeRefused(Exception):
    """The parts are not shards of one run; the message names the parts and the difference. Nothing is written."""


@dataclass
class Merged:
    """A merge's outcome: the merged report, the case ids missing per target (in suite order), and warnings."""

    report: Report
    missing: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def missing_count(self) -> int:
        return sum(len(ids) for ids in self.missing.values())

    def missing_lines(self) -> list[str]:
        """One line per target with missing cases: how many, and the first ids."""
        lines = []
        for target, ids in self.missing.items():
            if ids:
                more = f", ... ({len(ids) - _SHOWN} more)" if len(ids) > _SHOWN else ""
                lines.append(f"{target}: {len(ids)} of {self.report.suite_cases} cases missing: "
                             f"{', '.join(ids[:_SHOWN])}{more}")
        return lines


def merge(parts: list[tuple[str, Report]]) -> Merged:
    """Merge (name, Report) parts, e.g. from Report.load(path); MergeRefused if they are not shards of one run."""
    from convt_oracle.cases import suites

    if not parts:
        raise MergeRefused("no part to merge")
    _check_one_run(parts)
    warnings = _check_shards(parts) + _machine_warnings(parts)
    _check_no_duplicates(parts)
    first = parts[0][1]
    try:
        cases = suites.select(first.suite, first.dtypes, seed=first.seed)
    except (TypeError, ValueError) as error:  # a crosscheck of a custom suite, a suite this version lacks
        raise MergeRefused(f"{parts[0][0]}: its suite cannot be generated here ({error}), so the cases it should "
                           f"hold are unknown") from None
    order = {case.id: index for index, case in enumerate(cases)}
    _check_cases(parts, order)
    targets = first.targets
    results = sorted(
        (result for _, report in parts for result in report.results),
        key=lambda r: (targets.index(r.target), order[r.case.id], CHECK_ORDER.get(r.check, len(CHECK_ORDER))),
    )
    not_run = {}
    for name, report in parts:
        for target, reason in report.targets_not_run.items():
            where = name if report.shard is None else f"shard {report.shard}, {name}"
            not_run.setdefault(target, []).append(f"{where}: {reason}")
    for name, report in parts:
        if report.environment.get("interrupted_by"):
            warnings.append(f"{name} was interrupted ({report.environment['interrupted_by']}): it holds the results "
                            f"finished before that")
    ran = {target: set() for target in targets}
    for result in results:
        if result.check == "forward":
            ran[result.target].add(result.case.id)
    missing = {target: [case.id for case in cases if case.id not in ran[target]]
               for target in targets if target not in not_run}
    environment = {key: value for key, value in first.environment.items() if key != "interrupted_by"}
    environment["merged_from"] = [
        {"part": name, "shard": None if report.shard is None else report.shard.to_dict(), "complete": report.complete,
         **{key: report.environment.get(key) for key in ("cpu", "platform", "python")}}
        for name, report in parts
    ]
    merged = Report(
        results=tuple(results),
        suite=first.suite,
        dtypes=first.dtypes,
        seed=first.seed,
        targets=targets,
        environment=environment,
        complete=all(report.complete for _, report in parts) and not any(missing.values()),
        targets_not_run={target: "; ".join(reasons) for target, reasons in not_run.items()},
        shard=None,
        suite_cases=len(cases),
    )
    return Merged(merged, missing, warnings)


def _describe(report: Report) -> dict:
    """What must be the same in every part of one run."""
    environment = report.environment
    frameworks = {target: version for target, version in environment.get("frameworks", {}).items()
                  if not str(version).startswith("unknown")}  # not looked up (an interruption): not a difference
    return {
        "suite": report.suite, "seed": report.seed, "dtypes": list(report.dtypes), "grad": environment.get("grad"),
        "targets": sorted(report.targets), "numpy": environment.get("numpy"), "ml_dtypes": environment.get("ml_dtypes"),
        "frameworks": frameworks,
    }


def _check_one_run(parts) -> None:
    first_name, first = parts[0]
    wanted = _describe(first)
    for name, report in parts[1:]:
        found = _describe(report)
        for key, value in wanted.items():
            other = found[key]
            if key == "frameworks":  # only targets whose versions both parts looked up
                value = {t: v for t, v in value.items() if t in other}
                other = {t: v for t, v in other.items() if t in value}
            if other != value:
                raise MergeRefused(f"{first_name} and {name} are not parts of one run: {key} {_difference(value, other)}")


def _difference(value, other) -> str:
    if isinstance(value, dict):
        keys = [k for k in sorted(set(value) | set(other)) if value.get(k) != other.get(k)]
        return "; ".join(f"{k}: {value.get(k)!r} against {other.get(k)!r}" for k in keys[:_SHOWN])
    return f"{value!r} against {other!r}"


def _check_shards(parts) -> list[str]:
    """MergeRefused for shards of different partitions, or a shard given twice; a warning for shards not given."""
    sharded = [(name, report.shard) for name, report in parts if report.shard is not None]
    if not sharded:
        return []
    counts = {shard.count for _, shard in sharded}
    if len(counts) > 1:
        listed = ", ".join(f"{name} is shard {shard}" for name, shard in sharded)
        raise MergeRefused(f"the parts are shards of different partitions ({listed}): merge the shards of one --shard K/N")
    seen = {}
    for name, shard in sharded:
        if shard.index in seen:
            raise MergeRefused(f"shard {shard} is given twice: {seen[shard.index]} and {name}")
        seen[shard.index] = name
    count = counts.pop()
    absent = [str(index) for index in range(1, count + 1) if index not in seen]
    return [f"no part for shard {', '.join(absent)} of {count}"] if absent else []


def _machine_warnings(parts) -> list[str]:
    cpus = {report.environment.get("cpu") for _, report in parts}
    if len(cpus) > 1:
        return [f"the parts ran on different CPUs ({'; '.join(sorted(map(str, cpus)))}): a framework's kernels, "
                f"and so its results, may depend on the CPU (merged_from in the report says which part ran where)"]
    return []


def _check_no_duplicates(parts) -> None:
    owner = {}  # (target, case id, check) -> the index of the part that holds it
    for number, (name, report) in enumerate(parts):
        duplicates = []
        for result in report.results:
            key = (result.target, result.case_id, result.check)
            if owner.setdefault(key, number) != number:
                duplicates.append((owner[key], key))
        if duplicates:
            other = parts[duplicates[0][0]][0]
            shown = ", ".join(f"{target} {case_id}" for _, (target, case_id, _) in duplicates[:_SHOWN])
            raise MergeRefused(f"{other} and {name} both hold {len(duplicates)} of the same results "
                               f"(target, case, check), e.g. {shown}: give each shard once")


def _check_cases(parts, order: dict) -> None:
    """MergeRefused for results of cases this convt-oracle does not generate for the suite (another version)."""
    for name, report in parts:
        if report.suite_cases is not None and report.suite_cases != len(order):
            raise MergeRefused(
                f"{name} was run on {report.suite_cases} cases of suite {report.suite!r} (seed {report.seed}, "
                f"{', '.join(report.dtypes)}); this convt-oracle generates {len(order)}: merge with the version "
                f"that ran the parts"
            )
        unknown = [result.case.id for result in report.results if result.case.id not in order]
        if unknown:
            raise MergeRefused(f"{name} holds {len(unknown)} cases that suite {report.suite!r} (seed {report.seed}) "
                               f"does not have here, e.g. {', '.join(unknown[:_SHOWN])}: merge with the version "
                               f"that ran the parts")


__all__ = ["merge", "Merged", "MergeRefused"]
