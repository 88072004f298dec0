"""How a run solves and releases its plans: the scenario's solver (budgets that hold where it
asks), the release check on any plan of the run (engine/release_gate.py), and the frontier
whose every level is the plan the engine would release there."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from engine.release_gate import (
    LoggedOutcomes,
    ReleaseReport,
    release,
    store_windows,
    withhold_all,
    without_actions,
)
from engine.scenario import Scenario
from engine.valuation import cost_variance
from forecasting.forecast_set import ForecastSet
from optimization.chance import solve_with_budget_confidence
from optimization.frontier import FrontierPoint, frontier
from optimization.problem import DecisionProblem
from optimization.recommendations import RecommendationPlan
from optimization.settings import SolveSettings
from optimization.solution import Solution
from optimization.solve import solve
from shopdata.store import Store

log = logging.getLogger("ltv.pipeline")


def cost_variances(forecast_dir: Path, scenario: Scenario) -> np.ndarray | None:
    """Each cost coefficient's variance [N, A, H] where the scenario asks budgets to hold at a
    confidence (`constraints.budget_confidence`), else None."""
    if scenario.constraints.budget_confidence is None:
        return None
    return cost_variance(ForecastSet.load(forecast_dir), scenario)


def scenario_solver(
    scenario: Scenario,
    variance: np.ndarray | None,
    settings: SolveSettings,
    extras: dict[str, object],
) -> Callable[[DecisionProblem], Solution]:
    """How the run solves a problem: with budgets that hold at the scenario's confidence, when
    it asks (`variance` is then each cost coefficient's, [N, A, H]; the chance constraint's
    figures go into `extras`). The recommendation block does not change between the release
    check's re-solves of one problem: solved once by a solver, then reused."""
    confidence = scenario.constraints.budget_confidence
    shown: list[RecommendationPlan] = []

    def solve_once(candidate: DecisionProblem) -> Solution:
        reuse = shown[0] if shown else None
        if confidence is None or variance is None:
            solution = solve(candidate, scenario.solver.backend, settings, recommended=reuse)
        else:
            solution, chance = solve_with_budget_confidence(
                candidate,
                variance,
                confidence,
                scenario.solver.backend,
                settings,
                recommended=reuse,
            )
            extras["budget_confidence"] = chance.to_dict()
        if not shown and solution.recommended is not None:
            shown.append(solution.recommended)
        return solution

    return solve_once


#: The campaign log's outcomes as `store_windows` reads them: the check's, its window, the later.
_Windows = tuple[LoggedOutcomes, int, dict[int, LoggedOutcomes]]


class ReleaseCheck:
    """The scenario's release check (engine/release_gate.py) for any plan of the run: the
    scenario's own and each frontier level's. The log's outcomes are read on first use, once."""

    def __init__(self, scenario: Scenario, week: pd.Timestamp, store_path: Path) -> None:
        self.scenario, self.week, self.store_path = scenario, week, store_path
        self._read: tuple[bool, _Windows | None] | None = None

    def _outcomes(self) -> tuple[bool, _Windows | None]:
        """(whether the store has a campaign log, its outcomes as `store_windows` reads them)."""
        if self._read is None:
            release = self.scenario.release
            with Store.open(self.store_path) as store:
                has_log = store.has_table("campaign_log")
                found = (
                    store_windows(
                        store,
                        self.scenario.catalogue(),
                        self.scenario.gross_margin,
                        self.week,
                        longest=release.outcome_weeks,
                        later=release.later_harm == "withhold",
                    )
                    if has_log
                    else None
                )
            self._read = (has_log, found)
        return self._read

    def _first_campaign_week(self) -> pd.Timestamp | None:
        """The campaign log's first week before the planning week (None where it has none)."""
        with Store.open(self.store_path) as store:
            first = store.query(
                "SELECT min(week_start) AS first FROM campaign_log "
                f"WHERE week_start < TIMESTAMP '{self.week:%Y-%m-%d}'"
            )["first"].iloc[0]
        return None if pd.isna(first) else pd.Timestamp(first)

    def __call__(
        self,
        problem: DecisionProblem,
        solution: Solution,
        resolve: Callable[[DecisionProblem], Solution],
        *,
        round_budget: int | None = None,
    ) -> tuple[Solution, ReleaseReport | None]:
        """`solution` of `problem` as released, and the check's report (None where no check
        ran: the scenario turns it off, the plan contacts no one, or the shop has no campaign
        log); `round_budget` as in `release`."""
        settings = self.scenario.release
        if not settings.check or not solution.has_plan or not (solution.plan() > 0).any():
            return solution, None
        has_log, found = self._outcomes()
        if not has_log:
            return solution, None
        if found is None:
            log.warning("release check: the campaign log observes too few outcomes; all withheld")
            return withhold_all(
                problem,
                resolve,
                confidence=settings.confidence,
                first_campaign_week=self._first_campaign_week(),
            )
        outcomes, weeks, later = found
        solution, report = release(
            problem,
            solution,
            outcomes,
            weeks,
            resolve,
            confidence=settings.confidence,
            later=later,
            round_budget=round_budget,
        )
        report = dataclasses.replace(
            report, window_cap=settings.outcome_weeks, later_harm=settings.later_harm
        )
        return solution, report


def released_plan(
    problem: DecisionProblem,
    scenario: Scenario,
    variance: np.ndarray | None,
    settings: SolveSettings,
    check: ReleaseCheck,
) -> tuple[Solution, dict[str, object]]:
    """The scenario's plan as released: solved (`scenario_solver`) and checked on the campaign
    log (`check`). Returns it and the kpis of both steps (`budget_confidence`, `release`)."""
    extras: dict[str, object] = {}
    solve_once = scenario_solver(scenario, variance, settings, extras)
    solution, report = check(problem, solve_once(problem), solve_once)
    if report is not None:
        extras["release"] = report.to_dict()
    return solution, extras


def released_frontier(
    problem: DecisionProblem,
    scenario: Scenario,
    variance: np.ndarray | None,
    settings: SolveSettings,
    check: ReleaseCheck,
    released: dict[str, object] | None,
    on_point: Callable[[FrontierPoint], None],
) -> pd.DataFrame:
    """The scenario's sweep as the engine would release each level's plan: solved as the
    scenario's own plan is (budgets that hold where it asks), an action the release check
    withheld at the scenario's level (`released`: its report, None where none ran) withheld at
    every level, and each level's plan checked again, in rounds at the same per-round level, for
    the actions left. A row per level (frontier.csv) with the actions withheld there."""
    ((parameter, levels),) = scenario.sweep.items()
    withheld = [str(a) for a in (released or {}).get("withheld", [])]
    round_budget = (released or {}).get("round_budget")
    point_withheld: list[tuple[str, ...]] = []

    def solve_point(variant: DecisionProblem) -> Solution:
        solve_once = scenario_solver(scenario, variance, settings, {})
        solution, report = check(
            variant, solve_once(variant), solve_once, round_budget=round_budget
        )
        point_withheld.append(() if report is None else report.withheld)
        return solution

    curve = frontier(
        without_actions(problem, withheld),
        parameter,
        levels,
        backend=scenario.solver.backend,
        settings=settings,
        on_point=on_point,
        solve_point=solve_point,
    )
    frame = pd.DataFrame([{**p.__dict__, "status": p.status.value} for p in curve.points])
    frame["withheld"] = [", ".join([*withheld, *more]) for more in point_withheld]
    return frame
