"""Optimization: the DecisionProblem and Solution types, exact backends (HiGHS, OR-Tools, Pyomo),
the Lagrangian decomposition, budget chance constraints and frontier sweeps (DESIGN §4-5).
Imports shopdata only."""

from shopdata.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "problem": ("DecisionProblem", "SegmentCoverage"),
        "solution": ("NoSolutionError", "Solution", "SolveStatus"),
        "settings": ("SolveSettings",),
        "solve": ("solve",),
        "frontier": ("Frontier", "frontier"),
        "chance": ("BudgetConfidence", "solve_with_budget_confidence"),
        "rows": ("RowKind",),
    },
)
