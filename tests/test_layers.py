"""The package's layers: the core imports nothing of the rest, the case model sits on the core, the adapters
on both, the harness on top; no import cycle between them. Above them all, the package's face: its
`__init__` (the public names, each loaded from its module when first used) and `__main__`.

Read from the source (every import statement of every module, function-level ones included) and seen in a
fresh interpreter (what importing a module loads).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import convt_oracle
import convt_oracle.adapters
import convt_oracle.cases

# Where each layer's modules are, and which layers it may import.
FOLDERS = {
    "core": Path(convt_oracle.__file__).parent,
    "harness": Path(convt_oracle.__file__).parent / "harness",
    "cases": Path(convt_oracle.cases.__file__).parent,
    "adapters": Path(convt_oracle.adapters.__file__).parent,
}
PACKAGES = {"core": "convt_oracle", "harness": "convt_oracle.harness", "cases": "convt_oracle.cases",
            "adapters": "convt_oracle.adapters"}
MAY_IMPORT = {
    "core": {"core"},
    "cases": {"core", "cases"},
    "adapters": {"core", "cases", "adapters"},
    "harness": {"core", "cases", "adapters", "harness", "face"},
    "face": {"core", "cases", "adapters", "harness", "face"},
}
FACE = {"convt_oracle", "convt_oracle.__main__", *(f"convt_oracle.{name}" for name in convt_oracle.__all__)}


def layer_of(module: str) -> str:
    """The layer of a convt_oracle module name (or of a name imported from the package itself)."""
    if module in FACE:
        return "face"
    for layer in ("harness", "cases", "adapters"):
        if module == PACKAGES[layer] or module.startswith(PACKAGES[layer] + "."):
            return layer
    return "core"


def modules():
    """(layer, module name, path) of every module of the package."""
    for layer, folder in FOLDERS.items():
        for path in sorted(folder.glob("*.py")):
            name = PACKAGES[layer] if path.stem == "__init__" else f"{PACKAGES[layer]}.{path.stem}"
            yield (layer_of(name) if name in FACE else layer), name, path


def imported(path: Path, module: str) -> set[str]:
    """The convt_oracle modules (or names in them) that a module's import statements name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # a relative import
                base = ".".join(module.split(".")[: -node.level] + [node.module])
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "convt_oracle" or name.startswith("convt_oracle.")}


def test_every_layer_imports_only_the_layers_below_it():
    crossings, seen = [], 0
    for layer, name, path in modules():
        for target in imported(path, name):
            seen += 1
            if layer_of(target) not in MAY_IMPORT[layer]:
                crossings.append(f"{name} ({layer}) imports {target} ({layer_of(target)})")
    assert seen > 50  # the walk found the imports
    assert not crossings, "\n".join(crossings)


def test_the_layers_are_where_the_layout_says():
    found = {layer: {name for lay, name, _ in modules() if lay == layer} for layer in MAY_IMPORT}
    assert found["face"] == {"convt_oracle", "convt_oracle.__main__"}
    assert {"convt_oracle.arithmetic", "convt_oracle.params", "convt_oracle.golden", "convt_oracle.phase_route",
            "convt_oracle.definition", "convt_oracle.tolerance", "convt_oracle.compare",
            "convt_oracle.errors", "convt_oracle.testing"} <= found["core"]
    assert {"convt_oracle.harness.crosscheck", "convt_oracle.harness.isolation", "convt_oracle.harness.worker",
            "convt_oracle.harness.wire", "convt_oracle.harness.run", "convt_oracle.harness.cli",
            "convt_oracle.harness.report", "convt_oracle.harness.pytest_plugin"} <= found["harness"]
    assert {"convt_oracle.cases.model", "convt_oracle.cases.suites"} <= found["cases"]
    assert {"convt_oracle.adapters.base", "convt_oracle.adapters.torch"} <= found["adapters"]


def loaded_by(statement: str) -> list[str]:
    """The convt_oracle modules a fresh interpreter has loaded after `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('convt_oracle'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", ["arithmetic", "params", "golden", "definition", "tolerance", "compare", "errors",
                                    "testing"])
def test_importing_a_core_module_loads_nothing_of_the_other_layers(module):
    loaded = loaded_by(f"import convt_oracle.{module}")
    assert f"convt_oracle.{module}" in loaded
    assert [name for name in loaded if layer_of(name) in ("harness", "cases", "adapters")] == []


def test_the_public_names_load_the_harness_only_when_asked_for():
    assert [name for name in loaded_by("from convt_oracle import conv_transpose, Tolerance, Unsupported")
            if layer_of(name) in ("harness", "cases", "adapters")] == []
    assert "convt_oracle.harness.crosscheck" in loaded_by("from convt_oracle import crosscheck")


def test_the_case_model_and_the_adapters_load_no_harness():
    assert [n for n in loaded_by("import convt_oracle.cases.suites") if layer_of(n) in ("harness", "adapters")] == []
    assert [n for n in loaded_by("import convt_oracle.adapters.torch") if layer_of(n) == "harness"] == []
