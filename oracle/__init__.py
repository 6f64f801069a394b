"""convt-oracle: an independent golden for transposed convolution, and the tools to check frameworks with it.

The package is layered. The core is the golden and what it stands on: `arithmetic` (every output-size and
padding rule), `params` (argument validation), `golden` (with its routes: `phase_route`, fast, and
`definition`, the plain scatter form), `tolerance`, `compare`, `errors` and `testing`; it imports nothing
else of the package. `convt_oracle.cases` (the case model and the suites) sits on the core,
`convt_oracle.adapters` on both, and `convt_oracle.harness` (crosscheck, workers, `convt-oracle run`,
reports, the pytest plugin) on top.

The names below are loaded from their modules when first used: `import convt_oracle.arithmetic` loads
that module alone, and a worker process that only decodes arrays needs numpy and nothing more.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_PUBLIC = {
    "conv": "convt_oracle.golden",
    "conv_transpose": "convt_oracle.golden",
    "conv_transpose_vjp": "convt_oracle.golden",
    "output_shape": "convt_oracle.golden",
    "Tolerance": "convt_oracle.tolerance",
    "assert_conv_transpose_close": "convt_oracle.testing",
    "Unsupported": "convt_oracle.errors",
    "Refused": "convt_oracle.errors",
    "TargetCrashed": "convt_oracle.errors",
    "TargetTimedOut": "convt_oracle.errors",
    "crosscheck": "convt_oracle.harness.crosscheck",
    "crosscheck_target": "convt_oracle.harness.crosscheck",
}

if TYPE_CHECKING:
    from convt_oracle.errors import Refused, TargetCrashed, TargetTimedOut, Unsupported
    from convt_oracle.golden import conv, conv_transpose, conv_transpose_vjp, output_shape
    from convt_oracle.harness.crosscheck import crosscheck, crosscheck_target
    from convt_oracle.testing import assert_conv_transpose_close
    from convt_oracle.tolerance import Tolerance


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'convt_oracle' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_PUBLIC})


__all__ = list(_PUBLIC)
