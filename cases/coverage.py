"""What a list of cases covers: one value per feature for every case, per-feature counts and value pairs.

Each valid case is described by a few features (`FEATURES`, each with its values in order):

- `rank` (1d, 2d, 3d), `batch` (1, >1), `bias` (no, yes);
- `groups`: `1`; `depthwise` (groups > 1, one input channel per group); `grouped` (groups > 1, several
  input channels per group);
- `kernel`: `1x1` (size 1 on every axis), `larger_than_input` (some axis has k > i), else `within_input`;
- `stride`: `1` on every axis; `>1` (some axis strided, none past its effective kernel); `>kernel`
  (some axis has s > ke = d*(k-1) + 1, so some output positions receive no product);
- `dilation`: `1` on every axis, or `>1`;
- `padding` (the canonical crop): `none`, `symmetric` (begin == end on every axis, some > 0), or
  `asymmetric` (begin != end on some axis);
- `output_padding`: `0`; `within_full` (0 < output_padding <= end crop: the appended rows still come from
  the full result, torch's usual case); `past_full` (output_padding > end crop on some axis: rows past the
  full result, zeros plus bias);
- `mode`: how a framework is asked for the case (convt_oracle.cases.model.MODES);
- `reduction`: `long` when some output element sums at least `LONG_REDUCTION` products, else `short`;
- `values`: the kind of values drawn (convt_oracle.cases.model.VALUE_KINDS; `exact`: the exact tier);
- `dtype`: the dtype a case runs in.

A per-axis feature takes its most special value over the axes (stride `>kernel` if any axis has it).
Coverage is counted on the cases as they run: a configuration (dtype None) counts once in every dtype
asked for, a dtype-specific case only in its own dtype (see convt_oracle.cases.suites.expand). Invalid cases have no
features; they are counted apart.

A pair of feature values is *possible* unless it is listed in `IMPOSSIBLE_PAIRS`, with the reason no
valid case can have it.

Holes. A case whose output is mostly (more than MOSTLY_HOLES) elements that no product reaches (zeros, or
the bias alone: Case.hole_share) says little about the data: the coverage lists such cases
(`Coverage.mostly_holes`), apart from those that exist to test holes (Case.tests_holes).
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from dataclasses import dataclass

from convt_oracle.cases.model import DTYPES, MODES, VALUE_KINDS, Case, check_dtypes
from convt_oracle import arithmetic

LONG_REDUCTION = 512

FEATURES: dict[str, tuple[str, ...]] = {
    "rank": ("1d", "2d", "3d"),
    "batch": ("1", ">1"),
    "groups": ("1", "depthwise", "grouped"),
    "bias": ("no", "yes"),
    "kernel": ("1x1", "within_input", "larger_than_input"),
    "stride": ("1", ">1", ">kernel"),
    "dilation": ("1", ">1"),
    "padding": ("none", "symmetric", "asymmetric"),
    "output_padding": ("0", "within_full", "past_full"),
    "mode": MODES,
    "reduction": ("short", "long"),
    "values": VALUE_KINDS,
    "dtype": DTYPES,
}
_ORDER = {name: index for index, name in enumerate(FEATURES)}

_NO_CROP_AND_PADDING = (
    "its canonical padding never has both an end crop and output_padding on one axis (output_padding > 0 "
    "only where end == 0), so output_padding is never within the full result"
)
# Pairs of (feature, value) that no valid case can have, with the reason.
IMPOSSIBLE_PAIRS: dict[tuple[tuple[str, str], tuple[str, str]], str] = {
    (("kernel", "1x1"), ("stride", ">1")): (
        "a 1x1 kernel has effective kernel 1 on every axis whatever the dilation, so any stride > 1 exceeds it"
    ),
    (("padding", "symmetric"), ("mode", "valid")): "'VALID' never crops the full result",
    (("padding", "asymmetric"), ("mode", "valid")): "'VALID' never crops the full result",
    (("padding", "none"), ("output_padding", "within_full")): (
        "output_padding within the full result needs an end crop at least as large"
    ),
    (("output_padding", "within_full"), ("mode", "same")): f"'SAME': {_NO_CROP_AND_PADDING}",
    (("output_padding", "within_full"), ("mode", "valid")): f"'VALID': {_NO_CROP_AND_PADDING}",
    (("output_padding", "within_full"), ("mode", "output_shape")): f"output_shape: {_NO_CROP_AND_PADDING}",
}


def pair(a: tuple[str, str], b: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
    """A pair of (feature, value) items in the canonical order (features in FEATURES order)."""
    return (a, b) if _ORDER[a[0]] <= _ORDER[b[0]] else (b, a)


def _check_impossible_pairs() -> None:
    assert list(FEATURES)[-1] == "dtype"  # coverage() pairs the dtype last
    for key in IMPOSSIBLE_PAIRS:
        assert key == pair(*key) and all(value in FEATURES[name] for name, value in key), key


_check_impossible_pairs()


@functools.lru_cache(maxsize=8192)
def output_shape(case: Case) -> tuple[int, ...]:
    """case.output_shape, remembered (the golden's shape check costs ~0.2 ms a call)."""
    return case.output_shape


@functools.lru_cache(maxsize=8192)
def max_products(case: Case) -> int:
    """The largest number of products summed into one output element of a valid case (before the bias):
    Case.max_products, remembered."""
    return case.max_products


# A case is mostly holes when more than this share of its output elements receive no product.
MOSTLY_HOLES = 0.5


@functools.lru_cache(maxsize=8192)
def hole_share(case: Case) -> float:
    """Case.hole_share, remembered."""
    return case.hole_share


def mostly_holes(case: Case) -> bool:
    """Whether more than MOSTLY_HOLES of a valid case's output elements receive no product."""
    return hole_share(case) > MOSTLY_HOLES


@functools.lru_cache(maxsize=8192)
def _configuration_features(case: Case) -> tuple[tuple[str, str], ...]:
    axes = list(
        zip(case.input_size, case.kernel_size, case.stride, case.dilation, case.padding, case.output_padding)
    )
    ke = [arithmetic.effective_kernel(k, d) for _, k, _, d, _, _ in axes]
    if case.groups == 1:
        groups = "1"
    else:
        groups = "depthwise" if case.in_channels == case.groups else "grouped"
    if all(k == 1 for k in case.kernel_size):
        kernel = "1x1"
    elif any(k > i for i, k in zip(case.input_size, case.kernel_size)):
        kernel = "larger_than_input"
    else:
        kernel = "within_input"
    if any(s > e for s, e in zip(case.stride, ke)):
        stride = ">kernel"
    else:
        stride = ">1" if any(s > 1 for s in case.stride) else "1"
    if any(b != e for b, e in case.padding):
        padding = "asymmetric"
    else:
        padding = "symmetric" if any(b > 0 for b, _ in case.padding) else "none"
    if any(op > e for (_, e), op in zip(case.padding, case.output_padding)):
        output_padding = "past_full"
    else:
        output_padding = "within_full" if any(op > 0 for op in case.output_padding) else "0"
    values = dict(
        rank=f"{case.spatial_rank}d",
        batch=">1" if case.batch > 1 else "1",
        groups=groups,
        bias="yes" if case.bias else "no",
        kernel=kernel,
        stride=stride,
        dilation=">1" if any(d > 1 for d in case.dilation) else "1",
        padding=padding,
        output_padding=output_padding,
        mode=case.mode,
        reduction="long" if max_products(case) >= LONG_REDUCTION else "short",
        values=case.values,
    )
    return tuple(values.items())


@functools.lru_cache(maxsize=8192)
def _base_pairs(base: tuple[tuple[str, str], ...]) -> frozenset:
    return frozenset(pair(a, b) for a, b in itertools.combinations(base, 2))


def features(case: Case) -> dict[str, str]:
    """The feature values of a valid case; `dtype` is absent for a configuration (dtype None)."""
    if not case.valid:
        raise ValueError(f"case {case.id}: invalid cases have no features ({case.reason})")
    found = dict(_configuration_features(case))
    if case.dtype is not None:
        found["dtype"] = case.dtype
    return found


def case_pairs(items: dict[str, str]) -> set:
    """Every pair of the (feature, value) items of one case."""
    return {pair(a, b) for a, b in itertools.combinations(items.items(), 2)}


def possible_pairs() -> list:
    """Every pair of values of two different features that some valid case can have, in a fixed order."""
    found = []
    for (name_a, values_a), (name_b, values_b) in itertools.combinations(FEATURES.items(), 2):
        for a, b in itertools.product(values_a, values_b):
            key = ((name_a, a), (name_b, b))
            if key not in IMPOSSIBLE_PAIRS:
                found.append(key)
    return found


@dataclass(frozen=True)
class Coverage:
    """Feature counts and pair coverage of a list of cases, run in `dtypes`."""

    dtypes: tuple[str, ...]
    cases: int  # cases given
    configurations: int  # of which dtype None (run in every dtype)
    specific: int  # of which dtype-specific
    invalid: int  # of which invalid (no features; not in the counts below)
    runs: int  # valid (case, dtype) runs counted
    counts: dict  # feature -> {value: runs}
    pairs: frozenset  # covered pairs
    # the valid cases whose output is mostly holes (`mostly_holes`), by name (a curated case) or id, in
    # order; those that exist to test holes (Case.tests_holes) apart
    mostly_holes: tuple[str, ...] = ()
    holes_tests: tuple[str, ...] = ()

    def missing_values(self) -> list[tuple[str, str]]:
        """(feature, value) items that no run has (dtype values outside `dtypes` are not expected)."""
        return [
            (name, value)
            for name, values in FEATURES.items()
            for value in values
            if self.counts[name][value] == 0 and (name != "dtype" or value in self.dtypes)
        ]

    def expected_pairs(self) -> list:
        return [key for key in possible_pairs() if all(n != "dtype" or v in self.dtypes for n, v in key)]

    def missing_pairs(self) -> list:
        """Possible pairs (for these dtypes) that no run has, in a fixed order."""
        return [key for key in self.expected_pairs() if key not in self.pairs]

    def render(self, *, pairs: bool = False) -> str:
        expected = self.expected_pairs()
        lines = [
            f"{self.cases} cases: {self.configurations} configurations (every dtype), {self.specific} "
            f"dtype-specific, {self.invalid} invalid; {self.runs} valid runs in {', '.join(self.dtypes)}",
        ]
        for name, values in FEATURES.items():
            lines.append(f"  {name:<15}" + "  ".join(f"{value} {self.counts[name][value]}" for value in values))
        missing = self.missing_values()
        lines.append(f"  values covered: {sum(len(v) for v in FEATURES.values()) - len(missing)}"
                     f"/{sum(len(v) for v in FEATURES.values())}" + (f"; missing: {_items(missing)}" if missing else ""))
        uncovered = self.missing_pairs()
        lines.append(f"  pairs covered: {len(expected) - len(uncovered)}/{len(expected)} possible")
        lines.append(
            f"  mostly holes (> {MOSTLY_HOLES:.0%} of the output reached by no product): {len(self.mostly_holes)} cases"
            + (f": {', '.join(self.mostly_holes)}" if self.mostly_holes else "")
            + f"; {len(self.holes_tests)} more exist to test holes"
        )
        if pairs:
            lines += [f"    uncovered: {_item(a)} & {_item(b)}" for a, b in uncovered]
        return "\n".join(lines)


def _item(item: tuple[str, str]) -> str:
    return f"{item[0]}={item[1]}"


def _items(items) -> str:
    return ", ".join(_item(item) for item in items)


def coverage(cases, dtypes=DTYPES) -> Coverage:
    """Counts and covered pairs of `cases` run in `dtypes` (configurations in each, others in their own)."""
    dtypes = check_dtypes(dtypes)
    counts = {name: Counter() for name in FEATURES}
    covered = set()
    rows = Counter()  # (configuration features, dtype) -> runs: many cases share their features
    configurations = specific = invalid = 0
    holes = {False: [], True: []}  # tests_holes -> ids of the cases that are mostly holes
    for case in cases:
        configurations += case.dtype is None
        specific += case.dtype is not None
        if not case.valid:
            invalid += 1
            continue
        if mostly_holes(case):
            holes[case.tests_holes].append(case.name or case.id)
        base = _configuration_features(case)
        for dtype in dtypes if case.dtype is None else [d for d in (case.dtype,) if d in dtypes]:
            rows[base, dtype] += 1
    for (base, dtype), runs in rows.items():
        for name, value in (*base, ("dtype", dtype)):
            counts[name][value] += runs
        covered |= _base_pairs(base)
        covered.update((item, ("dtype", dtype)) for item in base)  # dtype is the last feature
    return Coverage(
        dtypes=dtypes,
        cases=configurations + specific,
        configurations=configurations,
        specific=specific,
        invalid=invalid,
        runs=sum(rows.values()),
        counts={name: {value: counts[name][value] for value in values} for name, values in FEATURES.items()},
        pairs=frozenset(covered),
        mostly_holes=tuple(holes[False]),
        holes_tests=tuple(holes[True]),
    )


def impossible_pairs_text() -> str:
    return "\n".join(f"  {_item(a)} & {_item(b)}: {reason}" for (a, b), reason in IMPOSSIBLE_PAIRS.items())


__all__ = [
    "FEATURES",
    "IMPOSSIBLE_PAIRS",
    "LONG_REDUCTION",
    "MOSTLY_HOLES",
    "Coverage",
    "coverage",
    "features",
    "hole_share",
    "max_products",
    "mostly_holes",
    "possible_pairs",
]
