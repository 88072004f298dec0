"""The repair from groups of customers: the same plan however the customers are split."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optimization.dual_bundle import minimise_dual
from optimization.groups import LocalShards
from optimization.instances import random_problem
from optimization.lagrangian import LagrangianDual
from optimization.plan_shard import PlanShard, whole
from optimization.problem import DecisionProblem, SegmentCoverage
from optimization.repair import repair
from optimization.rows import RowKind, coupling_rows, measure_plan
from optimization.settings import LagrangianSettings, SolveSettings
from tests.optimization_helpers import violations

SETTINGS = SolveSettings(
    time_limit_s=60,
    relative_gap=1e-6,
    lagrangian=LagrangianSettings(device="cpu", repair_customers=60),
)


def _every_row_kind(customers: int, seed: int) -> DecisionProblem:
    """The random family with a total budget, action capacities and a coverage row too."""
    problem = random_problem(customers, seed=seed, budget_share=0.4, floor_slack=0.005)
    rng = np.random.default_rng(seed)
    members = rng.random(customers) < 0.3
    capacity = np.full(problem.shape[1], np.inf)
    capacity[1] = customers * 0.05
    return dataclasses.replace(
        problem,
        total_budget=0.9 * float(problem.weekly_budget.sum()),
        action_capacity=capacity,
        coverage=(SegmentCoverage("lapsing", members, 1.2 * members.sum()),),
    )


@pytest.fixture(scope="module")
def solved() -> tuple[DecisionProblem, np.ndarray]:
    problem = _every_row_kind(1500, seed=3)
    dual = LagrangianDual(problem, coupling_rows(problem), 400, "cpu")
    y = minimise_dual(dual, SETTINGS, deadline=time.perf_counter() + 60).best.multipliers
    return problem, y


def _split(problem: DecisionProblem, groups: int, seed: int) -> LocalShards:
    rows = coupling_rows(problem)
    owner = np.random.default_rng(seed).integers(0, groups, problem.shape[0])
    parts = []
    for k in range(groups):
        members = np.flatnonzero(owner == k)
        if len(members):
            group = problem.subset(members)
            parts.append(PlanShard(LagrangianDual(group, rows, 170, "cpu"), members))
    return LocalShards(parts)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    groups=st.integers(2, 5),
    seed=st.integers(0, 10_000),
    off=st.sampled_from([(1.0, False), (0.5, False), (0.0, False), (2.0, False), (4.0, True)]),
)
@example(groups=3, seed=0, off=(0.0, False))
@example(groups=2, seed=1, off=(4.0, True))
def test_a_split_plan_is_the_plan_of_one_group(solved, groups, seed, off) -> None:
    """At y* and at multipliers off it, the repair from several groups gives the one-group
    plan, and it is feasible by an independent check. Too low, budgets overrun and the drop
    acts; four times too high with no price on coverage, the coverage row falls short and the
    raised prices act; the fill and the exact re-optimisation act in every case."""
    problem, y = solved
    rows = coupling_rows(problem)
    scale, coverage_free = off
    y = y * scale
    if coverage_free:
        y[rows.indices(RowKind.SEGMENT_COVERAGE)] = 0.0
    dual = LagrangianDual(problem, rows, 400, "cpu")
    bound = dual.evaluate_exact(y)
    deadline = time.perf_counter() + 60
    whole_problem = whole(dual)
    split = _split(problem, groups, seed)
    one = repair(dual, whole_problem, y, bound, SETTINGS, deadline)
    many = repair(dual, split, y, bound, SETTINGS, deadline)
    n, _, h = problem.shape
    if one is None:
        assert many is None
        return
    assert many is not None
    plan = whole_problem.plan(n, h)
    assert np.array_equal(split.plan(n, h), plan)
    assert violations(problem, plan) == []
    assert many.objective == pytest.approx(one.objective, rel=1e-12)
    assert one.objective == pytest.approx(measure_plan(problem, rows, plan).objective, rel=1e-12)


def test_the_exact_bound_adds_up_over_groups(solved) -> None:
    problem, y = solved
    rows = coupling_rows(problem)
    dual = LagrangianDual(problem, rows, 400, "cpu")
    parts = _split(problem, 3, seed=1).call("exact_total", y)
    assert sum(parts) + dual.rhs_term(y) == pytest.approx(dual.evaluate_exact(y), rel=1e-12)


def test_stacked_groups_are_the_subset_of_their_customers(solved) -> None:
    problem, _ = solved
    first, second = np.array([5, 9, 700]), np.array([1, 2, 1400])
    stacked = DecisionProblem.stack([problem.subset(first), problem.subset(second)])
    direct = problem.subset(np.concatenate([first, second]))
    for name in ("value", "cost", "revenue", "eligible", "customer_ids"):
        assert np.array_equal(getattr(stacked, name), getattr(direct, name))
    assert np.array_equal(stacked.coverage[0].members, direct.coverage[0].members)
    assert np.array_equal(stacked.weekly_budget, direct.weekly_budget)


def test_a_group_is_told_which_customers_it_holds() -> None:
    problem = random_problem(50, seed=0)
    dual = LagrangianDual(problem, coupling_rows(problem), 50, "cpu")
    with pytest.raises(ValueError, match="49 customer indices for 50 customers"):
        PlanShard(dual, np.arange(49))
