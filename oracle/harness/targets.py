"""Target names: one grammar for `convt-oracle run --targets`, `crosscheck(target)` and the pytest plugin's
`--convt-targets` (and `Result.reproducer`, which names its target the same way).

    NAME                 an adapter registered in the entry-point group convt_oracle.adapters: "torch"
    module:function      a callable with the golden's signature: "mypkg.ops:conv_transpose"; "module:Class()"
                         is an instance of the class, made with no arguments
    TARGET@PYTHON        either of those run in a worker process under another interpreter, given as a path
                         or a command line: "torch@/envs/torch214/bin/python", "torch@python3.12"

The interpreter of a TARGET@PYTHON needs numpy, ml_dtypes and the target's framework (what the adapter
needs there: `convt-oracle env` makes such an environment); convt_oracle itself comes from this process's
folders (convt_oracle.harness.isolation). Everything is checked here, in one place, before any case runs:
an adapter name that is not registered, a "module:function" that is not two dotted names, an "@" without an
interpreter or with one that cannot be found. Whether a "module:function" imports is found when it is loaded
(in its own interpreter: it may be importable only there).
"""

from __future__ import annotations

import importlib.metadata
import shlex
import shutil
import subprocess
from dataclasses import dataclass

from convt_oracle.adapters import registry

_VERSION_SCRIPT = (
    "import importlib.metadata as m, sys; name = sys.argv[1]; "
    "dists = m.packages_distributions().get(name, [name]); print(m.version(dists[0]))"
)
NOT_AN_ADAPTER = "n/a (not an adapter)"  # the framework version reported for a "module:function" target


@dataclass(frozen=True)
class TargetSpec:
    """A target as named on a command line: `name` (an adapter name or "module:function") and the interpreter
    its worker runs under (`python`; None: this one)."""

    name: str
    python: str | None = None

    @classmethod
    def parse(cls, text: str, *, where: str = "target") -> TargetSpec:
        """The target `text` names; ValueError naming `where` (the option or argument), the text and the rule."""
        if not isinstance(text, str):
            raise TypeError(f"{where}: got {type(text).__name__}; expected a target name such as 'torch', "
                            f"'module:function' or 'torch@/path/to/python'")
        name, at, python = text.partition("@")
        if at and not python.strip():
            raise ValueError(f"{where}: {text!r}: no interpreter after '@'; expected NAME@/path/to/python")
        if ":" in name:
            module, _, attribute = name.partition(":")
            names = [*module.split("."), *attribute.removesuffix("()").split(".")]
            if not all(part.isidentifier() for part in names):
                raise ValueError(f"{where}: {text!r}: expected 'module:function' (or 'module:Class()'), "
                                 f"two dotted Python names")
        else:
            known = registry.available()
            if name not in known:
                listed = ", ".join(sorted(known)) or "none (is convt-oracle installed? pip install -e .)"
                raise ValueError(f"{where}: unknown adapter {name!r}; known adapters: {listed} "
                                 f"(or give 'module:function')")
        if at:
            words = shlex.split(python)
            if not words or shutil.which(words[0]) is None:
                raise ValueError(f"{where}: {text!r}: no interpreter {python!r} (give the path of a python executable)")
        return cls(name, python if at else None)

    @property
    def is_adapter(self) -> bool:
        """A registered adapter's name, not "module:function"."""
        return ":" not in self.name

    @property
    def adapter(self) -> str | None:
        """The adapter's name; None for a "module:function" target."""
        return self.name if self.is_adapter else None

    @property
    def label(self) -> str:
        """The target as reports name it: the text it was parsed from."""
        return self.name if self.python is None else f"{self.name}@{self.python}"

    @property
    def log_name(self) -> str:
        """The label as a file name."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.label)

    @property
    def framework(self) -> str | None:
        """The module of the adapter's framework ("torch", "keras"); None for a "module:function" target."""
        return registry.available()[self.name].load().framework if self.is_adapter else None

    def version(self) -> str:
        """The framework's installed version in the target's interpreter, without importing it."""
        if not self.is_adapter:
            return NOT_AN_ADAPTER
        if self.python is None:
            try:
                dists = importlib.metadata.packages_distributions().get(self.framework, [self.framework])
                return importlib.metadata.version(dists[0])
            except importlib.metadata.PackageNotFoundError:
                return "not installed"
        try:
            done = subprocess.run(
                [*shlex.split(self.python), "-c", _VERSION_SCRIPT, self.framework], capture_output=True, text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"unknown ({type(error).__name__}: {error})"
        last = done.stderr.strip().splitlines()[-1:]
        return done.stdout.strip() or f"unknown ({last[0] if last else f'exit {done.returncode}'})"

    def isolated(self, *, timeout: float | None = 60, output: str | None = None):
        """An IsolatedTarget running this target in a worker under its interpreter (close it when done)."""
        from convt_oracle.harness.isolation import IsolatedTarget

        return IsolatedTarget(self.name, python=self.python, timeout=timeout, output=output)


__all__ = ["TargetSpec", "NOT_AN_ADAPTER"]
