"""What a backend is: a name, a version, a set of capabilities, and `solve`."""

from __future__ import annotations

from enum import Enum
from typing import Protocol

import numpy as np

from optimization.problem import DecisionProblem
from optimization.rows import CouplingRows
from optimization.settings import SolveSettings
from optimization.solution import Solution


class Capability(Enum):
    """What a backend can do, in words (the solution's notes and `auto`'s choice use them)."""

    EXACT = "proves optimality of the MIP within the gap"
    LP_DUALS = "shadow prices from the LP relaxation"
    LAGRANGE_DUALS = "shadow prices from Lagrange multipliers"
    WARM_START = "starts from a given feasible plan"
    TIME_LIMIT = "honours the time limit"
    LARGE_SCALE = "millions of customers"


class Backend(Protocol):
    """A solver of the allocation MIP (optimization/solve.py picks one by name)."""

    name: str
    capabilities: frozenset[Capability]

    def version(self) -> str:
        """The backend's and its solver's version, for the solution's audit trail."""
        ...

    def solve(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        warm_start: np.ndarray | None,
    ) -> Solution:
        """A plan for `problem` under its coupling `rows` (or the reason there is none), its
        proven bound, the rows' shadow prices and timings; `warm_start` [N, H] a feasible plan
        to start from, where the backend can use one."""
        ...
