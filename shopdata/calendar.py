"""The shop's calendar and the time value of money: weeks start on Monday, money is discounted
weekly at the annual rate's 52nd root.

One home for these facts: the forecasters, the valuation, the optimiser's test instances and the
evaluation all take them from here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Gross margin on spend when the scenario does not say (share of net revenue kept as profit).
DEFAULT_GROSS_MARGIN = 0.35
#: Annual discount rate when the scenario does not say.
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
WEEKS_PER_YEAR = 52


def horizon_start(as_of: pd.Timestamp) -> pd.Timestamp:
    """The first Monday on or after `as_of` (weeks start on Monday)."""
    day = pd.Timestamp(as_of).normalize()
    return day + pd.Timedelta(days=(7 - day.day_of_week) % 7)


def weekly_discount(annual_discount_rate: float) -> float:
    """One week's discount factor, (1 + r)^(-1/52) (dimensionless, in (0, 1] for r >= 0)."""
    return float((1.0 + annual_discount_rate) ** (-1.0 / WEEKS_PER_YEAR))


def discount_factors(annual_discount_rate: float, weeks: int, first: int = 0) -> np.ndarray:
    """Discount factors of weeks first, ..., first + weeks - 1 ([weeks]): week k's money is
    worth weekly_discount^k of the same money in week 0."""
    return weekly_discount(annual_discount_rate) ** np.arange(first, first + weeks, dtype=float)
