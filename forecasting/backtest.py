"""Backtest: fit on a calibration window, predict the holdout, score per customer.

The holdout count is purchase weeks (distinct Monday-based weeks with a purchase), the unit the
weekly models forecast; spend is the holdout's total spend per customer.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.bgnbd import BetaGeometricNBD
from forecasting.deep_purchases import DeepPurchaseModel
from forecasting.features import holdout_outcome, purchase_summary, weekly_purchases
from forecasting.gamma_gamma import GammaGammaSpend
from forecasting.metrics import (
    decile_mape,
    mean_absolute_error,
    normalized_gini,
    reliability_curve,
    root_mean_squared_error,
    spearman,
)
from forecasting.model_kinds import BACKTEST_MODELS
from shopdata.calendar import horizon_start
from shopdata.store import Store


@dataclass(frozen=True)
class BacktestReport:
    """Holdout accuracy of one model; `to_dict` is the JSON that `ltv forecast backtest` writes."""

    model: str
    customers: int
    mae: float
    rmse: float
    predicted_total: float
    actual_total: float
    spearman: float
    spend_gini: float
    spend_decile_mape: float
    #: MAE of the predictive median: the point forecast absolute error rewards (for BG/NBD the
    #: median of 200 posterior-predictive draws per customer).
    median_mae: float
    calibration_end: str
    holdout_end: str
    holdout_weeks: int
    predicted_spend_total: float
    actual_spend_total: float
    fit_seconds: float
    device: str
    params: dict[str, float] = field(default_factory=dict)
    #: Weekly purchase probabilities against what happened, per customer-week of the holdout's
    #: whole Monday-based weeks (`metrics.reliability_curve`).
    reliability: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_backtest(
    store: Store,
    *,
    calibration_end: pd.Timestamp | str,
    holdout_weeks: int,
    model: str = "bgnbd",
    device: str = "auto",
    seed: int = 0,
    deep_options: dict[str, Any] | None = None,
) -> BacktestReport:
    """Fit `model` on purchases up to `calibration_end`; score the next `holdout_weeks` weeks."""
    if model not in BACKTEST_MODELS:
        raise ValueError(
            f"The 'model' parameter of run_backtest must be one of {BACKTEST_MODELS}. "
            f"Got {model!r} instead."
        )
    if holdout_weeks < 1:
        raise ValueError(
            f"The 'holdout_weeks' parameter must be >= 1. Got {holdout_weeks} instead."
        )
    calibration_end = pd.Timestamp(calibration_end)
    holdout_end = calibration_end + pd.Timedelta(weeks=holdout_weeks)
    summary = purchase_summary(store, calibration_end)
    if len(summary) == 0:
        raise ValueError(
            f"no purchases on or before the calibration end {calibration_end:%Y-%m-%d}"
        )
    outcome = holdout_outcome(store, summary, calibration_end, holdout_end)

    first_week = horizon_start(calibration_end)
    # Whole weeks of the holdout (a partial first week, before the first Monday, is left out).
    scored_weeks = max(int((holdout_end - first_week).days // 7), 0)
    started = time.perf_counter()
    if model == "bgnbd":
        purchases = BetaGeometricNBD(device=device).fit(summary)
        spend = GammaGammaSpend(device=device).fit(summary)
        predicted_weeks = purchases.expected_purchases(float(holdout_weeks), summary)
        predicted_spend = predicted_weeks * spend.expected_spend(summary)
        median_weeks = purchases.median_purchases(float(holdout_weeks), summary)
        # BG/NBD's week k runs from k weeks after the calibration end; at most 6 days from the
        # Monday-based week k it is scored against.
        weekly = purchases.weekly_expected_purchases(summary, scored_weeks)
        used_device = purchases.device_
        params = {**purchases.params_, **{f"gg_{k}": v for k, v in spend.params_.items()}}
    else:
        deep = DeepPurchaseModel(
            kind=model,  # type: ignore[arg-type]
            device=device,
            seed=seed,
            **(deep_options or {}),
        ).fit(store, calibration_end)
        forecast = deep.predict(holdout_weeks)
        if not np.array_equal(forecast.customer_ids, summary.customer_ids.astype(str)):
            raise RuntimeError("the deep model's customers differ from the backtest's")
        predicted_weeks = forecast.expected_weeks()
        median_weeks = forecast.median_weeks()
        weekly = forecast.purchase_prob[:, :scored_weeks]
        predicted_spend = forecast.expected_spend()
        used_device = str(deep.device_)
        params = {"training_examples": float(deep.training_examples_)}
    fit_seconds = time.perf_counter() - started
    actual_weeks = outcome.purchase_weeks
    observed_weekly = weekly_purchases(store, summary.customer_ids, first_week, scored_weeks)
    reliability = (
        reliability_curve(np.clip(weekly, 0.0, 1.0).ravel(), observed_weekly.ravel())
        if scored_weeks
        else {}
    )
    return BacktestReport(
        model=model,
        customers=len(summary),
        mae=mean_absolute_error(actual_weeks, predicted_weeks),
        rmse=root_mean_squared_error(actual_weeks, predicted_weeks),
        predicted_total=float(predicted_weeks.sum()),
        actual_total=float(actual_weeks.sum()),
        spearman=spearman(actual_weeks, predicted_weeks),
        spend_gini=normalized_gini(outcome.spend.clip(min=0), predicted_spend),
        spend_decile_mape=decile_mape(outcome.spend.clip(min=0), predicted_spend),
        median_mae=mean_absolute_error(actual_weeks, median_weeks),
        calibration_end=f"{calibration_end:%Y-%m-%d}",
        holdout_end=f"{holdout_end:%Y-%m-%d}",
        holdout_weeks=holdout_weeks,
        predicted_spend_total=float(predicted_spend.sum()),
        actual_spend_total=float(outcome.spend.sum()),
        fit_seconds=fit_seconds,
        device=used_device,
        params=params,
        reliability=reliability,
    )
