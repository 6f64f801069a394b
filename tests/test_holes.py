"""Holes: output elements no product reaches (zeros, or the bias alone), what the data do not decide.

The rule is convt_oracle.arithmetic.taps_reaching / hole_share; every count below is worked out by hand
from the scatter definition (input j and tap t land on full position j*s + t*d).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from convt_oracle import arithmetic as A
from convt_oracle.cases import coverage as cov
from convt_oracle.cases import generator, suites
from convt_oracle.cases.model import make_case
from convt_oracle.harness.crosscheck import check_case, crosscheck
from support import targets as T


def test_stride_3_kernel_2_input_4_by_hand():
    # Full result (4-1)*3 + 2 = 11 positions; j*3 + t for j < 4, t < 2 reaches 0,1, 3,4, 6,7, 9,10: 8 of 11.
    assert A.taps_reaching(4, 2, 3, 1, 0, 11).tolist() == [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1]
    assert A.covered_fraction(4, 2, 3, 1, 0, 11) == 8 / 11
    assert A.hole_share([(4, 2, 3, 1, 0, 11)]) == pytest.approx(3 / 11)


def test_stride_2_dilation_2_reaches_even_positions_only():
    # i = 3, k = 3, s = 2, d = 2: full 2*2 + 5 = 9; j*2 + t*2 is even: 0..8 even, taps per position
    # 0: (0,0); 2: (1,0),(0,1); 4: (2,0),(1,1),(0,2); 6: (2,1),(1,2); 8: (2,2).
    assert A.taps_reaching(3, 3, 2, 2, 0, 9).tolist() == [1, 0, 2, 0, 3, 0, 2, 0, 1]
    assert A.covered_fraction(3, 3, 2, 2, 0, 9) == 5 / 9


def test_crop_and_output_padding_past_the_full_result():
    # i = 2, k = 1, s = 3: full 4, reached {0, 3}. Crop 1 at the start, 5 outputs (2 past the full result):
    # outputs are full positions 1..5, only 3 is reached (output 2).
    assert A.taps_reaching(2, 1, 3, 1, 1, 5).tolist() == [0, 0, 1, 0, 0]
    assert A.covered_fraction(2, 1, 3, 1, 1, 5) == 1 / 5


def test_a_case_s_hole_share_is_one_minus_the_product_of_its_axes():
    one = make_case(input_size=4, kernel_size=2, stride=3)
    assert one.output_shape[2:] == (11,) and one.hole_share == pytest.approx(3 / 11)
    # Axis 0 as above (8/11 covered), axis 1: i = 2, k = 1, s = 2: full 3, reached {0, 2}: 2/3 covered.
    two = make_case(input_size=(4, 2), kernel_size=(2, 1), stride=(3, 2))
    assert two.hole_share == pytest.approx(1 - (8 / 11) * (2 / 3))
    assert make_case(input_size=(3, 4), kernel_size=3).hole_share == 0.0


def test_max_products_agrees_with_the_taps():
    # The same rule gives the products per element: 2 taps reach a position at most, 3 channels.
    case = make_case(input_size=4, kernel_size=2, stride=1, in_channels=3)
    assert case.max_products == 6


def _generated(name):
    return [case for case in suites.get(name) if case.valid and not case.name]


@pytest.mark.parametrize("name", ["default", "random", "smoke", "exact"])
def test_no_generated_case_is_mostly_holes(name):
    cases = _generated(name)
    assert cases
    mostly = [(case.id, round(case.hole_share, 3)) for case in cases if case.hole_share > cov.MOSTLY_HOLES]
    assert mostly == []


def test_only_the_cases_that_exist_to_test_holes_may_be_and_some_are():
    marked = [case for case in suites.get("default") if case.tests_holes]
    assert {case.name for case in marked} >= {"exact-stride-gt-kernel-holes-1d", "exact-stride-dilation-holes-2d"}
    # stride 4, kernel 1, input 5, output_padding 2: full 17 + 2, 5 of 19 reached. 2-d, inputs 3 and 4,
    # s = d = 2, k = 3: full 9 and 11, the even positions reached: 5 of 9 and 6 of 11.
    shares = {case.name: case.hole_share for case in marked}
    assert shares["exact-stride-gt-kernel-holes-1d"] == pytest.approx(14 / 19)
    assert shares["exact-stride-dilation-holes-2d"] == pytest.approx(1 - (5 / 9) * (6 / 11))


def test_the_generator_redraws_a_configuration_mostly_holes():
    rng = random.Random("holes")
    drawn = [generator.draw(rng, {"stride": ">kernel", "kernel": "1x1"}) for _ in range(400)]
    drawn = [case for case in drawn if case is not None]
    assert len(drawn) >= 5
    assert max(case.hole_share for case in drawn) <= cov.MOSTLY_HOLES


def test_coverage_lists_the_cases_mostly_holes():
    found = cov.coverage(suites.get("default"))
    assert set(found.holes_tests) >= {"exact-stride-gt-kernel-holes-1d", "exact-stride-dilation-holes-2d"}
    # curated cases that are mostly holes without being marked: listed by name (e.g. a 1x1 kernel at stride 2x3:
    # 4 of 7 rows, 3 of 7 columns reached, 1 - 12/49 = 0.755 holes)
    assert "edge-kernel-1x1-stride-2x3" in found.mostly_holes
    assert all(not name.startswith(("1d-", "2d-", "3d-")) for name in found.mostly_holes)  # none generated
    text = found.render()
    assert "mostly holes (> 50% of the output reached by no product)" in text and "edge-kernel-1x1-stride-2x3" in text


def test_a_result_carries_its_holes_in_json_message_and_summary():
    # Full result 10 (input 4, kernel 1, stride 3), plus 2 of output_padding: 12 outputs, 4 reached (0, 3, 6,
    # 9): 8 of 12 holes. The mutant leaves the bias out of the 2 past the full result.
    case = make_case(input_size=4, kernel_size=1, stride=3, output_padding=2, in_channels=2, out_channels=3,
                     bias=True, name="holes-test", dtype="float32")
    assert case.hole_share == pytest.approx(2 / 3)
    report = crosscheck(T.bias_only_where_reached, suite=[case], dtypes=("float32",))
    result = report.results[0]
    assert result.holes == pytest.approx(2 / 3)
    assert json.loads(report.to_json())["results"][0]["holes"] == pytest.approx(2 / 3)
    assert not result.ok and "holes: 66.7% of the output elements receive no product" in result.message
    assert "on outputs mostly holes (> 50% receive no product): 1 results" in report.summary()
    passed = check_case(T.lax_reference, case, "lax")
    assert passed.ok and passed.message == "" and passed.holes == pytest.approx(2 / 3)


def test_an_exact_holes_case_catches_a_kernel_writing_into_the_holes():
    # Holes must hold exactly the bias: a kernel that adds the bias only where a product lands fails.
    case = next(case for case in suites.get("exact") if case.name == "exact-stride-gt-kernel-holes-1d")
    result = check_case(T.bias_only_where_reached, case.with_dtype("bfloat16"), "bias_only_where_reached")
    assert result.outcome == "value_mismatch"
    x, w, bias = case.with_dtype("bfloat16").arrays()
    assert np.count_nonzero(bias.astype(np.float64)) == bias.size  # every channel's holes hold a non-zero bias
