"""The adapter base's search over a framework's spellings of a crop (adapters/base.py, `spell`), without a
framework: spellings here are made up, their paddings written by hand."""

from __future__ import annotations

from convt_oracle.adapters.base import Spelling, case_padding, spell
from convt_oracle.arithmetic import AxisPadding
from convt_oracle.cases.model import make_case

# Full sizes 7 and 5 (i 3 and 2, k 3 and 2, stride 2 and 3); the case keeps full[1:6] and full[0:5].
CASE = make_case(input_size=(3, 2), kernel_size=(3, 2), stride=(2, 3), padding=((1, 1), (0, 0)), dtype="float32")


def fixed(label, per_axis, argument):
    """A spelling with one value per axis, giving the paddings `per_axis`."""
    return Spelling(label, lambda axis: [(argument, per_axis[axis])], call=lambda values: argument)


def test_the_first_spelling_that_selects_the_case_s_elements_wins_and_says_nothing():
    wrong = fixed("'A'", [AxisPadding(0, 0, 0), AxisPadding(0, 0, 0)], "A")
    # (1, 0, -) with output_padding 0 keeps full[1:7], one more: not the case; (1, 2, 1) keeps full[1:6]: it is
    longer = fixed("'B'", [AxisPadding(1, 0, 0), AxisPadding(0, 0, 0)], "B")
    same = fixed("'C'", [AxisPadding(1, 2, 1), AxisPadding(0, 1, 1)], "C")
    later = fixed("'D'", [AxisPadding(1, 1, 0), AxisPadding(0, 0, 0)], "D")
    found = spell(CASE, [wrong, longer, same, later])
    assert found.argument == "C" and found.tried == ""


def test_per_axis_choices_are_searched_axis_by_axis():
    def options(axis):  # output_padding 0, 1, 2 appended after a crop of (1, 2) on axis 0, nothing on axis 1
        for op in range(3):
            yield op, AxisPadding(1, 2, op) if axis == 0 else AxisPadding(0, 0, op)

    found = spell(CASE, [Spelling("ops", options, call=lambda ops: ("ops", ops))])
    assert found.argument == ("ops", (1, 0))


def test_no_spelling_says_what_each_gave_and_what_the_case_needs():
    def many(axis):
        return [(op, AxisPadding(0, 0, op)) for op in range(2)]

    found = spell(CASE, [
        fixed("'A'", [AxisPadding(0, 0, 0), AxisPadding(0, 0, 0)], "A"),
        fixed("'B'", [AxisPadding(1, 1, 0), "size 9 is not accepted"], "B"),
        Spelling("ops", many),
    ])
    assert found.argument is None
    assert found.tried.split("; ") == [
        "'A' gives (0, 0) op 0 on axis 0",
        "'B' gives an error (size 9 is not accepted) on axis 1",
        "ops: none of its 2 choices gives axis 0's crop",
        "the case's padding is [(1, 1) op 0, (0, 0) op 0]",
    ]


def test_case_padding_is_the_least_form():
    case = make_case(input_size=(3,), kernel_size=(3,), stride=2, padding=((1, 1),), output_padding=(2,), dtype="float32")
    assert case_padding(case) == [AxisPadding(1, 0, 1)]  # full[1:8] of 7: one zero past the end
