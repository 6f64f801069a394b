"""Hypothesis strategies for transposed-convolution cases, for property tests of your own.

Needs Hypothesis (an optional dependency: `pip install convt-oracle[dev]`).

    import convt_oracle
    from hypothesis import given
    from convt_oracle.cases import strategies as cst

    @given(cst.cases(dtypes=("float32",)))
    def test_my_conv_transpose(case):
        x, w, bias = case.arrays()
        actual = my_conv_transpose(x, w, bias, **case.params())
        convt_oracle.assert_conv_transpose_close(actual, x, w, bias, **case.params())

Small and composable: `spatial_ranks`, `dtypes`, `modes`, `configurations` (valid Cases with dtype None,
built with convt_oracle.cases.model.make_case), `cases` (a configuration in a dtype, or an invalid one), `invalid_cases`
and `case_arrays` (x, w, bias drawn by Hypothesis, small integers: exact in every dtype). Every size and
padding comes from convt_oracle.arithmetic. Everything shrinks toward the smallest case: rank 1, batch 1, one
channel, groups 1, kernel 1, stride 1, dilation 1, no crop, explicit mode, zeros.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convt_oracle.cases.model import DTYPES, MODES, VALUE_KINDS, Case, check_dtypes, make_case, numpy_dtype
from convt_oracle import arithmetic

# What a TF output_shape call can ask for: forward padding 'VALID', 'SAME' or explicit (begin, end) pairs.
FORWARD_PADDINGS = ("VALID", "SAME", "explicit")


def spatial_ranks(max_rank: int = 3) -> st.SearchStrategy[int]:
    """Number of spatial axes, 1 to max_rank (shrinks to 1)."""
    if not 1 <= max_rank <= 3:
        raise ValueError(f"max_rank: got {max_rank!r}; expected 1, 2 or 3")
    return st.integers(1, max_rank)


def dtypes(names=DTYPES) -> st.SearchStrategy[str]:
    """One of the dtype names (shrinks to the first)."""
    return st.sampled_from(check_dtypes(names))


_dtypes = dtypes  # for `cases`, whose argument of that name shadows it


def modes(names=MODES) -> st.SearchStrategy[str]:
    """One of the modes a framework is asked in (shrinks to the first, `explicit`)."""
    names = tuple(names)
    unknown = [name for name in names if name not in MODES]
    if unknown or not names:
        raise ValueError(f"modes: got {names!r}; expected some of {', '.join(MODES)}")
    return st.sampled_from(names)


@st.composite
def _axis(draw, max_size: int, max_stride: int, max_dilation: int) -> tuple[int, int, int, int]:
    """(input size, kernel size, stride, dilation) of one spatial axis."""
    return (
        draw(st.integers(1, max_size)),
        draw(st.integers(1, max_size)),
        draw(st.integers(1, max_stride)),
        draw(st.integers(1, max_dilation)),
    )


@st.composite
def _explicit_axis(draw, i: int, k: int, s: int, d: int, max_output_padding: int | None):
    """Canonical (begin, end, output_padding) of one axis, leaving at least one output element."""
    full = arithmetic.full_size(i, k, s, d)
    begin = draw(st.integers(0, full - 1))
    end = draw(st.integers(0, full - 1 - begin))
    limit = arithmetic.torch_output_padding_limit(s, d) - 1 if max_output_padding is None else max_output_padding
    return begin, end, draw(st.integers(0, limit))


@st.composite
def _output_shape_axes(draw, geometry) -> list[arithmetic.AxisPadding]:
    """Canonical padding of a TF output_shape call: one forward padding for all axes, an accepted size."""
    style = draw(st.sampled_from(FORWARD_PADDINGS))
    axes = []
    for i, k, s, d in geometry:
        forward = style
        if style == "explicit":  # forward pads totalling less than the kernel: some size is always accepted
            ke = arithmetic.effective_kernel(k, d)
            begin = draw(st.integers(0, ke - 1))
            forward = (begin, draw(st.integers(0, ke - 1 - begin)))
        sizes = arithmetic.accepted_output_sizes(i, k, s, d, forward)
        axes.append(arithmetic.output_shape_padding(i, k, s, d, forward, draw(st.sampled_from(sizes))))
    return axes


@st.composite
def configurations(
    draw,
    *,
    max_rank: int = 3,
    max_size: int = 4,
    max_channels: int = 3,
    max_groups: int = 3,
    max_batch: int = 2,
    max_stride: int = 3,
    max_dilation: int = 2,
    max_output_padding: int | None = None,
    modes=MODES,
    values=("normal",),
) -> Case:
    """A valid configuration (dtype None).

    `max_size` bounds every spatial input and kernel size; channel counts are per group. In explicit mode
    each axis gets a crop that leaves at least one element and an output_padding up to `max_output_padding`
    (default max(stride, dilation) - 1, torch's limit). `same` / `valid` derive the padding; `output_shape`
    takes TF's rule (convt_oracle.arithmetic.output_shape_padding) for a forward padding 'VALID', 'SAME' or
    explicit and an accepted size. `values`: kinds to draw from (convt_oracle.cases.model.VALUE_KINDS).
    """
    unknown = [kind for kind in values if kind not in VALUE_KINDS]
    if unknown or not values:
        raise ValueError(f"values: got {values!r}; expected some of {', '.join(VALUE_KINDS)}")
    rank = draw(spatial_ranks(max_rank))
    geometry = [draw(_axis(max_size, max_stride, max_dilation)) for _ in range(rank)]
    groups = draw(st.integers(1, max_groups))
    # The explicit padding is drawn whatever the mode, so that every mode costs Hypothesis the same number
    # of choices and shrinking (shortest, then smallest choices first) ends in the first mode, explicit.
    axes = [draw(_explicit_axis(*axis, max_output_padding)) for axis in geometry]
    mode = draw(st.sampled_from(tuple(modes)))
    if mode == "output_shape":
        axes = draw(_output_shape_axes(geometry))
    elif mode != "explicit":
        axes = [(0, 0, 0)] * rank  # derived by make_case
    case = make_case(
        batch=draw(st.integers(1, max_batch)),
        in_channels=groups * draw(st.integers(1, max_channels)),
        out_channels=groups * draw(st.integers(1, max_channels)),
        groups=groups,
        input_size=tuple(i for i, _, _, _ in geometry),
        kernel_size=tuple(k for _, k, _, _ in geometry),
        stride=tuple(s for _, _, s, _ in geometry),
        dilation=tuple(d for _, _, _, d in geometry),
        padding=tuple((b, e) for b, e, _ in axes),
        output_padding=tuple(op for _, _, op in axes),
        bias=draw(st.booleans()),
        mode=mode,
        values=draw(st.sampled_from(tuple(values))),
        seed=draw(st.integers(0, 2**16)),
    )
    assert case.valid, f"strategies.configurations built an invalid case {case.id}: {case.reason}"
    return case


# How to break a valid configuration; each gives a case the golden rejects.
INVALID_KINDS = (
    "crop_too_large",
    "zero_stride",
    "negative_stride",
    "zero_dilation",
    "negative_padding",
    "negative_output_padding",
    "in_channels_not_divisible_by_groups",
    "zero_groups",
)


@st.composite
def invalid_cases(draw, *, dtypes=DTYPES, kinds=INVALID_KINDS, **options) -> Case:
    """A case the golden rejects (valid False, reason its message): a valid configuration, broken once."""
    base = draw(configurations(modes=("explicit",), **options))
    kind = draw(st.sampled_from(tuple(kinds)))
    axis = draw(st.integers(0, base.spatial_rank - 1))
    fields = dict(
        batch=base.batch, in_channels=base.in_channels, out_channels=base.out_channels, groups=base.groups,
        input_size=base.input_size, kernel_size=base.kernel_size, stride=base.stride, dilation=base.dilation,
        padding=base.padding, output_padding=base.output_padding, bias=base.bias, seed=base.seed,
    )

    def replace(name, value):
        fields[name] = tuple(value if j == axis else v for j, v in enumerate(fields[name]))

    if kind == "crop_too_large":  # crop the whole full result and add no output_padding: size <= 0
        i, k, s, d = (fields[name][axis] for name in ("input_size", "kernel_size", "stride", "dilation"))
        extra = draw(st.integers(0, 2))
        replace("padding", (arithmetic.full_size(i, k, s, d) - fields["padding"][axis][1] + extra, fields["padding"][axis][1]))
        replace("output_padding", 0)
    elif kind in ("zero_stride", "negative_stride"):
        replace("stride", 0 if kind == "zero_stride" else -draw(st.integers(1, 3)))
    elif kind == "zero_dilation":
        replace("dilation", 0)
    elif kind == "negative_padding":
        begin, end = fields["padding"][axis]
        side = draw(st.booleans())
        replace("padding", (-draw(st.integers(1, 2)), end) if side else (begin, -draw(st.integers(1, 2))))
    elif kind == "negative_output_padding":
        replace("output_padding", -draw(st.integers(1, 2)))
    elif kind == "in_channels_not_divisible_by_groups":
        groups = max(2, fields["groups"])
        fields.update(groups=groups, in_channels=groups * (fields["in_channels"] // fields["groups"]) + 1,
                      out_channels=groups * max(1, fields["out_channels"] // fields["groups"]))
    else:  # zero_groups
        fields["groups"] = 0
    case = make_case(dtype=draw(st.sampled_from(tuple(dtypes))), **fields)
    assert not case.valid, f"strategies.invalid_cases: breaking {kind} left a valid case {case.id}"
    return case


def cases(*, dtypes=DTYPES, valid: bool | None = True, max_rank: int = 3, max_size: int = 4, **options):
    """Cases in one of `dtypes`: valid ones (`valid=True`), invalid ones (`False`) or either (`None`).

    Further keyword options go to `configurations` (max_channels, max_groups, max_batch, max_stride,
    max_dilation, max_output_padding, modes, values).
    """
    valid_cases = st.tuples(configurations(max_rank=max_rank, max_size=max_size, **options), _dtypes(dtypes)).map(
        lambda pair: pair[0].with_dtype(pair[1])
    )
    if valid is True:
        return valid_cases
    options.pop("modes", None)
    broken = invalid_cases(dtypes=tuple(dtypes), max_rank=max_rank, max_size=max_size, **options)
    return broken if valid is False else st.one_of(valid_cases, broken)


def _elements(case: Case, *, nonfinite: bool) -> st.SearchStrategy[float]:
    """Small integers (exact in every dtype; sums exact in float64), scaled for `large` values."""
    scale = 1.0
    if case.values == "large":  # as Case.arrays: overflow float16 (2**8) and bfloat16 (2**64)
        scale = 2.0**64 if case.dtype == "bfloat16" else 2.0**8
    numbers = st.integers(-8, 8).map(lambda v: v * scale)
    if nonfinite:
        return st.one_of(numbers, st.sampled_from((math.inf, -math.inf, math.nan)))
    return numbers


def case_arrays(case: Case) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(x, w, bias) of the case's shapes in its dtype, values drawn by Hypothesis (shrinking to zeros).

    Values are small integers, so every product and sum is exact in float64 and representable in every
    dtype; `large` cases scale them as Case.arrays does, `nonfinite` cases may have inf and NaN in x,
    `nonfinite_weights` cases in w and bias.
    (For the case's own fixed arrays, call case.arrays().)
    """
    if case.dtype is None:
        raise ValueError(f"case {case.id}: dtype is None; choose one with case.with_dtype(...)")
    dtype = numpy_dtype(case.dtype)

    def array(shape, nonfinite=False):
        return hnp.arrays(np.float64, shape, elements=_elements(case, nonfinite=nonfinite)).map(
            lambda a: a.astype(dtype)
        )

    weights = case.values == "nonfinite_weights"
    bias = array(case.bias_shape, weights) if case.bias else st.none()
    return st.tuples(array(case.x_shape, case.values == "nonfinite"), array(case.w_shape, weights), bias)


__all__ = [
    "FORWARD_PADDINGS",
    "INVALID_KINDS",
    "spatial_ranks",
    "dtypes",
    "modes",
    "configurations",
    "cases",
    "invalid_cases",
    "case_arrays",
]
