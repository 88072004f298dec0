"""Where the baseline forecast stage's time goes: what is trained once and what is per customer.

    python bench/forecast_stage.py --data /tmp/scale/data_1000000 \
        --json bench/results/forecast_stage_1000000.json

On a demo shop's files (`ltv data demo`), as the weekly batch does it: read and validate,
store in DuckDB, fit the baseline forecaster (its own `fit_seconds_`: the purchase summary, BG/NBD
and Gamma-Gamma, the campaign log sample's features, the T-learner; the rest of `fit` is the
current features, effects and affinity of every customer), score (`forecast()`: the [N, A, H]
arrays) and backtest BG/NBD over the last 13 weeks (a fit and a scoring of its own). What a
sharded forecast stage would spread over workers is the per-customer part; training on the
log's sample (at most `forecasting.features.MAX_LOG_ROWS` rows) stays on one machine whatever
N is. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from engine.pipeline import BACKTEST_WEEKS
from forecasting.backtest import run_backtest
from forecasting.baseline import BaselineForecaster
from shopdata.actions import DEMO_ACTIONS
from shopdata.store import Store
from shopdata.validation import load_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    as_of = pd.Timestamp(args.as_of)
    seconds: dict[str, object] = {}
    started = time.perf_counter()
    tables = load_inputs(args.data, as_of=args.as_of, action_ids=[a.id for a in DEMO_ACTIONS])
    seconds["read_and_validate"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        Store.create(tables, Path(folder) / "inputs.duckdb").close()
        seconds["ingest"] = time.perf_counter() - started
        del tables
        with Store.open(Path(folder) / "inputs.duckdb") as store:
            forecaster = BaselineForecaster(horizon_weeks=12, device="cpu")
            started = time.perf_counter()
            forecaster.fit(store, as_of)
            seconds["fit"] = time.perf_counter() - started
            parts = dict(forecaster.fit_seconds_)
            parts["customers_features_effects_affinity"] = seconds["fit"] - sum(parts.values())
            seconds["fit_parts"] = parts
            started = time.perf_counter()
            forecast = forecaster.forecast()
            seconds["score"] = time.perf_counter() - started
            started = time.perf_counter()
            run_backtest(
                store,
                calibration_end=as_of - pd.Timedelta(weeks=BACKTEST_WEEKS),
                holdout_weeks=BACKTEST_WEEKS,
                model="bgnbd",
                device="cpu",
                seed=0,
            )
            seconds["backtest"] = time.perf_counter() - started
    # Trained once on the log's capped sample, whatever N is (the summary query and BG/NBD's fit
    # read every customer today).
    trained = parts.get("campaign_features", 0.0) + parts.get("effects", 0.0)
    figures = {
        "command": f"python bench/forecast_stage.py --data {args.data} --json {args.json}",
        "customers": int(forecast.shape[0]),
        "seconds": seconds,
        "trained_once_seconds": trained,
        "per_customer_seconds": parts["customers_features_effects_affinity"] + seconds["score"],
        "machine": platform.platform(),
    }
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
