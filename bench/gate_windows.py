"""What the release check's outcome window buys and costs: a plan's gains per contact on its log,
read over every window.

    python bench/gate_windows.py RUN [RUN ...] --windows 1,4,8,12,26 \
        --json bench/results/gate_windows.json --markdown bench/results/gate_windows.md

For each run folder (a weekly run of bench/evaluate_presets.py, best one released unchecked,
`--no-release-check`, so that its plan uses every action the forecaster chose) and each outcome
window (`--windows`, default those of engine/release_gate.OUTCOME_WEEKS the log observes), the
log's rows with that window observed are scored as the release check scores them
(cross-fitted doubly robust, `LoggedOutcomes`), and each action of the plan gets its gain per
contact for the customers the plan gives it to, with its standard error (clustered by
customer) and z. A short window is less noisy and observed by more logged weeks; a long one
sees harm that comes later. Nothing is asserted: the figures are the result (docs/planner.md,
"Capping the window").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from engine.off_policy import logged_examples
from engine.release_gate import OUTCOME_WEEKS, logged_outcomes, observable_windows
from engine.scenario import Scenario
from shopdata.calendar import horizon_start
from shopdata.store import Store


def _run(run: Path, as_of: pd.Timestamp, windows: list[int] | None) -> list[dict[str, object]]:
    scenario = Scenario.model_validate(yaml.safe_load((run / "scenario.yaml").read_text()))
    actions = scenario.catalogue()
    allocation = pd.read_parquet(run / "allocation.parquet", columns=["customer_id", "action"])
    planned = {a: allocation["action"] == action.id for a, action in enumerate(actions) if a > 0}
    targets = {  # action index -> (its customers, its contacts)
        a: (allocation.loc[mask, "customer_id"].astype(str).unique(), int(mask.sum()))
        for a, mask in planned.items()
        if mask.any()
    }
    rows: list[dict[str, object]] = []
    week = horizon_start(as_of)
    with Store.open(run / "inputs.duckdb") as store:
        for weeks in sorted(windows or observable_windows(store, week)):
            found_window = logged_outcomes(
                lambda k: logged_examples(store, actions, k, week),
                actions,
                scenario.gross_margin,
                (weeks,),
            )
            if found_window is None:
                print(f"{run.name}: {weeks} weeks: too few logged weeks observed")
                continue
            outcomes = found_window[0]
            for a, (customers, contacts) in targets.items():
                found = outcomes.gain(a, customers)
                row: dict[str, object] = {
                    "run": run.name,
                    "outcome_weeks": weeks,
                    "logged_rows": len(outcomes),
                    "action": actions[a].id,
                    "contacts": contacts,
                }
                if isinstance(found, str):
                    row["note"] = found
                else:
                    mean, se, used, where = found
                    row.update(gain=mean, se=se, z=mean / se if se > 0 else None, rows=used)
                    row["where"] = where
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| run | window | logged rows | action | contacts | gain per contact +- se | z |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        figure = (
            f"{r['gain']:.3f} +- {r['se']:.3f} | {r['z']:.2f}" if "gain" in r else f"{r['note']} |"
        )
        lines.append(
            f"| {r['run']} | {int(r['outcome_weeks']) + 1} weeks | {r['logged_rows']:,} "  # type: ignore[call-overload]
            f"| {r['action']} | {r['contacts']:,} | {figure} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--as-of", default="2026-11-30", help="the runs' as-of date")
    parser.add_argument(
        "--windows",
        type=lambda text: [int(k) for k in text.split(",")],
        help="outcome windows K, comma-separated (weeks after the contact's; default: those of "
        "OUTCOME_WEEKS the log observes), shorter ones than the check offers included",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    as_of = pd.Timestamp(args.as_of)
    rows = [row for run in args.runs for row in _run(run, as_of, args.windows)]
    if args.json is not None:
        command = " ".join(["python", *sys.argv])
        payload = {"command": command, "windows": list(OUTCOME_WEEKS), "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(_markdown(rows))


if __name__ == "__main__":
    main()
