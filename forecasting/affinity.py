"""Category affinity for recommendations: empirical-Bayes shares of each customer's purchases.

A customer's share of purchases in category c, shrunk towards the shop's share of c with
`prior_strength` pseudo-purchases: (n_uc + k * s_c) / (n_u + k). The top-M categories are the
candidates; the chance of buying one in a week, if recommended, is the customer's weekly
purchase probability times that share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopdata.store import Store, id_frame

#: The purchases the shares count: rows with a category, on or before the end (`?`).
_PURCHASES = "ts <= ? AND category IS NOT NULL AND category <> ''"


class CategoryAffinity:
    def __init__(self, *, top_m: int = 3, prior_strength: float = 2.0) -> None:
        self.top_m = top_m
        self.prior_strength = prior_strength

    def fit(self, store: Store, customer_ids: np.ndarray, end: pd.Timestamp) -> CategoryAffinity:
        """Learn shares from purchases on or before `end`, for `customer_ids` in that order."""
        self.fit_shop(store, customer_ids, end)
        self.shares_ = self.shares(store, customer_ids)
        return self

    def fit_shop(
        self, store: Store, customer_ids: np.ndarray, end: pd.Timestamp
    ) -> CategoryAffinity:
        """The shop-level part alone: the categories and their share of the purchases of
        `customer_ids` on or before `end` (the prior every customer's shares shrink to)."""
        if self.top_m < 0:
            raise ValueError(
                f"The 'top_m' parameter of CategoryAffinity must be >= 0. Got {self.top_m} instead."
            )
        self.end_ = pd.Timestamp(end)
        if not store.has_column("transactions", "category"):
            self.categories_ = np.array([], dtype=str)
            self.shop_share_ = np.zeros(0)
            return self
        categories = store.query(
            f"SELECT DISTINCT category FROM transactions WHERE {_PURCHASES} ORDER BY category",
            [self.end_],
        )
        self.categories_ = np.array(sorted(categories["category"].astype(str)), dtype=str)
        counts = (
            store.query(
                f"""SELECT category, count(*) AS n FROM transactions
                    WHERE {_PURCHASES} AND customer_id IN (SELECT customer_id FROM shop_ids)
                    GROUP BY category""",
                [self.end_],
                frames={"shop_ids": id_frame(customer_ids)},
            )
            .set_index("category")["n"]
            .reindex(self.categories_, fill_value=0)
            .to_numpy(dtype=np.float64)
        )  # [C]
        self.shop_share_ = counts / max(counts.sum(), 1.0)
        return self

    def shares(self, store: Store, customer_ids: np.ndarray) -> np.ndarray:
        """Each of `customer_ids`' share of purchases per category ([N, C], in that order),
        shrunk towards the shop's share with `prior_strength` pseudo-purchases."""
        if len(self.categories_) == 0:
            return np.zeros((len(customer_ids), 0))
        counts = self._counts(store, customer_ids)
        matrix = (
            counts.pivot_table(
                index="customer_id", columns="category", values="n", aggfunc="sum", fill_value=0
            )
            .reindex(
                index=pd.Index(customer_ids, dtype="string"), columns=self.categories_, fill_value=0
            )
            .to_numpy(dtype=np.float64)
        )  # [N, C]
        return (matrix + self.prior_strength * self.shop_share_) / (
            matrix.sum(axis=1, keepdims=True) + self.prior_strength
        )

    def _counts(self, store: Store, customer_ids: np.ndarray) -> pd.DataFrame:
        """Purchases per (customer, category) of `customer_ids` on or before the end."""
        return store.query(
            f"""SELECT customer_id, category, count(*) AS n FROM transactions
                WHERE {_PURCHASES} AND customer_id IN (SELECT customer_id FROM affinity_ids)
                GROUP BY ALL""",
            [self.end_],
            frames={"affinity_ids": id_frame(customer_ids)},
        )

    def candidates(
        self, weekly_purchase_prob: np.ndarray, shares: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-M category indices [N, M] and P(buy it in a week | recommended) [N, M], for the
        customers `fit` learned (or those of `shares`, from `shares()`)."""
        shares = self.shares_ if shares is None else shares
        m = min(self.top_m, shares.shape[1])
        if m == 0:
            empty = np.zeros((shares.shape[0], 0))
            return empty.astype(np.int64), empty
        top = np.argsort(-shares, axis=1, kind="stable")[:, :m]  # [N, M]
        share = np.take_along_axis(shares, top, axis=1)
        return top, weekly_purchase_prob[:, None] * share
