"""The recommendation block (DESIGN §4): which candidate items each customer sees each week.

y[u, m, t] in {0, 1} shows customer u their m-th candidate item in week t, worth w[u, m, t];
at most `slots` items per customer-week and at most capacity[i, t] customers per item and week.
Nothing couples it to the promotion choice x, so it is solved on its own, week by week: each
week is a bipartite b-matching (customers with `slots` places, items with their capacity),
whose LP relaxation is integral (a totally unimodular matrix). Up to `EXACT_MAX_CANDIDATES`
candidates a week the LP is solved by HiGHS (exact, with an integral optimum); above that
vectorised proposal rounds (each customer proposes its best remaining candidates, each item
accepts the best proposals it has room for; optimization/recommendation_rounds.py, run where
the customers are) give a plan, and the bound is the better of the customer-side and
item-side relaxations, so the gap is stated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from optimization.groups import LocalShards, Shards
from optimization.highs_model import solve_with_highs
from optimization.recommendation_rounds import BlockPart, propose_in_rounds, useful
from optimization.settings import SolveSettings

EXACT_MAX_CANDIDATES = 2_000_000


@dataclass(frozen=True)
class RecommendationBlock:
    item_ids: np.ndarray  # [I]
    candidates: np.ndarray  # [N, M] indices into item_ids (-1: no candidate)
    value: np.ndarray  # [N, M, H] value of showing the candidate in week t
    slots: int  # items per customer-week
    item_capacity: np.ndarray  # [I, H], +inf where uncapped

    def __post_init__(self) -> None:
        n, m = self.candidates.shape
        items = len(self.item_ids)
        if self.value.ndim != 3 or self.value.shape[:2] != (n, m):
            raise ValueError(
                f"RecommendationBlock.value must be shaped [N, M, H] = "
                f"[{n}, {m}, H]; got {self.value.shape}"
            )
        if not np.isfinite(self.value).all():
            raise ValueError("RecommendationBlock.value holds NaN or infinite values")
        if ((self.candidates < -1) | (self.candidates >= items)).any():
            raise ValueError(
                f"RecommendationBlock.candidates must index item_ids (0..{items - 1}) or be -1"
            )
        if self.slots < 0:
            raise ValueError(f"RecommendationBlock.slots must be >= 0; got {self.slots}")
        if (
            self.item_capacity.shape != (items, self.value.shape[2])
            or (self.item_capacity < 0).any()
        ):
            raise ValueError(
                f"RecommendationBlock.item_capacity must be >= 0 and shaped "
                f"[I, H] = [{items}, {self.value.shape[2]}]"
            )


def takes_rounds(block: RecommendationBlock, allow_exact: bool) -> bool:
    """Whether `block` is planned by the proposal rounds (else by the exact LP of each week):
    above `EXACT_MAX_CANDIDATES` candidates a week, or where the exact LP is not allowed."""
    n, m = block.candidates.shape
    return not allow_exact or n * m > EXACT_MAX_CANDIDATES


@dataclass(frozen=True)
class RecommendationPlan:
    shown: np.ndarray  # [N, M, H] bool
    value: float
    bound: float
    exact: bool

    def items(self, block: RecommendationBlock) -> np.ndarray:
        """[N, H, slots] item indices shown (-1 where a slot is empty), best candidates first."""
        n, _, h = self.shown.shape
        out = np.full((n, h, max(block.slots, 1)), -1, dtype=np.int64)
        for t in range(h):
            rank = np.cumsum(self.shown[:, :, t], axis=1) - 1  # [N, M]
            u, k = np.nonzero(self.shown[:, :, t])
            out[u, t, rank[u, k]] = block.candidates[u, k]
        return out[:, :, : block.slots]


def _week_lp(block: RecommendationBlock, t: int, settings: SolveSettings) -> np.ndarray:
    shown_worth = useful(block.candidates, block.value[:, :, t])  # [N, M]
    u, k = np.nonzero(shown_worth)
    shown = np.zeros(block.candidates.shape, bool)
    if len(u) == 0 or block.slots == 0:
        return shown
    item = block.candidates[u, k]
    columns = np.arange(len(u))
    n = block.candidates.shape[0]
    capped = np.isfinite(block.item_capacity[:, t])
    item_row = np.cumsum(capped) - 1 + n  # row of each capped item
    rows = [u, item_row[item][capped[item]]]
    cols = [columns, columns[capped[item]]]
    matrix = sparse.csc_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n + int(capped.sum()), len(u)),
    )
    upper = np.concatenate([np.full(n, float(block.slots)), block.item_capacity[capped, t]])
    outcome = solve_with_highs(
        block.value[u, k, t],
        np.zeros(len(u)),
        np.ones(len(u)),
        matrix,
        np.full(len(upper), -np.inf),
        upper,
        settings,
        integer=False,
    )
    if outcome.x is None:
        raise RuntimeError(
            f"HiGHS found no recommendation plan for week {t}: {outcome.model_status}"
        )
    chosen = outcome.x > 0.5  # the LP optimum of a b-matching is integral
    shown[u[chosen], k[chosen]] = True
    return shown


def solve_recommendations(
    block: RecommendationBlock,
    settings: SolveSettings,
    *,
    allow_exact: bool = True,
    groups: Shards | None = None,
) -> RecommendationPlan:
    """The block's plan: the exact LP of every week up to `EXACT_MAX_CANDIDATES` candidates
    (when `allow_exact`), the proposal rounds above, run on `groups` (`BlockPart`s of the
    block's customers, e.g. on Ray actors: optimization.ray_groups.block_groups) or on the
    whole block in this process."""
    n, m, h = block.value.shape
    if not takes_rounds(block, allow_exact):
        shown = np.zeros((n, m, h), bool)
        for t in range(h):
            shown[:, :, t] = _week_lp(block, t, settings)
        value = float(np.where(shown, block.value, 0.0).sum())
        return RecommendationPlan(shown, value, value, True)
    if groups is None:
        groups = LocalShards([BlockPart.of(block, np.arange(n))])
    bound = propose_in_rounds(groups, block.item_capacity, m)
    shown = np.zeros((n, m, h), bool)
    for customers, part in groups.call("plan_part"):
        shown[customers] = part
    value = float(sum(groups.call("total")))
    return RecommendationPlan(shown, value, max(bound, value), False)
