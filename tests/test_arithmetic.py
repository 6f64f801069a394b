"""The output-size and padding arithmetic (oracle/arithmetic.py), checked against the forward convolution.

Pure integer tests, no framework. The transposed convolution of a forward convolution with input size `i`,
kernel `k`, stride `s`, padding `p` and dilation `d` maps the forward output size
`o = floor((i + 2p - ke) / s) + 1` back to `i` when given `a = (i + 2p - ke) mod s` as output_padding
(ke = d*(k-1) + 1). Every size below is derived that way, from the forward arithmetic written out here,
and compared with what oracle/arithmetic.py computes.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convt_oracle import arithmetic as A
from convt_oracle.arithmetic import AxisPadding

# Fixed, reproducible example generation: the same examples on every run and every machine.
DERANDOMIZED = settings(derandomize=True, max_examples=300, deadline=None, database=None)

sizes = st.integers(1, 24)
kernels = st.integers(1, 7)
strides = st.integers(1, 5)
dilations = st.integers(1, 4)


# --- the forward convolution, written out independently of oracle/arithmetic.py --------------------------


def ke_of(k: int, d: int) -> int:
    return d * (k - 1) + 1


def forward_size(n: int, k: int, s: int, d: int, begin: int, end: int) -> int | None:
    """Output size of a forward conv of n elements padded by (begin, end); None when the kernel never fits."""
    padded = n + begin + end
    if padded < ke_of(k, d):
        return None
    return (padded - ke_of(k, d)) // s + 1


def forward_same_size(n: int, s: int) -> int:
    """TF/jax 'SAME' forward conv: ceil(n / s), whatever the kernel."""
    return -(-n // s)


def forward_configs(max_i=12, max_k=6, max_s=4, max_d=3):
    """Every (i, k, s, p, d) whose forward conv is defined: i + 2p >= ke, 0 <= p < ke."""
    axes = (range(1, max_i + 1), range(1, max_k + 1), range(1, max_s + 1), range(1, max_d + 1))
    for i, k, s, d in itertools.product(*axes):
        ke = ke_of(k, d)
        for p in range(ke):
            if i + 2 * p >= ke:
                yield i, k, s, p, d


def transposed_size(o, k, s, p, d, a=0):
    """The arithmetic's size of the transposed conv of that forward conv, applied to o."""
    return A.output_size(o, k, s, d, p, p, a)


# --- Dumoulin & Visin, relationships 8-14 (with ke = d*(k-1)+1 in place of k) -----------------------------


def test_relationship_8_unit_stride_no_padding():
    """s=1, p=0: o' = i' + (k-1), and it undoes the forward conv."""
    checked = 0
    for i, k, s, p, d in forward_configs():
        if s == 1 and p == 0:
            ke = ke_of(k, d)
            o = forward_size(i, k, 1, d, 0, 0)
            assert o == i - ke + 1
            assert transposed_size(o, k, 1, 0, d) == o + (ke - 1) == i
            checked += 1
    assert checked > 50


def test_relationship_9_unit_stride_padding():
    """s=1, padding p: o' = i' + (k-1) - 2p."""
    checked = 0
    for i, k, s, p, d in forward_configs():
        if s == 1:
            ke = ke_of(k, d)
            o = forward_size(i, k, 1, d, p, p)
            assert transposed_size(o, k, 1, p, d) == o + (ke - 1) - 2 * p == i
            checked += 1
    assert checked > 200


def test_relationship_10_half_padding():
    """s=1, ke odd, p = floor(ke/2): o' = i' (and the forward conv keeps the size too)."""
    checked = 0
    for i, k, d in itertools.product(range(1, 13), range(1, 8), range(1, 4)):
        ke = ke_of(k, d)
        if ke % 2 == 0:
            continue
        p = ke // 2
        o = forward_size(i, k, 1, d, p, p)
        assert o == i
        assert transposed_size(o, k, 1, p, d) == o == i
        checked += 1
    assert checked > 100


def test_relationship_11_full_padding():
    """s=1, p = ke-1: the forward conv grows i to i + ke - 1, and o' = i' - (k-1) shrinks it back."""
    checked = 0
    for i, k, d in itertools.product(range(1, 13), range(1, 8), range(1, 4)):
        ke = ke_of(k, d)
        p = ke - 1
        o = forward_size(i, k, 1, d, p, p)
        assert o == i + ke - 1
        assert transposed_size(o, k, 1, p, d) == o - (ke - 1) == i
        checked += 1
    assert checked > 100


def test_relationship_12_stride_no_padding_divisible():
    """p=0, (i - k) divisible by s: o' = s(i'-1) + k (the input stretched with s-1 zeros between pixels)."""
    checked = 0
    for i, k, s, p, d in forward_configs():
        ke = ke_of(k, d)
        if p == 0 and (i - ke) % s == 0:
            o = forward_size(i, k, s, d, 0, 0)
            assert transposed_size(o, k, s, 0, d) == s * (o - 1) + ke == i
            # the stretched input: (o-1)*(s-1) zeros between o pixels, then a full conv pads by ke-1 each side
            stretched = o + (o - 1) * (s - 1)
            assert stretched + 2 * (ke - 1) - ke + 1 == i
            checked += 1
    assert checked > 100


def test_relationship_13_stride_padding_divisible():
    """Padding p, (i + 2p - k) divisible by s: o' = s(i'-1) + k - 2p."""
    checked = 0
    for i, k, s, p, d in forward_configs():
        ke = ke_of(k, d)
        if (i + 2 * p - ke) % s == 0:
            o = forward_size(i, k, s, d, p, p)
            assert transposed_size(o, k, s, p, d) == s * (o - 1) + ke - 2 * p == i
            checked += 1
    assert checked > 300


def test_relationship_14_general():
    """o' = s(i'-1) + a + k - 2p with a = (i + 2p - k) mod s, for every forward conv; a is torch's output_padding."""
    checked = 0
    for i, k, s, p, d in forward_configs():
        ke = ke_of(k, d)
        a = (i + 2 * p - ke) % s
        o = forward_size(i, k, s, d, p, p)
        assert transposed_size(o, k, s, p, d, a) == s * (o - 1) + a + ke - 2 * p == i
        # without a, the sizes i - a .. i all have the same forward size: a picks i among them
        assert all(forward_size(n, k, s, d, p, p) == o for n in range(i - a, i + 1))
        assert A.torch_output_padding(o, k, s, d, p, i) == a
        checked += 1
    assert checked > 1000


def test_forward_output_size_matches_the_forward_arithmetic():
    for i, k, s, p, d in forward_configs():
        assert A.forward_output_size(i, k, s, d, p, p) == forward_size(i, k, s, d, p, p)
        if i + p >= ke_of(k, d):
            assert A.forward_output_size(i, k, s, d, p, 0) == forward_size(i, k, s, d, p, 0)


def test_effective_and_full_size():
    assert A.effective_kernel(3, 1) == 3
    assert A.effective_kernel(3, 2) == 5
    assert A.effective_kernel(1, 7) == 1
    assert A.full_size(4, 3, 2, 2) == 3 * 2 + 5
    assert A.output_size(4, 3, 2, 2, 1, 2, 1) == 11 - 1 - 2 + 1


def test_input_size_inverts_output_size():
    # by enumeration: the i >= 1 whose output size is o (i <= o + 4 suffices here), else None
    for k, s, d, b, e, op in itertools.product((1, 2, 3), (1, 2, 3), (1, 2), (0, 2), (0, 1), (0, 2)):
        for o in range(1, 30):
            found = [i for i in range(1, o + 5) if (i - 1) * s + d * (k - 1) + 1 - b - e + op == o]
            assert A.input_size(o, k, s, d, b, e, op) == (found[0] if found else None), (o, k, s, d, b, e, op)


# --- crop_to_size ------------------------------------------------------------------------------------------


@DERANDOMIZED
@given(full=st.integers(1, 40), begin=st.integers(0, 40), size=st.integers(1, 60))
def test_crop_to_size_round_trip(full, begin, size):
    pad = A.crop_to_size(full, begin, size)
    assert pad.begin == begin
    assert pad.end >= 0 and pad.output_padding >= 0
    assert min(pad.end, pad.output_padding) == 0  # never crop and extend the same end
    assert full - pad.begin - pad.end + pad.output_padding == size
    # kept elements: full[begin : begin + size], zero past the end
    assert pad.output_padding == max(0, begin + size - full)


def test_crop_to_size_examples():
    assert A.crop_to_size(7, 1, 5) == AxisPadding(1, 1, 0)
    assert A.crop_to_size(7, 0, 8) == AxisPadding(0, 0, 1)
    assert A.crop_to_size(7, 2, 6) == AxisPadding(2, 0, 1)
    assert A.crop_to_size(7, 0, 7) == AxisPadding(0, 0, 0)


def selected(i, k, s, d, pad):
    """The full-result positions a padding keeps, in order (positions past the full result included):
    written out from the definition, independently of the arithmetic."""
    full = (i - 1) * s + ke_of(k, d)
    size = full - pad.begin - pad.end + pad.output_padding
    return [pad.begin + o for o in range(size)]


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations, begin=st.integers(0, 8), end=st.integers(0, 8), op=st.integers(0, 6))
def test_least_padding_selects_the_same_elements_with_the_least_end(i, k, s, d, begin, end, op):
    pad = AxisPadding(begin, end, op)
    if not selected(i, k, s, d, pad):
        return  # no output: nothing to select
    least = A.least_padding(i, k, s, d, pad)
    assert selected(i, k, s, d, least) == selected(i, k, s, d, pad)
    assert min(least.end, least.output_padding) == 0
    assert A.same_elements(i, k, s, d, pad, least)


def test_same_elements_examples():
    # full size 7 (i 3, k 3, s 2): a crop of 1 at the end given back by output_padding 1 is no crop
    assert A.same_elements(3, 3, 2, 1, AxisPadding(1, 1, 1), AxisPadding(1, 0, 0))
    assert not A.same_elements(3, 3, 2, 1, AxisPadding(1, 1, 1), AxisPadding(0, 0, 0))  # another first element
    assert not A.same_elements(3, 3, 2, 1, AxisPadding(1, 1, 0), AxisPadding(1, 0, 0))  # another size
    assert A.same_elements(3, 3, 2, 1, AxisPadding(0, 0, 2), AxisPadding(0, 1, 3))


# --- border bands ----------------------------------------------------------------------------------------------


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations, begin=st.integers(0, 8), end=st.integers(0, 8), op=st.integers(0, 6))
def test_border_band_is_where_a_tap_of_the_window_misses_the_input(i, k, s, d, begin, end, op):
    """An output element is in the border band when some tap of the kernel window ending at it would read an
    input position outside [0, i) (counted from the definition: tap t reads input (f - t*d) / s)."""
    positions = selected(i, k, s, d, AxisPadding(begin, end, op))
    if not positions:
        return
    cut = [f - ke_of(k, d) + 1 < 0 or f > (i - 1) * s for f in positions]  # window [f - d*(k-1), f] leaves [0, (i-1)*s]
    head, tail = A.border_band(i, k, s, d, begin, len(positions))
    expected = [o < head or o >= len(positions) - tail for o in range(len(positions))]
    assert cut == expected


# --- 'SAME' and 'VALID' --------------------------------------------------------------------------------------


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations)
def test_same_padding_gives_i_times_s(i, k, s, d):
    ke = ke_of(k, d)
    upper = A.same_padding(i, k, s, d)
    lower = A.same_padding(i, k, s, d, lower=True)
    for pad in (upper, lower):
        assert A.output_size(i, k, s, d, *pad) == i * s
        assert pad.begin >= 0 and pad.end >= 0 and pad.output_padding >= 0
    total = ke - s
    if total <= 0:  # kernel shorter than (or equal to) the stride: zero-extend at the end, both ways
        assert upper == lower == AxisPadding(0, 0, s - ke)
    else:
        assert upper.begin + upper.end == lower.begin + lower.end == total
        assert upper.output_padding == lower.output_padding == 0
        assert upper.begin == total // 2  # upper: the odd extra crop at the end
        assert lower.end == total // 2  # lower: the odd extra crop at the start
        assert upper.end - upper.begin == lower.begin - lower.end == total % 2


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations)
def test_same_padding_is_the_gradient_of_the_forward_same_conv(i, k, s, d):
    """TF: a 'SAME' transposed conv is the gradient of a forward 'SAME' conv of an input of size i*s."""
    assert forward_same_size(i * s, s) == i
    ke = ke_of(k, d)
    total = max((forward_same_size(i * s, s) - 1) * s + ke - i * s, 0)
    full = A.full_size(i, k, s, d)
    assert A.same_padding(i, k, s, d) == A.crop_to_size(full, total // 2, i * s)
    assert A.same_padding(i, k, s, d) == A.output_shape_padding(i, k, s, d, "SAME", i * s)


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations)
def test_valid_padding(i, k, s, d):
    ke = ke_of(k, d)
    pad = A.valid_padding(i, k, s, d)
    assert pad.begin == pad.end == 0
    assert A.output_size(i, k, s, d, *pad) == (i - 1) * s + max(ke, s)
    # it is one of the sizes whose forward 'VALID' conv gives i
    size = (i - 1) * s + max(ke, s)
    assert forward_size(size, k, s, d, 0, 0) == i
    assert pad == A.output_shape_padding(i, k, s, d, "VALID", size)


def test_same_and_valid_examples():
    # the article: 2x2 -> 4x4 with a 3x3 kernel, stride 2, 'SAME': crop nothing at the start, 1 at the end
    assert A.same_padding(2, 3, 2, 1) == AxisPadding(0, 1, 0)
    assert A.same_padding(2, 3, 2, 1, lower=True) == AxisPadding(1, 0, 0)
    assert A.same_padding(3, 4, 2, 1) == AxisPadding(1, 1, 0)
    assert A.same_padding(3, 1, 3, 1) == AxisPadding(0, 0, 2)
    assert A.valid_padding(3, 1, 3, 1) == AxisPadding(0, 0, 2)
    assert A.valid_padding(3, 3, 2, 1) == AxisPadding(0, 0, 0)


# --- accepted_output_sizes and output_shape_padding (TF's output_shape) --------------------------------------

paddings = st.one_of(
    st.sampled_from(["SAME", "VALID"]),
    st.tuples(st.integers(0, 6), st.integers(0, 6)),
)


def forward_of(n, k, s, d, padding):
    if padding == "SAME":
        return forward_same_size(n, s)
    begin, end = (0, 0) if padding == "VALID" else padding
    return forward_size(n, k, s, d, begin, end)


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations, padding=paddings)
def test_accepted_output_sizes_are_exactly_those_whose_forward_conv_gives_i(i, k, s, d, padding):
    accepted = A.accepted_output_sizes(i, k, s, d, padding)
    assert accepted.step == 1
    for n in accepted:
        assert n >= 1
        assert forward_of(n, k, s, d, padding) == i
    # just outside, on both sides
    for n in (accepted.start - 1, accepted.stop):
        if n >= 1:
            assert forward_of(n, k, s, d, padding) != i
    # and nothing else anywhere: forward sizes never decrease with n
    limit = i * s + ke_of(k, d) + 2 * s + 1
    assert [n for n in range(1, limit) if forward_of(n, k, s, d, padding) == i] == list(accepted)


def test_accepted_output_sizes_examples():
    assert A.accepted_output_sizes(4, 3, 2, 1, "SAME") == range(7, 9)  # docs/conventions.md: SAME, s=2, i=4 -> 7, 8
    assert A.accepted_output_sizes(4, 1, 2, 1, "SAME") == range(7, 9)  # SAME ignores the kernel
    assert A.accepted_output_sizes(4, 3, 2, 1, "VALID") == range(9, 11)
    assert A.accepted_output_sizes(2, 3, 2, 2, "VALID") == range(7, 9)
    assert A.accepted_output_sizes(4, 3, 2, 1, (1, 1)) == range(7, 9)
    assert A.accepted_output_sizes(1, 1, 1, 1, (2, 2)) == range(1, 1)  # padding alone gives 5 > 1: none


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations, padding=paddings)
def test_output_shape_padding_of_accepted_sizes(i, k, s, d, padding):
    full = A.full_size(i, k, s, d)
    for size in A.accepted_output_sizes(i, k, s, d, padding):
        pad = A.output_shape_padding(i, k, s, d, padding, size)
        assert A.output_size(i, k, s, d, *pad) == size
        # the gradient of the forward conv of `size` crops that conv's begin padding
        if padding == "SAME":
            total = max((forward_same_size(size, s) - 1) * s + ke_of(k, d) - size, 0)
            begin = total // 2
        else:
            begin = 0 if padding == "VALID" else padding[0]
        assert pad == A.crop_to_size(full, begin, size)


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations, padding=paddings)
def test_output_shape_padding_rejects_other_sizes(i, k, s, d, padding):
    accepted = A.accepted_output_sizes(i, k, s, d, padding)
    for size in (accepted.start - 1, accepted.stop, accepted.stop + s):
        if size in accepted:
            continue
        with pytest.raises(ValueError, match="output_shape"):
            A.output_shape_padding(i, k, s, d, padding, size)


def test_forward_padding():
    assert A.forward_padding(8, 3, 2, 1, "SAME") == (0, 1)
    assert A.forward_padding(7, 3, 2, 1, "SAME") == (1, 1)
    assert A.forward_padding(8, 4, 1, 1, "SAME") == (1, 2)
    assert A.forward_padding(8, 3, 2, 1, "VALID") == (0, 0)
    assert A.forward_padding(8, 3, 2, 1, (2, 1)) == (2, 1)
    for n, k, s, d in itertools.product(range(1, 12), range(1, 5), range(1, 4), range(1, 3)):
        begin, end = A.forward_same_padding(n, k, s, d)
        assert end - begin in (0, 1)
        assert forward_size(n, k, s, d, begin, end) == forward_same_size(n, s)


# --- torch -----------------------------------------------------------------------------------------------------


@DERANDOMIZED
@given(i=sizes, k=kernels, s=strides, d=dilations, p=st.integers(0, 6))
def test_torch_output_padding(i, k, s, d, p):
    smallest = (i - 1) * s - 2 * p + ke_of(k, d)
    for size in range(smallest, smallest + s):
        if size < 1:
            continue
        op = A.torch_output_padding(i, k, s, d, p, size)
        assert op == size - smallest
        assert 0 <= op < A.torch_output_padding_limit(s, d)
        assert A.output_size(i, k, s, d, p, p, op) == size
        # torch's output_size rule: the forward conv of `size` with padding p gives i
        assert forward_size(size, k, s, d, p, p) == i
    for size in (smallest - 1, smallest + s):
        with pytest.raises(ValueError, match="output_size"):
            A.torch_output_padding(i, k, s, d, p, size)


def test_torch_padding_keeps_the_window():
    # torch's window is full[p : p + F - 2p + op]; the canonical one full[b : b + F - b - e + op]
    for b, e, op in itertools.product(range(4), range(4), range(3)):
        p, torch_op = A.torch_padding(AxisPadding(b, e, op))
        assert p == b and (20 - 2 * p + torch_op) == (20 - b - e + op)


def test_torch_output_padding_limit():
    assert A.torch_output_padding_limit(2, 1) == 2
    assert A.torch_output_padding_limit(1, 3) == 3
    assert A.torch_output_padding_limit(3, 3) == 3


# --- jax explicit pairs ------------------------------------------------------------------------------------------


@DERANDOMIZED
@given(
    i=sizes, k=kernels, s=strides, d=dilations,
    begin=st.integers(0, 12), end=st.integers(0, 12), output_padding=st.integers(0, 4),
)
def test_to_jax_padding(i, k, s, d, begin, end, output_padding):
    pad = AxisPadding(begin, end, output_padding)
    size = A.output_size(i, k, s, d, *pad)
    lo, hi = A.to_jax_padding(k, d, pad)
    # lax.conv_transpose: a conv of the stride-dilated input ((i-1)*s + 1 elements) padded by (lo, hi)
    assert (i - 1) * s + 1 + lo + hi - ke_of(k, d) + 1 == size
    # output position j reads dilated position j - lo + tap: the first kept full position is ke-1-lo
    assert ke_of(k, d) - 1 - lo == begin
    back = A.from_jax_padding(k, d, lo, hi)
    assert A.output_size(i, k, s, d, *back) == size
    assert back.begin == begin and back.end - back.output_padding == end - output_padding
    if min(end, output_padding) == 0:
        assert back == pad


@DERANDOMIZED
@given(k=kernels, d=dilations, lo=st.integers(-8, 20), hi=st.integers(-8, 20))
def test_from_jax_padding_round_trip(k, d, lo, hi):
    pad = A.from_jax_padding(k, d, lo, hi)
    assert min(pad.end, pad.output_padding) == 0 and pad.end >= 0 and pad.output_padding >= 0
    assert A.to_jax_padding(k, d, pad) == (lo, hi)
    assert (pad.begin < 0) == (lo > ke_of(k, d) - 1)


# --- ONNX ConvTranspose ------------------------------------------------------------------------------------------


@DERANDOMIZED
@given(
    i=sizes, k=kernels, s=strides, d=dilations,
    pads=st.tuples(st.integers(0, 5), st.integers(0, 5)), op=st.integers(0, 4),
)
def test_onnx_padding_notset_and_valid(i, k, s, d, pads, op):
    assert A.onnx_padding(i, k, s, d, pads=pads, output_padding=op) == AxisPadding(*pads, op)
    assert A.onnx_padding(i, k, s, d, auto_pad="NOTSET", pads=pads, output_padding=op) == AxisPadding(*pads, op)
    assert A.onnx_padding(i, k, s, d, auto_pad="VALID", pads=pads, output_padding=op) == AxisPadding(0, 0, op)


def spec_split(total: int, auto_pad: str) -> tuple[int, int]:
    """The spec text: SAME_UPPER: start = total/2; otherwise start = total - total/2 (floor division)."""
    if auto_pad == "SAME_UPPER":
        return total // 2, total - total // 2
    return total - total // 2, total // 2


@DERANDOMIZED
@given(
    i=sizes, k=kernels, s=strides, d=dilations, op=st.integers(0, 4),
    auto_pad=st.sampled_from(["SAME_UPPER", "SAME_LOWER"]),
)
def test_onnx_padding_same(i, k, s, d, op, auto_pad):
    pad = A.onnx_padding(i, k, s, d, auto_pad=auto_pad, output_padding=op, pads=(9, 9))
    assert A.output_size(i, k, s, d, *pad) == i * s
    total = A.full_size(i, k, s, d) + op - i * s
    start, _ = spec_split(total, auto_pad)
    assert pad.begin == start
    if total >= 0:
        # the odd extra crop at the end for SAME_UPPER, at the start for SAME_LOWER
        small, big = total // 2, total - total // 2
        first, second = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        assert pad.begin == first
        assert pad.end - pad.output_padding == second - op
        if op == 0:
            assert pad == A.same_padding(i, k, s, d, lower=auto_pad == "SAME_LOWER")


@DERANDOMIZED
@given(
    i=sizes, k=kernels, s=strides, d=dilations, op=st.integers(0, 4), delta=st.integers(-8, 8),
    auto_pad=st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]),
)
def test_onnx_padding_output_shape(i, k, s, d, op, delta, auto_pad):
    full = A.full_size(i, k, s, d)
    output_shape = max(1, full + op + delta)
    pad = A.onnx_padding(i, k, s, d, auto_pad=auto_pad, pads=(7, 7), output_padding=op, output_shape=output_shape)
    assert A.output_size(i, k, s, d, *pad) == output_shape  # pads are ignored
    total = full + op - output_shape
    start, _ = spec_split(total, auto_pad)
    assert pad.begin == start
    assert pad == A.crop_to_size(full, start, output_shape)
    if total >= 0:  # the larger half at the start, except under SAME_UPPER
        big, small = total - total // 2, total // 2
        assert pad.begin == (small if auto_pad == "SAME_UPPER" else big)


def test_onnx_padding_examples():
    # ONNX's own node tests (onnx/backend/test/case/node/convtranspose.py)
    # test_convtranspose_output_shape: x 3x3, kernel 3x3, strides (3, 2), output_shape (10, 8): total -1 on both
    # axes, expected output = the full result plus one zero row / column at the END (begin 0).
    assert A.onnx_padding(3, 3, 3, 1, output_shape=10) == AxisPadding(0, 0, 1)
    assert A.onnx_padding(3, 3, 2, 1, output_shape=8) == AxisPadding(0, 0, 1)
    # test_convtranspose_kernel_shape: the same with output_padding (1, 1): total 0
    assert A.onnx_padding(3, 3, 3, 1, output_padding=1, output_shape=10) == AxisPadding(0, 0, 1)
    # test_convtranspose_autopad_same: strides 2, SAME_UPPER, 3 -> 6: total 1 cropped at the end
    assert A.onnx_padding(3, 3, 2, 1, auto_pad="SAME_UPPER") == AxisPadding(0, 1, 0)
    assert A.onnx_padding(3, 3, 2, 1, auto_pad="SAME_LOWER") == AxisPadding(1, 0, 0)
    # test_convtranspose_pads: strides (3, 2), pads (1, 2, 1, 2) -> 7 x 3
    assert A.output_size(3, 3, 3, 1, *A.onnx_padding(3, 3, 3, 1, pads=(1, 1))) == 7
    assert A.output_size(3, 3, 2, 1, *A.onnx_padding(3, 3, 2, 1, pads=(2, 2))) == 3
    # odd positive total: the larger half at the start unless SAME_UPPER
    assert A.onnx_padding(3, 3, 2, 1, output_shape=6) == AxisPadding(1, 0, 0)
    assert A.onnx_padding(3, 3, 2, 1, auto_pad="VALID", output_shape=6) == AxisPadding(1, 0, 0)
    assert A.onnx_padding(3, 3, 2, 1, auto_pad="SAME_UPPER", output_shape=6) == AxisPadding(0, 1, 0)
    # negative totals (floor division): -2 puts one zero at each end; -1 one zero at the start under
    # SAME_UPPER, at the end otherwise
    assert A.onnx_padding(2, 1, 3, 1, output_shape=6) == AxisPadding(-1, 0, 1)
    assert A.onnx_padding(2, 1, 3, 1, auto_pad="SAME_UPPER") == AxisPadding(-1, 0, 1)
    assert A.onnx_padding(2, 1, 2, 1, auto_pad="SAME_UPPER") == AxisPadding(-1, 0, 0)
    assert A.onnx_padding(2, 1, 2, 1, auto_pad="SAME_LOWER") == AxisPadding(0, 0, 1)


def test_onnx_padding_rejects_unknown_auto_pad():
    with pytest.raises(ValueError, match="auto_pad"):
        A.onnx_padding(3, 3, 2, 1, auto_pad="SAME")
