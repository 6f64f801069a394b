"""`convt-oracle run --shard K/N` and `convt-oracle merge`: the shards of a run, merged, are the whole run,
result for result; a merge of parts that are not shards of one run is refused (exit 3, nothing written);
cases missing from a merge are counted and the report says it is not complete.

Real runs through the command line (`python -m convt_oracle run`, real adapters in real workers): the smoke
suite, seed 0, with --grad, on onnx_reference and onnxruntime (quick to start; onnx_reference has findings,
so the runs exit 1), whole and as 3 shards.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from convt_oracle.cases import suites
from convt_oracle.harness import cli

pytestmark = [pytest.mark.framework("onnx"), pytest.mark.framework("onnxruntime")]

SUITE, SEED, TARGETS = "smoke", 0, "onnx_reference,onnxruntime"
TIMINGS = ("target_seconds", "golden_seconds")


def convt_oracle(*arguments, timeout=600):
    return subprocess.run([sys.executable, "-m", "convt_oracle", *arguments], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"whole": path, 1: path, 2: path, 3: path}: the JSON reports of the whole run and of its 3 shards."""
    folder = tmp_path_factory.mktemp("shards")
    paths = {}
    for part in ("whole", 1, 2, 3):
        paths[part] = folder / f"{part}.json"
        shard = [] if part == "whole" else ["--shard", f"{part}/3"]
        done = convt_oracle("run", "--suite", SUITE, "--seed", str(SEED), "--grad", "--targets", TARGETS, *shard,
                            "--known", "none", "--json", str(paths[part]))  # the discrepancies as found
        assert done.returncode == 1, (part, done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    return paths


def load(path) -> dict:
    return json.loads(path.read_text())


def without_timings(results: list) -> list:
    return [{key: value for key, value in result.items() if key not in TIMINGS} for result in results]


def test_the_shards_split_the_cases_by_the_sha256_of_their_ids(runs):
    """Every case in exactly one shard, the one its id's SHA-256 names (README, "Shards"), whatever the
    process; each report says which shard it is and how many cases the whole suite has."""
    ids = [case.id for case in suites.select(SUITE, ("float32",), seed=SEED)]
    print(f"suite {SUITE}, seed {SEED}: {len(ids)} cases")
    owner = {case_id: 1 + int.from_bytes(hashlib.sha256(case_id.encode()).digest()[:8], "big") % 3 for case_id in ids}
    seen = {}
    for index in (1, 2, 3):
        data = load(runs[index])
        assert data["shard"] == {"index": index, "count": 3} and data["suite_cases"] == len(ids)
        assert data["complete"] is True
        forward = {r["case_id"] for r in data["results"] if r["check"] == "forward"}
        for case_id in forward:
            seen.setdefault(case_id, set()).add(index)
        assert forward == {case_id for case_id, shard in owner.items() if shard == index}
    assert set(seen) == set(ids) and all(len(shards) == 1 for shards in seen.values())
    whole = load(runs["whole"])
    assert whole["shard"] is None and whole["suite_cases"] == len(ids)


def test_the_merged_shards_are_the_whole_run_result_for_result(runs, tmp_path):
    merged = tmp_path / "merged.json"
    done = convt_oracle("merge", str(runs[2]), str(runs[3]), str(runs[1]), "-o", str(merged))
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)  # the whole run's: onnx_reference's findings
    assert "cases missing" not in done.stderr and "report written to" in done.stdout
    whole, back = load(runs["whole"]), load(merged)
    assert without_timings(back["results"]) == without_timings(whole["results"])  # the same order, too
    for key in ("suite", "seed", "dtypes", "targets", "counts", "ok", "compared", "verdict", "complete",
                "targets_not_run", "suite_cases", "shard", "schema"):
        assert back[key] == whole[key], key
    assert [part["shard"] for part in back["environment"]["merged_from"]] == [
        {"index": 2, "count": 3}, {"index": 3, "count": 3}, {"index": 1, "count": 3}]
    table = done.stdout[done.stdout.index("target "):]
    assert "onnx_reference forward" in table and "onnxruntime vjp" in table


def test_missing_shards_are_counted_and_the_merge_is_not_complete(runs, tmp_path):
    merged = tmp_path / "merged.json"
    done = convt_oracle("merge", str(runs[1]), str(runs[3]), "-o", str(merged))
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    shard_2 = load(runs[2])
    missing = [r["case_id"] for r in shard_2["results"] if r["check"] == "forward" and r["target"] == "onnx_reference"]
    assert "warning: no part for shard 2 of 3" in done.stderr
    assert f"warning: {2 * len(missing)} cases missing (the report says complete: false):" in done.stderr
    assert f"onnx_reference: {len(missing)} of {shard_2['suite_cases']} cases missing: {missing[0]}, " in done.stderr
    back = load(merged)
    assert back["complete"] is False and back["verdict"].startswith("INCOMPLETE, cases missing: ")
    assert len(back["results"]) == len(load(runs["whole"])["results"]) - len(shard_2["results"])


def test_a_target_not_run_in_one_shard_is_not_run_in_the_merge(runs, tmp_path):
    """Shard 2's onnxruntime as a run reports a target whose worker did not start: no result, a reason."""
    data = load(runs[2])
    reason = "the worker did not start: ValueError: python: /envs/x/bin/python cannot run the worker"
    data["results"] = [r for r in data["results"] if r["target"] != "onnxruntime"]
    data["targets_not_run"] = {"onnxruntime": reason}
    part = tmp_path / "2-not-run.json"
    part.write_text(json.dumps(data))
    merged = tmp_path / "merged.json"
    done = convt_oracle("merge", str(runs[1]), str(part), str(runs[3]), "-o", str(merged))
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    back = load(merged)
    assert back["targets_not_run"] == {"onnxruntime": f"shard 2/3, {part}: {reason}"}
    assert back["complete"] is True  # onnx_reference has every case; onnxruntime is not run, and says why
    assert f"not run: shard 2/3, {part}: {reason}" in done.stdout


def changed(source, tmp_path, name, change) -> str:
    data = load(source)
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_a_merge_of_parts_of_different_runs_is_refused_naming_them(runs, tmp_path, capsys):
    def other_version(data):
        data["environment"]["frameworks"]["onnxruntime"] = "1.17.3"

    refusals = [
        ([runs[1], runs[1]], f"shard 1/3 is given twice: {runs[1]} and {runs[1]}"),
        ([runs[1], runs["whole"]], f"{runs[1]} and {runs['whole']} both hold "),
        ([runs[1], changed(runs[2], tmp_path, "seed.json", lambda d: d.update(seed=1))],
         f"{runs[1]} and {tmp_path / 'seed.json'} are not parts of one run: seed 0 against 1"),
        ([runs[1], changed(runs[2], tmp_path, "dtypes.json", lambda d: d.update(dtypes=["float16"]))],
         "are not parts of one run: dtypes ['float32'] against ['float16']"),
        ([runs[1], changed(runs[2], tmp_path, "version.json", other_version)],
         "are not parts of one run: frameworks onnxruntime: "),
        ([runs[1], changed(runs[2], tmp_path, "grad.json", lambda d: d["environment"].update(grad=False))],
         "are not parts of one run: grad True against False"),
        ([runs[1], changed(runs[2], tmp_path, "targets.json", lambda d: d.update(targets=["onnxruntime"]))],
         "are not parts of one run: targets ['onnx_reference', 'onnxruntime'] against ['onnxruntime']"),
        ([runs[1], changed(runs[2], tmp_path, "of4.json", lambda d: d.update(shard={"index": 2, "count": 4}))],
         "the parts are shards of different partitions"),
        ([runs[1], changed(runs[2], tmp_path, "again.json", lambda d: d.update(shard={"index": 1, "count": 3}))],
         f"shard 1/3 is given twice: {runs[1]} and {tmp_path / 'again.json'}"),
        ([runs[1], changed(runs[2], tmp_path, "size.json", lambda d: d.update(suite_cases=45))],
         "was run on 45 cases of suite 'smoke' (seed 0, float32); this convt-oracle generates 42"),
        ([runs[1], changed(runs[2], tmp_path, "schema.json", lambda d: d.update(schema=1))],
         f"{tmp_path / 'schema.json'}: report schema 1; this convt-oracle reads schema 2"),
        ([runs[1], tmp_path / "nowhere.json"], f"{tmp_path / 'nowhere.json'}: cannot read it"),
    ]
    output = tmp_path / "merged.json"
    for parts, words in refusals:
        status = cli.main(["merge", *map(str, parts), "-o", str(output)])
        err = capsys.readouterr().err
        assert status == 3 and words in err and err.rstrip().endswith("nothing written"), (words, status, err)
        assert not output.exists()


def test_an_output_that_cannot_be_written_is_refused_before_reading_the_parts(runs, tmp_path, capsys):
    status = cli.main(["merge", str(runs[1]), "-o", str(tmp_path / "no" / "such" / "merged.json")])
    err = capsys.readouterr().err
    assert status == 3 and "-o: the folder of" in err and "does not exist" in err


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "x/3", "1/0", "-1/2", ""])
def test_a_bad_shard_is_a_usage_error_naming_the_option_the_value_and_the_rule(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--suite", SUITE, "--targets", "onnx_reference", f"--shard={value}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert f"--shard: got {value!r}; expected K/N, shard K of N, with 1 <= K <= N (e.g. 2/3)" in err, err
