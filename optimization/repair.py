"""From the dual's best response to a plan that satisfies every constraint.

At optimal multipliers y*, customers' best responses are almost a feasible plan: only those near
a tie (about one per coupling row in an LP-optimal solution, Shapley-Folkman) can tip a row. The
repair:
  1. drops, from each budget or capacity row the plan overruns, the contacts worth least per
     unit of that row; where a revenue floor or coverage row is short, raises that row's price
     step by step and redoes the (vectorised) best response;
  2. fills the slack this leaves, greedily, with the best remaining contacts at y* (a short
     sequential pass over a bounded candidate list);
  3. if the gap to the dual bound is still above the target, re-optimises the customers nearest
     a tie exactly, in a small MIP on HiGHS, against what the others leave of each row.
"""

from __future__ import annotations

import time

import numpy as np

from optimization.highs_model import solve_with_highs
from optimization.lagrangian import LagrangianDual, price_scales
from optimization.milp import build_milp
from optimization.problem import DecisionProblem
from optimization.reporting import FEASIBILITY_TOLERANCE
from optimization.rows import CouplingRows, RowKind, coupling_rows, measure_plan, plan_usage
from optimization.settings import SolveSettings

PRICE_STEPS = (1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0)
FILL_CANDIDATES_PER_ROW = 50
FILL_CANDIDATES_MIN = 5_000


def _feasible(problem: DecisionProblem, rows: CouplingRows, plan: np.ndarray) -> bool:
    return measure_plan(problem, rows, plan).feasible(
        rows, problem.effective_contact_cap, FEASIBILITY_TOLERANCE
    )


def adjusted_values(
    problem: DecisionProblem, dual: LagrangianDual, y: np.ndarray, plan: np.ndarray
) -> np.ndarray:
    """Adjusted value at y of each customer-week's planned action ([N, H]; 0 for none)."""
    n, _, h = problem.shape
    prices = dual.prices(y)
    out = np.zeros((n, h))
    for start in range(0, n, dual.chunk):
        stop = min(start + dual.chunk, n)
        _, _, adjusted, _ = dual.best_response(start, stop, prices)
        index = np.maximum(plan[start:stop] - 1, 0)[:, None, :]  # [C, 1, H]
        chosen = np.take_along_axis(adjusted, index, axis=1)[:, 0, :]
        out[start:stop] = np.where(plan[start:stop] > 0, chosen, 0.0)
    return out


def drop_to_fit(
    problem: DecisionProblem, rows: CouplingRows, plan: np.ndarray, score: np.ndarray
) -> np.ndarray:
    """Remove the contacts worth least per unit of the row until each broken row holds.

    For <= rows (budgets, capacities) any contact may go; for a >= revenue floor only contacts
    that lower the week's revenue. Removing a contact never breaks a budget or capacity row.
    """
    plan = plan.copy()
    h = problem.shape[2]
    every_week = np.arange(h)
    slacks = measure_plan(problem, rows, plan).slack
    for i, kind in enumerate(rows.kinds):
        slack = slacks[i]
        if slack >= -FEASIBILITY_TOLERANCE * max(1.0, abs(rows.rhs[i])):
            continue
        weeks = np.array([rows.week[i]]) if rows.week[i] >= 0 else every_week
        customers, week = np.nonzero(plan[:, weeks] > 0)
        week = weeks[week]
        action = plan[customers, week]
        if kind is RowKind.ACTION_CAPACITY:
            keep = action == rows.action[i]
            weight = np.ones(int(keep.sum()))
        elif kind is RowKind.REVENUE_FLOOR:
            weight = -(
                problem.revenue[customers, action, week] - problem.revenue[customers, 0, week]
            )
            keep = weight > 0
            weight = weight[keep]
        elif kind is RowKind.SEGMENT_COVERAGE:
            continue
        else:
            weight = problem.cost[customers, action, week] - problem.cost[customers, 0, week]
            keep = weight > 0
            weight = weight[keep]
        customers, week = customers[keep], week[keep]
        order = np.argsort(score[customers, week] / np.maximum(weight, 1e-12), kind="stable")
        released = np.cumsum(weight[order])
        count = min(len(order), int(np.searchsorted(released, -slack - 1e-12)) + 1)
        drop = order[:count]
        plan[customers[drop], week[drop]] = 0
        if len(drop):  # the drop moves other rows too: measure again only now
            slacks = measure_plan(problem, rows, plan).slack
    return plan


def raise_floor_prices(
    problem: DecisionProblem,
    rows: CouplingRows,
    dual: LagrangianDual,
    y: np.ndarray,
    plan: np.ndarray,
) -> np.ndarray | None:
    """For >= rows still short: raise their prices step by step and redo the best response,
    dropping contacts from any <= row that this overruns."""
    scale = price_scales(problem, rows, dual.chunk)
    lower_rows = rows.sense < 0
    for step in PRICE_STEPS:
        short = measure_plan(problem, rows, plan).slack < -FEASIBILITY_TOLERANCE * np.maximum(
            1.0, np.abs(rows.rhs)
        )
        if not (short & lower_rows).any():
            break
        nudged = y + step * scale * (short & lower_rows)
        _, plan = dual.evaluate(nudged, keep_plan=True)
        plan = drop_to_fit(problem, rows, plan, adjusted_values(problem, dual, y, plan))
    return plan if _feasible(problem, rows, plan) else None


def fill_slack(
    problem: DecisionProblem,
    rows: CouplingRows,
    dual: LagrangianDual,
    y: np.ndarray,
    plan: np.ndarray,
) -> np.ndarray:
    """Add the best remaining contacts (by adjusted value at y) while every row holds."""
    n, _, h = problem.shape
    plan = plan.copy()
    measures = measure_plan(problem, rows, plan)
    slack = measures.slack.copy()
    tolerance = FEASIBILITY_TOLERANCE * np.maximum(1.0, np.abs(rows.rhs))
    contacts = (plan > 0).sum(axis=1)
    cap = problem.effective_contact_cap
    prices = dual.prices(y)
    candidates: list[tuple[float, int, int, int]] = []
    limit = max(FILL_CANDIDATES_MIN, FILL_CANDIDATES_PER_ROW * len(rows))
    for start in range(0, n, dual.chunk):
        stop = min(start + dual.chunk, n)
        _, _, adjusted, _ = dual.best_response(start, stop, prices)
        raw = problem.value[start:stop, 1:, :] - problem.value[start:stop, :1, :]
        open_week = (plan[start:stop] == 0) & (contacts[start:stop, None] < cap)  # [C, H]
        gain = np.where(problem.eligible[start:stop, 1:, None] & (raw > 0), adjusted, -np.inf)
        best = gain.argmax(axis=1)  # [C, H]
        score = np.take_along_axis(gain, best[:, None, :], axis=1)[:, 0, :]
        score = np.where(open_week, score, -np.inf)
        flat = score.reshape(-1)
        keep = min(limit, int(np.isfinite(flat).sum()))
        if keep == 0:
            continue
        top = np.argpartition(-flat, keep - 1)[:keep]
        for index in top:
            u, t = divmod(int(index), h)
            candidates.append((float(flat[index]), start + u, t, int(best[u, t]) + 1))
    candidates.sort(reverse=True)
    members = [s.members for s in problem.coverage]
    for _, u, t, act in candidates[:limit]:
        if contacts[u] >= cap or plan[u, t] != 0:
            continue
        dc = problem.cost[u, act, t] - problem.cost[u, 0, t]
        dr = problem.revenue[u, act, t] - problem.revenue[u, 0, t]
        delta = np.zeros(len(rows))
        for i, kind in enumerate(rows.kinds):
            if kind is RowKind.WEEKLY_BUDGET and rows.week[i] == t:
                delta[i] = dc
            elif kind is RowKind.TOTAL_BUDGET:
                delta[i] = dc
            elif kind is RowKind.REVENUE_FLOOR and rows.week[i] == t:
                delta[i] = dr
            elif kind is RowKind.ACTION_CAPACITY and rows.action[i] == act:
                delta[i] = 1.0
            elif kind is RowKind.SEGMENT_COVERAGE and members[rows.segment[i]][u]:
                delta[i] = 1.0
        after = slack - rows.sense * delta
        if (after >= -tolerance).all():
            plan[u, t] = act
            slack = after
            contacts[u] += 1
    return plan


def polish(
    problem: DecisionProblem,
    rows: CouplingRows,
    dual: LagrangianDual,
    y: np.ndarray,
    plan: np.ndarray,
    settings: SolveSettings,
    *,
    customers: int,
    absolute_gap: float,
    time_limit_s: float,
) -> np.ndarray:
    """Re-optimise the `customers` nearest a tie exactly; keep the plan if that fails."""
    n = problem.shape[0]
    free = np.sort(np.argsort(dual.margins(y), kind="stable")[: min(n, customers)])
    fixed = np.setdiff1d(np.arange(n), free, assume_unique=True)
    usage = plan_usage(problem, plan, fixed)
    sub = problem.subset(free, fixed_usage=usage)
    milp = build_milp(sub, coupling_rows(sub))
    outcome = solve_with_highs(
        milp.objective,
        np.zeros(milp.num_cols),
        milp.upper,
        milp.matrix,
        milp.row_lower,
        milp.row_upper,
        settings,
        integer=True,
        warm_start=milp.from_choice(plan[free]),
        time_limit_s=time_limit_s,
        absolute_gap=absolute_gap,
    )
    if outcome.x is None:
        return plan
    candidate = plan.copy()
    candidate[free] = milp.to_choice(outcome.x)
    better = (
        measure_plan(problem, rows, candidate).objective
        > measure_plan(problem, rows, plan).objective
    )
    return candidate if better and _feasible(problem, rows, candidate) else plan


def repair(
    problem: DecisionProblem,
    rows: CouplingRows,
    dual: LagrangianDual,
    y: np.ndarray,
    bound: float,
    settings: SolveSettings,
    deadline: float,
) -> np.ndarray | None:
    """A feasible plan near the best response at y (None if none was found in time)."""
    _, plan = dual.evaluate(y, keep_plan=True)
    assert plan is not None
    if not _feasible(problem, rows, plan):
        plan = drop_to_fit(problem, rows, plan, adjusted_values(problem, dual, y, plan))
    if not _feasible(problem, rows, plan):
        plan = raise_floor_prices(problem, rows, dual, y, plan)
    if plan is None:
        return None
    plan = fill_slack(problem, rows, dual, y, plan)
    objective = measure_plan(problem, rows, plan).objective
    target = settings.relative_gap * max(abs(bound), 1e-9)
    remaining = deadline - time.perf_counter()
    if bound - objective > target and remaining > 1.0:
        config = settings.lagrangian
        plan = polish(
            problem,
            rows,
            dual,
            y,
            plan,
            settings,
            customers=max(config.repair_customers, 10 * len(rows)),
            absolute_gap=target * 0.5,
            time_limit_s=min(config.repair_time_limit_s, remaining),
        )
    return plan
