"""onnxruntime: an in-memory ONNX ConvTranspose model (adapters/_onnx_model.py) on the CPU execution provider.

- dtypes: float32 and float16. The CPU provider has no float64 and no bfloat16 ConvTranspose kernel
  (session creation fails with NOT_IMPLEMENTED, onnxruntime 1.32.0); float16 runs through the float32
  kernel (onnxruntime inserts casts around it), so it accumulates in float32.
- 1-, 2- and 3-d, groups, dilation, bias (input B), asymmetric pads; modes as in adapters/_onnx_model.py.
- One InferenceSession per model signature (dtype, shapes, bias, attributes), kept in an LRU cache:
  creating one costs 3-5 ms, running a small case ~30 us.
- No autodiff.
"""

from __future__ import annotations

from convt_oracle.adapters._onnx_model import OnnxAdapter


class OnnxRuntimeAdapter(OnnxAdapter):
    name = "onnxruntime"
    framework = "onnxruntime"
    dtypes = ("float16", "float32")

    def unsupported(self, case):
        if case.dtype in ("float64", "bfloat16"):
            return f"onnxruntime's CPU provider has no {case.dtype} ConvTranspose kernel (NOT_IMPLEMENTED)"
        return super().unsupported(case)

    def load(self):
        if self._framework is None:
            ort = super().load()
            ort.set_default_logger_severity(3)  # errors only: a refused case raises, and the oracle reports it
        return self._framework

    def compile(self, model):
        ort = self.load()
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def execute(self, session, feeds):
        return session.run(None, feeds)[0]
