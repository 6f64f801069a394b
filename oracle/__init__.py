"""convt-oracle: an independent golden for transposed convolution, and the tools to check frameworks with it."""

from oracle.golden import conv, conv_transpose, conv_transpose_vjp

__all__ = ["conv", "conv_transpose", "conv_transpose_vjp"]
