"""Key figures of a plan: expected spend, revenue and contacts, and the chance of meeting each
week's revenue floor under the forecast's own uncertainty (Monte Carlo)."""

from __future__ import annotations

import numpy as np

from optimization.problem import DecisionProblem
from optimization.solution import Solution

#: Coefficient of variation of a purchase's spend (Gamma-Gamma with shape p about 6: 1/sqrt(6)).
SPEND_CV = 0.4


def floor_probabilities(
    problem: DecisionProblem,
    purchase_prob: np.ndarray,
    choice: np.ndarray,
    *,
    draws: int = 400,
    seed: int = 0,
    chunk: int = 50,
) -> np.ndarray:
    """P(week's revenue >= floor) per week ([H]): purchases Bernoulli(p), spend Gamma with the
    expected revenue as mean and SPEND_CV; NaN where a week has no floor."""
    n, _, h = problem.shape
    u, t = np.arange(n)[:, None], np.arange(h)[None, :]
    p = purchase_prob[u, choice, t]  # [N, H]
    mean_spend = np.divide(problem.revenue[u, choice, t], p, out=np.zeros((n, h)), where=p > 0)
    rng = np.random.default_rng(seed)
    shape = 1.0 / SPEND_CV**2
    hits = np.zeros(h)
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        bought = rng.random((k, n, h)) < p[None]  # [K, N, H]
        amount = rng.gamma(shape, 1.0 / shape, (k, n, h)) * mean_spend[None]
        revenue = np.where(bought, amount, 0.0).sum(axis=1)  # [K, H]
        hits += (revenue >= problem.weekly_revenue_floor[None, :]).sum(axis=0)
    out = hits / draws
    out[~np.isfinite(problem.weekly_revenue_floor)] = np.nan
    return out


def plan_kpis(
    problem: DecisionProblem, solution: Solution, purchase_prob: np.ndarray
) -> dict[str, object]:
    choice = solution.plan()
    n, a, h = problem.shape
    u, t = np.arange(n)[:, None], np.arange(h)[None, :]
    revenue = problem.revenue[u, choice, t].sum(axis=0)
    baseline = problem.revenue[:, 0, :].sum(axis=0)
    spend = problem.cost[u, choice, t].sum(axis=0)
    contacts = {str(problem.action_ids[k]): int((choice == k).sum()) for k in range(1, a)}
    return {
        "clv_gain": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "customers": n,
        "customers_contacted": int((choice > 0).any(axis=1).sum()),
        "contacts_by_action": contacts,
        "spend_by_week": spend.tolist(),
        "revenue_by_week": revenue.tolist(),
        "baseline_revenue_by_week": baseline.tolist(),
        "floor_probability_by_week": [
            None if np.isnan(x) else float(x)
            for x in floor_probabilities(problem, purchase_prob, choice)
        ],
        "recommendations_shown": (
            int(solution.recommended.shown.sum()) if solution.recommended is not None else 0
        ),
    }
