"""The recommendation block: exact per-week b-matching, the large-scale proposal rounds (the
same plan however the customers are split into groups), and its place in the Solution and
the audit trail."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimization.groups import LocalShards
from optimization.instances import random_problem
from optimization.recommendation_rounds import BlockPart
from optimization.recommendations import RecommendationBlock, solve_recommendations
from optimization.settings import SolveSettings
from optimization.solve import solve

SETTINGS = SolveSettings(time_limit_s=30, relative_gap=1e-6, warm_start=False)


def _block(n: int, m: int, h: int, items: int, slots: int, capacity: float, seed: int):
    rng = np.random.default_rng(seed)
    candidates = np.stack([rng.choice(items, m, replace=False) for _ in range(n)])
    return RecommendationBlock(
        item_ids=np.array([f"i{i}" for i in range(items)]),
        candidates=candidates,
        value=rng.gamma(1.0, 1.0, (n, m, h)) - 0.3,
        slots=slots,
        item_capacity=np.full((items, h), capacity),
    )


def _brute_force(block: RecommendationBlock, t: int) -> float:
    n, m, _ = block.value.shape
    best = 0.0
    for picks in itertools.product([0, 1], repeat=n * m):
        shown = np.array(picks, bool).reshape(n, m)
        if (shown.sum(axis=1) > block.slots).any():
            continue
        counts = np.bincount(block.candidates[shown], minlength=len(block.item_ids))
        if (counts > block.item_capacity[:, t]).any():
            continue
        best = max(best, float(block.value[shown, t].sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_week_matches_brute_force(seed: int) -> None:
    block = _block(n=4, m=3, h=1, items=3, slots=2, capacity=2, seed=seed)
    plan = solve_recommendations(block, SETTINGS)
    assert plan.exact and plan.value == pytest.approx(_brute_force(block, 0))


def test_proposals_respect_limits_and_the_bound() -> None:
    block = _block(n=2000, m=3, h=3, items=15, slots=2, capacity=120, seed=4)
    exact = solve_recommendations(block, SETTINGS)
    greedy = solve_recommendations(block, SETTINGS, allow_exact=False)
    for plan in (exact, greedy):
        assert (plan.shown.sum(axis=1) <= block.slots).all()
        for t in range(3):
            counts = np.bincount(block.candidates[plan.shown[:, :, t]], minlength=15)
            assert (counts <= block.item_capacity[:, t]).all()
        assert not (plan.shown & (block.value <= 0)).any()
    assert greedy.value <= exact.value + 1e-9 <= greedy.bound + 1e-6
    assert greedy.value >= 0.8 * exact.value


def test_solution_carries_recommendations_into_the_audit_trail(tmp_path: Path) -> None:
    problem = random_problem(50, weeks=3, seed=2)
    block = _block(n=50, m=3, h=3, items=6, slots=1, capacity=10, seed=3)
    problem = dataclasses.replace(problem, recommendations=block)
    without = solve(dataclasses.replace(problem, recommendations=None), "highs", SETTINGS)
    solution = solve(problem, "highs", SETTINGS)
    assert solution.recommended is not None
    # the recommendations' expected margin is their own figure, not part of the CLV gain
    assert solution.objective == pytest.approx(without.objective)
    assert solution.recommended.value > 0
    items = solution.recommended.items(block)
    assert items.shape == (50, 3, 1)
    solution.save(tmp_path, problem)
    allocation = pd.read_parquet(tmp_path / "allocation.parquet")
    shown = allocation[allocation["action"] == "recommend"]
    assert len(shown) == int(solution.recommended.shown.sum())
    assert shown["item"].notna().all()
    arrays = np.load(tmp_path / "problem.npz")
    base = arrays["value"][:, 0, :].sum()
    promotions = allocation[allocation["action"] != "recommend"]
    index = {c: i for i, c in enumerate(arrays["customer_ids"])}
    u = promotions["customer_id"].map(index).to_numpy()
    t = promotions["week"].to_numpy() - 1
    recomputed = promotions["value"].sum() - arrays["value"][u, 0, t].sum() + base
    assert recomputed == pytest.approx(solution.objective)
    assert shown["value"].sum() == pytest.approx(solution.recommended.value)
    assert "reco_value" in arrays.files


def _reference_rounds(block: RecommendationBlock) -> tuple[np.ndarray, float]:
    """The rounds written for one process, item by item (shown [N, M, H], bound): the plan the
    split rounds must give."""
    n, m, h = block.value.shape
    shown = np.zeros((n, m, h), bool)
    bound = 0.0
    for t in range(h):
        useful = (block.candidates >= 0) & (block.value[:, :, t] > 0)
        value = np.where(useful, block.value[:, :, t], -np.inf)
        remaining = block.item_capacity[:, t].copy()
        slots_left = np.full(n, block.slots)
        order = np.argsort(-value, axis=1, kind="stable")
        for position in range(m):
            for item in range(len(block.item_ids)):
                bids = [
                    (-value[u, order[u, position]], u)
                    for u in range(n)
                    if slots_left[u] > 0
                    and np.isfinite(value[u, order[u, position]])
                    and block.candidates[u, order[u, position]] == item
                ]
                for _, u in sorted(bids)[: int(min(remaining[item], len(bids)))]:
                    shown[u, order[u, position], t] = True
                    remaining[item] -= 1
            slots_left = block.slots - shown[:, :, t].sum(axis=1)
        worth = np.where(useful, block.value[:, :, t], 0.0)
        customer_side = np.sort(worth, axis=1)[:, ::-1][:, : block.slots].sum()
        item_side = sum(
            np.sort(worth[block.candidates == i])[::-1][: int(min(c, n * m))].sum()
            for i, c in enumerate(block.item_capacity[:, t])
        )
        bound += min(customer_side, item_side)
    return shown, bound


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    customers=st.integers(1, 120),
    groups=st.integers(2, 5),
    slots=st.integers(0, 3),
    capacity=st.integers(0, 12),
)
def test_the_rounds_give_one_groups_plan_whatever_the_split(
    seed: int, customers: int, groups: int, slots: int, capacity: int
) -> None:
    """Split into groups (as on Ray actors), the proposal rounds give the plan and bound of one
    group: values on a coarse grid (many ties), some items uncapped, missing candidates."""
    rng = np.random.default_rng(seed)
    items, m, h = 6, 4, 2
    candidates = np.stack([rng.choice(items, m, replace=False) for _ in range(customers)])
    candidates[rng.random(candidates.shape) < 0.15] = -1
    item_capacity = np.full((items, h), float(capacity))
    item_capacity[rng.random(items) < 0.3] = np.inf
    block = RecommendationBlock(
        item_ids=np.array([f"i{i}" for i in range(items)]),
        candidates=candidates,
        value=rng.integers(-1, 4, (customers, m, h)).astype(float),
        slots=slots,
        item_capacity=item_capacity,
    )
    one = solve_recommendations(block, SETTINGS, allow_exact=False)
    reference, bound = _reference_rounds(block)
    assert np.array_equal(one.shown, reference)
    assert one.bound == pytest.approx(max(bound, one.value), abs=1e-9)
    assignment = rng.integers(0, groups, customers)
    parts = [BlockPart.of(block, np.flatnonzero(assignment == g)) for g in range(groups)]
    split = solve_recommendations(block, SETTINGS, allow_exact=False, groups=LocalShards(parts))
    assert np.array_equal(split.shown, one.shown)
    assert split.value == pytest.approx(one.value, abs=1e-9)
    assert split.bound == pytest.approx(one.bound, abs=1e-9)
    for t in range(h):  # and the plan keeps every limit
        counts = np.bincount(block.candidates[split.shown[:, :, t]], minlength=items)
        assert (counts <= block.item_capacity[:, t]).all()
    assert (split.shown.sum(axis=1) <= slots).all()
    assert not (split.shown & ((block.value <= 0) | (candidates[:, :, None] < 0))).any()
