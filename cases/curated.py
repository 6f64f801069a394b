"""The curated suites: named cases with fixed seeds, each chosen for what it tests.

`article` (the source article's examples), `arithmetic` (Dumoulin & Visin's output-size relationships 8-14,
plus dilation), `onnx` (the parameters of ONNX's named ConvTranspose node cases), `edge` (corners of the
parameter space) and `invalid` (configurations every framework should reject, convt_oracle.cases.invalid).
Each function takes the suites' `seed` argument and ignores it. convt_oracle.cases.suites registers them by name.
"""

from __future__ import annotations

from convt_oracle import arithmetic as _arithmetic
from convt_oracle.cases import article as _article
from convt_oracle.cases import invalid as _invalid
from convt_oracle.cases.model import Case, make_case


def article(seed: int = 0) -> list[Case]:
    """The source article's cases: TF 'SAME' 2x2 -> 4x4, unit stride 2x2 -> 4x4, stride 2 3x3 -> 5x5."""
    del seed  # curated: fixed seeds
    return [
        make_case(
            name="article-tf-same-2x2-to-4x4",
            input_size=_article.INPUT.shape,
            kernel_size=_article.KERNEL.shape,
            stride=_article.STRIDE,
            mode="same",
            seed=1,
        ),
        make_case(name="article-unit-stride-2x2-to-4x4", input_size=(2, 2), kernel_size=(3, 3), seed=2),
        make_case(name="article-stride-2-3x3-to-5x5", input_size=(3, 3), kernel_size=(3, 3), stride=2, padding=1, seed=3),
    ]


# Dumoulin & Visin, "A guide to convolution arithmetic", relationships 8-14 (docs/conventions.md): the transposed
# conv of a forward conv with kernel k, stride s, padding p crops p at both ends. Each row: name, kernel,
# stride, padding, output_padding (the relationship's `a`), dilation, input size i' (two different sizes,
# one per axis) and the output size o' the relationship gives, worked out by hand for each axis.
ARITHMETIC = (
    ("dv-8-unit-stride-no-padding", 3, 1, 0, 0, 1, (2, 3), (4, 5)),  # o' = i' + (k-1)
    ("dv-9-unit-stride-padding", 4, 1, 2, 0, 1, (6, 7), (5, 6)),  # o' = i' + (k-1) - 2p
    ("dv-10-half-padding", 3, 1, 1, 0, 1, (5, 6), (5, 6)),  # o' = i'
    ("dv-11-full-padding", 3, 1, 2, 0, 1, (7, 8), (5, 6)),  # o' = i' - (k-1)
    ("dv-12-stride-no-padding", 3, 2, 0, 0, 1, (2, 3), (5, 7)),  # o' = s(i'-1) + k
    ("dv-13-stride-padding", 3, 2, 1, 0, 1, (3, 4), (5, 7)),  # o' = s(i'-1) + k - 2p
    ("dv-14-stride-padding-a", 3, 2, 1, 1, 1, (3, 4), (6, 8)),  # o' = s(i'-1) + a + k - 2p
    # Dilation d: the same relationships with k replaced by the effective kernel d(k-1) + 1 = 5.
    ("dv-8-dilated", 3, 1, 0, 0, 2, (3, 4), (7, 8)),  # o' = i' + (5-1)
    ("dv-10-dilated-half-padding", 3, 1, 2, 0, 2, (5, 6), (5, 6)),  # p = (5-1)/2: o' = i'
    ("dv-13-dilated-stride-padding", 3, 2, 1, 0, 2, (3, 4), (7, 9)),  # o' = 2(i'-1) + 5 - 2
    ("dv-14-dilated-stride-padding-a", 3, 2, 2, 1, 2, (3, 4), (6, 8)),  # o' = 2(i'-1) + 1 + 5 - 4
)


def arithmetic(seed: int = 0) -> list[Case]:
    """One case per Dumoulin & Visin relationship 8-14 (and dilated variants), 2-d with 2 -> 3 channels."""
    del seed
    cases = [
        make_case(
            name=name, input_size=size, kernel_size=k, stride=s, padding=p, output_padding=a, dilation=d,
            in_channels=2, out_channels=3, seed=index,
        )
        for index, (name, k, s, p, a, d, size, _) in enumerate(ARITHMETIC, start=1)
    ]
    # Half padding is what 'SAME' means at unit stride.
    cases.append(
        make_case(name="dv-10-half-padding-as-same", input_size=(5, 6), kernel_size=3, mode="same",
                  in_channels=2, out_channels=3, seed=len(cases) + 1)
    )
    return cases


# ONNX's named ConvTranspose node cases, onnx/backend/test/case/node/convtranspose.py (onnx 1.23.2): the
# shapes of X and W and the node's attributes, copied as literals (onnx is not imported). The values of
# X and W there are not used: a Case draws its own from its seed.
ONNX = (
    ("onnx-convtranspose", (1, 1, 3, 3), (1, 2, 3, 3), {}),
    ("onnx-convtranspose_1d", (1, 1, 3), (1, 2, 3), {}),
    ("onnx-convtranspose_3d", (1, 1, 3, 4, 5), (1, 2, 3, 3, 3), {}),
    ("onnx-convtranspose_output_shape", (1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], output_shape=[10, 8])),
    ("onnx-convtranspose_pad", (1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], output_padding=[1, 1])),
    (
        "onnx-convtranspose_kernel_shape",
        (1, 1, 3, 3),
        (1, 2, 3, 3),
        dict(strides=[3, 2], output_shape=[10, 8], kernel_shape=[3, 3], output_padding=[1, 1]),
    ),
    ("onnx-convtranspose_pads", (1, 1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], pads=[1, 2, 1, 2])),
    ("onnx-convtranspose_dilations", (1, 1, 3, 3), (1, 1, 2, 2), dict(dilations=[2, 2])),
    ("onnx-convtranspose_autopad_same", (1, 1, 3, 3), (1, 2, 3, 3), dict(auto_pad="SAME_UPPER", strides=[2, 2])),
    ("onnx-convtranspose_group_2", (1, 2, 3, 3), (2, 1, 3, 3), dict(group=2)),
    ("onnx-convtranspose_group_2_image_3", (3, 2, 3, 3), (2, 1, 3, 3), dict(group=2)),
)


def _onnx_case(name: str, x_shape, w_shape, attributes: dict, seed: int) -> Case | None:
    """The canonical Case of one ONNX node case, or None if its padding has a negative begin."""
    batch, in_channels, *input_size = x_shape
    _, cog, *kernel = w_shape
    rank, groups = len(input_size), attributes.get("group", 1)
    stride = attributes.get("strides", [1] * rank)
    dilation = attributes.get("dilations", [1] * rank)
    pads = attributes.get("pads", [0] * 2 * rank)  # ONNX order: every begin, then every end
    output_padding = attributes.get("output_padding", [0] * rank)
    output_shape = attributes.get("output_shape")
    auto_pad = attributes.get("auto_pad", "NOTSET")
    axes = [
        _arithmetic.onnx_padding(
            input_size[j], kernel[j], stride[j], dilation[j], auto_pad=auto_pad, pads=(pads[j], pads[rank + j]),
            output_padding=output_padding[j], output_shape=None if output_shape is None else output_shape[j],
        )
        for j in range(rank)
    ]
    if any(axis.begin < 0 for axis in axes):
        # Zeros before the full result (output_shape past it, split toward the start): not a crop, so no
        # canonical Case can carry it. None of the cases above does this today.
        return None
    common = dict(
        name=name, batch=batch, in_channels=in_channels, out_channels=cog * groups, groups=groups,
        input_size=tuple(input_size), kernel_size=tuple(kernel), stride=tuple(stride), dilation=tuple(dilation),
        seed=seed,
    )
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        same = make_case(mode="same", **common)
        if same.padding == tuple((a.begin, a.end) for a in axes) and same.output_padding == tuple(
            a.output_padding for a in axes
        ):
            return same
    return make_case(
        mode="output_shape" if output_shape is not None else "explicit",
        padding=tuple((a.begin, a.end) for a in axes),
        output_padding=tuple(a.output_padding for a in axes),
        **common,
    )


def onnx(seed: int = 0) -> list[Case]:
    """The parameters of ONNX's named ConvTranspose node cases, in canonical padding."""
    del seed
    cases = [_onnx_case(name, x, w, attributes, index) for index, (name, x, w, attributes) in enumerate(ONNX, 1)]
    return [case for case in cases if case is not None]


def edge(seed: int = 0) -> list[Case]:
    """Corners of the parameter space, each named for what it tests."""
    del seed
    c = make_case
    return [
        # Stride larger than the effective kernel: output positions no tap reaches (zero, plus bias).
        c(name="edge-stride-gt-kernel-2d", input_size=(3, 4), kernel_size=(2, 1), stride=(3, 2),
          in_channels=2, out_channels=3, seed=1),
        c(name="edge-stride-gt-dilated-kernel-1d", input_size=4, kernel_size=2, dilation=2, stride=4,
          in_channels=3, out_channels=2, bias=True, seed=2),
        # Kernel larger than the input.
        c(name="edge-kernel-larger-than-input-2d", input_size=(1, 2), kernel_size=(3, 4), stride=(2, 1),
          in_channels=3, out_channels=2, seed=3),
        c(name="edge-kernel-larger-than-input-3d", input_size=(2, 1, 3), kernel_size=(3, 2, 4),
          padding=((1, 1), (0, 1), (2, 0)), in_channels=2, out_channels=3, bias=True, seed=4),
        # 1x1 kernels: at unit stride a per-pixel channel mix; strided, zeros between the pixels.
        c(name="edge-kernel-1x1-2d", input_size=(3, 5), kernel_size=1, in_channels=4, out_channels=3,
          bias=True, seed=5),
        c(name="edge-kernel-1x1-stride-2x3", input_size=(4, 3), kernel_size=1, stride=(2, 3),
          in_channels=2, out_channels=3, seed=6),
        c(name="edge-kernel-1x1x1-3d-grouped", input_size=(2, 3, 4), kernel_size=1, groups=2,
          in_channels=4, out_channels=6, seed=7),
        # output_padding up to max(stride, dilation) - 1 (torch's limit), within the full result...
        c(name="edge-output-padding-max-stride-1d", input_size=4, kernel_size=3, stride=3, padding=2,
          output_padding=2, in_channels=2, out_channels=3, seed=8),
        c(name="edge-output-padding-max-dilation-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2),
          dilation=(3, 2), padding=2, output_padding=(2, 1), in_channels=3, out_channels=2, seed=9),
        # ... and past the full extent: zeros (plus bias) after the full result.
        c(name="edge-output-padding-past-full-1d", input_size=3, kernel_size=2, stride=3, output_padding=2,
          in_channels=2, out_channels=3, bias=True, seed=10),
        c(name="edge-output-padding-past-full-beyond-max-stride-2d", input_size=(3, 2), kernel_size=(2, 3),
          stride=(2, 1), padding=((1, 0), (0, 1)), output_padding=(3, 2), in_channels=2, out_channels=3,
          bias=True, seed=11),
        # Crops that leave one pixel.
        c(name="edge-crop-leaves-one-pixel-1d", input_size=2, kernel_size=3, padding=((1, 2),),
          in_channels=2, out_channels=3, seed=12),
        c(name="edge-crop-leaves-one-pixel-2d", input_size=(3, 2), kernel_size=(2, 3), stride=(2, 1),
          padding=((2, 3), (1, 2)), in_channels=3, out_channels=2, bias=True, seed=13),
        c(name="edge-crop-to-nothing-plus-output-padding-one", input_size=(2, 3), kernel_size=(2, 2),
          padding=((1, 2), (0, 0)), output_padding=(1, 0), in_channels=2, out_channels=3, bias=True, seed=14),
        c(name="edge-crop-into-interior-1d", input_size=5, kernel_size=2, stride=2, padding=((3, 4),),
          in_channels=3, out_channels=2, seed=15),
        # Depthwise and grouped, with bias.
        c(name="edge-depthwise-multiplier-2-bias-2d", input_size=(4, 5), kernel_size=(3, 2), stride=2,
          groups=4, in_channels=4, out_channels=8, bias=True, seed=16),
        c(name="edge-depthwise-multiplier-1-bias-1d", input_size=6, kernel_size=3, stride=2, padding=1,
          groups=3, in_channels=3, out_channels=3, bias=True, seed=17),
        c(name="edge-grouped-bias-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1),
          padding=((1, 0), (1, 1)), groups=2, in_channels=6, out_channels=4, bias=True, seed=18),
        c(name="edge-grouped-bias-3d", input_size=(2, 3, 4), kernel_size=(2, 1, 3), stride=(2, 1, 1),
          groups=3, in_channels=6, out_channels=9, bias=True, seed=19),
        # Batch > 1.
        c(name="edge-batch-3-grouped-2d", batch=3, input_size=(3, 4), kernel_size=(3, 2), stride=(2, 1),
          groups=2, in_channels=4, out_channels=6, bias=True, seed=20),
        # Non-square everything: every per-axis parameter differs between axes.
        c(name="edge-non-square-everything-3d", batch=2, input_size=(2, 4, 3), kernel_size=(3, 1, 2),
          stride=(2, 3, 1), dilation=(1, 3, 2), padding=((1, 0), (0, 0), (1, 2)), output_padding=(1, 2, 0),
          in_channels=2, out_channels=3, bias=True, seed=21),
        # Long reductions (>= 512 products per output element), as configurations: every dtype.
        c(name="edge-long-reduction-2d", input_size=(5, 6), kernel_size=(4, 4), in_channels=36, out_channels=3,
          seed=22),
        c(name="edge-long-reduction-1x1", input_size=(2, 3), kernel_size=1, in_channels=520, out_channels=2,
          seed=23),
        c(name="edge-long-reduction-grouped-bias-1d", input_size=8, kernel_size=6, groups=2, in_channels=200,
          out_channels=4, bias=True, seed=24),
        c(name="edge-long-reduction-depthwise-1d", input_size=520, kernel_size=520, groups=2, in_channels=2,
          out_channels=4, seed=25),
        # Results that overflow float16 and bfloat16 (values scaled for each dtype, see Case.arrays).
        c(name="edge-overflow-float16", input_size=(4, 5), kernel_size=3, stride=2, in_channels=4,
          out_channels=3, values="large", dtype="float16", seed=26),
        c(name="edge-overflow-bfloat16", input_size=(4, 5), kernel_size=3, stride=2, in_channels=4,
          out_channels=3, values="large", dtype="bfloat16", seed=27),
        c(name="edge-overflow-float16-long-reduction", input_size=(3, 4), kernel_size=(4, 4), in_channels=40,
          out_channels=2, bias=True, values="large", dtype="float16", seed=28),
        c(name="edge-overflow-bfloat16-bias-1d", input_size=5, kernel_size=3, in_channels=3, out_channels=2,
          bias=True, values="large", dtype="bfloat16", seed=29),
        # Inputs containing inf and NaN.
        c(name="edge-nonfinite-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2), in_channels=2,
          out_channels=3, bias=True, values="nonfinite", seed=30),
        c(name="edge-nonfinite-stride-gt-kernel-1d", input_size=5, kernel_size=2, stride=3, in_channels=3,
          out_channels=2, values="nonfinite", seed=31),
        # Weights and bias containing inf and NaN; positions no tap reaches must keep the bias alone.
        c(name="edge-nonfinite-weights-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(1, 2), in_channels=3,
          out_channels=2, bias=True, values="nonfinite_weights", seed=37),
        c(name="edge-nonfinite-weights-stride-gt-kernel-output-padding-past-full-1d", input_size=4,
          kernel_size=2, stride=3, output_padding=2, in_channels=2, out_channels=3, bias=True,
          values="nonfinite_weights", seed=38),
        # Many output channels per group (past the 4, 8 and 16 lanes of vectorized kernels).
        c(name="edge-wide-output-channels-2d", input_size=(3, 4), kernel_size=(2, 3), stride=(2, 1), padding=1,
          in_channels=3, out_channels=17, bias=True, seed=39),
        c(name="edge-wide-output-channels-grouped-1d", batch=2, input_size=5, kernel_size=3, stride=2,
          groups=2, in_channels=4, out_channels=66, bias=True, seed=40),
        c(name="edge-wide-output-channels-3d", input_size=(2, 3, 2), kernel_size=(2, 1, 2), stride=(1, 2, 1),
          in_channels=2, out_channels=9, seed=41),
        # Padding modes at their corners.
        c(name="edge-same-odd-total-crop", input_size=(3, 4), kernel_size=(4, 3), stride=(1, 2), mode="same",
          in_channels=2, out_channels=3, seed=32),
        c(name="edge-same-stride-gt-kernel", input_size=(3, 2), kernel_size=(1, 2), stride=(2, 3), mode="same",
          in_channels=3, out_channels=2, seed=33),
        c(name="edge-valid-stride-gt-kernel", input_size=4, kernel_size=2, stride=3, mode="valid",
          in_channels=2, out_channels=3, seed=34),
        _tf_output_shape_case("edge-tf-output-shape-smaller-of-two", (4, 3), 3, 2, (7, 5), seed=35),
        c(name="edge-input-size-one", input_size=(1, 1), kernel_size=(2, 3), stride=(2, 3), in_channels=3,
          out_channels=2, bias=True, seed=36),
    ]


def _tf_output_shape_case(name, input_size, k, s, sizes, seed) -> Case:
    """A TF 'SAME' output_shape case asking for `sizes` (TF accepts several sizes for one input)."""
    axes = [_arithmetic.output_shape_padding(i, k, s, 1, "SAME", n) for i, n in zip(input_size, sizes)]
    return make_case(
        name=name, input_size=input_size, kernel_size=k, stride=s, mode="output_shape", in_channels=2,
        out_channels=3, padding=tuple((a.begin, a.end) for a in axes),
        output_padding=tuple(a.output_padding for a in axes), seed=seed,
    )


def invalid(seed: int = 0) -> list[Case]:
    """Configurations every framework should reject, each with its defect and the golden's reason
    (convt_oracle.cases.invalid)."""
    del seed
    return _invalid.invalid()
