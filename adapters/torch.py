"""torch: `torch.nn.functional.conv_transpose{1,2,3}d`, and `nn.ConvTranspose{1,2,3}d(..., output_size=...)`.

torch's rules (the translation, in one place):
- layouts are the golden's: x (N, Cin, *spatial), w (Cin, Cout // groups, *k), bias (Cout,);
- `padding` p crops p at both ends and `output_padding` appends at the end: canonical (b, e, op) is
  padding b, output_padding b - e + op (convt_oracle.arithmetic.torch_padding): a crop with end > begin + op is
  not expressible;
- output size (i-1)*s - 2p + d*(k-1) + 1 + output_padding, with output_padding < max(stride, dilation): torch's
  documented domain (`domain`); a case beyond it is sent, and torch's refusal is `refused`;
- mode `output_shape`: the module's forward(x, output_size=O) derives output_padding = O - smallest size
  (convt_oracle.arithmetic.torch_output_padding), accepted in [0, stride-1] (the domain again); O is the
  case's `asked_output_size` (an invalid case's requested size as it is);
- torch has no 'same' / 'valid' strings for transposed convolution: a `same` / `valid` case is asked with
  its canonical symmetric padding and output_padding, which is how torch spells them.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import ml_dtypes
import numpy as np

from convt_oracle.adapters.base import Adapter, RunsInTf32Mode, Source, call_source, literal
from convt_oracle import arithmetic
from convt_oracle.tolerance import Tolerance


def kernel_facts(torch) -> dict:
    """Whether torch's oneDNN takes float16 and bfloat16 here (else torch's own kernel runs them), and ATen's
    CPU capability, asked of the imported `torch` (the torch adapters' and Keras's torch backend's facts)."""
    mkldnn = torch.ops.mkldnn
    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        "onednn_bfloat16": bool(mkldnn._is_mkldnn_bf16_supported()),
        "onednn_float16": bool(mkldnn._is_mkldnn_fp16_supported()),
    }


class TorchCall(NamedTuple):
    """What torch is asked for a case: `torch.nn.functional.<name>(x, w, bias, **arguments)`, or, where
    `forward` is not None, the module `torch.nn.<name>(**arguments)` called with forward(x, **forward)."""

    name: str
    arguments: dict
    forward: dict | None = None


class TorchAdapter(Adapter):
    name = "torch"
    framework = "torch"
    autodiff = True
    output_padding_limit = "an end crop at most begin + output_padding (torch crops `padding` at both ends, appends output_padding >= 0)"
    documented_domain = (
        "output_padding < max(stride, dilation) (torch.nn.ConvTranspose*d)",
        "with output_size: a size that needs output_padding < stride",
    )

    def memory_format(self, rank) -> str | None:
        """The name of the torch memory format x is given in (the channels_last variant's), or None."""
        return None

    @staticmethod
    def torch_padding(case):
        """(padding, output_padding) per axis of the torch call (convt_oracle.arithmetic.torch_padding)."""
        pairs = [
            arithmetic.torch_padding(arithmetic.AxisPadding(b, e, op))
            for (b, e), op in zip(case.padding, case.output_padding)
        ]
        return tuple(p for p, _ in pairs), tuple(op for _, op in pairs)

    def limits(self, case):
        _, output_padding = self.torch_padding(case)
        for (b, e), op_case, op in zip(case.padding, case.output_padding, output_padding):
            if op < 0:
                return (
                    f"torch crops `padding` at both ends and appends output_padding >= 0: the crop ({b}, {e}) with "
                    f"output_padding {op_case} would need output_padding {op}"
                )
        return None

    def domain(self, case):
        _, output_padding = self.torch_padding(case)
        for (b, e), op_case, op, s, d in zip(case.padding, case.output_padding, output_padding, case.stride, case.dilation):
            if op >= arithmetic.torch_output_padding_limit(s, d):
                return (
                    f"torch requires output_padding < max(stride, dilation); the case needs {op} (padding {b}, crop "
                    f"({b}, {e}), output_padding {op_case}) with stride {s}, dilation {d}"
                )
        if case.mode == "output_shape" and any(
            op >= arithmetic.torch_output_size_padding_limit(s) for op, s in zip(output_padding, case.stride)
        ):
            return "torch's output_size accepts the sizes that need output_padding < stride only"
        return None

    # --- conversions ------------------------------------------------------------------------------------
    def _tensor(self, array, requires_grad=False):
        torch = self.load()
        if array is None:
            return None
        if array.dtype == ml_dtypes.bfloat16:
            tensor = torch.from_numpy(np.ascontiguousarray(array).view(np.int16)).view(torch.bfloat16)
        else:
            tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device != "cpu":
            tensor = tensor.to(self.device)
        return tensor.requires_grad_(requires_grad)

    def kernels(self):
        return kernel_facts(self.load())

    def _array(self, tensor):
        torch = self.load()
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            return tensor.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return tensor.contiguous().numpy()

    # --- the call ---------------------------------------------------------------------------------------
    def torch_call(self, case) -> TorchCall:
        """torch's call for `case` (one place for `run` and `native_source`): conv_transpose{r}d with the
        torch padding; in `output_shape` mode the ConvTranspose{r}d module with forward's output_size."""
        rank = case.spatial_rank
        padding, output_padding = self.torch_padding(case)
        if case.mode == "output_shape":
            module = dict(
                in_channels=case.in_channels, out_channels=case.out_channels, kernel_size=case.kernel_size,
                stride=case.stride, padding=padding, dilation=case.dilation, groups=case.groups, bias=case.bias,
            )
            return TorchCall(f"ConvTranspose{rank}d", module, {"output_size": list(case.asked_output_size)})
        return TorchCall(f"conv_transpose{rank}d", dict(
            stride=case.stride, padding=padding, output_padding=output_padding, groups=case.groups,
            dilation=case.dilation,
        ))

    def _forward(self, case, x, w, bias):
        torch = self.load()
        call = self.torch_call(case)
        memory_format = self.memory_format(case.spatial_rank)
        if memory_format is not None:
            x = x.contiguous(memory_format=getattr(torch, memory_format))
        if call.forward is None:
            return getattr(torch.nn.functional, call.name)(x, w, bias, **call.arguments)
        module = getattr(torch.nn, call.name)(**call.arguments, dtype=x.dtype, device=x.device)
        tensors = {"weight": w} if bias is None else {"weight": w, "bias": bias}
        return torch.func.functional_call(module, tensors, (x,), call.forward)

    def native_lines(self, case):
        call = self.torch_call(case)
        to_device = "" if self.device == "cpu" else f".to({self.device!r})"
        names = [("x_t", "x"), ("w_t", "w")] + ([("b_t", "bias")] if case.bias else [])
        lines = ["import torch"]
        lines += [f"{name} = torch.tensor({array}, dtype=torch.{case.dtype}){to_device}" for name, array in names]
        memory_format = self.memory_format(case.spatial_rank)
        if memory_format is not None:
            lines.append(f"x_t = x_t.contiguous(memory_format=torch.{memory_format})")
        lines.append("with torch.no_grad():")
        if call.forward is None:
            bias = "b_t" if case.bias else "None"
            lines.append("    y = " + call_source(f"torch.nn.functional.{call.name}", "x_t", "w_t", bias, **call.arguments))
        else:
            module = call_source(f"torch.nn.{call.name}", **call.arguments, dtype=Source("x_t.dtype"),
                                 device=Source("x_t.device"))
            tensors = {"weight": Source("w_t"), **({"bias": Source("b_t")} if case.bias else {})}
            lines.append(f"    module = {module}")
            lines.append(f"    y = torch.func.functional_call(module, {literal(tensors)}, (x_t,), {literal(call.forward)})")
        lines.append(f"actual = y{'' if self.device == 'cpu' else '.cpu()'}.to(torch.float64).numpy()")
        return lines

    def run(self, case, x, w, bias):
        torch = self.load()
        with torch.no_grad():
            return self._array(self._forward(case, self._tensor(x), self._tensor(w), self._tensor(bias)))

    def run_vjp(self, case, x, w, grad_out, bias):
        xt, wt, bt = (self._tensor(array, requires_grad=True) for array in (x, w, bias))
        out = self._forward(case, xt, wt, bt)
        out.backward(self._tensor(grad_out))
        return self._array(xt.grad), self._array(wt.grad), None if bt is None else self._array(bt.grad)


class TorchChannelsLastAdapter(TorchAdapter):
    """torch with x in channels_last memory format (2-d and 3-d only)."""

    name = "torch-channels-last"
    spatial_ranks = (2, 3)

    def memory_format(self, rank):
        return "channels_last" if rank == 2 else "channels_last_3d"


class TorchCudaAdapter(RunsInTf32Mode, TorchAdapter):
    """torch on the first CUDA (or ROCm) device in strict float32: cuDNN's and cuBLAS's TF32 off around every
    call (torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32 False, the process's
    values restored after). torch's own default lets cuDNN's convolutions round float32 inputs to TF32 on
    Ampere and later: that is torch-cuda-tf32. Every case `unsupported`, with the reason, where torch sees no
    CUDA device."""

    name = "torch-cuda"
    device = "cuda"
    # (cuDNN, cuBLAS matmul) TF32 around each call: strict here; torch's defaults in torch-cuda-tf32.
    allow_tf32 = (False, False)

    def device_unavailable(self):
        torch = self.load()
        if torch.cuda.is_available():
            return None
        build = "a CPU-only build" if torch.version.cuda is None and torch.version.hip is None else "a GPU build"
        return f"torch {torch.__version__} ({build}) sees no CUDA device: torch.cuda.is_available() is False"

    @contextlib.contextmanager
    def tf32_mode(self):
        """cuDNN's and cuBLAS's TF32 flags set to `allow_tf32` while the block runs, restored after."""
        backends = self.load().backends
        before = (backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32)
        backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = self.allow_tf32
        try:
            yield
        finally:
            backends.cudnn.allow_tf32, backends.cuda.matmul.allow_tf32 = before

    def native_lines(self, case):
        lines = super().native_lines(case)
        cudnn, matmul = self.allow_tf32
        flags = [f"torch.backends.cudnn.allow_tf32 = {cudnn}  # {'TF32 (torch default)' if cudnn else 'strict float32'}",
                 f"torch.backends.cuda.matmul.allow_tf32 = {matmul}"]
        return lines[:1] + flags + lines[1:]

    def kernels(self):
        """The TF32 flags this variant sets around its calls, and the GPU and cuDNN torch sees (where it sees one)."""
        torch = self.load()
        cudnn, matmul = self.allow_tf32
        facts = {"cudnn_allow_tf32": cudnn, "matmul_allow_tf32": matmul, "cuda": torch.cuda.is_available()}
        if facts["cuda"]:
            facts.update(gpu=torch.cuda.get_device_name(0), cuda_version=torch.version.cuda or torch.version.hip,
                         cudnn_version=torch.backends.cudnn.version())
        return facts


class TorchCudaTf32Adapter(TorchCudaAdapter):
    """torch-cuda in torch's default mode: cuDNN's convolutions may round float32 inputs to TF32 (Ampere and
    later), cuBLAS's matmuls do not (torch's defaults, set around each call). Judged under
    Tolerance(inputs="tf32") unless a run asks for another tolerance."""

    name = "torch-cuda-tf32"
    allow_tf32 = (True, False)  # torch's defaults: torch.backends.cudnn.allow_tf32 True, cuda.matmul False
    tolerance = Tolerance(inputs="tf32")
