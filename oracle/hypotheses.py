"""The hypotheses of convt_oracle.diagnosis: each a plausible mistake, as an exact transformation of the
golden's computation. One function each, registered by name in order of preference (the most specific
first: a crop swapped is also a shift, and the name that says more wins). A function takes the
discrepancy's Context and yields Candidates (convt_oracle.diagnosis); it yields nothing where the mistake
cannot show on the case (no bias, one group, ...). Add one by writing a function here with `@hypothesis`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import ml_dtypes
import numpy as np

from convt_oracle import arithmetic
from convt_oracle import compare as C
from convt_oracle import golden
from convt_oracle.diagnosis import Candidate, hypothesis, mapped, sliced
from convt_oracle.tolerance import OVERFLOW_THRESHOLD, UNDERFLOW, UNIT_ROUNDOFF, Tolerance

VALUES = (C.VALUE_MISMATCH,)
NONFINITE = (C.NONFINITE_MISMATCH,)
ANY = (C.VALUE_MISMATCH, C.NONFINITE_MISMATCH, C.SHAPE_MISMATCH)
SHIFTS = 2  # `shifted` tries offsets of up to this many elements per axis


# --- non-finite values: where an inf or NaN comes from ----------------------------------------------------


def forward_with_padding_zeros(x, w, params) -> np.ndarray:
    """conv_transpose as XLA's and oneDNN's kernels compute it: the input zero-dilated by the stride and
    zero-padded by (d(k-1) - begin, d(k-1) - end + output_padding) per axis (a negative amount crops),
    correlated with the flipped kernel, every tap multiplying what it meets, the zeros included: an inf or
    NaN weight makes inf * 0 = NaN at outputs it does not reach. Float64, no bias."""
    return _correlated(x, w, params)


def forward_with_rounded_products(x, w, params, dtype: str) -> np.ndarray:
    """conv_transpose with every product x*w rounded to `dtype` before an exact (float64) sum; finite inputs.
    Float64, no bias."""
    return _correlated(x, w, params, rounded_to=dtype)


def _correlated(x, w, params, rounded_to: str | None = None) -> np.ndarray:
    """The zero-dilated, zero-padded input correlated with the flipped kernel, one tap at a time, the zeros
    multiplied too; with `rounded_to`, each product rounded to that dtype before the sum over channels."""
    stride, padding, output_padding, dilation, groups = (params[k] for k in
                                                         ("stride", "padding", "output_padding", "dilation", "groups"))
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    dilated = np.zeros((*x.shape[:2], *((i - 1) * s + 1 for i, s in zip(x.shape[2:], stride))))
    dilated[(..., *(slice(None, None, s) for s in stride))] = x
    pairs = [arithmetic.to_jax_padding(k, d, arithmetic.AxisPadding(b, e, op))
             for k, d, (b, e), op in zip(w.shape[2:], dilation, padding, output_padding)]
    padded = np.pad(dilated, [(0, 0), (0, 0), *((max(0, lo), max(0, hi)) for lo, hi in pairs)])
    padded = padded[(..., *(slice(max(0, -lo), n - max(0, -hi)) for (lo, hi), n in zip(pairs, padded.shape[2:])))]
    batch, cin, *size = padded.shape
    _, cog, *kernel = w.shape
    flipped = w[(slice(None), slice(None), *(slice(None, None, -1) for _ in kernel))]
    out_size = [p - d * (k - 1) for p, k, d in zip(size, kernel, dilation)]
    xg = padded.reshape(batch, groups, cin // groups, *size)
    wg = flipped.reshape(groups, cin // groups, cog, *kernel)
    out = np.zeros((batch, groups, cog, *out_size))
    spatial = (None,) * len(kernel)
    for tap in itertools.product(*(range(k) for k in kernel)):
        window = xg[(..., *(slice(t * d, t * d + o) for t, d, o in zip(tap, dilation, out_size)))]
        if rounded_to is None:
            out += np.einsum("ngc...,gcd->ngd...", window, wg[(..., *tap)])
        else:  # (batch, G, Cig, Cog, *out): each product on its own, rounded, then summed exactly
            products = window[:, :, :, None] * wg[(..., *tap)][(None, ..., *spatial)]
            out += round_to(products, rounded_to).sum(axis=2)
    return out.reshape(batch, groups * cog, *out_size)


def grad_x_with_padding_zeros(w, grad_out, params, input_size) -> np.ndarray:
    """The gradient with respect to x, conv(grad_out, w), with grad_out read as 0 outside its extent and
    those zeros multiplied by the weights too: grad_x[n, g*Cig + ci, i] = sum_{co, t} w[g*Cig + ci, co, t] *
    grad_out[n, g*Cog + co, i*s + t*d - begin]. Float64."""
    stride, dilation, padding, groups = params["stride"], params["dilation"], params["padding"], params["groups"]
    cin, cog, *kernel = w.shape
    batch, _, *output_size = grad_out.shape
    y = np.asarray(grad_out, np.float64).reshape(batch, groups, cog, *output_size)
    wg = np.asarray(w, np.float64).reshape(groups, cin // groups, cog, *kernel)
    grad_x = np.zeros((batch, groups, cin // groups, *input_size))
    for tap in itertools.product(*(range(k) for k in kernel)):
        indices = [np.arange(i) * s + t * d - b for i, s, t, d, (b, _) in zip(input_size, stride, tap, dilation, padding)]
        inside = np.ones(tuple(input_size), bool)
        for axis, (a, o) in enumerate(zip(indices, output_size)):
            inside = inside & ((a >= 0) & (a < o)).reshape([-1 if j == axis else 1 for j in range(len(indices))])
        read = y[(..., *np.ix_(*[np.clip(a, 0, o - 1) for a, o in zip(indices, output_size)]))] * inside
        grad_x += np.einsum("ngc...,gdc->ngd...", read, wg[(..., *tap)])
    return grad_x.reshape(batch, cin, *input_size)


def accepting_nan_where(expected: C.Expected, model: np.ndarray, actual) -> C.Expected | None:
    """The expectation with NaN accepted where the mistake's `model` makes one and the actual result holds
    one (kernels multiply some zeros and skip others: the model says where NaN may come from, not where it
    must); None where that changes nothing (the mistake does not show)."""
    actual = np.asarray(actual, np.float64)
    if model.shape != expected.shape or actual.shape != expected.shape:
        return None
    produced = np.isnan(model) & np.isnan(actual) & ~np.isnan(expected.value)
    if not produced.any():
        return None
    return replace(expected, value=np.where(produced, np.nan, expected.value))


# --- out= buffers: what a kernel never wrote, or read -----------------------------------------------------

# What the oracle prefills an out= buffer with (convt_oracle.harness.arrays), as bits of each dtype: a quiet NaN
# with a payload no arithmetic makes from the inputs (an operation on NaN gives the default NaN or one of its
# operands'), and a finite sentinel exact in every dtype (8 significant bits), -7840, far from any result.
PREFILL_NAN = {"float64": 0x7FF80000DEADBEEF, "float32": 0x7FC0BEEF, "float16": 0x7E5B, "bfloat16": 0x7FDB}
PREFILL_SENTINEL = -7840.0


def prefilled(fill: str, dtype, shape) -> np.ndarray:
    """An array of `shape` in `dtype` (a name or numpy dtype) holding the prefill `fill`: "nan" (PREFILL_NAN's
    bits) or "sentinel"."""
    dtype = np.dtype(dtype)
    if fill == "sentinel":
        return np.full(shape, PREFILL_SENTINEL, dtype)
    bits = np.full(shape, PREFILL_NAN[dtype.name], np.dtype(f"u{dtype.itemsize}"))
    return bits.view(dtype)


def unwritten_mask(actual) -> np.ndarray | None:
    """True where `actual` holds PREFILL_NAN's bits (an element of an out= buffer the kernel never wrote);
    None for what is not a float array of the four dtypes."""
    if not isinstance(actual, np.ndarray):
        return None
    name = actual.dtype.name
    if name not in PREFILL_NAN:
        return None
    return np.ascontiguousarray(actual).view(np.dtype(f"u{actual.dtype.itemsize}")) == PREFILL_NAN[name]


@hypothesis("unwritten", outcomes=NONFINITE)
def unwritten(context):
    """Elements of an out= buffer the kernel never wrote: they hold the oracle's NaN prefill, bit for bit."""
    mask = unwritten_mask(context.actual)
    if mask is None or mask.shape != context.expected.shape or not mask.any():
        return
    count = int(mask.sum())
    first = [[int(i) for i in index] for index in np.argwhere(mask)[:3]]
    where = ", ".join(str(tuple(index)) for index in first)
    yield Candidate(
        {"elements": count, "first": first},
        replace(context.expected, value=np.where(mask, np.nan, context.expected.value)),
        f"{count} of {mask.size} output elements were never written (they still hold the NaN the oracle "
        f"prefilled out= with), the first at {where}",
    )


@hypothesis("accumulated_into_out", outcomes=(C.VALUE_MISMATCH, C.NONFINITE_MISMATCH))
def accumulated_into_out(context):
    """A kernel that adds its result to what out= holds: the right result plus the oracle's finite prefill
    (PREFILL_SENTINEL), one more term of the sum, rounded once more."""
    found = context.sums()
    sentinel = PREFILL_SENTINEL
    summed = C.Sums(found.value + sentinel, found.magnitude + abs(sentinel), found.terms + 1, found.bias, found.border)
    expected = C.expectation(summed, context.dtype, context.tolerance)
    rounded = UNIT_ROUNDOFF[context.dtype] * np.abs(found.value)  # the result rounded before it is added
    bound = expected.bound + rounded
    # Where the result is below an ulp of the sentinel, adding it leaves the sentinel as it was: the oracle then
    # finds the prefill in both calls and reports the element unwritten (its NaN). Accepted there.
    ulp = 2.0 ** math.floor(math.log2(abs(sentinel))) * 2 * UNIT_ROUNDOFF[context.dtype]
    mask = unwritten_mask(context.actual)
    value = expected.value
    if mask is not None and mask.shape == value.shape:
        value = np.where(mask & (np.abs(found.value) + np.broadcast_to(context.expected.bound, mask.shape) <= ulp),
                         np.nan, value)
    yield Candidate({"sentinel": sentinel}, replace(expected, value=value, bound=bound),
                    f"the result is added to what out= holds (the oracle prefilled it with {sentinel:g}): the "
                    f"kernel reads its output buffer")


# --- the bias --------------------------------------------------------------------------------------------


@hypothesis("bias_missing", outcomes=ANY)
def bias_missing(context):
    if context.bias64 is not None and np.any(context.bias64):
        yield Candidate({}, context.expect(bias=None), "the bias is not added")


@hypothesis("bias_twice", outcomes=ANY)
def bias_twice(context):
    if context.bias64 is not None and np.any(context.bias64):
        yield Candidate({}, context.expect(bias=2 * context.bias64), "the bias is added twice")


@hypothesis("bias_per_group", outcomes=ANY)
def bias_per_group(context):
    """Every group adds the first group's bias."""
    groups = context.case.groups
    if context.bias64 is None or groups < 2:
        return
    first = np.tile(context.bias64[: context.bias64.size // groups], groups)
    if not np.array_equal(first, context.bias64, equal_nan=True):
        yield Candidate({}, context.expect(bias=first), "every group adds the first group's bias")


# --- where the values land -------------------------------------------------------------------------------


@hypothesis("wrong_batch", outcomes=ANY)
def wrong_batch(context):
    """Some batch elements hold another element's result."""
    expected, actual = context.expected, context.actual
    batch = context.case.batch
    if batch < 2 or getattr(actual, "shape", None) != expected.shape:
        return
    sources = []
    for n in range(batch):
        got = actual[n : n + 1]
        order = [n, *(m for m in range(batch) if m != n)]
        source = next((m for m in order if C.compare(got, sliced(expected, (slice(m, m + 1),))).ok), None)
        if source is None:
            return
        sources.append(source)
    if sources != list(range(batch)):
        rows = [sliced(expected, (slice(m, m + 1),)) for m in sources]
        value = np.concatenate([r.value for r in rows])
        candidate = replace(expected, value=value, bound=np.concatenate([r.bound for r in rows]),
                            accumulation_overflow=None, vanishing=None)
        wrong = [f"{n} <- {m}" for n, m in enumerate(sources) if n != m]
        yield Candidate({"from": sources}, candidate, f"batch elements hold another element's result ({', '.join(wrong)})")


@hypothesis("crop_swapped", outcomes=ANY)
def crop_swapped(context):
    padding = context.case.padding
    if any(b != e for b, e in padding):
        yield Candidate({}, context.window([e for _, e in padding]),
                        f"the begin and end crops are exchanged: {[(e, b) for b, e in padding]} cropped instead of"
                        f" {[tuple(p) for p in padding]}")


@hypothesis("output_padding_at_front", outcomes=ANY)
def output_padding_at_front(context):
    case = context.case
    if any(case.output_padding):
        yield Candidate({}, context.window([b - op for (b, _), op in zip(case.padding, case.output_padding)]),
                        "the output_padding rows are added at the beginning of each axis instead of the end")


@hypothesis("flipped_kernel", outcomes=ANY)
def flipped_kernel(context):
    """The kernel used unflipped (or flipped) on some spatial axes."""
    axes = [a for a, k in enumerate(context.case.kernel_size) if k > 1]
    subsets = [c for r in range(len(axes), 0, -1) for c in itertools.combinations(axes, r)]
    for subset in subsets:
        w = np.flip(context.w64, axis=tuple(2 + a for a in subset))
        if not np.array_equal(w, context.w64, equal_nan=True):
            yield Candidate({"axes": list(subset)}, context.expect(w=w),
                            f"the kernel is flipped on spatial axes {list(subset)} (a correlation where the transpose"
                            f" needs the flip, or the reverse)")


@hypothesis("shifted", outcomes=ANY)
def shifted(context):
    """Every value lands `offset` places early (negative: late) on each spatial axis."""
    offsets = sorted(
        (o for o in itertools.product(range(-SHIFTS, SHIFTS + 1), repeat=context.rank) if any(o)),
        key=lambda o: (sum(map(abs, o)), o),
    )
    for offset in offsets:
        starts = [b + o for (b, _), o in zip(context.case.padding, offset)]
        yield Candidate({"offset": list(offset)}, context.window(starts),
                        f"the result is shifted: output element o holds the value of o + {list(offset)}")


@hypothesis("stride_dilation_swapped", outcomes=ANY)
def stride_dilation_swapped(context):
    case = context.case
    if case.stride != case.dilation:
        yield Candidate({}, context.expect(params={"stride": case.dilation, "dilation": case.stride}),
                        f"stride {list(case.stride)} and dilation {list(case.dilation)} are exchanged")


@hypothesis("axes_transposed", outcomes=ANY)
def axes_transposed(context):
    """Two spatial axes exchanged: of the input and output (a layout mix-up), of the kernel, or of the
    per-axis parameters."""
    case = context.case
    for a, b in itertools.combinations(range(context.rank), 2):
        pair = [a, b]

        def swap(array, a=a, b=b):
            return np.swapaxes(array, 2 + a, 2 + b)

        if case.input_size[a] != case.input_size[b] or np.any(swap(context.x64) != context.x64):
            inner = context.expect(x=swap(context.x64))
            yield Candidate({"of": "input and output", "axes": pair}, None if inner is None else mapped(inner, swap),
                            f"spatial axes {pair} of the input and of the result are exchanged (a layout mix-up)")
        if np.any(swap(context.w64).shape != context.w64.shape) or not np.array_equal(swap(context.w64), context.w64):
            yield Candidate({"of": "kernel", "axes": pair}, context.expect(w=np.ascontiguousarray(swap(context.w64))),
                            f"spatial axes {pair} of the kernel are exchanged")
        swapped = {}
        for name in ("stride", "padding", "output_padding", "dilation"):
            values = list(context.params[name])
            values[a], values[b] = values[b], values[a]
            swapped[name] = tuple(values)
        if any(swapped[name] != tuple(context.params[name]) for name in swapped):
            yield Candidate({"of": "parameters", "axes": pair}, context.expect(params=swapped),
                            f"the per-axis parameters of spatial axes {pair} are exchanged")


def interleaved(channels: int, groups: int) -> np.ndarray:
    """Channel order g*C/G + c -> c*G + g: the permutation a groups-interleaved layout applies."""
    return np.arange(channels).reshape(channels // groups, groups).T.reshape(-1)


@hypothesis("groups_interleaved", outcomes=ANY)
def groups_interleaved(context):
    """Group g takes channels g, g+G, g+2G, ... instead of its block, in the input, the weights, the output
    or the bias."""
    case, groups = context.case, context.case.groups
    if groups < 2:
        return
    sentence = "group g takes the {} channels g, g+G, g+2G, ... instead of its block g*C/G .. (g+1)*C/G-1"
    if case.in_channels // groups > 1:
        order = interleaved(case.in_channels, groups)
        yield Candidate({"of": "input"}, context.expect(x=context.x64[:, order]), sentence.format("input"))
        yield Candidate({"of": "weights"}, context.expect(w=context.w64[order]), sentence.format("weight"))
    if case.out_channels // groups > 1:
        order = np.argsort(interleaved(case.out_channels, groups))
        inner = context.expect(bias=None)
        if inner is not None:
            if context.bias64 is None:
                yield Candidate({"of": "output"}, mapped(inner, lambda a: a[:, order]), sentence.format("output"))
            else:
                found = context.sums()
                permuted = C.sums(context.x64, context.w64, None, context.params)
                spread = context.bias64.reshape(-1, *([1] * context.rank))
                moved = C.Sums(
                    permuted.value[:, order] + spread, permuted.magnitude[:, order] + np.abs(spread),
                    permuted.terms[:, order] + 1, found.bias, found.border,
                )
                yield Candidate({"of": "output"}, context.expectation(moved),
                                sentence.format("output"))
        if context.bias64 is not None:
            yield Candidate({"of": "bias"}, context.expect(bias=context.bias64[interleaved(case.out_channels, groups)]),
                            sentence.format("bias"))


@hypothesis("weight_in_forward_layout", outcomes=ANY)
def weight_in_forward_layout(context):
    """w read as the forward convolution's (Cout/groups, Cin, *k) buffer (a reshape where a transpose was meant)."""
    cin, cog, *kernel = context.w64.shape
    if cin > 1 and cog > 1:
        read = np.ascontiguousarray(context.w64).reshape(cog, cin, *kernel).swapaxes(0, 1)
        yield Candidate({}, context.expect(w=read),
                        "the weight is read in the forward convolution's layout (Cout/groups, Cin, *kernel), reshaped"
                        " instead of transposed")


@hypothesis("output_padding_as_zeros", outcomes=ANY)
def output_padding_as_zeros(context):
    """The result cropped without output_padding, then output_padding rows of zeros (plus the bias) appended,
    where the rows of the full result that the end crop removed belong."""
    case = context.case
    if not any(case.output_padding) or not any(e for _, e in case.padding):
        return
    try:
        found = C.sums(context.x64, context.w64, context.bias64, {**context.params, "output_padding": (0,) * context.rank})
    except (ValueError, TypeError):
        return
    bias = 0.0 if found.bias is None else found.bias
    ends = [(0, 0), (0, 0), *((0, op) for op in case.output_padding)]
    padded = C.Sums(
        np.pad(found.value - bias, ends) + bias, np.pad(found.magnitude - np.abs(bias), ends) + np.abs(bias),
        np.pad(found.terms - (found.bias is not None), ends) + (found.bias is not None), found.bias,
        ((0, 0),) * context.rank,
    )
    yield Candidate({}, context.expectation(padded),
                    "the output_padding rows hold zeros (and the bias) instead of the full result's rows the end crop"
                    " removed: the result is cropped first, then padded")


@hypothesis("bias_missing_past_the_result", outcomes=ANY)
def bias_missing_past_the_result(context):
    """The bias added to the full result before the crop: output_padding positions past its end hold 0."""
    case = context.case
    if context.bias64 is None or not np.any(context.bias64):
        return
    full = [arithmetic.full_size(i, k, s, d) for i, k, s, d in zip(case.input_size, case.kernel_size, case.stride, case.dilation)]
    size = case.output_shape[2:]
    past = np.zeros(size, bool)
    for axis, (n, f, (b, _)) in enumerate(zip(size, full, case.padding)):
        past |= (np.arange(n) + b >= f).reshape([-1 if a == axis else 1 for a in range(len(size))])
    if not past.any():
        return
    expected = context.expected
    spread = context.bias64.reshape(-1, *([1] * context.rank))
    bound = np.where(past, UNDERFLOW[context.dtype], np.broadcast_to(expected.bound, expected.shape))
    yield Candidate({}, replace(expected, value=np.where(past, expected.value - spread, expected.value), bound=bound,
                                accumulation_overflow=None),
                    "the bias is added before the crop: the output_padding positions past the full result hold 0"
                    " instead of the bias")


@hypothesis("output_padding_ignored", outcomes=ANY)
def output_padding_ignored(context):
    if any(context.case.output_padding):
        yield Candidate({}, context.expect(params={"output_padding": (0,) * context.rank}),
                        "output_padding is ignored: the result is that much too short")


@hypothesis("nan_from_padding_zeros", outcomes=NONFINITE, checks=("forward", "vjp"))
def nan_from_padding_zeros(context):
    """An inf or NaN weight times the zeros the stride inserts or the padding adds."""
    if np.isfinite(context.w64).all():
        return
    sentence = ("an inf or NaN weight multiplies the zeros of the stride's dilation and of the padding (inf * 0 ="
                " NaN) at outputs it does not reach: the kernel correlates the zero-dilated, zero-padded input")
    if context.check == "forward":
        model = forward_with_padding_zeros(context.x64, context.w64, context.params)
        yield Candidate({}, accepting_nan_where(context.expected, model, context.actual), sentence)
        return
    model = grad_x_with_padding_zeros(context.w64, context.grad_out, context.params, context.case.input_size)
    grad_x = accepting_nan_where(context.expected[0], model, context.actual[0])
    if grad_x is not None:
        yield Candidate({"in": "grad_x"}, (grad_x, *context.expected[1:]),
                        "in grad_x: an inf or NaN weight multiplies the zeros of the padded cotangent (inf * 0 = NaN)")


@hypothesis("nan_across_groups", outcomes=NONFINITE)
def nan_across_groups(context):
    """A grouped convolution computed as one dense convolution with a block-diagonal kernel: an inf or NaN of
    one group meets the other groups' zero weights (inf * 0 = NaN)."""
    case = context.case
    if case.groups < 2 or (np.isfinite(context.x64).all() and np.isfinite(context.w64).all()):
        return
    cig, cog = case.in_channels // case.groups, case.out_channels // case.groups
    dense = np.zeros((case.in_channels, case.out_channels, *case.kernel_size))
    for g in range(case.groups):
        dense[g * cig:(g + 1) * cig, g * cog:(g + 1) * cog] = context.w64[g * cig:(g + 1) * cig]
    model = golden.conv_transpose(context.x64, dense, None, **{**context.params, "groups": 1})
    yield Candidate({}, accepting_nan_where(context.expected, model, context.actual),
                    "the groups are computed as one dense convolution with a block-diagonal kernel: an inf or NaN"
                    " of one group meets the other groups' zero weights (inf * 0 = NaN)")


@hypothesis("nan_into_previous_pixel", outcomes=NONFINITE)
def nan_into_previous_pixel(context):
    """An inf or NaN input pixel also turns the outputs of the pixel before it (in memory order, channels
    last) into NaN: oneDNN's native bfloat16 kernels with an odd number of channels per group."""
    finite = np.isfinite(context.x64)
    if finite.all():
        return
    batch, channels = context.x64.shape[:2]
    pixels = np.moveaxis(~finite, 1, -1).reshape(batch, -1, channels).any(axis=2)  # (batch, spatial pixels)
    before = np.zeros_like(pixels)
    before[:, :-1] = pixels[:, 1:]
    spread = np.moveaxis(np.broadcast_to(before[:, :, None], (batch, before.shape[1], channels)), -1, 1)
    x = np.where(spread.reshape(context.x64.shape), np.nan, context.x64)
    model = golden.conv_transpose(x, np.nan_to_num(context.w64), None, **context.params)
    yield Candidate({}, accepting_nan_where(context.expected, model, context.actual),
                    "an inf or NaN input pixel turns the outputs of the pixel before it into NaN as well")


@hypothesis("nan_where_nonfinite_weight_reaches", outcomes=NONFINITE)
def nan_where_nonfinite_weight_reaches(context):
    """Every output an inf or NaN weight reaches is NaN: the weight also multiplies a zero there (oneDNN's
    native bfloat16 kernels pair the input channels; with an odd count per group, a channel of zeros)."""
    nonfinite = ~np.isfinite(context.w64)
    if not nonfinite.any():
        return
    reached = golden.conv_transpose(np.ones(context.x64.shape), nonfinite.astype(np.float64), None, **context.params) > 0
    yield Candidate({}, accepting_nan_where(context.expected, np.where(reached, np.nan, 0.0), context.actual),
                    "every output an inf or NaN weight reaches is NaN: the weight also meets a zero there (inf * 0)")


@hypothesis("overflow_to_nan", outcomes=NONFINITE)
def overflow_to_nan(context):
    """NaN where a result or a partial sum passes the dtype's range (inf - inf), instead of the infinity."""
    found = context.sums()
    narrow = Tolerance(accumulation={context.dtype: context.dtype})
    up, down = narrow.accumulation_overflow(context.dtype, found.value, found.magnitude, found.terms)
    threshold = OVERFLOW_THRESHOLD[context.dtype]
    # Only where finite inputs make the infinity (S finite): an inf input's infinity is no overflow.
    finite = np.isfinite(found.magnitude)
    beyond = finite & (~np.isfinite(found.value) | (np.abs(found.value) - context.expected.bound >= threshold) | up | down)
    actual = np.asarray(context.actual, np.float64)
    if actual.shape != found.value.shape:
        return
    produced = beyond & np.isnan(actual) & ~np.isnan(found.value)
    if produced.any():
        yield Candidate({}, replace(context.expected, value=np.where(produced, np.nan, context.expected.value)),
                        "NaN where the result or a partial sum overflows the dtype (inf - inf), not the infinity")


@hypothesis("cropped_gradient_nan", outcomes=NONFINITE, checks=("vjp",))
def cropped_gradient_nan(context):
    """grad_w summed over the uncropped result: an inf input meets the zero cotangent of cropped outputs."""
    if np.isfinite(context.x64).all():
        return
    case = context.case
    full = [arithmetic.full_size(i, k, s, d) for i, k, s, d in zip(case.input_size, case.kernel_size, case.stride, case.dilation)]
    extra = tuple(max(0, op - e) for op, (_, e) in zip(case.output_padding, case.padding))
    grad_out = np.zeros((*context.grad_out.shape[:2], *(f + x for f, x in zip(full, extra))))
    grad_out[(..., *(slice(b, b + o) for (b, _), o in zip(case.padding, context.grad_out.shape[2:])))] = context.grad_out
    params = {"padding": ((0, 0),) * context.rank, "output_padding": extra}
    uncropped = context.expect_vjp(grad_out=grad_out, params=params)
    if uncropped is None:
        return
    grad_w = accepting_nan_where(context.expected[1], uncropped[1].value, context.actual[1])
    if grad_w is not None:
        yield Candidate({"in": "grad_w"}, (context.expected[0], grad_w, context.expected[2]),
                        "grad_w sums over the uncropped result: an inf input times the zero cotangent of the"
                        " cropped outputs (inf * 0 = NaN)")


@hypothesis("nonfinite_inputs_zeroed", outcomes=NONFINITE)
def nonfinite_inputs_zeroed(context):
    """inf and NaN in x, or in w and the bias, replaced by 0."""
    for name in ("x", "weights"):
        arrays = [context.x64] if name == "x" else [context.w64, context.bias64]
        if all(a is None or np.isfinite(a).all() for a in arrays):
            continue
        clean = [None if a is None else np.where(np.isfinite(a), a, 0.0) for a in arrays]
        expected = context.expect(x=clean[0]) if name == "x" else context.expect(w=clean[0], bias=clean[1])
        yield Candidate({"of": name}, expected, f"inf and NaN in the {name} are replaced by 0")


@hypothesis("nan_replaced_by_zero", outcomes=NONFINITE)
def nan_replaced_by_zero(context):
    """NaN in the result replaced by 0 (np.nan_to_num keeping the infinities)."""
    expected = context.expected
    nan = np.isnan(expected.value)
    if not nan.any():
        return
    bound = np.where(nan, UNDERFLOW[context.dtype], np.broadcast_to(expected.bound, expected.shape))
    yield Candidate({}, replace(expected, value=np.where(nan, 0.0, expected.value), bound=bound),
                    "the NaN of the result are replaced by 0")


# --- precision: what the target rounds --------------------------------------------------------------------

SIGNIFICANT_BITS = {"float64": 53, "float32": 24, "tf32": 11, "float16": 11, "bfloat16": 8}


def round_to(array, to: str) -> np.ndarray:
    """`array` (float64) rounded to nearest (even) in `to`: float32, tf32 (10 explicit significand bits, float32's
    range), float16, bfloat16; inf and NaN kept."""
    if array is None:
        return None
    if to == "tf32":
        single = np.asarray(array, np.float32)
        bits = single.view(np.uint32)
        rounded = ((bits + np.uint32(0xFFF) + ((bits >> np.uint32(13)) & np.uint32(1))) & np.uint32(0xFFFFE000)).view(np.float32)
        return np.where(np.isfinite(single), rounded, single).astype(np.float64)
    dtype = np.dtype(ml_dtypes.bfloat16) if to == "bfloat16" else np.dtype(to)
    return np.asarray(array).astype(dtype).astype(np.float64)


@hypothesis("inputs_rounded", outcomes=ANY, checks=("forward", "vjp"))
def inputs_rounded(context):
    """x, w (and the bias; for a vjp the cotangent) rounded to a narrower format, then a float32 computation."""
    bits = SIGNIFICANT_BITS[context.dtype]
    for to in ("tf32", "bfloat16", "float16", "float32"):
        if SIGNIFICANT_BITS[to] >= bits or (to == "tf32" and context.dtype == "float16"):
            continue
        policy = replace(context.tolerance, inputs=None, accumulation={
            context.dtype: "float32" if context.dtype == "float64" else context.tolerance.accumulation_dtype(context.dtype)})
        name = {"tf32": "TF32 (10 significant bits)"}.get(to, to)
        sentence = f"the inputs are rounded to {name} before a float32 computation"
        x, w, bias = round_to(context.x64, to), round_to(context.w64, to), round_to(context.bias64, to)
        if context.check == "forward":
            yield Candidate({"to": to}, context.expect(x=x, w=w, bias=bias, tolerance=policy), sentence)
        else:
            grad_out = round_to(np.asarray(context.grad_out, np.float64), to)
            yield Candidate({"to": to}, context.expect_vjp(x=x, w=w, grad_out=grad_out, bias=bias, tolerance=policy), sentence)


@hypothesis("products_rounded", outcomes=VALUES)
def products_rounded(context):
    """Each product x*w rounded to the dtype, then summed in the wider accumulation format: the sum of the
    rounded products, within the bound of that accumulation."""
    dtype = context.dtype
    if context.tolerance.accumulation_dtype(dtype) == dtype or not np.isfinite(context.w64).all():
        return
    found = context.sums()
    value = forward_with_rounded_products(context.x64, context.w64, context.params, dtype)
    if value.shape != found.value.shape:
        return
    if found.bias is not None:
        value = value + found.bias
    rounded = C.Sums(value, found.magnitude, found.terms, found.bias, found.border)
    yield Candidate({"to": dtype}, context.expectation(rounded),
                    f"each product is rounded to {dtype} before a {context.tolerance.accumulation_dtype(dtype)} sum")


def toward_zero(value: np.ndarray, dtype: str) -> np.ndarray:
    """`value` (float64) rounded toward zero to `dtype` (a finite value past the dtype's range becomes its
    largest finite one, as truncation does), back in float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        nearest = value.astype(np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype))
        back = nearest.astype(np.float64)
        beyond = np.isfinite(value) & (np.abs(back) > np.abs(value))
        nearest[beyond] = np.nextafter(nearest[beyond], np.zeros((), nearest.dtype))
    return nearest.astype(np.float64)


@hypothesis("rounded_toward_zero", outcomes=(C.VALUE_MISMATCH, C.NONFINITE_MISMATCH), checks=("forward", "vjp"))
def rounded_toward_zero(context):
    """The result rounded toward zero (truncated) to the dtype instead of to nearest: the golden's value so
    rounded, within the derived bound. (Every error under one ulp leans toward zero: most such results pass,
    and the precision profile's bias test, convt_oracle.precision, is what catches them; this names the
    ones that do not pass, near the dtype's range, say, where truncation gives the largest finite value
    instead of an infinity.)"""
    sentence = f"the result is rounded toward zero (truncated) to {context.dtype}, not to nearest"
    if context.check == "forward":
        expected = context.expected
        yield Candidate({}, replace(expected, value=toward_zero(expected.value, context.dtype)), sentence)
    else:
        yield Candidate({}, tuple(None if e is None else replace(e, value=toward_zero(e.value, context.dtype))
                                  for e in context.expected), sentence)


@hypothesis("accumulated_in_dtype", outcomes=(C.VALUE_MISMATCH, C.NONFINITE_MISMATCH), checks=("forward", "vjp"))
def accumulated_in_dtype(context):
    """The sum accumulated in the input dtype instead of a wider format."""
    dtype = context.dtype
    if context.tolerance.accumulation_dtype(dtype) == dtype:
        return
    policy = replace(context.tolerance, accumulation={**context.tolerance.accumulation, dtype: dtype})
    sentence = f"the sum is accumulated in {dtype} (every partial sum rounded), not in {context.tolerance.accumulation_dtype(dtype)}"
    if context.check == "forward":
        yield Candidate({"in": dtype}, context.expectation(context.sums(), policy), sentence)
    else:
        yield Candidate({"in": dtype}, context.expect_vjp(tolerance=policy), sentence)
