"""The run's forecast stage: the scenario's forecaster fitted on the run's store (on Ray
actors where the scenario says so), or a saved deep model scoring the week untrained, with the
backtest of its purchase model that the report shows (engine/pipeline.py runs it)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine.forecast_shards import forecast_in_shards
from engine.scenario import Scenario
from forecasting.backtest import run_backtest
from forecasting.baseline import BaselineForecaster
from forecasting.deep import DeepForecaster, make_forecaster
from forecasting.forecast_set import ForecastSet
from shopdata.store import Store

log = logging.getLogger("ltv.pipeline")

#: Holdout of the backtest each run makes of its purchase model (for the report).
BACKTEST_WEEKS = 13


@dataclass(frozen=True)
class ForecastPlace:
    """Where a run's forecast is made: its forecast folder (a deep model is saved under it),
    the runs folder's review-embedding cache, and the device."""

    forecast_dir: Path
    review_cache: Path
    device: str


def fitted_forecast(
    store: Store, scenario: Scenario, week: pd.Timestamp, where: ForecastPlace
) -> ForecastSet:
    """Fit the scenario's forecaster for the planning `week` and backtest its purchase model;
    a deep forecaster's model is saved under `where.forecast_dir / "model"` with those
    figures, for later runs to reuse."""
    forecaster = make_forecaster(
        scenario.forecast.model,
        use_reviews=scenario.forecast.reviews,
        review_cache=where.review_cache,
        effect_windows=tuple(tuple(w) for w in scenario.forecast.effect_windows),
        horizon_weeks=scenario.horizon_weeks,
        actions=scenario.catalogue(),
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
        device=where.device,
        seed=scenario.forecast.seed,
    )
    execution = scenario.solver.execution
    if isinstance(forecaster, BaselineForecaster) and execution.engine == "ray":
        # Trained once here; every customer's features, effects and arrays on the actors.
        forecaster.fit(store, week, score=False)
        log.info(
            "forecast: scoring %s customers in %d shards on Ray",
            f"{len(forecaster.summary_):,}",
            execution.shards,
        )
        assert store.path is not None  # the run's store is a file
        forecast = forecast_in_shards(
            forecaster,
            store.path,
            shards=execution.shards,
            engine="ray",
            address=execution.address,
        )
    else:
        forecast = forecaster.fit(store, week).forecast()
    if getattr(forecaster, "reviews_note_", ""):
        log.warning("forecast.reviews: %s", forecaster.reviews_note_)
    if getattr(forecaster, "effects_note_", ""):
        log.warning("forecast.effects: %s", forecaster.effects_note_)
    backtest = purchase_backtest(store, week, forecaster)
    if isinstance(forecaster, DeepForecaster):
        forecaster.save_model(where.forecast_dir / "model", backtest=backtest)
    return dataclasses.replace(
        forecast, metadata=dataclasses.replace(forecast.metadata, backtest=backtest)
    )


def saved_model_forecast(
    store: Store, scenario: Scenario, week: pd.Timestamp, where: ForecastPlace, folder: Path
) -> ForecastSet:
    """Score the `week` with the saved deep model in `folder`, untrained; the report's backtest
    is the one the model scored when it was trained (its calibration dates say when)."""
    forecaster = DeepForecaster.from_files(
        folder,
        horizon_weeks=scenario.horizon_weeks,
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
        review_cache=where.review_cache,
        device=where.device,
    )
    forecast = forecaster.refresh(store, week).forecast()
    return dataclasses.replace(
        forecast,
        metadata=dataclasses.replace(forecast.metadata, backtest=forecaster.saved_backtest_),
    )


def purchase_backtest(
    store: Store, week: pd.Timestamp, forecaster: BaselineForecaster | DeepForecaster
) -> dict[str, object]:
    """How well the run's purchase model (BG/NBD for the baseline forecaster, the deep model
    with the forecaster's own options for the deep ones) forecast the last BACKTEST_WEEKS
    weeks, fitted on the rest: the report's forecast-quality figures. Empty when the history
    is too short."""
    deep = isinstance(forecaster, DeepForecaster)
    try:
        report = run_backtest(
            store,
            calibration_end=week - pd.Timedelta(weeks=BACKTEST_WEEKS),
            holdout_weeks=BACKTEST_WEEKS,
            model=forecaster.model if deep else "bgnbd",
            device=forecaster.device,
            seed=forecaster.seed,
            deep_options=forecaster.purchase_options() if deep else None,
        )
    except ValueError as error:
        log.info("no backtest: %s", error)
        return {}
    figures = report.to_dict()
    figures.pop("params")
    return figures
