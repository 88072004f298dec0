"""Amounts far from the rest (a data error such as an amount in cents among amounts in units,
or 1e12): how far is too far (`AmountOutliers`, the scenario's `data` settings) and the check
that refuses them with the rows named, or keeps them with a warning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from shopdata.table_checker import TableChecker


@dataclass(frozen=True)
class AmountOutliers:
    """How far an amount may lie from the rest before it is taken for a data error.

    On the log scale, robustly: z = (log amount - median) / (1.4826 MAD), against all positive
    amounts (global) and against the customer's own median (customers with at least
    `min_customer_rows` purchases, on the global scale). An amount with either z above
    `z_threshold` is refused (`action="refuse"`, the rows named) or kept and warned about
    (`"warn"`). The default 8 is about 500 times the typical amount on CDNOW's spread; one
    amount of 1e12 among ordinary baskets is far beyond it.
    """

    z_threshold: float = 8.0
    action: Literal["refuse", "warn"] = "refuse"
    min_customer_rows: int = 3

    def __post_init__(self) -> None:
        if not self.z_threshold > 0:
            raise ValueError(
                f"The 'z_threshold' parameter of AmountOutliers must be > 0. "
                f"Got {self.z_threshold} instead."
            )
        if self.action not in ("refuse", "warn"):
            raise ValueError(
                "The 'action' parameter of AmountOutliers must be 'refuse' or 'warn'. "
                f"Got {self.action!r} instead."
            )


def check_amount_outliers(
    table: pd.DataFrame, checker: TableChecker, outliers: AmountOutliers
) -> None:
    """Flag (or warn about) amounts far above or below the rest (`AmountOutliers`)."""
    amount = table["amount"].to_numpy(dtype=np.float64)
    positive = np.isfinite(amount) & (amount > 0)
    if positive.sum() < 10:
        return
    logs = np.log(np.where(positive, amount, 1.0))
    centre = float(np.median(logs[positive]))
    scale = 1.4826 * float(np.median(np.abs(logs[positive] - centre)))
    scale = max(scale, 0.1)  # identical amounts (a price list shop): still a finite scale
    z_global = np.where(positive, np.abs(logs - centre) / scale, 0.0)
    frame = pd.DataFrame({"customer": table["customer_id"].to_numpy(), "log": logs})
    frame = frame[positive]
    grouped = frame.groupby("customer", observed=True)["log"]
    own_median = grouped.transform("median")
    own_count = grouped.transform("size")
    z_own = np.zeros(len(amount))
    z_own[positive] = np.where(
        own_count >= outliers.min_customer_rows, np.abs(frame["log"] - own_median) / scale, 0.0
    )
    far = (z_global > outliers.z_threshold) | (z_own > outliers.z_threshold)
    if not far.any():
        return
    shown = ", ".join(f"{a:,.2f}" for a in amount[far][:3])
    expected = (
        f"an amount within {outliers.z_threshold:g} robust standard deviations (log scale) of "
        f"the typical {np.exp(centre):,.2f} and of the customer's own purchases"
    )
    found = f"amounts such as {shown} (a data error? fix them, or warn instead of refusing)"
    if outliers.action == "refuse":
        checker.flag("amount", expected, found, far)
    else:
        rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(far)[:5])
        checker.warnings.append(
            f"{checker.path.name}, column 'amount': {int(far.sum())} amounts far from the "
            f"rest kept as asked ({shown}; rows {rows})"
        )
