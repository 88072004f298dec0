"""Budgets that hold with a stated probability: the tightened plan's weekly cost, simulated from
the coefficients' own distribution, stays within budget at least that often, on every backend;
the expectation-only plan overruns about half the time."""

from __future__ import annotations

import numpy as np
import pytest

from optimization.chance import plan_cost_moments, solve_with_budget_confidence
from optimization.settings import SolveSettings
from optimization.solve import solve
from tests.optimization_helpers import tiny_problem, violations


def _coupon_problem(customers: int, seed: int = 0):
    """Every customer's coupon adds value and costs a discount paid on a random purchase:
    cost = d * spend * Bernoulli(p); mean d m p, variance d^2 m^2 p (1 - p) (spend fixed)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.6, customers)
    spend = rng.uniform(20, 60, customers)
    discount = 0.2
    mean = discount * spend * p
    variance = discount**2 * spend**2 * p * (1 - p)
    value = [[[0.0, 0.0], [1.0 + 0.01 * u, 1.0 + 0.01 * u]] for u in range(customers)]
    cost = [[[0.0, 0.0], [mean[u], mean[u]]] for u in range(customers)]
    budget = 0.5 * mean.sum()  # room for about half the coupons each week
    problem = tiny_problem(value, cost, weekly_budget=budget)
    cost_variance = np.zeros(problem.shape)
    cost_variance[:, 1, :] = variance[:, None]
    return problem, cost_variance, (p, spend, discount)


def _overrun_share(problem, choice, truth, draws: int = 4000) -> float:
    p, spend, discount = truth
    rng = np.random.default_rng(1)
    bought = rng.random((draws, len(p))) < p  # [D, N]
    week_cost = (bought * (discount * spend) * (choice[:, 0] == 1)).sum(axis=1)
    return float((week_cost > problem.weekly_budget[0]).mean())


@pytest.mark.parametrize("backend", ["highs", "lagrangian"])
def test_a_95_percent_budget_holds_in_95_percent_of_simulated_weeks(backend: str) -> None:
    problem, cost_variance, truth = _coupon_problem(400)
    settings = SolveSettings(time_limit_s=60, relative_gap=1e-6)
    solution, report = solve_with_budget_confidence(problem, cost_variance, 0.95, backend, settings)
    choice = solution.plan()
    assert violations(problem, choice) == []  # the original, untightened rows hold too
    mean, sd = plan_cost_moments(problem, cost_variance, choice)
    assert np.all(mean + report.z * sd <= problem.weekly_budget + 1e-6)
    assert report.holds(problem.weekly_budget).all() and report.margin.max() > 0
    assert _overrun_share(problem, choice, truth) <= 0.06
    assert any("hold with probability >= 95%" in note for note in solution.notes)
    # In expectation only, the budget is spent to the brim and overruns about half the weeks.
    expected_only = solve(problem, backend, settings).plan()
    assert 0.3 < _overrun_share(problem, expected_only, truth) < 0.7
    assert (choice > 0).sum() < (expected_only > 0).sum()


def test_confidence_and_shapes_are_checked() -> None:
    problem, cost_variance, _ = _coupon_problem(5)
    with pytest.raises(ValueError, match="'confidence' parameter"):
        solve_with_budget_confidence(problem, cost_variance, 0.3)
    with pytest.raises(ValueError, match="cost_variance must be shaped"):
        solve_with_budget_confidence(problem, cost_variance[:, :, :1], 0.95)
