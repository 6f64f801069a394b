"""Suites of cases, by name. `get(name, seed=...)` returns a list of Cases; `expand` puts them in dtypes.

A case whose dtype is None is a configuration: it runs in every dtype asked for. A case with a dtype is
specific to it (float16 overflow, say) and runs only when that dtype is asked for.

This module is the registry, and composes the suites that mix curated and generated cases. Curated suites
(convt_oracle.cases.curated; fixed seeds, the `seed` argument is ignored): `article`, `arithmetic`, `onnx`,
`edge`, `invalid`. Generated (convt_oracle.cases.generator): `random` (seeded, `size` cases), `smoke`
(<= 60 cases chosen to touch every feature value and as many value pairs as fit, see
convt_oracle.cases.coverage), `exact` (the exact tier: named long reductions and hole cases, plus generated
configurations, EXACT_SIZE in all, every one with `exact` values, compared with zero tolerance) and
`default` (the curated suites, plus generated cases, plus the exact tier, plus cases drawn for every
possible pair of feature values still uncovered).

Everything is deterministic for a seed: generation uses its own `random.Random(seed)`, never the global
RNG, and iterates only over ordered sequences, so every process (pytest-xdist workers) gets the same cases.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import random as _random
from pathlib import Path

import numpy as np

from convt_oracle import arithmetic as _arithmetic
from convt_oracle.cases import coverage as _coverage
from convt_oracle.cases import curated, generator
from convt_oracle.cases.model import EXACT, Case, check_dtypes, make_case  # noqa: F401 (check_dtypes: suites.check_dtypes too)

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


def check_seed(seed) -> int:
    """The seed of the generated suites: an int (TypeError otherwise)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: got {seed!r}; expected an int")
    return int(seed)


def select(suite, dtypes, *, seed: int = 0, max_cases: int | None = None) -> list[Case]:
    """The cases to check: `suite` (a suite name, or a sequence of Cases) in `dtypes`, the first `max_cases`
    of them. Every argument is checked, and a selection with no case in it is a ValueError: a check of
    nothing would say nothing."""
    dtypes, seed = check_dtypes(dtypes), check_seed(seed)
    if isinstance(suite, str):
        cases = get(suite, seed=seed)
    else:
        try:
            cases = list(suite)
        except TypeError:
            raise TypeError(f"suite: got {type(suite).__name__}; expected a suite name or a sequence of Cases") from None
        strays = [index for index, case in enumerate(cases) if not isinstance(case, Case)]
        if strays:
            raise TypeError(
                f"suite: item {strays[0]} is {type(cases[strays[0]]).__name__}, not a convt_oracle.cases.model.Case "
                f"(make_case builds one)"
            )
    if max_cases is not None and (isinstance(max_cases, bool) or not isinstance(max_cases, (int, np.integer))):
        raise TypeError(f"max_cases: got {max_cases!r}; expected an int >= 1 or None")
    if max_cases is not None and max_cases < 1:
        raise ValueError(f"max_cases: got {max_cases}; expected at least 1 (None: every case)")
    selected = expand(cases, dtypes)[:max_cases]
    if not cases:
        raise ValueError("suite: no case given: there would be nothing to check")
    if not selected:
        named = repr(suite) if isinstance(suite, str) else f"the {len(cases)} cases given"
        raise ValueError(f"suite: {named} has no case in dtypes {', '.join(dtypes)}: there would be nothing to check")
    return selected


def expand(cases: list[Case], dtypes) -> list[Case]:
    """Each configuration in each dtype, and each dtype-specific case whose dtype is among `dtypes`."""
    dtypes = check_dtypes(dtypes)
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


# --- the suites -------------------------------------------------------------------------------------------

for _curated in (curated.article, curated.arithmetic, curated.onnx, curated.edge, curated.invalid):
    suite(_curated)

CURATED = ("article", "arithmetic", "onnx", "edge", "invalid")
SIZED = ("random", "default")


@functools.lru_cache(maxsize=16)
def _random_cases(seed: int, size: int) -> tuple[Case, ...]:
    return tuple(generator.generate(_random.Random(f"random/{seed}"), size, set()))


@suite
def random(seed: int = 0, size: int = 300) -> list[Case]:
    """`size` generated configurations (dtype None), deterministic for the seed."""
    return list(_random_cases(seed, size))


# --- the exact tier ---------------------------------------------------------------------------------------


def _exact_named() -> list[Case]:
    """The exact tier's named configurations: long reductions (at least 512 products per output element,
    Case.max_products: bfloat16 holds 256 unit terms exactly, so there a share of x is zeroed), dense,
    grouped, depthwise, 1x1, strided, in 1-d, 2-d and 3-d and in every mode; and two that exist to test holes
    (Case.tests_holes), where the output must be exactly the bias."""
    c = functools.partial(make_case, values=EXACT)
    tf_same = [_arithmetic.output_shape_padding(i, k, s, 1, "SAME", n) for i, k, s, n in ((3, 3, 2, 5), (4, 2, 1, 4))]
    return [
        c(name="exact-long-dense-2d", input_size=(4, 5), kernel_size=(3, 3), in_channels=64, out_channels=3,
          bias=True, seed=1),
        c(name="exact-long-grouped-dilated-2d", input_size=(3, 5), kernel_size=(3, 3), dilation=(1, 2),
          in_channels=2 * 64, out_channels=2 * 2, groups=2, padding=((1, 1), (2, 0)), bias=True, seed=2),
        c(name="exact-long-strided-3d", input_size=(3, 4, 2), kernel_size=(2, 3, 2), stride=(1, 2, 1),
          in_channels=64, out_channels=2, padding=((0, 1), (1, 1), (0, 0)), output_padding=(0, 0, 1), seed=3),
        c(name="exact-long-grouped-3d", input_size=(2, 3, 4), kernel_size=(2, 2, 3), in_channels=3 * 48,
          out_channels=3 * 2, groups=3, bias=True, seed=4),
        c(name="exact-long-depthwise-1d", input_size=514, kernel_size=512, in_channels=2, out_channels=4,
          groups=2, padding=((3, 5),), seed=5),
        c(name="exact-long-1x1-batch-2d", batch=2, input_size=(3, 2), kernel_size=1, in_channels=600,
          out_channels=2, seed=6),
        c(name="exact-long-strided-output-padding-2d", input_size=(4, 3), kernel_size=(4, 2), stride=(2, 1),
          in_channels=128, out_channels=3, padding=1, output_padding=(1, 0), bias=True, seed=7),
        c(name="exact-long-same-1d", input_size=6, kernel_size=5, stride=2, in_channels=220, out_channels=3,
          mode="same", bias=True, seed=8),
        c(name="exact-long-output-shape-2d", input_size=(3, 4), kernel_size=(3, 2), stride=(2, 1),
          in_channels=200, out_channels=2, mode="output_shape", padding=tuple((a.begin, a.end) for a in tf_same),
          output_padding=tuple(a.output_padding for a in tf_same), seed=9),
        c(name="exact-long-valid-1d", input_size=7, kernel_size=3, stride=4, in_channels=520, out_channels=2,
          mode="valid", batch=2, seed=10),
        # Reductions of 64 to 511 products: long for a blocked kernel's tail, short of the `long` feature.
        c(name="exact-medium-strided-2d", input_size=(5, 4), kernel_size=(3, 3), stride=2, in_channels=24,
          out_channels=5, padding=((1, 0), (1, 1)), output_padding=(0, 1), bias=True, seed=11),
        c(name="exact-medium-dilated-1d", batch=2, input_size=9, kernel_size=4, dilation=3, in_channels=40,
          out_channels=3, padding=((2, 4),), seed=12),
        # Holes: stride 4 past a 1-tap kernel, and stride 2 with dilation 2 (only even positions are reached).
        c(name="exact-stride-gt-kernel-holes-1d", input_size=5, kernel_size=1, stride=4, in_channels=3,
          out_channels=2, output_padding=2, bias=True, seed=13),
        c(name="exact-stride-dilation-holes-2d", input_size=(3, 4), kernel_size=3, stride=2, dilation=2,
          in_channels=4, out_channels=3, bias=True, seed=14),
    ]


EXACT_SIZE = 48


@functools.lru_cache(maxsize=8)
def _exact_cases(seed: int) -> tuple[Case, ...]:
    # The named cases, then generated `exact` configurations chosen greedily for the feature values and
    # pairs they add (convt_oracle.cases.coverage), then the next ones drawn, up to EXACT_SIZE.
    rng = _random.Random(f"exact/{seed}")
    pool = _unique(case for case in (generator.draw(rng, {"values": EXACT}) for _ in range(2000)) if case is not None)
    chosen = _greedy(_exact_named(), pool[:300], EXACT_SIZE)
    taken = {case.id for case in chosen}
    return tuple(chosen + [case for case in pool if case.id not in taken][: EXACT_SIZE - len(chosen)])


@suite
def exact(seed: int = 0) -> list[Case]:
    """The exact tier: EXACT_SIZE configurations (dtype None) with `exact` values, integers whose every
    partial sum is exact in the dtype, compared with zero tolerance (convt_oracle.compare.expectation)."""
    return list(_exact_cases(seed))


DEFAULT_GENERATED = 1500


@functools.lru_cache(maxsize=8)
def _default_cases(seed: int, size: int) -> tuple[Case, ...]:
    named = [case for name in CURATED for case in get(name, seed=seed)]
    cases = _unique(named + list(_random_cases(seed, size)) + list(_exact_cases(seed)))
    cases += generator.fill_pairs(_random.Random(f"default/{seed}"), cases)
    return tuple(_unique(cases))


@suite
def default(seed: int = 0, size: int = DEFAULT_GENERATED) -> list[Case]:
    """The curated suites, `size` generated configurations, the exact tier, and cases for every still
    uncovered pair."""
    return list(_default_cases(seed, size))


SMOKE_SIZE = 60


@functools.lru_cache(maxsize=8)
def _smoke_cases(seed: int) -> tuple[Case, ...]:
    # Start from the article's case and the dtype-specific overflow cases (so that every dtype has its own
    # case), then add the curated valid cases and generated ones greedily (`_greedy`).
    start = [get("article")[0]] + [case for case in curated.edge() if case.dtype is not None][:2]
    pool = [case for name in ("edge", "arithmetic", "onnx") for case in get(name) if case.valid]
    pool += list(_random_cases(seed, 400)) + list(_exact_cases(seed))
    chosen = _greedy(start, _unique(pool), SMOKE_SIZE)
    # Pairs the pool never has: a drawn case for each, while there is room.
    chosen += generator.fill_pairs(_random.Random(f"smoke/{seed}"), chosen)[: SMOKE_SIZE - len(chosen)]
    return tuple(chosen)


def _greedy(start: list[Case], pool: list[Case], size: int) -> list[Case]:
    """`start`, then, while fewer than `size`, the case of `pool` that covers the most feature values not
    yet covered, then the most value pairs, the smaller first on ties (the first of equals: deterministic);
    it stops when no case adds anything."""
    described = {case.id: _coverage.features(case) for case in start + pool}
    values = {item for case in start for item in described[case.id].items()}
    pairs = set().union(*(_coverage.case_pairs(described[case.id]) for case in start))
    chosen = list(start)
    taken = {case.id for case in start}

    def gain(case):  # (new feature values, new pairs, smaller first)
        items = described[case.id]
        new = (len(set(items.items()) - values), len(_coverage.case_pairs(items) - pairs))
        return (*new, -math.prod(_coverage.output_shape(case)))

    while len(chosen) < size:
        candidates = [case for case in pool if case.id not in taken]
        best = max(candidates, key=gain, default=None)  # the first of equals: deterministic
        if best is None or gain(best)[:2] == (0, 0):
            break
        chosen.append(best)
        taken.add(best.id)
        values |= set(described[best.id].items())
        pairs |= _coverage.case_pairs(described[best.id])
    return chosen


@suite
def smoke(seed: int = 0) -> list[Case]:
    """<= 60 cases that touch every feature value (convt_oracle.cases.coverage) and as many value pairs as fit."""
    return list(_smoke_cases(seed))


if __name__ == "__main__":
    write_frozen_default()
    print(f"wrote {FROZEN_DEFAULT}")
