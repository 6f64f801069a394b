"""The fast route of the golden transposed convolution: the scatter form summed one stride phase at a time.

`scatter(x64, w64, params, output_size)` computes, per spatial axis,

    full[n, g*Cog + co, i*s + t*d] += x[n, g*Cig + ci, i] * w[g*Cig + ci, co, t]
    out = full[begin : begin + O]            (zero past the end of full)

without the bias, in float64, for finite x64 and w64 (`convt_oracle.golden.conv_transpose` adds the bias
and the IEEE handling of inf and NaN around it; `convt_oracle.definition` computes the same sum plainly).

Each output position o = q*s + r belongs to one stride phase r (per axis). The pairs (i, t) that reach
it satisfy i*s + t*d - begin = q*s + r, so a phase receives exactly the taps t with (t*d - begin - r)
divisible by s, each from input position i = q - shift(t). The code vectorizes that identity, one phase
at a time (the loops run over phases and kernel taps only):

1. `shifted[g, j, ci, n, q] = x[n, g*Cig + ci, q - shift_j]` for the phase's taps j (zero outside x):
   each a plain block of one zero-padded copy of x, laid out once per geometry (`_phase_plan`);
2. `phase[g, co, (n, q)] = sum_{j, ci} w[g*Cig + ci, co, t_j] * shifted[g, j, ci, n, q]`: one matrix
   product per group, the batch items side by side in its columns;
3. `out[n, g, co, r::s] = phase[g, co, n]`; positions that no tap reaches (output_padding past the full result, or a
   stride longer than the kernel) stay zero: only the phases that some tap reaches are visited, so the
   work grows with x, w and the output, never with the product of the strides.

The copies of step 1 hold Cig channels each; when the convolution reduces the channels (Cig > Cog) the
definition is read literally instead, contracting the channels first (`_scatter_by_tap`), so that the
scratch holds Cog channels per tap. Both first narrow x to the inputs that reach the output
(`_inputs_reaching_output`), so that a large crop costs nothing.

`tap_window` and `tap_windows` (which input positions of a kernel tap land inside the output, and where)
also serve the golden's adjoint, which reads those windows back.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import threading

import numpy as np

from convt_oracle import arithmetic
from convt_oracle import params as P

# Most elements of the gathered blocks of x held at once by the phase route (8 MiB, so that the blocks
# stay in cache between their copy and their product; fewer batch items at a time, then fewer taps), and
# of the channel-reducing route's products (fewer taps at a time).
BLOCK_ELEMENTS = 2**20

# Each thread keeps one buffer of at most _KEPT_ELEMENTS (16 MiB) from call to call, for the phase route's
# scratch (padded x, the gathered blocks, the products). Fresh pages for them on every call cost more
# than the copies into them once BLAS runs threads: with two threads, 2.6x the time of a small call
# (4.0 ms instead of 1.5 ms on a 2-core AMD EPYC VM). Larger scratch is allocated for the call.
_KEPT_ELEMENTS = 2**21
_kept = threading.local()


def release_scratch() -> None:
    """Free this thread's kept scratch buffer (at most 16 MiB); the next call allocates it again."""
    _kept.__dict__.pop("buffer", None)


def _scratch(*sizes: int) -> list[np.ndarray]:
    """Flat float64 buffers of these sizes, uninitialized: parts of this thread's kept buffer when they
    fit in it together (it grows up to _KEPT_ELEMENTS), else new ones."""
    total = sum(sizes)
    if total > _KEPT_ELEMENTS:
        return [np.empty(size) for size in sizes]
    kept = getattr(_kept, "buffer", None)
    if kept is None or kept.size < total:
        kept = _kept.buffer = np.empty(total)
    ends = list(itertools.accumulate(sizes))
    return [kept[end - size : end] for size, end in zip(sizes, ends)]


def scatter(x64: np.ndarray, w64: np.ndarray, params: P.ConvParams, output_size) -> np.ndarray:
    """The transposed convolution of x64 with w64 (no bias), of spatial size `output_size`.

    Two orders of the same sum, chosen by which needs less scratch: gather then contract, one stride phase
    at a time (`_scatter_by_phase`: copies of x, Cig channels each), or, when the convolution reduces the
    channels (Cig > Cog), contract then scatter (`_scatter_by_tap`: products with Cog channels each).
    """
    reaching = _inputs_reaching_output(params, x64.shape[2:], w64.shape[2:], output_size)
    if reaching is None:  # every input position lands in the cropped-off part
        return np.zeros((x64.shape[0], w64.shape[1] * params.groups, *output_size))
    region, params = reaching
    x64 = x64[(..., *region)]
    cig, cog = x64.shape[1] // params.groups, w64.shape[1]
    if cig > cog:
        return _scatter_by_tap(x64, w64, params, output_size)
    return _scatter_by_phase(x64, w64, params, output_size)


def tap_window(input_size: int, output_size: int, stride: int, offset: int) -> tuple[slice, slice]:
    """Input positions i with 0 <= i*stride + offset < output_size, and the output positions they hit.

    Returns (input slice, output slice); both are empty when the tap misses the output altogether.
    """
    first = max(0, -(offset // stride))  # smallest i with i*stride + offset >= 0
    stop = min(input_size, (output_size - 1 - offset) // stride + 1)
    if stop <= first:
        return slice(0, 0), slice(0, 0)
    start = first * stride + offset
    return slice(first, stop), slice(start, start + (stop - first - 1) * stride + 1, stride)


def tap_windows(params: P.ConvParams, input_size, output_size, kernel_size):
    """For every kernel tap (in C order): (tap index, input slices, output slices) over the spatial axes."""
    for tap, position in enumerate(itertools.product(*(range(k) for k in kernel_size))):
        windows = [
            tap_window(i, o, s, t * d - b)
            for i, o, s, d, (b, _), t in zip(
                input_size, output_size, params.stride, params.dilation, params.padding, position
            )
        ]
        yield tap, tuple(win[0] for win in windows), tuple(win[1] for win in windows)


def _inputs_reaching_output(params: P.ConvParams, input_size, kernel_size, output_size):
    """The span of input positions that some tap maps into the output (the union of the taps' windows,
    `tap_window`), as (slices of x, the parameters for x[slices]), or None when it is empty. A large crop
    leaves out most of x, and the routes below then neither compute nor store products that would be
    cropped.
    """
    region, padding = [], []
    for i, k, s, d, (b, _), op, o in zip(
        input_size, kernel_size, params.stride, params.dilation, params.padding, params.output_padding, output_size
    ):
        windows = [tap_window(i, o, s, t * d - b)[0] for t in range(k)]
        windows = [window for window in windows if window.stop > window.start]
        if not windows:
            return None
        first, stop = min(window.start for window in windows), max(window.stop for window in windows)
        region.append(slice(first, stop))
        begin = b - first * s  # negative: zeros before the first output of x[first:]
        # the end crop that keeps the output size O for stop - first inputs
        padding.append((begin, arithmetic.output_size(stop - first, k, s, d, begin, 0, op) - o))
    return tuple(region), dataclasses.replace(params, padding=tuple(padding))


def _taps_by_phase(params: P.ConvParams, kernel_size) -> dict[tuple[int, ...], list]:
    """For every stride phase r that some tap reaches, those taps, each with its shift in input positions.

    Tap t writes output position o = i*s + t*d - begin, which lies in phase r = (t*d - begin) mod s at
    o = q*s + r with q = i + shift, shift = (t*d - begin - r) // s. At most one phase per tap: the work
    grows with the kernel, not with the product of the strides (the other phases are zero).
    """
    phases = {}
    for tap, position in enumerate(itertools.product(*(range(k) for k in kernel_size))):
        offsets = [t * d - b for t, d, (b, _) in zip(position, params.dilation, params.padding)]
        phase = tuple(offset % s for offset, s in zip(offsets, params.stride))
        phases.setdefault(phase, []).append((tap, tuple(offset // s for offset, s in zip(offsets, params.stride))))
    return phases


def _phase_size(output_size, stride, phase) -> tuple[int, ...]:
    """Number of output positions o = q*s + r of phase r on each axis."""
    return tuple(len(range(r, o, s)) for r, o, s in zip(phase, output_size, stride))


def _view(buffer: np.ndarray, shape) -> np.ndarray:
    """A contiguous array of `shape` over the start of a flat scratch buffer."""
    return buffer[: math.prod(shape)].reshape(shape)


def _scatter_by_tap(x64: np.ndarray, w64: np.ndarray, params: P.ConvParams, output_size) -> np.ndarray:
    """The scatter form read literally, one stride phase at a time: for a chunk of the phase's taps,
    products[n, g, i, j, co] = sum_ci w[g*Cig + ci, co, t_j] * x[n, g*Cig + ci, i] (one matrix product,
    channels last), each added into the phase's positions q = i + shift(t_j) in a buffer of the phase's
    own, which is then written into the output once. The products hold Cog channels per tap: at most
    half the taps at a time, and no more than BLOCK_ELEMENTS nor (taps - 1) x the output's size (one
    tap at least)."""
    batch, cin, *input_size = x64.shape
    cog, kernel_size, groups = w64.shape[1], w64.shape[2:], params.groups
    cig, taps, positions = cin // groups, math.prod(kernel_size), math.prod(input_size)
    x_columns = x64.reshape(batch, groups, cig, positions)
    # kernel[g, t, co, ci] = w[g*Cig + ci, co, t], contiguous: a phase's taps are then one copy
    kernel = np.ascontiguousarray(w64.reshape(groups, cig, cog, taps).transpose(0, 3, 2, 1))
    out = np.zeros((batch, groups, cog, *output_size))  # the phases no tap reaches stay zero
    per_tap = batch * groups * positions * cog  # products of one tap
    chunk = max(1, min(
        -(-taps // 2), (taps - 1) * math.prod(output_size) // positions, BLOCK_ELEMENTS // max(1, per_tap)
    ))
    products_buffer = np.empty(per_tap * chunk)
    for phase, phase_taps in _taps_by_phase(params, kernel_size).items():
        size = _phase_size(output_size, params.stride, phase)
        phase_sum = np.zeros((batch, groups, *size, cog))
        for start in range(0, len(phase_taps), chunk):
            part = phase_taps[start : start + chunk]
            part_kernel = kernel[:, [tap for tap, _ in part]].reshape(groups, len(part) * cog, cig)
            products = _view(products_buffer, (batch, groups, positions, len(part) * cog))
            np.matmul(part_kernel, x_columns, out=products.swapaxes(-1, -2))
            products = products.reshape(batch, groups, *input_size, len(part), cog)
            for j, (_, shift) in enumerate(part):
                # phase_sum[..., q, :] += products[..., q - shift, j, :] where both exist
                kept = [(max(0, sh), min(n, i + sh)) for n, i, sh in zip(size, input_size, shift)]
                if all(a < b for a, b in kept):
                    phase_sum[(slice(None), slice(None), *(slice(a, b) for a, b in kept))] += products[
                        (slice(None), slice(None), *(slice(a - sh, b - sh) for (a, b), sh in zip(kept, shift)), j)
                    ]
        out[(..., *(slice(r, None, s) for r, s in zip(phase, params.stride)))] = np.moveaxis(phase_sum, -1, 2)
    return out.reshape(batch, groups * cog, *output_size)


@dataclasses.dataclass(frozen=True)
class _Phase:
    """The output positions o = q*s + r of one stride phase r and the kernel taps that reach them."""

    positions: tuple[slice, ...]  # in the output, per axis: r::s
    size: tuple[int, ...]  # how many positions per axis
    taps: tuple[int, ...]  # C-order kernel tap indices
    windows: tuple[tuple[slice, ...], ...]  # per tap, the block of padded x that lands on the phase


@dataclasses.dataclass(frozen=True)
class _PhasePlan:
    """Where every phase reads x: x[x_region] sits at padded[placement] in a zero array of padded_size, so
    that tap t's contribution to its phase is the plain block padded[window(t)] (no bounds to clip)."""

    x_region: tuple[slice, ...]
    placement: tuple[slice, ...]
    padded_size: tuple[int, ...]
    phases: tuple[_Phase, ...]


@functools.lru_cache(maxsize=256)
def _phase_plan(params: P.ConvParams, input_size, kernel_size, output_size) -> _PhasePlan:
    """The phases of this geometry, and the zero-padded x their taps read (one plan per geometry, cached).

    Tap t reaches phase r at q = i + shift(t), so it reads x[q - shift] for q in [0, phase size): input
    positions from -shift to size - 1 - shift, zeros where they lie outside x. A tap whose window misses
    x on some axis adds nothing and is left out (large crops or dilations). The padded x covers the span
    the remaining taps read, starting at `first` = the lowest position read: per axis at most the taps'
    windows side by side, and no more than x plus a phase size on either side.
    """
    phases = []
    for phase, phase_taps in _taps_by_phase(params, kernel_size).items():
        size = _phase_size(output_size, params.stride, phase)
        positions = tuple(slice(r, None, s) for r, s in zip(phase, params.stride))
        if 0 in size:  # a stride longer than the output: this phase has no positions
            continue
        reaching = [
            (tap, shift) for tap, shift in phase_taps
            if all(-sh < i and n - sh > 0 for sh, i, n in zip(shift, input_size, size))
        ]
        if reaching:  # a phase no tap's window reaches stays zero
            phases.append((positions, size, reaching))
    reads = [(size, shift) for _, size, phase_taps in phases for _, shift in phase_taps]
    reads = reads or [((1,) * len(input_size), (0,) * len(input_size))]  # no tap reads x: a token span
    first = [min(-shift[a] for _, shift in reads) for a in range(len(input_size))]
    last = [max(size[a] - 1 - shift[a] for size, shift in reads) for a in range(len(input_size))]
    x_region, placement = [], []
    for i, lo, hi in zip(input_size, first, last):
        begin, end = max(lo, 0), min(hi + 1, i)
        end = max(begin, end)  # no overlap: nothing of x is read on this axis
        x_region.append(slice(begin, end))
        placement.append(slice(begin - lo, end - lo))
    return _PhasePlan(
        x_region=tuple(x_region),
        placement=tuple(placement),
        padded_size=tuple(hi - lo + 1 for lo, hi in zip(first, last)),
        phases=tuple(
            _Phase(
                positions=positions,
                size=size,
                taps=tuple(tap for tap, _ in phase_taps),
                windows=tuple(
                    tuple(slice(-sh - lo, -sh - lo + n) for sh, lo, n in zip(shift, first, size))
                    for _, shift in phase_taps
                ),
            )
            for positions, size, phase_taps in phases
        ),
    )


def _scatter_by_phase(x64: np.ndarray, w64: np.ndarray, params: P.ConvParams, output_size) -> np.ndarray:
    """The transposed convolution of x64 with w64 (no bias), one stride phase at a time."""
    batch, cin, *input_size = x64.shape
    cog, kernel_size, groups = w64.shape[1], w64.shape[2:], params.groups
    cig, taps = cin // groups, math.prod(kernel_size)
    plan = _phase_plan(params, tuple(input_size), tuple(kernel_size), tuple(output_size))
    out = np.zeros((batch, groups, cog, *output_size))  # the phases no tap reaches stay zero
    if not plan.phases:
        return out.reshape(batch, groups * cog, *output_size)
    # x[x_region] at [placement] in zeros (the plan), batch items inside the channels, so that the blocks
    # of all the items of a part are one matrix's columns
    padded_shape = (groups, cig, batch, *plan.padded_size)
    # kernel[g, co, tap, ci] = w[g*Cig + ci, co, tap], contiguous: a phase's taps are then one copy
    kernel = np.ascontiguousarray(w64.reshape(groups, cig, cog, taps).transpose(0, 2, 3, 1))

    # Scratch, reused by every phase: the blocks of padded x its taps read (`shifted`) and their products,
    # for `items` batch items and `chunk` taps at a time. The memory budget is (taps + 1) x the output for
    # output, padded x and scratch together, and the blocks stay under BLOCK_ELEMENTS so that they are
    # still in the cache between their copy and their product. Batch items are split first: each part is
    # then one matrix product per group over all of a phase's taps and all the part's items (the longest
    # inner dimension, and the items side by side in the columns: a few large products, which two BLAS
    # threads share better than many small ones). Only when one item's taps do not fit are the taps summed
    # in parts (`more`: the products of the next part). One tap at least: where the budget leaves room for
    # less (a kernel of few taps), one tap's block may pass it.
    largest = max(math.prod(phase.size) for phase in plan.phases)
    per_tap, products_per_item = groups * cig * largest, groups * cog * largest  # per batch item
    most_taps = max(len(phase.taps) for phase in plan.phases)
    left = taps * out.size - math.prod(padded_shape) - w64.size  # for shifted, the products and one phase's kernels
    items = min(batch, left // (most_taps * per_tap + products_per_item), BLOCK_ELEMENTS // (most_taps * per_tap))
    if items >= 1:
        chunk = most_taps
    else:
        items = 1
        chunk = max(1, min((left - 2 * products_per_item) // per_tap, BLOCK_ELEMENTS // per_tap))
    padded, shifted_buffer, products_buffer, more_buffer = _scratch(
        math.prod(padded_shape), items * chunk * per_tap, items * products_per_item,
        products_per_item if chunk < most_taps else 0,
    )
    padded = padded.reshape(padded_shape)
    padded.fill(0)
    padded[(..., *plan.placement)] = np.moveaxis(x64.reshape(batch, groups, cig, *input_size), 0, 2)[
        (..., *plan.x_region)
    ]

    for phase in plan.phases:
        positions = math.prod(phase.size)
        # part_kernels[k][g, co, j*Cig + ci] = w[g*Cig + ci, co, t_j] for the taps t_j of part k
        part_kernels = [
            kernel[:, :, list(phase.taps[start : start + chunk]), :].reshape(groups, cog, -1)
            for start in range(0, len(phase.taps), chunk)
        ]
        for first in range(0, batch, items):
            part_x = padded[:, :, first : first + items]
            part_items = part_x.shape[2]
            # products[g, co, (n, q)]: channels first, so that writing them into the phase's (strided)
            # positions of the output copies runs of positions, not a transpose
            products = _view(products_buffer, (groups, cog, part_items * positions))
            for start, part_kernel in zip(range(0, len(phase.taps), chunk), part_kernels):
                part = range(start, min(start + chunk, len(phase.taps)))
                # shifted[g, j, ci, n, q] = x[n, g*Cig + ci, q - shift_j]  (zero where q - shift_j is outside x)
                shifted = _view(shifted_buffer, (groups, len(part), cig, part_items, *phase.size))
                for j, index in enumerate(part):
                    shifted[:, j] = part_x[(..., *phase.windows[index])]
                columns = shifted.reshape(groups, len(part) * cig, part_items * positions)
                if start == 0:
                    np.matmul(part_kernel, columns, out=products)
                else:
                    more = _view(more_buffer, (groups, cog, part_items * positions))
                    products += np.matmul(part_kernel, columns, out=more)
            out[(slice(first, first + part_items), ..., *phase.positions)] = np.moveaxis(
                products.reshape(groups, cog, part_items, *phase.size), 2, 0
            )
        del part_kernels  # before the next phase's are made
    return out.reshape(batch, groups * cog, *output_size)
