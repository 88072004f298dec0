"""The knobs of the synthetic market, with defaults calibrated to CDNOW."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from engine.actions import DEMO_ACTIONS, Action


@dataclass(frozen=True)
class ActionResponse:
    """Population-average ground-truth response to one action.

    lift: mean relative increase of the week's purchase rate; basket_lift: relative spend
    increase when buying; retention: mean relative cut of the dropout probability after a
    purchase that week (for the customers who respond to retention at all); conditioning: how
    much the action adds to the customer's discount-expectation stock.
    """

    lift: float
    basket_lift: float = 0.0
    retention: float = 0.0
    conditioning: float = 0.0


DEMO_RESPONSES: dict[str, ActionResponse] = {
    "none": ActionResponse(lift=0.0),
    "email": ActionResponse(lift=0.15, retention=0.25),
    "email_reco": ActionResponse(lift=0.30, basket_lift=0.05, retention=0.45),
    "free_shipping": ActionResponse(lift=0.35, basket_lift=0.05, retention=0.30, conditioning=0.5),
    "coupon_10": ActionResponse(lift=0.50, basket_lift=0.05, retention=0.30, conditioning=1.0),
    "coupon_20": ActionResponse(lift=0.90, basket_lift=0.10, retention=0.30, conditioning=2.0),
}


@dataclass(frozen=True)
class MarketConfig:
    """Size, calendar and behaviour of a synthetic shop.

    BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, v) defaults are Fader, Hardie & Lee's CDNOW
    estimates (weekly rate; spend in dollars).
    """

    customers: int = 20_000
    weeks: int = 104
    seed: int = 7
    as_of: pd.Timestamp = field(default_factory=lambda: pd.Timestamp("2026-11-30"))
    # BG/NBD purchase rate and dropout, CDNOW (Fader, Hardie & Lee 2005).
    r: float = 0.243
    alpha: float = 4.414
    a: float = 0.793
    b: float = 2.426
    # Gamma-Gamma spend, CDNOW.
    spend_p: float = 6.25
    spend_q: float = 3.74
    spend_v: float = 15.44
    # Customers are acquired (make their first purchase) uniformly over this share of history.
    acquisition_share: float = 0.8
    categories: int = 8
    items_per_category: int = 25
    # The last `campaign_weeks` of history carry randomised campaigns, logged with propensities.
    campaign_weeks: int = 26
    review_probability: float = 0.08
    actions: tuple[Action, ...] = DEMO_ACTIONS
    responses: dict[str, ActionResponse] = field(default_factory=lambda: dict(DEMO_RESPONSES))

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError(
                f"The 'customers' parameter of MarketConfig must be >= 1. Got {self.customers}."
            )
        if self.weeks < 4:
            raise ValueError(
                f"The 'weeks' parameter of MarketConfig must be >= 4. Got {self.weeks}."
            )
        if not 0 <= self.campaign_weeks < self.weeks:
            raise ValueError(
                "The 'campaign_weeks' parameter of MarketConfig must be in "
                f"[0, weeks). Got {self.campaign_weeks} instead."
            )
        if self.as_of.day_of_week != 0:
            raise ValueError(
                f"The 'as_of' parameter of MarketConfig must be a Monday (weeks start "
                f"on Monday). Got {self.as_of:%Y-%m-%d} ({self.as_of:%A}) instead."
            )
        missing = [a.id for a in self.actions if a.id not in self.responses]
        if missing:
            raise ValueError(f"MarketConfig has no ground-truth response for actions {missing}.")

    @property
    def first_week_start(self) -> pd.Timestamp:
        return self.as_of - pd.Timedelta(weeks=self.weeks)

    def week_start(self, week: int) -> pd.Timestamp:
        """Monday of history week `week` (0-based); week `weeks` is the as-of week."""
        return self.first_week_start + pd.Timedelta(weeks=week)
