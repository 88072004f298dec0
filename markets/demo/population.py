"""Each synthetic customer's latent traits: the ground truth no model sees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markets.demo.config import MarketConfig

REGIONS = np.array(["north", "south", "east", "west"])
CHANNELS = np.array(["organic", "paid_search", "social", "referral"])
# Acquisition channels shift the purchase rate: referrals buy more, social-media buyers less.
CHANNEL_RATE_FACTOR = np.array([1.0, 0.9, 0.7, 1.4])


@dataclass(frozen=True)
class Population:
    """Latent traits, one row per customer ([N] or [N, A] arrays, A in catalogue order).

    purchase_rate: weekly Poisson rate while alive; dropout: P(leave) after a purchase week;
    spend_rate: Gamma-Gamma nu (mean spend = spend_p / nu); lift: relative purchase-rate change
    when the action is taken (negative: it puts the customer off); retention: relative cut of
    dropout after a purchase in an action week; pull_forward: share of lifted purchases borrowed
    from later weeks; conditioning: how strongly past discounts suppress full-price buying;
    fatigue: how fast repeated contacts wear the lift down; satisfaction: drives review tone.
    """

    purchase_rate: np.ndarray
    dropout: np.ndarray
    spend_rate: np.ndarray
    lift: np.ndarray
    basket_lift: np.ndarray
    retention: np.ndarray
    conditioning_gain: np.ndarray
    pull_forward: np.ndarray
    conditioning: np.ndarray
    fatigue: np.ndarray
    satisfaction: np.ndarray
    category_preference: np.ndarray
    acquisition_week: np.ndarray
    region: np.ndarray
    channel: np.ndarray

    def __len__(self) -> int:
        return len(self.purchase_rate)


def draw_population(config: MarketConfig, rng: np.random.Generator) -> Population:
    """Draw N customers; deal-prone customers respond more, but also pull forward and get
    conditioned more, so short-term uplift and long-term value disagree on who to target."""
    n = config.customers
    channel = rng.integers(0, len(CHANNELS), n)
    region = rng.integers(0, len(REGIONS), n)
    purchase_rate = rng.gamma(config.r, 1.0 / config.alpha, n) * CHANNEL_RATE_FACTOR[channel]
    dropout = rng.beta(config.a, config.b, n)
    spend_rate = rng.gamma(config.spend_q, 1.0 / config.spend_v, n)

    deal_proneness = rng.lognormal(0.0, 0.6, n)  # [N], mean ~1.2
    responses = [config.responses[action.id] for action in config.actions]
    base_lift = np.array([r.lift for r in responses])  # [A]
    lift = (
        base_lift[None, :] * deal_proneness[:, None] * rng.lognormal(0.0, 0.3, (n, len(base_lift)))
    )
    by_region = np.array(
        [r.region_lift if r.region_lift is not None else (1.0,) * len(REGIONS) for r in responses]
    )  # [A, regions]
    lift = lift * by_region.T[region]  # [N, A]: one version of a mail better in some regions
    behaviour = config.behaviour
    annoyed = rng.random(n) < behaviour.annoyed_share
    email_channel = np.array([a.channel == "email" for a in config.actions])  # [A]
    # Annoyed customers buy less after an e-mail whatever it offers: at least 30 % less.
    put_off = np.minimum(lift - 0.6, -0.3)
    lift = np.where(annoyed[:, None] & email_channel[None, :], put_off, lift)
    lift[:, 0] = 0.0
    lift = np.maximum(lift, -0.6)

    basket_lift = np.broadcast_to(np.array([r.basket_lift for r in responses]), (n, len(responses)))
    retention_responder = rng.random(n) < behaviour.retention_responder_share
    retention_strength = rng.beta(2.0, 3.0, n) * retention_responder  # [N]
    retention = np.clip(
        np.array([r.retention for r in responses])[None, :] * retention_strength[:, None] * 2.0,
        0.0,
        0.9,
    )
    conditioning_gain = np.array([r.conditioning for r in responses])  # [A]

    pull_forward = np.clip(
        behaviour.pull_forward * deal_proneness + rng.normal(0.0, 0.1, n), 0.0, 0.9
    )
    conditioning = rng.gamma(2.0, behaviour.conditioning / 2.0, n) * deal_proneness
    fatigue = rng.gamma(2.0, behaviour.fatigue / 2.0, n)
    # Dissatisfied customers leave sooner; reviews carry that signal (issue: review embeddings).
    satisfaction = (
        -np.log(dropout / (1 - dropout)) + 2.0 * retention_strength + rng.normal(0, 0.7, n)
    )
    category_preference = rng.dirichlet(np.full(config.categories, 0.6), n)

    acquisition_span = max(1, int(config.weeks * config.acquisition_share))
    acquisition_week = rng.integers(0, acquisition_span, n)
    return Population(
        purchase_rate=purchase_rate,
        dropout=dropout,
        spend_rate=spend_rate,
        lift=lift,
        basket_lift=np.ascontiguousarray(basket_lift),
        retention=retention,
        conditioning_gain=np.broadcast_to(conditioning_gain, (n, len(responses))).copy(),
        pull_forward=pull_forward,
        conditioning=conditioning,
        fatigue=fatigue,
        satisfaction=satisfaction,
        category_preference=category_preference,
        acquisition_week=acquisition_week,
        region=region,
        channel=channel,
    )
