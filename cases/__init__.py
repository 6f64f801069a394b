"""Curated and generated transposed-convolution cases."""
