"""The customers' best response to prices, the one formula every evaluation of the Lagrangian
dual uses (optimization/lagrangian.py): per week the best adjusted contact, then the (at most) K
weeks with the largest positive scores; and, where the problem has contact windows, the exact
best response of the customers that this breaks a window for (optimization/contact_windows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from optimization.contact_windows import ContactWindow, best_plans, breaks, greedy_plans

#: Customers planned at a time by the windows' dynamic programme (its [C, S, A] float64
#: options at 64 states and 6 actions: 61 MB).
WINDOW_CHUNK = 20_000


@dataclass(frozen=True)
class BestResponse:
    """Customers' best responses to the prices ([C, H] each): the best contact each week
    (index into the contacts, 1..A-1, in `choice`; 0 = none), its adjusted value over none
    `score`, whether the week is taken, the best contact's index `best` (0..A-2); and, to
    recover every contact's adjusted value (`adjusted`, [C, A-1, H]), the contacts' adjusted
    levels `contact` [C, A-1, H] and none's `none` [C, H]."""

    choice: torch.Tensor
    score: torch.Tensor
    take: torch.Tensor
    best: torch.Tensor
    contact: torch.Tensor
    none: torch.Tensor

    @property
    def adjusted(self) -> torch.Tensor:
        """Every contact's adjusted value over none ([C, A-1, H]; -inf where ineligible)."""
        return self.contact - self.none[:, None, :]


def best_response(
    value: torch.Tensor,
    cost: torch.Tensor,
    revenue: torch.Tensor,
    segments: torch.Tensor,
    prices: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    cap: int,
    *,
    ineligible: torch.Tensor | None = None,
    ratio: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> BestResponse:
    """The one best-response formula, for a chunk of C customers (module docstring): each
    contact's adjusted value dv - y_cost dc + y_revenue dr + segment bonus - y_action over
    none; per week the best contact, then the (at most) `cap` weeks with the largest positive
    scores, ties to the earlier weeks. `value`, `cost`, `revenue` (read, not written): either
    the contacts' differences to none [C, A-1, H] (ineligible contacts' value -inf), or, with
    `ineligible` [C, A-1, 1] bool given, the problem's own arrays [C, A, H] (none first), whose
    adjusted levels are formed and none's subtracted (no [C, A-1, H] differences are made:
    where they are not kept, 1.3 s an evaluation of 1M customers against 1.6 s making them
    first and 1.0 s with them kept). `segments` [C, S]; `prices`: per cost [H], per revenue
    [H], per action [A-1], per segment [S]; `ratio`: the ratio rules' prices as a value
    scale and a cost price per action ([A-1] each: + s dv - r dc), None without ratio rules.
    Any float dtype and device."""
    per_cost, per_revenue, per_action, per_segment = prices
    bonus = segments @ per_segment  # [C]
    # value - y_cost cost + y_revenue revenue + (bonus - y_action) in three fused passes (half
    # the time of separate multiplies and adds)
    level = torch.addcmul(value, -per_cost, cost)
    level.addcmul_(per_revenue, revenue)
    if ineligible is None:
        contact, none = level, None
    else:
        contact, none = level[:, 1:, :], level[:, 0, :]
    contact += bonus[:, None, None] - per_action[None, :, None]
    if ratio is not None and bool((ratio[0] > 0).any()):
        # + s dv - r dc on the actions with a ratio price (s > 0 wherever r != 0)
        priced = torch.nonzero(ratio[0] > 0)[:, 0]
        scale, price = ratio[0][priced][None, :, None], ratio[1][priced][None, :, None]
        if ineligible is None:
            dv, dc = value[:, priced], cost[:, priced]
        else:
            dv = value[:, 1:][:, priced] - value[:, :1]
            dc = cost[:, 1:][:, priced] - cost[:, :1]
        contact[:, priced] += scale * dv - price * dc
    if ineligible is not None:
        contact.masked_fill_(ineligible, -torch.inf)
    best_level, best = contact.max(dim=1)  # [C, H] each
    score = best_level if none is None else best_level - none
    take = score > 0
    h = score.shape[1]
    if cap == 0:
        take &= False
    elif cap < h:
        kth = torch.topk(score, cap, dim=1).values[:, -1:]  # [C, 1]
        take &= score >= kth
        over = take.sum(dim=1) > cap  # exact ties: keep the first weeks
        if bool(over.any()):
            rank = torch.argsort(torch.argsort(-score[over], dim=1, stable=True), dim=1)
            take[over] &= rank < cap
    choice = torch.where(take, best + 1, torch.zeros_like(best))  # [C, H]
    return BestResponse(
        choice, score, take, best, contact, torch.zeros_like(score) if none is None else none
    )


def within_windows(
    response: BestResponse,
    windows: Sequence[ContactWindow],
    cap: int,
    *,
    exact: bool = True,
    known: np.ndarray | None = None,
) -> BestResponse:
    """`response` with the customers whose plan breaks one of `windows` (over the same
    customers) replanned under the windows and the cap: exactly (`best_plans`, in float64 on
    the CPU, WINDOW_CHUNK customers at a time), or, with `exact=False`, greedily
    (`greedy_plans`: a plan that keeps the rules, worth at most the best), or as `known`
    ([C, H]: their exact plans at the same prices, made before). The others' plans are
    already their best."""
    if not windows:
        return response
    bad = np.flatnonzero(breaks(windows, response.choice.cpu().numpy().astype(np.int8)))
    if len(bad) == 0:
        return response
    device = response.choice.device
    choice, take, best, score = (
        x.clone() for x in (response.choice, response.take, response.best, response.score)
    )
    for begin in range(0, len(bad), WINDOW_CHUNK):
        rows = bad[begin : begin + WINDOW_CHUNK]
        index = torch.from_numpy(rows).to(device)
        adjusted = response.contact[index] - response.none[index][:, None, :]  # [V, A-1, H]
        if known is not None:
            plans = known[rows]
        else:
            own = [w.subset(rows) for w in windows]
            plans = (
                best_plans(adjusted.double().cpu().numpy(), own, cap)
                if exact
                else greedy_plans(adjusted.cpu().numpy(), own, cap)
            )
        new = torch.from_numpy(plans).to(device, choice.dtype)
        taken = new > 0
        chosen = torch.where(taken, new - 1, best[index])
        choice[index], take[index], best[index] = new, taken, chosen
        picked = adjusted.gather(1, chosen[:, None, :])[:, 0, :].to(score.dtype)
        score[index] = torch.where(taken, picked, score[index])
    return replace(response, choice=choice, take=take, best=best, score=score)
