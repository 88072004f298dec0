"""What one send of each action does in a demo market's truth, measured as shops read their
tests: over the two weeks from the send, among the customers who bought in the last year.

    python bench/demo_calibration.py --customers 20000 --seed 7 \
        --json bench/results/demo_calibration.json

Each action is sent to every such customer in the as-of week and replayed against sending
nothing on the same random numbers (20 replications): the share who buy in the two weeks
(conversion), the spend per recipient, and the difference to no contact, overall and per
region. Published randomised e-mail tests to compare with (Hillstrom's MineThatData test,
64,000 customers who bought in the last year, two weeks): conversion 0.57 % without e-mail,
1.07 % and 1.25 % with the two versions; spend 0.65, 1.08 and 1.42 per recipient; each version
better for its own segment. Nothing is asserted: the figures are the result.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from markets.demo.config import MarketConfig
from markets.demo.ground_truth import GroundTruth
from markets.demo.history import generate_market
from markets.demo.population import REGIONS


def measure(truth: GroundTruth, rows: np.ndarray, replications: int) -> dict[str, object]:
    """Per action: conversion and spend per recipient over two weeks, overall and per region,
    and each's difference to no contact (paired on the replications' random numbers)."""
    actions = [a.id for a in truth.config.actions]
    region = truth.population.region[rows]
    found: dict[str, dict[str, np.ndarray]] = {}
    for index, name in enumerate(actions):
        conversion, spend = [], []
        for seed in range(replications):
            plan = np.zeros((len(truth.customer_ids), 2), np.int64)
            plan[rows, 0] = index
            replay = truth.replay(plan, seed=seed)
            conversion.append(replay.purchased[rows].any(axis=1))
            spend.append(replay.spend[rows].sum(axis=1))
        found[name] = {"conversion": np.mean(conversion, axis=0), "spend": np.mean(spend, axis=0)}
    result: dict[str, object] = {}
    for name in actions:
        lift = found[name]["spend"] - found["none"]["spend"]
        result[name] = {
            "conversion": float(found[name]["conversion"].mean()),
            "spend_per_recipient": float(found[name]["spend"].mean()),
            "added_spend_per_recipient": float(lift.mean()),
            "added_spend_by_region": {
                str(r): float(lift[region == i].mean()) for i, r in enumerate(REGIONS)
            },
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    config = (
        MarketConfig(customers=args.customers, seed=args.seed)
        if args.preset is None
        else MarketConfig.from_preset(args.preset, customers=args.customers, seed=args.seed)
    )
    market = generate_market(config)
    last = market.transactions.groupby("customer_id")["ts"].max()
    recent = last[last >= config.as_of - pd.Timedelta(weeks=52)].index
    rows = np.flatnonzero(np.isin(market.customer_ids, recent))
    figures = measure(GroundTruth.of(market), rows, args.replications)
    print(f"{len(rows):,} of {config.customers:,} customers bought in the last year")
    for name, row in figures.items():
        regions = ", ".join(f"{r} {v:+.2f}" for r, v in row["added_spend_by_region"].items())
        print(
            f"{name:14s} conversion {row['conversion']:.2%}  spend {row['spend_per_recipient']:.3f}"
            f"  added {row['added_spend_per_recipient']:+.3f} ({regions})"
        )
    if args.json is not None:
        command = " ".join(["python", *sys.argv])
        found = {"command": command, "recipients": len(rows), "actions": figures}
        args.json.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    main()
