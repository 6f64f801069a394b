"""Normalization and validation of transposed-convolution arguments.

Every public entry point of the golden passes its arguments through `normalize`,
so that each rule (what a stride may be, how padding is spelled, how channels
relate to groups) is written once, and every violation raises a ValueError or
TypeError that names the argument, the value it got, and the rule.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from numbers import Integral

import ml_dtypes
import numpy as np

from convt_oracle import arithmetic

MAX_SPATIAL_RANK = 3
# The largest integer an index of this platform holds (numpy's intp): a larger stride, padding or group
# count cannot address anything.
LARGEST_INDEX = sys.maxsize

# Narrow floating types from ml_dtypes that convert exactly to float64.
_ML_FLOAT_DTYPES = frozenset(
    np.dtype(getattr(ml_dtypes, name))
    for name in (
        "bfloat16",
        "float8_e3m4",
        "float8_e4m3",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e4m3b11fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
    )
    if hasattr(ml_dtypes, name)
)
_LARGEST_EXACT_INTEGER = 2**53


@dataclass(frozen=True)
class ConvParams:
    """Canonical per-axis parameters: every field has one entry per spatial axis."""

    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]  # (begin, end) crop of the full result
    output_padding: tuple[int, ...]  # rows appended at the end
    groups: int

    @property
    def spatial_rank(self) -> int:
        return len(self.stride)

    def output_size(self, input_size, kernel_size) -> tuple[int, ...]:
        """Spatial output size for the given spatial input and kernel sizes."""
        return tuple(
            arithmetic.output_size(i, k, s, d, b, e, op)
            for i, k, s, d, (b, e), op in zip(
                input_size, kernel_size, self.stride, self.dilation, self.padding, self.output_padding
            )
        )


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return repr(value)


def _is_int(value) -> bool:
    if type(value) is int:  # the common case, without the slower ABC check
        return True
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def per_axis_ints(name: str, value, rank: int, *, minimum: int) -> tuple[int, ...]:
    """An int or one int per spatial axis, each >= minimum, as a tuple of `rank` ints."""
    rule = "positive" if minimum == 1 else "non-negative"
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: got {value!r}; expected an int or a sequence of {rank} ints (one per spatial axis)")
    if _is_int(value):
        values = (int(value),) * rank
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(
                f"{name}: got {_describe(value)}; expected an int or a sequence of {rank} ints "
                f"(one per spatial axis)"
            ) from None
        if len(values) != rank:
            raise ValueError(
                f"{name}: got {_describe(value)} with {len(values)} values; "
                f"the input has {rank} spatial axes, so give an int or {rank} ints"
            )
        if not all(_is_int(v) for v in values):
            raise TypeError(f"{name}: got {_describe(value)}; each value must be an int")
        values = tuple(int(v) for v in values)
    if any(v < minimum for v in values):
        raise ValueError(f"{name}: got {_describe(value)}; each value must be a {rule} integer")
    _check_fits(name, value, values)
    return values


def _check_fits(name: str, value, values) -> None:
    if any(v > LARGEST_INDEX for v in values):
        raise ValueError(
            f"{name}: got {_describe(value)}; each value must fit this platform's index type (at most "
            f"2**{LARGEST_INDEX.bit_length()} - 1)"
        )


def per_axis_pairs(name: str, value, rank: int) -> tuple[tuple[int, int], ...]:
    """Padding as (begin, end) pairs: an int, one int per axis, or one pair per axis."""
    rule = (
        f"give an int, {rank} int(s) (one per spatial axis, same crop at both ends), "
        f"or {rank} (begin, end) pair(s), e.g. {[(1, 0)] * rank}"
    )
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{name}: got {value!r}; the golden takes explicit crops: {rule}. For a framework's "
            f"'SAME' / 'VALID' / auto_pad, convt_oracle.arithmetic translates it (same_padding, valid_padding, onnx_padding)"
        )
    if _is_int(value):
        if value < 0:
            raise ValueError(f"{name}: got {value!r}; padding must be non-negative")
        _check_fits(name, value, [int(value)])
        return ((int(value), int(value)),) * rank
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name}: got {_describe(value)}; {rule}") from None
    if len(items) != rank:
        raise ValueError(f"{name}: got {_describe(value)} with {len(items)} entries; {rule}")
    pairs = []
    for item in items:
        if _is_int(item):
            pair = (item, item)
        else:
            try:
                pair = tuple(item)
            except TypeError:
                raise TypeError(f"{name}: got {_describe(value)}; {rule}") from None
            if len(pair) != 2 or not all(_is_int(v) for v in pair):
                raise TypeError(f"{name}: got {_describe(value)}; {rule}")
        if min(pair) < 0:
            raise ValueError(f"{name}: got {_describe(value)}; padding must be non-negative")
        pairs.append((int(pair[0]), int(pair[1])))
    _check_fits(name, value, [v for pair in pairs for v in pair])
    return tuple(pairs)


def as_float64(name: str, array) -> np.ndarray:
    """Convert a numeric array to float64 exactly, or raise naming the argument and the rule."""
    try:
        array = np.asarray(array)
    except ValueError as error:  # a ragged nested sequence, say
        raise ValueError(f"{name}: cannot be read as a numeric array ({error}); give a rectangular array") from None
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize > 8:
        raise TypeError(
            f"{name}: dtype {dtype} is wider than float64 and cannot be converted to it exactly; "
            f"expected float16, bfloat16, float32, float64 or an integer type"
        )
    if dtype.kind == "f" or dtype in _ML_FLOAT_DTYPES:
        return array.astype(np.float64, copy=False)
    if dtype.kind in "iu":
        # Compared as Python ints: converting first would round 2**53 + 1 down to 2**53 and let it pass.
        if array.size and max(-int(array.min()), int(array.max())) > _LARGEST_EXACT_INTEGER:
            largest = int(array.max()) if int(array.max()) > _LARGEST_EXACT_INTEGER else int(array.min())
            raise ValueError(
                f"{name}: got the integer {largest}; integer inputs must satisfy |value| <= 2**53, "
                f"the range in which float64 (the golden's arithmetic) holds every integer exactly"
            )
        return array.astype(np.float64)
    raise TypeError(
        f"{name}: dtype {dtype} is not supported; expected a real floating type (float16, bfloat16, "
        f"float32, float64) or an integer type"
    )


def check_arrays(x: np.ndarray, w: np.ndarray, groups: int, *, x_name: str = "x") -> int:
    """Check the ranks and channel counts of x and w; return the spatial rank."""
    if not 3 <= w.ndim <= MAX_SPATIAL_RANK + 2:
        raise ValueError(
            f"w: got shape {w.shape}; expected (in_channels, out_channels // groups, *kernel) "
            f"with 1 to {MAX_SPATIAL_RANK} kernel axes"
        )
    if x.ndim != w.ndim:
        raise ValueError(
            f"{x_name}: got shape {x.shape} ({x.ndim} axes) with w of shape {w.shape} ({w.ndim} axes); "
            f"{x_name} must be (batch, channels, *spatial) with as many spatial axes as w has kernel axes"
        )
    if min(w.shape[1:], default=1) < 1:
        raise ValueError(f"w: got shape {w.shape}; out_channels // groups and every kernel size must be >= 1")
    if w.shape[0] % groups:
        raise ValueError(
            f"w: in_channels {w.shape[0]} (w.shape[0]) is not divisible by groups={groups}; "
            f"in_channels must be a multiple of groups"
        )
    if w.shape[0] < 1:
        raise ValueError(f"w: got shape {w.shape}; in_channels must be >= 1")
    return w.ndim - 2


def normalize(
    spatial_rank: int, *, stride, padding, output_padding, dilation, groups
) -> ConvParams:
    """Validate the keyword parameters and return them in canonical per-axis form."""
    return ConvParams(
        stride=per_axis_ints("stride", stride, spatial_rank, minimum=1),
        dilation=per_axis_ints("dilation", dilation, spatial_rank, minimum=1),
        padding=per_axis_pairs("padding", padding, spatial_rank),
        output_padding=per_axis_ints("output_padding", output_padding, spatial_rank, minimum=0),
        groups=check_groups(groups),
    )


def check_groups(groups) -> int:
    if not _is_int(groups):
        raise TypeError(f"groups: got {groups!r}; groups must be a positive int")
    if groups < 1:
        raise ValueError(f"groups: got {groups!r}; groups must be a positive int")
    _check_fits("groups", groups, [int(groups)])
    return int(groups)


def check_output_size(params: ConvParams, input_size, kernel_size) -> tuple[int, ...]:
    """The spatial output size, or a ValueError if some axis would have fewer than 1 element, or more than
    this platform's index type holds."""
    if min(input_size, default=1) < 1:
        raise ValueError(f"x: spatial size {tuple(input_size)} has an empty axis; every spatial size must be >= 1")
    size = params.output_size(input_size, kernel_size)
    for axis, o in enumerate(size):
        (b, e), op = params.padding[axis], params.output_padding[axis]
        s, d = params.stride[axis], params.dilation[axis]
        if o < 1:
            raise ValueError(
                f"padding: crop ({b}, {e}) with output_padding {op} on spatial axis {axis} leaves an output "
                f"size of {o} (input {input_size[axis]}, kernel {kernel_size[axis]}, stride "
                f"{s}, dilation {d}); the output size "
                f"(i-1)*s + d*(k-1) + 1 - begin - end + output_padding must be >= 1"
            )
        if o > LARGEST_INDEX:
            raise ValueError(
                f"stride, dilation, output_padding: stride {s}, dilation {d} and output_padding {op} on spatial "
                f"axis {axis} give an output size of {o} (input {input_size[axis]}, kernel {kernel_size[axis]}, "
                f"crop ({b}, {e})); the output size must fit this platform's index type (at most "
                f"2**{LARGEST_INDEX.bit_length()} - 1)"
            )
    return size


def check_requested_size(requested, size) -> None:
    """Nothing, or a ValueError (TypeError) unless `requested` (the caller's `output_size`: None, or one
    positive int per spatial axis) is `size`, the spatial output size the parameters give: asking for an
    output size (torch's output_size, TF's and ONNX's output_shape) chooses no crop here, it is checked."""
    if requested is None:
        return
    asked = per_axis_ints("output_size", requested, len(size), minimum=1)
    if asked != tuple(size):
        raise ValueError(
            f"output_size: got {_describe(requested)}; the input, kernel, stride, dilation, padding and "
            f"output_padding give {tuple(size)}: the output size (i-1)*s + d*(k-1) + 1 - begin - end + "
            f"output_padding on every axis, and output_size must be that"
        )


def prepare(x, w, stride, padding, output_padding, dilation, groups, *, x_name: str = "x"):
    """Validate and convert the golden's arguments: (x, w) as float64 arrays, and the canonical parameters.

    `x_name` is "y" for the adjoint, whose first array is output-shaped (its channels are checked there).
    """
    x64 = as_float64(x_name, x)
    w64 = as_float64("w", w)
    spatial_rank = check_arrays(x64, w64, check_groups(groups), x_name=x_name)
    if x_name == "x" and x64.shape[1] != w64.shape[0]:
        raise ValueError(
            f"x: got {x64.shape[1]} channels (shape {x64.shape}); w of shape {w64.shape} expects "
            f"in_channels = w.shape[0] = {w64.shape[0]}"
        )
    params = normalize(
        spatial_rank, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups
    )
    return x64, w64, params


def check_bias(bias, out_channels: int, groups: int = 1) -> np.ndarray | None:
    """The bias as float64, or None; a ValueError unless it has shape (out_channels,), out_channels being
    w.shape[1] * groups."""
    if bias is None:
        return None
    bias64 = as_float64("bias", bias)
    if bias64.shape != (out_channels,):
        per_group = f", w.shape[1] * groups = {out_channels // groups} * {groups}" if groups > 1 else ""
        stated = bias64.shape[0] if bias64.ndim == 1 else None
        not_divisible = (
            f"; {stated} output channels are not a multiple of groups={groups}"
            if groups > 1 and stated is not None and stated % groups else ""
        )
        raise ValueError(
            f"bias: got shape {bias64.shape}; expected (out_channels,) = ({out_channels},){per_group}{not_divisible}"
        )
    return bias64
