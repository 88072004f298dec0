"""The deep purchase model's inputs (forecasting/deep_purchases.py): a customer's tabular
features and BG/NBD prior at an anchor week (`anchor_inputs`), and the training examples, the
(customer, anchor week) pairs at past anchors drawn up to a budget (`training_examples`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special as special

from forecasting.anchors import eligible, history_at, summary_at, tabular_features
from forecasting.bgnbd import BetaGeometricNBD
from forecasting.errors import TooLittleData
from forecasting.panel import WeeklyPanel
from forecasting.review_embeddings import ReviewFeatures

PRIOR_FEATURES = ("prior_logit_week0", "prior_log_expected", "prior_alive")
PROBABILITY_BOUNDS = (1e-6, 0.999)
#: Customers a training anchor needs (those who had bought before it) to give examples.
MIN_ANCHOR_CUSTOMERS = 50


@dataclass(frozen=True)
class TrainingExamples:
    """E training examples: panel rows [E], anchor week index [E], tabular inputs [E, F]
    (standardised by the model) and the BG/NBD prior's weekly log-odds [E, L]."""

    rows: np.ndarray
    anchors: np.ndarray
    tabular: np.ndarray
    prior_logit: np.ndarray


def anchor_inputs(
    panel: WeeklyPanel,
    rows: np.ndarray,
    anchor: int,
    horizon: int,
    label_weeks: int,
    reviews: ReviewFeatures | None,
    attribute_rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Tabular inputs [B, F] (history features, the prior's week-0 log-odds, log expected
    purchases over `label_weeks` and P(alive), review features where given, the customers'
    attributes `attribute_rows` [N_panel, F_attr]) and the BG/NBD prior [B, horizon] of the
    panel's `rows` at week `anchor`; BG/NBD is fitted on those rows' histories."""
    history = history_at(panel, rows, anchor)
    summary = summary_at(history)
    bgnbd = BetaGeometricNBD(device="cpu").fit(summary)
    # hyp2f1 can fail for extreme histories; those weeks fall back to the floor.
    prior = np.nan_to_num(bgnbd.weekly_expected_purchases(summary, horizon), nan=0.0)
    prior = np.clip(prior, *PROBABILITY_BOUNDS)
    prior_columns = np.column_stack(
        [
            special.logit(prior[:, 0]),
            np.log(prior[:, :label_weeks].sum(axis=1)),
            bgnbd.probability_alive(summary),
        ]
    )
    parts = [tabular_features(history), prior_columns]
    if reviews is not None:
        parts.append(reviews.features(rows, anchor))
    parts.append(attribute_rows[rows])
    return np.column_stack(parts).astype(np.float32), prior


def training_examples(
    panel: WeeklyPanel,
    anchor_weeks: list[int],
    max_examples: int,
    inputs: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]],
    generator: np.random.Generator,
    kind: str,
) -> TrainingExamples:
    """At each of `anchor_weeks`, the customers who had bought before it (`eligible`; an
    anchor with fewer than MIN_ANCHOR_CUSTOMERS gives none), their `inputs(rows, anchor)`
    (tabular inputs and the prior over the label weeks), then up to max_examples /
    len(anchor_weeks) of them drawn with `generator` (BG/NBD is fitted on every customer at
    the anchor first). Raises TooLittleData, naming the deep forecaster `kind`, where no
    anchor gives examples."""
    per_anchor = max(1, max_examples // len(anchor_weeks))
    parts = []
    most = 0
    for anchor in anchor_weeks:
        rows = eligible(panel, anchor)
        most = max(most, len(rows))
        if len(rows) < MIN_ANCHOR_CUSTOMERS:
            continue
        tabular, prior = inputs(rows, anchor)
        if len(rows) > per_anchor:
            keep = np.sort(generator.choice(len(rows), per_anchor, replace=False))
            rows, tabular, prior = rows[keep], tabular[keep], prior[keep]
        parts.append((rows, np.full(len(rows), anchor), tabular, special.logit(prior)))
    if not parts:
        raise TooLittleData(
            f"the deep forecasters ({kind}) train on the customers who had bought before a "
            f"training anchor, at least {MIN_ANCHOR_CUSTOMERS} at one; this shop has at most "
            f"{most} at its {len(anchor_weeks)} anchors ({len(panel)} customers in all): use "
            "the baseline forecaster (forecast: {model: baseline}), which fits any shop with "
            "purchases"
        )
    rows, anchors, tabular, prior_logit = (np.concatenate(p) for p in zip(*parts, strict=True))
    return TrainingExamples(rows, anchors, tabular, prior_logit.astype(np.float32))
