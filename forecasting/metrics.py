"""Forecast accuracy measures used by backtests (per customer, on holdout outcomes)."""

from __future__ import annotations

import numpy as np
import scipy.stats as stats


def mean_absolute_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - actual)))


def root_mean_squared_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def spearman(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(stats.spearmanr(actual, predicted).statistic)


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
