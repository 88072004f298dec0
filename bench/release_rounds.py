"""The release check's rounds against the rule they replaced, replayed on runs' own problems.

For each run folder (a weekly run on a demo market, `ltv data demo`), the run's problem is
solved again with the run's solver settings and released through the check on the run's own
campaign log and outcome window, under two rules (engine/release_gate.py):

- `rounds` (the engine's): each round's step-down at (1 - confidence) / R, R the actions
  eligible for anyone; where no action of a round passes, only the weakest is withheld;
- `all at once` (the rule before): each round at the full confidence, every failing action
  withheld together, at most six rounds;

and each released plan is replayed in the market's truth, paired with doing nothing
(engine/evaluation.py). Prints, per run and rule, the gain with its 95 % interval and the
contacts; the JSON adds the rounds' release report and the previous rule's checks per round.
Usage:

    python bench/release_rounds.py RUN:DATA [RUN:DATA ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.evaluation import Evaluator
from engine.release_gate import (
    LoggedOutcomes,
    check_plan,
    release,
    store_outcomes,
    without_actions,
)
from engine.run_reader import RunFolder
from markets.demo.ground_truth import GroundTruth
from optimization.problem import DecisionProblem
from optimization.solution import Solution
from optimization.solve import solve
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
    settings = scenario.solver.settings()
    shown: list = []

    def solve_once(candidate: DecisionProblem) -> Solution:
        solution = solve(
            candidate, scenario.solver.backend, settings, recommended=shown[0] if shown else None
        )
        if not shown and solution.recommended is not None:
            shown.append(solution.recommended)
        return solution

    with Store.open(run.path / "inputs.duckdb") as store:
        found = store_outcomes(
            store,
            scenario.catalogue(),
            scenario.gross_margin,
            horizon_start(truth.config.as_of),
            longest=scenario.release.outcome_weeks,
        )
    if found is None:
        return {"run": run.path.name, "note": "the log observes too few outcomes"}
    outcomes, weeks = found
    confidence = scenario.release.confidence
    first = solve_once(problem)
    engine, report = release(problem, first, outcomes, weeks, solve_once, confidence=confidence)
    before, before_rounds = all_at_once(problem, solve_once, outcomes, confidence)
    plans = {
        "rounds": _plan(engine, problem),
        "all at once": _plan(before, problem),
    }
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
        "rules": {
            name: {
                "gain": results[name].gain,
                "gain_ci": list(results[name].gain_ci),
                "contacts": int((plan > 0).sum()),
            }
            for name, plan in plans.items()
        },
        "rounds_report": report.to_dict(),
        "all_at_once_rounds": before_rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN:DATA pairs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    found = []
    for pair in args.runs:
        run, data = pair.split(":")
        result = replay(Path(run), Path(data))
        found.append(result)
        for name, figures in result.get("rules", {}).items():
            low, high = figures["gain_ci"]
            print(
                f"{result['run']}  {name:12s} gain {figures['gain']:,.0f} [{low:,.0f}, "
                f"{high:,.0f}]  contacts {figures['contacts']:,}",
                flush=True,
            )
    if args.json:
        args.json.write_text(
            json.dumps({"command": "python " + " ".join(sys.argv), "results": found}, indent=1)
        )


if __name__ == "__main__":
    main()
