"""Category affinity for recommendations: empirical-Bayes shares of each customer's purchases.

A customer's share of purchases in category c, shrunk towards the shop's share of c with
`prior_strength` pseudo-purchases: (n_uc + k * s_c) / (n_u + k). The top-M categories are the
candidates; the chance of buying one in a week, if recommended, is the customer's weekly
purchase probability times that share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopdata.store import Store


class CategoryAffinity:
    def __init__(self, *, top_m: int = 3, prior_strength: float = 2.0) -> None:
        self.top_m = top_m
        self.prior_strength = prior_strength

    def fit(self, store: Store, customer_ids: np.ndarray, end: pd.Timestamp) -> CategoryAffinity:
        """Learn shares from purchases on or before `end`, for `customer_ids` in that order."""
        if self.top_m < 0:
            raise ValueError(
                f"The 'top_m' parameter of CategoryAffinity must be >= 0. Got {self.top_m} instead."
            )
        if not store.has_column("transactions", "category"):
            self.categories_ = np.array([], dtype=str)
            self.shares_ = np.zeros((len(customer_ids), 0))
            return self
        counts = store.query(
            """SELECT customer_id, category, count(*) AS n FROM transactions
               WHERE ts <= ? AND category IS NOT NULL AND category <> ''
               GROUP BY ALL""",
            [pd.Timestamp(end)],
        )
        self.categories_ = np.array(sorted(counts["category"].unique()), dtype=str)
        matrix = (
            counts.pivot_table(
                index="customer_id", columns="category", values="n", aggfunc="sum", fill_value=0
            )
            .reindex(
                index=pd.Index(customer_ids, dtype="string"), columns=self.categories_, fill_value=0
            )
            .to_numpy(dtype=np.float64)
        )  # [N, C]
        shop_share = matrix.sum(axis=0) / max(matrix.sum(), 1.0)  # [C]
        self.shop_share_ = shop_share
        self.shares_ = (matrix + self.prior_strength * shop_share) / (
            matrix.sum(axis=1, keepdims=True) + self.prior_strength
        )
        return self

    def candidates(self, weekly_purchase_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-M category indices [N, M] and P(buy it in a week | recommended) [N, M]."""
        m = min(self.top_m, self.shares_.shape[1])
        if m == 0:
            empty = np.zeros((self.shares_.shape[0], 0))
            return empty.astype(np.int64), empty
        top = np.argsort(-self.shares_, axis=1, kind="stable")[:, :m]  # [N, M]
        share = np.take_along_axis(self.shares_, top, axis=1)
        return top, weekly_purchase_prob[:, None] * share
