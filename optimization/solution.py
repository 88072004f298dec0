"""The Solution (DESIGN §5): the plan, how good it is provably, and what each constraint costs.

Accessors raise instead of returning garbage: `plan` raises `NoSolutionError` when the solver
found none, and an infeasible result carries an `InfeasibilityExplanation` naming the rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimization.problem import DecisionProblem
from optimization.recommendations import RecommendationPlan
from shopdata.atomic import write_atomically, write_text_atomically

SOLUTION_FILE = "solution.json"
ALLOCATION_FILE = "allocation.parquet"

#: The allocation's action for a recommendation shown (its item in `item`).
RECOMMEND = "recommend"


class SolveStatus(Enum):
    OPTIMAL = "optimal"  # proven within the relative gap asked for
    FEASIBLE = "feasible"  # a plan satisfying every constraint, with a stated gap
    TIME_LIMIT = "time_limit"  # stopped by the time limit; the plan (if any) is feasible
    INFEASIBLE = "infeasible"  # no plan satisfies every constraint; see the explanation


class NoSolutionError(RuntimeError):
    """Asked for a plan where the solver has none (infeasible, or stopped before finding one)."""


@dataclass(frozen=True)
class ConstraintReport:
    """One coupling row: activity of the plan, right-hand side, slack (>= 0 when satisfied) and
    shadow price (change of the optimal objective per unit increase of the right-hand side)."""

    name: str
    kind: str
    week: int | None  # 1-based week of the horizon
    sense: str  # "<=" or ">="
    activity: float
    rhs: float
    slack: float
    shadow_price: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Conflict:
    """A coupling row that cannot be met, and by how much (from the elastic re-solve)."""

    name: str
    rhs: float
    best_reachable: float
    shortfall: float
    message: str


@dataclass(frozen=True)
class InfeasibilityExplanation:
    conflicts: tuple[Conflict, ...]

    def __str__(self) -> str:
        return "; ".join(c.message for c in self.conflicts) or "no single row explains it"


@dataclass(frozen=True)
class Timings:
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    total_seconds: float = 0.0

    @classmethod
    def since(cls, started: float, build_seconds: float = 0.0) -> Timings:
        """Timings of a solve begun at `time.perf_counter()` = `started`, of which
        `build_seconds` went into building the model."""
        total = time.perf_counter() - started
        return cls(build_seconds, total - build_seconds, total)


@dataclass(frozen=True)
class Solution:
    status: SolveStatus
    #: The promotions' incremental value against no action: sum of value over the plan (NaN
    #: without a plan); the recommendations shown are not in it (`recommended`).
    objective: float
    bound: float  # proven upper bound on the optimal objective
    backend: str
    backend_version: str
    constraints: tuple[ConstraintReport, ...]
    timings: Timings
    choice: np.ndarray | None = None  # [N, H] action indices
    explanation: InfeasibilityExplanation | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Recommendations shown, with their own value and bound: the expected margin of the
    #: items shown (a score to choose them by, not a gain over showing none: no effect of a
    #: recommendation is learned), so not part of `objective` and `bound`.
    recommended: RecommendationPlan | None = None

    @property
    def gap(self) -> float:
        """(bound - objective) / max(|bound|, 1e-9); +inf without a plan."""
        if self.choice is None or not np.isfinite(self.objective):
            return float("inf")
        return max(0.0, (self.bound - self.objective) / max(abs(self.bound), 1e-9))

    @property
    def has_plan(self) -> bool:
        return self.choice is not None

    def plan(self) -> np.ndarray:
        if self.choice is None:
            reason = f": {self.explanation}" if self.explanation else ""
            raise NoSolutionError(f"{self.backend} returned no plan ({self.status.value}){reason}")
        return self.choice

    def shadow_prices(self) -> dict[str, float]:
        return {row.name: row.shadow_price for row in self.constraints}

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "objective": self.objective if self.has_plan else None,
            # what objective and bound count (solution.json written before said nothing: they
            # held the recommendations' margin too; engine/run_reader.py reads those so)
            "objective_counts": "promotions",
            "bound": self.bound,
            "gap": self.gap if self.has_plan else None,
            "backend": self.backend,
            "backend_version": self.backend_version,
            "solve_seconds": self.timings.solve_seconds,
            "build_seconds": self.timings.build_seconds,
            "total_seconds": self.timings.total_seconds,
            "constraints": [row.to_dict() for row in self.constraints],
            "explanation": str(self.explanation) if self.explanation else None,
            "recommendations": None
            if self.recommended is None
            else {
                "shown": int(self.recommended.shown.sum()),
                "value": self.recommended.value,
                "bound": self.recommended.bound,
                "exact": self.recommended.exact,
            },
            "notes": list(self.notes),
        }

    def allocation(self, problem: DecisionProblem) -> pd.DataFrame:
        """One row per customer-week with an action other than none (DESIGN §7), then one row
        per recommendation shown (action `recommend`, its `item`, value, no cost or revenue).

        `value`, `cost` and `revenue` of promotion rows are the action's own coefficients; the
        plan's objective is the sum of (value - value of none) over them, plus the value of
        none over all customer-weeks. A recommendation row's value is the expected margin of
        the item shown (its sum is `recommended.value`, not part of the objective).
        """
        choice = self.plan()
        customer, week = np.nonzero(choice > 0)
        action = choice[customer, week]
        frames = [
            pd.DataFrame(
                {
                    "customer_id": problem.customer_ids[customer].astype(str),
                    "week": (week + 1).astype(np.int64),
                    "action": problem.action_ids[action].astype(str),
                    "item": pd.Series([None] * len(customer), dtype="string"),
                    "value": problem.value[customer, action, week],
                    "cost": problem.cost[customer, action, week],
                    "revenue": problem.revenue[customer, action, week],
                }
            )
        ]
        block = problem.recommendations
        if self.recommended is not None and block is not None:
            u, k, t = np.nonzero(self.recommended.shown)
            frames.append(
                pd.DataFrame(
                    {
                        "customer_id": problem.customer_ids[u].astype(str),
                        "week": (t + 1).astype(np.int64),
                        "action": RECOMMEND,
                        "item": pd.Series(
                            block.item_ids[block.candidates[u, k]].astype(str), dtype="string"
                        ),
                        "value": block.value[u, k, t],
                        "cost": 0.0,
                        "revenue": 0.0,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def save(self, folder: Path | str, problem: DecisionProblem) -> Path:
        """Write solution.json and allocation.parquet (and problem.npz) into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        problem.save(folder)
        if self.has_plan:
            allocation = self.allocation(problem)
            write_atomically(
                folder / ALLOCATION_FILE, lambda path: allocation.to_parquet(path, index=False)
            )
        write_text_atomically(
            folder / SOLUTION_FILE, json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n"
        )
        return folder
