"""torch: `torch.nn.functional.conv_transpose{1,2,3}d`, and `nn.ConvTranspose{1,2,3}d(..., output_size=...)`.

torch's rules (the translation, in one place):
- layouts are the golden's: x (N, Cin, *spatial), w (Cin, Cout // groups, *k), bias (Cout,);
- `padding` p crops p at both ends and `output_padding` appends at the end: canonical (b, e, op) is
  padding b, output_padding b - e + op (convt_oracle.arithmetic.torch_padding): a crop with end > begin + op is
  not expressible;
- output size (i-1)*s - 2p + d*(k-1) + 1 + output_padding, with output_padding < max(stride, dilation): torch's
  documented domain (`domain`); a case beyond it is sent, and torch's refusal is `refused`;
- mode `output_shape`: the module's forward(x, output_size=O) derives output_padding = O - smallest size
  (convt_oracle.arithmetic.torch_output_padding), accepted in [0, stride-1] (the domain again);
- torch has no 'same' / 'valid' strings for transposed convolution: a `same` / `valid` case is asked with
  its canonical symmetric padding and output_padding, which is how torch spells them.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from convt_oracle.adapters.base import Adapter
from convt_oracle import arithmetic


class TorchAdapter(Adapter):
    name = "torch"
    framework = "torch"
    autodiff = True
    output_padding_limit = "an end crop at most begin + output_padding (torch crops `padding` at both ends, appends output_padding >= 0)"
    documented_domain = (
        "output_padding < max(stride, dilation) (torch.nn.ConvTranspose*d)",
        "with output_size: a size that needs output_padding < stride",
    )
    memory_format = None  # the channels_last variant sets torch.channels_last / channels_last_3d

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
        """Whether torch's oneDNN takes float16 and bfloat16 here (else torch's own kernel runs them), and ATen's
        CPU capability, asked of torch."""
        torch = self.load()
        mkldnn = torch.ops.mkldnn
        return {
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
            "onednn_bfloat16": bool(mkldnn._is_mkldnn_bf16_supported()),
            "onednn_float16": bool(mkldnn._is_mkldnn_fp16_supported()),
        }

    def _array(self, tensor):
        torch = self.load()
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            return tensor.contiguous().view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        return tensor.contiguous().numpy()

    # --- the call ---------------------------------------------------------------------------------------
    def _forward(self, case, x, w, bias):
        torch = self.load()
        rank = case.spatial_rank
        padding, output_padding = self.torch_padding(case)
        if self.memory_format is not None:
            x = x.contiguous(memory_format=self.memory_format(rank))
        if case.mode == "output_shape":
            module_class = getattr(torch.nn, f"ConvTranspose{rank}d")
            module = module_class(
                case.in_channels, case.out_channels, case.kernel_size, stride=case.stride, padding=padding,
                dilation=case.dilation, groups=case.groups, bias=bias is not None, dtype=x.dtype, device=x.device,
            )
            tensors = {"weight": w} if bias is None else {"weight": w, "bias": bias}
            size = list(case.output_shape[2:])
            return torch.func.functional_call(module, tensors, (x,), {"output_size": size})
        function = getattr(torch.nn.functional, f"conv_transpose{rank}d")
        return function(
            x, w, bias, stride=case.stride, padding=padding, output_padding=output_padding,
            groups=case.groups, dilation=case.dilation,
        )

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
        torch = self.load()
        return torch.channels_last if rank == 2 else torch.channels_last_3d


class TorchCudaAdapter(TorchAdapter):
    """torch on the first CUDA (or ROCm) device; every case `unsupported`, with the reason, where torch sees none."""

    name = "torch-cuda"
    device = "cuda"

    def device_unavailable(self):
        torch = self.load()
        if torch.cuda.is_available():
            return None
        build = "a CPU-only build" if torch.version.cuda is None and torch.version.hip is None else "a GPU build"
        return f"torch {torch.__version__} ({build}) sees no CUDA device: torch.cuda.is_available() is False"
