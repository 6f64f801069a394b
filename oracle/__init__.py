"""convt-oracle: an independent golden for transposed convolution, and the tools to check frameworks with it."""

from oracle.golden import conv, conv_transpose, conv_transpose_vjp, output_shape
from oracle.crosscheck import (
    TargetCrashed,
    TargetTimedOut,
    Unsupported,
    assert_conv_transpose_close,
    crosscheck,
    crosscheck_target,
)
from oracle.tolerance import Tolerance

__all__ = [
    "conv",
    "conv_transpose",
    "conv_transpose_vjp",
    "output_shape",
    "crosscheck",
    "crosscheck_target",
    "assert_conv_transpose_close",
    "Unsupported",
    "TargetCrashed",
    "TargetTimedOut",
    "Tolerance",
]
