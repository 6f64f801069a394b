"""Adapters are found through the entry-point group `convt_oracle.adapters`.

Another package registers its own adapter in its pyproject.toml:

    [project.entry-points."convt_oracle.adapters"]
    mykernel = "mypackage.convt:MyKernelAdapter"

The entry point names a `convt_oracle.adapters.base.Adapter` subclass; `load(name)` instantiates it.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "convt_oracle.adapters"


def available() -> dict:
    """{name: entry point} of every registered adapter, installed framework or not."""
    return {point.name: point for point in entry_points(group=GROUP)}


def load(name: str):
    """An instance of the adapter registered as `name`; an unknown name fails listing the known ones."""
    points = available()
    if name not in points:
        known = ", ".join(sorted(points)) or "none (is convt-oracle installed? pip install -e .)"
        raise ValueError(f"adapter: unknown name {name!r}; known adapters: {known}")
    return points[name].load()()
