"""Known findings: the discrepancies a findings file explains, so that they do not fail a run.

A findings file is TOML, one `[[finding]]` table per finding (the project ships its own,
convt_oracle/known-findings.toml, with an entry for every finding in the README):

    [[finding]]
    id = "jax-accepts-a-negative-output-size"   # unique: letters, digits and - _ .
    framework = "jax"                 # the targets whose framework this is (their runtime's versions) ...
    targets = ["jax", "keras-jax"]    # ... and/or these targets (NAME@PYTHON counts as NAME); one at least
    versions = ">=0.4.20, <=0.10.2"   # PEP 440 specifiers on the framework's version (needs `framework`)
    reason = "what the framework does wrong"
    issue = "https://... or README.md#findings"
    expires = 2027-06-30              # optional TOML date: from the day after, the entry fails the run
    suites = ["default"]              # optional: the suites whose runs show it (where it can go stale)
    [finding.where]                   # optional: where it applies (every key given must hold)
    kernels = { onednn = true }       # facts of the target's runtime (convt_oracle.adapters.base.Adapter.kernels)
    cpu_flags = ["avx512_bf16"]       # CPU flags the run's machine has (the report's environment)
    [[finding.match]]                 # which results it explains: every key given must hold, in one of the
    outcome = ["nonfinite_mismatch"]  # entry's [[finding.match]] tables (none: it explains no result)
    check = "forward"                 # or "vjp"
    dtype = ["float32"]
    mode = ["explicit", "same"]
    values = ["nonfinite_weights"]    # the case's value kind
    defect = ["zero_size"]            # an invalid case's defect (convt_oracle.cases.model.DEFECTS)
    groups = ">1"                     # numbers: an int, a list of ints, "<op> N" (op: < <= > >= == !=), "odd", "even"
    spatial_rank = 3                  # also channels_per_group, out_channels_per_group, largest_dilation
    valid = false                     # invalid cases only (true: valid ones only); also bias, and
                                      # output_padding_past_stride (output_padding >= stride on some axis)
    detail = "in grad_w"              # a regular expression searched in the result's detail and message
    case_id = ["1d-b1-...-r9"]        # exact case ids (Case.id, the dtype in it); also `target`, a list of names
    strict = true                     # every case the table selects fails (default: true with case_id, else
                                      # false); the pytest plugin makes those cases strict xfails

An entry without a match table documents a finding that no result of a run shows (a convention test's):
it explains nothing and never goes stale. A finding usually shows on some of the cases a table's conditions
select (an inf weight makes NaN only where it meets a zero the kernel multiplies); a strict table claims
all of them, so that a fixed framework shows (`Finding.expects_failure`).

`load(path)` reads and checks a file (KnownFindingsError naming the file, the entry, the key, the value and
the rule); `apply(report, findings)` marks each discrepancy that an entry explains (`Result.known`), and
records in the report the entries that no longer reproduce (`known_stale`: on a complete run of one of
the entry's `suites` (any suite when it names none; a finding shows on some cases only, so a smaller
suite may simply not meet it), the entry applies to a target that ran, the target answered cases it
selects (not unsupported, not refused), and none was a discrepancy it explains) and the expired ones
(`known_expired`: they explain nothing and fail the run). Conditions are read from what the report
records: the targets' runtimes (versions and kernel facts, asked of each framework in its worker) and the
machine's CPU flags; an entry whose condition cannot be decided from them neither matches nor goes stale.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from convt_oracle import compare as C
from convt_oracle.cases.model import DEFECTS, DTYPES, MODES, VALUE_KINDS
from convt_oracle.harness.report import Known, Report, Result

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SHIPPED = "known-findings.toml"  # package data of convt_oracle
OFF = "none"  # `--known none`: no findings file
DISCREPANCY_OUTCOMES = tuple(outcome for outcome in C.OUTCOMES if outcome not in C.NOT_DISCREPANCIES)
ENTRY_KEYS = ("id", "framework", "targets", "versions", "reason", "issue", "expires", "suites", "where", "match")
WHERE_KEYS = ("kernels", "cpu_flags")
CHOICES = {  # match keys whose value is one or more names, with the names allowed
    "outcome": DISCREPANCY_OUTCOMES,
    "check": ("forward", "vjp"),
    "dtype": DTYPES,
    "mode": MODES,
    "values": VALUE_KINDS,
    "defect": tuple(DEFECTS),
}
NUMBERS = ("groups", "spatial_rank", "channels_per_group", "out_channels_per_group", "largest_dilation")  # numeric
FLAGS = ("valid", "bias", "output_padding_past_stride")  # match keys that are true or false
MATCH_KEYS = (*CHOICES, *NUMBERS, *FLAGS, "detail", "case_id", "target", "strict")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_COMPARISON = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+)\s*$")
_COMPARE = {
    ">=": int.__ge__, "<=": int.__le__, "==": int.__eq__, "!=": int.__ne__, ">": int.__gt__, "<": int.__lt__,
}


class KnownFindingsError(ValueError):
    """A findings file that cannot be used; the message names the file, the entry, the key, the value and the rule."""


@dataclass(frozen=True)
class Finding:
    """One entry of a findings file (module docstring)."""

    id: str
    reason: str
    issue: str
    framework: str | None = None
    targets: tuple[str, ...] = ()
    versions: SpecifierSet | None = None
    expires: datetime.date | None = None
    suites: tuple[str, ...] = ()  # the suites whose runs show it: where it can be judged stale (none: any)
    kernels: dict = field(default_factory=dict)
    cpu_flags: tuple[str, ...] = ()
    # One dict per match table: key -> the checked condition (a tuple of names, a predicate, a bool, a regex).
    match: tuple[dict, ...] = ()

    @property
    def known(self) -> Known:
        return Known(self.id, self.reason, self.issue)

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and today > self.expires

    # --- where it applies ---------------------------------------------------------------------------------
    def names(self, target: str) -> bool:
        """Whether `target` is among the entry's targets (NAME@PYTHON counts as NAME), or it names none."""
        return not self.targets or target in self.targets or target.partition("@")[0] in self.targets

    def concerns(self, target: str, environment: dict) -> bool:
        """Whether the entry is about `target` (its name, and the framework its runtime reports), whatever the version."""
        if not self.names(target):
            return False
        return self.framework is None or self.framework in _runtime(environment, target).get("versions", {})

    def applies(self, target: str, environment: dict) -> bool | None:
        """Whether the entry applies to `target` in the run described by `environment`: its name or framework,
        the framework's version and the kernel and CPU conditions. None: a condition cannot be decided from
        what the report records."""
        runtime = _runtime(environment, target)
        if not self.names(target):
            return False
        if self.framework is not None and "versions" not in runtime:
            return None  # which frameworks the target runs is not recorded
        if not self.concerns(target, environment):
            return False
        if self.versions is not None:
            try:
                version = Version(str(runtime["versions"][self.framework]))
            except (KeyError, InvalidVersion):
                return None
            if not self.versions.contains(version, prereleases=True):
                return False
        for fact, wanted in self.kernels.items():
            facts = runtime.get("kernels")
            if not isinstance(facts, dict) or fact not in facts:
                return None
            if facts[fact] != wanted:
                return False
        if self.cpu_flags:
            flags = environment.get("cpu_flags")
            if not isinstance(flags, list):
                return None
            if not set(self.cpu_flags) <= set(flags):
                return False
        return True

    # --- which results ------------------------------------------------------------------------------------
    def selects(self, result: Result) -> bool:
        """Whether the result's case and check are among those one of the entry's match tables is about (its
        outcome and detail aside)."""
        return any(_selects(table, result.case, result.check, result.target) for table in self.match)

    def expects_failure(self, case, target: str, check: str = "forward") -> bool:
        """Whether a strict match table of the entry selects this case: it is expected to be a discrepancy."""
        return any(table.get("strict") and _selects(table, case, check, target) for table in self.match)

    def explains(self, result: Result) -> bool:
        """Whether one of the entry's match tables explains this discrepancy: its case, check, outcome and detail."""
        for table in self.match:
            if result.outcome not in table.get("outcome", DISCREPANCY_OUTCOMES):
                continue
            detail = table.get("detail")
            if detail is not None and not detail.search(result.message):
                continue
            if _selects(table, result.case, result.check, result.target):
                return True
        return False


def _selects(table: dict, case, check: str, target: str) -> bool:
    """Whether a case, check and target meet a match table's conditions (outcome and detail aside)."""
    facts = {
        "check": check, "dtype": case.dtype, "mode": case.mode, "values": case.values, "defect": case.defect,
        "groups": case.groups, "spatial_rank": case.spatial_rank,
        "channels_per_group": case.in_channels // case.groups if case.groups > 0 else None,
        "out_channels_per_group": case.out_channels // case.groups if case.groups > 0 else None,
        # the largest dilation of any axis (an invalid case's float or empty dilation has none)
        "largest_dilation": max(case.dilation) if case.dilation and all(type(d) is int for d in case.dilation) else None,
        "valid": case.valid, "bias": case.bias,
        # outside torch's, ONNX's and Keras's documented domain (output_padding < stride) on some axis
        "output_padding_past_stride": any(op >= s for op, s in zip(case.output_padding, case.stride)),
    }
    for key, condition in table.items():
        if key in CHOICES and key != "outcome" and facts[key] not in condition:
            return False
        if key in NUMBERS and (facts[key] is None or not condition(facts[key])):
            return False
        if key in FLAGS and facts[key] != condition:
            return False
        if key == "case_id" and case.id not in condition:
            return False
        if key == "target" and target.partition("@")[0] not in condition and target not in condition:
            return False
    return True


def _runtime(environment: dict, target: str) -> dict:
    runtime = environment.get("runtime", {})
    found = runtime.get(target) if isinstance(runtime, dict) else None
    return found if isinstance(found, dict) else {}


# --- reading a file ---------------------------------------------------------------------------------------
def shipped_path() -> Path:
    """The findings file shipped with convt-oracle (its entries: the README's Findings)."""
    return Path(str(resources.files("convt_oracle").joinpath(SHIPPED)))


def resolve(option: str | None) -> Path | None:
    """The findings file an option names: None or "" for the shipped one, "none" for no file at all."""
    if option is None or option == "":
        return shipped_path()
    if option.strip().lower() == OFF:
        return None
    return Path(option)


def from_option(option: str | None) -> tuple[str, tuple[Finding, ...]] | None:
    """(the file's name, its entries) for an option's value as `run --known`, `gate --known` and the plugin's
    `--convt-known` take it (`resolve`), or None for "none"; KnownFindingsError for a file that cannot be used."""
    path = resolve(option)
    return None if path is None else (str(path), load(path))


def load(path) -> tuple[Finding, ...]:
    """The entries of the findings file at `path`, checked (KnownFindingsError otherwise)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise KnownFindingsError(f"{path}: cannot read the findings file: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise KnownFindingsError(f"{path}: not valid TOML: {error}") from None
    return parse(data, str(path))


def parse(data: dict, source: str = "the findings file") -> tuple[Finding, ...]:
    """The entries of a parsed findings file, checked."""
    unknown = sorted(set(data) - {"finding"})
    if unknown:
        raise KnownFindingsError(f"{source}: unknown top-level key {unknown[0]!r}; a findings file holds [[finding]] tables only")
    entries = data.get("finding", [])
    if not isinstance(entries, list):
        raise KnownFindingsError(f"{source}: 'finding' must be an array of tables ([[finding]]), not {type(entries).__name__}")
    findings, seen = [], set()
    for number, entry in enumerate(entries, 1):
        finding = _entry(entry, f"{source}: finding {number}")
        if finding.id in seen:
            raise KnownFindingsError(f"{source}: finding {number}: id: {finding.id!r} is given twice; ids are unique")
        seen.add(finding.id)
        findings.append(finding)
    return tuple(findings)


def _entry(entry, where: str) -> Finding:
    if not isinstance(entry, dict):
        raise KnownFindingsError(f"{where}: expected a table, got {type(entry).__name__}")
    identity = entry.get("id")
    if not isinstance(identity, str) or not _ID.match(identity):
        raise KnownFindingsError(
            f"{where}: id: got {identity!r}; expected a name of letters, digits and - _ . (starting with a letter or digit)"
        )
    where = f"{where} ({identity!r})"

    def fail(key, value, rule):
        raise KnownFindingsError(f"{where}: {key}: got {value!r}; {rule}")

    for key in entry:
        if key not in ENTRY_KEYS:
            fail(key, entry[key], f"not a key of a finding; the keys are {', '.join(ENTRY_KEYS)}")
    for key in ("reason", "issue"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            fail(key, entry.get(key), "expected a non-empty string (issue: a link, or the README section that explains it)")
    framework = entry.get("framework")
    if framework is not None and (not isinstance(framework, str) or not framework.strip()):
        fail("framework", framework, "expected a framework's module name, e.g. 'torch'")
    targets = entry.get("targets", [])
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not all(isinstance(t, str) and t.strip() for t in targets):
        fail("targets", entry.get("targets"), "expected a target name or a list of them (adapter names or 'module:function')")
    if framework is None and not targets:
        fail("targets", entry.get("targets"), "a finding names its framework, its targets, or both")
    versions = entry.get("versions")
    if versions is not None:
        if framework is None:
            fail("versions", versions, "a version range needs `framework` (whose version it constrains)")
        try:
            versions = SpecifierSet(versions) if isinstance(versions, str) else fail(
                "versions", versions, "expected a string of PEP 440 specifiers, e.g. '>=2.1, <=2.13.0'")
        except InvalidSpecifier:
            fail("versions", versions, "expected PEP 440 specifiers, e.g. '>=2.1, <=2.13.0' (packaging.specifiers)")
    expires = entry.get("expires")
    if expires is not None and (isinstance(expires, datetime.datetime) or not isinstance(expires, datetime.date)):
        fail("expires", expires, "expected a TOML date, e.g. expires = 2027-06-30 (no quotes, no time)")
    suites = entry.get("suites", [])
    if isinstance(suites, str):
        suites = [suites]
    if not isinstance(suites, list) or not all(isinstance(name, str) and name for name in suites):
        fail("suites", entry.get("suites"), "expected a suite name or a list of them (convt_oracle.cases.suites)")
    from convt_oracle.cases.suites import SUITES

    unknown = [name for name in suites if name not in SUITES and name != "custom"]
    if unknown:
        fail("suites", entry.get("suites"), f"unknown suite {unknown[0]!r}; known: {', '.join(sorted(SUITES))}, custom")
    conditions = entry.get("where", {})
    if not isinstance(conditions, dict):
        fail("where", conditions, f"expected a table with the keys {', '.join(WHERE_KEYS)}")
    for key in conditions:
        if key not in WHERE_KEYS:
            fail(f"where.{key}", conditions[key], f"not a condition; the conditions are {', '.join(WHERE_KEYS)}")
    kernels = conditions.get("kernels", {})
    if not isinstance(kernels, dict) or not all(isinstance(v, (str, bool, int, float)) for v in kernels.values()):
        fail("where.kernels", kernels, "expected a table of kernel facts and their values, e.g. { onednn = true }")
    cpu_flags = conditions.get("cpu_flags", [])
    if not isinstance(cpu_flags, list) or not all(isinstance(flag, str) and flag for flag in cpu_flags):
        fail("where.cpu_flags", cpu_flags, "expected a list of CPU flag names as /proc/cpuinfo spells them, e.g. ['avx512_bf16']")
    match = entry.get("match", [])
    tables = [match] if isinstance(match, dict) else match
    if not isinstance(tables, list) or not all(isinstance(table, dict) and table for table in tables):
        fail("match", match, f"expected [[finding.match]] tables, each with some of the keys {', '.join(MATCH_KEYS)}")
    return Finding(
        id=identity, reason=entry["reason"].strip(), issue=entry["issue"].strip(), framework=framework,
        targets=tuple(targets), versions=versions, expires=expires, suites=tuple(suites), kernels=dict(kernels),
        cpu_flags=tuple(cpu_flags),
        match=tuple(_table(table, fail) for table in tables),
    )


def _table(table: dict, fail) -> dict:
    """A match table's conditions, checked; `strict` made explicit (true by default with case_id)."""
    conditions = {key: _condition(key, value, fail) for key, value in table.items()}
    conditions.setdefault("strict", "case_id" in conditions)
    return conditions


def _condition(key, value, fail):
    """A match key's value, checked, as the condition `Finding.selects` / `explains` uses."""
    name = f"match.{key}"
    if key in CHOICES:
        names = [value] if isinstance(value, str) else value
        allowed = CHOICES[key]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            fail(name, value, f"expected one or a list of: {', '.join(allowed)}")
        unknown = [n for n in names if n not in allowed]
        if unknown:
            fail(name, value, f"unknown {unknown[0]!r}; expected among {', '.join(allowed)}")
        return tuple(names)
    if key in NUMBERS:
        return _number_condition(name, value, fail)
    if key in (*FLAGS, "strict"):
        if not isinstance(value, bool):
            rule = {"valid": "valid cases only", "bias": "cases with a bias only"}.get(
                key, "every case the table selects is a discrepancy")
            fail(name, value, f"expected true ({rule}) or false")
        return value
    if key in ("case_id", "target"):
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            what = "case ids (Case.id, e.g. '1d-b1-c2x3-g1-i2-k2-s1-d1-p2.1-op0-nobias-f32-mexplicit-r9')" if key == "case_id" \
                else "target names"
            fail(name, value, f"expected one or a list of {what}")
        return frozenset(names)
    if key == "detail":
        if not isinstance(value, str) or not value:
            fail(name, value, "expected a regular expression (searched in the result's detail and message)")
        try:
            return re.compile(value)
        except re.error as error:
            fail(name, value, f"not a regular expression: {error}")
    fail(name, value, f"not a match key; the keys are {', '.join(MATCH_KEYS)}")


def _number_condition(name, value, fail):
    rule = "expected an int, a list of ints, or a string '<op> N' (op one of < <= > >= == !=), 'odd' or 'even'"
    if isinstance(value, bool):
        fail(name, value, rule)
    if isinstance(value, int):
        return lambda n: n == value
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        allowed = frozenset(value)
        return lambda n: n in allowed
    if value in ("odd", "even"):
        parity = 1 if value == "odd" else 0
        return lambda n: n % 2 == parity
    found = _COMPARISON.match(value) if isinstance(value, str) else None
    if found is None:
        fail(name, value, rule)
    compare, bound = _COMPARE[found.group(1)], int(found.group(2))
    return lambda n: compare(n, bound)


# --- a run against the findings -----------------------------------------------------------------------------
def apply(report: Report, findings, *, source: str = "", today: datetime.date | None = None) -> Report:
    """The report with each discrepancy an entry explains marked known (`Result.known`: the first entry that
    does), and the entries that went stale or expired recorded (module docstring). `source`: the file's name
    for the report."""
    today = today or datetime.date.today()
    environment = report.environment
    ran = [target for target in report.targets if target not in report.targets_not_run]
    expired = [f for f in findings if f.expired(today) and any(f.concerns(t, environment) for t in ran)]
    live = [f for f in findings if not f.expired(today)]
    applicable = {target: [f for f in live if f.applies(target, environment)] for target in ran}
    results, explained = [], {}
    for result in report.results:
        if result.outcome not in C.NOT_DISCREPANCIES:
            finding = next((f for f in applicable.get(result.target, ()) if f.explains(result)), None)
            if finding is not None:
                result = dataclasses.replace(result, known=finding.known)
                explained.setdefault(finding.id, set()).add(result.target)
        results.append(result)
    stale = []
    if report.complete:
        for finding in (f for f in live if not f.suites or report.suite in f.suites):
            tested = sorted(
                target for target in ran if finding in applicable[target] and target not in explained.get(finding.id, ())
                and any(r.target == target and r.compared and finding.selects(r) for r in report.results)
            )
            if tested:
                stale.append({"id": finding.id, "targets": tested, "issue": finding.issue})
    return dataclasses.replace(
        report,
        results=tuple(results),
        known_file=source or report.known_file,
        known_stale=tuple(stale),
        known_expired=tuple(
            {"id": f.id, "expires": f.expires.isoformat(), "issue": f.issue} for f in expired
        ),
    )


def applicable(findings, target: str, environment: dict, today: datetime.date | None = None) -> list[Finding]:
    """The unexpired entries that apply to `target` in `environment` (the pytest plugin's question)."""
    today = today or datetime.date.today()
    return [f for f in findings if not f.expired(today) and f.applies(target, environment)]
