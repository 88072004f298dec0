"""Where the baseline forecast stage's time goes: what is trained once and what is per customer.

    python bench/forecast_stage.py --data /tmp/scale/data_1000000 \
        --json bench/results/forecast_stage_1000000.json

On a demo shop's files (`ltv data demo`), as the weekly batch does it: read and validate,
store in DuckDB, fit the baseline forecaster (its own `fit_seconds_`: the purchase summary, BG/NBD
and Gamma-Gamma, the campaign log sample's features, the T-learner; the rest of `fit` is the
current features, effects and affinity of every customer), score (`forecast()`: the [N, A, H]
arrays) and backtest BG/NBD over the last 13 weeks (a fit and a scoring of its own). What the
sharded forecast stage spreads over workers is the per-customer part; training on the
log's sample (at most `forecasting.features.MAX_LOG_ROWS` rows) stays on one machine whatever
N is. `--engine ray --shards K` fits the models alone and scores the customers on K Ray
actors (engine/forecast_shards.py); `--compare` also scores them in one process and reports
the largest difference. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine.forecast_shards import forecast_in_shards
from engine.forecast_stage import BACKTEST_WEEKS
from forecasting.backtest import run_backtest
from forecasting.baseline import BaselineForecaster
from optimization.ray_groups import start_ray
from shopdata.actions import DEMO_ACTIONS
from shopdata.store import Store
from shopdata.validation import load_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument(
        "--compare", action="store_true", help="also score in one process and report the difference"
    )
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
        path = Path(folder) / "inputs.duckdb"
        with Store.open(path) as store:
            forecaster = BaselineForecaster(horizon_weeks=12, device="cpu")
            started = time.perf_counter()
            forecaster.fit(store, as_of, score=args.engine == "local")
            seconds["fit"] = time.perf_counter() - started
            parts = dict(forecaster.fit_seconds_)
            parts["customers_features_effects_affinity"] = seconds["fit"] - sum(parts.values())
            seconds["fit_parts"] = parts
            started = time.perf_counter()
            if args.engine == "local":
                forecast = forecaster.forecast()
            else:
                start_ray(cpus=os.cpu_count())
                seconds["ray_start"] = time.perf_counter() - started
                started = time.perf_counter()
                forecast = forecast_in_shards(
                    forecaster, path, shards=args.shards, engine="ray", cpus_per_shard=0.5
                )
            seconds["score"] = time.perf_counter() - started
            if args.compare:  # the same forecast scored in one process, to check the shards
                whole = BaselineForecaster(horizon_weeks=12, device="cpu").fit(store, as_of)
                reference = whole.forecast()
                seconds["compare_max_abs_difference"] = max(
                    float(np.abs(getattr(forecast, n) - getattr(reference, n)).max())
                    for n in ("purchase_prob", "spend", "future_margin_delta", "clv")
                )
                del whole, reference
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
    sharded = f" --engine ray --shards {args.shards}" if args.engine == "ray" else ""
    figures = {
        "command": f"python bench/forecast_stage.py --data {args.data}{sharded}"
        + (" --compare" if args.compare else "")
        + f" --json {args.json}",
        "engine": args.engine,
        "shards": args.shards if args.engine == "ray" else 1,
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
