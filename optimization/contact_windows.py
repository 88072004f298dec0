"""Rolling-window contact rules: at most `limit` contacts of a group of actions in any `weeks`
consecutive weeks, counting what was already sent in the weeks before the horizon.

A minimum gap of g weeks between two contacts of a group is the rule with weeks = g, limit = 1.
With x[u, a, t] the plan, G the group, W the window and past[u, j] the customer's logged
contacts of G in week j - (W - 1) (j = 0..W-2, oldest first; week 0 is the horizon's first),
the rule is, for every customer u and window end e = 0..H-1,

    sum_{t=max(0,e-W+1)}^{e} sum_{a in G} x[u,a,t]  <=  max(0, limit - sum_{j>=e} past[u,j])   (1)

(windows that end after the horizon hold only planned weeks that the window ending at H-1 holds
too, so (1) is the whole rule). Where the log already breaks the rule, the window allows no
planned contact of G (the plan cannot mend the past).

Per customer the rules and the contact cap are a small automaton over the last W-1 weeks of
each group, so the Lagrangian best response under them is an exact dynamic programme
(`best_plans`), run only for the customers whose unconstrained best response breaks a rule.
`greedy_plans` is its fast stand-in while the dual's multipliers are searched: a plan that
keeps every rule, so each evaluation's cut stays below the dual function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

#: The most automaton states `best_plans` enumerates (the product over rules of 2^(W-1),
#: times the contact cap + 1): beyond it a scenario's windows are refused as too long together.
MAX_STATES = 4096


@dataclass(frozen=True)
class ContactWindow:
    """At most `limit` contacts of `actions` ([A] bool, False at 0, `none`) in any `weeks`
    consecutive weeks; `past` [N, weeks-1] the customers' contacts of the group in the weeks
    just before the horizon (oldest first; 0 or 1 a week, one action a customer-week)."""

    name: str
    actions: np.ndarray
    weeks: int
    limit: int
    past: np.ndarray

    def __post_init__(self) -> None:
        if self.weeks < 1 or self.limit < 0:
            raise ValueError(
                f"contact window {self.name!r}: weeks must be >= 1 and limit >= 0; "
                f"got weeks {self.weeks}, limit {self.limit}"
            )
        if self.actions.dtype != bool or self.actions.ndim != 1 or self.actions[:1].any():
            raise ValueError(
                f"contact window {self.name!r}: actions must be a bool [A] mask without `none`"
            )
        if self.past.ndim != 2 or self.past.shape[1] != self.weeks - 1:
            raise ValueError(
                f"contact window {self.name!r}: past must be shaped [N, {self.weeks - 1}]; "
                f"got {self.past.shape}"
            )
        if (self.past < 0).any() or (self.past > 1).any():
            raise ValueError(f"contact window {self.name!r}: past contacts must be 0 or 1 a week")

    def allowance(self, weeks: int) -> np.ndarray:
        """The right-hand side of (1) for each customer and window end ([N, H] int16, >= 0);
        kept once made (the window is frozen; the decomposition asks at every evaluation)."""
        kept = self.__dict__.setdefault("_allowance", {})
        if weeks not in kept:
            n = self.past.shape[0]
            past_in = np.zeros((n, weeks), dtype=np.int16)
            if self.weeks > 1:
                tail = np.cumsum(self.past[:, ::-1], axis=1, dtype=np.int16)[:, ::-1]  # j >= e
                reach = min(weeks, self.weeks - 1)
                past_in[:, :reach] = tail[:, :reach]
            kept[weeks] = np.maximum(self.limit - past_in, 0).astype(np.int16)
        return kept[weeks]

    def window_sums(self, choice: np.ndarray) -> np.ndarray:
        """The planned contacts of the group in each window ending at e ([N, H] int16)."""
        hits = self.actions[choice].astype(np.int16)  # [N, H]
        total = hits.copy()
        for back in range(1, min(self.weeks, hits.shape[1])):
            total[:, back:] += hits[:, :-back]
        return total

    def slack(self, choice: np.ndarray) -> np.ndarray:
        """How many more contacts of the group each window ending at e allows ([N, H])."""
        return self.allowance(choice.shape[1]) - self.window_sums(choice)

    def per_week(self, per_end: np.ndarray) -> np.ndarray:
        """The least of a per-window-end figure ([N, H]) over the windows that hold each week
        (week t lies in the windows ending at t..t+W-1)."""
        h = per_end.shape[1]
        least = per_end.copy()
        for shift in range(1, min(self.weeks, h)):
            least[:, : h - shift] = np.minimum(least[:, : h - shift], per_end[:, shift:])
        return least

    def subset(self, customers: np.ndarray | slice) -> ContactWindow:
        part = replace(self, past=self.past[customers])
        for weeks, allowance in self.__dict__.get("_allowance", {}).items():
            part.__dict__.setdefault("_allowance", {})[weeks] = allowance[customers]
        return part


def breaks(windows: Sequence[ContactWindow], choice: np.ndarray) -> np.ndarray:
    """Which customers' plans ([N, H] action indices) break some window ([N] bool)."""
    out = np.zeros(choice.shape[0], dtype=bool)
    for window in windows:
        out |= (window.slack(choice) < 0).any(axis=1)
    return out


def room(windows: Sequence[ContactWindow], choice: np.ndarray, actions: int) -> np.ndarray:
    """Where one more contact could go without breaking a window ([N, A-1, H] bool): action a
    in week t fits when every window of a's groups that holds week t has a contact to spare."""
    n, h = choice.shape
    out = np.ones((n, actions - 1, h), dtype=bool)
    for window in windows:
        least = window.per_week(window.slack(choice))  # the least spare of week t's windows
        out[:, window.actions[1:], :] &= (least >= 1)[:, None, :]
    return out


@dataclass(frozen=True)
class _Automaton:
    """The rules and the contact cap as a finite automaton over plan weeks, its moves the
    distinct memberships of actions in the rules' groups (`member` [M, R]; move 0 is none):
    `next[s, m]` the state after move m in state s, `allowed[s, m]` whether m may be taken
    there; a state holds each rule's last W-1 weeks (a bit each) and, where capped, the
    contacts so far."""

    next: np.ndarray  # [S, M] int64
    allowed: np.ndarray  # [S, M] bool
    bits: tuple[int, ...]  # per rule, W - 1
    counted: bool
    cap: int

    def start(self, windows: Sequence[ContactWindow]) -> np.ndarray:
        """Each customer's state before the horizon ([N]): the past weeks, no contact yet."""
        n = windows[0].past.shape[0]
        state = np.zeros(n, dtype=np.int64)
        for window, width in zip(windows, self.bits, strict=True):
            code = np.zeros(n, dtype=np.int64)
            for j in range(width):  # oldest week in the highest bit
                code = (code << 1) | window.past[:, j].astype(np.int64)
            state = (state << width) | code
        return state * (self.cap + 1) if self.counted else state


def _automaton(
    windows: Sequence[ContactWindow], member: np.ndarray, cap: int, weeks: int
) -> _Automaton:
    bits = tuple(w.weeks - 1 for w in windows)
    counted = cap < weeks
    count_states = cap + 1 if counted else 1
    states = (1 << sum(bits)) * count_states
    if states > MAX_STATES:
        raise ValueError(
            f"the contact windows ({', '.join(repr(w.name) for w in windows)}) with the contact "
            f"cap make {states:,} states a customer; at most {MAX_STATES:,} are planned exactly "
            "(shorten a window or merge rules)"
        )
    moves = member.shape[0]
    nxt = np.zeros((states, moves), dtype=np.int64)
    allowed = np.ones((states, moves), dtype=bool)
    for s in range(states):
        history, count = divmod(s, count_states)
        for move in range(moves):
            code, shift, ok = 0, sum(bits), True
            for r, (window, width) in enumerate(zip(windows, bits, strict=True)):
                shift -= width
                mask = (history >> shift) & ((1 << width) - 1)
                hit = int(member[move, r])
                ok &= not hit or bin(mask).count("1") + 1 <= window.limit
                code = (code << width) | (
                    (((mask << 1) | hit) & ((1 << width) - 1)) if width else 0
                )
            if counted:
                ok &= count + (move > 0) <= cap
                code = code * count_states + min(count + (move > 0), cap)
            allowed[s, move] = ok
            nxt[s, move] = code
    return _Automaton(nxt, allowed, bits, counted, cap)


def best_plans(adjusted: np.ndarray, windows: Sequence[ContactWindow], cap: int) -> np.ndarray:
    """Each customer's best plan ([C, H] action indices) under the windows and the contact cap:
    maximises sum_t adjusted[u, a_t - 1, t] over a_t in 0..A-1 (0, none, adds 0) by dynamic
    programming over `_Automaton`'s states, backward over the weeks. Actions in the same
    rules' groups move the automaton alike, so each week only the best of each such class
    competes (M classes: C x S x M a week). `adjusted` [C, A-1, H] the contacts' adjusted
    values over none (-inf where ineligible); `windows` over the same C customers. Ties go to
    none, and within a class to the lower action index."""
    c, _, h = adjusted.shape
    classes, gain, pick = _classes(adjusted.astype(np.float64), windows)
    machine = _automaton(windows, np.vstack([np.zeros_like(classes[:1]), classes]), cap, h)
    states, moves = machine.next.shape
    # torch on the CPU for the sweep, customers last so that following a move copies whole
    # rows: one gather, add and max a week over [S, M, C]
    penalty = torch.from_numpy(np.where(machine.allowed, 0.0, -np.inf))[:, :, None]
    step = torch.from_numpy(machine.next.reshape(-1))
    gains = torch.from_numpy(np.ascontiguousarray(gain.transpose(2, 1, 0)))  # [H, M, C]
    future = torch.zeros((states, c), dtype=torch.float64)
    policy = torch.zeros((h, states, c), dtype=torch.int8)
    for t in range(h - 1, -1, -1):
        options = future.index_select(0, step).view(states, moves, c) + penalty
        options += gains[t][None]
        future, best = options.max(dim=1)
        policy[t] = best
    chosen = policy.numpy()
    state = machine.start(windows)
    plan = np.zeros((c, h), dtype=np.int64)
    rows = np.arange(c)
    for t in range(h):
        move = chosen[t][state, rows].astype(np.int64)
        plan[:, t] = pick[rows, move, t]
        state = machine.next[state, move]
    return plan


def _classes(adjusted: np.ndarray, windows: Sequence[ContactWindow]) -> tuple:
    """Actions that belong to the same rules' groups move the rules alike: each week only the
    best of such a class competes. The classes' membership [M-1, R] (contacts only), and per
    customer and week the best action of each class (`pick`, [C, M, H], index 0 none) and its
    value (`gain` [C, M, H], 0 for none)."""
    c, _, h = adjusted.shape
    member = np.stack([w.actions[1:] for w in windows], axis=1)  # [A-1, R]
    classes, class_of = np.unique(member, axis=0, return_inverse=True)
    gain = np.zeros((c, len(classes) + 1, h), dtype=adjusted.dtype)
    pick = np.zeros((c, len(classes) + 1, h), dtype=np.int64)
    for m in range(len(classes)):
        actions = np.flatnonzero(class_of.reshape(-1) == m)
        best = adjusted[:, actions, :].argmax(axis=1)  # [C, H]
        gain[:, m + 1] = np.take_along_axis(adjusted[:, actions, :], best[:, None, :], 1)[:, 0]
        pick[:, m + 1] = actions[best] + 1
    return classes, gain, pick


def greedy_plans(adjusted: np.ndarray, windows: Sequence[ContactWindow], cap: int) -> np.ndarray:
    """A plan ([C, H] action indices) under the windows and the contact cap, built greedily:
    up to `cap` rounds, each adding the customer's best positive contact that still fits
    (`room`), for the customers the round before added one to. Keeps every rule; worth at
    most `best_plans`'s (equal where no window binds). `adjusted` [C, A-1, H] as there."""
    c, k, h = adjusted.shape
    plan = np.zeros((c, h), dtype=np.int8 if k < 127 else np.int64)
    active = np.arange(c)
    for _ in range(min(cap, h)):
        sub = plan[active]
        own = [w.subset(active) for w in windows]
        fits = room(own, sub, k + 1) & (sub == 0)[:, None, :]
        flat = np.where(fits, adjusted[active], -np.inf).reshape(len(active), -1)
        pick = flat.argmax(axis=1)
        take = flat[np.arange(len(active)), pick] > 0
        active, pick = active[take], pick[take]
        if len(active) == 0:
            break
        action, week = np.divmod(pick, h)
        plan[active, week] = action + 1
    return plan
