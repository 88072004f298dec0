"""Contact policies (scenario `policies`) on a DecisionProblem: who must not get what, as a mask
of customers and actions per rule, applied as eligibility (which every backend, the release
decision's tests and the evaluation's policies honour), and measured in the order the scenario
lists them (the attrition table).

Attrition. With P_0 the problem without any rule and P_k with the first k enforced rules
applied, and z(P) the optimal objective (the scenario's solver), rule k removes
z(P_(k-1)) - z(P_k) of predicted value, and the candidate offers (customer-action-weeks of
positive predicted value) that P_(k-1) still allowed and it blocks. So the removed values sum
to z(P_0) - z(P_K), what the rules cost together. A report-only rule (`enforce: false`) is
measured against P_(k-1) the same way but not applied. The value of relaxing rule k is a
re-solve without it: z(P_K without rule k) - z(P_K) (said as such; a suppression has no
coupling row, so no shadow price).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from engine.scenario import Scenario, SuppressionRule
from engine.valuation import ValuationError
from optimization.problem import DecisionProblem
from optimization.solution import Solution


class PolicyError(ValuationError):
    """A rule that cannot be applied to this shop's data; the message names the rule."""


@dataclass(frozen=True)
class RuleMask:
    """One rule over the problem's customers and actions: `blocked` [N, A] where a customer
    may not get an action (column 0, `none`, never)."""

    name: str
    kind: Literal["suppress"]
    enforce: bool
    blocked: np.ndarray

    @property
    def customers(self) -> int:
        return int(self.blocked.any(axis=1).sum())


def _matching(rule: SuppressionRule, customer_ids: np.ndarray, customers: pd.DataFrame | None,
              lists: dict[str, np.ndarray]) -> np.ndarray:  # fmt: skip
    """Which customers [N] the rule names (its `where` on the customers table, or its file);
    a customer without a row or a value is not named."""
    ids = pd.Index(np.asarray(customer_ids).astype(str))
    if rule.file is not None:
        return ids.isin(lists[rule.file])
    assert rule.where is not None
    column = rule.where.column
    if customers is None or column not in customers.columns:
        have = [] if customers is None else sorted(map(str, customers.columns))
        raise PolicyError(
            f"policies.suppress {rule.name!r}: the customers table has no column {column!r}"
            + (f"; it has {have}" if have else " (the shop has no customers table)")
        )
    table = customers.drop_duplicates("customer_id").set_index("customer_id")[column]
    table.index = table.index.astype(str)
    text = table.reindex(ids).astype("string").str.strip().str.lower()
    wanted = {str(v).strip().lower() for v in rule.where.values}
    return text.isin(wanted).fillna(False).to_numpy(dtype=bool)


def rule_masks(
    scenario: Scenario,
    problem: DecisionProblem,
    customers: pd.DataFrame | None,
    lists: dict[str, np.ndarray],
) -> tuple[RuleMask, ...]:
    """Every rule of the scenario as a mask over `problem`'s customers and actions, in order;
    `lists` holds the ids of each file a rule names (shopdata.validation.read_id_list)."""
    by_id = {a.id: a for a in scenario.actions}
    action_ids = [str(a) for a in problem.action_ids]
    masks = []
    for rule in scenario.policies.suppress:
        chosen = np.array(
            [
                i > 0
                and (
                    not (rule.actions or rule.channels)
                    or a in rule.actions
                    or by_id[a].channel in rule.channels
                )
                for i, a in enumerate(action_ids)
            ]
        )  # [A]
        named = _matching(rule, problem.customer_ids, customers, lists)  # [N]
        masks.append(RuleMask(rule.name, "suppress", rule.enforce, named[:, None] & chosen))
    return tuple(masks)


def apply(problem: DecisionProblem, masks: tuple[RuleMask, ...]) -> DecisionProblem:
    """`problem` with every enforced rule's blocked customer-actions made ineligible."""
    blocked = np.zeros_like(problem.eligible)
    for mask in masks:
        if mask.enforce:
            blocked |= mask.blocked
    if not blocked.any():
        return problem
    return dataclasses.replace(problem, eligible=problem.eligible & ~blocked)


def lifted(problem: DecisionProblem, masks: tuple[RuleMask, ...]) -> DecisionProblem:
    """`problem` (with the enforced rules applied, as a run saves it) without them: what the
    attrition starts from."""
    blocked = np.zeros_like(problem.eligible)
    for mask in masks:
        if mask.enforce:
            blocked |= mask.blocked
    return dataclasses.replace(problem, eligible=problem.eligible | blocked)


@dataclass(frozen=True)
class AttritionRow:
    """What one rule removed, in the scenario's order (module docstring)."""

    rule: str
    kind: str
    enforced: bool
    customers: int
    offers_removed: int
    value_removed: float
    relaxing_value: float
    relaxing_by: str = "re-solve without it"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _objective(solution: Solution) -> float:
    return float(solution.objective) if solution.has_plan else float("nan")


def attrition(
    problem: DecisionProblem,
    masks: tuple[RuleMask, ...],
    solve: Callable[[DecisionProblem], Solution],
) -> tuple[AttritionRow, ...]:
    """The attrition table of `masks` on `problem` (without any rule applied), each step solved
    by `solve` (module docstring)."""
    if not masks:
        return ()
    offers = problem.value > 0  # [N, A, H] candidate offers: positive predicted value
    offers[:, 0, :] = False
    current = problem
    before = _objective(solve(current))
    steps = []
    for mask in masks:
        step = apply(current, (dataclasses.replace(mask, enforce=True),))
        removed_offers = int((offers & (current.eligible & ~step.eligible)[:, :, None]).sum())
        after = _objective(solve(step))
        steps.append((mask, removed_offers, before - after))
        if mask.enforce:
            current, before = step, after
    final_value = before
    rows = []
    for mask, removed_offers, removed_value in steps:
        others = tuple(m for m in masks if m is not mask)
        relaxed = apply(problem, others)
        relaxing = _objective(solve(relaxed)) - final_value if mask.enforce else 0.0
        rows.append(
            AttritionRow(
                rule=mask.name,
                kind=mask.kind,
                enforced=mask.enforce,
                customers=mask.customers,
                offers_removed=removed_offers,
                value_removed=removed_value,
                relaxing_value=relaxing,
            )
        )
    return tuple(rows)
