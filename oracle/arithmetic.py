"""Output-size and padding arithmetic of transposed convolution: the one place for these rules.

Pure functions of the integers of one spatial axis (`taps_reaching` answers with a numpy array). Notation
(as in docs/conventions.md): input size `i`, kernel `k`, stride `s`, dilation `d`, effective kernel
`ke = d*(k-1) + 1`, full (uncropped) output `F = (i-1)*s + ke`.

The canonical convention, used by the golden, is a crop of the full result: `begin` elements dropped at
the start, `end` at the end, then `output_padding` elements appended at the end (zero, plus bias, where
they lie past the full result):

    O = F - begin - end + output_padding

Every framework convention (TF/jax 'SAME' and 'VALID', ONNX auto_pad and output_shape, TF output_shape,
torch output_size, jax explicit pairs, Keras's 'same'/'valid' with output_padding) is translated here into
a canonical `AxisPadding`; `least_padding` and `same_elements` say when two of them select the same
elements, `border_band` where an output element's kernel window is cut by an end of the input, and
`taps_reaching` / `hole_share` which output positions receive a product at all (the rest are holes: zeros,
or the bias alone).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class AxisPadding(NamedTuple):
    """Canonical padding of one spatial axis."""

    begin: int
    end: int
    output_padding: int


def effective_kernel(k: int, d: int) -> int:
    """Extent of a kernel of size k with dilation d: d*(k-1) + 1."""
    return d * (k - 1) + 1


def full_size(i: int, k: int, s: int, d: int) -> int:
    """Size of the uncropped transposed convolution: (i-1)*s + ke."""
    return (i - 1) * s + effective_kernel(k, d)


def output_size(i: int, k: int, s: int, d: int, begin: int = 0, end: int = 0, output_padding: int = 0) -> int:
    """Canonical output size: (i-1)*s + d*(k-1) + 1 - begin - end + output_padding."""
    return full_size(i, k, s, d) - begin - end + output_padding


def input_size(o: int, k: int, s: int, d: int, begin: int = 0, end: int = 0, output_padding: int = 0) -> int | None:
    """The input size i whose transposed convolution has output size `o` (the inverse of `output_size`),
    or None when no i >= 1 has it."""
    steps, remainder = divmod(o - effective_kernel(k, d) + begin + end - output_padding, s)
    return None if remainder or steps < 0 else steps + 1


def crop_to_size(full: int, begin: int, size: int) -> AxisPadding:
    """Canonical padding that drops `begin` elements, then keeps `size` (zero-extended past `full`).

    A negative `begin` (only `onnx_padding` and `from_jax_padding` produce one) stands for -begin zeros
    placed before the full result; `conv_transpose` refuses a negative crop, so such a padding has to be
    applied as a crop of 0 followed by prepending the zeros.
    """
    end = full - begin - size
    return AxisPadding(begin, max(end, 0), max(-end, 0))


def least_padding(i: int, k: int, s: int, d: int, pad: AxisPadding) -> AxisPadding:
    """The same selection written with the least end crop.

    A padding's result is full[begin : begin + O] with zeros past the end of the full result, so
    (begin, end, output_padding) and (begin, end - n, output_padding - n) select the same elements; this is
    the one of them with the smaller of end and output_padding at 0 (`crop_to_size`).
    """
    return crop_to_size(full_size(i, k, s, d), pad.begin, output_size(i, k, s, d, *pad))


def same_elements(i: int, k: int, s: int, d: int, a: AxisPadding, b: AxisPadding) -> bool:
    """Whether two paddings select the same elements: the same first element of the full result and the
    same output size (a framework's spelling of a crop against the crop it stands for)."""
    return least_padding(i, k, s, d, a) == least_padding(i, k, s, d, b)


# --- 'SAME' and 'VALID' -------------------------------------------------------------------------------


def same_padding(i: int, k: int, s: int, d: int, *, lower: bool = False) -> AxisPadding:
    """'SAME' padding: output size i*s.

    TF and jax rule (a TF 'SAME' transposed conv is the gradient of a forward 'SAME' conv of an input of
    size i*s). The total crop is max(0, ke - s). With `lower=False` the odd extra element is cropped at the
    end (begin = total // 2); `lower=True` crops it at the start. When the kernel is shorter than the
    stride the full result is short of i*s and is zero-extended at the end.

    ONNX auto_pad SAME_UPPER (`lower=False`) and SAME_LOWER (`lower=True`) give this padding when
    ke >= s and output_padding is 0, in general not otherwise: use `onnx_padding` (with ke < s the ONNX
    rule splits the negative total between the two ends instead of zero-extending at the end).
    """
    total = effective_kernel(k, d) - s
    if total <= 0:
        return AxisPadding(0, 0, -total)
    begin = total - total // 2 if lower else total // 2
    return AxisPadding(begin, total - begin, 0)


def valid_padding(i: int, k: int, s: int, d: int) -> AxisPadding:
    """'VALID' padding (jax, Keras): no crop; output (i-1)*s + max(ke, s)."""
    return AxisPadding(0, 0, max(0, s - effective_kernel(k, d)))


# --- where the kernel window is cut by an end of the input ------------------------------------------------


def border_band(i: int, k: int, s: int, d: int, begin: int, size: int) -> tuple[int, int]:
    """(head, tail): how many output elements at each end of an axis of `size` elements lie where the
    kernel's window is cut by an end of the input, i.e. full-result position f = o + begin with
    f < d*(k-1) or f > (i-1)*s (this includes output_padding past the full result). The interior is
    d*(k-1) - begin <= o <= (i-1)*s - begin."""
    head = min(size, max(0, effective_kernel(k, d) - 1 - begin))
    tail = min(size, max(0, size - ((i - 1) * s - begin + 1)))
    return head, tail


# --- which output positions receive a product: holes ------------------------------------------------------


def taps_reaching(i: int, k: int, s: int, d: int, begin: int, size: int) -> np.ndarray:
    """Per output position o of one axis (0 <= o < size), how many kernel taps reach it (int array).

    From the scatter definition: input index j and tap t land on full-result position f = j*s + t*d, and
    output o is f = o + begin; so tap t reaches o when (o + begin - t*d) is a multiple of s in
    [0, (i-1)*s]. Positions past the full result (output_padding) are reached by none.
    """
    f = np.arange(size)[:, None] + begin
    source = f - np.arange(k)[None, :] * d
    return ((source % s == 0) & (source >= 0) & (source < i * s)).sum(axis=1)


def covered_fraction(i: int, k: int, s: int, d: int, begin: int, size: int) -> float:
    """The share of an axis's `size` output positions that at least one tap reaches (`taps_reaching` > 0)."""
    return float(np.count_nonzero(taps_reaching(i, k, s, d, begin, size))) / size if size else 1.0


def hole_share(axes) -> float:
    """The share of output elements no product reaches (holes: zeros, or the bias alone), for per-axis
    (i, k, s, d, begin, size) tuples. An element is reached when it is on every axis (the axes are
    independent), so it is 1 - the product of the axes' `covered_fraction`."""
    return 1.0 - math.prod(covered_fraction(*axis) for axis in axes)


# --- forward convolution sizes (the transposed conv is the gradient of one) -----------------------------


def forward_output_size(n: int, k: int, s: int, d: int, begin: int = 0, end: int = 0) -> int:
    """Output size of a forward convolution of an input of size n padded by (begin, end)."""
    return (n + begin + end - effective_kernel(k, d)) // s + 1


def forward_same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """(begin, end) zero padding of a TF/jax 'SAME' forward convolution of an input of size n."""
    total = max((-(-n // s) - 1) * s + effective_kernel(k, d) - n, 0)
    return total // 2, total - total // 2


def forward_padding(n: int, k: int, s: int, d: int, padding) -> tuple[int, int]:
    """(begin, end) of a forward conv for padding 'SAME', 'VALID' or an explicit (begin, end) pair."""
    if padding == "SAME":
        return forward_same_padding(n, k, s, d)
    if padding == "VALID":
        return (0, 0)
    begin, end = padding
    return int(begin), int(end)


def accepted_output_sizes(i: int, k: int, s: int, d: int, padding) -> range:
    """Output sizes n whose forward convolution (with `padding`) has size i: TF's output_shape rule.

    `padding` is 'SAME', 'VALID' or an explicit (begin, end) pair of the forward convolution.
    """
    if padding == "SAME":  # ceil(n / s) == i
        return range((i - 1) * s + 1, i * s + 1)
    begin, end = forward_padding(0, k, s, d, padding)
    # floor((n + begin + end - ke) / s) + 1 == i
    lowest = (i - 1) * s + effective_kernel(k, d) - begin - end
    return range(max(lowest, 1), max(lowest + s, 1))


def output_shape_padding(i: int, k: int, s: int, d: int, padding, size: int) -> AxisPadding:
    """Canonical padding of a transposed conv asked for output size `size` (TF's `output_shape`).

    It is the gradient of the forward convolution of an input of that size: crop the forward conv's
    begin padding, keep `size` elements. Raises ValueError if the forward conv of `size` is not `i`.
    """
    accepted = accepted_output_sizes(i, k, s, d, padding)
    if size not in accepted:
        raise ValueError(
            f"output_shape: size {size} is not accepted for input size {i} (kernel {k}, stride {s}, "
            f"dilation {d}, padding {padding!r}); a forward convolution of it must give {i}, "
            f"so it must lie in [{accepted.start}, {accepted.stop - 1}]"
        )
    begin, _ = forward_padding(size, k, s, d, padding)
    return crop_to_size(full_size(i, k, s, d), begin, size)


# --- torch -----------------------------------------------------------------------------------------------


def torch_output_padding_limit(s: int, d: int) -> int:
    """torch requires output_padding < max(stride, dilation)."""
    return max(s, d)


def torch_padding(pad: AxisPadding) -> tuple[int, int]:
    """torch's (padding, output_padding) for a canonical padding: torch crops `padding` at both ends and
    appends `output_padding`, so full[b : b + F - b - e + op] is padding b, output_padding b - e + op. A
    negative output_padding (end > begin + output_padding) has no torch spelling."""
    return pad.begin, pad.begin - pad.end + pad.output_padding


def torch_output_size_padding_limit(s: int) -> int:
    """torch's `output_size` accepts sizes that need output_padding < stride (tighter than the limit above)."""
    return s


def torch_output_padding(i: int, k: int, s: int, d: int, p: int, size: int) -> int:
    """output_padding torch derives from `output_size`: size - ((i-1)*s - 2p + ke), in [0, s-1]."""
    smallest = output_size(i, k, s, d, p, p)
    if not smallest <= size < smallest + torch_output_size_padding_limit(s):
        raise ValueError(
            f"output_size: {size} is outside [{smallest}, {smallest + s - 1}], the sizes torch accepts for "
            f"input {i}, kernel {k}, stride {s}, dilation {d}, padding {p}"
        )
    return size - smallest


# --- Keras keras.ops.conv_transpose ---------------------------------------------------------------------------


def keras_padding(i: int, k: int, s: int, d: int, padding: str, output_padding: int | None) -> AxisPadding:
    """Canonical padding of one axis of keras.ops.conv_transpose(padding=..., output_padding=...), in its
    least form (`least_padding`). `output_padding` None and 0 differ:

    - 'valid', None: `valid_padding` (output (i-1)*s + max(ke, s));
    - 'same', None: `same_padding` (output i*s, TF/jax 'SAME');
    - 'valid', op: no crop, op zeros appended: (0, 0, op);
    - 'same', op: Keras's own pair for lax.conv_transpose (keras/src/backend/common/backend_utils.py,
      `_convert_conv_transpose_padding_args_from_keras_to_jax`): pad_len = ke + ke % 2 - 2 + op,
      left = min(ceil(pad_len / 2), ke - 1), right = pad_len - left, read back with `from_jax_padding`;
      output size (i-1)*s + ke % 2 + op, as in Keras's shape rule (`compute_conv_transpose_output_shape`).
    """
    if padding not in ("same", "valid"):
        raise ValueError(f"padding: got {padding!r}; Keras takes 'same' or 'valid'")
    if output_padding is None:
        rule = same_padding if padding == "same" else valid_padding
        pad = rule(i, k, s, d)
    elif padding == "valid":
        pad = AxisPadding(0, 0, output_padding)
    else:
        ke = effective_kernel(k, d)
        pad_len = ke + ke % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, ke - 1)
        pad = from_jax_padding(k, d, left, pad_len - left)
    return least_padding(i, k, s, d, pad)


# --- jax lax.conv_transpose explicit padding -------------------------------------------------------------


def to_jax_padding(k: int, d: int, pad: AxisPadding) -> tuple[int, int]:
    """lax.conv_transpose pair on the stride-dilated input: (ke-1-begin, ke-1-end+output_padding)."""
    ke = effective_kernel(k, d)
    return ke - 1 - pad.begin, ke - 1 - pad.end + pad.output_padding


def from_jax_padding(k: int, d: int, lo: int, hi: int) -> AxisPadding:
    """Inverse of `to_jax_padding`: the canonical padding of a lax.conv_transpose explicit pair.

    `end` and `output_padding` are not both positive. A pair with lo > ke-1 (more than the kernel's
    padding at the start) gives a negative `begin`: zeros before the full result (see `crop_to_size`).
    """
    ke = effective_kernel(k, d)
    trailing = ke - 1 - hi  # end - output_padding
    return AxisPadding(ke - 1 - lo, max(trailing, 0), max(-trailing, 0))


# --- ONNX ConvTranspose -----------------------------------------------------------------------------------


def onnx_padding(
    i: int,
    k: int,
    s: int,
    d: int,
    *,
    auto_pad: str = "NOTSET",
    pads: tuple[int, int] = (0, 0),
    output_padding: int = 0,
    output_shape: int | None = None,
) -> AxisPadding:
    """Canonical padding of an ONNX ConvTranspose axis: the operator spec text (opset >= 11).

    - `output_shape` given: total_padding = s*(i-1) + output_padding + ke - output_shape, split with the
      larger half at the start, except under SAME_UPPER where it goes at the end; `pads` are ignored.
    - `auto_pad` SAME_UPPER / SAME_LOWER: output size i*s (the spec's auto_pad rule), total split as above.
    - otherwise (NOTSET or VALID): `pads` (begin, end) and `output_padding` as given (VALID: no pads).

    The spec's `total_padding/2` is read as floor division, as onnx.reference does: of the two readings
    (floor, truncation toward zero) only floor reproduces the spec's own test case
    `test_convtranspose_output_shape` (total -1, NOTSET: the extra zero row at the end). A negative total
    (output_shape beyond the full result, or SAME with ke + output_padding < s) then gives a negative
    `begin`: zeros before the full result (see `crop_to_size`). Installed runtimes deviate from this spec
    (tests/test_conventions_onnx.py, test_finding_*): onnxruntime clamps a negative total to 0, and
    onnx.reference ignores `output_shape` for the padding unless auto_pad is SAME_UPPER or SAME_LOWER.
    """
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise ValueError(f"auto_pad: got {auto_pad!r}; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = i * s
    if output_shape is None:
        begin, end = (0, 0) if auto_pad == "VALID" else pads
        return AxisPadding(begin, end, output_padding)
    total = full_size(i, k, s, d) + output_padding - output_shape
    small, large = total // 2, total - total // 2
    begin = small if auto_pad == "SAME_UPPER" else large
    return crop_to_size(full_size(i, k, s, d), begin, output_shape)
