"""The test support package: what the tests share, imported one way, `from support import ...` (tests/ is
on sys.path through pyproject.toml's pytest `pythonpath`).

- `targets`: reference implementations (correct, each independent of the golden) and mutants (wrong in
  one plausible way each), all with the golden's signature;
- `matrix_targets`: the correct NumPy target of the project's own matrix test;
- `crashy_targets`: targets that crash, hang or misbehave, for the isolation tests;
- `findings`: models of framework findings' mechanisms, which explain a discrepancy only where they
  account for every difference;
- `probes`: which kernel a framework runs for a call, asked of the framework (oneDNN's verbose output,
  XLA's dump, TensorFlow's own refusals), and the verdicts the `finding` marker takes from them;
- `conventions`: helpers of the framework-convention tests (test_conventions_*.py);
- `devices`: the device variants' (GPU adapters') shared checks;
- `isolated`: a cross-check run in a fresh interpreter (Keras's backend is chosen once per process; a
  crashing framework must fail one test, not the session).
"""
