"""Customers per second for training and inference of the deep purchase models.

    python bench/forecast_throughput.py --data demo/data \
        --json bench/results/forecast_throughput.json

Training: customers in the panel / wall time of `fit` (panel, anchors with their BG/NBD priors,
network); also examples per second of the network alone. Inference: customers / wall time of
`predict` for a 12-week horizon. Device: CUDA when present (`--device`), else CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from forecasting.deep_purchases import DeepPurchaseModel
from shopdata.actions import DEMO_ACTIONS, contact_action_ids
from shopdata.store import Store
from shopdata.validation import load_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("demo/data"))
    parser.add_argument("--models", nargs="+", default=["ziln", "sequence"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--max-examples",
        type=lambda text: text if text == "auto" else int(text),
        default="auto",
        help="training examples; 'auto' is the model's default (50k for the transformer on CPU)",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    tables = load_inputs(args.data, action_ids=[a.id for a in DEMO_ACTIONS])
    as_of = pd.Timestamp(tables.transactions["ts"].max())
    results = []
    with Store.create(tables) as store:
        for kind in args.models:
            started = time.perf_counter()
            model = DeepPurchaseModel(
                kind=kind,
                epochs=args.epochs,
                max_examples=args.max_examples,
                contact_actions=contact_action_ids(DEMO_ACTIONS),
                device=args.device,
            ).fit(store, as_of)
            fit_seconds = time.perf_counter() - started
            model.predict(12)
            customers = len(model.panel_)
            row = {
                "model": kind,
                "device": str(model.device_),
                "customers": customers,
                "training_examples": model.training_examples_,
                "epochs": args.epochs,
                "fit_seconds": fit_seconds,
                "timings": model.timings_,
                "train_customers_per_s": customers / fit_seconds,
                "train_examples_per_s": model.training_examples_
                * args.epochs
                / model.timings_["train"],
                "inference_customers_per_s": customers / model.timings_["predict"],
            }
            results.append(row)
            print(
                f"{kind:>9} on {row['device']}: fit {fit_seconds:.1f} s "
                f"({row['train_customers_per_s']:,.0f} customers/s, "
                f"{row['train_examples_per_s']:,.0f} examples/s in the network), "
                f"inference {row['inference_customers_per_s']:,.0f} customers/s"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": results,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.platform(),
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
