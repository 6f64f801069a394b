"""Suites of cases, by name. `get(name, seed=...)` returns a list of Cases; `expand` puts them in dtypes.

A case whose dtype is None is a configuration: it runs in every dtype asked for. A case with a dtype is
specific to it (float16 overflow, say) and runs only when that dtype is asked for.

Curated suites (fixed seeds, the `seed` argument is ignored): `article`, `arithmetic` (Dumoulin & Visin's
relationships 8-14, plus dilation), `onnx` (the parameters of ONNX's named ConvTranspose node cases),
`edge`, `invalid`. Generated: `random` (seeded, `size` cases), `smoke` (<= 60 cases chosen to touch every
feature value and as many value pairs as fit, see convt_oracle.cases.coverage) and `default` (the curated suites, plus
generated cases, plus cases drawn for every possible pair of feature values still uncovered).

Everything is deterministic for a seed: generation uses its own `random.Random(seed)`, never the global
RNG, and iterates only over ordered sequences, so every process (pytest-xdist workers) gets the same cases.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
import inspect
import math
import random as _random

from convt_oracle.cases import article as _article
from convt_oracle.cases import coverage as _coverage
from convt_oracle.cases.model import DTYPES, Case, make_case
from convt_oracle import arithmetic as _arithmetic

SUITES = {}


def suite(function):
    """Register a suite under its function's name."""
    SUITES[function.__name__] = function
    return function


def get(name: str, *, seed: int = 0, size: int | None = None) -> list[Case]:
    """The cases of suite `name` (deterministic for a seed); an unknown name lists the known ones."""
    if name not in SUITES:
        raise ValueError(f"suite: unknown {name!r}; known suites: {', '.join(sorted(SUITES))}")
    function = SUITES[name]
    if size is not None and "size" not in inspect.signature(function).parameters:
        raise ValueError(f"size: suite {name!r} is curated and has a fixed size; sized suites: {', '.join(SIZED)}")
    return list(_built(name, seed, size))


# The `default` suite at seed 0, as generated (`python -m convt_oracle.cases.suites` rewrites it; tests/test_suites.py
# checks it equals the generator's output): loading it costs ~30 ms, generating it ~0.5 s.
FROZEN_DEFAULT = Path(__file__).with_name("default-seed0.json")


@functools.lru_cache(maxsize=32)
def _built(name: str, seed: int, size: int | None) -> tuple[Case, ...]:
    """A suite, built once per process: suites are deterministic, and `default` takes ~0.5 s to generate."""
    if (name, seed, size) == ("default", 0, None) and FROZEN_DEFAULT.exists():
        return tuple(Case.from_dict(data) for data in json.loads(FROZEN_DEFAULT.read_text()))
    function = SUITES[name]
    return tuple(function(seed=seed) if size is None else function(seed=seed, size=size))


def write_frozen_default() -> None:
    """Regenerate cases/default-seed0.json from the generator."""
    cases = SUITES["default"](seed=0)
    FROZEN_DEFAULT.write_text(json.dumps([case.to_dict() for case in cases], separators=(",", ":")) + "\n")



def expand(cases: list[Case], dtypes) -> list[Case]:
    """Each configuration in each dtype, and each dtype-specific case whose dtype is among `dtypes`."""
    unknown = [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise ValueError(f"dtypes: unknown {unknown}; expected some of {', '.join(DTYPES)}")
    expanded = []
    for case in cases:
        if case.dtype is None:
            expanded += [dataclasses.replace(case, dtype=d) for d in dtypes]
        elif case.dtype in dtypes:
            expanded.append(case)
    return expanded


def _unique(cases) -> list[Case]:
    """The cases in order, without repeated ids."""
    seen, kept = set(), []
    for case in cases:
        if case.id not in seen:
            seen.add(case.id)
            kept.append(case)
    return kept


# --- curated ---------------------------------------------------------------------------------------------


@suite
def article(seed: int = 0) -> list[Case]:
    """The source article's cases: TF 'SAME' 2x2 -> 4x4, unit stride 2x2 -> 4x4, stride 2 3x3 -> 5x5."""
    del seed  # curated: fixed seeds
    return [
        make_case(
            name="article-tf-same-2x2-to-4x4",
            input_size=_article.INPUT.shape,
            kernel_size=_article.KERNEL.shape,
            stride=_article.STRIDE,
            mode="same",
            seed=1,
        ),
        make_case(name="article-unit-stride-2x2-to-4x4", input_size=(2, 2), kernel_size=(3, 3), seed=2),
        make_case(name="article-stride-2-3x3-to-5x5", input_size=(3, 3), kernel_size=(3, 3), stride=2, padding=1, seed=3),
    ]


# Dumoulin & Visin, "A guide to convolution arithmetic", relationships 8-14 (REFERENCE.md): the transposed
# conv of a forward conv with kernel k, stride s, padding p crops p at both ends. Each row: name, kernel,
# stride, padding, output_padding (the relationship's `a`), dilation, input size i' (two different sizes,
# one per axis) and the output size o' the relationship gives, worked out by hand for each axis.
ARITHMETIC = (
    ("dv-8-unit-stride-no-padding", 3, 1, 0, 0, 1, (2, 3), (4, 5)),  # o' = i' + (k-1)
    ("dv-9-unit-stride-padding", 4, 1, 2, 0, 1, (6, 7), (5, 6)),  # o' = i' + (k-1) - 2p
    ("dv-10-half-padding", 3, 1, 1, 0, 1, (5, 6), (5, 6)),  # o' = i'
    ("dv-11-full-padding", 3, 1, 2, 0, 1, (7, 8), (5, 6)),  # o' = i' - (k-1)
    ("dv-12-stride-no-padding", 3, 2, 0, 0, 1, (2, 3), (5, 7)),  # o' = s(i'-1) + k
    ("dv-13-stride-padding", 3, 2, 1, 0, 1, (3, 4), (5, 7)),  # o' = s(i'-1) + k - 2p
    ("dv-14-stride-padding-a", 3, 2, 1, 1, 1, (3, 4), (6, 8)),  # o' = s(i'-1) + a + k - 2p
    # Dilation d: the same relationships with k replaced by the effective kernel d(k-1) + 1 = 5.
    ("dv-8-dilated", 3, 1, 0, 0, 2, (3, 4), (7, 8)),  # o' = i' + (5-1)
    ("dv-10-dilated-half-padding", 3, 1, 2, 0, 2, (5, 6), (5, 6)),  # p = (5-1)/2: o' = i'
    ("dv-13-dilated-stride-padding", 3, 2, 1, 0, 2, (3, 4), (7, 9)),  # o' = 2(i'-1) + 5 - 2
    ("dv-14-dilated-stride-padding-a", 3, 2, 2, 1, 2, (3, 4), (6, 8)),  # o' = 2(i'-1) + 1 + 5 - 4
)


@suite
def arithmetic(seed: int = 0) -> list[Case]:
    """One case per Dumoulin & Visin relationship 8-14 (and dilated variants), 2-d with 2 -> 3 channels."""
    del seed
    cases = [
        make_case(
            name=name, input_size=size, kernel_size=k, stride=s, padding=p, output_padding=a, dilation=d,
            in_channels=2, out_channels=3, seed=index,
        )
        for index, (name, k, s, p, a, d, size, _) in enumerate(ARITHMETIC, start=1)
    ]
    # Half padding is what 'SAME' means at unit stride.
    cases.append(
        make_case(name="dv-10-half-padding-as-same", input_size=(5, 6), kernel_size=3, mode="same",
                  in_channels=2, out_channels=3, seed=len(cases) + 1)
    )
    return cases


# ONNX's named ConvTranspose node cases, onnx/backend/test/case/node/convtranspose.py (onnx 1.23.2): the
# shapes of X and W and the node's attributes, copied as literals (onnx is not imported). The values of
# X and W there are not used: a Case draws its own from its seed.
ONNX = (
    ("onnx-convtranspose", (1, 1, 3, 3), (1, 2, 3, 3), {}),
    ("onnx-convtranspose_1d", (1, 1, 3), (1, 2, 3), {}),
    ("onnx-convtranspose_3d", (1, 1, 3, 4, 5), (1, 2, 3, 3, 3), {}),
    ("onnx-convtranspose_output_shape", (1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], output_shape=[10, 8])),
    ("onnx-convtranspose_pad", (1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], output_padding=[1, 1])),
    (
        "onnx-convtranspose_kernel_shape",
        (1, 1, 3, 3),
        (1, 2, 3, 3),
        dict(strides=[3, 2], output_shape=[10, 8], kernel_shape=[3, 3], output_padding=[1, 1]),
    ),
    ("onnx-convtranspose_pads", (1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], pads=[1, 2, 1, 2])),
    ("onnx-convtranspose_dilations", (1, 1, 3, 3), (1, 1, 2, 2), dict(dilations=[2, 2])),
    ("onnx-convtranspose_autopad_same", (1, 1, 3, 3), (1, 2, 3, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    ("onnx-convtranspose_group_2", (1, 2, 3, 3), (2, 1, 3, 3), dict(group=2)),
    ("onnx-convtranspose_group_2_image_3", (3, 2, 3, 3), (2, 1, 3, 3), dict(group=2)),
)


def _onnx_case(name: str, x_shape, w_shape, attributes: dict, seed: int) -> Case | None:
    """The canonical Case of one ONNX node case, or None if its padding has a negative begin."""
    batch, in_channels, *input_size = x_shape
    _, cog, *kernel = w_shape
    rank, groups = len(input_size), attributes.get("group", 1)
    stride = attributes.get("strides", [1] * rank)
    dilation = attributes.get("dilations", [1] * rank)
    pads = attributes.get("pads", [0] * 2 * rank)  # ONNX order: every begin, then every end
    output_padding = attributes.get("output_padding", [0] * rank)
    output_shape = attributes.get("output_shape")
    auto_pad = attributes.get("auto_pad", "NOTSET")
    axes = [
        _arithmetic.onnx_padding(
            input_size[j], kernel[j], stride[j], dilation[j], auto_pad=auto_pad, pads=(pads[j], pads[rank + j]),
            output_padding=output_padding[j], output_shape=None if output_shape is None else output_shape[j],
        )
        for j in range(rank)
    ]
    if any(axis.begin < 0 for axis in axes):
        # Zeros before the full result (output_shape past it, split toward the start): not a crop, so no
        # canonical Case can carry it. None of the cases above does this today.
        return None
    common = dict(
        name=name, batch=batch, in_channels=in_channels, out_channels=cog * groups, groups=groups,
        input_size=tuple(input_size), kernel_size=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
        seed=seed,
    )
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        same = make_case(mode="same", **common)
        if same.padding == tuple((a.begin, a.end) for a in axes) and same.output_padding == tuple(
            a.output_padding for a in axes
        ):
            return same
    return make_case(
        mode="output_shape" if output_shape is not None else "explicit",
        padding=tuple((a.begin, a.end) for a in axes),
        output_padding=tuple(a.output_padding for a in axes),
        **common,
    )


@suite
def onnx(seed: int = 0) -> list[Case]:
    """The parameters of ONNX's named ConvTranspose node cases, in canonical padding."""
    del seed
    cases = [_onnx_case(name, x, w, attributes, index) for index, (name, x, w, attributes) in enumerate(ONNX, 1)]
    return [case for case in cases if case is not None]


@suite
def edge(seed: int = 0) -> list[Case]:
    """Corners of the parameter space, each named for what it tests."""
    del seed
    c = make_case
    return [
        # Stride larger than the effective kernel: output positions no tap reaches (zero, plus bias).
        c(name="edge-stride-gt-kernel-2d", input_size=(3, 4), kernel_size=(2, 1), stride=(3, 2),
          in_channels=2, out_channels=3, seed=1),
        c(name="edge-stride-gt-dilated-kernel-1d", input_size=4, kernel_size=2, dilation=2, stride=4,
          in_channels=3, out_channels=2, bias=True, seed=2),
        # Kernel larger than the input.
        c(name="edge-kernel-larger-than-input-2d", input_size=(1, 2), kernel_size=(3, 4), stride=(2, 1),
          in_channels=3, out_channels=2, seed=3),
        c(name="edge-kernel-larger-than-input-3d", input_size=(2, 1, 3), kernel_size=(3, 2, 4),
          padding=((1, 1), (0, 1), (2, 0)), in_channels=2, out_channels=3, bias=True, seed=4),
        # 1x1 kernels: at unit stride a per-pixel channel mix; strided, zeros between the pixels.
        c(name="edge-kernel-1x1-2d", input_size=(3, 5), kernel_size=1, in_channels=4, out_channels=3,
          bias=True, seed=5),
        c(name="edge-kernel-1x1-stride-2x3", input_size=(4, 3), kernel_size=1, stride=(2, 3),
          in_channels=2, out_channels=3, seed=6),
        c(name="edge-kernel-1x1x1-3d-grouped", input_size=(2, 3, 4), kernel_size=1, groups=2,
          in_channels=4, out_channels=6, seed=7),
        # output_padding up to max(stride, dilation) - 1 (torch's limit), within the full result...
        c(name="edge-output-padding-max-stride-1d", input_size=4, kernel_size=3, stride=3, padding=2,
          output_padding=2, in_channels=2, out_channels=3, seed=8),
        c(name="edge-output-padding-max-dilation-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2),
          dilation=(3, 2), padding=2, output_padding=(2, 1), in_channels=3, out_channels=2, seed=9),
        # ... and past the full extent: zeros (plus bias) after the full result.
        c(name="edge-output-padding-past-full-1d", input_size=3, kernel_size=2, stride=3, output_padding=2,
          in_channels=2, out_channels=3, bias=True, seed=10),
        c(name="edge-output-padding-past-full-beyond-max-stride-2d", input_size=(3, 2), kernel_size=(2, 3),
          stride=(2, 1), padding=((1, 0), (0, 1)), output_padding=(3, 2), in_channels=2, out_channels=3,
          bias=True, seed=11),
        # Crops that leave one pixel.
        c(name="edge-crop-leaves-one-pixel-1d", input_size=2, kernel_size=3, padding=((1, 2),),
          in_channels=2, out_channels=3, seed=12),
        c(name="edge-crop-leaves-one-pixel-2d", input_size=(3, 2), kernel_size=(2, 3), stride=(2, 1),
          padding=((2, 3), (1, 2)), in_channels=3, out_channels=2, bias=True, seed=13),
        c(name="edge-crop-to-nothing-plus-output-padding-one", input_size=(2, 3), kernel_size=(2, 2),
          padding=((1, 2), (0, 0)), output_padding=(1, 0), in_channels=2, out_channels=3, bias=True, seed=14),
        c(name="edge-crop-into-interior-1d", input_size=5, kernel_size=2, stride=2, padding=((3, 4),),
          in_channels=3, out_channels=2, seed=15),
        # Depthwise and grouped, with bias.
        c(name="edge-depthwise-multiplier-2-bias-2d", input_size=(4, 5), kernel_size=(3, 2), stride=2,
          groups=4, in_channels=4, out_channels=8, bias=True, seed=16),
        c(name="edge-depthwise-multiplier-1-bias-1d", input_size=6, kernel_size=3, stride=2, padding=1,
          groups=3, in_channels=3, out_channels=3, bias=True, seed=17),
        c(name="edge-grouped-bias-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1),
          padding=((1, 0), (1, 1)), groups=2, in_channels=6, out_channels=4, bias=True, seed=18),
        c(name="edge-grouped-bias-3d", input_size=(2, 3, 4), kernel_size=(2, 1, 3), stride=(2, 1, 1),
          groups=3, in_channels=6, out_channels=9, bias=True, seed=19),
        # Batch > 1.
        c(name="edge-batch-3-grouped-2d", batch=3, input_size=(3, 4), kernel_size=(3, 2), stride=(2, 1),
          groups=2, in_channels=4, out_channels=6, bias=True, seed=20),
        # Non-square everything: every per-axis parameter differs between axes.
        c(name="edge-non-square-everything-3d", batch=2, input_size=(2, 4, 3), kernel_size=(3, 1, 2),
          stride=(2, 3, 1), dilation=(1, 3, 2), padding=((1, 0), (0, 0), (1, 2)), output_padding=(1, 2, 0),
          in_channels=2, out_channels=3, bias=True, seed=21),
        # Long reductions (>= 512 products per output element), as configurations: every dtype.
        c(name="edge-long-reduction-2d", input_size=(5, 6), kernel_size=(4, 4), in_channels=36, out_channels=3,
          seed=22),
        c(name="edge-long-reduction-1x1", input_size=(2, 3), kernel_size=1, in_channels=520, out_channels=2,
          seed=23),
        c(name="edge-long-reduction-grouped-bias-1d", input_size=8, kernel_size=6, groups=2, in_channels=200,
          out_channels=4, bias=True, seed=24),
        c(name="edge-long-reduction-depthwise-1d", input_size=520, kernel_size=520, groups=2, in_channels=2,
          out_channels=4, seed=25),
        # Results that overflow float16 and bfloat16 (values scaled for each dtype, see Case.arrays).
        c(name="edge-overflow-float16", input_size=(4, 5), kernel_size=3, stride=2, in_channels=4,
          out_channels=3, values="large", dtype="float16", seed=26),
        c(name="edge-overflow-bfloat16", input_size=(4, 5), kernel_size=3, stride=2, in_channels=4,
          out_channels=3, values="large", dtype="bfloat16", seed=27),
        c(name="edge-overflow-float16-long-reduction", input_size=(3, 4), kernel_size=(4, 4), in_channels=40,
          out_channels=2, bias=True, values="large", dtype="float16", seed=28),
        c(name="edge-overflow-bfloat16-bias-1d", input_size=5, kernel_size=3, in_channels=3, out_channels=2,
          bias=True, values="large", dtype="bfloat16", seed=29),
        # Inputs containing inf and NaN.
        c(name="edge-nonfinite-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2), in_channels=2,
          out_channels=3, bias=True, values="nonfinite", seed=30),
        c(name="edge-nonfinite-stride-gt-kernel-1d", input_size=5, kernel_size=2, stride=3, in_channels=3,
          out_channels=2, values="nonfinite", seed=31),
        # Weights and bias containing inf and NaN; positions no tap reaches must keep the bias alone.
        c(name="edge-nonfinite-weights-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2), in_channels=3,
          out_channels=2, bias=True, values="nonfinite_weights", seed=37),
        c(name="edge-nonfinite-weights-stride-gt-kernel-output-padding-past-full-1d", input_size=4,
          kernel_size=2, stride=3, output_padding=2, in_channels=2, out_channels=3, bias=True,
          values="nonfinite_weights", seed=38),
        # Many output channels per group (past the 4, 8 and 16 lanes of vectorized kernels).
        c(name="edge-wide-output-channels-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(2, 1), padding=1,
          in_channels=3, out_channels=17, bias=True, seed=39),
        c(name="edge-wide-output-channels-grouped-1d", batch=2, input_size=5, kernel_size=3, stride=2,
          groups=2, in_channels=4, out_channels=66, bias=True, seed=40),
        c(name="edge-wide-output-channels-3d", input_size=(2, 3, 2), kernel_size=(2, 1, 2), stride=(1, 2, 1),
          in_channels=2, out_channels=9, seed=41),
        # Padding modes at their corners.
        c(name="edge-same-odd-total-crop", input_size=(3, 4), kernel_size=(4, 3), stride=(1, 2), mode="same",
          in_channels=2, out_channels=3, seed=32),
        c(name="edge-same-stride-gt-kernel", input_size=(3, 2), kernel_size=(1, 2), stride=(2, 3), mode="same",
          in_channels=3, out_channels=2, seed=33),
        c(name="edge-valid-stride-gt-kernel", input_size=4, kernel_size=2, stride=3, mode="valid",
          in_channels=2, out_channels=3, seed=34),
        _tf_output_shape_case("edge-tf-output-shape-smaller-of-two", (4, 3), 3, 2, (7, 5), seed=35),
        c(name="edge-input-size-one", input_size=(1, 1), kernel_size=(2, 3), stride=(2, 3), in_channels=3,
          out_channels=2, bias=True, seed=36),
    ]


def _tf_output_shape_case(name, input_size, k, s, sizes, seed) -> Case:
    """A TF 'SAME' output_shape case asking for `sizes` (TF accepts several sizes for one input)."""
    axes = [_arithmetic.output_shape_padding(i, k, s, 1, "SAME", n) for i, n in zip(input_size, sizes)]
    return make_case(
        name=name, input_size=input_size, kernel_size=k, stride=s, mode="output_shape", in_channels=2,
        out_channels=3, padding=tuple((a.begin, a.end) for a in axes),
        output_padding=tuple(a.output_padding for a in axes), seed=seed,
    )


@suite
def invalid(seed: int = 0) -> list[Case]:
    """Configurations every framework should reject; each carries the golden's reason."""
    del seed
    c = make_case
    cases = [
        c(name="invalid-in-channels-not-divisible-by-groups", input_size=(3, 4), kernel_size=(2, 3), groups=2,
          in_channels=3, out_channels=4, seed=1),
        c(name="invalid-zero-groups", input_size=4, kernel_size=2, groups=0, in_channels=2, out_channels=3,
          seed=2),
        c(name="invalid-zero-stride", input_size=(3, 4), kernel_size=2, stride=(0, 1), in_channels=2,
          out_channels=3, seed=3),
        c(name="invalid-negative-stride", input_size=4, kernel_size=2, stride=-2, in_channels=2,
          out_channels=3, seed=4),
        c(name="invalid-zero-dilation", input_size=(3, 4), kernel_size=2, dilation=(1, 0), in_channels=2,
          out_channels=3, seed=5),
        c(name="invalid-negative-padding-begin", input_size=4, kernel_size=3, padding=((-1, 0),),
          in_channels=2, out_channels=3, seed=6),
        c(name="invalid-negative-padding-end", input_size=(3, 4), kernel_size=2, padding=((0, 0), (1, -1)),
          in_channels=2, out_channels=3, seed=7),
        c(name="invalid-negative-output-padding", input_size=4, kernel_size=3, stride=2, padding=1,
          output_padding=-1, in_channels=2, out_channels=3, seed=8),
        c(name="invalid-crop-leaves-zero", input_size=2, kernel_size=2, padding=((2, 1),), in_channels=2,
          out_channels=3, seed=9),
        c(name="invalid-crop-leaves-negative-2d", input_size=(2, 3), kernel_size=(3, 2), padding=((3, 3), (0, 0)),
          in_channels=2, out_channels=3, seed=10),
    ]
    assert not any(case.valid for case in cases), [case.name for case in cases if case.valid]
    return cases


CURATED = ("article", "arithmetic", "onnx", "edge", "invalid")
SIZED = ("random", "default")


# --- generated -------------------------------------------------------------------------------------------

# How often each feature value is aimed at when nothing is asked for (convt_oracle.cases.coverage.FEATURES): common
# configurations often, rare corners sometimes. A draw aims at one value per feature; `padding` and
# `output_padding` are honored in explicit mode, and the others (derived modes) land where they land.
_WEIGHTS = {
    "rank": {"1d": 3, "2d": 4, "3d": 3},
    "batch": {"1": 7, ">1": 3},
    "groups": {"1": 5, "depthwise": 2, "grouped": 3},
    "bias": {"no": 1, "yes": 1},
    "kernel": {"1x1": 1, "within_input": 8, "larger_than_input": 1},
    "stride": {"1": 3, ">1": 5, ">kernel": 2},
    "dilation": {"1": 13, ">1": 7},
    "padding": {"none": 3, "symmetric": 4, "asymmetric": 3},
    "output_padding": {"0": 9, "within_full": 5, "past_full": 6},
    "mode": {"explicit": 11, "same": 3, "valid": 2, "output_shape": 4},
    "reduction": {"short": 97, "long": 3},
    "values": {"normal": 17, "large": 1, "nonfinite": 2, "nonfinite_weights": 2},
}
_MAX_INPUT = {1: 7, 2: 5, 3: 4}  # spatial sizes 1.._MAX_INPUT[rank]
_MAX_KERNEL = {1: 5, 2: 4, 3: 3}
# Output elements (batch * out_channels * spatial) a generated case may have: most stay small, a few are
# larger; long reductions need room for their channels or kernels.
_BUDGET, _LARGE_BUDGET, _LONG_BUDGET = 1500, 5000, 6000
_LARGE_SHARE = 0.04


class _Miss(Exception):
    """This draw cannot honor what it aimed at; draw again."""


def _pick(rng: _random.Random, name: str) -> str:
    values = _WEIGHTS[name]
    return rng.choices(list(values), weights=list(values.values()))[0]


def _distinct(rng: _random.Random, count: int, low: int, high: int) -> list[int]:
    """`count` values in [low, high], all different when the range allows (so that axes cannot swap)."""
    if high - low + 1 >= count:
        return rng.sample(range(low, high + 1), count)
    return [rng.randint(low, high) for _ in range(count)]


def _geometry(rng, aim, rank):
    """Per-axis input, kernel, dilation and stride honoring the `kernel`, `dilation` and `stride` aims."""
    max_i, max_k, axes = _MAX_INPUT[rank], _MAX_KERNEL[rank], range(rank)
    if aim["kernel"] == "1x1":
        inputs, kernel = _distinct(rng, rank, 1, max_i), [1] * rank
    elif aim["kernel"] == "within_input":
        inputs = _distinct(rng, rank, 1, max_i)
        if max(inputs) < 2:
            raise _Miss
        wide = rng.choice([j for j in axes if inputs[j] >= 2])
        for _ in range(4):  # prefer a different kernel size on each axis
            kernel = [rng.randint(2 if j == wide else 1, min(inputs[j], max_k)) for j in axes]
            if len(set(kernel)) == rank:
                break
    else:  # larger_than_input, on an axis with a small input
        wide, small = rng.randrange(rank), rng.randint(1, 3)
        inputs = rng.sample([size for size in range(1, max_i + 1) if size != small], rank - 1)
        inputs.insert(wide, small)
        kernel = [rng.randint(1, max_k) for _ in axes]
        kernel[wide] = rng.randint(inputs[wide] + 1, inputs[wide] + 2)
    dilation = [1] * rank
    if aim["dilation"] == ">1":
        dilation = [rng.choice((1, 1, 2)) for _ in axes]
        dilation[rng.randrange(rank)] = rng.choice((2, 3))
    ke = [_arithmetic.effective_kernel(k, d) for k, d in zip(kernel, dilation)]
    stride = [1] * rank
    if aim["stride"] == ">1":
        strided = [j for j in axes if ke[j] >= 2]
        if not strided:
            raise _Miss
        stride = [rng.randint(1, min(ke[j], 3)) for j in axes]
        j = rng.choice(strided)
        stride[j] = rng.randint(2, min(ke[j], 3))
    elif aim["stride"] == ">kernel":
        stride = [rng.randint(1, min(ke[j], 3)) for j in axes]
        j = rng.randrange(rank)
        stride[j] = ke[j] + rng.randint(1, 2)
    return inputs, kernel, dilation, stride, ke


def _channels(rng, aim):
    """(groups, in_channels per group, out_channels per group), with in_channels != out_channels."""
    if aim["groups"] == "1":
        cin, cout = rng.sample(range(1, 5), 2)
        return 1, cin, cout
    if aim["groups"] == "depthwise":
        return rng.randint(2, 4), 1, rng.randint(2, 3)
    cig = rng.randint(2, 3)
    return rng.randint(2, 3), cig, rng.choice([c for c in (1, 2, 3) if c != cig])


def _lengthen(rng, aim, inputs, kernel, dilation, stride, cig):
    """For a `long` aim: grow the in_channels per group (or, depthwise, a kernel) to >= 512 products."""
    rank = len(inputs)
    counts = [
        int(_coverage.axis_products(i, k, s, d, 0, _arithmetic.full_size(i, k, s, d)).max())
        for i, k, s, d in zip(inputs, kernel, stride, dilation)
    ]
    if aim["groups"] != "depthwise":
        return max(cig, -(-_coverage.LONG_REDUCTION // math.prod(counts)))
    # Depthwise: one input channel per group, so the kernel carries the reduction, on an axis with a
    # dense enough tap pattern (stride and dilation 1).
    dense = [j for j in range(rank) if stride[j] == 1 and dilation[j] == 1 and kernel[j] > 1]
    if not dense:
        raise _Miss
    j = rng.choice(dense)
    need = -(-_coverage.LONG_REDUCTION // (math.prod(counts) // counts[j]))
    # With stride and dilation 1 an interior output receives min(k, i) taps on this axis.
    larger = kernel[j] > inputs[j]  # keep a `larger_than_input` kernel larger
    inputs[j] = need + (0 if larger else rng.randint(0, 2))
    kernel[j] = need + (1 if larger else 0)
    return cig


def _asymmetric(rng, full: int) -> tuple[int, int]:
    """A small (begin, end) crop with begin != end that leaves at least one element of `full`."""
    return rng.choice([(b, e) for b in range(3) for e in range(3) if b != e and b + e <= full - 1])


def _explicit_padding(rng, aim, full, stride, dilation):
    """Per-axis (begin, end) crops and output_padding honoring the `padding` and `output_padding` aims."""
    rank = len(full)
    pads, ops = [(0, 0)] * rank, [0] * rank
    kind = aim["padding"]
    if kind != "none":
        room = [j for j in range(rank) if full[j] >= (3 if kind == "symmetric" else 2)]
        if not room:
            raise _Miss
        first = rng.choice(room)
        for j in range(rank):
            if j != first and rng.random() >= 0.4:
                continue
            if full[j] >= 3 and (kind == "symmetric" or j != first and rng.random() < 0.5):
                p = rng.randint(1, min(2, (full[j] - 1) // 2))
                pads[j] = (p, p)
            elif kind == "asymmetric" and full[j] >= 2:
                pads[j] = _asymmetric(rng, full[j])
    kind = aim["output_padding"]
    if kind == "within_full":  # 0 < output_padding <= end, below max(s, d) where the crop allows
        cropped = [j for j in range(rank) if pads[j][1] >= 1]
        if not cropped:
            raise _Miss
        j = rng.choice(cropped)
        ops[j] = rng.randint(1, min(pads[j][1], max(2, stride[j], dilation[j]) - 1))
    elif kind == "past_full":  # output_padding > end
        j = rng.randrange(rank)
        ops[j] = pads[j][1] + rng.randint(1, max(1, max(stride[j], dilation[j]) - 1 - pads[j][1]))
    return pads, ops


def _output_shape_padding(rng, inputs, kernel, stride, dilation, ke):
    """Canonical padding of a TF output_shape call: 'SAME', 'VALID' or explicit forward pads, and a size
    the forward convolution accepts (convt_oracle.arithmetic.output_shape_padding)."""
    style = rng.choice(("SAME", "VALID", "explicit"))
    pads, ops = [], []
    for i, k, s, d, e in zip(inputs, kernel, stride, dilation, ke):
        forward = style if style != "explicit" else (rng.randint(0, min(e - 1, 2)), rng.randint(0, min(e - 1, 2)))
        sizes = _arithmetic.accepted_output_sizes(i, k, s, d, forward)
        if not sizes:
            raise _Miss
        axis = _arithmetic.output_shape_padding(i, k, s, d, forward, rng.choice(sizes))
        pads.append((axis.begin, axis.end))
        ops.append(axis.output_padding)
    return pads, ops


def _draw(rng: _random.Random, want: dict | None = None) -> Case | None:
    """One generated configuration aiming at `want` (feature -> value) and at random values for the
    rest; None if this draw misses something in `want` or exceeds the size budget."""
    want = {name: value for name, value in (want or {}).items() if name != "dtype"}
    aim = {name: want.get(name) or _pick(rng, name) for name in _WEIGHTS}
    rank = int(aim["rank"][0])
    try:
        inputs, kernel, dilation, stride, ke = _geometry(rng, aim, rank)
        groups, cig, cog = _channels(rng, aim)
        if aim["reduction"] == "long":
            cig = _lengthen(rng, aim, inputs, kernel, dilation, stride, cig)
            ke = [_arithmetic.effective_kernel(k, d) for k, d in zip(kernel, dilation)]
        full = [_arithmetic.full_size(i, k, s, d) for i, k, s, d in zip(inputs, kernel, stride, dilation)]
        padding, output_padding = 0, 0
        if aim["mode"] == "explicit":
            padding, output_padding = _explicit_padding(rng, aim, full, stride, dilation)
        elif aim["mode"] == "output_shape":
            padding, output_padding = _output_shape_padding(rng, inputs, kernel, stride, dilation, ke)
    except _Miss:
        return None
    case = make_case(
        batch=1 if aim["batch"] == "1" else rng.randint(2, 3),
        in_channels=groups * cig,
        out_channels=groups * cog,
        groups=groups,
        input_size=tuple(inputs),
        kernel_size=tuple(kernel),
        stride=tuple(stride),
        dilation=tuple(dilation),
        padding=padding,
        output_padding=output_padding,
        bias=aim["bias"] == "yes",
        mode=aim["mode"],
        values=aim["values"],
        seed=rng.randrange(1, 1_000_000),
    )
    if not case.valid:
        return None
    budget = _LONG_BUDGET if aim["reduction"] == "long" else _LARGE_BUDGET if rng.random() < _LARGE_SHARE else _BUDGET
    if math.prod(_coverage.output_shape(case)) > budget or math.prod(case.x_shape) > 4 * _LONG_BUDGET:
        return None
    found = _coverage.features(case)
    if any(found[name] != value for name, value in want.items()):
        return None
    return case


def _configuration_key(case: Case) -> str:
    return case.id.rsplit("-r", 1)[0]


def _generate(rng: _random.Random, size: int, seen: set) -> list[Case]:
    """`size` new configurations, none repeating a configuration in `seen` (updated)."""
    cases = []
    for _ in range(size * 100):
        if len(cases) == size:
            break
        case = _draw(rng)
        if case is not None and _configuration_key(case) not in seen:
            seen.add(_configuration_key(case))
            cases.append(case)
    return cases


@functools.lru_cache(maxsize=16)
def _random_cases(seed: int, size: int) -> tuple[Case, ...]:
    return tuple(_generate(_random.Random(f"random/{seed}"), size, set()))


@suite
def random(seed: int = 0, size: int = 300) -> list[Case]:
    """`size` generated configurations (dtype None), deterministic for the seed."""
    return list(_random_cases(seed, size))


def _fill_pairs(rng: _random.Random, cases: list[Case], attempts: int = 2000) -> list[Case]:
    """Cases drawn for each possible pair of feature values that `cases` leave uncovered."""
    current = _coverage.coverage(cases)
    covered = set(current.pairs)
    added = []
    for key in current.missing_pairs():
        if key in covered:
            continue
        for _ in range(attempts):
            case = _draw(rng, dict(key))
            if case is not None:
                added.append(case)
                covered |= _coverage.coverage([case]).pairs
                break
    return added


DEFAULT_GENERATED = 1500


@functools.lru_cache(maxsize=8)
def _default_cases(seed: int, size: int) -> tuple[Case, ...]:
    curated = [case for name in CURATED for case in get(name, seed=seed)]
    cases = _unique(curated + list(_random_cases(seed, size)))
    cases += _fill_pairs(_random.Random(f"default/{seed}"), cases)
    return tuple(_unique(cases))


@suite
def default(seed: int = 0, size: int = DEFAULT_GENERATED) -> list[Case]:
    """The curated suites, `size` generated configurations, and cases for every still uncovered pair."""
    return list(_default_cases(seed, size))


SMOKE_SIZE = 60


@functools.lru_cache(maxsize=8)
def _smoke_cases(seed: int) -> tuple[Case, ...]:
    # Start from the article's case and the dtype-specific overflow cases (so that every dtype has its own
    # case), then add, greedily, the case that covers the most feature values not yet covered, then the most
    # value pairs, the smaller first on ties, from the curated valid cases and generated ones.
    start = [get("article")[0]] + [case for case in edge() if case.dtype is not None][:2]
    pool = [case for name in ("edge", "arithmetic", "onnx") for case in get(name) if case.valid]
    pool += list(_random_cases(seed, 400))
    pool = _unique(pool)
    described = {case.id: _coverage.features(case) for case in start + pool}
    values = {item for case in start for item in described[case.id].items()}
    pairs = set().union(*(_coverage.case_pairs(described[case.id]) for case in start))
    chosen = list(start)
    taken = {case.id for case in start}

    def gain(case):  # (new feature values, new pairs, smaller first)
        items = described[case.id]
        new = (len(set(items.items()) - values), len(_coverage.case_pairs(items) - pairs))
        return (*new, -math.prod(_coverage.output_shape(case)))

    while len(chosen) < SMOKE_SIZE:
        candidates = [case for case in pool if case.id not in taken]
        best = max(candidates, key=gain, default=None)  # the first of equals: deterministic
        if best is None or gain(best)[:2] == (0, 0):
            break
        chosen.append(best)
        taken.add(best.id)
        values |= set(described[best.id].items())
        pairs |= _coverage.case_pairs(described[best.id])
    # Pairs the pool never has: a drawn case for each, while there is room.
    chosen += _fill_pairs(_random.Random(f"smoke/{seed}"), chosen)[: SMOKE_SIZE - len(chosen)]
    return tuple(chosen)


@suite
def smoke(seed: int = 0) -> list[Case]:
    """<= 60 cases that touch every feature value (convt_oracle.cases.coverage) and as many value pairs as fit."""
    return list(_smoke_cases(seed))


if __name__ == "__main__":
    write_frozen_default()
    print(f"wrote {FROZEN_DEFAULT}")
