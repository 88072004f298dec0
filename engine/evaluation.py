"""Policy evaluation in the demo market's ground truth (DESIGN §8).

Each policy's plan is replayed in the true market with common random numbers (the same seeds for
every policy), R times; realised discounted CLV is the margin over the horizon (spend x margin
minus fixed costs and discounts, discounted weekly) plus a terminal value (the next
`terminal_weeks` weeks with no action, discounted). Policies at the same budget, contact cap and
capacities:
  no_action; random (random customers and actions until the week's budget is spent);
  short_term_greedy (the allocation MIP maximising this horizon's revenue);
  uplift_top_k (the MIP maximising predicted incremental spend, i.e. short-term uplift);
  engine (the run's plan); oracle (the MIP fed true coefficients, estimated by replaying each
  action in the true market against none with common random numbers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from engine.market.ground_truth import GroundTruth
from forecasting.forecast_set import ForecastSet
from optimization.problem import DecisionProblem
from optimization.settings import SolveSettings
from optimization.solve import solve

POLICIES = ("no_action", "random", "short_term_greedy", "uplift_top_k", "engine", "oracle")


@dataclass(frozen=True)
class PolicyResult:
    clv: float
    clv_ci: tuple[float, float]
    revenue_by_week: list[float]
    budget_used: float
    floor_met_weeks: float

    def to_dict(self) -> dict[str, object]:
        return {
            "clv": self.clv,
            "clv_ci": list(self.clv_ci),
            "revenue_by_week": self.revenue_by_week,
            "budget_used": self.budget_used,
            "floor_met_weeks": self.floor_met_weeks,
        }


class Evaluator:
    """Replays plans for the run's customers (rows of `problem`) in the ground truth."""

    def __init__(
        self,
        truth: GroundTruth,
        problem: DecisionProblem,
        *,
        gross_margin: float,
        annual_discount_rate: float,
        replications: int = 8,
        terminal_weeks: int = 26,
        seed: int = 1000,
    ) -> None:
        self.truth = truth
        self.problem = problem
        self.margin = gross_margin
        self.weekly_discount = (1.0 + annual_discount_rate) ** (-1.0 / 52.0)
        self.replications = replications
        self.terminal_weeks = terminal_weeks
        self.seed = seed
        index = {str(c): i for i, c in enumerate(truth.customer_ids)}
        self.rows = np.array([index[str(c)] for c in problem.customer_ids])
        truth_actions = {a.id: i for i, a in enumerate(truth.config.actions)}
        missing = [str(a) for a in problem.action_ids if str(a) not in truth_actions]
        if missing:
            raise ValueError(f"the market has no ground truth for actions {missing}")
        self.to_truth_action = np.array([truth_actions[str(a)] for a in problem.action_ids])
        actions = truth.config.actions
        self.fixed_cost = np.array([a.fixed_cost for a in actions])
        self.discount_rate = np.array([a.discount_rate for a in actions])

    def _truth_plan(self, choice: np.ndarray) -> np.ndarray:
        plan = np.zeros((len(self.truth.customer_ids), choice.shape[1]), dtype=np.int64)
        plan[self.rows] = self.to_truth_action[choice]
        return plan

    def _margin(self, plan: np.ndarray, spend: np.ndarray) -> np.ndarray:
        """Realised margin per customer-week: spend x margin - fixed cost - discount paid."""
        contacted = plan > 0
        cost = np.where(contacted, self.fixed_cost[plan], 0.0) + self.discount_rate[plan] * spend
        return self.margin * spend - cost, cost, spend * (1 - self.discount_rate[plan])

    def realised(self, choice: np.ndarray) -> PolicyResult:
        plan = self._truth_plan(choice)
        h = plan.shape[1]
        discount = self.weekly_discount ** np.arange(h + self.terminal_weeks)
        values, revenues, costs, floors_met = [], [], [], []
        for r in range(self.replications):
            seed = self.seed + r
            replay = self.truth.replay(plan, seed=seed)
            margin, cost, revenue = self._margin(plan, replay.spend)
            after = self.truth.replay(
                np.zeros((plan.shape[0], self.terminal_weeks), np.int64),
                seed=seed,
                state=replay.final_state,
                first_week=h,
            )
            terminal = self.margin * after.spend
            rows = self.rows
            value = (margin[rows] * discount[:h]).sum() + (terminal[rows] * discount[h:]).sum()
            values.append(value)
            weekly_revenue = revenue[rows].sum(axis=0)
            revenues.append(weekly_revenue)
            costs.append(cost[rows].sum())
            floors_met.append(
                float((weekly_revenue >= self.problem.weekly_revenue_floor[:h]).sum())
            )
        values_array = np.array(values)
        half = 1.96 * values_array.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
        return PolicyResult(
            float(values_array.mean()),
            (float(values_array.mean() - half), float(values_array.mean() + half)),
            np.mean(revenues, axis=0).tolist(),
            float(np.mean(costs)),
            float(np.mean(floors_met)),
        )

    def true_problem(self, replications: int = 4) -> DecisionProblem:
        """The problem with value, cost and revenue from the ground truth: each action taken in
        week 0 alone against none (common random numbers), its effect carried to later weeks by
        the true no-action purchase probabilities and discounting."""
        n, a, h = self.problem.shape
        rows = self.rows
        horizon = h + self.terminal_weeks
        discount = self.weekly_discount ** np.arange(horizon)
        value0 = np.zeros((n, a))
        cost0 = np.zeros((n, a))
        revenue0 = np.zeros((n, a))
        none_probability = np.zeros((n, h))
        for action in range(a):
            plan = np.zeros((len(self.truth.customer_ids), horizon), dtype=np.int64)
            plan[rows, 0] = self.to_truth_action[action]
            for r in range(replications):
                replay = self.truth.replay(plan, seed=self.seed + 10_000 + r)
                margin, cost, revenue = self._margin(plan, replay.spend)
                value0[:, action] += (margin[rows] * discount).sum(axis=1) / replications
                cost0[:, action] += cost[rows, 0] / replications
                revenue0[:, action] += revenue[rows, 0] / replications
                if action == 0:
                    none_probability += replay.probability_none[rows, :h] / replications
        activity = none_probability / np.maximum(none_probability[:, :1], 1e-12)  # [N, H]
        shrink = (activity * discount[:h])[:, None, :]  # [N, 1, H]
        value = (value0 - value0[:, :1])[:, :, None] * shrink
        cost = cost0[:, :, None] * np.ones((1, 1, h))
        revenue = revenue0[:, :, None] * np.maximum(activity[:, None, :], 0)
        # A floor is a share of the no-action revenue the planner expects: in the true world
        # it is the same share of the true no-action revenue.
        expected = self.problem.revenue[:, 0, :].sum(axis=0)
        true_none = revenue[:, 0, :].sum(axis=0)
        floor = self.problem.weekly_revenue_floor * np.where(expected > 0, true_none / expected, 1)
        return dataclasses.replace(
            self.problem,
            value=value,
            cost=cost,
            revenue=revenue,
            weekly_revenue_floor=floor,
            recommendations=None,
        )


def random_plan(problem: DecisionProblem, seed: int) -> np.ndarray:
    """Random customers and actions, week by week, until the week's budget is spent."""
    rng = np.random.default_rng(seed)
    n, a, h = problem.shape
    choice = np.zeros((n, h), dtype=np.int64)
    contacts = np.zeros(n, dtype=np.int64)
    for t in range(h):
        order = rng.permutation(n)
        action = rng.integers(1, a, n)
        allowed = (contacts[order] < problem.contact_cap) & problem.eligible[order, action]
        order, action = order[allowed], action[allowed]
        extra = problem.cost[order, action, t] - problem.cost[order, 0, t]
        room = problem.weekly_budget[t]
        take = np.cumsum(extra) <= (room if np.isfinite(room) else np.inf)
        choice[order[take], t] = action[take]
        contacts[order[take]] += 1
    return choice


def policy_plans(
    problem: DecisionProblem,
    forecast: ForecastSet,
    engine_choice: np.ndarray,
    evaluator: Evaluator,
    settings: SolveSettings,
) -> dict[str, np.ndarray]:
    n, _, h = problem.shape
    index = {str(x): i for i, x in enumerate(forecast.action_ids)}
    columns = np.array([index[str(x)] for x in problem.action_ids])
    expected = forecast.purchase_prob[:, columns, :h] * forecast.spend[:, columns, :h]
    plans = {
        "no_action": np.zeros((n, h), dtype=np.int64),
        "random": random_plan(problem, settings.seed),
        "engine": engine_choice,
    }
    stripped = dataclasses.replace(problem, recommendations=None)
    for name, objective in (
        ("short_term_greedy", problem.revenue - problem.revenue[:, :1, :]),
        ("uplift_top_k", expected - expected[:, :1, :]),
    ):
        solution = solve(dataclasses.replace(stripped, value=objective), "lagrangian", settings)
        plans[name] = solution.plan() if solution.has_plan else plans["no_action"]
    true_problem = evaluator.true_problem()
    oracle = solve(true_problem, "lagrangian", settings)
    if not oracle.has_plan:  # the floors cannot be met in the true world: drop them
        relaxed = dataclasses.replace(true_problem, weekly_revenue_floor=np.full(h, -np.inf))
        oracle = solve(relaxed, "lagrangian", settings)
    plans["oracle"] = oracle.plan() if oracle.has_plan else plans["no_action"]
    return plans


def evaluate(
    problem: DecisionProblem,
    forecast: ForecastSet,
    engine_choice: np.ndarray,
    truth: GroundTruth,
    *,
    gross_margin: float,
    annual_discount_rate: float,
    replications: int = 8,
    settings: SolveSettings | None = None,
) -> dict[str, object]:
    settings = settings or SolveSettings(time_limit_s=120)
    evaluator = Evaluator(
        truth,
        problem,
        gross_margin=gross_margin,
        annual_discount_rate=annual_discount_rate,
        replications=replications,
    )
    plans = policy_plans(problem, forecast, engine_choice, evaluator, settings)
    results = {name: evaluator.realised(plans[name]) for name in POLICIES}
    base = results["no_action"].clv
    gain = {name: results[name].clv - base for name in POLICIES}
    return {
        "policies": {name: results[name].to_dict() for name in POLICIES},
        "engine_share_of_oracle": results["engine"].clv / results["oracle"].clv,
        "engine_share_of_oracle_gain": (
            gain["engine"] / gain["oracle"] if gain["oracle"] > 0 else None
        ),
        "replications": replications,
        "customers": int(problem.shape[0]),
    }
