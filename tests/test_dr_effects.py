"""The multi-horizon effect learner: a hand-built randomised log with known effects, the
calibration's limits, the reliability curve, and the campaign rows read off the panel."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as stats
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.campaign_examples import CampaignExamples, campaign_examples
from forecasting.dr_effects import (
    DoublyRobustEffectLearner,
    _calibration,
    balanced_halves,
    clustered_standard_error,
)
from forecasting.metrics import reliability_curve
from forecasting.panel import weekly_panel
from forecasting.shrinkage import no_effect_shrinkage
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF

ACTIONS = ("none", "lift", "pull_forward", "idle")


def _randomised_log(rows: int = 60_000, seed: int = 3) -> tuple[CampaignExamples, dict]:
    """Customers with a baseline purchase probability; actions drawn with propensities that
    depend on the customer (active ones are targeted more, so the naive comparison is biased).

    `lift` raises this week's purchase probability by 60 % of the baseline for customers with
    x1 > 0 and 10 % otherwise; `pull_forward` raises it by 40 % and takes 0.5 of the baseline
    from the window after; `idle` does nothing.
    """
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(rows, 2)).astype(np.float32)
    base = 1 / (1 + np.exp(-(-2.0 + 0.8 * x[:, 0])))  # [R]
    active = x[:, 0] > 0
    treat_probability = np.where(active, 0.6, 0.3)
    treated = generator.random(rows) < treat_probability
    action = np.where(treated, generator.integers(1, 4, rows), 0)
    propensity = np.where(treated, treat_probability / 3, 1 - treat_probability)
    lift = np.select(
        [action == 1, action == 2], [np.where(x[:, 1] > 0, 0.6, 0.1), 0.4], default=0.0
    )
    probability = np.clip(base * (1 + lift), 0, 1)
    bought = (generator.random(rows) < probability).astype(np.float32)
    later_mean = 10 * base * np.where(action == 2, 0.5, 1.0)
    future = generator.gamma(2.0, later_mean / 2.0)[:, None]  # [R, 1]
    truth = {
        "purchase": {
            "lift": np.where(x[:, 1] > 0, 0.6, 0.1) * base,
            "pull_forward": 0.4 * base,
            "idle": np.zeros(rows),
        },
        "future": {"lift": np.zeros(rows), "pull_forward": -5 * base, "idle": np.zeros(rows)},
    }
    examples = CampaignExamples(
        rows=np.arange(rows),
        weeks=np.zeros(rows, np.int64),
        features=x,
        feature_names=("x0", "x1"),
        action=action.astype(np.int64),
        propensity=propensity,
        bought=bought,
        spend=bought * 10.0,
        future=future,
        future_observed=np.ones((rows, 1), bool),
        windows=((1, 4),),
    )
    return examples, truth


@pytest.fixture(scope="module")
def learned() -> tuple[DoublyRobustEffectLearner, CampaignExamples, dict]:
    examples, truth = _randomised_log()
    learner = DoublyRobustEffectLearner(
        action_ids=ACTIONS, hidden=32, epochs=6, device="cpu", seed=0
    ).fit(examples)
    return learner, examples, truth


def test_average_effects_match_the_truth_where_the_naive_comparison_is_biased(
    learned: tuple[DoublyRobustEffectLearner, CampaignExamples, dict],
) -> None:
    learner, examples, truth = learned
    calibration = learner.diagnostics_.calibration
    for name in ("lift", "pull_forward", "idle"):
        a = ACTIONS.index(name)
        for outcome, key in (("purchase_week0", "purchase"), ("spend_weeks_1_4", "future")):
            row = calibration[name][outcome]
            true_mean = truth[key][name].mean()
            assert (
                abs(row["doubly_robust_effect"] - true_mean)
                < 4 * row["doubly_robust_effect_se"] + 1e-3
            ), (name, outcome)
            assert row["average_effect"] == pytest.approx(
                row["shrinkage"] * row["doubly_robust_effect"], abs=1e-9
            )
        # The naive difference of means is biased by the targeting of active customers.
        naive = (
            examples.bought[examples.action == a].mean()
            - examples.bought[examples.action == 0].mean()
        )
        assert naive - truth["purchase"][name].mean() > 0.01


def test_effects_rank_customers_and_keep_their_signs(
    learned: tuple[DoublyRobustEffectLearner, CampaignExamples, dict],
) -> None:
    learner, examples, truth = learned
    effects = learner.effects(examples.features)
    lift = ACTIONS.index("lift")
    pull = ACTIONS.index("pull_forward")
    assert np.all(effects.purchase_logit_shift[:, 0] == 0.0)
    responsive = examples.features[:, 1] > 0  # lift +60 % there, +10 % elsewhere
    shift = effects.purchase_logit_shift[:, lift]
    assert shift[responsive].mean() > shift[~responsive].mean() + 0.05
    base_logit = 0.8 * examples.features[:, 0] - 2.0
    learned_lift = 1 / (1 + np.exp(-(base_logit + shift))) - 1 / (1 + np.exp(-base_logit))
    assert stats.spearmanr(learned_lift, truth["purchase"]["lift"]).statistic > 0.5
    assert effects.future_spend_delta[:, pull].mean() < -0.5
    assert abs(effects.future_spend_delta[:, ACTIONS.index("idle")].mean()) < 0.3
    gates = learner.diagnostics_.gates["lift"]["purchase_week0"]
    assert gates[-1]["doubly_robust"] > gates[0]["doubly_robust"]  # the top group is real


def test_noisy_averages_shrink_towards_no_effect(
    learned: tuple[DoublyRobustEffectLearner, CampaignExamples, dict],
) -> None:
    """Each average is scaled by no_effect_shrinkage's factor (at most max(0, 1 - (se /
    effect)^2)): the clear effects keep almost all of theirs, and one within a standard error
    of zero (idle does nothing) is read as none."""
    learner, examples, _ = learned
    calibration = learner.diagnostics_.calibration
    names = ACTIONS[1:]
    for outcome in calibration[names[0]]:
        averages = np.array([[calibration[n][outcome]["doubly_robust_effect"]] for n in names])
        errors = np.array([[calibration[n][outcome]["doubly_robust_effect_se"]] for n in names])
        expected = no_effect_shrinkage(averages, errors)[:, 0]
        for name, factor, m, s in zip(names, expected, averages[:, 0], errors[:, 0], strict=True):
            row = calibration[name][outcome]
            assert row["shrinkage"] == pytest.approx(factor, abs=1e-9)
            assert row["shrinkage"] <= max(0.0, 1.0 - (s / m) ** 2) + 1e-12
    assert calibration["lift"]["purchase_week0"]["shrinkage"] > 0.95
    assert calibration["pull_forward"]["spend_weeks_1_4"]["shrinkage"] > 0.9
    within_one_se = [
        (name, outcome)
        for name, outcomes in calibration.items()
        for outcome, row in outcomes.items()
        if abs(row["doubly_robust_effect"]) < row["doubly_robust_effect_se"]
    ]
    effects = learner.effects(examples.features)
    for name, outcome in within_one_se:
        a = ACTIONS.index(name)
        values = (
            effects.purchase_logit_shift[:, a]
            if outcome == "purchase_week0"
            else effects.future_spend_delta[:, a]
        )
        assert np.all(values == 0.0), (name, outcome)
    unshrunk = DoublyRobustEffectLearner(
        action_ids=ACTIONS, hidden=32, epochs=6, device="cpu", seed=0, shrink_noisy_effects=False
    ).fit(examples)
    for outcomes in unshrunk.diagnostics_.calibration.values():
        for row in outcomes.values():
            assert row["shrinkage"] == 1.0
            assert row["average_effect"] == pytest.approx(row["doubly_robust_effect"], abs=1e-9)


def test_clustered_standard_error_counts_customers_not_rows() -> None:
    """One row per customer: the usual s / sqrt(n). Every row repeated five times (a customer's
    overlapping windows, perfectly correlated): the same error, where s / sqrt(rows) would
    claim it shrank by sqrt(5)."""
    values = np.random.default_rng(4).normal(1.0, 2.0, 400)
    customers = np.arange(400)
    alone = clustered_standard_error(values, customers)
    assert alone == pytest.approx(values.std(ddof=1) / np.sqrt(400), rel=1e-12)
    repeated = clustered_standard_error(np.repeat(values, 5), np.repeat(customers, 5))
    assert repeated == pytest.approx(alone, rel=1e-12)
    assert np.repeat(values, 5).std() / np.sqrt(2000) < 0.5 * repeated
    assert clustered_standard_error(values[:1], customers[:1]) == np.inf


def test_calibration_ignores_a_noise_proxy_and_keeps_a_true_one() -> None:
    generator = np.random.default_rng(0)
    baseline = generator.uniform(0.5, 1.5, 20_000)
    true_effect = 0.3 * baseline + generator.normal(0, 0.2, 20_000)
    pseudo = true_effect + generator.normal(0, 1.0, 20_000)
    noise_theta, _ = _calibration(pseudo, baseline, generator.normal(0, 1, 20_000))
    true_theta, _ = _calibration(pseudo, baseline, true_effect)
    assert noise_theta[1] < 0.05 and true_theta[1] > 0.8
    calibrated = true_theta[0] * baseline + true_theta[1] * true_effect
    assert calibrated.mean() == pytest.approx(pseudo.mean())


def test_a_heterogeneity_slope_the_held_out_half_barely_confirms_is_shrunk_towards_none() -> None:
    """The proxy carries the true heterogeneity, but the pseudo-effects are so noisy that its
    slope (0.48) is within a standard error (0.55) of zero: shrunk by max(0, 1 - se^2 /
    slope^2), none of it is kept; with the noise a tenth as large, almost all of it is."""
    generator = np.random.default_rng(1)
    rows = 4000
    baseline = generator.uniform(0.5, 1.5, rows)
    true_effect = 0.3 * baseline + generator.normal(0, 0.2, rows)
    for noise, low, high in ((7.0, 0.0, 0.6), (0.7, 0.95, 1.0)):
        pseudo = true_effect + generator.normal(0, noise, rows)
        theta, se = _calibration(pseudo, baseline, true_effect)
        design = np.column_stack([baseline, true_effect])
        raw = np.linalg.lstsq(design, pseudo, rcond=None)[0][1]
        kept = max(0.0, 1.0 - se[1] ** 2 / raw**2)
        assert theta[1] == pytest.approx(np.clip(raw, 0, 1) * kept, abs=1e-9)
        assert low <= theta[1] <= high, (noise, raw, se[1])
        calibrated = theta[0] * baseline + theta[1] * true_effect
        assert calibrated.mean() == pytest.approx(pseudo.mean())


def test_reliability_curve_of_calibrated_probabilities_is_flat() -> None:
    generator = np.random.default_rng(1)
    predicted = generator.uniform(0, 0.5, 200_000)
    observed = (generator.random(200_000) < predicted).astype(float)
    curve = reliability_curve(predicted, observed)
    assert len(curve["bins"]) == 10 and curve["ece"] < 0.01
    skewed = reliability_curve(np.clip(predicted * 1.5, 0, 1), observed)
    assert skewed["ece"] > 0.05


def test_campaign_rows_come_from_the_panel_after_the_first_purchase(small_market_dir: Path) -> None:
    action_ids = tuple(a.id for a in DEMO_ACTIONS)
    tables = load_inputs(small_market_dir, as_of=SMALL_AS_OF, action_ids=list(action_ids))
    with Store.create(tables) as store:
        as_of = pd.Timestamp(SMALL_AS_OF)
        panel = weekly_panel(store, as_of, horizon_start(as_of), action_ids[1:])
        examples = campaign_examples(
            store, panel, action_ids, windows=((1, 2),), weekly_discount=0.9
        )
    assert len(examples) > 0
    assert np.all(examples.weeks > panel.first_week[examples.rows])
    assert set(np.unique(examples.action)) <= set(range(len(action_ids)))
    assert np.all((examples.propensity > 0) & (examples.propensity <= 1))
    spend = np.expm1(panel.values[..., panel.channel("log_spend")])
    r, w = examples.rows[0], examples.weeks[0]
    if examples.future_observed[0, 0]:
        assert examples.future[0, 0] == pytest.approx(
            0.9 * spend[r, w + 1] + 0.81 * spend[r, w + 2], rel=1e-5
        )
    assert not examples.future_observed[examples.weeks + 2 >= panel.weeks].any()
    # The logged action is the contact channel of that week in the panel.
    treated = examples.action > 0
    channel = np.array(
        [panel.channel(f"contact_{action_ids[a]}") for a in examples.action[treated]]
    )
    assert np.all(panel.values[examples.rows[treated], examples.weeks[treated], channel] == 1.0)


def test_bad_parameters_are_named() -> None:
    examples, _ = _randomised_log(rows=500)
    with pytest.raises(ValueError, match="'groups' parameter of DoublyRobustEffectLearner"):
        DoublyRobustEffectLearner(action_ids=ACTIONS, groups=1).fit(examples)
    with pytest.raises(ValueError, match=r"'shrink_noisy_effects' parameter .* must be a bool"):
        DoublyRobustEffectLearner(action_ids=ACTIONS, shrink_noisy_effects="yes").fit(examples)
    with pytest.raises(ValueError, match="must start with 'none'"):
        DoublyRobustEffectLearner(action_ids=("lift", "none")).fit(examples)
    with pytest.raises(ValueError, match="needs at least 100"):
        DoublyRobustEffectLearner(action_ids=ACTIONS).fit(_randomised_log(rows=50)[0])


def test_an_action_the_log_barely_holds_gets_no_effect() -> None:
    examples, _ = _randomised_log(rows=20_000)
    learner = DoublyRobustEffectLearner(
        action_ids=(*ACTIONS, "never_sent"), epochs=1, device="cpu"
    ).fit(examples)
    effects = learner.effects(examples.features[:100])
    assert learner.diagnostics_.unsupported == {"never_sent": 0}
    assert np.all(effects.purchase_logit_shift[:, -1] == 0.0)
    assert np.all(effects.future_spend_delta[:, -1] == 0.0)
    assert "never_sent" not in learner.diagnostics_.calibration


def test_a_window_the_log_has_not_seen_end_gets_no_effect() -> None:
    examples, _ = _randomised_log(rows=20_000)
    # The log is younger than the later window: only 50 rows of each action have seen it end.
    observed = np.zeros_like(examples.future_observed)
    for a in range(len(ACTIONS)):
        observed[np.flatnonzero(examples.action == a)[:50]] = True
    examples = dataclasses.replace(examples, future_observed=observed)
    learner = DoublyRobustEffectLearner(action_ids=ACTIONS, epochs=1, device="cpu").fit(examples)
    effects = learner.effects(examples.features[:100])
    assert learner.diagnostics_.unobserved == {a: ["spend_weeks_1_4"] for a in ACTIONS[1:]}
    assert np.all(effects.future_spend_delta == 0.0)
    assert np.any(effects.purchase_logit_shift[:, 1] != 0.0)  # this week's effect is learned
    assert set(learner.diagnostics_.calibration["lift"]) == {"purchase_week0"}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(20, 400), scale=st.floats(0.01, 100.0))
def test_calibration_keeps_the_mean_and_never_amplifies(seed: int, rows: int, scale: float) -> None:
    generator = np.random.default_rng(seed)
    baseline = generator.gamma(1.0, scale, rows)
    proxy = generator.normal(0, scale, rows)
    pseudo = generator.normal(0, 3 * scale, rows) + generator.uniform(-1, 1) * proxy
    theta, se = _calibration(pseudo, baseline, proxy)
    assert 0.0 <= theta[1] <= 1.0
    calibrated = theta[0] * baseline + theta[1] * proxy
    assert calibrated.mean() == pytest.approx(pseudo.mean(), rel=1e-6, abs=1e-9 * scale)
    assert np.all(np.isfinite(se[:1]))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 500), bins=st.integers(1, 12))
def test_reliability_curve_accounts_for_every_prediction(seed: int, rows: int, bins: int) -> None:
    generator = np.random.default_rng(seed)
    predicted = np.round(generator.random(rows), 1)  # ties across bin edges
    observed = (generator.random(rows) < predicted).astype(float)
    curve = reliability_curve(predicted, observed, bins=bins)
    assert sum(b["count"] for b in curve["bins"]) == rows
    assert all(0.0 <= b["observed"] <= 1.0 for b in curve["bins"])
    assert 0.0 <= curve["ece"] <= 1.0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    customers=st.integers(2, 200),
    arms=st.integers(2, 4),
    weeks=st.integers(1, 3),
)
def test_cross_fitting_halves_keep_every_arm_in_both(
    seed: int, customers: int, arms: int, weeks: int
) -> None:
    """Halves are by customer (a customer's rows never split) and every arm logged for at least
    two customers has customers in both halves."""
    generator = np.random.default_rng(seed)
    rows = np.repeat(np.arange(customers), weeks)
    action = generator.integers(0, arms, len(rows))
    half = balanced_halves(rows, action, np.random.default_rng(seed))
    for customer in range(customers):
        assert len(set(half[rows == customer])) == 1
    first_arm = action[::weeks]
    for arm in range(arms):
        members = np.flatnonzero(first_arm == arm)
        if len(members) >= 2:
            assert set(half[members * weeks]) == {False, True}
