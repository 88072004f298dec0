"""Backends agree on random instances; no returned plan ever breaks a constraint."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimization.backends.base import Capability
from optimization.frontier import frontier
from optimization.instances import random_problem
from optimization.milp import build_milp
from optimization.problem import DecisionProblem, SegmentCoverage
from optimization.rows import coupling_rows
from optimization.settings import SolveSettings
from optimization.solution import SolveStatus
from optimization.solve import BACKENDS, backend_named, solve
from tests.optimization_helpers import objective, violations

ALL = sorted(BACKENDS)
EXACT = [b for b in ALL if Capability.EXACT in backend_named(b).capabilities]
GAP = 1e-4
SETTINGS = SolveSettings(time_limit_s=60, relative_gap=GAP, warm_start=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_backends_agree_and_decomposition_is_bounded_by_them(seed: int) -> None:
    problem = random_problem(40, weeks=6, seed=seed, budget_share=0.4)
    solutions = {b: solve(problem, b, SETTINGS) for b in ALL}
    exact = [solutions[b].objective for b in EXACT]
    best = max(exact)
    for name in EXACT:
        assert solutions[name].status is SolveStatus.OPTIMAL, name
        assert solutions[name].objective == pytest.approx(best, rel=2 * GAP, abs=1e-6), name
    decomposition = solutions["lagrangian"]
    assert decomposition.objective <= best + 1e-6
    assert decomposition.bound >= best - 1e-6  # the dual bound is honest
    for name, solution in solutions.items():
        assert violations(problem, solution.plan()) == [], name
        assert objective(problem, solution.plan()) == pytest.approx(solution.objective), name


def test_decomposition_close_to_exact_at_a_thousand_customers() -> None:
    """Against the LP relaxation, which bounds the exact optimum from above: the plan is
    within 1e-3 of it, so within 1e-3 of the optimum; and the dual bound is not below it (the
    customers' own problems have integral polytopes here, so the Lagrangian dual equals the LP
    bound). The LP takes about a second; the MIP, which this test solved before, 20-25 s of
    HiGHS root cuts (its optimum, 3772.78, lies between the plan's 3772.56 and the LP's 3774.96)."""
    problem = random_problem(1000, seed=4)
    milp = build_milp(problem, coupling_rows(problem))
    relaxation = milp.solve(SETTINGS, integer=False)
    lp_bound = relaxation.objective + milp.offset
    decomposition = solve(problem, "lagrangian", SETTINGS)
    assert violations(problem, decomposition.plan()) == []
    assert decomposition.objective >= lp_bound * (1 - 1e-3)
    assert decomposition.bound >= lp_bound * (1 - 1e-7)
    assert decomposition.gap < 1e-3


def _with_extras(
    problem: DecisionProblem, capacity_share: float, coverage_share: float, total_share: float
) -> DecisionProblem:
    n, a, _ = problem.shape
    capacity = np.full(a, np.inf)
    capacity[-1] = np.floor(capacity_share * n)
    members = np.arange(n) % 3 == 0
    coverage = (SegmentCoverage("every_third", members, np.floor(coverage_share * members.sum())),)
    total = total_share * problem.weekly_budget.sum()
    return dataclasses.replace(
        problem, action_capacity=capacity, coverage=coverage, total_budget=total
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    customers=st.integers(5, 40),
    weeks=st.integers(1, 5),
    cap=st.integers(0, 4),
    budget_share=st.floats(0.05, 1.5),
    floor_slack=st.floats(-0.01, 0.1),
    capacity_share=st.floats(0.0, 1.0),
    coverage_share=st.floats(0.0, 0.6),
    total_share=st.floats(0.3, 1.2),
)
def test_no_plan_breaks_a_constraint(
    seed,
    customers,
    weeks,
    cap,
    budget_share,
    floor_slack,
    capacity_share,
    coverage_share,
    total_share,
) -> None:
    problem = _with_extras(
        random_problem(
            customers,
            weeks=weeks,
            contact_cap=cap,
            budget_share=budget_share,
            floor_slack=floor_slack,
            seed=seed,
        ),
        capacity_share,
        coverage_share,
        total_share,
    )
    reference = None
    for name in ("highs", "lagrangian"):
        solution = solve(
            problem,
            name,
            SolveSettings(time_limit_s=20, relative_gap=GAP, warm_start=name == "highs"),
        )
        if solution.status is SolveStatus.INFEASIBLE:
            assert solution.explanation is not None
            continue
        assert violations(problem, solution.plan()) == [], name
        assert solution.bound >= solution.objective - 1e-6
        if name == "highs":
            reference = solution
        elif reference is not None and reference.status is SolveStatus.OPTIMAL:
            assert solution.objective <= reference.objective + 1e-6
            assert solution.bound >= reference.objective * (1 - GAP) - 1e-6


def test_auto_says_what_it_chose() -> None:
    problem = random_problem(30, weeks=4, seed=3)
    small = solve(problem, "auto", SETTINGS)
    assert small.backend == "highs" and "auto chose highs" in small.notes[0]
    large = solve(problem, "auto", dataclasses.replace(SETTINGS, auto_exact_max_variables=10))
    assert large.backend == "lagrangian" and "auto chose lagrangian" in large.notes[0]


def test_audit_trail_recomputes_every_figure(tmp_path: Path) -> None:
    problem = _with_extras(random_problem(60, weeks=4, seed=9), 0.3, 0.2, 0.9)
    solution = solve(problem, "highs", SETTINGS)
    solution.save(tmp_path, problem)
    # Recompute from the files alone, with plain pandas and numpy.
    arrays = np.load(tmp_path / "problem.npz")
    allocation = pd.read_parquet(tmp_path / "allocation.parquet")
    report = json.loads((tmp_path / "solution.json").read_text())
    index = {c: i for i, c in enumerate(arrays["customer_ids"])}
    actions = {a: i for i, a in enumerate(arrays["action_ids"])}
    u = allocation["customer_id"].map(index).to_numpy()
    a = allocation["action"].map(actions).to_numpy()
    t = allocation["week"].to_numpy() - 1
    value = arrays["value"]
    assert (value[u, a, t] - value[u, 0, t]).sum() + value[:, 0, :].sum() == pytest.approx(
        report["objective"]
    )
    rows = {row["name"]: row for row in report["constraints"]}
    base_cost = arrays["cost"][:, 0, :].sum(axis=0)
    extra_cost = np.bincount(
        t, arrays["cost"][u, a, t] - arrays["cost"][u, 0, t], minlength=value.shape[2]
    )
    for week in range(value.shape[2]):
        row = rows[f"budget[w{week + 1}]"]
        assert row["activity"] == pytest.approx(base_cost[week] + extra_cost[week])
        assert row["rhs"] == pytest.approx(arrays["weekly_budget"][week])
    assert rows["budget[total]"]["activity"] == pytest.approx((base_cost + extra_cost).sum())
    assert rows["capacity[coupon_20]"]["activity"] == (allocation["action"] == "coupon_20").sum()
    members = arrays["coverage_members"][0]
    assert rows["coverage[every_third]"]["activity"] == members[u].sum()
    assert report["status"] == solution.status.value and report["backend"] == "highs"
    loaded = DecisionProblem.load(tmp_path)
    np.testing.assert_array_equal(loaded.value, problem.value)
    assert loaded.coverage[0].minimum_contacts == problem.coverage[0].minimum_contacts


def test_frontier_is_monotone_in_budget() -> None:
    problem = random_problem(80, weeks=4, seed=5)
    levels = np.linspace(0.0, 2.0, 5) * problem.weekly_budget.mean()
    curve = frontier(problem, "weekly_budget", levels, backend="highs", settings=SETTINGS)
    clv = curve.as_arrays()["clv"]
    assert (np.diff(clv) >= -1e-6).all()
    assert curve.points[0].spend == pytest.approx(0.0, abs=1e-9) or curve.points[0].clv <= clv[-1]
    assert all(p.status is SolveStatus.OPTIMAL for p in curve.points)


def test_problem_validation_messages() -> None:
    problem = random_problem(5, weeks=2, seed=0)
    bad = problem.value.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"value holds 1 NaN .* customer 1, action 2, week 0"):
        dataclasses.replace(problem, value=bad)
    with pytest.raises(ValueError, match="cost must be >= 0"):
        dataclasses.replace(problem, cost=-problem.cost - 1)
    with pytest.raises(ValueError, match=r"`none` is always allowed"):
        eligible = problem.eligible.copy()
        eligible[0, 0] = False
        dataclasses.replace(problem, eligible=eligible)
    with pytest.raises(ValueError, match="'time_limit_s' parameter of SolveSettings"):
        SolveSettings(time_limit_s=0)
    with pytest.raises(ValueError, match="'backend' parameter of solve"):
        solve(problem, "gurobi")


def test_nothing_eligible_is_the_all_none_plan_without_a_search() -> None:
    problem = random_problem(300, seed=2)
    eligible = problem.eligible.copy()
    eligible[:, 1:] = False
    only_none = dataclasses.replace(problem, eligible=eligible)
    solution = solve(only_none, "lagrangian", SolveSettings(time_limit_s=30))
    assert solution.status is SolveStatus.OPTIMAL and solution.backend == "lagrangian"
    assert (solution.plan() == 0).all()
    assert solution.objective == solution.bound == 0.0
    assert any("only plan" in note for note in solution.notes)
    # a floor the all-none plan cannot meet is still explained, not planned
    floor = problem.revenue[:, 0, :].sum(axis=0) * 1.1
    short = dataclasses.replace(only_none, weekly_revenue_floor=floor)
    refused = solve(short, "lagrangian", SolveSettings(time_limit_s=30))
    assert not refused.has_plan and refused.explanation is not None
