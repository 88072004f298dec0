"""Forecast accuracy measures used by backtests (per customer, on holdout outcomes)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mean_absolute_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - actual)))


def root_mean_squared_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties; NaN where either side is constant),
    by pandas' rank kernel: scipy.stats.spearmanr's value without its second of import, which
    every command that backtests would pay."""
    frame = pd.DataFrame({"actual": actual, "predicted": predicted})
    return float(frame.corr(method="spearman").iloc[0, 1])


def _gini(actual: np.ndarray, ranking: np.ndarray) -> float:
    order = np.lexsort((np.arange(len(ranking)), -ranking))  # by ranking desc, stable
    cumulative = np.cumsum(actual[order]) / actual.sum()
    population = np.arange(1, len(actual) + 1) / len(actual)
    return float(np.sum(cumulative - population) / len(actual))


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """How well `predicted` ranks customers by `actual` value: 1 perfect, 0 random.

    The Gini of the actual values ordered by prediction, divided by the Gini of the perfect order
    (the metric of Wang, Liu & Miao 2019 for CLV models).
    """
    if actual.sum() <= 0:
        raise ValueError("normalized_gini needs a positive total of actual values")
    return _gini(actual, predicted) / _gini(actual, actual)


def decile_mape(actual: np.ndarray, predicted: np.ndarray, groups: int = 10) -> float:
    """Customers ranked by prediction into `groups` equal groups; mean absolute percentage
    error of each group's predicted total against its actual total (groups with a zero actual
    total are left out)."""
    order = np.argsort(-predicted, kind="stable")
    bins = np.array_split(order, groups)
    predicted_totals = np.array([predicted[b].sum() for b in bins])
    actual_totals = np.array([actual[b].sum() for b in bins])
    usable = actual_totals > 0
    return float(
        np.mean(np.abs(predicted_totals[usable] - actual_totals[usable]) / actual_totals[usable])
    )


def reliability_curve(
    predicted: np.ndarray, observed: np.ndarray, bins: int = 10
) -> dict[str, object]:
    """Mean prediction against the observed rate per quantile bin of the prediction, with the
    expected calibration error (count-weighted |gap|) and the Brier score."""
    if len(predicted) == 0:
        raise ValueError("a reliability curve needs at least one prediction")
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bins + 1)))
    groups = max(len(edges) - 1, 1)  # tied predictions can leave fewer bins, at least one
    group = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, groups - 1)
    count = np.bincount(group, minlength=groups)
    mean_predicted = np.bincount(group, weights=predicted, minlength=len(count)) / np.maximum(
        count, 1
    )
    mean_observed = np.bincount(group, weights=observed, minlength=len(count)) / np.maximum(
        count, 1
    )
    used = count > 0
    return {
        "bins": [
            {"predicted": float(p), "observed": float(o), "count": int(c)}
            for p, o, c in zip(mean_predicted[used], mean_observed[used], count[used], strict=True)
        ],
        "ece": float(np.sum(count * np.abs(mean_predicted - mean_observed)) / count.sum()),
        "brier": float(np.mean((predicted - observed) ** 2)),
    }
