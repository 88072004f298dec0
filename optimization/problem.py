"""The DecisionProblem (DESIGN §4): coefficients per customer, action and week, and constraints.

x[u, a, t] in {0, 1} picks one action a per customer u and week t (a = 0 is `none`). The problem
maximises sum v x subject to one action a week, a contact cap over the horizon, rolling contact
windows counting past contacts (optimization/contact_windows.py), and the coupling rows: weekly
(or total) budget, weekly revenue floor, per-action capacity, segment coverage, ratio rules.
Validated once on construction; everything downstream trusts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from optimization.contact_windows import ContactWindow
from optimization.recommendations import RecommendationBlock
from shopdata.atomic import write_atomically

PROBLEM_FILE = "problem.npz"


@dataclass(frozen=True)
class SegmentCoverage:
    """At least `minimum_contacts` non-none actions over the horizon to members of a segment."""

    name: str
    members: np.ndarray  # [N] bool
    minimum_contacts: float


@dataclass(frozen=True)
class RatioRule:
    """Incremental margin at least `at_least` times spend over the plan's contacts of
    `actions` ([A] bool, False at none), margin being a contact's value over none plus its
    spend (the CLV gain before paying for it): with dv, dc the contact's value and cost over
    none, sum x (dv + dc) >= k sum x dc, i.e. the coupling row

        sum_{u, a in G, t} (dv - (k - 1) dc) x[u, a, t]  >=  minimum

    (`minimum` 0; a subset of customers whose others are fixed gets what they leave)."""

    name: str
    actions: np.ndarray
    at_least: float
    minimum: float = 0.0

    def coefficients(self, value: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """The row's coefficient of contacts with these value and cost over none."""
        return value - (self.at_least - 1.0) * cost


def _no_ratios() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class Usage:
    """What a plan uses of each coupling resource: cost and revenue per week ([H]), contacts
    per action ([A]; index 0, `none`, is always 0), per coverage segment ([S]) and each ratio
    rule's activity ([Q])."""

    cost: np.ndarray
    revenue: np.ndarray
    per_action: np.ndarray
    per_segment: np.ndarray
    per_ratio: np.ndarray = field(default_factory=_no_ratios)

    @classmethod
    def nothing(cls, weeks: int, actions: int, segments: int, ratios: int = 0) -> Usage:
        zeros = np.zeros
        return cls(zeros(weeks), zeros(weeks), zeros(actions), zeros(segments), zeros(ratios))

    @staticmethod
    def sum(parts: list[Usage]) -> Usage:
        """What disjoint groups of customers use together (added in the order given)."""
        return Usage(
            sum(p.cost for p in parts),  # type: ignore[arg-type]
            sum(p.revenue for p in parts),  # type: ignore[arg-type]
            sum(p.per_action for p in parts),  # type: ignore[arg-type]
            sum(p.per_segment for p in parts),  # type: ignore[arg-type]
            sum(p.per_ratio for p in parts),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class DecisionProblem:
    value: np.ndarray  # [N, A, H] incremental discounted CLV of a versus none
    cost: np.ndarray  # [N, A, H]
    revenue: np.ndarray  # [N, A, H] short-term revenue in week t
    eligible: np.ndarray  # [N, A] bool; column 0 (none) always True
    customer_ids: np.ndarray  # [N]
    action_ids: np.ndarray  # [A], action_ids[0] == "none"
    week_labels: np.ndarray  # [H]
    weekly_budget: np.ndarray  # [H], +inf where there is none
    weekly_revenue_floor: np.ndarray  # [H], -inf where there is none
    contact_cap: int  # non-none actions per customer over the horizon
    total_budget: float = np.inf
    action_capacity: np.ndarray | None = None  # [A], +inf where uncapped
    coverage: tuple[SegmentCoverage, ...] = field(default_factory=tuple)
    recommendations: RecommendationBlock | None = None
    windows: tuple[ContactWindow, ...] = field(default_factory=tuple)
    ratios: tuple[RatioRule, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        n, a, h = self.value.shape if self.value.ndim == 3 else (0, 0, 0)
        if self.value.ndim != 3 or n == 0 or a < 1 or h == 0:
            raise ValueError(
                f"DecisionProblem.value must be shaped [N, A, H] with N, A, H >= 1; "
                f"got {self.value.shape}"
            )
        for name in ("cost", "revenue"):
            if getattr(self, name).shape != (n, a, h):
                raise ValueError(
                    f"DecisionProblem.{name} must be shaped {(n, a, h)} like value; "
                    f"got {getattr(self, name).shape}"
                )
        for name in ("value", "cost", "revenue"):
            bad = ~np.isfinite(getattr(self, name))
            if bad.any():
                u, act, t = np.argwhere(bad)[0]
                raise ValueError(
                    f"DecisionProblem.{name} holds {int(bad.sum())} NaN or infinite "
                    f"values, the first at customer {u}, action {act}, week {t}"
                )
        if (self.cost < 0).any():
            u, act, t = np.argwhere(self.cost < 0)[0]
            raise ValueError(
                f"DecisionProblem.cost must be >= 0; customer {u}, action {act}, "
                f"week {t} costs {self.cost[u, act, t]}"
            )
        if self.eligible.shape != (n, a) or self.eligible.dtype != bool:
            raise ValueError(
                f"DecisionProblem.eligible must be a bool array shaped {(n, a)}; "
                f"got {self.eligible.dtype} {self.eligible.shape}"
            )
        if not self.eligible[:, 0].all():
            raise ValueError(
                "DecisionProblem.eligible[:, 0] must be True: `none` is always allowed"
            )
        if len(self.customer_ids) != n or len(self.action_ids) != a or len(self.week_labels) != h:
            raise ValueError("DecisionProblem ids must have lengths N, A, H of the value array")
        if str(self.action_ids[0]) != "none":
            raise ValueError(
                f"DecisionProblem.action_ids must start with 'none'; got "
                f"{list(self.action_ids[:3])}"
            )
        if self.weekly_budget.shape != (h,) or self.weekly_revenue_floor.shape != (h,):
            raise ValueError(
                f"weekly_budget and weekly_revenue_floor must have one entry per week ({h})"
            )
        if (self.weekly_budget < 0).any() or np.isnan(self.weekly_budget).any():
            raise ValueError(f"weekly_budget must be >= 0; got {self.weekly_budget}")
        if (
            np.isnan(self.weekly_revenue_floor).any()
            or np.isposinf(self.weekly_revenue_floor).any()
        ):
            raise ValueError("weekly_revenue_floor must be finite or -inf")
        if not 0 <= self.contact_cap:
            raise ValueError(f"contact_cap must be >= 0; got {self.contact_cap}")
        if not self.total_budget >= 0:
            raise ValueError(f"total_budget must be >= 0; got {self.total_budget}")
        if self.action_capacity is not None:
            if self.action_capacity.shape != (a,) or (self.action_capacity < 0).any():
                raise ValueError(f"action_capacity must be >= 0, one per action ({a})")
        for segment in self.coverage:
            if segment.members.shape != (n,) or segment.members.dtype != bool:
                raise ValueError(f"coverage segment {segment.name!r}: members must be bool [N]")
        for window in self.windows:
            if window.actions.shape != (a,) or window.past.shape[0] != n:
                raise ValueError(
                    f"contact window {window.name!r}: actions must be [{a}] and past [{n}, W-1]; "
                    f"got {window.actions.shape} and {window.past.shape}"
                )
        for rule in self.ratios:
            if rule.actions.shape != (a,) or rule.actions[0] or not rule.at_least > 0:
                raise ValueError(
                    f"ratio rule {rule.name!r}: actions must be a bool [{a}] mask without none "
                    f"and at_least > 0; got {rule.actions.shape}, {rule.at_least}"
                )
        block = self.recommendations
        if block is not None and (block.candidates.shape[0] != n or block.value.shape[2] != h):
            raise ValueError(
                f"recommendations must cover the same {n} customers and {h} weeks; "
                f"got candidates {block.candidates.shape}, value {block.value.shape}"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.value.shape  # type: ignore[return-value]

    @property
    def capacity(self) -> np.ndarray:
        """Per-action capacity, +inf where uncapped ([A])."""
        if self.action_capacity is None:
            return np.full(self.shape[1], np.inf)
        return self.action_capacity

    @property
    def effective_contact_cap(self) -> int:
        return min(int(self.contact_cap), self.shape[2])

    def subset(self, customers: np.ndarray, *, fixed_usage: Usage | None = None) -> DecisionProblem:
        """The problem restricted to `customers`, with right-hand sides reduced by what the
        other (fixed) customers' plan uses, relative to none (`Usage`; None: nothing, the
        whole problem's right-hand sides)."""
        if fixed_usage is None:
            _, actions, weeks = self.shape
            fixed_usage = Usage.nothing(weeks, actions, len(self.coverage), len(self.ratios))
        coverage = tuple(
            SegmentCoverage(
                s.name, s.members[customers], s.minimum_contacts - float(fixed_usage.per_segment[k])
            )
            for k, s in enumerate(self.coverage)
        )
        capacity = None
        if self.action_capacity is not None:
            capacity = np.maximum(self.action_capacity - fixed_usage.per_action, 0.0)
        return DecisionProblem(
            value=self.value[customers],
            cost=self.cost[customers],
            revenue=self.revenue[customers],
            eligible=self.eligible[customers],
            customer_ids=self.customer_ids[customers],
            action_ids=self.action_ids,
            week_labels=self.week_labels,
            weekly_budget=np.maximum(self.weekly_budget - fixed_usage.cost, 0.0),
            weekly_revenue_floor=self.weekly_revenue_floor - fixed_usage.revenue,
            contact_cap=self.contact_cap,
            total_budget=max(self.total_budget - float(fixed_usage.cost.sum()), 0.0),
            action_capacity=capacity,
            coverage=coverage,
            windows=tuple(w.subset(customers) for w in self.windows),
            ratios=tuple(
                replace(r, minimum=r.minimum - float(fixed_usage.per_ratio[q]))
                for q, r in enumerate(self.ratios)
            ),
        )

    @staticmethod
    def stack(parts: list[DecisionProblem]) -> DecisionProblem:
        """The customers of `parts` in one problem, in the order given; right-hand sides,
        actions and weeks from the first part (the parts must share them, as subsets of one
        problem with the same fixed usage do); no recommendation block."""
        first = parts[0]
        if len(parts) == 1:
            return first

        def stacked(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        coverage = tuple(
            SegmentCoverage(
                segment.name,
                np.concatenate([p.coverage[k].members for p in parts]),
                segment.minimum_contacts,
            )
            for k, segment in enumerate(first.coverage)
        )
        return replace(
            first,
            value=stacked("value"),
            cost=stacked("cost"),
            revenue=stacked("revenue"),
            eligible=stacked("eligible"),
            customer_ids=stacked("customer_ids"),
            coverage=coverage,
            recommendations=None,
            windows=tuple(
                replace(w, past=np.concatenate([p.windows[k].past for p in parts]))
                for k, w in enumerate(first.windows)
            ),
        )

    def save(self, folder: Path | str) -> Path:
        """Write `problem.npz` (DESIGN §7): everything needed to recompute a plan's figures."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "value": self.value,
            "cost": self.cost,
            "revenue": self.revenue,
            "eligible": self.eligible,
            "customer_ids": self.customer_ids.astype(str),
            "action_ids": self.action_ids.astype(str),
            "week_labels": self.week_labels.astype(str),
            "weekly_budget": self.weekly_budget,
            "weekly_revenue_floor": self.weekly_revenue_floor,
            "contact_cap": np.array(self.contact_cap),
            "total_budget": np.array(self.total_budget),
            "action_capacity": self.capacity,
            "coverage_names": np.array([s.name for s in self.coverage], dtype=str),
            "coverage_members": (
                np.stack([s.members for s in self.coverage])
                if self.coverage
                else np.zeros((0, self.shape[0]), bool)
            ),
            "coverage_minimum": np.array([s.minimum_contacts for s in self.coverage], float),
            "window_names": np.array([w.name for w in self.windows], dtype=str),
            "window_actions": (
                np.stack([w.actions for w in self.windows])
                if self.windows
                else np.zeros((0, self.shape[1]), bool)
            ),
            "window_weeks": np.array([w.weeks for w in self.windows], np.int64),
            "window_limits": np.array([w.limit for w in self.windows], np.int64),
        }
        arrays |= {f"window_past_{k}": w.past for k, w in enumerate(self.windows)}
        arrays |= {
            "ratio_names": np.array([r.name for r in self.ratios], dtype=str),
            "ratio_actions": (
                np.stack([r.actions for r in self.ratios])
                if self.ratios
                else np.zeros((0, self.shape[1]), bool)
            ),
            "ratio_at_least": np.array([r.at_least for r in self.ratios], float),
            "ratio_minimum": np.array([r.minimum for r in self.ratios], float),
        }
        if self.recommendations is not None:
            block = self.recommendations
            arrays |= {
                "reco_item_ids": block.item_ids.astype(str),
                "reco_candidates": block.candidates,
                "reco_value": block.value,
                "reco_slots": np.array(block.slots),
                "reco_item_capacity": block.item_capacity,
            }
        return write_atomically(folder / PROBLEM_FILE, lambda path: _savez(path, arrays))

    @classmethod
    def load(cls, path: Path | str) -> DecisionProblem:
        path = Path(path)
        if path.is_dir():
            path = path / PROBLEM_FILE
        with np.load(path, allow_pickle=False) as z:
            capacity = z["action_capacity"]
            block = None
            if "reco_value" in z.files:
                block = RecommendationBlock(
                    z["reco_item_ids"],
                    z["reco_candidates"],
                    z["reco_value"],
                    int(z["reco_slots"]),
                    z["reco_item_capacity"],
                )
            return cls(
                value=z["value"],
                cost=z["cost"],
                revenue=z["revenue"],
                eligible=z["eligible"],
                customer_ids=z["customer_ids"],
                action_ids=z["action_ids"],
                week_labels=z["week_labels"],
                weekly_budget=z["weekly_budget"],
                weekly_revenue_floor=z["weekly_revenue_floor"],
                contact_cap=int(z["contact_cap"]),
                total_budget=float(z["total_budget"]),
                action_capacity=None if np.isinf(capacity).all() else capacity,
                coverage=tuple(
                    SegmentCoverage(str(name), members, float(minimum))
                    for name, members, minimum in zip(
                        z["coverage_names"],
                        z["coverage_members"],
                        z["coverage_minimum"],
                        strict=True,
                    )
                ),
                recommendations=block,
                windows=tuple(
                    ContactWindow(name, z["window_actions"][k], weeks, limit, z[f"window_past_{k}"])
                    for k, (name, weeks, limit) in enumerate(
                        zip(
                            z["window_names"].tolist(),
                            z["window_weeks"].tolist(),
                            z["window_limits"].tolist(),
                            strict=True,
                        )
                    )
                )
                if "window_names" in z.files
                else (),
                ratios=tuple(
                    RatioRule(name, z["ratio_actions"][q], at_least, minimum)
                    for q, (name, at_least, minimum) in enumerate(
                        zip(
                            z["ratio_names"].tolist(),
                            z["ratio_at_least"].tolist(),
                            z["ratio_minimum"].tolist(),
                            strict=True,
                        )
                    )
                )
                if "ratio_names" in z.files
                else (),
            )


#: problem.npz is compressed up to this many bytes of arrays (about 30 % smaller on a demo
#: run), stored plain above: compression runs at ~30 MB/s, so it would cost over a minute of
#: a 1M-customer batch for a file of 1.5 instead of 2.1 GB.
COMPRESS_UP_TO_BYTES = 64 * 2**20


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write = (
        np.savez_compressed
        if sum(a.nbytes for a in arrays.values()) <= COMPRESS_UP_TO_BYTES
        else np.savez
    )
    with path.open("wb") as handle:  # a handle, so numpy does not append .npz to the name
        write(handle, **arrays)
