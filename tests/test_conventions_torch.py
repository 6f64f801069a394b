"""torch's conventions (F.conv_transpose{1,2,3}d's symmetric padding and output_padding, nn.ConvTranspose's
output_size), checked through convt_oracle.arithmetic against torch itself (support.conventions says how).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from convt_oracle import arithmetic as A
from support.conventions import assert_close, golden, random_case

pytestmark = pytest.mark.framework("torch")


TORCH_CONFIGS = [  # (input size, kernel, stride, padding, dilation)
    ((4, 3), (3, 2), (2, 3), (1, 0), (1, 2)),
    ((3, 5), (1, 4), (3, 2), (0, 2), (2, 1)),
    ((2, 3), (2, 3), (1, 2), (1, 1), (3, 1)),
]


def torch_module(torch, w, kernel, stride, padding, dilation):
    module = torch.nn.ConvTranspose2d(
        w.shape[0], w.shape[1], kernel, stride=stride, padding=padding, dilation=dilation, bias=False
    ).double()
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(w))
    return module


def test_torch_output_size_to_output_padding():
    """nn.ConvTranspose2d(..., output_size=...) for every accepted size -> torch_output_padding."""
    torch = pytest.importorskip("torch")
    for n, (input_size, kernel, stride, padding, dilation) in enumerate(TORCH_CONFIGS):
        x, w = random_case(600 + n, input_size, kernel)
        module = torch_module(torch, w, kernel, stride, padding, dilation)
        ranges = [
            range(A.output_size(i, k, s, d, p, p), A.output_size(i, k, s, d, p, p) + s)
            for i, k, s, p, d in zip(input_size, kernel, stride, padding, dilation)
        ]
        for size in itertools.product(*ranges):
            ops = [
                A.torch_output_padding(i, k, s, d, p, o)
                for i, k, s, d, p, o in zip(input_size, kernel, stride, dilation, padding, size)
            ]
            with torch.no_grad():
                y = module(torch.from_numpy(x), output_size=list(size)).numpy()
            pads = [A.AxisPadding(p, p, op) for p, op in zip(padding, ops)]
            assert_close(y, golden(x, w, stride, dilation, pads), np.float64)


def test_torch_rejects_the_output_sizes_the_arithmetic_rejects():
    torch = pytest.importorskip("torch")
    input_size, kernel, stride, padding, dilation = TORCH_CONFIGS[0]
    x, w = random_case(610, input_size, kernel)
    module = torch_module(torch, w, kernel, stride, padding, dilation)
    smallest = [A.output_size(i, k, s, d, p, p) for i, k, s, p, d in zip(input_size, kernel, stride, padding, dilation)]
    for axis in range(2):
        for outside in (smallest[axis] - 1, smallest[axis] + stride[axis]):
            size = list(smallest)
            size[axis] = outside
            with pytest.raises(ValueError, match="output_size"):
                A.torch_output_padding(
                    input_size[axis], kernel[axis], stride[axis], dilation[axis], padding[axis], outside
                )
            with pytest.raises(ValueError):
                module(torch.from_numpy(x), output_size=size)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_torch_symmetric_padding_and_output_padding(rank):
    """F.conv_transpose{1,2,3}d(padding=p, output_padding=op): canonical (p, p, op); op < max(s, d)."""
    torch = pytest.importorskip("torch")
    functional = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d,
                  3: torch.nn.functional.conv_transpose3d}[rank]
    configs = {  # (input size, kernel, stride, padding, dilation, output_padding)
        1: [((5,), (3,), (2,), (1,), (1,), (1,)), ((4,), (2,), (1,), (0,), (3,), (2,))],  # op >= s, < d
        2: [((4, 3), (3, 2), (2, 3), (1, 0), (1, 2), (1, 2)), ((3, 4), (1, 3), (3, 1), (0, 2), (2, 2), (2, 1))],
        3: [((3, 2, 2), (2, 3, 1), (2, 1, 3), (1, 1, 0), (1, 2, 1), (1, 1, 2))],
    }[rank]
    for n, (input_size, kernel, stride, padding, dilation, op) in enumerate(configs):
        x, w = random_case(700 + 10 * rank + n, input_size, kernel)
        assert all(o < A.torch_output_padding_limit(s, d) for o, s, d in zip(op, stride, dilation))
        y = functional(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                       output_padding=op, dilation=dilation).numpy()
        pads = [A.AxisPadding(p, p, o) for p, o in zip(padding, op)]
        assert_close(y, golden(x, w, stride, dilation, pads), np.float64)
        # one more than the limit on the first axis is refused
        too_big = (A.torch_output_padding_limit(stride[0], dilation[0]),) + tuple(op[1:])
        with pytest.raises(RuntimeError, match="output padding"):
            functional(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                       output_padding=too_big, dilation=dilation)
