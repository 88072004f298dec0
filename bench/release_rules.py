"""The release check's rules against those they replaced, replayed on runs' own problems.

For each run folder (a weekly run on a demo market, `ltv data demo`), the run's problem is
solved again with the run's solver settings and released through the check on the run's own
campaign log, under each rule (engine/release_gate.py):

- `engine`: the run's scenario as it stands (by default the 5-week window, rounds at
  (1 - confidence) / R with only the weakest withheld where none passes, and an action
  confirmed over the window withheld where a longer window the log observes puts it below zero);
- `no later look`: the same without the longer windows (`release.later_harm: ignore`);
- `longest window`: the same rounds over the longest window the log observes (the default
  before the 5-week one), no later look (there is no longer window);
- `all at once`: the rule before the rounds, over the scenario's window: each round at the full
  confidence, every failing action withheld together, at most six rounds;

and each released plan is replayed in the market's truth, paired with doing nothing on common
random numbers (engine/evaluation.py): the rules' gains are comparable with one another. Prints,
per run and rule, the gain with its 95 % interval and the contacts; the JSON adds each rule's
release report (the all-at-once rule's checks per round). Usage:

    python bench/release_rules.py RUN:DATA [RUN:DATA ...] [--json OUT]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from run_pairs import over_run_pairs

from engine.evaluation import Evaluator
from engine.plan_release import scenario_solver
from engine.release_gate import (
    LoggedOutcomes,
    check_plan,
    release,
    store_windows,
    without_actions,
)
from engine.run_reader import RunFolder
from markets.demo.ground_truth import GroundTruth
from optimization.problem import DecisionProblem
from optimization.solution import Solution
from shopdata.calendar import horizon_start
from shopdata.store import Store

#: The rule before: rounds at most, each at the full confidence.
PREVIOUS_MAX_ROUNDS = 6


def all_at_once(
    problem: DecisionProblem,
    solve_once: Callable[[DecisionProblem], Solution],
    outcomes: LoggedOutcomes,
    confidence: float,
) -> tuple[Solution, list[list[tuple]]]:
    """The rule the rounds replaced: every failing action withheld at once, each round at the
    full confidence, at most six rounds. Returns the plan and each round's checks."""
    current, withheld, rounds = solve_once(problem), set(), []
    for _ in range(PREVIOUS_MAX_ROUNDS):
        if not current.has_plan:
            break
        checks = check_plan(problem, current.plan(), outcomes, confidence)
        rounds.append([(c.action, c.contacts, c.low, bool(c.released)) for c in checks])
        failing = [c.action for c in checks if not c.released]
        if not failing:
            break
        withheld |= set(failing)
        current = solve_once(without_actions(problem, withheld))
    return current, rounds


def _plan(solution: Solution, problem: DecisionProblem) -> np.ndarray:
    """The solution's plan [N, H], or no contact where it has none."""
    if solution.has_plan:
        return solution.plan()
    n, _, h = problem.shape
    return np.zeros((n, h), dtype=np.int64)


def replay(run_path: Path, data: Path) -> dict[str, object]:
    run = RunFolder(run_path)
    scenario, problem = run.settings, run.problem()
    truth = GroundTruth.load(data / "ground_truth.npz")
    # the run's solver, the recommendation block solved once for every rule's re-solves
    solve_once = scenario_solver(scenario, None, scenario.solver.settings(), {})
    week = horizon_start(truth.config.as_of)
    with Store.open(run.path / "inputs.duckdb") as store:
        found = store_windows(
            store,
            scenario.catalogue(),
            scenario.gross_margin,
            week,
            longest=scenario.release.outcome_weeks,
            later=True,
        )
    if found is None:
        return {"run": run.path.name, "note": "the log observes too few outcomes"}
    outcomes, weeks, later = found
    # the longest window the log observes: the longest of the later ones, or the check's own
    longest_weeks = max(later, default=weeks)
    longest = later.get(longest_weeks, outcomes)
    confidence = scenario.release.confidence
    first = solve_once(problem)
    engine_later = later if scenario.release.later_harm == "withhold" else {}
    released = {
        "engine": release(
            problem, first, outcomes, weeks, solve_once, confidence=confidence, later=engine_later
        ),
        "no later look": release(
            problem, first, outcomes, weeks, solve_once, confidence=confidence
        ),
        "longest window": release(
            problem, first, longest, longest_weeks, solve_once, confidence=confidence
        ),
    }
    before, before_rounds = all_at_once(problem, solve_once, outcomes, confidence)
    plans = {name: _plan(solution, problem) for name, (solution, _) in released.items()}
    plans["all at once"] = _plan(before, problem)
    evaluator = Evaluator(
        truth,
        problem,
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
        replications=8,
    )
    results = evaluator.realised(plans)
    return {
        "run": run.path.name,
        "outcome_weeks": weeks,
        "longest_window": longest_weeks,
        "rules": {
            name: {
                "gain": results[name].gain,
                "gain_ci": list(results[name].gain_ci),
                "contacts": int((plan > 0).sum()),
            }
            for name, plan in plans.items()
        },
        "reports": {name: report.to_dict() for name, (_, report) in released.items()},
        "all_at_once_rounds": before_rounds,
    }


def _show(result: dict[str, object]) -> None:
    for name, figures in result.get("rules", {}).items():
        low, high = figures["gain_ci"]
        print(
            f"{result['run']}  {name:14s} gain {figures['gain']:,.0f} [{low:,.0f}, "
            f"{high:,.0f}]  contacts {figures['contacts']:,}",
            flush=True,
        )


def main() -> None:
    over_run_pairs(__doc__.splitlines()[0], replay, _show)


if __name__ == "__main__":
    main()
