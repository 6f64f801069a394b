"""Suites of cases, by name. `get(name, seed=...)` returns a list of Cases; `expand` puts them in dtypes.

A case whose dtype is None is a configuration: it runs in every dtype asked for. A case with a dtype is
specific to it (float16 overflow, say) and runs only when that dtype is asked for.
"""

from __future__ import annotations

import dataclasses

from cases import article as _article
from cases.model import DTYPES, Case, make_case

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
    return function(seed=seed, size=size) if size is not None else function(seed=seed)


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
