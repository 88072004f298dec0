"""Do review-text embeddings help the deep purchase forecast? The same backtest with and without.

    python bench/review_ablation.py --data demo/data --json bench/results/review_ablation.json

Fits the deep model on the demo shop up to `--holdout-weeks` before its last transaction, with
and without the MiniLM review features, over several seeds (the seed-to-seed spread is the
yardstick a difference must beat), and scores the holdout per customer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.backtest import run_backtest
from shopdata.actions import DEMO_ACTIONS, contact_action_ids
from shopdata.store import Store
from shopdata.validation import load_inputs

FIGURES = ("mae", "median_mae", "predicted_total", "actual_total", "spend_gini", "spearman")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("demo/data"))
    parser.add_argument("--model", default="ziln", choices=["ziln", "sequence"])
    parser.add_argument("--holdout-weeks", type=int, default=13)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--review-cache", type=Path, default=Path("demo/review_embeddings.duckdb"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tables = load_inputs(args.data, action_ids=[a.id for a in DEMO_ACTIONS])
    last = pd.Timestamp(tables.transactions["ts"].max())
    calibration_end = last - pd.Timedelta(weeks=args.holdout_weeks)
    runs: dict[str, list[dict[str, float]]] = {"with_reviews": [], "without_reviews": []}
    with Store.create(tables) as store:
        for seed in range(args.seeds):
            for name, use_reviews in (("with_reviews", True), ("without_reviews", False)):
                report = run_backtest(
                    store,
                    calibration_end=calibration_end,
                    holdout_weeks=args.holdout_weeks,
                    model=args.model,
                    seed=seed,
                    deep_options={
                        "use_reviews": use_reviews,
                        "review_cache": args.review_cache,
                        "contact_actions": contact_action_ids(DEMO_ACTIONS),
                    },
                ).to_dict()
                row = {k: report[k] for k in FIGURES} | {"ece": report["reliability"]["ece"]}
                runs[name].append(row)
                print(
                    f"seed {seed} {name:>15}: MAE {row['mae']:.4f}  median MAE "
                    f"{row['median_mae']:.4f}  total {row['predicted_total']:,.0f} of "
                    f"{row['actual_total']:,.0f}  Gini {row['spend_gini']:.4f}  "
                    f"ECE {row['ece']:.5f}"
                )
    summary = {
        name: {
            key: {
                "mean": float(np.mean([r[key] for r in rows])),
                "sd": float(np.std([r[key] for r in rows])),
            }
            for key in (*FIGURES, "ece")
        }
        for name, rows in runs.items()
    }
    for key in ("mae", "median_mae", "spend_gini", "ece"):
        with_, without = summary["with_reviews"][key], summary["without_reviews"][key]
        print(
            f"{key:>11}: with {with_['mean']:.4f} (sd {with_['sd']:.4f})  "
            f"without {without['mean']:.4f} (sd {without['sd']:.4f})"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": args.model,
            "calibration_end": f"{calibration_end:%Y-%m-%d}",
            "holdout_weeks": args.holdout_weeks,
            "runs": runs,
            "summary": summary,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
