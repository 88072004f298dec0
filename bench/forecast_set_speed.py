"""Time the path from raw files to a ForecastSet, and the demo market generation, per stage.

    python bench/forecast_set_speed.py --customers 20000 --json OUT.json

Generates a demo market (N customers x 104 weeks), validates and loads it into DuckDB, fits the
baseline forecaster and builds the ForecastSet for 6 actions x 12 weeks. Measures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from forecasting.baseline import BaselineForecaster
from markets.demo.config import MarketConfig
from markets.demo.files import write_market
from markets.demo.history import generate_market
from shopdata.actions import DEMO_ACTIONS
from shopdata.store import Store
from shopdata.validation import load_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--horizon-weeks", type=int, default=12)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    as_of = pd.Timestamp("2026-11-23")
    timings: dict[str, float] = {}

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        market = generate_market(
            MarketConfig(customers=args.customers, weeks=args.weeks, seed=7, as_of=as_of)
        )
        timings["generate_market"] = time.perf_counter() - started
        started = time.perf_counter()
        data = write_market(market, Path(folder) / "data")
        timings["write_market"] = time.perf_counter() - started

        started = time.perf_counter()
        tables = load_inputs(data, as_of=as_of, action_ids=[a.id for a in DEMO_ACTIONS])
        timings["validate"] = time.perf_counter() - started
        started = time.perf_counter()
        store = Store.create(tables)
        timings["load_store"] = time.perf_counter() - started
        started = time.perf_counter()
        forecaster = BaselineForecaster(horizon_weeks=args.horizon_weeks, device=args.device)
        forecaster.fit(store, as_of)
        timings["fit"] = time.perf_counter() - started
        started = time.perf_counter()
        forecast = forecaster.forecast()
        timings["forecast"] = time.perf_counter() - started
    timings["files_to_forecast_set"] = sum(
        timings[k] for k in ("validate", "load_store", "fit", "forecast")
    )
    figures = {
        "customers": args.customers,
        "history_weeks": args.weeks,
        "shape": list(forecast.shape),
        "transactions": len(market.transactions),
        "campaign_rows": len(market.campaign_log),
        "seconds": timings,
        "fit_breakdown_seconds": forecaster.fit_seconds_,
        "device": forecast.metadata.device,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": platform.platform(),
    }
    for name, seconds in timings.items():
        print(f"{name:>22}  {seconds:8.2f} s")
    print(
        f"ForecastSet {forecast.shape} on {forecast.metadata.device}, "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
