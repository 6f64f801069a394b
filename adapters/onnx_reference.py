"""onnx.reference: onnx's own Python evaluator (`ReferenceEvaluator`) on an in-memory ConvTranspose model.

It implements the operator in numpy (onnx/reference/ops/op_conv_transpose.py, im2col + col2im). Models
and modes as in adapters/_onnx_model.py; one evaluator per model signature.

- dtypes: float16, bfloat16, float32, float64 (all four run; bfloat16 through ml_dtypes).
- Known deviation (tests/test_conventions_onnx.py, test_finding_onnx_reference_ignores_output_shape_unless_same_auto_pad):
  with `output_shape` and auto_pad NOTSET it ignores output_shape for the pads, so `output_shape` cases
  with a positive total padding fail in col2im. They are run, not avoided: the oracle reports them.
- No autodiff.
"""

from __future__ import annotations

from convt_oracle.adapters._onnx_model import OnnxAdapter


class OnnxReferenceAdapter(OnnxAdapter):
    name = "onnx_reference"
    framework = "onnx"
    session_source = (
        "from onnx.reference import ReferenceEvaluator",
        "y = ReferenceEvaluator(model).run(None, feeds)[0]",
    )

    def compile(self, model):
        self.load()
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(model)

    def execute(self, evaluator, feeds):
        return evaluator.run(None, feeds)[0]
