"""Imports point down only (DESIGN §1): shopdata at the bottom imports none of ltv-engine's
packages; forecasting, optimization and markets (the simulated demo shop and CDNOW), side by side
in the middle, import shopdata only; engine, the application, may import them all. Read from the
source (ast), so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What each package may import of ours.
ALLOWED = {
    "shopdata": set(),
    "forecasting": {"shopdata"},
    "optimization": {"shopdata"},
    "markets": {"shopdata"},
    "engine": {"shopdata", "forecasting", "optimization", "markets"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_one_above_or_beside_it(package: str) -> None:
    wrong = {
        str(path.relative_to(REPO)): sorted(found - ALLOWED[package] - {package})
        for path in sorted((REPO / package).rglob("*.py"))
        if (found := _imported_packages(path)) - ALLOWED[package] - {package}
    }
    assert wrong == {}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_names_its_public_api(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, f"{package} has no __all__"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
