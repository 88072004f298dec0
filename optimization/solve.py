"""`solve(problem, backend, settings) -> Solution`: one entry point for every backend.

`auto` picks the exact HiGHS MIP for problems up to `settings.auto_exact_max_variables`
variables and the Lagrangian decomposition above, and says which it chose and why. Exact
backends are warm-started from the decomposition's plan when `settings.warm_start` is set.
"""

from __future__ import annotations

import time
from dataclasses import replace

from optimization.backends.base import Backend, Capability
from optimization.backends.highs import HighsBackend
from optimization.backends.lagrangian import LagrangianBackend
from optimization.infeasibility import explain_infeasibility, single_row_conflicts
from optimization.problem import DecisionProblem
from optimization.recommendations import solve_recommendations
from optimization.reporting import finish
from optimization.rows import coupling_rows
from optimization.settings import SolveSettings
from optimization.solution import InfeasibilityExplanation, Solution, SolveStatus, Timings


def _ortools() -> Backend:
    from optimization.backends.ortools import OrToolsBackend

    return OrToolsBackend()


def _pyomo() -> Backend:
    from optimization.backends.pyomo import PyomoBackend

    return PyomoBackend()


BACKENDS = {
    "highs": HighsBackend,
    "lagrangian": LagrangianBackend,
    "ortools": _ortools,
    "pyomo": _pyomo,
}


def backend_named(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(
            f"The 'backend' parameter of solve must be one of "
            f"{sorted([*BACKENDS, 'auto'])}. Got {name!r} instead."
        )
    return BACKENDS[name]()


def solve(
    problem: DecisionProblem, backend: str = "auto", settings: SolveSettings | None = None
) -> Solution:
    settings = settings or SolveSettings()
    started = time.perf_counter()
    rows = coupling_rows(problem)
    notes: list[str] = []
    if backend == "auto":
        variables = problem.value.size
        backend = "highs" if variables <= settings.auto_exact_max_variables else "lagrangian"
        notes.append(
            f"auto chose {backend}: {variables:,} variables "
            f"{'<=' if backend == 'highs' else '>'} "
            f"{settings.auto_exact_max_variables:,}"
        )
    chosen = backend_named(backend)
    conflicts = single_row_conflicts(problem, rows)
    if conflicts:  # rows that fail on their own explain it; no elastic re-solve needed
        explanation = InfeasibilityExplanation(tuple(conflicts))
        return finish(
            problem,
            rows,
            settings,
            backend=chosen.name,
            version=chosen.version(),
            choice=None,
            bound=float("-inf"),
            shadow=None,
            timings=Timings(0.0, 0.0, time.perf_counter() - started),
            explanation=explanation,
            notes=tuple(notes),
        )
    warm = None
    if settings.warm_start and Capability.WARM_START in chosen.capabilities:
        decomposition = LagrangianBackend().solve(
            problem, rows, replace(settings, time_limit_s=settings.time_limit_s / 2), None
        )
        if decomposition.has_plan:
            warm = decomposition.choice
            notes.append(
                f"warm start from the decomposition (objective "
                f"{decomposition.objective:,.4f}, gap {decomposition.gap:.2e})"
            )
    solution = chosen.solve(problem, rows, settings, warm)
    if solution.explanation is None and not solution.has_plan and settings.time_limit_s > 0:
        explanation = explain_infeasibility(problem, rows, settings)
        solution = replace(solution, explanation=explanation)
    if problem.recommendations is not None and solution.has_plan:
        shown = solve_recommendations(
            problem.recommendations,
            settings,
            allow_exact=Capability.EXACT in chosen.capabilities
            or problem.shape[0] <= settings.auto_exact_max_variables,
        )
        notes.append(
            f"recommendations: {'exact LP' if shown.exact else 'proposal rounds'}, "
            f"value {shown.value:,.4f}, bound {shown.bound:,.4f}"
        )
        solution = replace(
            solution,
            objective=solution.objective + shown.value,
            bound=solution.bound + shown.bound,
            recommended=shown,
        )
        if solution.status is SolveStatus.OPTIMAL and solution.gap > settings.relative_gap:
            solution = replace(solution, status=SolveStatus.FEASIBLE)
    return replace(solution, notes=tuple(notes) + solution.notes)
