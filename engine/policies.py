"""Contact policies (scenario `policies`) on a DecisionProblem, in the order the attrition table
measures them: suppressions (who must not get what: a mask of customers and actions, applied as
eligibility, which every backend, the release decision's tests and the evaluation's policies
honour), then rolling windows and minimum gaps (optimization/contact_windows.py: at most k of a
group in any W weeks, counting the campaign log's contacts in the W-1 weeks before the plan),
then ratio rules (a coupling row: margin at least k times spend; optimization.problem.RatioRule).

Attrition. With P_0 the problem without any rule and P_k with the first k enforced rules
applied, and z(P) the optimal objective (the scenario's solver), rule k removes
z(P_(k-1)) - z(P_k) of predicted value, and the candidate offers (customer-action-weeks of
positive predicted value) that P_(k-1) still allowed and it rules out by itself (a suppression:
every offer it names; a window: those in a window already full with logged contacts;
the rest of a window's cost is in its value). So the removed values sum to z(P_0) - z(P_K),
what the rules cost together. A report-only rule (`enforce: false`) is measured against P_(k-1)
the same way but not applied. The value of relaxing rule k is a re-solve without it:
z(P_K without rule k) - z(P_K) (said as such, for every kind alike: a ratio rule's shadow price
is in the solution's constraints too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from engine.scenario import Scenario
from engine.scenario_policies import GapRule, Policies, RatioPolicy, SuppressionRule, WindowRule
from engine.valuation import ValuationError
from optimization.contact_windows import ContactWindow
from optimization.problem import DecisionProblem, RatioRule
from optimization.solution import Solution
from shopdata.store import Store


class PolicyError(ValuationError):
    """A rule that cannot be applied to this shop's data; the message names the rule."""


@dataclass(frozen=True)
class RuleMask:
    """One rule over the problem's customers and actions: `blocked` [N, A] where a customer
    may not get an action (column 0, `none`, never); a window, gap or ratio rule blocks
    nothing outright and carries its `window` or `ratio` instead."""

    name: str
    kind: Literal["suppress", "window", "gap", "ratio"]
    enforce: bool
    blocked: np.ndarray
    window: ContactWindow | None = None
    ratio: RatioRule | None = None

    @property
    def customers(self) -> int:
        """The customers the rule applies to: those it names (a suppression), or all."""
        if self.kind != "suppress":
            return len(self.blocked)
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


def _group(
    rule: SuppressionRule | WindowRule | GapRule | RatioPolicy,
    scenario: Scenario,
    action_ids: list[str],
) -> np.ndarray:
    """The actions a rule names ([A] bool, never `none`): its actions and channels, or all."""
    by_id = {a.id: a for a in scenario.actions}
    return np.array(
        [
            i > 0
            and (
                not (rule.actions or rule.channels)
                or a in rule.actions
                or by_id[a].channel in rule.channels
            )
            for i, a in enumerate(action_ids)
        ]
    )


def past_contacts(
    log: pd.DataFrame | None,
    week: pd.Timestamp | None,
    customer_ids: np.ndarray,
    names: np.ndarray,
    weeks: int,
) -> np.ndarray:
    """Which of the `weeks` weeks before `week` (oldest first) each customer got an action of
    `names` in, by the campaign log ([N, weeks] uint8; `log`: customer_id, week_start, action,
    as `contact_log` reads it; None, or no `week`: no past contact)."""
    out = np.zeros((len(customer_ids), weeks), dtype=np.uint8)
    if log is None or week is None or weeks == 0 or log.empty:
        return out
    starts = pd.to_datetime(log["week_start"]).dt.normalize()
    back = ((pd.Timestamp(week).normalize() - starts).dt.days // 7).to_numpy()
    keep = (back >= 1) & (back <= weeks) & log["action"].astype(str).isin(names).to_numpy()
    rows = pd.Index(np.asarray(customer_ids).astype(str)).get_indexer(
        log["customer_id"].astype(str)[keep]
    )
    known = rows >= 0
    out[rows[known], weeks - back[keep][known]] = 1
    return out


def rule_masks(
    scenario: Scenario,
    problem: DecisionProblem,
    customers: pd.DataFrame | None,
    lists: dict[str, np.ndarray],
    log: pd.DataFrame | None = None,
    week: pd.Timestamp | None = None,
) -> tuple[RuleMask, ...]:
    """Every rule of the scenario as a mask over `problem`'s customers and actions, in the
    attrition's order; `lists` holds the ids of each file a rule names
    (shopdata.validation.read_id_list); `log` the campaign log's contacts before `week`, the
    plan's first week, which windows and gaps count (`contact_log`)."""
    action_ids = [str(a) for a in problem.action_ids]
    n, a = problem.eligible.shape
    masks = []
    for rule in scenario.policies.suppress:
        chosen = _group(rule, scenario, action_ids)  # [A]
        named = _matching(rule, problem.customer_ids, customers, lists)  # [N]
        masks.append(RuleMask(rule.name, "suppress", rule.enforce, named[:, None] & chosen))
    for rule in [*scenario.policies.windows, *scenario.policies.gaps]:
        chosen = _group(rule, scenario, action_ids)
        limit = rule.at_most if isinstance(rule, WindowRule) else 1
        names = problem.action_ids[chosen]
        past = past_contacts(log, week, problem.customer_ids, names, rule.weeks - 1)
        window = ContactWindow(rule.name, chosen, rule.weeks, limit, past)
        kind: Literal["window", "gap"] = "window" if isinstance(rule, WindowRule) else "gap"
        masks.append(RuleMask(rule.name, kind, rule.enforce, np.zeros((n, a), bool), window))
    for ratio in scenario.policies.ratios:
        row = RatioRule(ratio.name, _group(ratio, scenario, action_ids), ratio.at_least)
        masks.append(
            RuleMask(ratio.name, "ratio", ratio.enforce, np.zeros((n, a), bool), ratio=row)
        )
    return tuple(masks)


def contact_log(store_path: Path, week: pd.Timestamp, policies: Policies) -> pd.DataFrame | None:
    """The campaign log's contacts (customer_id, week_start, action) in the weeks before `week`
    that the policies' windows and gaps reach back to, from the run's store; None where no
    rule counts past contacts or the shop has no log."""
    reach = max((rule.weeks - 1 for rule in [*policies.windows, *policies.gaps]), default=0)
    if reach == 0:
        return None
    with Store.open(store_path) as store:
        if not store.has_table("campaign_log"):
            return None
        return store.query(
            "SELECT customer_id, week_start, action FROM campaign_log "
            "WHERE week_start >= ? AND week_start < ? AND action <> 'none'",
            [week - pd.Timedelta(weeks=reach), week],
        )


def apply(problem: DecisionProblem, masks: tuple[RuleMask, ...]) -> DecisionProblem:
    """`problem` with every enforced rule applied: suppressions' blocked customer-actions made
    ineligible, windows, gaps and ratio rules added (one the problem holds already is not
    added twice)."""
    blocked = np.zeros_like(problem.eligible)
    have = {w.name for w in problem.windows} | {r.name for r in problem.ratios}
    windows, ratios = list(problem.windows), list(problem.ratios)
    for mask in masks:
        if not mask.enforce:
            continue
        blocked |= mask.blocked
        if mask.window is not None and mask.window.name not in have:
            windows.append(mask.window)
        if mask.ratio is not None and mask.ratio.name not in have:
            ratios.append(mask.ratio)
    if not blocked.any() and len(windows) + len(ratios) == len(problem.windows) + len(
        problem.ratios
    ):
        return problem
    return dataclasses.replace(
        problem,
        eligible=problem.eligible & ~blocked,
        windows=tuple(windows),
        ratios=tuple(ratios),
    )


def lifted(problem: DecisionProblem, masks: tuple[RuleMask, ...]) -> DecisionProblem:
    """`problem` (with the enforced rules applied, as a run saves it) without them: what the
    attrition starts from."""
    blocked = np.zeros_like(problem.eligible)
    for mask in masks:
        if mask.enforce:
            blocked |= mask.blocked
    named = {m.name for m in masks if m.enforce and m.kind != "suppress"}
    return dataclasses.replace(
        problem,
        eligible=problem.eligible | blocked,
        windows=tuple(w for w in problem.windows if w.name not in named),
        ratios=tuple(r for r in problem.ratios if r.name not in named),
    )


def _ruled_out(problem: DecisionProblem, mask: RuleMask) -> np.ndarray:
    """The customer-action-weeks [N, A, H] the rule rules out by itself, where `problem` (the
    rules before it) allowed them."""
    if mask.window is None:  # a suppression (a ratio rule blocks nothing outright)
        return (problem.eligible & mask.blocked)[:, :, None] & np.ones(problem.shape[2], bool)
    # ruled out where one of week t's windows is full already
    least = mask.window.per_week(mask.window.allowance(problem.shape[2]))
    return (problem.eligible & mask.window.actions)[:, :, None] & (least == 0)[:, None, :]


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
        removed_offers = int((offers & _ruled_out(current, mask)).sum())
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
