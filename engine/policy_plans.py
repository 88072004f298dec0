"""The plans of the policies an evaluation replays (engine/evaluation.py): doing nothing,
random contacts within the budget, short-term greedy (the allocation MIP maximising this
horizon's revenue), uplift top-k (the MIP maximising predicted incremental spend), the run's
plan with and without its randomised tests, and the oracle (the MIP fed the true single-action
values), all at the scenario's budget, contact cap and capacities."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from forecasting.forecast_set import ForecastSet
from optimization.problem import DecisionProblem
from optimization.settings import SolveSettings
from optimization.solve import solve

if TYPE_CHECKING:
    from engine.evaluation import Evaluator

POLICIES = (
    "no_action",
    "random",
    "short_term_greedy",
    "uplift_top_k",
    "engine",
    "engine_without_tests",
    "oracle",
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
    tested: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every policy's plan ([N, H] each); `tested` ([N, H] bool) marks the customer-weeks of
    the engine's randomised tests, left out of `engine_without_tests`."""
    n, _, h = problem.shape
    index = {str(x): i for i, x in enumerate(forecast.action_ids)}
    columns = np.array([index[str(x)] for x in problem.action_ids])
    expected = forecast.purchase_prob[:, columns, :h] * forecast.spend[:, columns, :h]
    plans = {
        "no_action": np.zeros((n, h), dtype=np.int64),
        "random": random_plan(problem, settings.seed),
        "engine": engine_choice,
        "engine_without_tests": engine_choice,
    }
    if tested is not None and tested.any():
        plans["engine_without_tests"] = np.where(tested, 0, engine_choice)
    stripped = dataclasses.replace(problem, recommendations=None)
    for name, objective in (
        ("short_term_greedy", problem.revenue - problem.revenue[:, :1, :]),
        ("uplift_top_k", expected - expected[:, :1, :]),
    ):
        solution = solve(dataclasses.replace(stripped, value=objective), "lagrangian", settings)
        plans[name] = solution.plan() if solution.has_plan else plans["no_action"]
    plans["oracle"] = oracle_plan(evaluator, settings)
    return {name: plans[name] for name in POLICIES}


def oracle_plan(evaluator: Evaluator, settings: SolveSettings) -> np.ndarray:
    """The oracle's plan: the allocation MIP fed the true single-action values, under the
    scenario's contact cap and under a cap of one contact (where one customer's contacts do not
    interact, so every value it plans with is exact), or no action; whichever replays best on
    seeds of its own. Its floors drop where the true world cannot meet them."""
    true_problem = evaluator.true_problem()
    n, _, h = true_problem.shape
    candidates = {"no_action": np.zeros((n, h), dtype=np.int64)}
    for name, cap in (("scenario_cap", true_problem.contact_cap), ("one_contact", 1)):
        capped = dataclasses.replace(true_problem, contact_cap=min(cap, true_problem.contact_cap))
        solution = solve(capped, "lagrangian", settings)
        if not solution.has_plan:  # the floors cannot be met in the true world: drop them
            relaxed = dataclasses.replace(capped, weekly_revenue_floor=np.full(h, -np.inf))
            solution = solve(relaxed, "lagrangian", settings)
        if solution.has_plan:
            candidates[name] = solution.plan()
    return candidates[evaluator.best_of(candidates)]
