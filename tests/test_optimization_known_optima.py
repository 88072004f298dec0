"""Hand-built problems whose optimum, bound and shadow prices are worked out by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimization.backends.base import Capability
from optimization.problem import RatioRule, SegmentCoverage
from optimization.settings import SolveSettings
from optimization.solution import NoSolutionError, SolveStatus
from optimization.solve import BACKENDS, backend_named, solve
from tests.optimization_helpers import tiny_problem, violations

ALL = sorted(BACKENDS)
EXACT = [name for name in ALL if Capability.EXACT in backend_named(name).capabilities]
SETTINGS = SolveSettings(time_limit_s=30, relative_gap=1e-6, warm_start=False)


def knapsack():
    """Three customers, one week, one action. Costs 1, 2, 1; values 3, 2, 1.5; budget 2.5.
    Integer optimum: A and C (value 4.5, cost 2). LP: A, C and a quarter of B -> 5.0, and the
    budget's shadow price is B's value per unit of cost, 1.0."""
    return tiny_problem(
        value=[[[0], [3.0]], [[0], [2.0]], [[0], [1.5]]],
        cost=[[[0], [1.0]], [[0], [2.0]], [[0], [1.0]]],
        weekly_budget=2.5,
    )


@pytest.mark.parametrize("backend", ALL)
def test_knapsack_optimum(backend: str) -> None:
    problem = knapsack()
    solution = solve(problem, backend, SETTINGS)
    assert solution.objective == pytest.approx(4.5)
    assert solution.plan()[:, 0].tolist() == [1, 0, 1]
    assert solution.bound >= 4.5 - 1e-9
    if Capability.EXACT in backend_named(backend).capabilities:
        assert solution.status is SolveStatus.OPTIMAL
        assert solution.bound == pytest.approx(4.5, abs=1e-6)
    else:  # the Lagrangian bound is the LP bound: 5.0, an honest 10 % gap
        assert solution.bound == pytest.approx(5.0, abs=1e-4)
        assert solution.gap == pytest.approx(0.1, abs=1e-4)
        assert solution.status is SolveStatus.FEASIBLE
    budget = solution.constraints[0]
    assert budget.name == "budget[w1]" and budget.activity == pytest.approx(2.0)
    assert budget.slack == pytest.approx(0.5)


@pytest.mark.parametrize(
    "backend",
    [
        b
        for b in ALL
        if backend_named(b).capabilities & {Capability.LP_DUALS, Capability.LAGRANGE_DUALS}
    ],
)
def test_budget_shadow_price_is_the_marginal_customers_ratio(backend: str) -> None:
    solution = solve(knapsack(), backend, SETTINGS)
    assert solution.shadow_prices()["budget[w1]"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("backend", ALL)
def test_contact_cap_keeps_the_best_weeks(backend: str) -> None:
    problem = tiny_problem(value=[[[0, 0, 0], [5.0, 3.0, 4.0]]], contact_cap=2)
    solution = solve(problem, backend, SETTINGS)
    assert solution.plan().tolist() == [[1, 0, 1]]
    assert solution.objective == pytest.approx(9.0)


@pytest.mark.parametrize("backend", ALL)
def test_revenue_floor_forces_the_less_valuable_action(backend: str) -> None:
    """A coupon is worth 4 but loses 10 revenue; an email is worth 1 and keeps it. The floor
    allows losing 5 at most, so the coupon is out: value 1 (email). Revenue of none: 100."""
    problem = tiny_problem(
        value=[[[0], [4.0], [1.0]]], revenue=[[[100.0], [90.0], [100.0]]], weekly_revenue_floor=95.0
    )
    solution = solve(problem, backend, SETTINGS)
    assert solution.plan().tolist() == [[2]]
    assert solution.objective == pytest.approx(1.0)
    floor = solution.constraints[0]
    assert floor.sense == ">=" and floor.activity == pytest.approx(100.0)


@pytest.mark.parametrize("backend", ALL)
def test_capacity_and_eligibility(backend: str) -> None:
    eligible = np.ones((3, 2), bool)
    eligible[0, 1] = False  # the most valuable customer may not get the action
    problem = tiny_problem(
        value=[[[0], [9.0]], [[0], [2.0]], [[0], [3.0]]],
        action_capacity=[np.inf, 1],
        eligible=eligible,
    )
    solution = solve(problem, backend, SETTINGS)
    assert solution.plan()[:, 0].tolist() == [0, 0, 1]
    assert solution.objective == pytest.approx(3.0)


@pytest.mark.parametrize("backend", ALL)
def test_coverage_forces_the_least_costly_contact(backend: str) -> None:
    """Every contact loses value, but segment {0, 1} must get at least one: the least bad."""
    members = np.array([True, True, False])
    problem = tiny_problem(
        value=[[[0], [-2.0]], [[0], [-1.0]], [[0], [-0.5]]],
        coverage=(SegmentCoverage("vip", members, 1.0),),
    )
    solution = solve(problem, backend, SETTINGS)
    assert solution.plan()[:, 0].tolist() == [0, 1, 0]
    assert solution.objective == pytest.approx(-1.0)
    assert violations(knapsack(), solve(knapsack(), backend, SETTINGS).plan()) == []


def test_infeasible_floor_is_explained_with_its_shortfall() -> None:
    """Best reachable revenue: none 100 + best gains 5 and 2 -> 107 against a floor of 110."""
    problem = tiny_problem(
        value=[[[0], [1.0]], [[0], [1.0]]],
        revenue=[[[60.0], [65.0]], [[40.0], [42.0]]],
        weekly_revenue_floor=110.0,
    )
    solution = solve(problem, "highs", SETTINGS)
    assert solution.status is SolveStatus.INFEASIBLE
    assert not solution.has_plan
    with pytest.raises(NoSolutionError, match="revenue floor"):
        solution.plan()
    conflict = solution.explanation.conflicts[0]
    assert conflict.name == "revenue_floor[w1]"
    assert conflict.best_reachable == pytest.approx(107.0)
    assert conflict.shortfall == pytest.approx(3.0)
    assert "is 3 above the best reachable 107" in conflict.message


def test_joint_conflict_is_explained_by_the_elastic_resolve() -> None:
    """Coverage needs 2 contacts at cost 3 each, the budget allows 4: each row alone is fine,
    together they conflict; the elastic LP puts the whole gap on one row."""
    members = np.array([True, True])
    problem = tiny_problem(
        value=[[[0], [1.0]], [[0], [1.0]]],
        cost=[[[0], [3.0]], [[0], [3.0]]],
        weekly_budget=4.0,
        coverage=(SegmentCoverage("all", members, 2.0),),
    )
    solution = solve(problem, "highs", SETTINGS)
    assert solution.status is SolveStatus.INFEASIBLE
    names = {c.name: c for c in solution.explanation.conflicts}
    assert names, "the elastic re-solve named no row"
    if "budget[w1]" in names:
        assert names["budget[w1]"].best_reachable == pytest.approx(6.0)
    else:
        assert names["coverage[all]"].best_reachable == pytest.approx(4.0 / 3.0)


def roi_problem():
    """Two customers, one week: an e-mail (value 0.5, no spend) or a coupon under the rule
    "margin at least 2 x spend" (coefficient dv - dc). Customer 0's coupon: value 3, spend 1
    (+2); customer 1's: value 2, spend 5 (-3). Both coupons break the rule (-1), so the optimum
    is customer 0's coupon and customer 1's e-mail, 3.5. LP: customer 1's coupon at 2/3, 4.5;
    raising the rule's right-hand side by 1 takes a third of that coupon (worth 1.5 over the
    e-mail): shadow price -0.5."""
    problem = tiny_problem(
        value=[[[0], [0.5], [3.0]], [[0], [0.5], [2.0]]],
        cost=[[[0], [0.0], [1.0]], [[0], [0.0], [5.0]]],
    )
    return dataclasses.replace(
        problem, ratios=(RatioRule("coupon roi", np.array([False, False, True]), 2.0),)
    )


@pytest.mark.parametrize("backend", ALL)
def test_a_ratio_rule_keeps_the_coupon_that_pays(backend: str) -> None:
    solution = solve(roi_problem(), backend, SETTINGS)
    assert solution.objective == pytest.approx(3.5)
    assert solution.plan()[:, 0].tolist() == [2, 1]
    row = {c.name: c for c in solution.constraints}["ratio[coupon roi]"]
    assert row.activity == pytest.approx(2.0) and row.slack == pytest.approx(2.0)
    if Capability.EXACT not in backend_named(backend).capabilities:
        assert solution.bound == pytest.approx(4.5, abs=1e-4)  # the LP bound
    if backend_named(backend).capabilities & {Capability.LP_DUALS, Capability.LAGRANGE_DUALS}:
        price = solution.shadow_prices()["ratio[coupon roi]"]
        assert abs(price) == pytest.approx(0.5, abs=1e-3)
