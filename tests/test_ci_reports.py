"""Reports a CI understands, of `convt-oracle run` and `convt-oracle gate`: JUnit XML read back by junitparser
(the parser of the EnricoMi publish-unit-test-result GitHub action), Markdown under 1 MiB, one self-contained
HTML file with a heatmap per discrepancy; and the error maps behind the heatmaps (convt_oracle.compare.ErrorMap).

The run is a real `convt-oracle run` of onnxruntime (unsupported cases), onnx.reference (raised, and value
mismatches on the `edge` suite) and a target that cannot start (an interpreter without numpy); the gate's
reports are crosschecks of a correct target and of wrong ones (tests/support/targets.py).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest

import convt_oracle
from convt_oracle import compare as C
from convt_oracle.harness import ci_reports
from convt_oracle.harness import gate as G
from convt_oracle.harness.cli import main
from convt_oracle.harness.report import Report

junitparser = pytest.importorskip("junitparser", reason="junitparser (the dev extra) reads the JUnit XML back")

SEED = 0
GOOD = "support.targets:lax_reference"
NOT_STARTING = f"onnx_reference@{sys.executable} -S"  # an interpreter without numpy: the target is not run
VALUE_OUTCOMES = (C.VALUE_MISMATCH, C.NONFINITE_MISMATCH)  # the discrepancies that have an error map


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real `convt-oracle run` writing every report: (its JSON as a dict, {kind: path})."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: no real adapters to run here")
    folder = tmp_path_factory.mktemp("run")
    paths = {kind: folder / f"run.{kind}" for kind in ("json", "junit", "markdown", "html")}
    done = subprocess.run(
        [sys.executable, "-m", "convt_oracle", "run", "--suite", "edge", "--dtypes", "float32,float16", "--targets",
         f"onnxruntime,onnx_reference,{NOT_STARTING}", "--seed", str(SEED), "--known", "none",  # discrepancies fail
         *(argument for kind, path in paths.items() for argument in (f"--{kind}", str(path)))],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]  # a target was not run
    for kind in ("junit", "markdown", "html"):
        assert f"{kind} report written to {paths[kind]}" in done.stdout
    return json.loads(paths["json"].read_text()), paths


def outcomes(data, target) -> Counter:
    return Counter(result["outcome"] for result in data["results"] if result["target"] == target)


# --- JUnit --------------------------------------------------------------------------------------------------
def test_the_run_s_junit_reads_back_a_suite_per_target_a_case_per_result(run):
    data, paths = run
    xml = junitparser.JUnitXml.fromfile(str(paths["junit"]))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == data["targets"] == ["onnxruntime", "onnx_reference", NOT_STARTING]
    # a discrepancy that a known finding explains (the shipped findings file) is skipped, not a failure
    discrepancies = [r for r in data["results"] if r["outcome"] not in C.NOT_DISCREPANCIES and r["known"] is None]
    # and a testcase per precision profile (Report.precision), which fails only where the rounding is biased
    profiles = data["precision"]
    assert profiles and not any(p["rounding"] in ("toward zero", "away from zero") for p in profiles)
    assert (xml.tests, xml.failures, xml.errors) == (len(data["results"]) + 1 + len(profiles), len(discrepancies), 1)
    for target in ("onnxruntime", "onnx_reference"):
        suite, counts = suites[target], outcomes(data, target)
        precision = {f"precision [{p['dtype']} {p['check']}]" for p in profiles if p["target"] == target}
        cases = [case for case in suite if case.name not in precision]
        assert len(cases) == suite.tests - len(precision) == sum(counts.values())
        assert {case.name for case in cases} == {f"{r['case_id'].removesuffix(':vjp')} [{r['check']}]"
                                                 for r in data["results"] if r["target"] == target}
        failures = [case for case in cases if case.result and isinstance(case.result[0], junitparser.Failure)]
        skipped = [case for case in cases if case.is_skipped]
        known = sum(r["known"] is not None for r in data["results"] if r["target"] == target)
        assert len(failures) == suite.failures == sum(n for o, n in counts.items() if o not in C.NOT_DISCREPANCIES) - known
        assert len(skipped) == suite.skipped == counts["unsupported"] + counts["refused"] + known
        for case in skipped:  # the reason, in the attribute and in the body
            assert case.result[0].message.startswith(("unsupported: ", "refused: ", "known finding "))
            assert case.result[0].text == case.result[0].message
        # The environment: in the properties and again in system-out.
        properties = {prop.name: prop.value for prop in suite.properties()}
        assert properties["numpy"] == data["environment"]["numpy"] and properties["suite"] == "edge"
        assert properties["kernel_settings.cpu_model"] == data["environment"]["kernel_settings"]["cpu_model"]
        system_out = suite.child(junitparser.SystemOut).text
        assert data["environment"]["numpy"] in system_out and "kernel_settings" in system_out
    onnxruntime = outcomes(data, "onnxruntime")
    assert onnxruntime["unsupported"] + onnxruntime["refused"] > 0 and outcomes(data, "onnx_reference")["value_mismatch"] > 0
    failed = next(r for r in data["results"] if r["target"] == "onnx_reference" and r["outcome"] == "value_mismatch")
    case = next(c for c in suites["onnx_reference"] if c.name == f"{failed['case_id']} [forward]")
    failure = case.result[0]
    assert failure.type == "value_mismatch" and failure.message.startswith("value_mismatch: values outside")
    # The text GitLab shows is the element's body: the comparison's message and the reproducer are there.
    ratio = failed["metrics"]["max_bound_ratio"]
    assert "values outside the derived bound" in failure.text and f"max error / bound = {ratio:.6g}" in failure.text
    assert "To reproduce:" in failure.text and "convt_oracle.crosscheck_target('onnx_reference')" in failure.text
    (not_run,) = list(suites[NOT_STARTING])
    assert isinstance(not_run.result[0], junitparser.Error) and "a worker needs numpy" in not_run.result[0].text


def test_the_gate_s_junit_fails_each_regression_and_nothing_else(tmp_path):
    good = convt_oracle.crosscheck(GOOD, suite="smoke", seed=SEED)
    wrong = convt_oracle.crosscheck("support.targets:crop_ends_swapped", suite="smoke", seed=SEED)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    good.to_json(old)
    wrong.to_json(new)
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(old), str(new), "--junit", str(junit)]) == 1
    (suite,) = list(junitparser.JUnitXml.fromfile(str(junit)))
    cases = list(suite)
    assert len(cases) == len(good.results) == len(wrong.results)
    failed = {case.name for case in cases if case.result and isinstance(case.result[0], junitparser.Failure)}
    assert failed == {f"{r.case.id} [{r.check}]" for r in wrong.discrepancies}
    for case in cases:
        if case.name in failed:
            assert case.result[0].type == "new_failure" and case.result[0].text.startswith("new_failure: ")
    properties = {prop.name: prop.value for prop in suite.properties()}
    assert properties["baseline.path"] == str(old) and properties["candidate.numpy"] == np.__version__


def test_characters_xml_cannot_hold_are_dropped(tmp_path):
    report = convt_oracle.crosscheck("support.targets:bias_twice", suite="smoke", seed=SEED)
    broken = dataclasses.replace(report, results=tuple(
        dataclasses.replace(r, detail="\x1b[31mred\x1b[0m \x00 é") for r in report.results))
    path = tmp_path / "run.xml"
    path.write_text(ci_reports.run_junit(broken))
    xml = junitparser.JUnitXml.fromfile(str(path))
    texts = [case.result[0].text for suite in xml for case in suite if case.result]
    assert texts and all("[31mred[0m  é" in text for text in texts)


# --- Markdown -----------------------------------------------------------------------------------------------
def test_the_run_s_markdown_has_a_headline_and_a_collapsed_table_per_discrepancy_outcome(run):
    data, paths = run
    text = paths["markdown"].read_text()
    first = text.splitlines()[0]
    assert first == f"### convt-oracle run: {data['verdict']}"
    assert f"onnxruntime {data['environment']['frameworks']['onnxruntime']}" in text
    found = Counter(r["outcome"] for r in data["results"])
    assert found["value_mismatch"] and found["refused"]
    assert all(f"{outcome} {count}" in text for outcome, count in found.items())
    for outcome in {r["outcome"] for r in data["results"]} - set(C.NOT_DISCREPANCIES):
        assert f"<details><summary><b>{outcome}</b> ({found[outcome]})</summary>" in text
    assert "<b>unsupported</b>" not in text and f"**{NOT_STARTING}** not run" in text


@pytest.fixture(scope="module")
def large_report() -> Report:
    """A real run of a wrong target on the default suite (1,453 discrepancies of 1,573), its results repeated
    under twelve target names: 17,436 discrepancies."""
    wrong = convt_oracle.crosscheck("support.targets:unflipped_kernel", suite="default", seed=SEED)
    names = [f"unflipped-{i}" for i in range(12)]
    results = tuple(dataclasses.replace(r, target=name) for name in names for r in wrong.results)
    return dataclasses.replace(wrong, results=results, targets=tuple(names))


def test_markdown_stays_under_1_mib_on_a_large_report(large_report):
    text = ci_reports.run_markdown(large_report)
    assert len(large_report.discrepancies) > 10_000
    assert len(text.encode()) < 1024 * 1024
    assert "rows, left out to keep this summary under 1 MiB" in text
    first = large_report.discrepancies[0]
    assert f"`{first.case.id}`" in text  # the first rows are shown
    assert text.count("<details") == text.count("</details>")


# --- HTML ---------------------------------------------------------------------------------------------------
class Page(HTMLParser):
    """The images and external references of an HTML page."""

    def __init__(self):
        super().__init__()
        self.images, self.references = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.references.append(attrs[name])
        if tag in ("link", "script", "iframe", "object", "embed"):
            self.references.append(f"<{tag}>")


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def png_pixels(uri: str) -> np.ndarray:
    import matplotlib.image

    assert uri.startswith("data:image/png;base64,")
    return matplotlib.image.imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")


def test_the_run_s_html_is_self_contained_with_a_heatmap_per_discrepancy(run):
    data, paths = run
    html = paths["html"].read_text()
    page = parse(html)
    assert all(reference.startswith(("data:", "#panel-")) for reference in page.references), page.references[:5]
    assert not re.search(r"url\((?!data:)", html)  # no CSS resource either
    heatmaps = [image for image in page.images if image.get("class") == "heatmap"]
    with_values = [r for r in data["results"] if r["outcome"] in VALUE_OUTCOMES]
    assert with_values and len(heatmaps) == len(with_values)
    # Each discrepancy's row in its table links to its heatmaps.
    assert sorted(r for r in page.references if r.startswith("#")) == sorted(f"#panel-{i + 1}" for i in range(len(heatmaps)))
    for image, result in zip(heatmaps, with_values):
        cells = result["metrics"]["error_map"]["cells"]
        pixels = png_pixels(image["src"])
        assert pixels.shape[:2] == (len(cells), len(cells[0]))


def test_a_heatmap_is_red_beyond_the_bound_blue_within_white_where_exact_black_where_wrongly_non_finite(tmp_path):
    report = convt_oracle.crosscheck("support.targets:nonfinite_inputs_zeroed", suite="edge", seed=SEED)
    report = dataclasses.replace(report, results=report.results + convt_oracle.crosscheck(
        "support.targets:bias_twice", suite="smoke", seed=SEED).results)
    page = parse(ci_reports.run_html(report))
    heatmaps = [image for image in page.images if image.get("class") == "heatmap"]
    maps = [r.comparison.error_map for r in report.results if r.comparison is not None and r.comparison.error_map]
    assert len(heatmaps) == len(maps) == len(report.discrepancies)
    seen = Counter()
    for image, error_map in zip(heatmaps, maps):
        pixels = png_pixels(image["src"])
        for (row, column), value in np.ndenumerate(np.array(error_map.cells, dtype=float)):
            red, green, blue = pixels[row, column, :3]
            if value == np.inf:
                assert red == green == blue == 0, value
                seen["inf"] += 1
            elif value == 0:
                assert red == green == blue == 1, value
                seen["zero"] += 1
            elif value > 10:
                assert red > blue + 0.2 and red > green, (value, pixels[row, column])
                seen["beyond"] += 1
            elif value < 0.1:
                assert blue > red + 0.2, (value, pixels[row, column])
                seen["within"] += 1
    assert min(seen[kind] for kind in ("inf", "zero", "beyond", "within")) > 0, seen


def test_per_channel_maps_where_channels_are_few(tmp_path):
    report = convt_oracle.crosscheck("support.targets:bias_twice", suite="smoke", seed=SEED)
    page = parse(ci_reports.run_html(report))
    channel_maps = [image for image in page.images if image.get("class") == "channel-map"]
    expected = sum(r.case.out_channels for r in report.discrepancies if 1 < r.case.out_channels <= 4)
    assert expected and len(channel_maps) == expected


def test_the_gate_s_html_shows_the_baseline_s_and_the_candidate_s_maps(tmp_path):
    wrong = convt_oracle.crosscheck("support.targets:bias_twice", suite="smoke", seed=SEED)
    worse = convt_oracle.crosscheck("support.targets:nonfinite_inputs_zeroed", suite="smoke", seed=SEED)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    wrong.to_json(old)
    worse.to_json(new)
    result = G.gate(str(old), str(new))
    page = parse(ci_reports.gate_html(result))
    heatmaps = [image for image in page.images if image.get("class") == "heatmap"]
    failing_candidates = [e for e in result.entries if e.candidate is not None and not e.candidate.ok]
    with_baseline_maps = [e for e in failing_candidates if e.baseline is not None and e.baseline.comparison is not None
                          and e.baseline.comparison.error_map is not None]
    assert failing_candidates and len(heatmaps) == len(failing_candidates) + len(with_baseline_maps)
    assert all(reference.startswith(("data:", "#panel-")) for reference in page.references)


def test_report_options_that_cannot_be_written_exit_3_before_the_run(tmp_path):
    for option in ("--junit", "--markdown", "--html"):
        done = subprocess.run([sys.executable, "-m", "convt_oracle", "run", "--suite", "article", "--targets",
                               "onnx_reference", option, str(tmp_path / "no" / "report")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 3 and f"{option}: the folder of" in done.stderr, done.stderr
        assert "convt-oracle run: suite" not in done.stdout  # before the run


# --- the error maps behind the heatmaps ---------------------------------------------------------------------
def expected_for(shape, seed=0):
    """The golden's expectation for a random (x, w) whose output has `shape` (batch, channels, *spatial)."""
    rng = np.random.default_rng(seed)
    batch, channels, *spatial = shape
    x = rng.standard_normal((batch, 2, *spatial)).astype(np.float32)
    w = rng.standard_normal((2, channels, *([1] * len(spatial)))).astype(np.float32)
    return C.expect(x, w, None, {}, "float32")  # a 1x1 kernel, stride 1: the output has x's spatial shape


def test_an_error_map_finds_the_wrong_element_and_pools_to_at_most_32_cells():
    expected = expected_for((2, 6, 100, 70))
    actual = expected.value.astype(np.float32)
    where = (1, 4, 57, 41)
    actual[where] += 1000 * expected.bound[where]
    comparison = C.compare(actual, expected)
    error_map = comparison.error_map
    assert comparison.outcome == C.VALUE_MISMATCH and comparison.mismatches == 1
    assert error_map.spatial_shape == (100, 70) and error_map.block == (4, 3)  # ceil(100/32), ceil(70/32)
    cells = np.array(error_map.cells)
    assert cells.shape == (25, 24)  # ceil(100/4), ceil(70/3)
    assert np.unravel_index(cells.argmax(), cells.shape) == (57 // 4, 41 // 3)
    assert 900 < cells.max() < 1100 and np.sort(cells, axis=None)[-2] <= 1
    assert error_map.channels == ()  # six channels: too many for a map each


def test_an_error_map_of_one_and_three_spatial_axes_and_its_channels():
    strip = expected_for((1, 3, 200))
    actual = strip.value.astype(np.float32)
    actual[0, 2, 150] = np.nan  # wrongly non-finite
    comparison = C.compare(actual, strip)
    assert comparison.outcome == C.NONFINITE_MISMATCH
    cells = np.array(comparison.error_map.cells)
    assert cells.shape == (1, 29) and comparison.error_map.block == (1, 7)
    assert cells[0, 150 // 7] == np.inf and np.isfinite(np.delete(cells, 150 // 7)).all()
    channels = [np.array(channel) for channel in comparison.error_map.channels]
    assert len(channels) == 3 and channels[2][0, 150 // 7] == np.inf and np.isfinite(channels[0]).all()
    volume = expected_for((1, 1, 5, 6, 7))
    actual = volume.value.astype(np.float32)
    actual[0, 0, 4, 2, 3] += 10 * volume.bound[0, 0, 4, 2, 3]
    error_map = C.compare(actual, volume).error_map
    cells = np.array(error_map.cells)
    assert cells.shape == (6, 7) and np.unravel_index(cells.argmax(), cells.shape) == (2, 3)  # max over the first axis


def test_an_error_map_reads_back_from_the_json_report(tmp_path):
    report = convt_oracle.crosscheck("support.targets:nonfinite_inputs_zeroed", suite="edge", seed=SEED)
    path = tmp_path / "run.json"
    report.to_json(path)
    back = Report.load(path)
    maps = [(r.comparison.error_map, s.comparison.error_map) for r, s in zip(report.results, back.results)
            if r.comparison is not None and r.comparison.error_map is not None]
    assert maps and all(a == b for a, b in maps)
    assert any(np.isinf(np.array(a.cells)).any() for a, _ in maps)  # inf went through JSON as "inf"
