"""Would a narrower target group let the release check confirm more? The halves of each action's
target group, on the log and in the truth.

    python bench/target_halves.py RUN:DATA [RUN:DATA ...] [--json OUT]

For each run folder (a weekly run on a demo market, `ltv data demo`) and each action of its
catalogue, the run's problem is solved with that action alone eligible (the plan the release
rounds end with where one action is left), and its target customers are ranked by the gain the
forecaster predicts for them (the best week's value of the action over none). For the whole
group, its top and bottom halves and its top quarter: the log's doubly robust gain per contact
over the check's window (engine/release_gate.py, the run's scenario) with its standard error and
the estimate in standard errors (what the check compares with its critical value: 2.33 for a
round at 1 %, 2.58 at 0.5 %); then the plan replayed in the market's truth as solved, with the
action kept for the top half only and for the bottom half only, each paired with doing nothing
(engine/evaluation.py). Nothing is asserted: the figures are the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from run_pairs import over_run_pairs

from engine.evaluation import Evaluator
from engine.plan_release import scenario_solver
from engine.release_gate import store_windows, without_actions
from engine.run_reader import RunFolder
from markets.demo.ground_truth import GroundTruth
from shopdata.calendar import horizon_start
from shopdata.store import Store

GROUPS = {
    "whole": (0.0, 1.0),
    "top half": (0.0, 0.5),
    "bottom half": (0.5, 1.0),
    "top quarter": (0.0, 0.25),
}


def replay(run_path: Path, data: Path) -> dict[str, object]:
    run = RunFolder(run_path)
    scenario, problem = run.settings, run.problem()
    truth = GroundTruth.load(data / "ground_truth.npz")
    with Store.open(run.path / "inputs.duckdb") as store:
        found = store_windows(
            store,
            scenario.catalogue(),
            scenario.gross_margin,
            horizon_start(truth.config.as_of),
            longest=scenario.release.outcome_weeks,
        )
    if found is None:
        return {"run": run.path.name, "note": "the log observes too few outcomes"}
    outcomes, weeks, _ = found
    evaluator = Evaluator(
        truth,
        problem,
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
        replications=8,
    )
    # the run's solver, the recommendation block solved once for every action's plan
    solve_once = scenario_solver(scenario, None, scenario.solver.settings(), {})
    ids = [str(a) for a in problem.action_ids]
    customers = problem.customer_ids.astype(str)
    actions = {}
    for a in range(1, len(ids)):
        alone = without_actions(problem, [x for x in ids[1:] if x != ids[a]])
        solution = solve_once(alone)
        if not solution.has_plan or not (solution.plan() == a).any():
            continue
        plan = solution.plan()
        targets = np.flatnonzero((plan == a).any(axis=1))
        predicted = (problem.value[targets, a, :] - problem.value[targets, 0, :]).max(axis=1)
        ranked = targets[np.argsort(-predicted, kind="stable")]
        groups = {}
        for name, (start, stop) in GROUPS.items():
            chosen = ranked[int(start * len(ranked)) : int(stop * len(ranked))]
            gain = outcomes.gain(a, customers[chosen])
            groups[name] = (
                {"customers": len(chosen), "note": gain}
                if isinstance(gain, str)
                else {
                    "customers": len(chosen),
                    "estimate": gain[0],
                    "standard_error": gain[1],
                    "in_standard_errors": gain[0] / gain[1] if gain[1] > 0 else None,
                    "where": gain[3],
                }
            )
        half = len(ranked) // 2
        plans = {"as solved": plan}
        for name, dropped in (
            ("top half only", ranked[half:]),
            ("bottom half only", ranked[:half]),
        ):
            kept = plan.copy()
            kept[dropped] = 0
            plans[name] = kept
        truth_gains = {
            name: {
                "gain": r.gain,
                "gain_ci": list(r.gain_ci),
                "contacts": int((plans[name] > 0).sum()),
            }
            for name, r in evaluator.realised(plans).items()
        }
        actions[ids[a]] = {"log": groups, "truth": truth_gains}
    return {"run": run.path.name, "outcome_weeks": weeks, "actions": actions}


def _show(result: dict[str, object]) -> None:
    for action, figures in result.get("actions", {}).items():
        log = ", ".join(
            f"{name} {g['estimate']:+.3f} ({g['in_standard_errors']:.2f} se)"
            if "estimate" in g
            else f"{name} -"
            for name, g in figures["log"].items()
        )
        truth = ", ".join(
            f"{name} {t['gain']:,.0f} [{t['gain_ci'][0]:,.0f}, {t['gain_ci'][1]:,.0f}]"
            for name, t in figures["truth"].items()
        )
        print(f"{result['run']}  {action}: log {log}; truth {truth}", flush=True)


def main() -> None:
    over_run_pairs(__doc__.splitlines()[0], replay, _show)


if __name__ == "__main__":
    main()
