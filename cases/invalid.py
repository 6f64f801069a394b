"""The invalid suite: configurations every framework should reject, each named, with a fixed seed, and
with what is wrong with it (`Case.defect`, one of convt_oracle.cases.model.DEFECTS) and the golden's
message for it (`Case.reason`).

Every kind of defect is here: attributes that are zero, negative, not ints or past int64; crops that leave
no output; a bias of the wrong length, a weight whose channels do not match x, x and w of different ranks,
zero-size axes, an output_shape the input does not give, groups that divide neither channel count.

Most cases are asked with padding 'valid' or 'same', or with no crop at all, in 2-d: those are what every
adapter can ask (Keras has padding strings only, torch with channels_last has 2-d and 3-d only), so that
each framework is asked most of them. A framework whose API cannot state a defect (no groups argument, no
output size, an attribute past int64 in an ONNX model) reports the case `unsupported`, with why.

Huge values are powers of two of 2**31 and more: wrapped in int32 or int64 arithmetic they leave an output
size that is negative or small, so that a framework that wrongly accepts one has little to allocate.
"""

from __future__ import annotations

from convt_oracle.cases.model import Case, make_case

BIG = 2**63  # one past int64


def invalid() -> list[Case]:
    """The invalid suite, in a fixed order."""
    c = make_case
    cases = [
        # --- groups that do not divide the channels ---
        c(name="invalid-in-channels-not-divisible-by-groups", input_size=(3, 4), kernel_size=(2, 3), groups=2,
          in_channels=3, out_channels=4, defect="groups_not_dividing_in_channels", seed=1),
        # The weight holds out_channels // groups = 2 per group (4 in all); the bias states 5.
        c(name="invalid-out-channels-not-divisible-by-groups-2d", input_size=(3, 4), kernel_size=(2, 2), groups=2,
          in_channels=4, out_channels=5, bias=True, defect="groups_not_dividing_out_channels", seed=11),
        # ... asked with an output size: torch's module takes out_channels, TF's output_shape states it.
        c(name="invalid-out-channels-not-divisible-by-groups-output-shape-1d", input_size=4, kernel_size=3,
          stride=2, groups=2, in_channels=2, out_channels=3, bias=True, mode="output_shape",
          defect="groups_not_dividing_out_channels", seed=12),
        # --- zero attributes ---
        c(name="invalid-zero-groups", input_size=4, kernel_size=2, groups=0, in_channels=2, out_channels=3,
          defect="zero_attribute", seed=2),
        c(name="invalid-zero-stride", input_size=(3, 4), kernel_size=2, stride=(0, 1), in_channels=2,
          out_channels=3, defect="zero_attribute", seed=3),
        c(name="invalid-zero-dilation", input_size=(3, 4), kernel_size=2, dilation=(1, 0), in_channels=2,
          out_channels=3, defect="zero_attribute", seed=5),
        c(name="invalid-zero-stride-valid-3d", input_size=(2, 3, 2), kernel_size=2, stride=(1, 0, 1), mode="valid",
          in_channels=2, out_channels=3, defect="zero_attribute", seed=13),
        c(name="invalid-zero-dilation-valid-2d", input_size=(3, 3), kernel_size=3, dilation=(0, 1), mode="valid",
          in_channels=3, out_channels=2, defect="zero_attribute", seed=14),
        # --- negative attributes ---
        c(name="invalid-negative-stride", input_size=4, kernel_size=2, stride=-2, in_channels=2,
          out_channels=3, defect="negative_attribute", seed=4),
        c(name="invalid-negative-stride-valid-2d", input_size=(3, 4), kernel_size=2, stride=(2, -1), mode="valid",
          in_channels=2, out_channels=3, defect="negative_attribute", seed=15),
        c(name="invalid-negative-dilation-valid-2d", input_size=(3, 4), kernel_size=2, dilation=(-1, 1),
          mode="valid", in_channels=2, out_channels=3, defect="negative_attribute", seed=16),
        c(name="invalid-negative-groups-2d", input_size=(3, 3), kernel_size=2, groups=-1, in_channels=2,
          out_channels=2, defect="negative_attribute", seed=17),
        c(name="invalid-negative-padding-begin", input_size=4, kernel_size=3, padding=((-1, 0),),
          in_channels=2, out_channels=3, defect="negative_attribute", seed=6),
        c(name="invalid-negative-padding-end", input_size=(3, 4), kernel_size=2, padding=((0, 0), (1, -1)),
          in_channels=2, out_channels=3, defect="negative_attribute", seed=7),
        c(name="invalid-negative-output-padding", input_size=4, kernel_size=3, stride=2, padding=1,
          output_padding=-1, in_channels=2, out_channels=3, defect="negative_attribute", seed=8),
        c(name="invalid-negative-output-padding-no-crop-2d", input_size=(3, 4), kernel_size=2, stride=2,
          output_padding=(0, -1), in_channels=2, out_channels=3, defect="negative_attribute", seed=18),
        # --- crops that leave nothing ---
        c(name="invalid-crop-leaves-zero", input_size=2, kernel_size=2, padding=((2, 1),), in_channels=2,
          out_channels=3, defect="empty_output", seed=9),
        c(name="invalid-crop-leaves-negative-2d", input_size=(2, 3), kernel_size=(3, 2), padding=((3, 3), (0, 0)),
          in_channels=2, out_channels=3, defect="empty_output", seed=10),
        # --- a bias of the wrong length (never 0 or 1 element: those broadcast) ---
        c(name="invalid-bias-one-too-long-2d", input_size=(3, 4), kernel_size=2, mode="valid", in_channels=2,
          out_channels=3, bias=True, bias_elements=4, defect="bias_length", seed=19),
        c(name="invalid-bias-one-too-short-same-2d", input_size=(3, 3), kernel_size=3, mode="same", in_channels=2,
          out_channels=4, bias=True, bias_elements=3, defect="bias_length", seed=20),
        c(name="invalid-bias-too-long-1d", input_size=5, kernel_size=2, in_channels=2, out_channels=2, bias=True,
          bias_elements=5, defect="bias_length", seed=21),
        c(name="invalid-bias-too-short-valid-3d", input_size=(2, 2, 3), kernel_size=2, mode="valid", in_channels=2,
          out_channels=3, bias=True, bias_elements=2, defect="bias_length", seed=22),
        c(name="invalid-bias-length-grouped-2d", input_size=(3, 3), kernel_size=2, mode="valid", groups=2,
          in_channels=4, out_channels=4, bias=True, bias_elements=6, defect="bias_length", seed=23),
        # --- a weight whose input channels are not x's ---
        c(name="invalid-weight-one-more-in-channel-2d", input_size=(3, 4), kernel_size=2, mode="valid",
          in_channels=2, out_channels=3, weight_in_channels=3, defect="weight_in_channels", seed=24),
        c(name="invalid-weight-one-fewer-in-channel-same-2d", input_size=(3, 3), kernel_size=3, mode="same",
          in_channels=3, out_channels=2, weight_in_channels=2, defect="weight_in_channels", seed=25),
        c(name="invalid-weight-in-channels-1d", input_size=5, kernel_size=3, in_channels=2, out_channels=3,
          weight_in_channels=4, defect="weight_in_channels", seed=26),
        c(name="invalid-weight-in-channels-valid-3d", input_size=(2, 3, 2), kernel_size=2, mode="valid",
          in_channels=2, out_channels=2, weight_in_channels=1, defect="weight_in_channels", seed=27),
        c(name="invalid-weight-in-channels-grouped-2d", input_size=(3, 3), kernel_size=2, mode="valid", groups=2,
          in_channels=4, out_channels=4, weight_in_channels=6, defect="weight_in_channels", seed=28),
        # --- x and w of different ranks (attributes: one per axis of x) ---
        c(name="invalid-rank-x-2d-kernel-3d", input_size=(3, 4), kernel_size=(2, 2, 2), in_channels=2,
          out_channels=3, defect="rank_mismatch", seed=29),
        c(name="invalid-rank-x-3d-kernel-2d", input_size=(2, 3, 4), kernel_size=(2, 2), in_channels=2,
          out_channels=3, defect="rank_mismatch", seed=30),
        c(name="invalid-rank-x-2d-kernel-1d", input_size=(3, 4), kernel_size=(2,), in_channels=2, out_channels=2,
          defect="rank_mismatch", seed=31),
        c(name="invalid-rank-x-1d-kernel-2d", input_size=(4,), kernel_size=(2, 2), in_channels=2, out_channels=2,
          defect="rank_mismatch", seed=32),
        # --- zero-size axes ---
        c(name="invalid-zero-input-size-2d", input_size=(0, 4), kernel_size=2, mode="valid", in_channels=2,
          out_channels=3, defect="zero_size", seed=33),
        c(name="invalid-zero-input-size-3d", input_size=(2, 0, 3), kernel_size=2, mode="valid", in_channels=2,
          out_channels=2, defect="zero_size", seed=34),
        c(name="invalid-zero-input-size-1d", input_size=0, kernel_size=2, in_channels=2, out_channels=3,
          defect="zero_size", seed=35),
        c(name="invalid-zero-in-channels-2d", input_size=(3, 4), kernel_size=2, mode="valid", in_channels=0,
          out_channels=3, defect="zero_size", seed=36),
        c(name="invalid-zero-out-channels-2d", input_size=(3, 4), kernel_size=2, mode="valid", in_channels=2,
          out_channels=0, defect="zero_size", seed=37),
        c(name="invalid-zero-kernel-size-2d", input_size=(3, 4), kernel_size=(0, 2), in_channels=2, out_channels=3,
          defect="zero_size", seed=38),
        # --- an output_shape the input does not give (past the full result plus stride - 1, or below 1) ---
        # full result (7, 9): torch and TF take (7..8, 9..10) with no crop, ONNX at most (7, 9) + output_padding
        c(name="invalid-output-shape-past-full-2d", input_size=(3, 4), kernel_size=3, stride=2, mode="output_shape",
          in_channels=2, out_channels=3, requested_output_size=(9, 9), defect="output_shape_inconsistent", seed=39),
        c(name="invalid-output-shape-far-past-full-1d", input_size=4, kernel_size=3, stride=2, mode="output_shape",
          in_channels=2, out_channels=3, requested_output_size=(30,), defect="output_shape_inconsistent", seed=40),
        c(name="invalid-output-shape-zero-1d", input_size=4, kernel_size=3, stride=2, mode="output_shape",
          in_channels=2, out_channels=3, requested_output_size=(0,), defect="output_shape_inconsistent", seed=41),
        c(name="invalid-output-shape-negative-2d", input_size=(3, 4), kernel_size=2, mode="output_shape",
          in_channels=2, out_channels=3, requested_output_size=(-1, 5), defect="output_shape_inconsistent", seed=42),
        c(name="invalid-output-shape-past-full-3d", input_size=(2, 2, 2), kernel_size=2, mode="output_shape",
          in_channels=2, out_channels=2, requested_output_size=(3, 3, 9), defect="output_shape_inconsistent",
          seed=43),
        # --- attributes that are not ints (a float equal to an int included) ---
        c(name="invalid-fractional-stride-valid-2d", input_size=(3, 4), kernel_size=2, stride=(1.5, 1), mode="valid",
          in_channels=2, out_channels=3, defect="non_integer_attribute", seed=44),
        c(name="invalid-float-stride-valid-2d", input_size=(3, 4), kernel_size=3, stride=(2.0, 2.0), mode="valid",
          in_channels=2, out_channels=3, defect="non_integer_attribute", seed=45),
        c(name="invalid-float-stride-valid-3d", input_size=(2, 3, 2), kernel_size=2, stride=(2, 1.0, 1),
          mode="valid", in_channels=2, out_channels=2, defect="non_integer_attribute", seed=46),
        c(name="invalid-fractional-dilation-valid-2d", input_size=(3, 4), kernel_size=3, dilation=(1, 1.5),
          mode="valid", in_channels=2, out_channels=3, defect="non_integer_attribute", seed=47),
        c(name="invalid-fractional-padding-2d", input_size=(3, 4), kernel_size=3, padding=((0.5, 0.5), (0, 0)),
          in_channels=2, out_channels=3, defect="non_integer_attribute", seed=48),
        c(name="invalid-fractional-output-padding-1d", input_size=4, kernel_size=3, stride=2, output_padding=(0.5,),
          in_channels=2, out_channels=3, defect="non_integer_attribute", seed=49),
        c(name="invalid-float-groups-2d", input_size=(3, 3), kernel_size=2, groups=2.0, in_channels=4,
          out_channels=4, defect="non_integer_attribute", seed=50),
        # --- huge attributes ---
        c(name="invalid-stride-2-63-2d", input_size=(1, 3), kernel_size=2, stride=(BIG, 1), in_channels=2,
          out_channels=3, defect="huge_attribute", seed=51),
        c(name="invalid-stride-2-64-1d", input_size=1, kernel_size=3, stride=2 * BIG, in_channels=2, out_channels=2,
          defect="huge_attribute", seed=52),
        # (3-1) * 2**62 = 2**63: the output size passes int64
        c(name="invalid-stride-overflows-int64-output-2d", input_size=(3, 3), kernel_size=2, stride=(2**62, 1),
          in_channels=2, out_channels=3, defect="huge_attribute", seed=53),
        c(name="invalid-stride-2-63-3d", input_size=(2, 1, 2), kernel_size=2, stride=(1, BIG, 1), in_channels=2,
          out_channels=2, defect="huge_attribute", seed=54),
        # kernel 1 on that axis: the dilation changes nothing there, only its value is wrong
        c(name="invalid-dilation-2-63-2d", input_size=(3, 4), kernel_size=(1, 2), dilation=(BIG, 1), in_channels=2,
          out_channels=3, defect="huge_attribute", seed=55),
        c(name="invalid-dilation-overflows-int64-output-1d", input_size=3, kernel_size=3, dilation=2**62,
          in_channels=2, out_channels=3, defect="huge_attribute", seed=56),
        # crops of 2 * 2**31 and 2 * 2**40 elements of a 5-element result: wrapped in int32, 5 again
        c(name="invalid-padding-2-31-2d", input_size=(3, 4), kernel_size=3, padding=((2**31, 2**31), (0, 0)),
          in_channels=2, out_channels=3, defect="huge_attribute", seed=57),
        c(name="invalid-padding-2-40-1d", input_size=3, kernel_size=3, padding=2**40, in_channels=2, out_channels=3,
          defect="huge_attribute", seed=58),
        c(name="invalid-padding-2-63-2d", input_size=(3, 4), kernel_size=3, padding=((BIG, 0), (0, 0)),
          in_channels=2, out_channels=3, defect="huge_attribute", seed=59),
        c(name="invalid-output-padding-2-63-1d", input_size=3, kernel_size=3, stride=2, output_padding=BIG,
          in_channels=2, out_channels=3, defect="huge_attribute", seed=60),
        c(name="invalid-groups-2-63-2d", input_size=(3, 3), kernel_size=2, groups=BIG, in_channels=2,
          out_channels=2, defect="huge_attribute", seed=61),
    ]
    named = [case.name for case in cases if case.valid or not case.defect]
    assert not named, f"cases/invalid.py: valid, or no defect named: {named}"
    return cases
