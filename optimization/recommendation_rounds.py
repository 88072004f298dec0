"""The recommendation block's proposal rounds over groups of customers (DESIGN §4).

Above `EXACT_MAX_CANDIDATES` candidates the block is planned week by week in rounds: in round
r each customer with a free slot proposes its r-th best useful candidate, and each item accepts
the best proposals it has room for (value first, then the lower customer index). Customers
decide alone; only the capped items couple them. So the rounds run where the customers are:
each group (`BlockPart`: the whole block in one process, or one Ray actor's share) proposes,
sends the driver, for each capped item, its best proposals up to the item's remaining room
(no proposal below those can be accepted: the group's own sent ones already fill the room),
and the driver merges them and answers each capped item's cutoff, the last proposal it
accepts. Groups accept every proposal at or above the cutoff, and every proposal to an
uncapped item. The plan is the one a single group makes, whatever the split
(tests/test_recommendations.py over random splits, tests/test_ray.py on actors).

The bound is the better of two relaxations per week, both sums over groups: the customer
side (each customer's best `slots` useful values, item capacities dropped) and the item side
(each item's best `capacity` useful values, customer slots dropped; groups send their best
`capacity` values of each capped item).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optimization.groups import Shards

if TYPE_CHECKING:
    from optimization.recommendations import RecommendationBlock

#: The `BlockPart` calls that change its part of the plan (replayed on a restarted actor).
MUTATING = frozenset({"settle"})


def useful(candidates: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Which candidates are worth showing in a week ([n, M] bool): an item is there and its
    value (`value` [n, M], that week's) is positive."""
    return (candidates >= 0) & (value > 0)


@dataclass(frozen=True)
class Proposals:
    """A group's proposals to capped items in one round, its best up to each item's room."""

    item: np.ndarray  # [P] item index
    value: np.ndarray  # [P] float64
    customer: np.ndarray  # [P] index in the whole block
    proposers: int  # customers of the group that proposed anything this round


@dataclass(frozen=True)
class WeekBound:
    """A group's share of one week's two relaxations."""

    customer_side: float  # its customers' best `slots` useful values, summed
    uncapped_items: float  # its useful values on uncapped items, summed
    item: np.ndarray  # [P] capped item, with its best `capacity` values
    value: np.ndarray  # [P]


class BlockPart:
    """A group's customers' rows of the recommendation block and their part of its plan.

    candidates [n, M] (item indices, -1 none), value [n, M, H], `customers` [n] their indices
    in the whole block (increasing), `capped` [I] which items have a finite capacity.
    """

    def __init__(
        self,
        candidates: np.ndarray,
        value: np.ndarray,
        slots: int,
        capped: np.ndarray,
        customers: np.ndarray,
    ) -> None:
        self.candidates = candidates
        self.value = value
        self.slots = slots
        self.capped = capped
        self.customers = customers
        n, m, h = value.shape
        self.shown = np.zeros((n, m, h), bool)
        self._week = -1
        self._slots_left = np.zeros(n, np.int64)
        self._week_value = np.zeros((n, m))
        self._order = np.zeros((n, m), np.int64)
        self._last: tuple[tuple[int, int], tuple[np.ndarray, ...]] | None = None

    @classmethod
    def of(cls, block: RecommendationBlock, customers: np.ndarray) -> BlockPart:
        """`customers`' rows of `block` (increasing indices)."""
        return cls(
            block.candidates[customers],
            block.value[customers],
            block.slots,
            np.isfinite(block.item_capacity).any(axis=1),
            customers,
        )

    def _begin(self, t: int) -> None:
        if t == self._week:
            return
        worth = self.value[:, :, t]
        self._week_value = np.where(useful(self.candidates, worth), worth, -np.inf)  # [n, M]
        self._order = np.argsort(-self._week_value, axis=1, kind="stable")  # best first
        self._slots_left = np.full(len(self.customers), self.slots)
        self._week = t

    def _round(self, t: int, position: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This round's proposers (local rows), their candidate and its value (kept for the
        `settle` that follows the `proposals` of the same round)."""
        if self._last is not None and self._last[0] == (t, position):
            return self._last[1]
        self._begin(t)
        n = len(self.customers)
        k = self._order[:, position]
        u = np.flatnonzero((self._slots_left > 0) & np.isfinite(self._week_value[np.arange(n), k]))
        found = (u, k[u], self._week_value[u, k[u]])
        self._last = ((t, position), found)
        return found

    def proposals(self, t: int, position: int, remaining: np.ndarray) -> Proposals:
        """Round `position` of week t: the proposals to capped items with room left
        (`remaining` [I], +inf where uncapped), each item's best up to its room. Only the
        items proposed to beyond their room are sorted."""
        u, k, value = self._round(t, position)
        proposers = len(u)
        item = self.candidates[u, k]
        open_ = self.capped[item] & (remaining[item] > 0)
        u, item, value = u[open_], item[open_], value[open_]
        best = _best_up_to_room(item, value, self.customers[u], remaining)
        return Proposals(item[best], value[best], self.customers[u[best]], proposers)

    def settle(
        self, t: int, position: int, cutoff_value: np.ndarray, cutoff_customer: np.ndarray
    ) -> None:
        """Accept round `position`'s proposals to uncapped items and those to each capped
        item i at or above its cutoff (value cutoff_value[i], then customer index at most
        cutoff_customer[i])."""
        u, k, value = self._round(t, position)
        self._last = None
        item = self.candidates[u, k]
        customer = self.customers[u]
        accepted = ~self.capped[item] | (value > cutoff_value[item])
        accepted |= (value == cutoff_value[item]) & (customer <= cutoff_customer[item])
        self.shown[u[accepted], k[accepted], t] = True
        self._slots_left[u[accepted]] -= 1

    def week_bound(self, t: int, capacity: np.ndarray) -> WeekBound:
        """This group's share of week t's relaxations (`capacity` [I] that week's)."""
        value = np.where(useful(self.candidates, self.value[:, :, t]), self.value[:, :, t], 0.0)
        top = -np.sort(-value, axis=1)[:, : self.slots]
        u, k = np.nonzero(value > 0)
        item, worth = self.candidates[u, k], value[u, k]
        capped = self.capped[item]
        item, worth, uncapped = item[capped], worth[capped], float(worth[~capped].sum())
        keep = _top_per_item(item, worth, capacity)
        return WeekBound(float(top.sum()), uncapped, item[keep], worth[keep])

    def total(self) -> float:
        """The value of this group's part of the plan."""
        return float(np.where(self.shown, self.value, 0.0).sum())

    def plan_part(self) -> tuple[np.ndarray, np.ndarray]:
        """(customers [n], shown [n, M, H]): this group's part of the plan."""
        return self.customers, self.shown


def propose_in_rounds(groups: Shards, item_capacity: np.ndarray, candidates: int) -> float:
    """Run the proposal rounds of every week on `groups` (`BlockPart`s; their plans change)
    and return the bound: the better relaxation of each week, summed.

    item_capacity [I, H] (+inf where uncapped); `candidates`: M, the rounds a week at most.
    """
    bound = 0.0
    for t in range(item_capacity.shape[1]):
        remaining = item_capacity[:, t].astype(np.float64)
        for position in range(candidates):
            sent: list[Proposals] = groups.call("proposals", t, position, remaining)
            if sum(s.proposers for s in sent) == 0:
                break
            cutoff_value, cutoff_customer, taken = _cutoffs(sent, remaining)
            groups.call("settle", t, position, cutoff_value, cutoff_customer)
            remaining -= taken
        bound += _week_bound(groups.call("week_bound", t, item_capacity[:, t]), item_capacity[:, t])
    return bound


def _ranked(
    item: np.ndarray, value: np.ndarray, customer: np.ndarray, room: np.ndarray, sort: np.ndarray
) -> np.ndarray:
    """Positions of the proposals `sort` ([P] bool) picks, in item order, best first (value,
    then the lower customer index), cut to each item's `room` ([I])."""
    fought = np.flatnonzero(sort)
    order = fought[np.lexsort((customer[fought], -value[fought], item[fought]))]
    ranked = item[order]
    place = np.arange(len(order)) - np.searchsorted(ranked, ranked, side="left")
    return order[place < room[ranked]]


def _best_up_to_room(
    item: np.ndarray, value: np.ndarray, customer: np.ndarray, room: np.ndarray
) -> np.ndarray:
    """Positions of the proposals each item takes up to its `room` ([I]): all of an item's
    proposals where they fit (as they come), its best (value, then the lower customer index)
    where they do not; only those items' proposals are sorted."""
    contested = np.bincount(item, minlength=len(room))[item] > room[item]
    return np.concatenate(
        [np.flatnonzero(~contested), _ranked(item, value, customer, room, contested)]
    )


def _cutoffs(
    sent: list[Proposals], remaining: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's cutoff (value, customer: its last accepted proposal; -inf where it takes
    all its groups have, +inf where it takes none) and the proposals it took ([I] each).
    Uncapped items are left to the groups, which accept all of theirs.

    An item sent fewer proposals than its room takes them all, and no group held any back (a
    group that cut its proposals sent at least the room). Any other is sorted: its cutoff is
    the last it accepts, which also turns away what a group held back (ranked below the
    room's worth that group sent)."""
    items = len(remaining)
    item = np.concatenate([s.item for s in sent])
    value = np.concatenate([s.value for s in sent])
    customer = np.concatenate([s.customer for s in sent])
    taken = np.bincount(item, minlength=items).astype(np.float64)
    cutoff_value = np.full(items, np.inf)
    cutoff_customer = np.full(items, -1, dtype=np.int64)
    all_fit = taken < remaining
    cutoff_value[all_fit & (taken > 0)] = -np.inf
    chosen = _ranked(item, value, customer, remaining, ~all_fit[item])
    if len(chosen):
        by_item = item[chosen]
        last = chosen[np.r_[by_item[1:] != by_item[:-1], True]]
        cutoff_value[item[last]] = value[last]
        cutoff_customer[item[last]] = customer[last]
    taken[~all_fit] = np.bincount(item[chosen], minlength=items)[~all_fit]
    return cutoff_value, cutoff_customer, taken


def _top_per_item(item: np.ndarray, value: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Positions of each item's `capacity` ([I]) largest values, for sums (which of equal
    values is taken does not matter: no tie-break, so two fast sorts instead of a lexsort)."""
    by_value = np.argsort(-value)
    order = by_value[np.argsort(item[by_value], kind="stable")]
    ranked = item[order]
    place = np.arange(len(order)) - np.searchsorted(ranked, ranked, side="left")
    return order[place < capacity[ranked]]


def _week_bound(parts: list[WeekBound], capacity: np.ndarray) -> float:
    """min(customer side, item side) of one week from the groups' shares."""
    customer_side = sum(p.customer_side for p in parts)
    item = np.concatenate([p.item for p in parts])
    value = np.concatenate([p.value for p in parts])
    capped_side = float(value[_top_per_item(item, value, capacity)].sum())
    return min(customer_side, sum(p.uncapped_items for p in parts) + capped_side)
