"""Can the campaign log confirm the oracle's own plan? The release check's power on a demo market.

    python bench/gate_power.py --work demo/presets --presets retention mixed --seeds 0 1 2 \
        --model baseline --json bench/results/gate_power.json \
        --markdown bench/results/gate_power.md

For each run that bench/evaluate_presets.py made in `--work` (a preset market with its ground
truth; the latest run of each preset, seed and forecaster) the oracle's plan
(engine/evaluation.py: the allocation MIP fed every customer's true value of every single
action in every week) is put through the release check that every engine plan passes
(engine/release_gate.py), on the same log and the same outcome window. Per action the oracle
uses: its contacts, the value per contact it planned with (the mean of the true single-action
values of its contacts; picking the best of noisy replays inflates it, so the replayed gain
below is the figure to trust), the log's doubly robust estimate with its Bonferroni-corrected
one-sided lower bound, and the bound's half-width (the smallest gain per contact the log could
confirm). Then the oracle's plan is replayed in the truth as released and as checked, paired
with no action.

Where the oracle's plan does not pass, no plan that the log must confirm can capture its gain:
the release check and the capture figure ask for incompatible things on that market and log.
Nothing is asserted: the figures are the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pandas as pd
import scipy.stats as stats
import yaml

from engine.evaluation import Evaluator, oracle_plan
from engine.release_gate import check_plan, store_outcomes
from engine.scenario import Scenario
from markets.demo.ground_truth import FILE_NAME, GroundTruth
from optimization.problem import DecisionProblem
from optimization.settings import SolveSettings
from shopdata.store import Store


def _cell(run: Path, data: Path, as_of: pd.Timestamp, replications: int) -> dict[str, object]:
    scenario = Scenario.model_validate(yaml.safe_load((run / "scenario.yaml").read_text()))
    problem = DecisionProblem.load(run)
    evaluator = Evaluator(
        GroundTruth.load(data / FILE_NAME),
        problem,
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
        replications=replications,
    )
    settings = SolveSettings(time_limit_s=120)
    true_problem = evaluator.true_problem()
    plan = oracle_plan(evaluator, settings)
    with Store.open(run / "inputs.duckdb") as store:
        found = store_outcomes(store, scenario.catalogue(), scenario.gross_margin, as_of)
    if found is None:
        return {"run": str(run), "note": "the log observes too few outcomes to check anything"}
    outcomes, weeks = found
    confidence = scenario.release.confidence
    checks = check_plan(true_problem, plan, outcomes, confidence)
    z = float(stats.norm.ppf(1.0 - (1.0 - confidence) / max(len(checks), 1)))
    released = plan.copy()
    for check in checks:
        if not check.released:
            released[released == list(problem.action_ids).index(check.action)] = 0
    results = evaluator.realised({"oracle": plan, "oracle_as_checked": released})
    return {
        "run": str(run),
        "outcome_weeks": weeks,
        "confidence": confidence,
        "bonferroni_z": z,
        "oracle_gain": results["oracle"].gain,
        "oracle_gain_ci": list(results["oracle"].gain_ci),
        "oracle_as_checked_gain": results["oracle_as_checked"].gain,
        "oracle_as_checked_gain_ci": list(results["oracle_as_checked"].gain_ci),
        "checks": [
            {
                **dataclasses.asdict(c),
                "planned_value_per_contact": c.predicted_gain,
                "half_width": None if c.estimate is None else c.estimate - c.low,
            }
            for c in checks
        ],
    }


def _markdown(cells: list[dict[str, object]]) -> str:
    lines = [
        "| run | window | action | contacts | value planned / contact | log estimate [one-sided "
        "bound, upper] | smallest confirmable gain / contact | released |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cell in cells:
        name = Path(str(cell["run"])).name.split("-")[0]
        for c in cell.get("checks", []):
            estimate = (
                "cannot be estimated"
                if c["estimate"] is None
                else f"{c['estimate']:,.3f} [{c['low']:,.3f}, {c['high']:,.3f}]"
            )
            width = "-" if c["half_width"] is None else f"{c['half_width']:,.3f}"
            lines.append(
                f"| {name} | {cell['outcome_weeks'] + 1} weeks | {c['action']} "
                f"| {c['contacts']:,} | {c['planned_value_per_contact']:,.3f} | {estimate} "
                f"| {width} | {'yes' if c['released'] else 'no'} |"
            )
        if "oracle_gain" in cell:
            lines.append(
                f"| {name} | | **oracle plan replayed** | | "
                f"{cell['oracle_gain']:,.0f} [{cell['oracle_gain_ci'][0]:,.0f}, "
                f"{cell['oracle_gain_ci'][1]:,.0f}] | as checked: "
                f"{cell['oracle_as_checked_gain']:,.0f} | | |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("demo/presets"))
    parser.add_argument("--presets", nargs="+", default=["retention", "mixed"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--model", default="baseline")
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    cells = []
    for preset in args.presets:
        for seed in args.seeds:
            runs = sorted(
                (args.work / "runs").glob(f"{preset}_{seed}_{args.model}-*"),
                key=lambda path: path.stat().st_mtime,
            )
            if not runs:
                print(f"no run of {preset} seed {seed} ({args.model}) in {args.work / 'runs'}")
                continue
            data = args.work / f"{preset}_{seed}" / "data"
            cells.append(_cell(runs[-1], data, pd.Timestamp(args.as_of), args.replications))
            print(_markdown(cells[-1:]), flush=True)
    if args.json is not None:
        command = " ".join(["python", *sys.argv])
        args.json.write_text(json.dumps({"command": command, "cells": cells}, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(_markdown(cells))


if __name__ == "__main__":
    main()
