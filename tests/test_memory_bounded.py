"""The solver's memory-bounded paths give the answers of the whole-array ones.

At 10M customers the solve cannot hold float32 copies of the coefficients beside the problem,
gather [N, H] arrays at once or generate the instance in one piece; these paths switch on by
size, so here the thresholds are lowered to a few hundred customers and the results compared
with the default paths on the same problem.
"""

from __future__ import annotations

import numpy as np
import pytest

import optimization.instances as instances
import optimization.lagrangian as lagrangian
import optimization.rows as rows_module
from optimization.lagrangian import LagrangianDual
from optimization.rows import coupling_rows, measure_plan, plan_usage
from optimization.settings import LagrangianSettings, SolveSettings
from optimization.solve import solve


def test_blocked_instance_keeps_the_first_block_and_is_seeded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = instances.random_problem(1_000, seed=4)
    first = instances.random_problem(300, seed=4)
    monkeypatch.setattr(instances, "INSTANCE_BLOCK", 300)
    blocked = instances.random_problem(1_000, seed=4)
    again = instances.random_problem(1_000, seed=4)
    # the first block is the single-stream instance of its size: up to one block (1M
    # customers by default) nothing changes
    np.testing.assert_array_equal(blocked.value[:300], first.value)
    np.testing.assert_array_equal(blocked.cost[:300], first.cost)
    # later blocks come from their own streams: different, but reproducible
    assert not np.array_equal(blocked.value[300:], whole.value[300:])
    np.testing.assert_array_equal(blocked.value, again.value)
    np.testing.assert_allclose(blocked.weekly_budget, again.weekly_budget)
    # the budget is still a share of the whole population's best spend: same order
    assert np.all(blocked.weekly_budget > 0.5 * whole.weekly_budget)
    assert np.all(blocked.weekly_budget < 2.0 * whole.weekly_budget)


def test_chunked_measurement_equals_the_whole_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = instances.random_problem(1_000, seed=1)
    rows = coupling_rows(problem)
    rng = np.random.default_rng(0)
    plan = rng.integers(0, problem.shape[1], size=(1_000, problem.shape[2]))
    whole = measure_plan(problem, rows, plan)
    some = np.sort(rng.choice(1_000, 600, replace=False))
    usage = plan_usage(problem, plan, some)
    monkeypatch.setattr(rows_module, "MEASURE_CHUNK", 97)
    chunked = measure_plan(problem, rows, plan)
    assert chunked.objective == pytest.approx(whole.objective, rel=1e-12)
    np.testing.assert_allclose(chunked.activity, whole.activity, rtol=1e-12)
    assert chunked.max_contacts == whole.max_contacts
    assert chunked.uses_ineligible == whole.uses_ineligible
    chunked_usage = plan_usage(problem, plan, some)
    np.testing.assert_allclose(chunked_usage.cost, usage.cost, rtol=1e-12)
    np.testing.assert_allclose(chunked_usage.revenue, usage.revenue, rtol=1e-12)
    np.testing.assert_array_equal(chunked_usage.per_action, usage.per_action)


def test_dual_without_kept_copies_gives_the_same_evaluations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = instances.random_problem(2_000, seed=2)
    rows = coupling_rows(problem)
    y = np.abs(np.random.default_rng(1).normal(size=len(rows)))
    kept = LagrangianDual(problem, rows, chunk_customers=500, device="cpu")
    monkeypatch.setattr(lagrangian, "CPU_COPY_LIMIT_BYTES", 0)
    recomputed = LagrangianDual(problem, rows, chunk_customers=500, device="cpu")
    assert all(c is not None for c in kept._fast)  # the switch is what is compared
    assert all(c is None for c in recomputed._fast)
    # a limit that holds two of the four chunks: those two kept, the others recomputed
    monkeypatch.setattr(lagrangian, "CPU_COPY_LIMIT_BYTES", 2 * 500 * 3 * 4 * 5 * 12)
    partly = LagrangianDual(problem, rows, chunk_customers=500, device="cpu")
    assert [c is not None for c in partly._fast] == [True, True, False, False]
    a, plan_a = kept.evaluate(y, keep_plan=True)
    for other in (recomputed, partly):
        # the chunks not kept are evaluated from the problem's own arrays (levels minus none's
        # rather than differences to none): the same responses, to float32 rounding
        b, plan_b = other.evaluate(y, keep_plan=True)
        assert b.value == pytest.approx(a.value, rel=1e-7)
        np.testing.assert_allclose(b.subgradient, a.subgradient, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(plan_a, plan_b)


def test_solve_on_the_memory_bounded_paths_is_the_same_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = instances.random_problem(1_500, seed=5)
    settings = SolveSettings(
        time_limit_s=60, relative_gap=1e-3, lagrangian=LagrangianSettings(chunk_customers=400)
    )
    default = solve(problem, "lagrangian", settings)
    monkeypatch.setattr(lagrangian, "CPU_COPY_LIMIT_BYTES", 0)
    monkeypatch.setattr(rows_module, "MEASURE_CHUNK", 500)
    bounded = solve(problem, "lagrangian", settings)
    assert bounded.status == default.status
    assert bounded.objective == pytest.approx(default.objective, rel=1e-9)
    assert bounded.bound == pytest.approx(default.bound, rel=1e-9)
    np.testing.assert_array_equal(bounded.plan(), default.plan())


def test_single_row_conflicts_in_chunks_are_the_whole_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import optimization.infeasibility as infeasibility

    problem = instances.random_problem(1_000, seed=6)
    # a floor above what every customer's best action can add, and a budget below zero spend
    floor = problem.weekly_revenue_floor.copy()
    floor[2] = problem.revenue[:, :, 2].max(axis=1).sum() * 1.01
    impossible = dataclasses.replace(problem, weekly_revenue_floor=floor)
    rows = coupling_rows(impossible)
    whole = infeasibility.single_row_conflicts(impossible, rows)
    monkeypatch.setattr(infeasibility, "CONFLICT_CHUNK", 97)
    chunked = infeasibility.single_row_conflicts(impossible, rows)
    assert [c.name for c in whole] == [c.name for c in chunked] and len(whole) == 1
    assert chunked[0].shortfall == pytest.approx(whole[0].shortfall, rel=1e-12)
