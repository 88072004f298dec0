"""Standardising features without blowing up the ones that did not vary in training.

Dividing by `std + 1e-6` turns a column that was constant in training into a 1e6 amplifier: a
different value at forecast time sits a million standard deviations out, overflows the network
and ends as NaN. Columns whose spread is negligible against their level are left unscaled
(divided by 1): they carry no information the model could have learned from, and a new value
moves the input by its plain difference.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("ltv.forecasting")

#: A column whose standard deviation is below this share of (1 + |mean|) counts as constant.
RELATIVE_TOLERANCE = 1e-6


def feature_scale(features: np.ndarray, names: tuple[str, ...] | None = None) -> np.ndarray:
    """Per-column scale [F] of `features` [R, F]: the standard deviation, or 1.0 where the
    column is (numerically) constant; the constant columns are named in a log line."""
    std = features.std(axis=0)
    mean = np.abs(features.mean(axis=0))
    constant = ~(std > RELATIVE_TOLERANCE * (1.0 + mean))
    if constant.any():
        shown = (
            [names[i] for i in np.flatnonzero(constant)]
            if names is not None
            else np.flatnonzero(constant).tolist()
        )
        log.info("features constant in training, left unscaled: %s", shown)
    return np.where(constant, 1.0, std).astype(features.dtype)


def require_finite(
    features: np.ndarray, names: tuple[str, ...], where: str, row_labels: np.ndarray | None = None
) -> None:
    """Raise a ValueError naming the features [F] with NaN or infinite values in `features`
    [R, F], how many rows, and the first rows (their labels, e.g. customer ids, where given);
    `where` says which model boundary it is (e.g. 'the T-learner's training rows')."""
    bad = ~np.isfinite(features)
    if not bad.any():
        return
    columns = np.flatnonzero(bad.any(axis=0))
    rows = np.flatnonzero(bad.any(axis=1))
    shown = (row_labels[rows[:5]] if row_labels is not None else rows[:5]).tolist()
    raise ValueError(
        f"{where}: features {[names[c] for c in columns[:10]]} hold NaN or infinite values in "
        f"{len(rows)} rows (first: {shown}); the data behind them need fixing or the feature "
        "leaving out"
    )
