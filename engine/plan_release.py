"""How a run solves and releases its plans: the scenario's solver (budgets that hold where it
asks), the release decision on any plan of the run (engine/release.py), and the
frontier whose every level is the plan the engine would release there."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from engine.logged_outcomes import LoggedOutcomes, read_logged_outcomes
from engine.release import ReleaseReport, release
from engine.release_decision import PriorSource, ReleaseSettings, default_settings
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


class ReleaseCheck:
    """The scenario's release decision (engine/release.py) for any plan of the run:
    the scenario's own and each frontier level's. The log's outcomes and the forecaster's
    prior are read on first use, once. `seed` draws the run's randomised tests (the run's
    fingerprint, so a rerun draws the same)."""

    def __init__(
        self,
        scenario: Scenario,
        week: pd.Timestamp,
        store_path: Path,
        forecast_dir: Path,
        seed: int = 0,
    ) -> None:
        self.scenario, self.week, self.store_path = scenario, week, store_path
        self.forecast_dir, self.seed = forecast_dir, seed
        self._outcomes: tuple[LoggedOutcomes | None] | None = None
        self._source: PriorSource | None = None

    def outcomes(self) -> LoggedOutcomes | None:
        """The log's outcomes over every window it observes (None without any)."""
        if self._outcomes is None:
            with Store.open(self.store_path) as store:
                found = read_logged_outcomes(
                    store,
                    self.scenario.catalogue(),
                    self.scenario.gross_margin,
                    self.week,
                    longest=self.scenario.release.outcome_weeks,
                )
            if found is None:
                log.warning(
                    "release: the campaign log observes no outcomes before the planning week: "
                    "every action rests on the forecaster alone, and goes out as a test at most"
                )
            self._outcomes = (found,)
        return self._outcomes[0]

    def settings(self, problem: DecisionProblem) -> ReleaseSettings:
        spec = self.scenario.release
        return default_settings(
            problem,
            risk=spec.risk,
            max_loss=spec.max_loss,
            test_weeks=spec.test_weeks,
            test_budget=spec.test_budget,
            later_uncertainty=spec.later_uncertainty,
            seed=self.seed,
        )

    def source(self, problem: DecisionProblem) -> PriorSource:
        if self._source is None:
            self._source = PriorSource.from_forecast(
                self.forecast_dir,
                problem.action_ids,
                self.scenario.gross_margin,
                problem.shape[2],
            )
        return self._source

    def __call__(
        self,
        problem: DecisionProblem,
        solution: Solution,
        resolve: Callable[[DecisionProblem], Solution],
        *,
        settings: ReleaseSettings | None = None,
    ) -> tuple[Solution, ReleaseReport | None]:
        """`solution` of `problem` as released, and the decision's report (None where none was
        made: the scenario turns it off, or the plan contacts no one); `settings` replace the
        scenario's (a frontier level keeps the scenario's own level's loss and test budget)."""
        if not self.scenario.release.check or not solution.has_plan:
            return solution, None
        if not (solution.plan() > 0).any():
            return solution, None
        return release(
            problem,
            solution,
            self.outcomes(),
            self.source(problem),
            settings or self.settings(problem),
            resolve,
        )


def released_plan(
    problem: DecisionProblem,
    scenario: Scenario,
    variance: np.ndarray | None,
    settings: SolveSettings,
    check: ReleaseCheck,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[Solution, dict[str, object]]:
    """The scenario's plan as released: solved (`scenario_solver`) and checked on the campaign
    log (`check`), each step told to `progress`. Returns it and the kpis of both steps
    (`budget_confidence`, `release`)."""
    extras: dict[str, object] = {}
    solve_once = scenario_solver(scenario, variance, settings, extras)
    solution = solve_once(problem)
    progress("release: the plan's actions checked on the campaign log")
    solution, report = check(problem, solution, solve_once)
    if report is not None:
        extras["release"] = report.to_dict()
        extras["_report"] = report
    return solution, extras


def released_frontier(
    problem: DecisionProblem,
    scenario: Scenario,
    variance: np.ndarray | None,
    settings: SolveSettings,
    check: ReleaseCheck,
    on_point: Callable[[FrontierPoint], None],
) -> pd.DataFrame:
    """The scenario's sweep as the engine would release each level's plan: solved as the
    scenario's own plan is (budgets that hold where it asks) and decided on from the full
    catalogue with the scenario's own loss tolerance and test budget (its tests included), so
    the scenario's own level is the run's plan. A row per level (frontier.csv) with the actions
    withheld and tested there."""
    ((parameter, levels),) = scenario.sweep.items()
    decision_settings = check.settings(problem)
    point_withheld: list[tuple[str, ...]] = []
    point_tested: list[tuple[str, ...]] = []

    def solve_point(variant: DecisionProblem) -> Solution:
        solve_once = scenario_solver(scenario, variance, settings, {})
        solution, report = check(
            variant, solve_once(variant), solve_once, settings=decision_settings
        )
        point_withheld.append(() if report is None else report.withheld)
        point_tested.append(() if report is None else tuple(t.action for t in report.tests))
        return solution

    curve = frontier(
        problem,
        parameter,
        levels,
        backend=scenario.solver.backend,
        settings=settings,
        on_point=on_point,
        solve_point=solve_point,
    )
    frame = pd.DataFrame([{**p.__dict__, "status": p.status.value} for p in curve.points])
    frame["withheld"] = [", ".join(more) for more in point_withheld]
    frame["tested"] = [", ".join(more) for more in point_tested]
    return frame
