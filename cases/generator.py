"""Generated cases: random configurations drawn to aim at feature values (convt_oracle.cases.coverage).

`draw(rng, want)` draws one valid configuration aiming at `want` (feature -> value) and at weighted
random values for the other features, or returns None when the draw misses; `generate(rng, size, seen)`
draws `size` new configurations; `fill_pairs(rng, cases)` draws a case for each possible pair of feature
values that `cases` leave uncovered. Everything is deterministic for the `random.Random` given: it
iterates only over ordered sequences and never uses the global RNG.
"""

from __future__ import annotations

import math
import random as _random

from convt_oracle import arithmetic as _arithmetic
from convt_oracle.cases import coverage as _coverage
from convt_oracle.cases.model import Case, make_case

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
    # `exact` only where asked for (a pair still uncovered): the `exact` suite (convt_oracle.cases.suites)
    # carries the exact tier. Its weight 0, last, leaves the draws of the other kinds as they were.
    "values": {"normal": 17, "large": 1, "nonfinite": 2, "nonfinite_weights": 2, "exact": 0},
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
        int(_arithmetic.taps_reaching(i, k, s, d, 0, _arithmetic.full_size(i, k, s, d)).max())
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


def draw(rng: _random.Random, want: dict | None = None) -> Case | None:
    """One generated configuration aiming at `want` (feature -> value) and at random values for the
    rest; None if this draw misses something in `want`, exceeds the size budget, or leaves most of its
    output to holes (convt_oracle.cases.coverage.mostly_holes: elements no product reaches say nothing
    about the data; only curated cases exist to test them)."""
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
    if _coverage.mostly_holes(case):
        return None
    found = _coverage.features(case)
    if any(found[name] != value for name, value in want.items()):
        return None
    return case


def configuration_key(case: Case) -> str:
    return case.id.rsplit("-r", 1)[0]


def generate(rng: _random.Random, size: int, seen: set) -> list[Case]:
    """`size` new configurations, none repeating a configuration in `seen` (updated)."""
    cases = []
    for _ in range(size * 100):
        if len(cases) == size:
            break
        case = draw(rng)
        if case is not None and configuration_key(case) not in seen:
            seen.add(configuration_key(case))
            cases.append(case)
    return cases


def fill_pairs(rng: _random.Random, cases: list[Case], attempts: int = 2000) -> list[Case]:
    """Cases drawn for each possible pair of feature values that `cases` leave uncovered."""
    current = _coverage.coverage(cases)
    covered = set(current.pairs)
    added = []
    for key in current.missing_pairs():
        if key in covered:
            continue
        for _ in range(attempts):
            case = draw(rng, dict(key))
            if case is not None:
                added.append(case)
                covered |= _coverage.coverage([case]).pairs
                break
    return added
