"""How much of a forecaster's evaluation is its seed: the weekly run and `ltv evaluate` per seed.

    python bench/evaluate_seeds.py scenarios/base.yaml scenarios/base_deep.yaml --seeds 0 1 2 \
        --data demo/data --as-of 2026-11-23 --json bench/results/evaluate_seeds.json
    python bench/evaluate_seeds.py scenarios/black_friday.yaml scenarios/tight_budget.yaml \
        --models baseline ziln --seeds 0 --json bench/results/evaluate_scenarios.json

Each scenario is rewritten with `forecast.seed` set (and the seed in its name, so every seed is
its own run folder), and with `--models`, once per forecaster (`forecast.model`, the model in
its name), run with `ltv weekly`, and replayed in the demo market's ground truth. The figure per
run is the engine's paired gain over doing nothing, against the oracle's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from forecasting.model_kinds import FORECASTERS


def _ltv(*arguments: str) -> str:
    executable = Path(sys.executable).with_name("ltv")
    completed = subprocess.run(
        [str(executable), *arguments], check=True, capture_output=True, text=True
    )
    return completed.stdout


def main() -> None:
    today = pd.Timestamp.today().normalize()
    this_monday = today - pd.Timedelta(days=today.day_of_week)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--models",
        nargs="+",
        choices=FORECASTERS,
        help="run each scenario with each of these forecasters (default: the scenario's own)",
    )
    parser.add_argument("--data", type=Path, default=Path("demo/data"))
    parser.add_argument(
        "--as-of",
        default=f"{this_monday:%Y-%m-%d}",
        help="the planning week (default: this week's Monday, as make demo uses)",
    )
    parser.add_argument("--runs-dir", type=Path, default=Path("demo/runs"))
    parser.add_argument(
        "--force", action="store_true", help="redo runs that exist (after a code change)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for path, model in itertools.product(args.scenarios, args.models or [None]):
            spec = yaml.safe_load(path.read_text())
            if model is not None:
                spec["name"] = f"{spec['name']}_{model}"
                spec["forecast"] = {**spec.get("forecast", {}), "model": model}
            rows = results.setdefault(spec["name"], [])
            for seed in args.seeds:
                variant = dict(spec)
                variant["forecast"] = {**spec.get("forecast", {}), "seed": seed}
                if seed:
                    variant["name"] = f"{spec['name']}_seed{seed}"
                scenario = Path(folder) / f"{variant['name']}.yaml"
                scenario.write_text(yaml.safe_dump(variant, sort_keys=False))
                run = (
                    _ltv(
                        "weekly",
                        "--scenario",
                        str(scenario),
                        "--as-of",
                        args.as_of,
                        "--data",
                        str(args.data),
                        "--runs-dir",
                        str(args.runs_dir),
                        *(["--force"] if args.force else []),
                    )
                    .strip()
                    .splitlines()[-1]
                )
                figures_path = Path(folder) / f"{variant['name']}.json"
                _ltv("evaluate", run, "--data", str(args.data), "--json", str(figures_path))
                figures = json.loads(figures_path.read_text())
                row = {
                    "seed": seed,
                    "run": run,
                    "engine_gain": figures["policies"]["engine"]["gain"],
                    "engine_gain_ci": figures["policies"]["engine"]["gain_ci"],
                    "oracle_gain": figures["policies"]["oracle"]["gain"],
                    "capture": figures["engine_capture_of_oracle_gain"],
                    "oracle_beaten_by": figures["oracle_beaten_by"],
                    "budget_used": figures["policies"]["engine"]["budget_used"],
                }
                rows.append(row)
                low, high = row["engine_gain_ci"]
                print(
                    f"{spec['name']:>14} seed {seed}: engine gain {row['engine_gain']:,.0f} "
                    f"[{low:,.0f}, {high:,.0f}] against none, oracle {row['oracle_gain']:,.0f}, "
                    f"budget used {row['budget_used']:,.0f}"
                )
    summary = {
        name: {
            "engine_gain_mean": float(np.mean([r["engine_gain"] for r in rows])),
            "oracle_gain_mean": float(np.mean([r["oracle_gain"] for r in rows])),
            "seeds_below_none": int(sum(r["engine_gain_ci"][1] < 0 for r in rows)),
        }
        for name, rows in results.items()
    }
    for name, figures in summary.items():
        print(
            f"{name:>14}: mean gain {figures['engine_gain_mean']:,.0f} against none (oracle "
            f"{figures['oracle_gain_mean']:,.0f}); below none beyond noise in "
            f"{figures['seeds_below_none']} of {len(results[name])} seeds"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": results, "summary": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
