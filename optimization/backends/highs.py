"""Exact backend: the full MIP on HiGHS, built from arrays and passed in bulk."""

from __future__ import annotations

import time

import numpy as np

from optimization.backends.base import Capability
from optimization.highs_model import highs_version
from optimization.milp import build_milp
from optimization.problem import DecisionProblem
from optimization.reporting import finish
from optimization.rows import CouplingRows
from optimization.settings import SolveSettings
from optimization.solution import Solution, Timings


class HighsBackend:
    name = "highs"
    capabilities = frozenset(
        {Capability.EXACT, Capability.LP_DUALS, Capability.WARM_START, Capability.TIME_LIMIT}
    )

    def version(self) -> str:
        return highs_version()

    def solve(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        warm_start: np.ndarray | None,
    ) -> Solution:
        started = time.perf_counter()
        milp = build_milp(problem, rows)
        build_seconds = time.perf_counter() - started
        shadow = None
        lp_bound = np.inf
        notes: list[str] = []
        if settings.highs.lp_duals:
            relaxation = milp.solve(settings, integer=False)
            if relaxation.infeasible:
                return self._infeasible(problem, rows, settings, started, build_seconds)
            if relaxation.row_duals is not None:
                shadow = relaxation.row_duals[milp.first_coupling_row :]
                lp_bound = relaxation.objective + milp.offset
            notes.append("shadow prices from the LP relaxation")
        remaining = max(settings.time_limit_s - (time.perf_counter() - started), 1.0)
        start = milp.from_choice(warm_start) if warm_start is not None else None
        outcome = milp.solve(settings, integer=True, warm_start=start, time_limit_s=remaining)
        if outcome.infeasible:
            return self._infeasible(problem, rows, settings, started, build_seconds)
        choice = milp.to_choice(outcome.x) if outcome.x is not None else None
        bound = min(outcome.bound + milp.offset, lp_bound)
        if outcome.x is None and not outcome.time_limit_hit:
            bound = lp_bound
        timings = Timings.since(started, build_seconds)
        notes.append(f"HiGHS MIP: {outcome.model_status}")
        return finish(
            problem,
            rows,
            settings,
            backend=self.name,
            version=self.version(),
            choice=choice,
            bound=bound,
            shadow=shadow,
            timings=timings,
            time_limit_hit=outcome.time_limit_hit,
            notes=tuple(notes),
        )

    def _infeasible(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        started: float,
        build_seconds: float,
    ) -> Solution:
        from optimization.infeasibility import explain_infeasibility

        explanation = explain_infeasibility(problem, rows, settings)
        timings = Timings.since(started, build_seconds)
        return finish(
            problem,
            rows,
            settings,
            backend=self.name,
            version=self.version(),
            choice=None,
            bound=-np.inf,
            shadow=None,
            timings=timings,
            explanation=explanation,
        )
