"""Optimization: the DecisionProblem and Solution types, exact backends (HiGHS, OR-Tools, Pyomo),
the Lagrangian decomposition and frontier sweeps (DESIGN §4-5; the optimization-core issue)."""
