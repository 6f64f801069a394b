"""The case model: one transposed-convolution configuration, its arrays, and a stable readable id.

A `Case` is frozen, hashable and JSON-serializable (`to_dict` / `from_dict`). Its padding is canonical
(per axis (begin, end) crops of the full result, see convt_oracle.arithmetic); `mode` says how a framework is to
be asked for it: `explicit` pads, `same` / `valid` padding strings, or an `output_shape`. `case.arrays()`
draws x, w and bias deterministically from the seed, exactly representable in the dtype.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np

from convt_oracle import arithmetic, golden
from convt_oracle.golden import output_shape

DTYPES = ("float16", "bfloat16", "float32", "float64")
MODES = ("explicit", "same", "valid", "output_shape")
# How the values of x, w and bias are drawn: `normal` (standard normal), `large` (scaled so that the
# result overflows float16 and bfloat16), `nonfinite` (normal, with inf, -inf and NaN in x, and an exact
# zero weight that the inf meets: inf * 0 = NaN), `nonfinite_weights` (normal, with inf and -inf in w, an
# exact zero input that the inf weight meets, and an infinity in the bias), `exact` (the exact tier:
# integers sized so that every partial sum is exact in the dtype, compared with zero tolerance; see
# Case.arrays). These are the kinds the suites draw, and whose coverage convt_oracle.cases.coverage counts:
# `exact` is one of them so that coverage shows which configurations the exact tier reaches.
EXACT = "exact"
VALUE_KINDS = ("normal", "large", "nonfinite", "nonfinite_weights", EXACT)
# `integers`: small integers (`integer_magnitude`), so that every value and every sum of the case is exact;
# what a shrunk case (convt_oracle.harness.shrink) is tried with, for a reproducer that reads at a glance. No
# suite draws it: being outside VALUE_KINDS keeps it out of the coverage that the suites are built to fill.
INTEGERS = "integers"
ALL_VALUE_KINDS = (*VALUE_KINDS, INTEGERS)
# The integers up to which every integer is exact in each dtype (2**(significand bits)); every sum of an
# `integers` case stays within the smaller of this and float16's (`integer_magnitude`), every sum of |terms|
# of an `exact` case within its dtype's (`exact_magnitude`).
EXACT_INTEGERS = {"float16": 2**11, "bfloat16": 2**8, "float32": 2**24, "float64": 2**53}
# The largest magnitude of an `exact` case's values: 2**8, so that every value stays exact in each format a
# kernel may round its inputs to (convt_oracle.tolerance.INPUT_ROUNDOFF: bfloat16 keeps 8 significant bits,
# TF32 and float16 11): a kernel asked for such a mode on purpose computes an exact case exactly too.
EXACT_LARGEST = 2**8
# A curated case whose name has this word (as one of its dash-separated parts) exists to test holes: output
# elements no product reaches (Case.hole_share). Only such cases may be mostly holes (convt_oracle.cases.coverage).
HOLES = "holes"
_SHORT_DTYPE = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}
# What is wrong with an invalid case (`Case.defect`), and which of its fields state it. The golden's
# message (`Case.reason`) says it for the case at hand; convt_oracle.cases.invalid has cases of each kind.
# An attribute is an int (numbers.Integral, not bool): a float is a non-integer attribute even where it
# equals an int (stride 2.0), as torch's and TF's int arguments and ONNX's INTS attributes have it.
DEFECTS = {
    "bias_length": "a bias of `bias_elements` elements, not out_channels",
    "weight_in_channels": "a weight of `weight_in_channels` input channels (w.shape[0]), not x's in_channels",
    "rank_mismatch": "x with another number of spatial axes than the kernel (input_size and kernel_size differ in length)",
    "zero_size": "an axis of size 0: a spatial input size, a kernel size, in_channels or out_channels",
    "output_shape_inconsistent": "an `output_shape` case asking for `requested_output_size`, not the size its parameters give",
    "groups_not_dividing_in_channels": "in_channels not a multiple of groups",
    "groups_not_dividing_out_channels": "out_channels not a multiple of groups: the weight holds out_channels // groups "
    "per group, and the bias's length (and TF's output_shape, torch's out_channels) states out_channels",
    "zero_attribute": "a stride, dilation or groups of 0",
    "negative_attribute": "a negative stride, dilation, padding, output_padding or groups",
    "non_integer_attribute": "a float stride, dilation, padding, output_padding or groups (1.5, or 2.0)",
    "huge_attribute": "an attribute past int64 (2**63, 2**64), or one whose output size passes int64 or wraps in int32 "
    "arithmetic (2**31, 2**40, 2**62); chosen so that a framework that accepts one has a small result to allocate",
    "empty_output": "crops (padding) and output_padding that leave an output size below 1",
}


def check_dtypes(dtypes) -> tuple[str, ...]:
    """Dtype names as a tuple, each known and none twice: a sequence of names, or one string of names
    separated by commas or spaces. ValueError or TypeError naming the known ones."""
    if isinstance(dtypes, str):
        dtypes = dtypes.replace(",", " ").split()
    try:
        names = [str(name).strip() if isinstance(name, str) else name for name in dtypes]
    except TypeError:
        raise TypeError(f"dtypes: got {dtypes!r}; expected a sequence of dtype names among {', '.join(DTYPES)}") from None
    unknown = [name for name in names if name not in DTYPES]
    if not names:
        raise ValueError(f"dtypes: none given; known dtypes: {', '.join(DTYPES)}")
    if unknown:
        raise ValueError(f"dtypes: unknown {', '.join(repr(name) for name in unknown)}; known dtypes: {', '.join(DTYPES)}")
    return tuple(dict.fromkeys(names))


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a dtype name (bfloat16 from ml_dtypes)."""
    if name == "bfloat16":
        return np.dtype(ml_dtypes.bfloat16)
    if name not in DTYPES:
        raise ValueError(f"dtype: got {name!r}; expected one of {', '.join(DTYPES)}")
    return np.dtype(name)


def _axes(values) -> str:
    return "x".join(str(v) for v in values)


@dataclass(frozen=True)
class Case:
    """One configuration. Build it with `make_case`, which derives the padding for `same` / `valid`."""

    batch: int
    in_channels: int
    out_channels: int
    groups: int
    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    output_padding: tuple[int, ...]
    bias: bool
    dtype: str | None  # None: a configuration to run in every dtype asked for
    seed: int
    mode: str = "explicit"
    values: str = "normal"
    valid: bool = True
    reason: str = ""  # why an invalid case is invalid: the golden's own error message
    defect: str = ""  # what is wrong with an invalid case, one of DEFECTS ("" if valid, or built without naming it)
    bias_elements: int | None = None  # the bias's length where it is not out_channels (defect bias_length)
    weight_in_channels: int | None = None  # w.shape[0] where it is not in_channels (defect weight_in_channels)
    requested_output_size: tuple[int, ...] = ()  # what an output_shape case asks for, where its parameters give another
    name: str = field(default="", compare=False)  # a curated case's name, for reports

    # --- identity -------------------------------------------------------------------------------------
    @property
    def spatial_rank(self) -> int:
        return len(self.input_size)

    @functools.cached_property
    def id(self) -> str:
        """A stable, readable id, e.g. 2d-b2-c4x6-g2-i5x7-k3x2-s2x1-d1x2-p1.0x0.1-op1x0-bias-f32-mexplicit-r17."""
        parts = [
            f"{self.spatial_rank}d",
            f"b{self.batch}",
            f"c{self.in_channels}x{self.out_channels}",
            f"g{self.groups}",
            f"i{_axes(self.input_size)}",
            f"k{_axes(self.kernel_size)}",
            f"s{_axes(self.stride)}",
            f"d{_axes(self.dilation)}",
            "p" + "x".join(f"{b}.{e}" for b, e in self.padding),
            f"op{_axes(self.output_padding)}",
            "bias" if self.bias else "nobias",
            _SHORT_DTYPE.get(self.dtype, "any") if self.dtype else "any",
            f"m{self.mode}",
        ]
        if self.values != "normal":
            parts.append(f"v{self.values}")
        parts += self._defect_parts()
        parts.append(f"r{self.seed}")
        return "-".join(parts)

    def _defect_parts(self) -> list[str]:
        """The id's parts of an invalid case's defect (none for a case without one: valid ids are unchanged)."""
        parts = [f"invalid_{self.defect}"] if self.defect else []
        if self.bias_elements is not None:
            parts.append(f"biaslen{self.bias_elements}")
        if self.weight_in_channels is not None:
            parts.append(f"wcin{self.weight_in_channels}")
        if self.requested_output_size:
            parts.append(f"asked{_axes(self.requested_output_size)}")
        return parts

    def __str__(self) -> str:
        return self.id

    # --- the call ---------------------------------------------------------------------------------------
    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.input_size)

    @property
    def w_shape(self) -> tuple[int, ...]:
        """(in_channels, out_channels // groups, *kernel): weight_in_channels first where the case states one;
        one channel per group at least (groups past out_channels is a case about groups), none for
        out_channels 0; a group count below 1 divides nothing."""
        in_channels = self.in_channels if self.weight_in_channels is None else self.weight_in_channels
        per_group = int(self.out_channels // max(1, self.groups))
        return (in_channels, per_group if self.out_channels == 0 else max(1, per_group), *self.kernel_size)

    @property
    def bias_shape(self) -> tuple[int, ...] | None:
        """(out_channels,), or (bias_elements,) where the case states one; None without a bias."""
        if not self.bias:
            return None
        return (self.out_channels if self.bias_elements is None else self.bias_elements,)

    def params(self) -> dict:
        """Keyword arguments of the golden and of a target: tuples per axis, padding as (begin, end) pairs."""
        return dict(
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            dilation=self.dilation,
            groups=self.groups,
        )

    @functools.cached_property
    def output_shape(self) -> tuple[int, ...]:
        """The golden's output shape (ValueError for an invalid case)."""
        asked = self.requested_output_size or None
        return output_shape(self.x_shape, self.w_shape, self.bias_shape, output_size=asked, **self.params())

    @property
    def asked_output_size(self) -> tuple:
        """The spatial output size an `output_shape` case asks a framework for: `requested_output_size` where
        the case states one, else what its parameters give (convt_oracle.arithmetic.output_size per axis; for an
        invalid case possibly below 1, or not an int). For a valid case, output_shape[2:]."""
        if self.requested_output_size:
            return self.requested_output_size
        return tuple(
            arithmetic.output_size(i, k, s, d, b, e, op)
            for i, k, s, d, (b, e), op in zip(
                self.input_size, self.kernel_size, self.stride, self.dilation, self.padding, self.output_padding
            )
        )

    @property
    def reduction_length(self) -> int:
        """Products summed into an interior output element: in_channels per group x kernel taps."""
        return self.in_channels // max(1, self.groups) * int(np.prod(self.kernel_size))

    def _axes(self):
        """Per spatial axis (i, k, s, d, begin, size): what convt_oracle.arithmetic's per-axis rules take."""
        return [
            (i, k, s, d, begin, size)
            for i, k, s, d, (begin, _), size in zip(
                self.input_size, self.kernel_size, self.stride, self.dilation, self.padding, self.output_shape[2:]
            )
        ]

    @functools.cached_property
    def max_products(self) -> int:
        """The largest number of products summed into one output element of a valid case (before the bias):
        in_channels per group times, on each axis, the most taps that reach one output position
        (convt_oracle.arithmetic.taps_reaching; the axes are independent). Below `reduction_length` where a
        stride or a dilation leaves no position reached by every tap."""
        count = self.in_channels // self.groups
        for axis in self._axes():
            count *= int(arithmetic.taps_reaching(*axis).max(initial=0))
        return count

    @functools.cached_property
    def hole_share(self) -> float:
        """The share of a valid case's output elements that no product reaches (zeros, or the bias alone): what
        the data does not decide (convt_oracle.arithmetic.hole_share). E.g. stride 3, kernel 2, input 4: the
        full result has 11 positions, 3 of them holes."""
        return arithmetic.hole_share(self._axes())

    @property
    def tests_holes(self) -> bool:
        """Whether the case exists to test holes (its name has the part HOLES): it may be mostly holes."""
        return HOLES in self.name.split("-")

    @property
    def exact(self) -> bool:
        """Whether the case is of the exact tier: its result must equal the golden's bit for bit."""
        return self.values == EXACT

    def with_dtype(self, dtype: str) -> Case:
        return dataclasses.replace(self, dtype=dtype)

    # --- arrays -----------------------------------------------------------------------------------------
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(x, w, bias) in the case's dtype, drawn from its seed; the same on every machine and process.

        Values are standard normal rounded to the dtype (so exactly representable in it), with mixed signs
        and no symmetry in the kernel; `large` scales them so that results overflow float16 and bfloat16;
        `nonfinite` puts inf, -inf and NaN into x and a zero into w where the inf's channel meets it;
        `nonfinite_weights` puts inf and -inf into w, a zero into x where the inf weight's channel meets
        it, and an infinity into the last bias; `integers` draws integers in [-m, m], m =
        `integer_magnitude()`, none of x, w and bias all zero, each with both signs where it has two
        values or more, and w not mirror-symmetric along a kernel axis.

        `exact` (the exact tier, as oneDNN's benchdnn fills its inputs): non-zero integers in [-m, m], m =
        `exact_magnitude()`, sized by the dtype's significand bits and the TRUE number of products per
        output element (`max_products`), with both signs and w not mirror-symmetric. Where the reduction
        is too long for every product to be non-zero (bfloat16 allows 2**8 = 256 unit terms), a share of
        x is zeroed, grown step by step in proportion to the excess (one uniform draw decides the order, so
        each step only zeroes more) until the sum of |terms| (products and bias) at EVERY output element is
        at most 2**digits (EXACT_INTEGERS), checked on the golden's sums of absolute values. Then every product
        and every partial sum, in any order and in any accumulation format at least as wide as the dtype,
        is an integer the dtype holds exactly: a correct kernel returns the golden's value bit for bit.
        """
        if self.dtype is None:
            raise ValueError(f"case {self.id}: dtype is None; choose one with case.with_dtype(...)")
        dtype = numpy_dtype(self.dtype)
        rng = np.random.default_rng(_stable_seed(self))
        if not self.valid:
            return self._invalid_arrays(rng, dtype)
        if self.values == EXACT:
            x, w, bias = self._exact_arrays(rng)
            return x.astype(dtype), w.astype(dtype), None if bias is None else bias.astype(dtype)
        if self.values == INTEGERS:
            m = self.integer_magnitude()
            x = _integers(rng, self.x_shape, m)
            w = _integers(rng, self.w_shape, m, asymmetric=True)
            bias = _integers(rng, (self.out_channels,), m) if self.bias else None
            return x.astype(dtype), w.astype(dtype), None if bias is None else bias.astype(dtype)
        x = _mixed_signs(rng.standard_normal(self.x_shape))
        w = _mixed_signs(rng.standard_normal(self.w_shape))
        bias = _mixed_signs(rng.standard_normal(self.out_channels)) if self.bias else None
        if self.values == "large":
            # |x| ~ 2**8, |w| ~ 2**8: products ~ 2**16 = 65536, past float16's 65504; bfloat16 overflows
            # past 3.4e38, so bfloat16 cases scale by 2**64 each.
            scale = 2.0**64 if self.dtype == "bfloat16" else 2.0**8
            x, w = x * scale, w * scale
        if self.values == "nonfinite" and x.size:
            channel = _plant(rng, x, (np.inf, -np.inf, np.nan), channel_axis=1)
            _plant(rng, w, (0.0,), channel_axis=0, channel=channel)  # inf * 0 = NaN where they meet
        w = _asymmetric(w.astype(dtype))
        if self.values == "nonfinite_weights" and x.size:
            channel = _plant(rng, w, (np.inf, -np.inf), channel_axis=0)
            _plant(rng, x, (0.0,), channel_axis=1, channel=channel)  # 0 * inf = NaN where they meet
            if bias is not None:  # an infinity of the sign that keeps the bias's signs mixed
                bias[-1] = np.inf if bias.size > 1 and (bias[:-1] < 0).all() else -np.inf
        return x.astype(dtype), w, None if bias is None else bias.astype(dtype)

    def _invalid_arrays(self, rng, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """An invalid case's (x, w, bias): standard normal values in the shapes its fields give (x_shape,
        w_shape, bias_shape), which realize an array defect as it is: a bias of bias_elements, a weight of
        weight_in_channels, x of another rank than w, a zero-size axis. No value kind: no result is compared."""
        x, w = (rng.standard_normal(shape).astype(dtype) for shape in (self.x_shape, self.w_shape))
        bias = None if self.bias_shape is None else rng.standard_normal(self.bias_shape).astype(dtype)
        return x, w, bias

    def integer_magnitude(self) -> int:
        """m, the largest magnitude of an `integers` case's values: the largest of 3, 2, 1 with
        m*m*K + m <= E, K the reduction length (products per output element) and E the exactness limit of
        float16, or of bfloat16 for a bfloat16 case (EXACT_INTEGERS). Every partial sum of the forward
        computation is then an integer of magnitude at most E, exact in float16 (and bfloat16) in any order,
        for K up to E - 1 (2047 products; 255 in bfloat16); past that, 1."""
        limit = min(EXACT_INTEGERS["float16"], EXACT_INTEGERS.get(self.dtype, EXACT_INTEGERS["float16"]))
        return next((m for m in (3, 2) if m * m * self.reduction_length + m <= limit), 1)

    def exact_magnitude(self) -> int:
        """m, the largest magnitude of an `exact` case's values in its dtype: the largest m <= EXACT_LARGEST
        with K*m*m + m <= E (K the true number of products per output element, `max_products`; + m only
        with a bias; E = EXACT_INTEGERS[dtype]), at least 1. Where even m = 1 is too much, Case.arrays
        zeroes a share of x instead."""
        if self.dtype not in EXACT_INTEGERS:
            raise ValueError(f"case {self.id}: dtype {self.dtype!r}; choose one with case.with_dtype(...)")
        limit, products, bias = EXACT_INTEGERS[self.dtype], max(1, self.max_products), int(self.bias)
        m = min(EXACT_LARGEST, math.isqrt(limit // products))
        while m > 1 and products * m * m + bias * m > limit:
            m -= 1
        return max(1, m)

    def _exact_arrays(self, rng):
        """(x, w, bias) of an `exact` case, float64 (Case.arrays)."""
        m, params = self.exact_magnitude(), self.params()
        x = _nonzero_integers(rng, self.x_shape, m)
        w = _nonzero_integers(rng, self.w_shape, m, asymmetric=True)
        bias = _nonzero_integers(rng, (self.out_channels,), m) if self.bias else None
        order = rng.random(self.x_shape)  # which values of x go first, should the sums be too large
        absolute_bias = None if bias is None else np.abs(bias)

        def largest_sum(kept):  # the largest sum of |terms| over the output elements
            return golden.conv_transpose(np.abs(kept), np.abs(w), absolute_bias, **params).max(initial=0)

        return _thinned(x, order, largest_sum, EXACT_INTEGERS[self.dtype]), w, bias

    def cotangent(self) -> np.ndarray:
        """grad_out for a vector-Jacobian product: output-shaped, in the case's dtype, from the seed (for an
        `integers` case, integers in [-m, m] as its other arrays: the gradients' sums are exact in float32).

        For an `exact` case: 1 and -1, with a share of them zeroed as Case.arrays thins x, the smallest for
        which the sum of |terms| of every element of grad_x, grad_w and grad_bias is at most 2**digits of the
        dtype: the gradients are exact too, and a correct kernel returns the golden's bit for bit."""
        rng = np.random.default_rng(_stable_seed(self) + 1)
        if self.values == INTEGERS:
            return _integers(rng, self.output_shape, self.integer_magnitude()).astype(numpy_dtype(self.dtype))
        if self.values == EXACT:
            return self._exact_cotangent(rng).astype(numpy_dtype(self.dtype))
        return rng.standard_normal(self.output_shape).astype(numpy_dtype(self.dtype))

    def _exact_cotangent(self, rng) -> np.ndarray:
        x, w, bias = (None if a is None else np.abs(a.astype(np.float64)) for a in self.arrays())
        grad_out = _nonzero_integers(rng, self.output_shape, 1)
        order = rng.random(self.output_shape)

        def largest_sum(kept):  # over the elements of the three gradients
            grads = golden.conv_transpose_vjp(x, w, np.abs(kept), bias, **self.params())
            return max(g.max(initial=0) for g in grads if g is not None)

        return _thinned(grad_out, order, largest_sum, EXACT_INTEGERS[self.dtype])

    # --- serialization ----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-ready fields and the id; the defect's fields only where set (a valid case's dict is as before)."""
        data = dataclasses.asdict(self)
        for key in _DEFECT_FIELDS:
            if data[key] == _DEFECT_FIELDS[key]:
                del data[key]
        data["padding"] = [list(pair) for pair in self.padding]
        for key in ("input_size", "kernel_size", "stride", "dilation", "output_padding", "requested_output_size"):
            if key in data:
                data[key] = list(data[key])
        data["id"] = self.id
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Case:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        for key in ("input_size", "kernel_size", "stride", "dilation", "output_padding", "requested_output_size"):
            if key in values:
                values[key] = tuple(values[key])
        values["padding"] = tuple(tuple(pair) for pair in values["padding"])
        return cls(**values)


_DEFECT_FIELDS = {"defect": "", "bias_elements": None, "weight_in_channels": None, "requested_output_size": ()}


def _plant(rng, array: np.ndarray, values, *, channel_axis: int, channel: int | None = None) -> int:
    """Write `values` at distinct random positions of `array` (in place), the first of them in `channel`
    (along `channel_axis`) when given; returns the channel of the first."""
    flat = array.reshape(-1)
    if channel is None:
        first = int(rng.integers(flat.size))
    else:
        positions = np.moveaxis(np.arange(flat.size).reshape(array.shape), channel_axis, 0)[channel].reshape(-1)
        first = int(rng.choice(positions))
    others = rng.choice(flat.size - 1, size=min(len(values) - 1, flat.size - 1), replace=False)
    picks = [first, *(int(i) + (i >= first) for i in others)]  # distinct from `first`
    flat[picks] = values[: len(picks)]
    rest = np.ones(flat.size, bool)
    rest[picks] = False
    drawn = flat[rest]  # keep mixed signs among the values not planted
    if drawn.size >= 2 and ((drawn > 0).all() or (drawn < 0).all()):
        flat[np.flatnonzero(rest)[-1]] *= -1
    return int(np.unravel_index(first, array.shape)[channel_axis])


def _integers(rng, shape, m: int, *, asymmetric: bool = False) -> np.ndarray:
    """Integers in [-m, m] of `shape` (float64), not all zero, with both signs where there are two values or
    more and, with `asymmetric`, not mirror-symmetric along any kernel axis (axes 2 on) of more than one tap:
    drawn again until so (at most 64 draws; then 1, -1 and zeros, which are all of that)."""
    for _ in range(64):
        values = rng.integers(-m, m + 1, size=shape).astype(np.float64)
        if _fit_integers(values, asymmetric):
            return values
    values = np.zeros(shape)
    values.reshape(-1)[:2] = (1.0, -1.0)[: values.size]  # the first element's mirror on any axis is -1 or 0
    return values


def _nonzero_integers(rng, shape, m: int, *, asymmetric: bool = False) -> np.ndarray:
    """Non-zero integers in [-m, m] of `shape` (float64), with both signs where there are two values or more
    and, with `asymmetric`, not mirror-symmetric along any kernel axis of more than one tap: drawn again
    until so (at most 64 draws; then the first value negated, which breaks every mirror symmetry it had)."""
    for _ in range(64):
        values = rng.integers(1, m + 1, size=shape) * rng.choice((-1.0, 1.0), size=shape)
        if _fit_integers(values, asymmetric):
            return values
    values.reshape(-1)[0] *= -1  # its mirror images held the same value: now they do not
    return values


def _thinned(values: np.ndarray, order: np.ndarray, largest_sum, limit: float) -> np.ndarray:
    """`values`, with those whose `order` (uniform in [0, 1)) is at least a density set to 0: density 1
    (nothing zeroed) if largest_sum(values) <= limit, else lowered in proportion, and again, until
    largest_sum(what is kept) <= limit (oneDNN benchdnn's reduced density for long reductions). The masks
    nest, so each step only zeroes more; with nothing kept the sum is the bias's, within the limit."""
    density, kept = 1.0, values
    for _ in range(256):
        total = largest_sum(kept)
        if total <= limit:
            return kept
        density *= min(0.9, limit / total)
        kept = np.where(order < density, values, 0.0)
    return np.zeros_like(values)


def _fit_integers(values: np.ndarray, asymmetric: bool) -> bool:
    if values.size == 0:
        return True
    if not values.any() or (values.size >= 2 and not ((values > 0).any() and (values < 0).any())):
        return False
    return not asymmetric or not any(
        values.shape[axis] > 1 and np.array_equal(values, np.flip(values, axis)) for axis in range(2, values.ndim)
    )


def _mixed_signs(values: np.ndarray) -> np.ndarray:
    """The values, with the last one negated if all of at least two share a sign (rare, but possible)."""
    flat = values.reshape(-1)
    if flat.size >= 2 and ((flat > 0).all() or (flat < 0).all()):
        flat[-1] = -flat[-1]
    return values


def _asymmetric(w: np.ndarray) -> np.ndarray:
    """w, with its first element doubled while it is mirror-symmetric along a kernel axis (rounding to a
    narrow dtype can make a small kernel symmetric; then a flipped kernel would pass unnoticed)."""
    for _ in range(4):
        symmetric = [
            axis for axis in range(2, w.ndim) if w.shape[axis] > 1 and np.array_equal(w, np.flip(w, axis))
        ]
        if not symmetric or w.reshape(-1)[0] == 0:
            break
        w.reshape(-1)[0] = w.reshape(-1)[0] * 2
    return w


def _stable_seed(case: Case) -> int:
    """A seed from the case's seed and its configuration, stable across processes (unlike hash())."""
    text = case.id.rsplit("-r", 1)[0] + f"|{case.seed}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _per_axis(value, rank: int) -> tuple:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * rank
    return tuple(value)


def make_case(
    *,
    input_size,
    kernel_size,
    in_channels: int = 1,
    out_channels: int = 1,
    groups: int = 1,
    batch: int = 1,
    stride=1,
    dilation=1,
    padding=0,
    output_padding=0,
    bias: bool = False,
    dtype: str | None = None,
    seed: int = 0,
    mode: str = "explicit",
    values: str = "normal",
    name: str = "",
    defect: str = "",
    bias_elements: int | None = None,
    weight_in_channels: int | None = None,
    requested_output_size=(),
) -> Case:
    """Build a Case, deriving the canonical padding for `same` and `valid` and checking validity.

    `padding` (explicit and output_shape modes): an int, one int per axis, or one (begin, end) pair per
    axis. In `same` and `valid` modes it is derived (convt_oracle.arithmetic.same_padding / valid_padding) and
    `output_padding` is taken from that derivation. Validity is the golden's: an invalid configuration
    becomes a case with `valid=False` and the golden's error message as its `reason`.

    An invalid configuration names what is wrong with it with `defect` (one of DEFECTS; a ValueError if
    the golden accepts the configuration), and states an array defect with `bias_elements`,
    `weight_in_channels` or, in `output_shape` mode, `requested_output_size` (one size per spatial axis).
    Attributes are taken as given (a float, a negative or a huge value stays so); a kernel_size of another
    length than input_size states x and w of different ranks.
    """
    if mode not in MODES:
        raise ValueError(f"mode: got {mode!r}; expected one of {', '.join(MODES)}")
    if values not in ALL_VALUE_KINDS:
        raise ValueError(f"values: got {values!r}; expected one of {', '.join(ALL_VALUE_KINDS)}")
    if dtype is not None:
        numpy_dtype(dtype)
    if defect and defect not in DEFECTS:
        raise ValueError(f"defect: got {defect!r}; expected one of {', '.join(DEFECTS)}")
    requested_output_size = tuple(requested_output_size)
    if requested_output_size and mode != "output_shape":
        raise ValueError(f"requested_output_size: got {requested_output_size}; only an output_shape case asks for a size")
    if not defect and isinstance(groups, int) and groups >= 1 and out_channels % groups:
        # The weight (in_channels, out_channels // groups, *k) cannot carry such an out_channels at all: only a
        # case that names its defect states one (groups_not_dividing_out_channels, through its bias).
        raise ValueError(f"out_channels: {out_channels} is not a multiple of groups={groups}")
    rank = len(_per_axis(input_size, 1))
    input_size, kernel_size = _per_axis(input_size, rank), _per_axis(kernel_size, rank)
    stride, dilation = _per_axis(stride, rank), _per_axis(dilation, rank)
    if mode in ("same", "valid"):
        rule = arithmetic.same_padding if mode == "same" else arithmetic.valid_padding
        derived = [rule(i, k, s, d) for i, k, s, d in zip(input_size, kernel_size, stride, dilation)]
        padding = tuple((p.begin, p.end) for p in derived)
        output_padding = tuple(p.output_padding for p in derived)
    else:
        padding = tuple(
            (p, p) if isinstance(p, (int, np.integer)) else tuple(p) for p in _per_axis(padding, rank)
        )
        output_padding = _per_axis(output_padding, rank)
    case = Case(
        batch=batch,
        in_channels=in_channels,
        out_channels=out_channels,
        groups=groups,
        input_size=input_size,
        kernel_size=kernel_size,
        stride=stride,
        dilation=dilation,
        padding=padding,
        output_padding=output_padding,
        bias=bias,
        dtype=dtype,
        seed=seed,
        mode=mode,
        values=values,
        name=name,
        defect=defect,
        bias_elements=bias_elements,
        weight_in_channels=weight_in_channels,
        requested_output_size=requested_output_size,
    )
    reason = _invalid_reason(case)
    if defect and reason is None:
        raise ValueError(f"defect: {defect!r} named, but the golden accepts the configuration {case.id}")
    return dataclasses.replace(case, valid=reason is None, reason=reason or "")


def _invalid_reason(case: Case) -> str | None:
    """The golden's error message for this configuration, or None when it is valid."""
    try:
        case.output_shape
    except (ValueError, TypeError) as error:
        return str(error)
    return None
