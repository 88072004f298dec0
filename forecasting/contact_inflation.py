"""How much the shop's own campaigns inflated the purchase history the no-action forecast reads.

The no-action forecasters (BG/NBD, the deep purchase models) learn each customer's purchase
rate from the history, and the history's recent weeks are the weeks the shop was contacting its
customers: they forecast the purchase rate under the shop's past contact policy, not under no
action. Measured on the demo markets at the planning week (20,000 customers, the run's
customers' mean weekly purchase probability, forecast against the truth with no action): no
bias where no action pays (`null`, 0.0164 against 0.0163), +7 % in `retention`, +19 % in
`mixed`, +51-61 % in `responsive` and `deal_seekers`. The plan then overrates every lift that
scales with the customer's activity, and the discounts paid on purchases that would have
happened anyway.

The randomised log says by how much. Over the last `weeks` weeks before the horizon, each logged
customer-week i (action A_i, propensity e_i of `none`, bought in that week: Y_i) contributes
    psi_i = Y_i - 1[A_i = none] Y_i / e_i,
whose sum estimates the purchase weeks the contacts added (the logged purchases less their
no-action counterfactual, Horvitz-Thompson; `none` rows without a logged propensity get their
week's share of `none` rows). Against the purchase weeks of the logged customers in those weeks,
    m = sum psi / purchase weeks,     factor = 1 - m,
with m shrunk towards 0 like the effects (max(0, 1 - s^2 / m^2), s its standard error clustered
by customer), so a log that cannot tell leaves the forecast as it is. The factor multiplies the
no-action weekly purchase probabilities and CLV of the customers logged in those weeks; customers
the campaigns never reached keep their history's rate.

What it assumes: the forecast's level follows the last `weeks` weeks (the forecasters weight the
recent past most); the contacts' later effects (pull-forward, retention) are left to the effect
learners and are not part of the correction, which counts the contacted weeks' own purchases.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.cross_fitting import clustered_standard_error_of_sum
from forecasting.features import purchase_filter
from forecasting.shrinkage import own_estimate_shrinkage
from shopdata.store import Store

#: Weeks before the horizon over which the log's inflation of the purchase rate is read.
INFLATION_WEEKS = 26
#: The factor is kept within these bounds (a numerical guard; the demo markets read 0.6-1.0).
FACTOR_BOUNDS = (0.1, 10.0)


@dataclass(frozen=True)
class ContactInflation:
    """The log's estimate of the purchase weeks the shop's contacts added in the last `weeks`
    weeks, and the factor on the no-action forecast of the customers logged then."""

    factor: float
    added_purchase_weeks: float
    standard_error: float
    purchase_weeks: int
    logged_rows: int
    weeks: int
    customers: int  # how many customers were logged in those weeks
    logged_customers: np.ndarray  # [L] str, sorted: the customers the factor applies to

    def without_ids(self) -> ContactInflation:
        """The same figures without the logged customers' ids (what a forecaster that does not
        apply the factor keeps, and ships to its shards)."""
        return dataclasses.replace(self, logged_customers=np.zeros(0, dtype=str))

    def factors(self, customer_ids: np.ndarray) -> np.ndarray:
        """The factor for each of `customer_ids` ([N]): `factor` where logged, else 1."""
        logged = np.isin(np.asarray(customer_ids).astype(str), self.logged_customers)
        return np.where(logged, self.factor, 1.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "factor": self.factor,
            "added_purchase_weeks": self.added_purchase_weeks,
            "standard_error": self.standard_error,
            "purchase_weeks": self.purchase_weeks,
            "logged_rows": self.logged_rows,
            "logged_customers": self.customers,
            "weeks": self.weeks,
        }


def contact_inflation(
    store: Store, horizon_start: pd.Timestamp, weeks: int = INFLATION_WEEKS
) -> ContactInflation | None:
    """The campaign log's inflation of the purchase history (module docstring) over the `weeks`
    weeks before `horizon_start`; None without a log, or without `none` rows in those weeks
    (nothing to compare the contacts with)."""
    if not store.has_table("campaign_log"):
        return None
    end = pd.Timestamp(horizon_start)
    start = end - pd.Timedelta(weeks=weeks)
    window = (
        f"week_start >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' "
        f"AND week_start < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'"
    )
    is_purchase = purchase_filter(store)
    # Per logged customer: the sum of psi over their logged weeks, their count (enough for the
    # sum and its customer-clustered standard error without a row per customer-week) and their
    # purchase weeks in the window, in one pass over the window's transactions.
    per_customer = store.query(
        f"""
        WITH bought AS (
            SELECT DISTINCT customer_id, date_trunc('week', ts) AS week_start
            FROM transactions
            WHERE {is_purchase}
              AND ts >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'
              AND ts < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'
        ), logged AS (
            SELECT customer_id, week_start, action, propensity FROM campaign_log WHERE {window}
        ), shares AS (
            SELECT week_start, avg((action = 'none')::DOUBLE) AS none_share
            FROM logged GROUP BY week_start
        ), rows AS (
            SELECT l.customer_id, l.action = 'none' AS control,
                   (b.customer_id IS NOT NULL)::DOUBLE AS y,
                   coalesce(l.propensity, s.none_share) AS none_propensity
            FROM logged l
            JOIN shares s USING (week_start)
            LEFT JOIN bought b ON b.customer_id = l.customer_id AND b.week_start = l.week_start
        ), per_customer AS (
            SELECT customer_id,
                   sum(CASE WHEN control THEN y - y / none_propensity ELSE y END) AS psi,
                   count(*) AS n,
                   count(*) FILTER (WHERE control) AS controls
            FROM rows GROUP BY customer_id
        ), purchase_weeks AS (
            SELECT customer_id, count(*) AS weeks FROM bought GROUP BY customer_id
        )
        SELECT p.*, coalesce(w.weeks, 0) AS purchase_weeks
        FROM per_customer p LEFT JOIN purchase_weeks w USING (customer_id)
        ORDER BY customer_id
        """
    )
    if per_customer.empty or per_customer["controls"].sum() == 0:
        return None
    sums = per_customer["psi"].to_numpy(dtype=np.float64)  # [G]
    counts = per_customer["n"].to_numpy(dtype=np.float64)  # [G]
    customers = per_customer["customer_id"].to_numpy(dtype=str)
    purchase_weeks = int(per_customer["purchase_weeks"].sum())
    added, rows = float(sums.sum()), int(counts.sum())
    error = clustered_standard_error_of_sum(sums, counts)
    factor = 1.0
    if purchase_weeks > 0 and added != 0.0:
        share = added / purchase_weeks
        kept = float(own_estimate_shrinkage(share, error / purchase_weeks))
        factor = float(np.clip(1.0 - kept * share, *FACTOR_BOUNDS))
    return ContactInflation(
        factor=factor,
        added_purchase_weeks=added,
        standard_error=error,
        purchase_weeks=purchase_weeks,
        logged_rows=rows,
        weeks=weeks,
        customers=len(customers),
        logged_customers=customers,
    )
