"""Segment effects read off the log: a difference between kinds of customer the shop knows apart
survives where the T-learner's networks flatten it, and segments that do not differ get none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from forecasting.features import ANCHOR_FEATURES
from forecasting.segment_effects import SegmentKeys, fit_segment_deviations
from forecasting.uplift import CampaignEffectLearner

ACTIONS = ("none", "coupon")
FEATURES = (*ANCHOR_FEATURES, "attr_tier=gold", "attr_tier=standard")


def _log(rows: int, seed: int, gold_shift: float, standard_shift: float) -> pd.DataFrame:
    """A randomised one-shot campaign (coupon to 40 %): gold customers buy more and are moved
    by `gold_shift` on the log-odds, standard ones by `standard_shift`."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in ANCHOR_FEATURES})
    frame["log_purchase_weeks"] = np.log1p(rng.integers(1, 6, rows))
    gold = rng.random(rows) < 0.25
    frame["attr_tier=gold"] = gold.astype(np.float32)
    frame["attr_tier=standard"] = (~gold).astype(np.float32)
    coupon = rng.random(rows) < 0.4
    logit = np.where(gold, -2.0, -3.0) + coupon * np.where(gold, gold_shift, standard_shift)
    bought = rng.random(rows) < special.expit(logit)
    frame["action"] = np.where(coupon, "coupon", "none")
    frame["propensity"] = np.where(coupon, 0.4, 0.6)
    frame["bought"] = bought.astype(int)
    frame["spend"] = np.where(bought, rng.gamma(3.0, 15.0, rows), 0.0)
    frame["future_spend"] = rng.gamma(2.0, 10.0, rows)
    frame["customer_id"] = [f"C{i}" for i in range(rows)]
    return frame


def _fit(frame: pd.DataFrame):
    keys = SegmentKeys.of(FEATURES)
    action = (frame["action"] == "coupon").to_numpy().astype(np.int64)
    return keys, fit_segment_deviations(
        keys,
        frame[list(FEATURES)].to_numpy(np.float32),
        action,
        np.ones(len(frame)),
        frame["bought"].to_numpy(),
        len(ACTIONS),
    )


def test_segments_are_the_combinations_of_the_attributes_levels() -> None:
    names = (*FEATURES, "attr_region=north", "attr_region=south", "attr_spend")
    keys = SegmentKeys.of(names)
    features = np.zeros((4, len(names)), np.float32)
    features[:, names.index("attr_spend")] = [0.3, -1.0, 2.0, 0.0]  # numeric: not a segment
    features[0, [names.index("attr_tier=gold"), names.index("attr_region=south")]] = 1.0
    features[1, [names.index("attr_tier=standard"), names.index("attr_region=north")]] = 1.0
    features[2, names.index("attr_region=north")] = 1.0  # a tier the encoding did not keep
    features[3, [names.index("attr_tier=gold"), names.index("attr_region=south")]] = 1.0
    labels = [keys.label(int(c)) for c in keys.codes(features)]
    assert labels == [
        "tier=gold, region=south",
        "tier=standard, region=north",
        "tier=(other), region=north",
        "tier=gold, region=south",
    ]
    assert len(set(keys.codes(features))) == 3
    assert SegmentKeys.of(ANCHOR_FEATURES).codes(features[:, : len(ANCHOR_FEATURES)]).tolist() == [
        0, 0, 0, 0
    ]  # fmt: skip


def test_a_segment_the_effect_spares_is_told_apart_from_one_it_moves() -> None:
    frame = _log(20_000, seed=0, gold_shift=0.0, standard_shift=1.2)
    _, deviations = _fit(frame)
    features = frame[list(FEATURES)].to_numpy(np.float32)
    index = deviations.index(features)
    gold = frame["attr_tier=gold"].to_numpy() > 0
    shift = deviations.shift[index, 1]  # deviation from the pooled shift, per row
    # pooled shift about 0.9 (standard customers' 1.2, three in four rows); gold deviates by
    # about -0.9, standard by about +0.3
    assert shift[gold].mean() < -0.5
    assert shift[~gold].mean() > 0.1
    assert deviations.shift[:, 0] == pytest.approx(0.0)
    named = {row["segment"] for row in deviations.summary(ACTIONS)}
    assert any(name.startswith("tier=gold") for name in named)


def test_segments_that_do_not_differ_get_no_deviation() -> None:
    largest = []
    for seed in range(4):
        frame = _log(20_000, seed=seed, gold_shift=0.8, standard_shift=0.8)
        _, deviations = _fit(frame)
        largest.append(np.abs(deviations.shift[:, 1]).max())
    # shrunk to nothing in most draws, never to a difference that would steer a plan
    assert np.median(largest) < 0.05
    assert max(largest) < 0.25


def test_the_t_learner_keeps_a_segment_difference_its_networks_flatten() -> None:
    frame = _log(12_000, seed=3, gold_shift=0.0, standard_shift=1.2)
    learner = CampaignEffectLearner(
        action_ids=ACTIONS, feature_columns=FEATURES, epochs=4, device="cpu", seed=0
    ).fit(frame)
    effects = learner.effects(frame)
    gold = frame["attr_tier=gold"].to_numpy() > 0
    shift = effects.purchase_logit_shift[:, 1]
    assert shift[~gold].mean() - shift[gold].mean() > 0.6  # truth 1.2
    assert shift[gold].mean() < 0.5
    # a customer the log's segments do not know keeps the networks' effect
    unknown = frame.iloc[:5].copy()
    unknown[["attr_tier=gold", "attr_tier=standard"]] = 0.0
    half = learner.half_sample_effects(unknown)
    assert np.all(half.segments == -1)
