"""Optimization: the DecisionProblem and Solution types, exact backends (HiGHS, OR-Tools, Pyomo),
the Lagrangian decomposition, budget chance constraints and frontier sweeps (DESIGN §4-5).
Imports shopdata only."""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "DecisionProblem": "optimization.problem",
    "SegmentCoverage": "optimization.problem",
    "NoSolutionError": "optimization.solution",
    "Solution": "optimization.solution",
    "SolveStatus": "optimization.solution",
    "SolveSettings": "optimization.settings",
    "solve": "optimization.solve",
    "Frontier": "optimization.frontier",
    "frontier": "optimization.frontier",
    "BudgetConfidence": "optimization.chance",
    "solve_with_budget_confidence": "optimization.chance",
    "RowKind": "optimization.rows",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """The public API, imported on first use (importing the package stays cheap)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
