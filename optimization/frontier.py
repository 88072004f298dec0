"""Frontier sweeps: re-solve over a range of one right-hand side and trace CLV against
short-term revenue and spend (DESIGN §6 `sweep`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optimization.problem import DecisionProblem
from optimization.settings import SolveSettings
from optimization.solution import Solution, SolveStatus
from shopdata.progress import counted

SWEEPABLE = ("weekly_budget", "weekly_revenue_floor", "total_budget")


@dataclass(frozen=True)
class FrontierPoint:
    """One level of a sweep: the solver's status, the plan's CLV, bound and gap, its horizon
    revenue and spend (money in the shop's currency)."""

    parameter: str
    level: float  # the right-hand side (per week for weekly rows)
    status: SolveStatus
    clv: float  # objective: discounted CLV of the plan, relative to no action
    bound: float
    gap: float
    short_term_revenue: float  # horizon revenue of the plan
    spend: float  # horizon marketing cost of the plan


@dataclass(frozen=True)
class Frontier:
    """A sweep's points in increasing level, with the solution at each."""

    points: tuple[FrontierPoint, ...]
    solutions: tuple[Solution, ...]

    def as_arrays(self) -> dict[str, np.ndarray]:
        fields = ("level", "clv", "bound", "gap", "short_term_revenue", "spend")
        return {f: np.array([getattr(p, f) for p in self.points]) for f in fields}


def with_level(problem: DecisionProblem, parameter: str, level: float) -> DecisionProblem:
    """The problem with `parameter` (weekly_budget, weekly_revenue_floor or total_budget) set to
    `level` (every week the same for a weekly row)."""
    h = problem.shape[2]
    if parameter == "weekly_budget":
        return dataclasses.replace(problem, weekly_budget=np.full(h, float(level)))
    if parameter == "weekly_revenue_floor":
        return dataclasses.replace(problem, weekly_revenue_floor=np.full(h, float(level)))
    if parameter == "total_budget":
        return dataclasses.replace(problem, total_budget=float(level))
    raise ValueError(
        f"The 'parameter' of a frontier sweep must be one of {SWEEPABLE}. "
        f"Got {parameter!r} instead."
    )


def frontier(
    problem: DecisionProblem,
    parameter: str,
    levels: list[float] | np.ndarray,
    *,
    backend: str = "auto",
    settings: SolveSettings | None = None,
    on_point: Callable[[FrontierPoint], None] | None = None,
    solve_point: Callable[[DecisionProblem], Solution] | None = None,
) -> Frontier:
    """Solve the problem at each level of `parameter` (one value for every week of a weekly
    row); each solve warm-starts as `solve` does. Points come back in increasing level;
    `on_point` is told each point as soon as it is solved (a page watching the sweep fill).
    `solve_point` solves each level's problem where the caller does more than `solve` with
    `backend` and `settings` (the weekly run: budgets that hold, the release check), called in
    increasing level."""
    from optimization.solve import solve

    settings = settings or SolveSettings()
    solve_point = solve_point or (lambda variant: solve(variant, backend, settings))
    order = np.sort(np.asarray(levels, dtype=np.float64))
    points, solutions = [], []
    counter = counted(f"frontier over {parameter}", len(order), "points")
    for level in order:
        variant = with_level(problem, parameter, float(level))
        solution = solve_point(variant)
        solutions.append(solution)
        revenue = spend = float("nan")
        if solution.has_plan:
            n, _, h = variant.shape
            u, t = np.arange(n)[:, None], np.arange(h)[None, :]
            revenue = float(variant.revenue[u, solution.choice, t].sum())
            spend = float(variant.cost[u, solution.choice, t].sum())
        points.append(
            FrontierPoint(
                parameter,
                float(level),
                solution.status,
                solution.objective,
                solution.bound,
                solution.gap,
                revenue,
                spend,
            )
        )
        counter.advance(note=f"{parameter} = {level:,.2f}: {solution.status.value}")
        if on_point is not None:
            on_point(points[-1])
    counter.finish()
    return Frontier(tuple(points), tuple(solutions))
