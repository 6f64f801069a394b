"""Curated and generated transposed-convolution cases."""

# oracle's package imports oracle.crosscheck, which imports cases.suites; importing oracle first lets
# `import cases.model` (or any cases module) work before oracle has been imported.
import oracle  # noqa: F401
