"""The campaign-log T-learner recovers known, heterogeneous, confounded effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as stats

from forecasting.campaign_examples import MIN_LOGGED, identified_window
from forecasting.features import ANCHOR_FEATURES
from forecasting.uplift import CampaignEffectLearner

ACTIONS = ("none", "coupon")


def _campaign(rows: int = 80_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in ANCHOR_FEATURES})
    x1, x2 = frame["log_purchase_weeks"].to_numpy(), frame["log_mean_spend"].to_numpy()
    true_shift = 1.0 + 0.8 * x2  # heterogeneous effect on the log-odds
    # Confounded logging: customers with a high baseline were targeted more often.
    propensity_coupon = np.where(x1 > 0, 0.7, 0.2)
    coupon = rng.random(rows) < propensity_coupon
    logit = -1.5 + x1 + coupon * true_shift
    bought = rng.random(rows) < 1 / (1 + np.exp(-logit))
    spend = np.where(bought, rng.gamma(4.0, 10.0, rows) * np.where(coupon, 1.2, 1.0), 0.0)
    future = rng.gamma(2.0, np.where(coupon, 5.0, 10.0) * np.exp(0.3 * x1))  # pull-forward
    frame["action"] = np.where(coupon, "coupon", "none")
    frame["propensity"] = np.where(coupon, propensity_coupon, 1 - propensity_coupon)
    frame["bought"], frame["spend"], frame["future_spend"] = bought.astype(int), spend, future
    return frame, true_shift


@pytest.fixture(scope="module")
def fitted() -> tuple[CampaignEffectLearner, pd.DataFrame, np.ndarray]:
    frame, true_shift = _campaign()
    learner = CampaignEffectLearner(action_ids=ACTIONS, epochs=6, device="cpu", seed=1).fit(frame)
    return learner, frame, true_shift


def test_recovers_average_and_heterogeneous_purchase_effect(fitted) -> None:
    learner, frame, true_shift = fitted
    effects = learner.effects(frame)
    shift = effects.purchase_logit_shift[:, 1]
    assert effects.purchase_logit_shift[:, 0] == pytest.approx(0.0)
    assert shift.mean() == pytest.approx(true_shift.mean(), abs=0.2)
    assert stats.spearmanr(shift, true_shift).statistic > 0.8
    naive = (
        frame.loc[frame.action == "coupon", "bought"].mean()
        - frame.loc[frame.action == "none", "bought"].mean()
    )
    assert naive > 0  # the confounded raw gap exists; the learner does not rely on it


def test_recovers_spend_ratio_and_future_loss(fitted) -> None:
    learner, frame, _ = fitted
    effects = learner.effects(frame)
    assert np.median(effects.spend_ratio[:, 1]) == pytest.approx(1.2, abs=0.1)
    # Future spend: 2 * 5 with the coupon against 2 * 10 without, times exp(0.3 x1).
    expected_delta = -10.0 * np.exp(0.3 * frame["log_purchase_weeks"].to_numpy())
    assert effects.future_spend_delta[:, 1].mean() == pytest.approx(expected_delta.mean(), rel=0.2)


def test_rejects_actions_outside_the_catalogue() -> None:
    frame, _ = _campaign(rows=100)
    frame.loc[0, "action"] = "mystery"
    with pytest.raises(ValueError, match="mystery"):
        CampaignEffectLearner(action_ids=ACTIONS, device="cpu").fit(frame)


def test_an_action_the_log_barely_holds_gets_no_effect() -> None:
    frame, _ = _campaign(rows=5_000)
    frame.loc[:49, "action"] = "rare"  # 50 rows: below min_logged
    learner = CampaignEffectLearner(
        action_ids=(*ACTIONS, "rare"), epochs=1, device="cpu", seed=0
    ).fit(frame)
    effects = learner.effects(frame)
    assert np.all(effects.purchase_logit_shift[:, 2] == 0.0)
    assert np.all(effects.future_spend_delta[:, 2] == 0.0)
    assert np.any(effects.purchase_logit_shift[:, 1] != 0.0)


def test_a_follow_up_window_no_row_observed_gives_no_later_effect() -> None:
    """A one-shot campaign too recent for its follow-up window: the later-spend head learned
    nothing, so the action's later effect is 0 and said to be unidentified."""
    frame, _ = _campaign(rows=5_000)
    frame["future_spend"] = np.nan  # the window has not ended for any logged row
    learner = CampaignEffectLearner(action_ids=ACTIONS, epochs=1, device="cpu", seed=0).fit(frame)
    effects = learner.effects(frame)
    assert np.all(effects.future_spend_delta == 0.0)
    assert learner.future_identified_.tolist() == [True, False]
    assert np.any(effects.purchase_logit_shift[:, 1] != 0.0)


def test_the_follow_up_window_is_the_longest_that_identifies_the_most_actions() -> None:
    """A log whose campaigns are recent observes 8 weeks after too few of them: the window the
    learner is given is the longest that still lets it learn each action's follow-on effect."""
    action = np.repeat([0, 1, 2], 300)
    recent = np.arange(900) % 300 >= 250  # 50 of each arm's rows observe 8 weeks
    observed = {8: recent, 4: np.ones(900, bool), 2: np.ones(900, bool)}
    assert identified_window(action, observed) == 4
    observed[4] = (action != 2) | recent  # 4 weeks observed for actions 0, 1 only
    assert identified_window(action, observed) == 2  # 2 weeks identify both actions
    observed = {8: np.ones(900, bool), 4: np.ones(900, bool)}
    assert identified_window(action, observed) == 8  # an old enough log keeps the longest
    few = np.arange(900) < MIN_LOGGED - 1  # too few controls anywhere: the longest, as before
    assert identified_window(action, {8: few, 4: few}) == 8


def test_the_base_rate_is_checked_on_held_out_customers(fitted) -> None:
    """Each half's model predicts the other half's no-action purchase rate; the check reports
    the mean prediction against the observed rate (the base every effect is measured from)."""
    learner, frame, _ = fitted
    check = learner.base_rate_check_
    observed = frame.loc[frame["action"] == "none", "bought"].mean()
    assert check["observed"] == pytest.approx(observed, rel=1e-6)
    assert check["predicted"] == pytest.approx(check["observed"], abs=0.03)
    assert check["rows"] == (frame["action"] == "none").sum()


def test_each_logged_customer_is_scored_by_the_half_that_did_not_learn_from_them() -> None:
    """Cross-fitted: the halves are a fixed hash of the id; a logged customer of half 0 (whose
    rows trained model 0) gets model 1's estimate, and the reverse, shrunk by one estimate's
    reliability; a customer outside the log gets both halves' average; and on the customers it
    did not learn from, each half's prediction of the coupon's effect is set beside those rows'
    inverse-propensity estimate (the calibration the release decision reads)."""
    from forecasting.cross_fitting import customer_half

    frame, true_shift = _campaign(rows=20_000, seed=3)
    frame["customer_id"] = [f"k{i}" for i in range(len(frame))]
    learner = CampaignEffectLearner(action_ids=ACTIONS, epochs=3, device="cpu", seed=2).fit(frame)
    ids = frame["customer_id"].to_numpy()
    held = learner.held_out(np.append(ids, "stranger"))
    np.testing.assert_array_equal(held[:-1], 1 - customer_half(ids))
    assert held[-1] == -1
    half = learner.half_sample_effects(frame)
    np.testing.assert_array_equal(half.held_out, 1 - customer_half(ids))
    moments = half.moments()
    shift = learner.finish(half, moments).purchase_logit_shift[:, 1]
    rho = moments.shift.correlation()[1]
    mean = (moments.shift.mean_a[1] + moments.shift.mean_b[1]) / 2
    own = np.where(half.held_out == 0, half.shifts[0][:, 1], half.shifts[1][:, 1])
    np.testing.assert_allclose(shift, mean + rho * (own - mean), atol=1e-9)
    calibration = learner.calibration_["coupon"]["purchase_week0"]
    logit = -1.5 + frame["log_purchase_weeks"].to_numpy()
    truth = (1 / (1 + np.exp(-logit - true_shift)) - 1 / (1 + np.exp(-logit))).mean()
    assert calibration["doubly_robust_effect"] == pytest.approx(
        truth, abs=4 * calibration["doubly_robust_effect_se"]
    )  # the held-out measurement is unbiased (the log's propensities weight it)
    assert calibration["average_effect"] > 0  # what the models predict for the same rows
