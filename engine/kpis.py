"""Key figures of a plan: expected spend, revenue and contacts, the chance of meeting each
week's revenue floor under the forecast's own uncertainty (normal approximation), and the
customers the shop knows whom the plan does not cover."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr  # the normal CDF, without scipy.stats' second of import

from optimization.problem import DecisionProblem
from optimization.solution import Solution
from shopdata.validation import InputTables

#: Coefficient of variation of a purchase's spend (Gamma-Gamma with shape p about 6: 1/sqrt(6)).
SPEND_CV = 0.4


def floor_probabilities(
    problem: DecisionProblem, purchase_prob: np.ndarray, choice: np.ndarray
) -> np.ndarray:
    """P(week's revenue >= floor) per week ([H]); NaN where a week has no floor.

    A customer-week's revenue is 0, or with probability p a purchase Y of mean m = r / p (r
    the problem's expected revenue) and coefficient of variation SPEND_CV: mean r, variance
    r m (1 + cv^2) - r^2. Customers are independent, so the week's revenue is normal to a
    good approximation (a sum over every customer; the same approximation as the budgets'
    chance constraint, optimization/chance.py), O(N H) where a Monte Carlo costs draws x N x
    H (it took 32 s of the 100,000-customer weekly run). Against a Monte Carlo of the same
    model (tests/test_kpis.py) it is within 0.03 at 5,000 customers and 0.04 at 800, where a
    week's revenue is still skewed; the error shrinks as 1 / sqrt(N).
    """
    n, _, h = problem.shape
    u, t = np.arange(n)[:, None], np.arange(h)[None, :]
    p = purchase_prob[u, choice, t]  # [N, H]
    revenue = problem.revenue[u, choice, t].astype(np.float64)  # [N, H]
    mean_spend = np.divide(revenue, p, out=np.zeros((n, h)), where=p > 0)
    mean = revenue.sum(axis=0)  # [H]
    variance = np.maximum(revenue * mean_spend * (1.0 + SPEND_CV**2) - revenue**2, 0.0).sum(axis=0)
    floor = problem.weekly_revenue_floor
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mean - floor) / np.sqrt(variance)
    out = np.where(variance > 0, ndtr(z), (mean >= floor).astype(np.float64))
    out[~np.isfinite(floor)] = np.nan
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
        # the expected margin of the items shown: how they were chosen, not a gain (clv_gain
        # is the promotions' alone; optimization.solve._with_recommendations)
        "recommendation_margin": (
            solution.recommended.value if solution.recommended is not None else 0.0
        ),
    }


def known_customers(tables: InputTables) -> np.ndarray:
    """The ids the shop knows from its customers table and campaign log, unique, as str."""
    frames = [f["customer_id"] for f in (tables.customers, tables.campaign_log) if f is not None]
    if not frames:
        return np.array([], dtype=str)
    ids = pd.concat(frames, ignore_index=True).astype("string").drop_duplicates()
    return ids.to_numpy(dtype=str)  # a numpy str array: sorted set operations stay vectorised


def left_out(known: np.ndarray, forecast_ids: np.ndarray) -> dict[str, object]:
    """Customers the shop knows (`known`: customers table, campaign log) whom the plan does
    not cover, and why: the forecasters need a first purchase before the planning week."""
    missing = np.setdiff1d(known.astype(str), forecast_ids.astype(str))
    return {
        "customers": len(missing),
        "reason": "no purchase before the planning week: the forecasters need a first purchase "
        "to forecast from (they are planned for once they have one)",
        "examples": [str(x) for x in missing[:5]],
    }
