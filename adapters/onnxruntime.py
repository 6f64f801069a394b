"""onnxruntime: an in-memory ONNX ConvTranspose model (adapters/_onnx_model.py) on the CPU execution provider.

- dtypes: float32 and float16. The CPU provider has no float64 and no bfloat16 ConvTranspose kernel
  (docs/OperatorKernels.md; session creation fails with NOT_IMPLEMENTED, onnxruntime 1.32.0): outside the
  documented domain, so such a case is asked and its refusal is `refused`. float16 runs through the
  float32 kernel (onnxruntime inserts casts around it), so it accumulates in float32.
- 1-, 2- and 3-d, groups, dilation, bias (input B), asymmetric pads; modes as in adapters/_onnx_model.py.
- One InferenceSession per model signature (dtype, shapes, bias, attributes), kept in an LRU cache:
  creating one costs 3-5 ms, running a small case ~30 us.
- The models are written for the runtime in use: `load()` asks it for the opset and IR version it reads
  (an older runtime, 1.17 say, refuses the IR version a newer onnx writes by default and knows no opset
  22; ConvTranspose-11 is the same operator for its dtypes). It needs `onnx` in its environment.
- No autodiff.
"""

from __future__ import annotations

import re
import sys

from convt_oracle.adapters._onnx_model import OLDER_OPSET, OPSET, OnnxAdapter, attributes, build_model
from convt_oracle.cases.model import make_case


class OnnxRuntimeAdapter(OnnxAdapter):
    name = "onnxruntime"
    framework = "onnxruntime"
    documented_domain = (
        *OnnxAdapter.documented_domain,
        "float16 and float32 only: the CPU provider has no float64 or bfloat16 ConvTranspose kernel (OperatorKernels.md)",
    )

    def domain(self, case):
        if case.dtype in ("float64", "bfloat16"):
            return (
                f"onnxruntime's CPU execution provider has no {case.dtype} ConvTranspose kernel (its documented "
                "kernels: float16 and float32)"
            )
        return super().domain(case)

    def load(self):
        """onnxruntime, once onnx imports beside it and the models' format is known: a load that fails
        leaves nothing half set, and the next one tries again."""
        if self._framework is None:
            import onnxruntime as ort

            try:
                import onnx
            except ImportError as error:
                raise ImportError(
                    f"the onnxruntime adapter builds its models with onnx, which {sys.executable} cannot import "
                    f"({error}): install onnx >= 1.15 beside onnxruntime {ort.__version__}"
                ) from None
            ort.set_default_logger_severity(3)  # errors only: a refused case raises, and the oracle reports it
            self.model_format = self._model_format(ort, onnx)
            self._framework = ort
        return self._framework

    def _model_format(self, ort, onnx) -> dict:
        """The opset and IR version of the models this runtime loads: onnx's own first; where the runtime
        refuses the IR version, the highest it names; where it knows no opset 22, ConvTranspose-11."""
        case = make_case(input_size=2, kernel_size=2, dtype="float32")
        refusals = []
        for opset in (OPSET, OLDER_OPSET):
            ir_version = None
            for _ in range(2):
                model = build_model(case, attributes(case), opset=opset, ir_version=ir_version)
                try:
                    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
                    return {"opset": opset, "ir_version": ir_version}
                except Exception as error:  # noqa: BLE001 - the runtime's refusal says what it reads
                    refusals.append(f"opset {opset}, IR version {model.ir_version}: {str(error).strip()[-200:]}")
                    highest = re.search(r"max supported IR version: (\d+)", str(error))
                    if highest is None or int(highest.group(1)) >= model.ir_version:
                        break
                    ir_version = int(highest.group(1))
        raise RuntimeError(
            f"onnxruntime {ort.__version__} loads no ConvTranspose model that onnx {onnx.__version__} writes: "
            + "; ".join(refusals)
        )

    session_source = (
        "import onnxruntime as ort",
        "session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])",
        "y = session.run(None, feeds)[0]",
    )

    def compile(self, model):
        ort = self.load()
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def execute(self, session, feeds):
        return session.run(None, feeds)[0]
