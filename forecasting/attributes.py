"""Static customer attributes (the customers table) as features of the effect learners.

Shops know things about customers that their purchase history does not say: area, acquisition
channel, a newcomer flag, last year's spend. A promotion's effect often differs along exactly
these, so every effect learner takes them as features. The encoding is learned once at fit and
applied unchanged at predict:

- numeric columns (numbers, booleans): standardised by the fit's mean and standard deviation
  (left unscaled where constant); a missing value or an unknown customer reads as the mean (0);
- categorical columns: one indicator per level seen at least `min_count` times (the
  `max_levels` most frequent); a level not kept, never seen, or missing reads as all zeros;
- left out: `customer_id`, timestamps, and identifier-like text (more distinct values than
  half the rows).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from forecasting.scaling import feature_scale
from shopdata.store import id_frame

log = logging.getLogger("ltv.forecasting")


class CustomerAttributes:
    """`fit(customers)` learns the encoding; `transform(customers, customer_ids)` gives
    [N, F] float32 rows in `customer_ids` order; `feature_names_` names the F columns."""

    def __init__(self, *, max_levels: int = 12, min_count: int = 20) -> None:
        self.max_levels = max_levels
        self.min_count = min_count

    def fit(self, customers: pd.DataFrame | None) -> CustomerAttributes:
        """Learn the encoding from the customers table (None: no attributes, F = 0)."""
        self.numeric_: dict[str, tuple[float, float]] = {}
        self.levels_: dict[str, list[str]] = {}
        if customers is None or "customer_id" not in customers:
            self.feature_names_: tuple[str, ...] = ()
            return self
        skipped = []
        for name in customers.columns:
            if name == "customer_id":
                continue
            values = customers[name]
            if pd.api.types.is_datetime64_any_dtype(values):
                skipped.append(name)
                continue
            numbers = _numeric(values)
            if numbers is not None:
                finite = numbers[np.isfinite(numbers)]
                if len(finite) == 0:
                    skipped.append(name)
                    continue
                scale = float(feature_scale(finite[:, None].astype(np.float64))[0])
                self.numeric_[name] = (float(finite.mean()), scale)
                continue
            text = values.dropna().astype(str)
            if text.nunique() > 0.5 * max(len(text), 1):
                skipped.append(name)
                continue
            counts = text.value_counts()
            kept = counts[counts >= self.min_count].index[: self.max_levels]
            if len(kept):
                self.levels_[name] = sorted(str(v) for v in kept)
        if skipped:
            log.info("customer attributes not used as features: %s", skipped)
        self.feature_names_ = tuple(f"attr_{n}" for n in self.numeric_) + tuple(
            f"attr_{n}={level}" for n, levels in self.levels_.items() for level in levels
        )
        return self

    def transform(self, customers: pd.DataFrame | None, customer_ids: np.ndarray) -> np.ndarray:
        """Encoded attributes of `customer_ids` [N, F]; customers absent from `customers` (or
        with no table at all) read as the fit's means and no category."""
        out = np.zeros((len(customer_ids), len(self.feature_names_)), np.float32)
        if customers is None or not self.feature_names_:
            return out
        unique = customers.drop_duplicates("customer_id")
        # pandas strings, not a fixed-width numpy array as wide as the longest id
        table = unique.set_index(unique["customer_id"].astype("string"))
        aligned = table.reindex(pd.Index(pd.array(np.asarray(customer_ids), dtype="string")))
        column = 0
        for name, (mean, scale) in self.numeric_.items():
            if name in aligned:
                numbers = _numeric(aligned[name], min_share=0.0)
                if numbers is not None:
                    out[:, column] = np.nan_to_num((numbers - mean) / scale, nan=0.0)
            column += 1
        for name, levels in self.levels_.items():
            text = aligned[name].astype("string") if name in aligned else None
            for level in levels:
                if text is not None:
                    out[:, column] = (text == level).fillna(False).to_numpy(dtype=np.float32)
                column += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_levels": self.max_levels,
            "min_count": self.min_count,
            "numeric": {k: list(v) for k, v in self.numeric_.items()},
            "levels": self.levels_,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> CustomerAttributes:
        encoder = cls(max_levels=saved["max_levels"], min_count=saved["min_count"])
        encoder.numeric_ = {k: (float(v[0]), float(v[1])) for k, v in saved["numeric"].items()}
        encoder.levels_ = {k: list(v) for k, v in saved["levels"].items()}
        encoder.feature_names_ = tuple(f"attr_{n}" for n in encoder.numeric_) + tuple(
            f"attr_{n}={level}" for n, levels in encoder.levels_.items() for level in levels
        )
        return encoder


def customers_table(store: Any, customer_ids: np.ndarray | None = None) -> pd.DataFrame | None:
    """The store's customers table (the rows of `customer_ids` alone, when given), or None
    where the shop gave none."""
    if not store.has_table("customers"):
        return None
    if customer_ids is None:
        return store.query("SELECT * FROM customers")
    return store.query(
        "SELECT * FROM customers WHERE customer_id IN (SELECT customer_id FROM attribute_ids)",
        frames={"attribute_ids": id_frame(customer_ids)},
    )


def _numeric(values: pd.Series, min_share: float = 0.95) -> np.ndarray | None:
    """The column as float64 if it is numbers or booleans (text that parses as numbers in at
    least `min_share` of its non-empty cells counts; the rest read as missing), else None.
    `transform` passes 0: the fit decided the column is numeric, and a group of customers (a
    shard) must read it so whatever share of its own cells parse."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64").to_numpy()
    present = values.dropna().astype(str).str.strip()
    present = present[present != ""]
    if len(present) == 0:
        return None
    lowered = present.str.lower()
    if lowered.isin(["true", "false"]).all():
        mapped = values.astype("string").str.strip().str.lower().map({"true": 1.0, "false": 0.0})
        return mapped.astype("float64").to_numpy()
    parsed = pd.to_numeric(present, errors="coerce")
    if parsed.notna().mean() < min_share:
        return None
    return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
