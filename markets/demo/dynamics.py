"""One week of the synthetic market, vectorised over all customers.

The same `step` writes the demo history and replays a plan against the ground truth. Its
randomness comes from `WeekNoise`, drawn per (seed, week) before actions are known, so two
policies replayed with one seed see common random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from markets.demo.population import Population

DEBT_DECAY = 0.6  # pull-forward debt left after a week
DISCOUNT_STOCK_DECAY = 0.85  # discount expectation left after a week
CONTACT_LOAD_DECAY = 0.6  # contact fatigue left after a week


@dataclass(frozen=True)
class MarketState:
    """Each customer's dynamic state at the start of a week ([N] arrays)."""

    acquired: np.ndarray
    alive: np.ndarray
    pull_forward_debt: np.ndarray
    discount_stock: np.ndarray
    contact_load: np.ndarray

    @classmethod
    def initial(cls, customers: int) -> MarketState:
        zeros = np.zeros(customers)
        return cls(np.zeros(customers, bool), np.zeros(customers, bool), zeros, zeros, zeros)


@dataclass(frozen=True)
class WeekNoise:
    """The week's random draws: purchase and dropout uniforms, unit-scale Gamma spend draws."""

    purchase: np.ndarray
    dropout: np.ndarray
    spend: np.ndarray

    @classmethod
    def draw(cls, seed: int, week: int, customers: int, spend_shape: float) -> WeekNoise:
        rng = np.random.default_rng([seed, week])
        return cls(
            rng.random(customers), rng.random(customers), rng.gamma(spend_shape, 1.0, customers)
        )


@dataclass(frozen=True)
class WeekOutcome:
    """What happened in one week ([N] arrays). `probability` is the true purchase probability
    under the action taken; `probability_none` under no action (the counterfactual)."""

    purchased: np.ndarray
    spend: np.ndarray
    probability: np.ndarray
    probability_none: np.ndarray
    acquired_now: np.ndarray


def step(
    population: Population,
    state: MarketState,
    action: np.ndarray,
    week: int,
    noise: WeekNoise,
    *,
    discounted: np.ndarray,
) -> tuple[WeekOutcome, MarketState]:
    """Advance one week under `action` ([N] action indices; 0 is none).

    `discounted` ([A] bool) says which actions carry a price discount: in those weeks the
    customer's conditioned reluctance to buy at full price does not apply.
    """
    customers = np.arange(len(population))
    acquired_now = population.acquisition_week == week
    active = state.alive & state.acquired
    treated = (action > 0) & state.acquired

    full_price_reluctance = np.exp(-population.conditioning * state.discount_stock)
    suppression = np.where(discounted[action], 1.0, full_price_reluctance)
    rate_none = population.purchase_rate * full_price_reluctance * np.exp(-state.pull_forward_debt)
    lift = population.lift[customers, action] * np.exp(-population.fatigue * state.contact_load)
    rate = population.purchase_rate * suppression * np.exp(-state.pull_forward_debt) * (1 + lift)
    probability_none = np.where(active, -np.expm1(-rate_none), 0.0)
    probability = np.where(active, -np.expm1(-np.where(treated, rate, rate_none)), 0.0)

    repeat = active & (noise.purchase < probability)
    purchased = repeat | acquired_now
    basket = 1.0 + np.where(treated, population.basket_lift[customers, action], 0.0)
    spend = np.where(purchased, noise.spend / population.spend_rate * basket, 0.0)

    incremental_share = np.where(
        repeat & treated,
        np.clip(probability - probability_none, 0, None) / np.maximum(probability, 1e-12),
        0.0,
    )
    retention = np.where(treated, population.retention[customers, action], 0.0)
    leaves = repeat & (noise.dropout < population.dropout * (1 - retention))
    new_state = replace(
        state,
        acquired=state.acquired | acquired_now,
        alive=(state.alive & ~leaves) | acquired_now,
        pull_forward_debt=state.pull_forward_debt * DEBT_DECAY
        + population.pull_forward * incremental_share,
        discount_stock=state.discount_stock * DISCOUNT_STOCK_DECAY
        + np.where(treated, population.conditioning_gain[customers, action], 0.0),
        contact_load=state.contact_load * CONTACT_LOAD_DECAY + treated,
    )
    outcome = WeekOutcome(purchased, spend, probability, probability_none, acquired_now)
    return outcome, new_state
