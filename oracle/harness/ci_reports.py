"""Reports a CI understands, of a run (`convt-oracle run`) or of a gate (`convt-oracle gate`).

- JUnit XML (`run_junit`, `gate_junit`): a testsuite per target, a testcase per case, dtype and check. A
  discrepancy (run) or a regression (gate) is a `failure` whose text is in the element's body as well as its
  `message` attribute (GitLab shows the body only); unsupported, refused and known results are `skipped` with
  the reason; each testsuite has the environment as properties and again in its `system-out`. Written with
  the standard library's ElementTree (characters XML 1.0 cannot hold are dropped; the rest as ASCII with
  character references).
- Markdown (`run_markdown`, `gate_markdown`), for `$GITHUB_STEP_SUMMARY`: one headline with the counts and
  versions, then a collapsed table per outcome or category; always under MARKDOWN_LIMIT (GitHub's 1 MiB
  per step), the rows past it left out with their number.
- HTML (`run_html`, `gate_html`): one self-contained file (jinja2, templates/report.html.j2): the same
  tables, and for each discrepancy with an error map (convt_oracle.compare.ErrorMap) a heatmap of
  |actual - expected| / bound over the output's spatial axes, per channel too where there are few, as
  PNG data URIs (matplotlib's colour map and PNG writer). Needs the `report` extra.
"""

from __future__ import annotations

import base64
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass

from convt_oracle.compare import NOT_COMPARED, OUTCOMES, PASS
from convt_oracle.harness.report import Report, Result
from convt_oracle.precision import describe_model

MARKDOWN_LIMIT = 1_000_000  # bytes; GitHub takes at most 1 MiB (1,048,576 bytes) of step summary per step
MESSAGE_LINES = 12  # lines of a result's message in a table cell's place (Markdown) or a panel (HTML)

# The heatmaps' colour scale: error / bound on a log scale from 1e-3 to 1e3, blue within the bound (<= 1), red
# beyond it; an exact element (0) white, a wrong non-finite one (inf) black.
HEATMAP_COLORMAP = "RdBu_r"
HEATMAP_DECADES = 3  # the scale spans 10**-3 to 10**3
HEATMAP_PIXELS = 256  # the larger side of a heatmap as shown, in CSS pixels


class ReportLibraryMissing(Exception):
    """A report needs a library that is not installed; the message says which and how to install it."""


def check_html_available() -> None:
    """ReportLibraryMissing unless jinja2 and matplotlib (the `report` extra) can be imported."""
    for module in ("jinja2", "matplotlib"):
        try:
            __import__(module)
        except ImportError as error:
            raise ReportLibraryMissing(
                f"--html: needs {module} ({error}); install the report extra: pip install 'convt-oracle[report]'"
            ) from None


# --- what a run's and a gate's results become -------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One testcase (JUnit), table row (Markdown, HTML) and perhaps heatmap panel (HTML)."""

    suite: str  # the testsuite: a target, or a gate's pair of targets
    target: str
    result: Result  # the result shown (the candidate's in a gate, or the baseline's where it lacks one)
    group: str  # the outcome (run) or category (gate) it is listed under
    state: str  # "passed", "failure" or "skipped"
    summary: str  # one line: what happened
    baseline: Result | None = None  # a gate's baseline result
    regression: bool = False

    @property
    def name(self) -> str:
        return f"{self.result.case.id} [{self.result.check}]"


def _reason(result: Result) -> str:
    """Why a result is skipped: the known finding, or the target's reason for unsupported / refused."""
    if result.known is not None:
        known = result.known
        text = f"known finding {known.id}" + (f": {known.reason}" if known.reason else "")
        return text + (f" ({known.issue})" if known.issue else "") + f"; outcome {result.outcome}"
    return f"{result.outcome}: {result.detail or 'no reason given'}"


def _ratio(result: Result | None) -> str:
    if result is None or result.max_bound_ratio is None:
        return ""
    return f"{result.max_bound_ratio:.3g}"


def _diagnosis(result: Result | None) -> str:
    """What kind of wrong a discrepancy is (convt_oracle.diagnosis): its name and parameters; "" where none."""
    if result is None or result.diagnosis is None:
        return ""
    diagnosis = result.diagnosis
    return diagnosis.name + ("" if not diagnosis.params else " " + ", ".join(f"{k}={v}" for k, v in diagnosis.params.items()))


def _error(result: Result | None) -> str:
    if result is None or result.max_abs_error is None:
        return ""
    return f"{result.max_abs_error:.3g}"


PRECISION_HEADER = ["target", "dtype", "check", "behaves like", "rounding", "errors toward zero", "bits kept",
                    "results (left out)"]


def precision_rows(report: Report) -> list[list[str]]:
    """The precision profile (Report.precision): a row per target, dtype and check."""
    rows = []
    for found in report.precision():
        model = describe_model(found.model) if found.model is not None else f"none fits ({found.worst_ratio:.3g} x)"
        share = f"{100 * found.toward_zero / found.errors:.1f}% of {found.errors:,}" if found.errors else "no error"
        rounding = found.rounding.upper() if found.biased else found.rounding
        bits = "exact" if found.errors == 0 and found.max_relative == 0 else f"{found.bits:.1f}"
        rows.append([found.target, found.dtype, found.check, model, rounding, share, bits,
                     f"{found.results} ({found.left_out})"])
    return rows


def run_rows(report: Report) -> list[Row]:
    rows = []
    for result in report.results:
        if not result.ok:
            state, group = "failure", result.outcome
        elif result.known is not None:
            state, group = "skipped", "known"
        elif result.outcome in NOT_COMPARED:
            state, group = "skipped", result.outcome
        else:
            state, group = "passed", result.outcome
        lines = [line for line in result.message.splitlines() if not line.startswith("diagnosis: ")]
        first = lines[0] if lines else ""
        summary = _reason(result) if state == "skipped" else f"{result.outcome}" + (f": {first}" if first else "")
        if state == "failure" and result.diagnosis is not None:
            summary += f" (diagnosis: {_diagnosis(result)})"
        rows.append(Row(result.target, result.target, result, group, state, summary, regression=state == "failure"))
    return rows


GATE_PRECISION_HEADER = ["target", "dtype", "check", "category", "baseline behaves like", "candidate behaves like"]


def gate_precision_rows(gate_result) -> list[list[str]]:
    """The precision profiles that changed between the runs (regressions first)."""
    ordered = sorted(gate_result.precision, key=lambda change: change.category not in gate_result.fail_on)
    return [[change.target, change.dtype, change.check,
             change.category + (" (regression)" if change.category in gate_result.fail_on else ""),
             "absent" if change.baseline is None else change.baseline.words(),
             "absent" if change.candidate is None else change.candidate.words()] for change in ordered]


def gate_rows(gate_result) -> list[Row]:
    from convt_oracle.harness.gate import MISSING_CASE, describe

    rows = []
    for entry in gate_result.entries:
        result = entry.result
        regression = entry.category in gate_result.fail_on
        if regression:
            state = "failure"
        elif entry.category == MISSING_CASE or entry.candidate.known is not None or entry.candidate.outcome in NOT_COMPARED:
            state = "skipped"
        else:
            state = "passed"
        summary = f"{entry.category}: {describe(entry)}"
        if state == "skipped" and entry.category != MISSING_CASE:
            summary += f"; {_reason(entry.candidate)}"
        suite = entry.target if entry.baseline_target in (None, entry.target) else f"{entry.baseline_target} -> {entry.target}"
        rows.append(Row(suite, entry.target, result, entry.category, state, summary, baseline=entry.baseline,
                        regression=regression))
    return rows


GATE_HEADER = ["target", "case", "check", "old", "new", "old error", "new error", "old error / bound",
               "new error / bound", "diagnosis"]


def _gate_cells(row: Row, code: bool = False) -> list[str]:
    """A gate table's cells for `row` (GATE_HEADER); the candidate's columns empty where it lacks the result."""
    new = None if row.group == "missing_case" else row.result
    case = f"`{row.result.case.id}`" if code else row.result.case.id
    return [row.target, case, row.result.check, "" if row.baseline is None else row.baseline.outcome,
            "" if new is None else new.outcome, _error(row.baseline), _error(new), _ratio(row.baseline), _ratio(new),
            _diagnosis(new) or _diagnosis(row.baseline)]


def _versions(report: Report, targets) -> str:
    frameworks = report.environment.get("frameworks", {})
    shown = [f"{target} {frameworks[target]}" for target in targets if target in frameworks]
    shown += [f"{name} {report.environment[name]}" for name in ("numpy", "python") if name in report.environment]
    return ", ".join(shown)


# --- JUnit XML --------------------------------------------------------------------------------------------
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot hold (terminal escapes, NUL)."""
    return _NOT_XML.sub("", text)


def _failure_text(row: Row) -> str:
    parts = [row.summary]
    if row.result.message:
        parts.append(row.result.message)
    if row.result.detail and row.result.detail not in row.result.message:
        parts.append(row.result.detail)
    parts.append("To reproduce:\n" + row.result.reproducer())
    return "\n\n".join(parts)


def _environment_properties(suite: ET.Element, environment: dict, prefix: str = "") -> None:
    properties = ET.SubElement(suite, "properties")
    for key, value in _flat(environment, prefix).items():
        ET.SubElement(properties, "property", name=_xml_text(key), value=_xml_text(str(value)))


def _flat(record, prefix: str = "") -> dict:
    """{"a.b.c": value as text} of a nested record (None as "unset", a list comma-separated)."""
    if isinstance(record, list):
        return {prefix: ", ".join(map(str, record)) or "none"}
    if not isinstance(record, dict):
        return {prefix: "unset" if record is None else record}
    flat = {}
    for key, value in record.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _junit(title: str, rows: list[Row], suites: dict[str, dict], not_run: dict[str, str],
           verdicts: dict[str, list[tuple[str, str, str | None]]] | None = None) -> str:
    """The JUnit XML of `rows` grouped into testsuites; `suites`: {suite name: environment}; `not_run`: {suite:
    reason}, each an `error` testcase; `verdicts`: {suite: [(testcase name, what it says, failure message or
    None)]}, testcases that judge a suite's results together (the precision profile's bias test)."""
    root = ET.Element("testsuites", name=title)
    totals = Counter()
    for name, environment in suites.items():
        members = [row for row in rows if row.suite == name]
        suite = ET.SubElement(root, "testsuite", name=_xml_text(name))
        _environment_properties(suite, environment)
        counts = Counter(row.state for row in members)
        seconds = sum(row.result.target_seconds for row in members)
        for row in members:
            case = ET.SubElement(suite, "testcase", name=_xml_text(row.name), classname=_xml_text(row.target),
                                 time=f"{row.result.target_seconds:.6f}")
            if row.state == "failure":
                failure = ET.SubElement(case, "failure", type=row.group, message=_xml_text(row.summary))
                failure.text = _xml_text(_failure_text(row))
            elif row.state == "skipped":
                skipped = ET.SubElement(case, "skipped", message=_xml_text(row.summary))
                skipped.text = _xml_text(row.summary)
        for label, said, failed in (verdicts or {}).get(name, ()):
            case = ET.SubElement(suite, "testcase", name=_xml_text(label), classname=_xml_text(name), time="0")
            if failed is not None:
                failure = ET.SubElement(case, "failure", type="precision", message=_xml_text(failed))
                failure.text = _xml_text(said)
                counts["failure"] += 1
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _xml_text(said)
        if name in not_run:
            case = ET.SubElement(suite, "testcase", name="environment", classname=_xml_text(name), time="0")
            error = ET.SubElement(case, "error", type="not_run", message=_xml_text(f"not run: {not_run[name]}"))
            error.text = _xml_text(f"the target did not run: {not_run[name]}")
            counts["error"] += 1
        tests = len(members) + (name in not_run) + len((verdicts or {}).get(name, ()))
        suite.set("tests", str(tests))
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", f"{seconds:.6f}")
        out = ET.SubElement(suite, "system-out")
        out.text = _xml_text("environment:\n" + json.dumps(environment, indent=1, default=str))
        totals.update(tests=tests, failures=counts["failure"], errors=counts["error"], skipped=counts["skipped"])
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="us-ascii", xml_declaration=False).decode("ascii")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def run_junit(report: Report) -> str:
    """A run report as JUnit XML: a testsuite per target (one that did not run: an `error` testcase)."""
    environment = {key: value for key, value in report.environment.items() if key != "target_kernels"}
    suites = {}
    for target in report.targets:
        kernels = report.environment.get("target_kernels", {}).get(target)
        suites[target] = {"suite": report.suite, "seed": report.seed, "dtypes": ",".join(report.dtypes),
                          **environment, **({"target_kernels": kernels} if kernels is not None else {})}
    verdicts = {}
    for found in report.precision():
        failed = f"rounds {found.rounding}: {found.words()}" if found.biased else None
        verdicts.setdefault(found.target, []).append((f"precision [{found.dtype} {found.check}]", found.words(), failed))
    return _junit("convt-oracle run", run_rows(report), suites, dict(report.targets_not_run), verdicts)


def gate_junit(gate_result) -> str:
    """A gate as JUnit XML: a testsuite per pair of targets, a failure per regression (GateResult.fail_on)."""
    rows = gate_rows(gate_result)
    suites = {}
    environment = {
        "fail_on": ",".join(gate_result.fail_on),
        "baseline": {"path": gate_result.baseline.path, **gate_result.baseline.report.environment},
        "candidate": {"path": gate_result.candidate.path, **gate_result.candidate.report.environment},
    }
    for row in rows:
        suites.setdefault(row.suite, environment)
    verdicts = {}
    for change in gate_result.precision:
        suites.setdefault(change.target, environment)
        failed = f"{change.category}: {change.describe()}" if change.category in gate_result.fail_on else None
        verdicts.setdefault(change.target, []).append(
            (f"precision [{change.dtype} {change.check}]", change.describe(), failed))
    return _junit("convt-oracle gate", rows, suites, {}, verdicts)


# --- Markdown ---------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown(headline: list[str], tables: list[tuple[str, list[str], list[list[str]], bool]]) -> str:
    """The headline, then each (title, header, rows, open) as a collapsed table, within MARKDOWN_LIMIT bytes:
    rows past the limit are left out, with their number."""
    text = "\n".join(headline) + "\n"
    budget = MARKDOWN_LIMIT - len(text.encode()) - 200 * (len(tables) + 1)  # room for each table's closing lines
    parts = [text]
    for title, header, rows, is_open in tables:
        head = (f"\n<details{' open' if is_open else ''}><summary><b>{title}</b> ({len(rows)})</summary>\n\n"
                f"| {' | '.join(header)} |\n|{'|'.join('---' for _ in header)}|\n")
        budget -= len(head.encode())
        parts.append(head)
        shown = 0
        for row in rows:
            line = "| " + " | ".join(_cell(value) for value in row) + " |\n"
            size = len(line.encode())
            if size > budget:
                break
            budget -= size
            parts.append(line)
            shown += 1
        if shown < len(rows):
            parts.append(f"\n... and {len(rows) - shown} more rows, left out to keep this summary under 1 MiB "
                         f"(the JSON report has them all)\n")
        parts.append("\n</details>\n")
    return "".join(parts)


def run_markdown(report: Report) -> str:
    """A run report as Markdown: the verdict, counts and versions, then a collapsed table per discrepancy
    outcome (and one of known findings)."""
    counts = Counter(result.outcome for result in report.results)
    headline = [
        f"### convt-oracle run: {report.verdict()}",
        "",
        f"suite `{report.suite}` (seed {report.seed}), dtypes {', '.join(report.dtypes)}; "
        f"{_versions(report, report.targets)}",
        "",
        "counts: " + ", ".join(f"{outcome} {counts[outcome]}" for outcome in OUTCOMES if counts[outcome]),
    ]
    headline += [f"- **{target}** not run: {_cell(reason)}" for target, reason in report.targets_not_run.items()]
    rows = run_rows(report)
    tables = []
    profiles = precision_rows(report)
    if profiles:
        tables.append(("precision: what each target behaves like", PRECISION_HEADER, profiles, bool(report.biased())))
    for group in [*(o for o in OUTCOMES if o not in (PASS, *NOT_COMPARED)), "known"]:
        members = [row for row in rows if row.group == group]
        if members:
            tables.append((group, ["target", "case", "check", "max abs error", "error / bound", "diagnosis", "message"],
                           [[row.target, f"`{row.result.case.id}`", row.result.check, _error(row.result),
                             _ratio(row.result), _diagnosis(row.result), row.summary] for row in members], False))
    return _markdown(headline, tables)


def gate_markdown(gate_result) -> str:
    """A gate as Markdown: the verdict, counts and versions, the warnings, then a collapsed table per
    category that changed (regressions first, open)."""
    from convt_oracle.harness.gate import CATEGORIES, UNCHANGED

    counts = gate_result.counts()
    headline = [
        f"### convt-oracle gate: {gate_result.verdict()}",
        "",
        _cell(gate_result.headline()),
        "",
        "counts: " + ", ".join(f"{category} {counts[category]}" for category in CATEGORIES if counts[category]),
    ]
    if gate_result.warnings:
        headline += ["", f"<details><summary>{len(gate_result.warnings)} warnings: the machines differ in what "
                         f"decides the kernels</summary>", ""]
        headline += [f"- {_cell(warning)}" for warning in gate_result.warnings] + ["", "</details>"]
    rows = gate_rows(gate_result)
    ordered = sorted((c for c in CATEGORIES if c != UNCHANGED), key=lambda c: c not in gate_result.fail_on)
    tables = []
    if gate_result.precision:
        tables.append(("precision: what the targets behave like, where it changed", GATE_PRECISION_HEADER,
                       gate_precision_rows(gate_result), bool(gate_result.precision_regressions)))
    for category in ordered:
        members = [row for row in rows if row.group == category]
        if members:
            title = category + (" (regression)" if category in gate_result.fail_on else "")
            tables.append((title, GATE_HEADER,
                           [_gate_cells(row, code=True) for row in members], category in gate_result.fail_on))
    return _markdown(headline, tables)


# --- HTML -------------------------------------------------------------------------------------------------
def _template():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("convt_oracle.harness", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2")


def _colors(values):
    """RGBA (0-1) of error / bound values on the heatmaps' scale (HEATMAP_*)."""
    import matplotlib
    import numpy as np

    values = np.asarray(values, dtype=float)
    scaled = (np.log10(np.clip(values, 10.0**-HEATMAP_DECADES, 10.0**HEATMAP_DECADES)) + HEATMAP_DECADES)
    rgba = matplotlib.colormaps[HEATMAP_COLORMAP](scaled / (2 * HEATMAP_DECADES))
    rgba[values == 0] = (1.0, 1.0, 1.0, 1.0)
    rgba[~np.isfinite(values)] = (0.0, 0.0, 0.0, 1.0)
    return rgba


def heatmap(cells) -> dict:
    """One map (rows x columns of error / bound) as a PNG data URI, with the size to show it at."""
    import matplotlib.image

    rows, columns = len(cells), len(cells[0])
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, _colors(cells), format="png", metadata={"Software": None})
    scale = max(4, HEATMAP_PIXELS // max(rows, columns))
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    peak = max(max(row) for row in cells)
    return {"uri": uri, "width": columns * scale, "height": max(rows * scale, 12), "peak": f"{peak:.3g}"}


def _legend() -> list[dict]:
    """The colour scale's stops: a CSS colour and a label per decade."""
    stops = []
    for exponent in range(-HEATMAP_DECADES, HEATMAP_DECADES + 1):
        r, g, b, _ = _colors([10.0**exponent])[0]
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # white text on a dark stop
        stops.append({"color": f"rgb({round(r * 255)}, {round(g * 255)}, {round(b * 255)})",
                      "text": "white" if dark else "black", "label": f"1e{exponent}" if exponent else "1 (bound)"})
    return stops


def _axes(error_map) -> str:
    """What a map's rows and columns are, for its caption."""
    shape = error_map.spatial_shape
    rows, columns = error_map.block
    if len(shape) == 1:
        return f"one row along the output's axis of {shape[0]} ({columns} per cell)"
    lead = f"max over the first axis ({shape[0]}), then " if len(shape) == 3 else ""
    return (f"{lead}rows: {shape[-2]} positions ({rows} per cell), columns: {shape[-1]} ({columns} per cell); "
            f"max over the batch and channels")


def _panel(title: str, result: Result, baseline: Result | None, group: str, anchor: str) -> dict:
    """A discrepancy's heatmaps (the candidate's, and a gate's baseline's where it has one), message and reproducer."""
    maps = []
    for label, source in (("baseline", baseline), ("candidate" if baseline is not None else "", result)):
        error_map = None if source is None or source.comparison is None else source.comparison.error_map
        if error_map is None:
            continue
        maps.append({"label": label, "axes": _axes(error_map), "overall": heatmap(error_map.cells),
                     "channels": [heatmap(channel) for channel in error_map.channels]})
    message = "\n".join(result.message.splitlines()[:MESSAGE_LINES])
    return {"title": title, "group": group, "anchor": anchor, "maps": maps, "message": message,
            "reproducer": result.reproducer()}


def _html(title: str, headline: list[str], warnings: list[str], sections: list[dict], panels: list[dict],
          environment: dict) -> str:
    return _template().render(
        title=title, headline=headline, warnings=warnings, sections=sections, panels=panels, legend=_legend(),
        environment=json.dumps(environment, indent=1, default=str),
    )


def _has_map(result: Result | None) -> bool:
    return result is not None and result.comparison is not None and result.comparison.error_map is not None


def run_html(report: Report) -> str:
    """A run report as one self-contained HTML file: the tables per outcome and a heatmap per discrepancy."""
    rows = run_rows(report)
    panels, anchors = [], {}
    for row in rows:
        if _has_map(row.result):
            anchors[id(row)] = f"panel-{len(panels) + 1}"
            panels.append(_panel(f"{row.result.outcome}: {row.target} on {row.result.case_id}", row.result, None,
                                 row.group, anchors[id(row)]))
    sections = []
    profiles = precision_rows(report)
    if profiles:
        biased = bool(report.biased())
        sections.append({"title": "precision: what each target behaves like", "open": biased, "regression": biased,
                         "header": PRECISION_HEADER, "rows": [{"cells": row, "anchor": None} for row in profiles]})
    for group in [*(o for o in OUTCOMES if o not in (PASS, *NOT_COMPARED)), "known"]:
        members = [row for row in rows if row.group == group]
        if members:
            sections.append({
                "title": group, "open": group != "known", "regression": group != "known",
                "header": ["target", "case", "check", "max abs error", "error / bound", "diagnosis", "message"],
                "rows": [{"cells": [row.target, row.result.case.id, row.result.check, _error(row.result),
                                    _ratio(row.result), _diagnosis(row.result), row.summary], "anchor": anchors.get(id(row))}
                         for row in members],
            })
    counts = Counter(result.outcome for result in report.results)
    headline = [
        f"suite {report.suite!r} (seed {report.seed}), dtypes {', '.join(report.dtypes)}; {_versions(report, report.targets)}",
        "counts: " + ", ".join(f"{outcome} {counts[outcome]}" for outcome in OUTCOMES if counts[outcome]),
    ]
    headline += [f"{target} not run: {reason}" for target, reason in report.targets_not_run.items()]
    return _html(f"convt-oracle run: {report.verdict()}", headline, [], sections, panels, report.environment)


def gate_html(gate_result) -> str:
    """A gate as one self-contained HTML file: a table per category that changed and a heatmap (baseline and
    candidate) per candidate discrepancy."""
    from convt_oracle.harness.gate import CATEGORIES, MISSING_CASE, UNCHANGED, failing

    rows = gate_rows(gate_result)
    panels, anchors = [], {}
    for row in rows:
        new = None if row.group == MISSING_CASE else row.result
        if new is not None and failing(new) and _has_map(new):
            anchors[id(row)] = f"panel-{len(panels) + 1}"
            panels.append(_panel(f"{row.group}: {row.target} on {new.case_id}", new, row.baseline, row.group,
                                 anchors[id(row)]))
    sections = []
    if gate_result.precision:
        regression = bool(gate_result.precision_regressions)
        sections.append({"title": "precision: what the targets behave like, where it changed", "open": regression,
                         "regression": regression, "header": GATE_PRECISION_HEADER,
                         "rows": [{"cells": row, "anchor": None} for row in gate_precision_rows(gate_result)]})
    for category in sorted((c for c in CATEGORIES if c != UNCHANGED), key=lambda c: c not in gate_result.fail_on):
        members = [row for row in rows if row.group == category]
        if members:
            sections.append({
                "title": category, "open": category in gate_result.fail_on, "regression": category in gate_result.fail_on,
                "header": GATE_HEADER,
                "rows": [{"cells": _gate_cells(row), "anchor": anchors.get(id(row))} for row in members],
            })
    counts = gate_result.counts()
    headline = [gate_result.headline(),
                "counts: " + ", ".join(f"{category} {counts[category]}" for category in CATEGORIES if counts[category])]
    environment = {"baseline": gate_result.baseline.report.environment,
                   "candidate": gate_result.candidate.report.environment}
    return _html(f"convt-oracle gate: {gate_result.verdict()}", headline, list(gate_result.warnings), sections, panels,
                 environment)


# --- run's report options ---------------------------------------------------------------------------------
RUN_RENDERERS = {"junit": run_junit, "markdown": run_markdown, "html": run_html}


def check_run_options(args) -> None:
    """Before a run: each of --junit, --markdown, --html given can be written (outputs.ReportNotWritable), and
    --html's libraries are there (ReportLibraryMissing)."""
    from convt_oracle.harness.outputs import check_writable

    for name in RUN_RENDERERS:
        path = getattr(args, name, None)
        if path:
            check_writable(f"--{name}", path)
    if getattr(args, "html", None):
        check_html_available()


def write_run_reports(report: Report, args) -> bool:
    """After a run: write each report asked for (atomically); False, having said why, if one was not written."""
    import sys

    from convt_oracle.harness.outputs import ReportNotWritable, write_atomically

    written = True
    for name, render in RUN_RENDERERS.items():
        path = getattr(args, name, None)
        if not path:
            continue
        try:
            write_atomically(path, render(report))
            print(f"{name} report written to {path}")
        except ReportNotWritable as error:
            print(f"convt-oracle run: --{name}: {error}", file=sys.stderr)
            written = False
    return written
