"""Effects learned from a log whose propensities were dropped (as CRM exports drop them):
estimated from the features (forecasting/propensity.py) against each action's share of the
log (the rule before), both against the effects the logged propensities give.

    python bench/unlogged_propensities.py --customers 6000 \
        --json bench/results/unlogged_propensities.json

The demo market's log is stratified: repeat buyers are contacted more often than newcomers
(none's propensity 0.55 against 0.80), a targeting the learners' features explain. The baseline
forecaster's T-learner is fitted three times on the same data; the figures are the
population-mean purchase-logit shift and future-spend delta per action, and the summed absolute
difference from the logged run. Measures; asserts nothing (a test on the 1,500-customer shop
was left out: there the networks' training noise is as large as the difference).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

import forecasting.uplift as uplift
from forecasting.baseline import BaselineForecaster
from markets.demo.config import MarketConfig
from markets.demo.files import write_market
from markets.demo.history import generate_market
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import InputTables, load_inputs

AS_OF = pd.Timestamp("2026-11-23")


def _mean_effects(tables: InputTables) -> np.ndarray:
    with Store.create(tables) as store:
        forecaster = BaselineForecaster(horizon_weeks=4, device="cpu", seed=3)
        effects = forecaster.fit(store, horizon_start(AS_OF)).effects_
    return np.r_[effects.purchase_logit_shift.mean(axis=0), effects.future_spend_delta.mean(axis=0)]


def _shares(features, action, propensity, n_actions, seed=0):  # the rule before
    return (np.bincount(action, minlength=n_actions) / len(action))[action]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = MarketConfig(
            customers=args.customers, weeks=60, seed=args.seed, as_of=AS_OF, campaign_weeks=20
        )
        data = write_market(generate_market(config), Path(folder) / "data")
        tables = load_inputs(data, as_of=AS_OF, action_ids=[a.id for a in DEMO_ACTIONS])
    unlogged = dataclasses.replace(
        tables, campaign_log=tables.campaign_log.assign(propensity=np.nan)
    )
    logged = _mean_effects(tables)
    estimated = _mean_effects(unlogged)
    with mock.patch.object(uplift, "fill_propensities", _shares):
        shares = _mean_effects(unlogged)
    actions = [a.id for a in DEMO_ACTIONS]
    a = len(actions)

    def described(values: np.ndarray) -> dict[str, object]:
        return {
            "purchase_logit_shift": dict(
                zip(actions, np.round(values[:a], 4).tolist(), strict=True)
            ),
            "future_spend_delta": dict(zip(actions, np.round(values[a:], 4).tolist(), strict=True)),
            "abs_difference_from_logged": {
                "shift": round(float(np.abs(values[:a] - logged[:a]).sum()), 4),
                "future": round(float(np.abs(values[a:] - logged[a:]).sum()), 4),
            },
        }

    figures = {
        "command": f"python bench/unlogged_propensities.py --customers {args.customers} "
        f"--seed {args.seed} --json {args.json}",
        "customers": args.customers,
        "logged": described(logged),
        "estimated": described(estimated),
        "shares": described(shares),
    }
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
