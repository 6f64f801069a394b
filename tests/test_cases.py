"""The case model (cases/model.py): ids, serialization, hashing, and the arrays a case draws."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import convt_oracle
from convt_oracle.cases import suites
from convt_oracle.cases.model import DTYPES, Case, make_case

ROOT = Path(__file__).resolve().parents[1]


def _some_cases() -> list[Case]:
    return [*suites.get("edge"), *suites.get("invalid"), *suites.get("onnx"), *suites.get("smoke")]


# --- ids -------------------------------------------------------------------------------------------------


def test_id_of_a_full_explicit_case_written_by_hand():
    case = make_case(
        batch=2, in_channels=4, out_channels=6, groups=2, input_size=(5, 7), kernel_size=(3, 2), stride=(2, 1),
        dilation=(1, 2), padding=((1, 0), (0, 1)), output_padding=(1, 0), bias=True, dtype="float32", seed=17,
    )
    assert case.id == "2d-b2-c4x6-g2-i5x7-k3x2-s2x1-d1x2-p1.0x0.1-op1x0-bias-f32-mexplicit-r17"


def test_id_of_a_same_case_shows_the_derived_padding():
    # 'SAME', i=2, k=3, s=2: total crop ke - s = 1, the odd element cropped at the end: (0, 1).
    case = make_case(input_size=2, kernel_size=3, stride=2, mode="same", seed=1)
    assert case.id == "1d-b1-c1x1-g1-i2-k3-s2-d1-p0.1-op0-nobias-any-msame-r1"


def test_id_of_a_valid_case_with_kernel_shorter_than_stride_and_values():
    # 'VALID', k=1, s=3: no crop, output_padding s - ke = 2; bfloat16, inf and NaN in x.
    case = make_case(input_size=(3, 2, 4), kernel_size=1, stride=3, mode="valid", dtype="bfloat16",
                     values="nonfinite", in_channels=2, out_channels=5, seed=9)
    assert case.id == "3d-b1-c2x5-g1-i3x2x4-k1x1x1-s3x3x3-d1x1x1-p0.0x0.0x0.0-op2x2x2-nobias-bf16-mvalid-vnonfinite-r9"


def test_ids_are_unique_within_each_suite():
    for name in suites.SUITES:
        ids = [case.id for case in suites.get(name)]
        assert len(ids) == len(set(ids)), name


def test_the_name_is_not_part_of_the_identity():
    a = make_case(input_size=3, kernel_size=2, name="one", seed=4)
    b = make_case(input_size=3, kernel_size=2, name="two", seed=4)
    assert a == b and hash(a) == hash(b) and a.id == b.id


# --- serialization and hashing --------------------------------------------------------------------------


def test_json_round_trip_keeps_every_field_and_the_id():
    for case in _some_cases():
        data = json.loads(json.dumps(case.to_dict()))
        assert data["id"] == case.id
        back = Case.from_dict(data)
        assert back == case and back.id == case.id and back.name == case.name
        assert dataclasses.asdict(back) == dataclasses.asdict(case)


def test_cases_are_hashable_and_equal_cases_hash_equal():
    cases = _some_cases()
    assert len(set(cases)) == len({case.id for case in cases})
    copies = [Case.from_dict(case.to_dict()) for case in cases]
    assert {hash(c) for c in copies} == {hash(c) for c in cases}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cases[0].seed = 3


def test_make_case_refuses_what_a_case_cannot_represent():
    with pytest.raises(ValueError, match="out_channels: 3 is not a multiple of groups=2"):
        make_case(input_size=3, kernel_size=2, in_channels=2, out_channels=3, groups=2)
    with pytest.raises(ValueError, match="mode"):
        make_case(input_size=3, kernel_size=2, mode="SAME")
    with pytest.raises(ValueError, match="values"):
        make_case(input_size=3, kernel_size=2, values="huge")
    with pytest.raises(ValueError, match="dtype"):
        make_case(input_size=3, kernel_size=2, dtype="float8")


# --- arrays ----------------------------------------------------------------------------------------------


def _in_dtypes(cases):
    return [case.with_dtype(dtype) if case.dtype is None else case for case in cases for dtype in DTYPES]


def test_arrays_need_a_dtype():
    with pytest.raises(ValueError, match="dtype is None"):
        make_case(input_size=3, kernel_size=2).arrays()


def test_arrays_are_deterministic_and_have_the_case_shapes_and_dtype():
    for case in _in_dtypes(suites.get("smoke")):
        first, second = case.arrays(), case.arrays()
        for a, b, shape in zip(first, second, (case.x_shape, case.w_shape, case.bias_shape)):
            if shape is None:
                assert a is None and b is None
                continue
            assert a.shape == shape and a.dtype == b.dtype == np.dtype(ml_dtypes.bfloat16 if case.dtype == "bfloat16" else case.dtype)
            assert np.array_equal(a.astype(np.float64), b.astype(np.float64), equal_nan=True)


def test_arrays_are_exactly_representable_in_their_dtype():
    for case in _in_dtypes(suites.get("smoke")):
        dtype = case.arrays()[0].dtype
        for array in case.arrays():
            if array is not None:
                assert np.array_equal(array, array.astype(np.float64).astype(dtype), equal_nan=True)


def test_arrays_have_mixed_signs_and_kernels_without_symmetry():
    for case in _in_dtypes(suites.get("smoke") + suites.get("random", size=100)):
        x, w, bias = case.arrays()
        # Among the values drawn: `nonfinite` cases plant up to 3 non-finite values in x and a zero in w,
        # `nonfinite_weights` ones 2 in w and a zero in x (drawn values are never exactly zero).
        planted = {"nonfinite": (3, 1), "nonfinite_weights": (1, 2)}.get(case.values, (0, 0))
        for array, count in zip((x, w), planted):
            drawn = array.astype(np.float64)
            drawn = drawn[np.isfinite(drawn) & (drawn != 0)]
            if array.size - count >= 2:
                assert (drawn > 0).any() and (drawn < 0).any(), case.id
        w64 = w.astype(np.float64)
        if bias is not None and bias.size >= 2:
            assert (bias.astype(np.float64) > 0).any() and (bias.astype(np.float64) < 0).any(), case.id
        for axis, k in enumerate(case.kernel_size):
            if k > 1:  # no mirror symmetry along any kernel axis: a flipped kernel cannot pass unnoticed
                assert not np.array_equal(w64, np.flip(w64, axis=2 + axis)), case.id


def test_arrays_are_the_same_in_another_process():
    case = make_case(input_size=(3, 4), kernel_size=2, in_channels=3, out_channels=2, bias=True,
                     dtype="bfloat16", values="nonfinite", seed=11)
    code = (
        "import hashlib, numpy as np\n"
        "from convt_oracle.cases.model import Case\n"
        f"case = Case.from_dict({case.to_dict()!r})\n"
        "print(hashlib.sha256(b''.join(a.astype(np.float64).tobytes() for a in case.arrays())).hexdigest())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    here = hashlib.sha256(b"".join(a.astype(np.float64).tobytes() for a in case.arrays())).hexdigest()
    assert other.stdout.strip() == here


def test_nonfinite_values_put_inf_minus_inf_and_nan_in_x_only():
    case = make_case(input_size=(3, 4), kernel_size=2, in_channels=2, out_channels=3, bias=True,
                     values="nonfinite", seed=5)
    for dtype in DTYPES:
        x, w, bias = case.with_dtype(dtype).arrays()
        x64 = x.astype(np.float64)
        assert np.isposinf(x64).any() and np.isneginf(x64).any() and np.isnan(x64).any()
        assert np.isfinite(w.astype(np.float64)).all() and np.isfinite(bias.astype(np.float64)).all()


@pytest.mark.parametrize("dtype, largest", [("float16", 65504.0), ("bfloat16", float(ml_dtypes.finfo(ml_dtypes.bfloat16).max))])
def test_large_values_overflow_float16_and_bfloat16_but_are_finite_inputs(dtype, largest):
    cases = [case for case in suites.get("edge") if case.values == "large" and case.dtype == dtype]
    assert cases
    for case in cases:
        x, w, bias = case.arrays()
        assert all(np.isfinite(a.astype(np.float64)).all() for a in (x, w) + ((bias,) if bias is not None else ()))
        exact = convt_oracle.conv_transpose(x, w, bias, **case.params())
        assert np.abs(exact).max() > largest, case.name


def test_large_values_in_float32_and_float64_are_large_but_finite():
    case = make_case(input_size=(4, 5), kernel_size=3, in_channels=4, out_channels=3, values="large", seed=3)
    for dtype in ("float32", "float64"):
        x, w, _ = case.with_dtype(dtype).arrays()
        exact = convt_oracle.conv_transpose(x, w, **case.params())
        assert np.isfinite(exact).all() and np.abs(exact).max() > 65504.0


# --- validity --------------------------------------------------------------------------------------------


def test_invalid_cases_carry_the_goldens_own_reason():
    for case in suites.get("invalid"):
        assert not case.valid and case.reason, case.name
        x, w, bias = case.with_dtype("float64").arrays()
        with pytest.raises((ValueError, TypeError)) as raised:
            convt_oracle.conv_transpose(x, w, bias, output_size=case.requested_output_size or None, **case.params())
        assert str(raised.value) == case.reason, case.name


def test_valid_cases_have_no_reason():
    for case in suites.get("edge"):
        assert case.valid and case.reason == "", case.name
