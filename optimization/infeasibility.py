"""Why a scenario is infeasible: which coupling rows conflict, and by how much.

First the rows that fail on their own (a floor above what every customer's best action could
bring, coverage beyond what the segment can take) are found in closed form. Then an elastic
re-solve of the LP relaxation, with a penalised slack on every coupling row, says how far each
row must give way for all of them to hold together.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sparse

from optimization.highs_model import solve_with_highs
from optimization.milp import build_milp, incremental
from optimization.problem import DecisionProblem
from optimization.rows import CouplingRows, RowKind
from optimization.settings import SolveSettings
from optimization.solution import Conflict, InfeasibilityExplanation

#: Above this many variables the elastic LP is skipped and only closed-form checks are made.
ELASTIC_MAX_VARIABLES = 2_000_000


def _label(rows: CouplingRows, problem: DecisionProblem, i: int) -> str:
    kind = rows.kinds[i]
    if kind is RowKind.REVENUE_FLOOR:
        return f"the week-{rows.week[i] + 1} revenue floor ({problem.week_labels[rows.week[i]]})"
    if kind is RowKind.WEEKLY_BUDGET:
        return f"the week-{rows.week[i] + 1} budget ({problem.week_labels[rows.week[i]]})"
    if kind is RowKind.TOTAL_BUDGET:
        return "the total budget"
    if kind is RowKind.ACTION_CAPACITY:
        return f"the capacity of {problem.action_ids[rows.action[i]]}"
    if kind is RowKind.RATIO:
        return f"the ratio rule {problem.ratios[rows.ratio[i]].name}"
    return f"the coverage of segment {problem.coverage[rows.segment[i]].name}"


def _conflict(rows: CouplingRows, problem: DecisionProblem, i: int, reachable: float) -> Conflict:
    rhs = float(rows.rhs[i])
    label = _label(rows, problem, i)
    if rows.sense[i] < 0:
        shortfall = rhs - reachable
        message = (
            f"{label} of {rhs:,.0f} is {shortfall:,.0f} above the best reachable {reachable:,.0f}"
        )
    else:
        shortfall = reachable - rhs
        message = (
            f"{label} of {rhs:,.0f} is {shortfall:,.0f} below the {reachable:,.0f} the "
            f"other constraints need"
        )
    return Conflict(rows.names[i], rhs, float(reachable), float(shortfall), message)


def single_row_conflicts(problem: DecisionProblem, rows: CouplingRows) -> list[Conflict]:
    """Rows that no plan can meet even with every other coupling row removed."""
    floor_gain, budget_saving = _best_single_row_moves(problem)
    cap = problem.effective_contact_cap
    conflicts = []
    for i, kind in enumerate(rows.kinds):
        if kind is RowKind.REVENUE_FLOOR:
            t = rows.week[i]
            reachable = rows.base[i] + floor_gain[t] if cap > 0 else rows.base[i]
        elif kind is RowKind.SEGMENT_COVERAGE:
            members = problem.coverage[rows.segment[i]].members
            can_contact = problem.eligible[members, 1:].any(axis=1)
            reachable = float(can_contact.sum() * cap)
        elif kind in (RowKind.WEEKLY_BUDGET, RowKind.TOTAL_BUDGET):
            saving = (
                budget_saving[rows.week[i]]
                if kind is RowKind.WEEKLY_BUDGET
                else budget_saving.sum()
            )
            reachable = rows.base[i] + saving
        else:
            reachable = 0.0
        if rows.sense[i] * (rows.rhs[i] - reachable) < -1e-6 * max(1.0, abs(rows.rhs[i])):
            conflicts.append(_conflict(rows, problem, i, reachable))
    return conflicts


#: Customers whose increments are formed at a time by `_best_single_row_moves`.
CONFLICT_CHUNK = 500_000


def _best_single_row_moves(problem: DecisionProblem) -> tuple[np.ndarray, np.ndarray]:
    """Per week [H]: the most revenue the customers' best allowed actions can add (each
    customer's largest revenue increment over none, if positive) and the most cost they can
    save (its most negative cost increment); CONFLICT_CHUNK customers at a time, so no
    float64 [N, A-1, H] increments are held (at 10M customers they took 14 GB)."""
    n, _, h = problem.shape
    gain, saving = np.zeros(h), np.zeros(h)
    for start in range(0, n, CONFLICT_CHUNK):
        part = slice(start, min(start + CONFLICT_CHUNK, n))
        allowed = problem.eligible[part, 1:, None]  # [C, A-1, 1]
        _, dc, dr = incremental(problem, part)  # [C, A-1, H] each
        best = np.where(allowed, dr, -np.inf).max(axis=1)  # [C, H]
        gain += np.clip(best, 0, None).sum(axis=0)
        cheapest = np.where(allowed, dc, np.inf).min(axis=1)  # [C, H]
        saving += np.clip(cheapest, None, 0).sum(axis=0)
    return gain, saving


def explain_infeasibility(
    problem: DecisionProblem, rows: CouplingRows, settings: SolveSettings
) -> InfeasibilityExplanation:
    """Why no plan meets the rows: first any row that no plan can meet alone, with its shortfall;
    else the elastic re-solve that says which rows conflict jointly, and by how much."""
    conflicts = single_row_conflicts(problem, rows)
    if conflicts or problem.value.size > ELASTIC_MAX_VARIABLES:
        return InfeasibilityExplanation(tuple(conflicts))
    milp = build_milp(problem, rows)
    m = len(rows)
    first = milp.first_coupling_row
    # One slack column per coupling row: +1 on a >= row, -1 on a <= row, weighted by 1/|rhs|.
    slack_matrix = sparse.csc_matrix(
        (-rows.sense.astype(np.float64), (first + np.arange(m), np.arange(m))),
        shape=(milp.matrix.shape[0], m),
    )
    matrix = sparse.hstack([milp.matrix, slack_matrix], format="csc")
    weights = 1.0 / np.maximum(1.0, np.abs(rows.rhs))
    objective = np.concatenate([np.zeros(milp.num_cols), weights])
    upper = np.concatenate([milp.upper, np.full(m, np.inf)])
    outcome = solve_with_highs(
        objective,
        np.zeros(len(objective)),
        upper,
        matrix,
        milp.row_lower,
        milp.row_upper,
        settings,
        integer=False,
        maximise=False,
    )
    if outcome.x is None:
        return InfeasibilityExplanation(())
    slack = outcome.x[milp.num_cols :]
    found = []
    for i in np.flatnonzero(slack > 1e-6 * np.maximum(1.0, np.abs(rows.rhs))):
        # A >= row reaches rhs - slack at best; a <= row would need rhs + slack.
        reachable = rows.rhs[i] + rows.sense[i] * slack[i]
        found.append(_conflict(rows, problem, i, float(reachable)))
    return InfeasibilityExplanation(tuple(found))
