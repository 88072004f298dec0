"""`solve(problem, backend, settings) -> Solution`: one entry point for every backend.

`auto` picks the exact HiGHS MIP for problems up to `settings.auto_exact_max_variables`
variables and the Lagrangian decomposition above, and says which it chose and why. Exact
backends are warm-started from the decomposition's plan when `settings.warm_start` is set.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import numpy as np

from optimization.backends.base import Backend, Capability
from optimization.backends.highs import HighsBackend
from optimization.backends.lagrangian import LagrangianBackend
from optimization.infeasibility import explain_infeasibility, single_row_conflicts
from optimization.problem import DecisionProblem
from optimization.recommendations import RecommendationPlan, solve_recommendations, takes_rounds
from optimization.reporting import FEASIBILITY_TOLERANCE, finish
from optimization.rows import CouplingRows, coupling_rows, measure_plan
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
    problem: DecisionProblem,
    backend: str = "auto",
    settings: SolveSettings | None = None,
    *,
    recommended: RecommendationPlan | None = None,
) -> Solution:
    """Solve `problem` on `backend` (auto: exact up to settings.auto_exact_max_variables).

    `recommended`: the recommendation block's plan when it was already solved for this block
    (the block does not depend on the promotions, so re-solves of the same problem with other
    eligibilities, as in the release check, reuse it instead of solving it again).
    """
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
    with _execution(settings):
        solution = None
        if not problem.eligible[:, 1:].any():
            solution = _nothing_eligible(problem, rows, settings, chosen, started)
        if solution is None:
            solution = _backend_solution(problem, rows, settings, chosen, notes, started)
        solution = _with_recommendations(
            problem,
            solution,
            settings,
            recommended,
            exact=Capability.EXACT in chosen.capabilities
            or problem.shape[0] <= settings.auto_exact_max_variables,
        )
    return replace(solution, notes=tuple(notes) + solution.notes)


def _execution(settings: SolveSettings) -> AbstractContextManager[None]:
    """One Ray session for the whole solve where the decomposition runs there (its dual and
    the recommendation block's rounds share it; `ray_session`), else nothing."""
    if settings.lagrangian.engine != "ray":
        return nullcontext()
    from optimization.ray_groups import ray_session

    return ray_session(settings.lagrangian.ray_address)


def _backend_solution(
    problem: DecisionProblem,
    rows: CouplingRows,
    settings: SolveSettings,
    chosen: Backend,
    notes: list[str],
    started: float,
) -> Solution:
    """The backend's solution (warm-started from the decomposition where it can use one), or
    why there is none; what it chose is added to `notes`."""
    conflicts = single_row_conflicts(problem, rows)
    if conflicts:  # rows that fail on their own explain it; no elastic re-solve needed
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
            explanation=InfeasibilityExplanation(tuple(conflicts)),
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
        solution = replace(solution, explanation=explain_infeasibility(problem, rows, settings))
    return solution


def _nothing_eligible(
    problem: DecisionProblem,
    rows: CouplingRows,
    settings: SolveSettings,
    backend: Backend,
    started: float,
) -> Solution | None:
    """Where no customer may get any action but `none`, the all-none plan is the only plan:
    optimal with bound = objective when it meets every row (None otherwise, for the backend
    to explain)."""
    n, _, h = problem.shape
    choice = np.zeros((n, h), dtype=np.int64)
    measures = measure_plan(problem, rows, choice)
    if not measures.feasible(rows, problem.effective_contact_cap, FEASIBILITY_TOLERANCE):
        return None
    return finish(
        problem,
        rows,
        settings,
        backend=backend.name,
        version=backend.version(),
        choice=choice,
        bound=measures.objective,
        shadow=None,
        timings=Timings(0.0, 0.0, time.perf_counter() - started),
        notes=("no action but none is eligible: the all-none plan is the only plan",),
    )


def _with_recommendations(
    problem: DecisionProblem,
    solution: Solution,
    settings: SolveSettings,
    recommended: RecommendationPlan | None,
    *,
    exact: bool,
) -> Solution:
    """`solution` with the recommendation block's plan (solved, or `recommended` reused). Its
    value and bound stay its own (`solution.recommended`), out of the solution's objective and
    bound: w is the expected margin of the recommended items (DESIGN §4), not a gain over
    showing none, while the objective is the promotions' incremental value against no action.
    The status says OPTIMAL only where both blocks together are within the requested gap."""
    if problem.recommendations is None or not solution.has_plan:
        return solution
    shown = recommended or _solve_block(problem, settings, exact=exact)
    note = (
        f"recommendations: {'exact LP' if shown.exact else 'proposal rounds'}, "
        f"expected margin of the items shown {shown.value:,.4f}, bound {shown.bound:,.4f} "
        "(not part of the CLV gain)"
        + (" (reused: the block is unchanged)" if recommended is not None else "")
    )
    solution = replace(solution, recommended=shown, notes=(*solution.notes, note))
    bound = solution.bound + shown.bound
    together = max(0.0, (bound - solution.objective - shown.value) / max(abs(bound), 1e-9))
    if solution.status is SolveStatus.OPTIMAL and together > settings.relative_gap:
        solution = replace(solution, status=SolveStatus.FEASIBLE)
    return solution


def _solve_block(
    problem: DecisionProblem, settings: SolveSettings, *, exact: bool
) -> RecommendationPlan:
    """The recommendation block's plan; its proposal rounds on Ray actors where the
    decomposition runs there (`lagrangian.engine: ray`) and the block is too large for the
    exact LP."""
    block = problem.recommendations
    assert block is not None
    config = settings.lagrangian
    if config.engine != "ray" or not takes_rounds(block, exact):
        return solve_recommendations(block, settings, allow_exact=exact)
    from optimization.ray_groups import block_groups

    with block_groups(
        block, problem.customer_ids, shards=config.shards, address=config.ray_address
    ) as groups:
        return solve_recommendations(block, settings, allow_exact=False, groups=groups)
