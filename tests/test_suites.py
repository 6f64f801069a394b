"""The suites (cases/suites.py, curated.py, generator.py) and their coverage (cases/coverage.py)."""

from __future__ import annotations

import hashlib
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convt_oracle
from convt_oracle.cases import coverage as cov
from convt_oracle.cases import curated, generator, suites
from convt_oracle.cases.model import DTYPES, MODES
from convt_oracle import arithmetic
from convt_oracle.harness.cli import main

ROOT = Path(__file__).resolve().parents[1]
CURATED_VALID = ("article", "arithmetic", "onnx", "edge")


def by_name(name: str) -> dict:
    return {case.name: case for case in suites.get(name)}


def ke(case, axis: int) -> int:
    return arithmetic.effective_kernel(case.kernel_size[axis], case.dilation[axis])


def axes(case):
    return range(case.spatial_rank)


# --- registry --------------------------------------------------------------------------------------------


def test_every_suite_is_registered():
    assert set(suites.SUITES) == {"article", "arithmetic", "onnx", "edge", "invalid", "random", "smoke", "exact", "default"}


def test_an_unknown_suite_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown 'nope'; known suites: arithmetic, article, default"):
        suites.get("nope")


def test_a_curated_suite_takes_no_size():
    with pytest.raises(ValueError, match="curated"):
        suites.get("edge", size=3)


def test_suite_sizes():
    assert len(suites.get("article")) == 3
    assert len(suites.get("arithmetic")) == len(curated.ARITHMETIC) + 1
    assert len(suites.get("onnx")) == len(curated.ONNX)
    assert len(suites.get("edge")) >= 30
    assert len(suites.get("invalid")) >= 40
    assert len(suites.get("random")) == 300
    assert len(suites.get("random", size=40)) == 40
    assert len(suites.get("smoke")) <= 60
    assert len(suites.get("exact")) == suites.EXACT_SIZE == 48
    default = suites.get("default")
    assert len(suites.expand(default, ["float32"])) >= 1500
    assert sum(case.valid and case.dtype is None for case in default) >= 1500


def test_expand_runs_configurations_in_every_dtype_and_specific_cases_in_theirs():
    edge = suites.get("edge")
    configurations = [case for case in edge if case.dtype is None]
    f16 = [case for case in edge if case.dtype == "float16"]
    expanded = suites.expand(edge, ["float16", "float32"])
    assert len(expanded) == 2 * len(configurations) + len(f16)
    assert all(case.dtype in ("float16", "float32") for case in expanded)
    with pytest.raises(ValueError, match="unknown"):
        suites.expand(edge, ["float8"])


# --- determinism -----------------------------------------------------------------------------------------


def test_two_calls_give_identical_cases():
    for name in suites.SUITES:
        assert [c.id for c in suites.get(name)] == [c.id for c in suites.get(name)], name
    # Not served from a cache: generating again from the seed gives the same cases.
    assert [c.id for c in generator.generate(random.Random("random/0"), 300, set())] == [
        c.id for c in suites.get("random")
    ]


def test_seeds_change_generated_cases_only():
    assert [c.id for c in suites.get("edge", seed=1)] == [c.id for c in suites.get("edge", seed=0)]
    assert [c.id for c in suites.get("random", seed=1)] != [c.id for c in suites.get("random", seed=0)]


def _digest(ids) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def test_another_process_with_another_hash_seed_gets_the_same_cases():
    code = (
        "import hashlib\n"
        "from cases import suites\n"
        "for name in ('random', 'smoke', 'default'):\n"
        "    print(hashlib.sha256('\\n'.join(c.id for c in suites.get(name)).encode()).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    here = [_digest(c.id for c in suites.get(name)) for name in ("random", "smoke", "default")]
    assert other.stdout.split() == here


# --- validity --------------------------------------------------------------------------------------------


def test_every_invalid_case_is_invalid_with_the_goldens_reason():
    for case in suites.get("invalid"):
        assert not case.valid, case.name
        assert case.reason and case.name.startswith("invalid-")
        with pytest.raises((ValueError, TypeError)) as raised:
            convt_oracle.output_shape(case.x_shape, case.w_shape, case.bias_shape,
                                      output_size=case.requested_output_size or None, **case.params())
        assert str(raised.value) == case.reason


def test_the_invalid_suite_has_each_kind():
    reasons = {case.name: case.reason for case in suites.get("invalid")}
    expected = {
        "invalid-in-channels-not-divisible-by-groups": "not divisible by groups",
        "invalid-zero-groups": "groups",
        "invalid-zero-stride": "stride",
        "invalid-negative-stride": "stride",
        "invalid-zero-dilation": "dilation",
        "invalid-negative-padding-begin": "padding must be non-negative",
        "invalid-negative-padding-end": "padding must be non-negative",
        "invalid-negative-output-padding": "output_padding",
        "invalid-crop-leaves-zero": "leaves an output size of 0",
        "invalid-crop-leaves-negative-2d": "leaves an output size of -2",
    }
    for name, text in expected.items():
        assert text in reasons[name], (name, reasons[name])


def test_every_other_curated_case_is_valid_and_named():
    for name in CURATED_VALID:
        for case in suites.get(name):
            assert case.valid, (case.name, case.reason)
            assert case.name, case.id


def test_generated_cases_are_valid_small_and_cannot_hide_swapped_axes():
    generated = suites.get("random")
    sizes = sorted(math.prod(case.output_shape) for case in generated)
    assert sizes[len(sizes) // 2] < 500 and sizes[int(0.9 * len(sizes))] < 2000
    for case in generated:
        assert case.valid and case.dtype is None and not case.name
        assert case.in_channels != case.out_channels, case.id
        assert len(set(case.input_size)) == case.spatial_rank, case.id  # non-square


def test_output_shape_cases_are_tf_expressible():
    """TF's output_shape: for some forward padding ('SAME', 'VALID' or the case's begin crop with some end
    padding) the requested size is accepted and gives the case's canonical padding."""
    for case in suites.get("default"):
        if case.mode != "output_shape" or not case.valid:
            continue
        size = case.output_shape[2:]
        for j in axes(case):
            args = (case.input_size[j], case.kernel_size[j], case.stride[j], case.dilation[j])
            wanted = arithmetic.AxisPadding(*case.padding[j], case.output_padding[j])
            candidates = ["SAME", "VALID"] + [(case.padding[j][0], e) for e in range(ke(case, j) + case.stride[j])]
            assert any(
                size[j] in arithmetic.accepted_output_sizes(*args, forward)
                and arithmetic.output_shape_padding(*args, forward, size[j]) == wanted
                for forward in candidates
            ), (case.id, j)


# --- curated contents ------------------------------------------------------------------------------------


def test_arithmetic_cases_give_dumoulin_and_visin_sizes():
    cases = by_name("arithmetic")
    for name, *_, expected in curated.ARITHMETIC:
        assert cases[name].output_shape[2:] == expected, name
    half = cases["dv-10-half-padding-as-same"]
    assert half.output_shape[2:] == half.input_size


# Output shapes of ONNX's node cases: the shapes of their expected `y` in
# onnx/backend/test/case/node/convtranspose.py.
ONNX_OUTPUT_SHAPES = {
    "onnx-convtranspose": (1, 2, 5, 5),
    "onnx-convtranspose_1d": (1, 2, 5),
    "onnx-convtranspose_3d": (1, 2, 5, 6, 7),
    "onnx-convtranspose_output_shape": (1, 2, 10, 8),
    "onnx-convtranspose_pad": (1, 2, 10, 8),
    "onnx-convtranspose_kernel_shape": (1, 2, 10, 8),
    "onnx-convtranspose_pads": (1, 2, 7, 3),
    "onnx-convtranspose_dilations": (1, 1, 5, 5),
    "onnx-convtranspose_autopad_same": (1, 2, 6, 6),
    "onnx-convtranspose_group_2": (1, 2, 5, 5),
    "onnx-convtranspose_group_2_image_3": (3, 2, 5, 5),
}


def test_onnx_cases_have_the_onnx_output_shapes():
    cases = by_name("onnx")
    assert set(cases) == set(ONNX_OUTPUT_SHAPES)
    for name, shape in ONNX_OUTPUT_SHAPES.items():
        assert cases[name].output_shape == shape, name
    assert cases["onnx-convtranspose_pads"].padding == ((1, 1), (2, 2))
    assert cases["onnx-convtranspose_autopad_same"].mode == "same"
    assert cases["onnx-convtranspose_autopad_same"].padding == ((0, 1), (0, 1))  # SAME_UPPER: odd crop at the end
    assert cases["onnx-convtranspose_output_shape"].mode == "output_shape"
    assert cases["onnx-convtranspose_group_2"].groups == 2


def test_onnx_cases_with_a_negative_begin_are_left_out():
    # output_shape 5 from a full result of 3 (i=1, k=3, s=1): total -2, begin -1: zeros before the result.
    assert curated._onnx_case("x", (1, 1, 1), (1, 1, 3), dict(output_shape=[5]), seed=1) is None


def test_edge_has_each_listed_kind():
    edge = suites.get("edge")
    configurations = [case for case in edge if case.dtype is None]

    def some(predicate, cases=edge):
        return any(predicate(case) for case in cases)

    # stride larger than the effective kernel
    assert some(lambda c: any(c.stride[j] > ke(c, j) for j in axes(c)))
    # kernel larger than the input
    assert some(lambda c: any(k > i for k, i in zip(c.kernel_size, c.input_size)))
    # 1x1 kernels
    assert some(lambda c: all(k == 1 for k in c.kernel_size))
    # output_padding equal to max(s, d) - 1 > 0, within the full result (op <= end crop)
    assert some(lambda c: any(
        c.output_padding[j] == max(c.stride[j], c.dilation[j]) - 1 > 0 and c.output_padding[j] <= c.padding[j][1]
        for j in axes(c)))
    # ... with the largest output padding coming from the dilation (d > s)
    assert some(lambda c: any(
        c.output_padding[j] == c.dilation[j] - 1 > 0 and c.dilation[j] > c.stride[j] for j in axes(c)))
    # output_padding past the full extent, within and beyond max(s, d) - 1
    assert some(lambda c: any(
        c.padding[j][1] < c.output_padding[j] <= max(c.stride[j], c.dilation[j]) - 1 for j in axes(c)))
    assert some(lambda c: any(
        c.output_padding[j] > c.padding[j][1] and c.output_padding[j] >= max(c.stride[j], c.dilation[j])
        for j in axes(c)))
    # crops that leave one pixel
    assert some(lambda c: all(o == 1 for o in c.output_shape[2:]) and any(b + e > 0 for b, e in c.padding))
    # depthwise with bias, grouped (several channels per group) with bias
    assert some(lambda c: c.groups > 1 and c.in_channels == c.groups and c.bias)
    assert some(lambda c: c.groups > 1 and c.in_channels // c.groups > 1 and c.bias)
    # batch > 1
    assert some(lambda c: c.batch > 1)
    # non-square everything: every per-axis parameter differs between axes, in 3-d
    assert some(lambda c: c.spatial_rank == 3 and all(
        len(set(values)) == 3
        for values in (c.input_size, c.kernel_size, c.stride, c.dilation, c.padding, c.output_padding)))
    # long reductions as configurations (every dtype), including depthwise and 1x1
    long = [c for c in configurations if cov.max_products(c) >= cov.LONG_REDUCTION]
    assert len(long) >= 3
    assert any(c.groups == c.in_channels > 1 for c in long)
    assert any(all(k == 1 for k in c.kernel_size) for c in long)
    # overflow of float16 and bfloat16, as dtype-specific cases
    assert some(lambda c: c.values == "large" and c.dtype == "float16")
    assert some(lambda c: c.values == "large" and c.dtype == "bfloat16")
    # inf and NaN in the inputs, as configurations
    assert some(lambda c: c.values == "nonfinite", configurations)


# --- coverage --------------------------------------------------------------------------------------------


def test_features_of_named_cases():
    edge, onnx = by_name("edge"), by_name("onnx")
    f = cov.features
    assert f(edge["edge-stride-gt-kernel-2d"])["stride"] == ">kernel"
    assert f(edge["edge-kernel-1x1-2d"])["kernel"] == "1x1"
    assert f(edge["edge-kernel-larger-than-input-3d"])["kernel"] == "larger_than_input"
    assert f(edge["edge-kernel-larger-than-input-3d"])["padding"] == "asymmetric"
    assert f(edge["edge-output-padding-max-stride-1d"])["output_padding"] == "within_full"
    assert f(edge["edge-output-padding-past-full-1d"])["output_padding"] == "past_full"
    assert f(edge["edge-depthwise-multiplier-2-bias-2d"])["groups"] == "depthwise"
    assert f(edge["edge-grouped-bias-2d"])["groups"] == "grouped"
    assert f(edge["edge-long-reduction-2d"])["reduction"] == "long"
    assert f(edge["edge-overflow-float16"])["dtype"] == "float16"
    assert "dtype" not in f(edge["edge-nonfinite-2d"])
    assert f(onnx["onnx-convtranspose_pads"])["padding"] == "symmetric"
    assert f(onnx["onnx-convtranspose_autopad_same"])["padding"] == "asymmetric"
    assert f(onnx["onnx-convtranspose"]) == dict(
        rank="2d", batch="1", groups="1", bias="no", kernel="within_input", stride="1", dilation="1",
        padding="none", output_padding="0", mode="explicit", reduction="short", values="normal",
    )
    with pytest.raises(ValueError, match="invalid"):
        f(suites.get("invalid")[0])


def test_max_products_counts_what_the_golden_sums():
    """max_products is the largest element of conv_transpose(ones, ones): the products per element."""
    for case in suites.get("smoke") + suites.get("random", size=60):
        ones = convt_oracle.conv_transpose(np.ones((1, *case.x_shape[1:])), np.ones(case.w_shape), **case.params())
        assert cov.max_products(case) == int(ones.max()), case.id


def test_possible_pairs_leave_out_only_the_listed_impossible_ones():
    possible = set(cov.possible_pairs())
    everything = sum(
        len(cov.FEATURES[a]) * len(cov.FEATURES[b]) for i, a in enumerate(cov.FEATURES) for b in list(cov.FEATURES)[i + 1:]
    )
    assert len(possible) == everything - len(cov.IMPOSSIBLE_PAIRS)
    assert not possible & set(cov.IMPOSSIBLE_PAIRS)
    assert all(reason for reason in cov.IMPOSSIBLE_PAIRS.values())


def test_no_case_has_an_impossible_pair():
    found = cov.coverage(suites.get("default")).pairs | cov.coverage(suites.get("random", seed=5, size=500)).pairs
    assert not found & set(cov.IMPOSSIBLE_PAIRS)


def test_default_covers_every_value_and_every_possible_pair():
    found = cov.coverage(suites.get("default"))
    assert found.missing_values() == []
    assert found.missing_pairs() == []
    assert found.invalid == len(suites.get("invalid"))


def test_default_contains_every_curated_case_and_the_exact_tier():
    ids = {case.id for case in suites.get("default")}
    for name in (*suites.CURATED, "exact"):
        assert {case.id for case in suites.get(name)} <= ids, name


def test_a_small_default_still_covers_every_pair():
    """With only 200 generated cases, the pair filling draws the missing pairs (another seed, too)."""
    found = cov.coverage(suites.get("default", seed=3, size=200))
    assert found.missing_values() == [] and found.missing_pairs() == []


def test_smoke_is_small_and_touches_everything():
    smoke = suites.get("smoke")
    assert len(smoke) <= 60
    found = cov.coverage(smoke)
    assert found.missing_values() == []
    assert found.missing_pairs() == []
    assert {case.spatial_rank for case in smoke} == {1, 2, 3}
    assert any(case.groups > 1 and case.in_channels // case.groups > 1 and case.bias for case in smoke)
    assert any(max(case.dilation) > 1 for case in smoke)
    assert any(b != e for case in smoke for b, e in case.padding)
    assert any(max(case.output_padding) > 0 for case in smoke)
    assert {case.mode for case in smoke} == set(MODES)
    assert {case.dtype for case in suites.expand(smoke, DTYPES)} == set(DTYPES)
    assert {"float16", "bfloat16"} <= {case.dtype for case in smoke}  # dtype-specific cases too
    assert all(case.valid for case in smoke)
    assert sum(math.prod(case.output_shape) for case in smoke) < 60_000  # cheap to run


def test_coverage_counts_configurations_in_each_dtype():
    edge = suites.get("edge")
    found = cov.coverage(edge, ["float32"])
    assert found.runs == sum(case.dtype is None for case in edge)
    assert found.counts["dtype"]["float32"] == found.runs and found.counts["dtype"]["float16"] == 0
    assert found.missing_values() == [] or all(name != "dtype" for name, _ in found.missing_values())


# --- the command -----------------------------------------------------------------------------------------


def test_cases_command_prints_sizes_and_coverage(capsys):
    assert main(["cases"]) == 0
    out = capsys.readouterr().out
    for name in suites.SUITES:
        assert f"\n  {name} " in out
    pairs = len(cov.possible_pairs())
    assert f"{pairs}/{pairs}" in out
    assert "stride         >kernel" in out


def test_cases_command_for_one_suite_with_pairs(capsys):
    assert main(["cases", "--suite", "arithmetic", "--pairs", "--dtypes", "float32"]) == 0
    out = capsys.readouterr().out
    assert "suite 'arithmetic'" in out and "uncovered: rank=1d & batch=1" in out
    assert "Impossible pairs" in out and "'VALID' never crops the full result" in out
    with pytest.raises(SystemExit):
        main(["cases", "--suite", "nope"])


def test_the_frozen_default_suite_is_what_the_generator_gives():
    """cases/default-seed0.json (loaded instead of generating) must equal the generator's output:
    regenerate it with `python -m convt_oracle.cases.suites` after changing a generator."""
    generated = suites.SUITES["default"](seed=0)
    frozen = suites.get("default", seed=0)
    assert [case.id for case in frozen] == [case.id for case in generated]
    assert frozen == generated
    assert [case.name for case in frozen] == [case.name for case in generated]
