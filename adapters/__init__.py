"""Framework adapters: one module per framework (torch, tensorflow, jax, onnxruntime, keras)."""
