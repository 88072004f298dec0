"""One group of customers' side of the primal repair (optimization/repair.py): their part of
the plan, held where their coefficients are, and the few numbers the driver needs from it.

The repair decides with row totals and short candidate lists; every pass over customers happens
here, once per group. In one process the whole problem is one group (`LocalShards`); on Ray each
actor holds one (optimization/distributed.py). Customers are named by their index in the whole
problem (`customers`, increasing), so candidates from different groups merge into the order
one group would give, and the plan comes out the same however the customers are split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimization.contact_windows import room
from optimization.groups import LocalShards
from optimization.lagrangian import LagrangianDual
from optimization.problem import DecisionProblem, Usage
from optimization.rows import PlanTotals, RowKind, plan_totals, plan_usage


@dataclass(frozen=True)
class DropCandidates:
    """Planned contacts that could go to relieve one row, cheapest first ([k] each): adjusted
    value per unit of the row (`ratio`), the row units each frees (`weight`), the customer
    (index in the whole problem) and the week."""

    ratio: np.ndarray
    weight: np.ndarray
    customer: np.ndarray
    week: np.ndarray


@dataclass(frozen=True)
class Ties:
    """Customers whose best response is nearest to changing, nearest first ([k] each): the
    margin (LagrangianDual.margins) and the customer's index in the whole problem."""

    margin: np.ndarray
    customer: np.ndarray


@dataclass(frozen=True)
class FillCandidates:
    """Open customer-weeks' best contacts at the multipliers, best first ([k] each; `segments`
    [k, S]): adjusted value, customer (index in the whole problem), week, action, cost and
    revenue over none, coverage membership, the customer's contacts so far and the value over
    none (a ratio rule's coefficient)."""

    score: np.ndarray
    customer: np.ndarray
    week: np.ndarray
    action: np.ndarray
    cost: np.ndarray
    revenue: np.ndarray
    segments: np.ndarray
    contacts: np.ndarray
    value: np.ndarray


class PlanShard:
    """A group of customers' coefficients (through their `LagrangianDual`) and their plan
    ([n, H] action indices, 0 = none)."""

    def __init__(self, dual: LagrangianDual, customers: np.ndarray) -> None:
        """`customers`: each row's index in the whole problem ([n], increasing)."""
        if len(customers) != dual.problem.shape[0]:
            raise ValueError(
                f"PlanShard: {len(customers)} customer indices for "
                f"{dual.problem.shape[0]} customers"
            )
        self.dual = dual
        self.problem: DecisionProblem = dual.problem
        self.customers = np.asarray(customers, dtype=np.int64)
        n, a, h = self.problem.shape
        self._dtype = np.int8 if a <= np.iinfo(np.int8).max else np.int64  # 1 byte a week
        self.plan = np.zeros((n, h), dtype=self._dtype)
        self._scores: np.ndarray | None = None  # adjusted values of the planned contacts

    def _local(self, customers: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.customers, customers)

    def respond(self, y: np.ndarray) -> PlanTotals:
        """Make the plan the customers' best response at multipliers `y` ([m])."""
        response = self.dual.respond(self.dual.prices(y), keep_plan=True)
        assert response.plan is not None
        self.plan = response.plan.astype(self._dtype)
        return self.totals()

    def totals(self) -> PlanTotals:
        """The plan's objective and absolute usage over these customers."""
        return plan_totals(self.problem, self.plan)

    def exact_total(self, y: np.ndarray) -> float:
        """The customers' part of L(y) in float64: their taken adjusted scores plus the value
        of none (LagrangianDual.evaluate_exact adds y's share of the right-hand sides)."""
        return self.dual.exact_total(y)

    def score_contacts(self, y: np.ndarray) -> None:
        """Keep each planned contact's adjusted value at `y` ([n, H]; 0 for none): the order in
        which contacts are dropped (a contact's score does not change while it stays)."""
        n, _, h = self.problem.shape
        prices = self.dual.prices(y)
        out = np.zeros((n, h))
        for start in range(0, n, self.dual.chunk):
            stop = min(start + self.dual.chunk, n)
            _, _, adjusted = self.dual.best_response(start, stop, prices, windows="ignore")
            plan = self.plan[start:stop]
            index = np.maximum(plan - 1, 0)[:, None, :]  # [C, 1, H]
            chosen = np.take_along_axis(adjusted, index, axis=1)[:, 0, :]
            out[start:stop] = np.where(plan > 0, chosen, 0.0)
        self._scores = out

    def forget_scores(self) -> None:
        """Let the scores go ([n, H] floats) once the drops are done."""
        self._scores = None

    def drop_candidates(self, row: int, need: float) -> DropCandidates:
        """The contacts of this group that relieve coupling row `row`, cheapest per unit first,
        up to the first whose running total reaches `need` (any group's share of the cheapest
        contacts overall is within this prefix). For <= rows (budgets, capacities) any contact
        of the row; for a >= revenue floor or ratio rule only contacts that lower it."""
        if self._scores is None:
            raise RuntimeError("PlanShard.drop_candidates needs score_contacts first")
        rows, problem = self.dual.rows, self.problem
        kind = rows.kinds[row]
        h = problem.shape[2]
        weeks = np.array([rows.week[row]]) if rows.week[row] >= 0 else np.arange(h)
        local, week = np.nonzero(self.plan[:, weeks] > 0)
        week = weeks[week]
        action = self.plan[local, week]
        if kind is RowKind.ACTION_CAPACITY:
            keep = action == rows.action[row]
            weight = np.ones(len(local))
        elif kind is RowKind.REVENUE_FLOOR:
            weight = -(problem.revenue[local, action, week] - problem.revenue[local, 0, week])
            keep = weight > 0
        elif kind is RowKind.SEGMENT_COVERAGE:
            keep = np.zeros(len(local), dtype=bool)
            weight = np.zeros(len(local))
        elif kind is RowKind.RATIO:  # a >= row: the contacts of its actions that lower it
            rule = problem.ratios[rows.ratio[row]]
            weight = -rule.coefficients(
                (problem.value[local, action, week] - problem.value[local, 0, week]),
                (problem.cost[local, action, week] - problem.cost[local, 0, week]),
            )
            keep = rule.actions[action] & (weight > 0)
        else:
            weight = problem.cost[local, action, week] - problem.cost[local, 0, week]
            keep = weight > 0
        local, week, weight = local[keep], week[keep], weight[keep].astype(np.float64)
        ratio = self._scores[local, week] / np.maximum(weight, 1e-12)
        order = np.argsort(ratio, kind="stable")  # ties: earlier customer, earlier week
        released = np.cumsum(weight[order])
        count = min(len(order), int(np.searchsorted(released, need - 1e-12)) + 1)
        take = order[:count]
        return DropCandidates(ratio[take], weight[take], self.customers[local[take]], week[take])

    def drop(self, customers: np.ndarray, weeks: np.ndarray) -> None:
        """Send nothing to these customer-weeks."""
        self.plan[self._local(customers), weeks] = 0

    def fill_candidates(self, y: np.ndarray, limit: int) -> FillCandidates:
        """This group's `limit` best open customer-weeks at `y`: per customer-week the contact
        with the best adjusted value among those that add value over none, for customers
        under the contact cap and with room in their contact windows, best first (ties: later
        customer, week, action first, as one descending sort of (score, customer, week,
        action) gives)."""
        problem, dual = self.problem, self.dual
        n, _, h = problem.shape
        cap = problem.effective_contact_cap
        contacts = (self.plan > 0).sum(axis=1)
        prices = dual.prices(y)
        nothing = np.zeros(0, dtype=np.int64)  # so that a group with no candidates needs no case
        scores, customers, weeks, actions = [np.zeros(0)], [nothing], [nothing], [nothing]
        for start in range(0, n, dual.chunk):
            stop = min(start + dual.chunk, n)
            _, _, adjusted = dual.best_response(start, stop, prices, windows="ignore")
            raw = problem.value[start:stop, 1:, :] - problem.value[start:stop, :1, :]
            open_week = (self.plan[start:stop] == 0) & (contacts[start:stop, None] < cap)
            fits = problem.eligible[start:stop, 1:, None] & (raw > 0)
            if problem.windows:  # one more contact there breaks no contact window
                windows = [w.subset(slice(start, stop)) for w in problem.windows]
                fits &= room(windows, self.plan[start:stop], problem.shape[1])
            gain = np.where(fits, adjusted, -np.inf)
            best = gain.argmax(axis=1)  # [C, H]
            score = np.take_along_axis(gain, best[:, None, :], axis=1)[:, 0, :]
            flat = np.where(open_week, score, -np.inf).reshape(-1)
            keep = min(limit, int(np.isfinite(flat).sum()))
            if keep == 0:
                continue
            top = np.argpartition(-flat, keep - 1)[:keep]
            u, t = np.divmod(top, h)
            scores.append(flat[top])
            customers.append(start + u)
            weeks.append(t)
            actions.append(best[u, t] + 1)
        score, local = np.concatenate(scores), np.concatenate(customers)
        week, action = np.concatenate(weeks), np.concatenate(actions)
        order = np.lexsort((-action, -week, -local, -score))[:limit]
        local, week, action = local[order], week[order], action[order]
        return FillCandidates(
            score=score[order],
            customer=self.customers[local],
            week=week,
            action=action,
            cost=(problem.cost[local, action, week] - problem.cost[local, 0, week]).astype(
                np.float64
            ),
            revenue=(problem.revenue[local, action, week] - problem.revenue[local, 0, week]).astype(
                np.float64
            ),
            segments=(
                np.stack([s.members[local] for s in problem.coverage], axis=1)
                if problem.coverage
                else np.zeros((len(local), 0), dtype=bool)
            ),
            contacts=contacts[local],
            value=(problem.value[local, action, week] - problem.value[local, 0, week]).astype(
                np.float64
            ),
        )

    def add(self, customers: np.ndarray, weeks: np.ndarray, actions: np.ndarray) -> None:
        """Send these actions to these customer-weeks."""
        self.plan[self._local(customers), weeks] = actions

    def nearest_ties(self, y: np.ndarray, count: int) -> Ties:
        """The `count` customers of this group whose best response at `y` is nearest to
        changing (ties: earlier customer first)."""
        margins = self.dual.margins(y)
        order = np.argsort(margins, kind="stable")[:count]
        return Ties(margins[order], self.customers[order])

    def extract(self, customers: np.ndarray) -> tuple[DecisionProblem, np.ndarray]:
        """These customers' coefficients (the whole problem's right-hand sides) and plan."""
        local = self._local(customers)
        return self.problem.subset(local), self.plan[local].copy()

    def usage_without(self, customers: np.ndarray) -> Usage:
        """What the plan of this group's other customers uses, relative to none."""
        others = np.setdiff1d(
            np.arange(self.problem.shape[0]), self._local(customers), assume_unique=True
        )
        return plan_usage(self.problem, self.plan, others)

    def assign(self, customers: np.ndarray, choice: np.ndarray) -> None:
        """Set these customers' plan rows ([k, H])."""
        self.plan[self._local(customers)] = choice

    def plan_part(self) -> tuple[np.ndarray, np.ndarray]:
        """The customers' indices in the whole problem and their plan rows."""
        return self.customers, self.plan


#: The calls that change a group's state: a group that lost it (a restarted Ray actor) is
#: brought back by replaying them in order (optimization/distributed.py).
MUTATING = frozenset({"respond", "score_contacts", "drop", "add", "assign"})


def whole(dual: LagrangianDual) -> LocalShards:
    """The whole problem as one group in this process."""
    return LocalShards([PlanShard(dual, np.arange(dual.problem.shape[0]))])
