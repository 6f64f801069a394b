"""Compare a target's result with the golden's: shape, then dtype, then non-finite positions, then values.

`expect(...)` computes what a correct result looks like (the golden's value and a per-element bound from
convt_oracle.tolerance); `compare(actual, expected)` returns a frozen `Comparison`. Rendering is elsewhere
(convt_oracle.harness.report); the message here is built only on failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from convt_oracle import arithmetic, golden
from convt_oracle import params as P
from convt_oracle.tolerance import OVERFLOW_THRESHOLD, UNIT_ROUNDOFF, Tolerance

PASS = "pass"
VALUE_MISMATCH = "value_mismatch"
SHAPE_MISMATCH = "shape_mismatch"
DTYPE_MISMATCH = "dtype_mismatch"
NONFINITE_MISMATCH = "nonfinite_mismatch"
RAISED = "raised"
ACCEPTED_INVALID = "accepted_invalid"
CRASH = "crash"
TIMEOUT = "timeout"
UNSUPPORTED = "unsupported"  # the framework's API cannot express the case: nothing was asked
REFUSED = "refused"  # the framework raised on a case its adapter declares outside its documented domain
OUTCOMES = (
    PASS,
    VALUE_MISMATCH,
    SHAPE_MISMATCH,
    DTYPE_MISMATCH,
    NONFINITE_MISMATCH,
    RAISED,
    ACCEPTED_INVALID,
    CRASH,
    TIMEOUT,
    UNSUPPORTED,
    REFUSED,
)
NOT_DISCREPANCIES = (PASS, UNSUPPORTED, REFUSED)
NOT_COMPARED = (UNSUPPORTED, REFUSED)  # no result to judge: the framework was not asked, or declined as documented
FIRST_MISMATCHES = 5
# A discrepancy's error map (ErrorMap): at most this many cells per spatial axis, and one map per output channel
# too where the output has at most ERROR_MAP_CHANNELS channels. 32 x 32 cells of 3 significant digits keep a
# discrepancy's map under about 8 kB of JSON.
ERROR_MAP_CELLS = 32
ERROR_MAP_CHANNELS = 4


@dataclass(frozen=True)
class Expected:
    """What a correct result of one call looks like."""

    value: np.ndarray  # the golden's result, float64
    bound: np.ndarray  # per-element bound on |actual - value|
    dtype: str  # the dtype the result must have
    # Per spatial axis, the (begin, end) widths of the border bands: output elements whose kernel window is
    # cut by an end of the input, i.e. full-result position f = o + crop_begin with f < d*(k-1) or
    # f > (i-1)*s (this includes output_padding past the full result). A bare int w means (w, w).
    border: tuple = ()
    # (up, down): True where a partial sum of the accumulation may reach +inf, resp. -inf (convt_oracle.tolerance);
    # +inf, -inf and (where both) NaN are accepted there. None when nowhere.
    accumulation_overflow: tuple | None = None
    # True where no non-zero term reaches an element (S = 0: the golden's value is 0 and its bound only the
    # underflow term). A ratio to such a bound is meaningless (1e46 for 1e-45); metrics report the absolute
    # error there instead. None when nowhere.
    vanishing: np.ndarray | None = None
    # An exact expectation (`expectation(..., exact=True)`): integer data, the bound 0 wherever every partial
    # sum is held exactly (everywhere, for an exact case): the result must equal the golden's bit for bit there.
    exact: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape


def border_bands(input_size, kernel_size, params, output_size) -> tuple[tuple[int, int], ...]:
    """Per spatial axis, (begin, end) widths of the output's border bands (see Expected.border)."""
    return tuple(
        arithmetic.border_band(i, k, s, d, begin, o)
        for i, k, s, d, (begin, _), o in zip(
            input_size, kernel_size, params.stride, params.dilation, params.padding, output_size
        )
    )


@dataclass(frozen=True)
class Sums:
    """The golden's quantities a bound is made of, for one call: the value y, the magnitude S (the same
    computation on absolute values), the number of terms n per element (products, plus one with a bias),
    the bias broadcast to the result (None without one) and the border bands. Independent of the dtype:
    `expectation` turns them into an Expected for any dtype and tolerance (convt_oracle.diagnosis asks for
    several)."""

    value: np.ndarray
    magnitude: np.ndarray
    terms: np.ndarray
    bias: np.ndarray | None
    border: tuple


def sums(x, w, bias, params: dict) -> Sums:
    """The golden's Sums for (x, w, bias) with `params` (the keyword arguments of golden.conv_transpose)."""
    # inf and NaN inputs give NaN (inf*0, inf - inf) by design: no warnings for them.
    with np.errstate(invalid="ignore", over="ignore"):
        value = golden.conv_transpose(x, w, bias, **params)
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    absolute_bias = None if bias is None else np.abs(np.asarray(bias, np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        magnitude = golden.conv_transpose(np.abs(x64), np.abs(w64), absolute_bias, **params)
    # K, the number of products per element, does not depend on the batch: count it for one sample.
    products = golden.conv_transpose(np.ones((1, *x64.shape[1:])), np.ones(w64.shape), **params)
    terms = products + (0 if bias is None else 1)
    spread = None if bias is None else np.asarray(bias, np.float64).reshape(-1, *([1] * (value.ndim - 2)))
    defaults = dict(stride=1, padding=0, output_padding=0, dilation=1, groups=1)
    normalized = P.normalize(x64.ndim - 2, **{**defaults, **params})
    border = border_bands(x64.shape[2:], w64.shape[2:], normalized, value.shape[2:])
    return Sums(value=value, magnitude=magnitude, terms=terms, bias=spread, border=border)


def expectation(found: Sums, dtype: str, tolerance: Tolerance | None = None, *, vanishing: bool = True,
                exact: bool = False) -> Expected:
    """What a correct `dtype` computation of the golden's sums returns, with its bound under `tolerance`.
    `vanishing`: mark the elements no non-zero term reaches (Expected.vanishing; a gradient's are not).

    `exact=True` says the data are integers that every input format holds (the exact tier: `exact` values of
    convt_oracle.cases.model, |values| <= 2**8). Then wherever an element's sum of |terms| S is at most
    2**p, p the significand bits of the dtype or of the accumulation if that is narrower, every product and
    every partial sum is an integer held exactly, in any order: the bound there is 0, the result must
    equal the golden's value bit for bit (Expected.exact). An exact case's arrays keep S within it
    everywhere; a diagnosis's hypothesis whose rearranged sums exceed it keeps the derived bound there."""
    tolerance = tolerance or Tolerance()
    vanishing = found.magnitude == 0 if vanishing else np.zeros(found.value.shape, bool)
    vanishing = vanishing if vanishing.any() else None
    held = None
    if exact:
        largest = 1.0 / max(UNIT_ROUNDOFF[dtype], UNIT_ROUNDOFF[tolerance.accumulation_dtype(dtype)])  # 2**p
        with np.errstate(invalid="ignore"):
            held = found.magnitude <= largest  # False for inf and NaN
        if held.all():
            return Expected(value=found.value, bound=np.zeros(found.value.shape), dtype=dtype, border=found.border,
                            vanishing=vanishing, exact=True)
    bound = tolerance.bound(dtype, found.value, found.magnitude, found.terms, bias=found.bias)
    up, down = tolerance.accumulation_overflow(dtype, found.value, found.magnitude, found.terms)
    if held is not None:
        bound, up, down = np.where(held, 0.0, bound), up & ~held, down & ~held
    return Expected(
        value=found.value, bound=bound, dtype=dtype, border=found.border,
        accumulation_overflow=(up, down) if up.any() or down.any() else None,
        vanishing=vanishing, exact=exact,
    )


def expect(x, w, bias, params: dict, dtype: str, tolerance: Tolerance | None = None, *, exact: bool = False) -> Expected:
    """The golden's result for (x, w, bias) and the bound a `dtype` computation must stay within (0 with
    `exact`: see `expectation`)."""
    return expectation(sums(x, w, bias, params), dtype, tolerance, exact=exact)


def vjp_sums(x, w, grad_out, bias, params: dict) -> tuple[Sums | None, Sums | None, Sums | None]:
    """The golden's Sums of (grad_x, grad_w, grad_bias) of a vjp; grad_bias None without bias.

    Each gradient is bilinear in two of (x, w, grad_out), so its magnitude S is the same vjp on absolute
    values and its number of products K the vjp on ones. A gradient has no bias term and no border bands.
    """
    as64 = [None if a is None else np.asarray(a, np.float64) for a in (x, w, grad_out, bias)]
    with np.errstate(invalid="ignore", over="ignore"):
        values = golden.conv_transpose_vjp(*as64[:3], as64[3], **params)
    with np.errstate(invalid="ignore", over="ignore"):
        magnitudes = golden.conv_transpose_vjp(*(np.abs(a) for a in as64[:3]), None if bias is None else np.abs(as64[3]), **params)
    counts = golden.conv_transpose_vjp(*(np.ones(a.shape) for a in as64[:3]), None if bias is None else np.ones(as64[3].shape), **params)
    return tuple(
        None if value is None else Sums(value=value, magnitude=magnitude, terms=terms, bias=None,
                                        border=((0, 0),) * max(0, value.ndim - 2))
        for value, magnitude, terms in zip(values, magnitudes, counts)
    )


def expect_vjp(x, w, grad_out, bias, params: dict, dtype: str, tolerance: Tolerance | None = None, *,
               exact: bool = False):
    """Expected (grad_x, grad_w, grad_bias) of a vjp in `dtype`; grad_bias None without bias (bounds 0 with
    `exact`: see `expectation`)."""
    return tuple(
        None if found is None else expectation(found, dtype, tolerance, vanishing=False, exact=exact)
        for found in vjp_sums(x, w, grad_out, bias, params)
    )


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]
    actual: float
    expected: float
    bound: float
    border: bool = False  # in the border band (Expected.border), else the interior


@dataclass(frozen=True)
class ErrorMap:
    """Where a discrepancy's result is wrong, small enough for a report: |actual - expected| / bound over the
    output's spatial axes, the maximum over the batch and the channels, max-pooled to at most ERROR_MAP_CELLS
    cells per axis (a cell above 1 holds an element outside its bound).

    A 2-d output is rows x columns (H x W); a 1-d output one row (a strip along its axis); a 3-d output the
    maximum over its first spatial axis (D), then H x W. An element that is non-finite where it should not
    be (or finite where it should not be) is inf; one that is rightly non-finite is 0. Values are rounded up to
    3 significant digits (so that a cell above 1 stays above 1).
    """

    cells: tuple[tuple[float, ...], ...]  # rows x columns
    spatial_shape: tuple[int, ...]  # the output's spatial shape
    block: tuple[int, int]  # output positions per cell along the rows and the columns
    channels: tuple[tuple[tuple[float, ...], ...], ...] = ()  # the same map per output channel, where they are few

    @classmethod
    def of(cls, ratio: np.ndarray) -> ErrorMap | None:
        """The map of a (batch, channels, *spatial) array of per-element ratios; None without spatial axes."""
        if ratio.ndim < 3 or ratio.size == 0:
            return None
        overall, block = _pooled(ratio.max(axis=(0, 1)))
        channels = ()
        if 1 < ratio.shape[1] <= ERROR_MAP_CHANNELS:
            channels = tuple(_pooled(ratio[:, c].max(axis=0))[0] for c in range(ratio.shape[1]))
        return cls(cells=overall, spatial_shape=tuple(int(n) for n in ratio.shape[2:]), block=block, channels=channels)

    @classmethod
    def from_dict(cls, data: dict) -> ErrorMap:
        """The ErrorMap that dataclasses.asdict wrote to JSON (inf as the string "inf")."""
        def grid(rows):
            return tuple(tuple(float(value) for value in row) for row in rows)

        return cls(
            cells=grid(data["cells"]), spatial_shape=tuple(data["spatial_shape"]), block=tuple(data["block"]),
            channels=tuple(grid(channel) for channel in data.get("channels", ())),
        )


def _pooled(spatial: np.ndarray) -> tuple[tuple[tuple[float, ...], ...], tuple[int, int]]:
    """(cells, block) of one map: `spatial` (1 to 3 axes) as rows x columns, max-pooled to at most
    ERROR_MAP_CELLS per axis, rounded up to 3 significant digits."""
    if spatial.ndim == 3:
        spatial = spatial.max(axis=0)
    elif spatial.ndim == 1:
        spatial = spatial[None, :]
    block = tuple(-(-size // ERROR_MAP_CELLS) for size in spatial.shape)  # ceil: at most ERROR_MAP_CELLS cells
    for axis, step in enumerate(block):
        spatial = np.maximum.reduceat(spatial, np.arange(0, spatial.shape[axis], step), axis=axis)
    cells = tuple(tuple(_round_up(value) for value in row) for row in spatial.tolist())
    return cells, (int(block[0]), int(block[1]))


def _round_up(value: float) -> float:
    """`value` (>= 0) rounded up to 3 significant digits; 0 and inf as they are."""
    if value == 0 or not math.isfinite(value):
        return value
    exponent = math.floor(math.log10(value)) - 2
    return float(f"{math.ceil(value / 10.0**exponent)}e{exponent}")


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing one result, with the metrics a report needs."""

    outcome: str
    message: str = ""
    actual_shape: tuple[int, ...] | None = None
    expected_shape: tuple[int, ...] | None = None
    actual_dtype: str | None = None
    expected_dtype: str | None = None
    elements: int = 0
    mismatches: int = 0
    max_abs_error: float = 0.0
    max_bound_ratio: float = 0.0  # over the elements whose bound does not vanish (Expected.vanishing)
    max_error_where_zero: float = 0.0  # max |actual| where the expected value and its bound are 0
    first_mismatches: tuple[Mismatch, ...] = ()
    border_mismatches: int = 0
    interior_mismatches: int = 0
    error_map: ErrorMap | None = None  # discrepancies with values only (value_mismatch, nonfinite_mismatch)

    @property
    def ok(self) -> bool:
        return self.outcome in NOT_DISCREPANCIES

    @property
    def mismatch_percent(self) -> float:
        return 100.0 * self.mismatches / self.elements if self.elements else 0.0


def _dtype_name(array) -> str:
    dtype = getattr(array, "dtype", None)
    return type(array).__name__ if dtype is None else dtype.name


def _border_mask(shape, border) -> np.ndarray:
    """True where an element lies in the border band of some spatial axis (Expected.border)."""
    spatial = tuple(shape[2:])
    mask = np.zeros(spatial, dtype=bool)
    for axis, (size, width) in enumerate(zip(spatial, border)):
        head, tail = (width, width) if isinstance(width, (int, np.integer)) else width
        index = np.arange(size)
        near = (index < head) | (index >= size - tail)
        mask |= near.reshape([-1 if a == axis else 1 for a in range(len(spatial))])
    return np.broadcast_to(mask, shape)


def compare(actual, expected: Expected) -> Comparison:
    """Compare `actual` with `expected`: shape, dtype, non-finite positions, then values within the bound.

    Non-finite rules: where the golden's value is certainly beyond the dtype's range (|value| - bound at or
    past the overflow threshold) the result must be the infinity of its sign; where it may be (|value| +
    bound past it) an infinity of its sign is accepted, as is a finite value within the bound; where the
    golden is NaN or inf (inf and NaN inputs) the result must be the same; where a partial sum of the
    accumulation may overflow (Expected.accumulation_overflow) the infinity of that direction is accepted,
    and NaN where both directions may. Anything else non-finite is a `nonfinite_mismatch`.
    """
    if not isinstance(actual, np.ndarray):
        return Comparison(
            SHAPE_MISMATCH,
            f"the target returned {type(actual).__name__}, not a numpy array",
            expected_shape=expected.shape,
            expected_dtype=expected.dtype,
            actual_dtype=type(actual).__name__,
            elements=int(np.prod(expected.shape)),
        )
    common = dict(
        actual_shape=tuple(actual.shape),
        expected_shape=tuple(expected.shape),
        actual_dtype=_dtype_name(actual),
        expected_dtype=expected.dtype,
        elements=int(np.prod(expected.shape)),
    )
    if actual.shape != expected.shape:
        return Comparison(SHAPE_MISMATCH, f"shape {actual.shape} != expected {expected.shape}", **common)
    if _dtype_name(actual) != expected.dtype:
        return Comparison(DTYPE_MISMATCH, f"dtype {actual.dtype} != expected {expected.dtype} (the input dtype)", **common)

    got = actual.astype(np.float64)
    want, bound = expected.value, expected.bound
    threshold = OVERFLOW_THRESHOLD[expected.dtype]
    with np.errstate(invalid="ignore", over="ignore"):
        # The common case, in a few array operations: everything finite, nothing near the dtype's range.
        plain = np.isfinite(got).all() and np.isfinite(want).all() and (np.abs(want) + bound).max(initial=0) < threshold
    if plain:
        error = np.abs(got - want)
        if expected.exact:  # a bound of 0 (where the sums are exact): any error there is infinitely outside it
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(error > 0, error / bound, 0.0)
        else:
            ratio = error / bound  # bound > 0 everywhere (it has an underflow term)
        metrics = _metrics(error, ratio, expected.vanishing)
        if ratio.max(initial=0) > 1.0:
            return _mismatch(VALUE_MISMATCH, ratio > 1.0, got, want, bound, expected, common, metrics)
        return Comparison(PASS, **metrics, **common)
    with np.errstate(invalid="ignore", over="ignore"):
        want_finite = np.isfinite(want)
        certain_overflow = want_finite & (np.abs(want) - bound >= threshold)
        maybe_overflow = want_finite & (np.abs(want) + bound >= threshold) & ~certain_overflow
        want_nonfinite = ~want_finite | certain_overflow
        # The non-finite value each such position must hold (NaN, or an infinity of the golden's sign).
        want_special = np.where(certain_overflow, np.sign(want) * np.inf, want)
        got_nonfinite = ~np.isfinite(got)
        same_special = want_nonfinite & got_nonfinite & ((np.isnan(want_special) & np.isnan(got)) | (want_special == got))
        accepted = maybe_overflow & np.isinf(got) & (np.sign(got) == np.sign(want))
        if expected.accumulation_overflow is not None:
            up, down = expected.accumulation_overflow
            accepted |= (up & (got == np.inf)) | (down & (got == -np.inf)) | (up & down & np.isnan(got))
    wrong_nonfinite = (want_nonfinite | got_nonfinite) & ~(same_special | accepted)
    if wrong_nonfinite.any():
        return _mismatch(NONFINITE_MISMATCH, wrong_nonfinite, got, want_special, bound, expected, common)

    finite = ~want_nonfinite & ~got_nonfinite
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        error = np.where(finite, np.abs(got - want), 0.0)
        ratio = np.where(finite & (error > 0), error / bound, 0.0)
    ratio = np.nan_to_num(ratio, nan=np.inf)
    wrong = ratio > 1.0
    metrics = _metrics(error, ratio, expected.vanishing)
    if wrong.any():
        return _mismatch(VALUE_MISMATCH, wrong, got, want, bound, expected, common, metrics)
    return Comparison(PASS, **metrics, **common)


def _metrics(error, ratio, vanishing) -> dict:
    """max |actual - expected|, the max ratio to the bound where the bound does not vanish, and the max error
    where it does (Expected.vanishing: expected 0 with nothing to round)."""
    max_abs = float(error.max()) if error.size else 0.0
    if vanishing is None:
        return dict(max_abs_error=max_abs, max_bound_ratio=float(ratio.max()) if ratio.size else 0.0)
    rest = ratio[~vanishing]
    return dict(
        max_abs_error=max_abs, max_bound_ratio=float(rest.max()) if rest.size else 0.0,
        max_error_where_zero=float(error[vanishing].max()),
    )


def _mismatch(outcome, wrong, got, want, bound, expected, common, metrics=None) -> Comparison:
    indices = np.argwhere(wrong)
    border = _border_mask(expected.shape, expected.border)
    first = tuple(
        Mismatch(
            tuple(int(i) for i in index), float(got[tuple(index)]), float(want[tuple(index)]),
            float(bound[tuple(index)]), bool(border[tuple(index)]),
        )
        for index in indices[:FIRST_MISMATCHES]
    )
    count = int(wrong.sum())
    on_border = int((wrong & border).sum())
    finite = np.isfinite(got) & np.isfinite(want)
    if metrics is None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            usable = finite if expected.vanishing is None else finite & ~expected.vanishing
            difference = np.abs(got - want)
            errors, ratios = difference[finite], np.where(difference > 0, difference / bound, 0.0)[usable]
            metrics = dict(
                max_abs_error=float(errors.max()) if errors.size else float("nan"),
                max_bound_ratio=float(ratios.max()) if ratios.size else float("nan"),
            )
            if expected.vanishing is not None and (finite & expected.vanishing).any():
                metrics["max_error_where_zero"] = float(np.abs(got - want)[finite & expected.vanishing].max())
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        error = np.abs(got - want)
        ratio = np.where(finite & (error > 0), error / bound, 0.0)  # 0 where equal, also under a bound of 0
    ratio = np.where(wrong & ~finite, np.inf, np.nan_to_num(ratio, nan=np.inf))  # a wrong non-finite element: inf
    what = (
        "wrong non-finite values (inf or NaN where the golden is finite, finite where it is inf, NaN or certainly "
        "overflows, or the wrong one)"
        if outcome == NONFINITE_MISMATCH
        else "values not equal to the golden's" if expected.exact
        else "values outside the derived bound"
    )
    lines = [
        f"{what}: {count} of {common['elements']} elements ({100.0 * count / max(1, common['elements']):.3g}%),"
        f" {on_border} in the border band, {count - on_border} in the interior",
        f"max |actual - expected| = {metrics['max_abs_error']:.6g}; max error / bound = {metrics['max_bound_ratio']:.6g}",
    ]
    if expected.exact:
        lines[-1] = (
            f"max |actual - expected| = {metrics['max_abs_error']:.6g}; the case is exact (integer data whose every "
            f"partial sum the dtype holds exactly): the result must equal the golden's bit for bit, bound 0"
        )
    elif metrics.get("max_error_where_zero", 0.0) > 0:  # never a ratio to a bound of 1e-45
        lines[-1] = (
            f"max |actual - expected| = {metrics['max_abs_error']:.6g}; where the expected value and its bound are 0"
            f" (no non-zero product reaches the element): max |actual| = {metrics['max_error_where_zero']:.6g};"
            f" elsewhere max error / bound = {metrics['max_bound_ratio']:.6g}"
        )
    lines += [
        f"  at {m.index} ({'border' if m.border else 'interior'}): actual {m.actual!r}, expected {m.expected!r}, "
        f"bound {m.bound:.3g}"
        for m in first
    ]
    return Comparison(
        outcome,
        "\n".join(lines),
        mismatches=count,
        **metrics,
        first_mismatches=first,
        border_mismatches=on_border,
        interior_mismatches=count - on_border,
        error_map=ErrorMap.of(ratio),
        **common,
    )
