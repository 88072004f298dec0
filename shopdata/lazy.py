"""A package's public API named in its `__init__` and imported on first use, so that importing
the package (or one of its modules) stays cheap: torch, DuckDB or Ray load only when a name
that needs them is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(
    package: str, modules: dict[str, tuple[str, ...]]
) -> tuple[list[str], Callable[[str], object]]:
    """`__all__` and the module `__getattr__` (PEP 562) of `package`, whose public names are
    given by the submodule defining them: {"scenario": ("Scenario", "load_scenario"), ...}."""
    where = {name: f"{package}.{module}" for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(where), __getattr__
