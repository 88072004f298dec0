"""The coupling rows (budget, floor, capacity, coverage) and how a plan is measured against them.

Everything is kept relative to `none`: a variable exists for each (customer, action > 0, week)
and its coefficients are the action's differences to `none` in that week; the all-`none` plan's
activity is the `base` of each row. This removes the one-action-a-week equality and lets every
backend share one view of the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from optimization.contact_windows import breaks
from optimization.problem import DecisionProblem, Usage

#: Customers measured at a time by `measure_plan` and `plan_usage`.
MEASURE_CHUNK = 1_000_000


class RowKind(Enum):
    WEEKLY_BUDGET = "weekly_budget"
    TOTAL_BUDGET = "total_budget"
    REVENUE_FLOOR = "weekly_revenue_floor"
    ACTION_CAPACITY = "action_capacity"
    SEGMENT_COVERAGE = "segment_coverage"
    RATIO = "ratio"


#: +1: activity <= rhs; -1: activity >= rhs.
SENSE = {
    RowKind.WEEKLY_BUDGET: 1,
    RowKind.TOTAL_BUDGET: 1,
    RowKind.REVENUE_FLOOR: -1,
    RowKind.ACTION_CAPACITY: 1,
    RowKind.SEGMENT_COVERAGE: -1,
    RowKind.RATIO: -1,
}


@dataclass(frozen=True)
class CouplingRows:
    """The finite coupling rows of a problem, in a fixed order ([m] arrays).

    `week`, `action`, `segment`, `ratio` are -1 where not applicable; `rhs` is as the planner
    set it; `base` is the activity of the all-`none` plan.
    """

    names: tuple[str, ...]
    kinds: tuple[RowKind, ...]
    week: np.ndarray
    action: np.ndarray
    segment: np.ndarray
    sense: np.ndarray
    rhs: np.ndarray
    base: np.ndarray
    ratio: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, kind: RowKind) -> np.ndarray:
        return np.array([i for i, k in enumerate(self.kinds) if k is kind], dtype=np.int64)

    @property
    def incremental_rhs(self) -> np.ndarray:
        """What the actions (relative to none) may add: rhs - base."""
        return self.rhs - self.base


def coupling_rows(problem: DecisionProblem) -> CouplingRows:
    _, a, h = problem.shape
    names: list[str] = []
    kinds: list[RowKind] = []
    week: list[int] = []
    action: list[int] = []
    segment: list[int] = []
    ratio: list[int] = []
    rhs: list[float] = []
    base: list[float] = []
    base_cost = problem.cost[:, 0, :].sum(axis=0)  # [H]
    base_revenue = problem.revenue[:, 0, :].sum(axis=0)

    def add(
        kind: RowKind,
        name: str,
        value: float,
        base_value: float,
        *,
        t: int = -1,
        act: int = -1,
        seg: int = -1,
        rule: int = -1,
    ) -> None:
        names.append(name)
        kinds.append(kind)
        week.append(t)
        action.append(act)
        segment.append(seg)
        ratio.append(rule)
        rhs.append(float(value))
        base.append(float(base_value))

    for t in range(h):
        if np.isfinite(problem.weekly_budget[t]):
            add(
                RowKind.WEEKLY_BUDGET,
                f"budget[{problem.week_labels[t]}]",
                problem.weekly_budget[t],
                base_cost[t],
                t=t,
            )
    if np.isfinite(problem.total_budget):
        add(RowKind.TOTAL_BUDGET, "budget[total]", problem.total_budget, base_cost.sum())
    for t in range(h):
        if np.isfinite(problem.weekly_revenue_floor[t]):
            add(
                RowKind.REVENUE_FLOOR,
                f"revenue_floor[{problem.week_labels[t]}]",
                problem.weekly_revenue_floor[t],
                base_revenue[t],
                t=t,
            )
    capacity = problem.capacity
    for act in range(1, a):
        if np.isfinite(capacity[act]):
            add(
                RowKind.ACTION_CAPACITY,
                f"capacity[{problem.action_ids[act]}]",
                capacity[act],
                0.0,
                act=act,
            )
    for seg, coverage in enumerate(problem.coverage):
        add(
            RowKind.SEGMENT_COVERAGE,
            f"coverage[{coverage.name}]",
            coverage.minimum_contacts,
            0.0,
            seg=seg,
        )
    for q, rule in enumerate(problem.ratios):
        add(RowKind.RATIO, f"ratio[{rule.name}]", rule.minimum, 0.0, rule=q)
    return CouplingRows(
        names=tuple(names),
        kinds=tuple(kinds),
        week=np.array(week, dtype=np.int64),
        action=np.array(action, dtype=np.int64),
        segment=np.array(segment, dtype=np.int64),
        sense=np.array([SENSE[k] for k in kinds], dtype=np.int64),
        rhs=np.array(rhs, dtype=np.float64),
        base=np.array(base, dtype=np.float64),
        ratio=np.array(ratio, dtype=np.int64),
    )


@dataclass(frozen=True)
class PlanMeasures:
    """A plan measured against the problem: objective and each coupling row's activity."""

    objective: float
    activity: np.ndarray  # [m]
    slack: np.ndarray  # [m], negative where the row is violated
    max_contacts: int
    uses_ineligible: bool
    breaks_windows: bool = False

    def feasible(self, rows: CouplingRows, contact_cap: int, tolerance: float = 1e-6) -> bool:
        scale = np.maximum(1.0, np.abs(rows.rhs))
        return bool(
            (self.slack >= -tolerance * scale).all()
            and self.max_contacts <= contact_cap
            and not self.uses_ineligible
            and not self.breaks_windows
        )


def row_activity(rows: CouplingRows, usage: Usage) -> np.ndarray:
    """Each coupling row's activity ([m]) from what a plan uses: the one mapping from resources
    to rows, shared by plan measurement and the Lagrangian dual."""
    activity = np.zeros(len(rows))
    for i, kind in enumerate(rows.kinds):
        if kind is RowKind.WEEKLY_BUDGET:
            activity[i] = usage.cost[rows.week[i]]
        elif kind is RowKind.TOTAL_BUDGET:
            activity[i] = usage.cost.sum()
        elif kind is RowKind.REVENUE_FLOOR:
            activity[i] = usage.revenue[rows.week[i]]
        elif kind is RowKind.ACTION_CAPACITY:
            activity[i] = usage.per_action[rows.action[i]]
        elif kind is RowKind.RATIO:
            activity[i] = usage.per_ratio[rows.ratio[i]]
        else:
            activity[i] = usage.per_segment[rows.segment[i]]
    return activity


def _usage(
    problem: DecisionProblem,
    choice: np.ndarray,
    cost: np.ndarray,
    revenue: np.ndarray,
    customers: np.ndarray | slice,
) -> Usage:
    a = problem.shape[1]
    contacts = (choice > 0).sum(axis=1)  # [C]
    per_ratio = np.zeros(len(problem.ratios))
    if problem.ratios:  # each rule's coefficients of its chosen contacts, over none
        ruled = np.logical_or.reduce([rule.actions for rule in problem.ratios])  # [A]
        row, t = np.nonzero(ruled[choice])  # only the plan's contacts of some rule
        u = np.arange(problem.shape[0])[customers][row]
        act = choice[row, t]
        dv = problem.value[u, act, t].astype(np.float64) - problem.value[u, 0, t]
        dc = problem.cost[u, act, t].astype(np.float64) - problem.cost[u, 0, t]
        for q, rule in enumerate(problem.ratios):
            per_ratio[q] = float((rule.coefficients(dv, dc) * rule.actions[act]).sum())
    # float64 sums: a float32 problem summed down a million rows in float32 drifts by ~1e-4.
    return Usage(
        cost=cost.sum(axis=0, dtype=np.float64),
        revenue=revenue.sum(axis=0, dtype=np.float64),
        per_action=np.bincount(choice.reshape(-1), minlength=a).astype(np.float64)
        * (np.arange(a) > 0),
        per_segment=np.array(
            [contacts[s.members[customers]].sum() for s in problem.coverage], dtype=np.float64
        ),
        per_ratio=per_ratio,
    )


def plan_usage(problem: DecisionProblem, choice: np.ndarray, customers: np.ndarray) -> Usage:
    """What `customers` use under `choice` ([N, H]), relative to sending them nothing."""
    t = np.arange(problem.shape[2])[None, :]  # [1, H]
    parts = []
    for start in range(0, max(len(customers), 1), MEASURE_CHUNK):
        block = customers[start : start + MEASURE_CHUNK]
        u = block[:, None]  # [C, 1]
        sub = choice[block]
        cost = problem.cost[u, sub, t] - problem.cost[u, 0, t]
        revenue = problem.revenue[u, sub, t] - problem.revenue[u, 0, t]
        parts.append(_usage(problem, sub, cost, revenue, block))
    return Usage.sum(parts)


@dataclass(frozen=True)
class PlanTotals:
    """What a plan adds up to over a group of customers: its objective, what it uses in
    absolute terms (`Usage`, none's cost and revenue included), its most contacts for one
    customer, whether it uses an ineligible action and whether it breaks a contact window.
    Disjoint groups add up (`sum`), so shards of customers report these and the driver
    measures the plan from them."""

    objective: float
    usage: Usage
    max_contacts: int
    uses_ineligible: bool
    breaks_windows: bool = False

    @staticmethod
    def sum(parts: list[PlanTotals]) -> PlanTotals:
        """The totals of disjoint customer groups together (added in the order given)."""
        return PlanTotals(
            objective=float(sum(p.objective for p in parts)),
            usage=Usage.sum([p.usage for p in parts]),
            max_contacts=max((p.max_contacts for p in parts), default=0),
            uses_ineligible=any(p.uses_ineligible for p in parts),
            breaks_windows=any(p.breaks_windows for p in parts),
        )

    def measures(self, rows: CouplingRows) -> PlanMeasures:
        """The plan measured against the coupling rows."""
        activity = row_activity(rows, self.usage)
        return PlanMeasures(
            objective=self.objective,
            activity=activity,
            slack=rows.sense * (rows.rhs - activity),
            max_contacts=self.max_contacts,
            uses_ineligible=self.uses_ineligible,
            breaks_windows=self.breaks_windows,
        )


def plan_totals(problem: DecisionProblem, choice: np.ndarray) -> PlanTotals:
    """Objective and absolute usage of `choice` ([N, H] action indices), from the arrays alone
    (MEASURE_CHUNK customers at a time, so no [N, H] gather is held beside the plan)."""
    n, _, h = problem.shape
    t = np.arange(h)[None, :]  # [1, H]
    objective, parts, max_contacts, uses_ineligible, broken = 0.0, [], 0, False, False
    for start in range(0, max(n, 1), MEASURE_CHUNK):
        stop = min(start + MEASURE_CHUNK, n)
        u = np.arange(start, stop)[:, None]  # [C, 1]
        sub = choice[start:stop]
        objective += float(problem.value[u, sub, t].sum())
        parts.append(
            _usage(
                problem,
                sub,
                problem.cost[u, sub, t],
                problem.revenue[u, sub, t],
                slice(start, stop),
            )
        )
        max_contacts = max(max_contacts, int((sub > 0).sum(axis=1).max(initial=0)))
        uses_ineligible |= bool((~problem.eligible[u, sub]).any())
        windows = [w.subset(slice(start, stop)) for w in problem.windows]
        broken |= bool(breaks(windows, sub).any())
    return PlanTotals(objective, Usage.sum(parts), max_contacts, uses_ineligible, broken)


def measure_plan(problem: DecisionProblem, rows: CouplingRows, choice: np.ndarray) -> PlanMeasures:
    """Objective and row activities of `choice` ([N, H] action indices)."""
    return plan_totals(problem, choice).measures(rows)
