"""The plan's key figures: the chance of meeting each week's revenue floor."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.kpis import SPEND_CV, floor_probabilities
from optimization.instances import random_problem


def _monte_carlo(problem, probability, choice, draws: int, seed: int) -> np.ndarray:
    n, _, h = problem.shape
    u, t = np.arange(n)[:, None], np.arange(h)[None, :]
    p = probability[u, choice, t]
    mean_spend = problem.revenue[u, choice, t] / p
    rng = np.random.default_rng(seed)
    shape = 1.0 / SPEND_CV**2
    hits = np.zeros(h)
    for _ in range(draws // 100):
        bought = rng.random((100, n, h)) < p[None]
        amount = rng.gamma(shape, 1.0 / shape, (100, n, h)) * mean_spend[None]
        hits += (np.where(bought, amount, 0.0).sum(axis=1) >= problem.weekly_revenue_floor).sum(0)
    return hits / draws


def test_floor_probability_matches_a_monte_carlo_of_the_same_model() -> None:
    problem = random_problem(5_000, weeks=4, seed=3)
    n, a, h = problem.shape
    rng = np.random.default_rng(0)
    probability = rng.uniform(0.05, 0.3, (n, a, h))
    choice = rng.integers(0, a, (n, h))
    u, t = np.arange(n)[:, None], np.arange(h)[None, :]
    expected = problem.revenue[u, choice, t].sum(axis=0)
    # floors from well below to well above the expected revenue: P from ~1 to ~0
    floor = expected * np.array([0.7, 0.97, 1.03, 1.3])
    problem = dataclasses.replace(problem, weekly_revenue_floor=floor)
    exact = floor_probabilities(problem, probability, choice)
    simulated = _monte_carlo(problem, probability, choice, draws=2_000, seed=1)
    assert exact[0] > 0.95 and exact[-1] < 0.05
    assert 0.5 < exact[1] < 1.0 and 0.0 < exact[2] < 0.5
    np.testing.assert_allclose(exact, simulated, atol=0.03)


def test_weeks_without_a_floor_or_without_uncertainty() -> None:
    problem = random_problem(50, weeks=3, seed=1)
    n, a, h = problem.shape
    choice = np.zeros((n, h), dtype=np.int64)
    floor = np.array([-np.inf, 0.0, 1e9])
    problem = dataclasses.replace(problem, weekly_revenue_floor=floor)
    certain = np.zeros((n, a, h))  # nobody buys: revenue is 0 for sure
    problem = dataclasses.replace(problem, revenue=np.zeros((n, a, h)))
    out = floor_probabilities(problem, certain, choice)
    assert np.isnan(out[0]) and out[1] == 1.0 and out[2] == 0.0
