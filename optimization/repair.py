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

The plan stays with the customers' coefficients, in groups (optimization/plan_shard.py: the
whole problem in one process, or one group per Ray actor); this driver decides from the rows'
totals and short candidate lists that the groups send, merged into the order one group would
give, so the plan is the same however the customers are split.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from optimization.dual_bundle import price_scales
from optimization.groups import Shards
from optimization.lagrangian import LagrangianDual
from optimization.milp import build_milp
from optimization.plan_shard import DropCandidates, FillCandidates
from optimization.problem import DecisionProblem, Usage
from optimization.reporting import FEASIBILITY_TOLERANCE
from optimization.rows import CouplingRows, PlanTotals, RowKind, coupling_rows
from optimization.settings import SolveSettings

PRICE_STEPS = (1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0)
FILL_CANDIDATES_PER_ROW = 50
FILL_CANDIDATES_MIN = 5_000
#: The candidates' fields, in the order `fill_slack` reads them.
FILL_FIELDS = tuple(f.name for f in dataclasses.fields(FillCandidates))


def _measure(shards: Shards) -> PlanTotals:
    return PlanTotals.sum(shards.call("totals"))


def _feasible(dual: LagrangianDual, totals: PlanTotals) -> bool:
    rows = dual.rows
    return totals.measures(rows).feasible(
        rows, dual.problem.effective_contact_cap, FEASIBILITY_TOLERANCE
    )


def _merged(found: list, fields: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The groups' candidate lists as one: each field concatenated, and the group of each."""
    group = np.concatenate([np.full(len(getattr(c, fields[0])), k) for k, c in enumerate(found)])
    return (group, *(np.concatenate([getattr(c, f) for c in found]) for f in fields))


def _per_group(shards: Shards, group: np.ndarray, *columns: np.ndarray) -> list[tuple]:
    """Each group's share of `columns` (rows where `group` is k), as call arguments."""
    return [tuple(column[group == k] for column in columns) for k in range(len(shards))]


def drop_to_fit(
    dual: LagrangianDual, shards: Shards, totals: PlanTotals, y: np.ndarray
) -> PlanTotals:
    """Remove the contacts worth least (adjusted value at y) per unit of the row until each
    broken row holds.

    For <= rows (budgets, capacities) any contact may go; for a >= revenue floor or ratio rule
    only contacts that lower it. Removing a contact never breaks a budget or capacity row.
    """
    rows = dual.rows
    shards.call("score_contacts", y)
    slacks = totals.measures(rows).slack
    for i, kind in enumerate(rows.kinds):
        slack = slacks[i]
        if slack >= -FEASIBILITY_TOLERANCE * max(1.0, abs(rows.rhs[i])):
            continue
        if kind is RowKind.SEGMENT_COVERAGE:
            continue
        found: list[DropCandidates] = shards.call("drop_candidates", i, -slack)
        group, ratio, weight, customer, week = _merged(
            found, ("ratio", "weight", "customer", "week")
        )
        order = np.lexsort((week, customer, ratio))  # one group's order: see drop_candidates
        released = np.cumsum(weight[order])
        count = min(len(order), int(np.searchsorted(released, -slack - 1e-12)) + 1)
        drop = order[:count]
        if len(drop):  # the drop moves other rows too: measure again only now
            shards.call_each("drop", _per_group(shards, group[drop], customer[drop], week[drop]))
            totals = _measure(shards)
            slacks = totals.measures(rows).slack
    shards.call("forget_scores")
    return totals


def raise_floor_prices(
    dual: LagrangianDual, shards: Shards, totals: PlanTotals, y: np.ndarray
) -> PlanTotals | None:
    """For >= rows still short: raise their prices step by step and redo the best response,
    dropping contacts from any <= row that this overruns."""
    rows = dual.rows
    scale = price_scales(dual.problem, rows, dual.chunk)
    lower_rows = rows.sense < 0
    for step in PRICE_STEPS:
        short = totals.measures(rows).slack < -FEASIBILITY_TOLERANCE * np.maximum(
            1.0, np.abs(rows.rhs)
        )
        if not (short & lower_rows).any():
            break
        nudged = y + step * scale * (short & lower_rows)
        totals = PlanTotals.sum(shards.call("respond", nudged))
        totals = drop_to_fit(dual, shards, totals, y)
    return totals if _feasible(dual, totals) else None


def _row_deltas(
    problem: DecisionProblem, rows: CouplingRows, candidates: tuple[np.ndarray, ...]
) -> np.ndarray:
    """What each candidate contact adds to each coupling row ([k, m])."""
    week, action, cost, revenue, segments, value = candidates
    deltas = np.zeros((len(week), len(rows)))
    for i, kind in enumerate(rows.kinds):
        if kind is RowKind.WEEKLY_BUDGET:
            deltas[:, i] = np.where(week == rows.week[i], cost, 0.0)
        elif kind is RowKind.TOTAL_BUDGET:
            deltas[:, i] = cost
        elif kind is RowKind.REVENUE_FLOOR:
            deltas[:, i] = np.where(week == rows.week[i], revenue, 0.0)
        elif kind is RowKind.ACTION_CAPACITY:
            deltas[:, i] = action == rows.action[i]
        elif kind is RowKind.RATIO:
            rule = problem.ratios[rows.ratio[i]]
            deltas[:, i] = np.where(rule.actions[action], rule.coefficients(value, cost), 0.0)
        else:
            deltas[:, i] = segments[:, rows.segment[i]]
    return deltas


def fill_slack(
    dual: LagrangianDual, shards: Shards, totals: PlanTotals, y: np.ndarray
) -> PlanTotals:
    """Add the best remaining contacts (by adjusted value at y) while every row holds."""
    rows = dual.rows
    limit = max(FILL_CANDIDATES_MIN, FILL_CANDIDATES_PER_ROW * len(rows))
    found: list[FillCandidates] = shards.call("fill_candidates", y, limit)
    merged = _merged(found, FILL_FIELDS)
    group, score, customer, week, action, cost, revenue, segments, contacts, value = merged
    order = np.lexsort((-action, -week, -customer, -score))[:limit]  # best first
    deltas = _row_deltas(dual.problem, rows, (week, action, cost, revenue, segments, value))
    _, who = np.unique(customer, return_inverse=True)
    count = np.zeros(who.max(initial=-1) + 1, dtype=np.int64)
    count[who] = contacts
    cap = dual.problem.effective_contact_cap
    slack = totals.measures(rows).slack.copy()
    tolerance = FEASIBILITY_TOLERANCE * np.maximum(1.0, np.abs(rows.rhs))
    taken = np.zeros(len(customer), dtype=bool)
    # a candidate fits its customer's contact windows alone: under windows, one a customer
    windowed = bool(dual.problem.windows)
    added = np.zeros_like(count, dtype=bool)
    for j in order:  # sequential by design: each contact uses up slack the next may need
        if count[who[j]] >= cap or (windowed and added[who[j]]):
            continue
        after = slack - rows.sense * deltas[j]
        if (after >= -tolerance).all():
            taken[j] = True
            slack = after
            count[who[j]] += 1
            added[who[j]] = True
    if not taken.any():
        return totals
    shards.call_each(
        "add", _per_group(shards, group[taken], customer[taken], week[taken], action[taken])
    )
    return _measure(shards)


def polish(
    dual: LagrangianDual,
    shards: Shards,
    totals: PlanTotals,
    y: np.ndarray,
    settings: SolveSettings,
    *,
    customers: int,
    absolute_gap: float,
    time_limit_s: float,
) -> PlanTotals:
    """Re-optimise the `customers` nearest a tie exactly; keep the plan if that fails."""
    count = min(dual.problem.shape[0], customers)
    group, margin, customer = _merged(shards.call("nearest_ties", y, count), ("margin", "customer"))
    nearest = np.lexsort((customer, margin))[:count]
    group, customer = group[nearest], customer[nearest]
    order = np.lexsort((customer,))  # the free customers by index in the whole problem
    group, customer = group[order], customer[order]
    free = _per_group(shards, group, customer)
    pieces = shards.call_each("extract", free)
    fixed = Usage.sum(shards.call_each("usage_without", free))
    stacked = DecisionProblem.stack([piece for piece, _ in pieces])
    rank = np.argsort(np.concatenate([c for (c,) in free]), kind="stable")
    sub = stacked.subset(rank, fixed_usage=fixed)
    before = np.concatenate([plan for _, plan in pieces])[rank]
    milp = build_milp(sub, coupling_rows(sub))
    outcome = milp.solve(
        settings,
        integer=True,
        warm_start=milp.from_choice(before),
        time_limit_s=time_limit_s,
        absolute_gap=absolute_gap,
    )
    if outcome.x is None:
        return totals
    after = milp.to_choice(outcome.x)
    shards.call_each("assign", _per_group(shards, group, customer, after))
    candidate = _measure(shards)
    if candidate.objective > totals.objective and _feasible(dual, candidate):
        return candidate
    shards.call_each("assign", _per_group(shards, group, customer, before))
    return totals


def repair(
    dual: LagrangianDual,
    shards: Shards,
    y: np.ndarray,
    bound: float,
    settings: SolveSettings,
    deadline: float,
) -> PlanTotals | None:
    """Leave in `shards` a feasible plan near the best response at y and return its totals
    (None if none was found in time)."""
    totals = PlanTotals.sum(shards.call("respond", y))
    if not _feasible(dual, totals):
        totals = drop_to_fit(dual, shards, totals, y)
    if not _feasible(dual, totals):
        found = raise_floor_prices(dual, shards, totals, y)
        if found is None:
            return None
        totals = found
    totals = fill_slack(dual, shards, totals, y)
    target = settings.relative_gap * max(abs(bound), 1e-9)
    remaining = deadline - time.perf_counter()
    if bound - totals.objective > target and remaining > 1.0:
        config = settings.lagrangian
        totals = polish(
            dual,
            shards,
            totals,
            y,
            settings,
            customers=max(config.repair_customers, 10 * len(dual.rows)),
            absolute_gap=target * 0.5,
            time_limit_s=min(config.repair_time_limit_s, remaining),
        )
    return totals
