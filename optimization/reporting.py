"""Turn a plan, a bound and shadow prices into a Solution, measured from the arrays alone."""

from __future__ import annotations

import numpy as np

from optimization.problem import DecisionProblem
from optimization.rows import CouplingRows, measure_plan
from optimization.settings import SolveSettings
from optimization.solution import (
    ConstraintReport,
    InfeasibilityExplanation,
    Solution,
    SolveStatus,
    Timings,
)

#: Slack below this (relative to max(1, |rhs|)) counts as a violation.
FEASIBILITY_TOLERANCE = 1e-6


def constraint_reports(
    problem: DecisionProblem, rows: CouplingRows, activity: np.ndarray, shadow: np.ndarray
) -> tuple[ConstraintReport, ...]:
    slack = rows.sense * (rows.rhs - activity)
    return tuple(
        ConstraintReport(
            name=rows.names[i],
            kind=rows.kinds[i].value,
            week=int(rows.week[i]) + 1 if rows.week[i] >= 0 else None,
            sense="<=" if rows.sense[i] > 0 else ">=",
            activity=float(activity[i]),
            rhs=float(rows.rhs[i]),
            slack=float(slack[i]),
            shadow_price=float(shadow[i]),
        )
        for i in range(len(rows))
    )


def finish(
    problem: DecisionProblem,
    rows: CouplingRows,
    settings: SolveSettings,
    *,
    backend: str,
    version: str,
    choice: np.ndarray | None,
    bound: float,
    shadow: np.ndarray | None,
    timings: Timings,
    time_limit_hit: bool = False,
    explanation: InfeasibilityExplanation | None = None,
    notes: tuple[str, ...] = (),
) -> Solution:
    """Measure `choice`, check it against every constraint, and state the result honestly.

    A plan that breaks a constraint is never returned as a plan: that is a bug, raised loudly.
    """
    shadow = np.zeros(len(rows)) if shadow is None else shadow
    if choice is None:
        status = SolveStatus.TIME_LIMIT if time_limit_hit else SolveStatus.INFEASIBLE
        activity = np.full(len(rows), np.nan)
        return Solution(
            status,
            float("nan"),
            float(bound),
            backend,
            version,
            constraint_reports(problem, rows, activity, shadow),
            timings,
            None,
            explanation,
            notes,
        )
    measures = measure_plan(problem, rows, choice)
    if not measures.feasible(rows, problem.effective_contact_cap, FEASIBILITY_TOLERANCE):
        worst = int(np.argmin(measures.slack / np.maximum(1.0, np.abs(rows.rhs))))
        raise AssertionError(
            f"{backend} produced a plan that breaks {rows.names[worst] if len(rows) else 'a row'}"
            f" (slack {measures.slack[worst] if len(rows) else 'n/a'}, max contacts "
            f"{measures.max_contacts}, ineligible {measures.uses_ineligible})"
        )
    objective = measures.objective
    bound = max(float(bound), objective)  # a bound below a feasible plan is rounding noise
    gap = (bound - objective) / max(abs(bound), 1e-9)
    if gap <= settings.relative_gap + 1e-9:
        status = SolveStatus.OPTIMAL
    elif time_limit_hit:
        status = SolveStatus.TIME_LIMIT
    else:
        status = SolveStatus.FEASIBLE
    if status is not SolveStatus.OPTIMAL:
        stopped = (
            f"the {settings.time_limit_s:g} s time limit"
            if time_limit_hit
            else f"{timings.total_seconds:.1f} s of the {settings.time_limit_s:g} s limit, "
            "where the method stopped improving"
        )
        notes = (
            *notes,
            f"not proven within the requested gap: gap {gap:.2e} against the requested "
            f"{settings.relative_gap:.2e}, stopped at {stopped}",
        )
    return Solution(
        status,
        objective,
        bound,
        backend,
        version,
        constraint_reports(problem, rows, measures.activity, shadow),
        timings,
        choice.astype(np.int64),
        explanation,
        notes,
    )
