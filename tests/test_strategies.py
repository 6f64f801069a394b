"""The public Hypothesis strategies (cases/strategies.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import convt_oracle
from convt_oracle.cases import coverage as cov
from convt_oracle.cases import strategies as cst
from convt_oracle.cases.model import DTYPES, MODES, Case, make_case, numpy_dtype
from convt_oracle import arithmetic

# Fixed, reproducible example generation: the same examples on every run and every machine.
DERANDOMIZED = settings(derandomize=True, max_examples=60, deadline=None, database=None)
SHRINK = settings(database=None, deadline=None)


@DERANDOMIZED
@given(st.data())
def test_generated_cases_are_valid_and_the_golden_agrees_on_their_shape(data):
    case = data.draw(cst.cases(dtypes=("float64", "float32")))
    assert case.valid and case.reason == "" and case.dtype in ("float64", "float32")
    x, w, bias = data.draw(cst.case_arrays(case))
    assert x.shape == case.x_shape and w.shape == case.w_shape
    assert (bias is None) == (not case.bias) and (bias is None or bias.shape == case.bias_shape)
    assert x.dtype == w.dtype == numpy_dtype(case.dtype)
    y = convt_oracle.conv_transpose(x, w, bias, **case.params())
    assert y.shape == case.output_shape


@DERANDOMIZED
@given(cst.cases())
def test_generated_cases_round_trip_through_json(case):
    assert Case.from_dict(json.loads(json.dumps(case.to_dict()))) == case


@DERANDOMIZED
@given(cst.cases(valid=False))
def test_invalid_cases_are_rejected_by_the_golden_with_their_reason(case):
    assert not case.valid and case.reason
    x, w, bias = case.arrays()
    with pytest.raises((ValueError, TypeError)) as raised:
        convt_oracle.conv_transpose(x, w, bias, **case.params())
    assert str(raised.value) == case.reason


@DERANDOMIZED
@given(cst.cases(valid=None, dtypes=("bfloat16",)))
def test_either_kind_when_valid_is_none(case):
    assert case.dtype == "bfloat16"
    assert case.valid == (case.reason == "")


@DERANDOMIZED
@given(cst.configurations(max_rank=2, max_size=3, max_channels=2, max_groups=2, max_stride=2, max_dilation=1,
                          modes=("same", "output_shape")))
def test_configurations_respect_their_bounds(case):
    assert case.dtype is None and case.valid
    assert case.spatial_rank <= 2 and max(case.input_size + case.kernel_size) <= 3
    assert case.groups <= 2 and case.in_channels <= 2 * case.groups and max(case.stride) <= 2
    assert case.dilation == (1,) * case.spatial_rank and case.mode in ("same", "output_shape")


@DERANDOMIZED
@given(cst.configurations(modes=("output_shape",)))
def test_output_shape_configurations_are_tf_expressible(case):
    """TF's rule: output_padding (rows past the full result) only where there is no end crop, and below
    the stride; the size is one the forward convolution accepts."""
    size = case.output_shape[2:]
    for j in range(case.spatial_rank):
        (begin, end), op = case.padding[j], case.output_padding[j]
        assert op == 0 or (end == 0 and op < case.stride[j])
        # TF explicit forward padding (begin, end) asking for this size gives this canonical padding.
        args = (case.input_size[j], case.kernel_size[j], case.stride[j], case.dilation[j])
        assert size[j] in arithmetic.accepted_output_sizes(*args, (begin, end))
        assert arithmetic.output_shape_padding(*args, (begin, end), size[j]) == (begin, end, op)


@DERANDOMIZED
@given(cst.configurations(modes=("explicit",), max_output_padding=None))
def test_explicit_output_padding_stays_within_torchs_limit(case):
    for s, d, op in zip(case.stride, case.dilation, case.output_padding):
        assert op < arithmetic.torch_output_padding_limit(s, d)


@DERANDOMIZED
@given(st.data())
def test_case_arrays_follow_the_values_kind(data):
    case = data.draw(cst.cases(values=("nonfinite", "large"), dtypes=("float16", "bfloat16")))
    x, w, bias = data.draw(cst.case_arrays(case))
    for array in (w,) + (() if bias is None else (bias,)):
        assert np.isfinite(array.astype(np.float64)).all()
    if case.values == "large":
        assert np.isfinite(x.astype(np.float64)).all()
        scale = 2.0**64 if case.dtype == "bfloat16" else 2.0**8
        assert np.all(np.abs(w.astype(np.float64)) % scale == 0)


def test_case_arrays_need_a_dtype():
    case = make_case(input_size=3, kernel_size=2)
    with pytest.raises(ValueError, match="dtype is None"):
        cst.case_arrays(case)


def test_shrinking_ends_in_the_smallest_case():
    smallest = find(cst.cases(dtypes=("float32",)), lambda c: True, settings=SHRINK)
    assert smallest.id == "1d-b1-c1x1-g1-i1-k1-s1-d1-p0.0-op0-nobias-f32-mexplicit-r0"


def test_shrinking_keeps_only_what_a_failure_needs():
    grouped = find(cst.cases(dtypes=("float32",)), lambda c: c.groups > 1 and c.spatial_rank == 2, settings=SHRINK)
    assert grouped.id == "2d-b1-c2x2-g2-i1x1-k1x1-s1x1-d1x1-p0.0x0.0-op0x0-nobias-f32-mexplicit-r0"


def test_small_strategies():
    assert find(cst.spatial_ranks(), lambda r: True, settings=SHRINK) == 1
    assert find(cst.dtypes(), lambda d: True, settings=SHRINK) == DTYPES[0]
    assert find(cst.modes(), lambda m: True, settings=SHRINK) == MODES[0]
    for bad in (lambda: cst.spatial_ranks(4), lambda: cst.dtypes(["float8"]), lambda: cst.modes(["SAME"])):
        with pytest.raises(ValueError):
            bad()


@settings(derandomize=True, max_examples=30, deadline=None, database=None)
@given(cst.cases(dtypes=("float64",), max_size=3))
def test_generated_cases_have_features(case):
    """Every generated case can be described by the coverage features (so users can see what they ran)."""
    found = cov.features(case)
    assert found["mode"] == case.mode and found["dtype"] == "float64"
