"""What a finished run's files say, as typed objects: its solution's status and constraints
(`SolutionSummary`, `Constraint`), the registry's one-line summary (`RunSummary`) and the
release decision (`ReleaseSummary`); engine/run_reader.py reads them from the folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from optimization.rows import RowKind


class RunFolderError(ValueError):
    """The folder is not a finished run, or one of its files is damaged."""


@dataclass(frozen=True)
class Constraint:
    """One coupling row of the solved plan (money in the shop's currency; week 1-based)."""

    name: str
    kind: RowKind
    week: int | None
    sense: str
    activity: float
    rhs: float
    slack: float
    shadow_price: float

    @property
    def binding(self) -> bool:
        """A shadow price, or no slack to speak of."""
        return abs(self.shadow_price) > 1e-9 or abs(self.slack) <= 1e-3 * max(1.0, abs(self.rhs))

    def meaning(self) -> str:
        """What the row's shadow price says, in words a planner reads."""
        price, slack = self.shadow_price, self.slack
        if self.kind in (RowKind.WEEKLY_BUDGET, RowKind.TOTAL_BUDGET):
            if not self.binding:
                return f"not binding: {slack:,.2f} of this budget is left unspent"
            return f"one more euro of this budget is worth {price:,.2f} euros of CLV"
        if self.kind is RowKind.REVENUE_FLOOR:
            if not self.binding:
                return f"not binding: expected revenue is {slack:,.0f} above the floor"
            return f"raising this floor by one euro of revenue costs {-price:,.3f} euros of CLV"
        if self.kind is RowKind.RATIO:
            if not self.binding:
                return f"not binding: the plan's margin beats the rule by {slack:,.2f}"
            return f"each unit the rule asks for beyond the plan's costs {abs(price):,.3f} of CLV"
        if self.kind is RowKind.ACTION_CAPACITY:
            return (
                f"one more unit of capacity is worth {price:,.2f} of CLV"
                if self.binding
                else f"not binding: {slack:,.0f} units unused"
            )
        return (
            f"each further required contact costs {-price:,.2f} of CLV"
            if self.binding
            else f"met with {slack:,.0f} contacts to spare"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "week": self.week,
            "sense": self.sense,
            "activity": self.activity,
            "rhs": self.rhs,
            "slack": self.slack,
            "shadow_price": self.shadow_price,
        }


@dataclass(frozen=True)
class SolutionSummary:
    """solution.json: the solver's status, objective and proven bound (None without a plan),
    relative gap, timings in seconds, the constraint rows and the solver's notes."""

    status: str
    objective: float | None
    bound: float
    gap: float | None
    backend: str
    backend_version: str
    solve_seconds: float
    build_seconds: float
    total_seconds: float
    constraints: tuple[Constraint, ...]
    notes: tuple[str, ...]
    explanation: str | None
    recommendations: dict[str, Any] | None
    raw: dict[str, Any]

    @property
    def has_plan(self) -> bool:
        return self.objective is not None

    def of_kind(self, kind: RowKind) -> list[Constraint]:
        return [c for c in self.constraints if c.kind is kind]


def optional_number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RunSummary:
    """A run's headline figures: solver status, objective (CLV gain), proven bound and gap
    (None without a plan), planned spend and expected revenue over the horizon, contacts."""

    status: str
    objective: float | None
    bound: float
    gap: float | None
    backend: str
    customers: int
    contacts: int
    spend: float
    revenue: float

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReleaseSummary:
    """kpis.json's `release`: what the release did (engine/release.py).
    Money per week where it says so; `decisions` and `tests` as the decision wrote them."""

    risk: float
    max_loss: float
    test_weeks: int
    test_budget: float
    windows: tuple[int, ...]
    released: tuple[str, ...]
    tested: tuple[str, ...]
    withheld: tuple[str, ...]
    expected_gain_per_week: float
    sd_per_week: float
    loss_probability: float
    decisions: tuple[dict[str, Any], ...]
    tests: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ReleaseSummary | None:
        """The summary of a `release` mapping this version wrote (None for one an earlier
        rule wrote: it has no `rule` key)."""
        if raw.get("rule") != "posterior":
            return None
        plan = raw["plan"]
        return cls(
            risk=float(raw["risk"]),
            max_loss=float(raw["max_loss"]),
            test_weeks=int(raw["test_weeks"]),
            test_budget=float(raw["test_budget"]),
            windows=tuple(int(k) for k in raw["windows"]),
            released=tuple(raw["released"]),
            tested=tuple(raw["tested"]),
            withheld=tuple(raw["withheld"]),
            expected_gain_per_week=float(plan["expected_gain_per_week"]),
            sd_per_week=float(plan["sd_per_week"]),
            loss_probability=float(plan["loss_probability"]),
            decisions=tuple(raw["decisions"]),
            tests=tuple(raw["tests"]),
        )

    def sentence(self) -> str:
        """The decision in one sentence, for the command line and the report's summary."""
        parts = []
        if self.released:
            parts.append(
                f"released {', '.join(self.released)}: expected gain "
                f"{self.expected_gain_per_week:,.2f} a week (sd {self.sd_per_week:,.2f}), "
                f"probability of losing more than {self.max_loss:,.2f} a week "
                f"{self.loss_probability:.1%} (at most {self.risk:.0%} allowed)"
            )
        else:
            parts.append("nothing released")
        if self.tests:
            parts.append(
                "tested at random: "
                + ", ".join(
                    f"{t['action']} ({t['treated']:,} treated, {t['controls']:,} controls, "
                    f"cost {t['expected_cost']:,.2f}, read after {t['readout_weeks']} weeks)"
                    for t in self.tests
                )
            )
        if self.withheld:
            parts.append(f"withheld (expected gain not above zero): {', '.join(self.withheld)}")
        return "; ".join(parts)
