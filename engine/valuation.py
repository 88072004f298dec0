"""Valuation: a ForecastSet and a Scenario become a DecisionProblem (DESIGN §4).

With discount factor g per week and gross margin m, for customer u, action a, week t:
    gross    = purchase_prob * spend                      (expected spend)
    cost     = fixed_cost[a] + discount_rate[a] * gross   (the discount is paid on every
                                                           purchase, also those that would
                                                           have happened anyway)
    revenue  = gross * (1 - discount_rate[a])
    value    = g^t (m gross - cost)[a] - g^t (m gross)[none] + future_margin_delta[a]
Recommendations: w[u, m, t] = g^t * margin_i * P(buy candidate | recommended) * spend[u, none, t].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.scenario import Scenario
from forecasting.forecast_set import ForecastSet
from optimization.problem import DecisionProblem, SegmentCoverage
from optimization.recommendations import RecommendationBlock
from shopdata.calendar import discount_factors

#: Squared coefficient of variation of a week's spend given a purchase, for the variance of the
#: discounts a plan pays (budget_confidence). 1.0 is an exponential-like basket, heavier-tailed
#: than a Gamma-Gamma customer's own (1/p = 0.16 on CDNOW) to cover the uncertainty of each
#: customer's mean spend as well.
SPEND_CV2 = 1.0
#: Customers valued at a time (bounds the formulas' temporaries; the result does not depend on it).
CHUNK_CUSTOMERS = 100_000


def cost_variance(forecast: ForecastSet, scenario: Scenario) -> np.ndarray:
    """Variance of each cost coefficient [N, A, H]: the fixed cost is certain; the discount
    d * S on the week's spend S (0 without a purchase, Y with probability p) has variance
    d^2 (p E[Y^2] - p^2 E[Y]^2) = d^2 m^2 p (1 + cv^2 - p), with m = E[Y], cv^2 = SPEND_CV2."""
    h = scenario.horizon_weeks
    position = {str(a): i for i, a in enumerate(forecast.action_ids)}
    index = np.array([position[a.id] for a in scenario.actions])
    probability = forecast.purchase_prob[:, index, :h]
    spend = forecast.spend[:, index, :h]
    discount_rate = np.array([a.discount_rate for a in scenario.actions])[None, :, None]
    return discount_rate**2 * spend**2 * probability * (1.0 + SPEND_CV2 - probability)


class ValuationError(ValueError):
    """The scenario asks for something the forecast cannot value."""


def _weekly(value: float | list[float] | None, weeks: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(weeks, default)
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (weeks,)).copy()


def value_problem(
    forecast: ForecastSet,
    scenario: Scenario,
    *,
    customers: pd.DataFrame | None = None,
    catalog: pd.DataFrame | None = None,
) -> DecisionProblem:
    h = scenario.horizon_weeks
    n, _, forecast_weeks = forecast.shape
    if h > forecast_weeks:
        raise ValuationError(
            f"the scenario's horizon is {h} weeks; the forecast covers "
            f"{forecast_weeks}: refit with --horizon-weeks {h}"
        )
    position = {str(a): i for i, a in enumerate(forecast.action_ids)}
    missing = [a.id for a in scenario.actions if a.id not in position]
    if missing:
        raise ValuationError(
            f"actions {missing} of scenario {scenario.name!r} have no forecast; "
            f"the forecast knows {list(position)}"
        )
    index = np.array([position[a.id] for a in scenario.actions])
    fixed_cost = np.array([a.fixed_cost for a in scenario.actions])[None, :, None]
    discount_rate = np.array([a.discount_rate for a in scenario.actions])[None, :, None]
    margin = scenario.gross_margin
    discount = discount_factors(scenario.annual_discount_rate, h)[None, None, :]
    # The forecaster priced future effects at its own margin; rescale to the scenario's.
    future_scale = (
        margin / forecast.metadata.gross_margin if forecast.metadata.gross_margin > 0 else 0.0
    )
    # Filled CHUNK_CUSTOMERS customers at a time: the formulas' float64 [N, A, H] temporaries
    # (eight of them) exist for one chunk only (at 1M x 6 x 12 each is 0.58 GB).
    value = np.empty((n, len(index), h))
    cost, revenue = np.empty_like(value), np.empty_like(value)
    for start in range(0, n, CHUNK_CUSTOMERS):
        rows = slice(start, start + CHUNK_CUSTOMERS)
        probability = forecast.purchase_prob[rows][:, index, :h]  # [C, A, H]
        spend = forecast.spend[rows][:, index, :h]
        gross = probability * spend
        chunk_cost = fixed_cost + discount_rate * gross
        future = forecast.future_margin_delta[rows][:, index, :h] * future_scale
        worth = discount * (margin * gross - chunk_cost)  # of the action, this week
        chunk_value = worth - discount * (margin * gross[:, :1, :]) + future
        chunk_value[:, 0, :] = discount[0, 0, :] * -chunk_cost[:, 0, :]
        value[rows], cost[rows] = chunk_value, chunk_cost
        revenue[rows] = gross * (1.0 - discount_rate)

    constraints = scenario.constraints
    floor_spec = constraints.weekly_revenue_floor
    if floor_spec is not None and not isinstance(floor_spec, (int, float, list)):
        floor = floor_spec.share_of_baseline * revenue[:, 0, :].sum(axis=0)
    else:
        floor = _weekly(floor_spec, h, -np.inf)
    capacity = np.array([np.inf if a.capacity is None else a.capacity for a in scenario.actions])
    capacity[0] = np.inf
    return DecisionProblem(
        value=value,
        cost=cost,
        revenue=revenue,
        eligible=np.ones((n, len(index)), bool),
        customer_ids=forecast.customer_ids.astype(str),
        action_ids=np.array([a.id for a in scenario.actions]),
        week_labels=np.array([str(w) for w in forecast.week_starts[:h]]),
        weekly_budget=_weekly(constraints.weekly_budget, h, np.inf),
        weekly_revenue_floor=floor,
        contact_cap=constraints.contact_cap,
        total_budget=np.inf if constraints.total_budget is None else constraints.total_budget,
        action_capacity=None if np.isinf(capacity).all() else capacity,
        coverage=_coverage(scenario, forecast, customers),
        recommendations=_recommendations(
            forecast, scenario, forecast.spend[:, index[0], :h], catalog
        ),
    )


def _coverage(
    scenario: Scenario, forecast: ForecastSet, customers: pd.DataFrame | None
) -> tuple[SegmentCoverage, ...]:
    specs = scenario.constraints.coverage
    if not specs:
        return ()
    if customers is None:
        raise ValuationError("coverage constraints need the customers table")
    table = customers.set_index("customer_id").reindex(forecast.customer_ids.astype(str))
    found = []
    for spec in specs:
        if spec.column not in table.columns:
            raise ValuationError(
                f"coverage {spec.name!r}: the customers table has no column "
                f"{spec.column!r}; it has {sorted(table.columns)}"
            )
        members = (table[spec.column].astype(str) == spec.value).to_numpy()
        found.append(SegmentCoverage(spec.name, members, spec.minimum_contacts))
    return tuple(found)


def category_capacity(catalog: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """Weekly capacity of each category in `labels` ([I], units; inf = no limit): the sum of
    its items' `weekly_capacity`. An item with no capacity given has no limit, and neither has
    its category: a sum of empty cells must not read as 0, or its recommendations vanish."""
    if "weekly_capacity" not in catalog.columns or "category" not in catalog.columns:
        return np.full(len(labels), np.inf)
    unlimited = catalog["weekly_capacity"].fillna(np.inf)
    caps = unlimited.groupby(catalog["category"]).sum().reindex(labels).fillna(np.inf)
    return caps.to_numpy(dtype=np.float64)


def _recommendations(
    forecast: ForecastSet, scenario: Scenario, spend_none: np.ndarray, catalog: pd.DataFrame | None
) -> RecommendationBlock | None:
    affinity = forecast.item_affinity
    if scenario.recommendations.slots == 0 or affinity.candidates.shape[1] == 0:
        return None
    h = scenario.horizon_weeks
    labels = affinity.item_ids.astype(str)
    margin = np.full(len(labels), scenario.gross_margin)
    capacity = np.full((len(labels), h), np.inf)
    if catalog is not None and "category" in catalog.columns:
        by_category = catalog.groupby("category")
        if "margin_rate" in catalog.columns:
            rates = by_category["margin_rate"].mean().reindex(labels)
            margin = rates.fillna(scenario.gross_margin).to_numpy()
        capacity = np.repeat(category_capacity(catalog, labels)[:, None], h, axis=1)
    discount = discount_factors(scenario.annual_discount_rate, h)
    value = (
        discount[None, None, :]
        * margin[affinity.candidates][:, :, None]
        * affinity.purchase_prob[:, :, None]
        * spend_none[:, None, :]
    )  # [N, M, H]
    return RecommendationBlock(
        labels,
        affinity.candidates.astype(np.int64),
        value,
        scenario.recommendations.slots,
        capacity,
    )
