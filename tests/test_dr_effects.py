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

from forecasting.campaign_examples import CampaignExamples, campaign_examples, no_contact_after
from forecasting.cross_fitting import (
    balanced_halves,
    calibration_loadings,
    clustered_standard_error,
)
from forecasting.dr_effects import DoublyRobustEffectLearner
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


def test_later_spend_means_never_exceed_the_largest_spend_the_log_shows(
    learned: tuple[DoublyRobustEffectLearner, CampaignExamples, dict],
) -> None:
    """Customers far outside the log's features (x 1e4): the outcome network's exp heads would
    extrapolate to any size, even overflow; the means are capped at the largest observed
    outcome of the window, so the effects stay finite and no larger than that."""
    learner, examples, _ = learned
    assert learner.outcome_cap_[0] == pytest.approx(examples.future[:, 0].max())
    far = learner._standardise(examples.features[:200] * 1e4)
    for model in learner.models_:
        means = learner._means(model, far)
        assert np.all(np.isfinite(means)) and means[..., 1].max() <= learner.outcome_cap_[0]
    effects = learner.effects(examples.features[:200] * 1e4)
    assert np.all(np.isfinite(effects.future_spend_delta))
    assert np.abs(effects.future_spend_delta).max() <= 2 * learner.outcome_cap_[0]


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
    noise_theta, _ = calibration_loadings(pseudo, baseline, generator.normal(0, 1, 20_000))
    true_theta, _ = calibration_loadings(pseudo, baseline, true_effect)
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
        theta, se = calibration_loadings(pseudo, baseline, true_effect)
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
    # A row whose customer was contacted in either of the two weeks after it has no-contact
    # weight 0 for weeks 1-2; one with none logged in both weighs at least 1.
    contacted = panel.values[..., [panel.channel(f"contact_{a}") for a in action_ids[1:]]]
    following = contacted.any(axis=2)  # [N, W]
    within = examples.weeks + 2 < panel.weeks
    r, w = examples.rows[within], examples.weeks[within]
    again = following[r, w + 1] | following[r, w + 2]
    weight = examples.no_contact_weight()[within, 0]
    assert again.any() and np.all(weight[again] == 0.0)
    assert np.all(weight[~again] >= 1.0)


def test_the_no_contact_weight_multiplies_the_following_weeks_factors() -> None:
    """Customer 0 is logged in weeks 0-3: none (P 0.5), none (P 0.8), contact, none (P 0.5);
    customer 1 in weeks 0 and 2 only (week 1 has no row: no contact could be sent), both none
    (P 0.25). Weeks 1-2 after each row: the product of 1 / P(none) for a logged none, 0 after
    a contact, 1 for a week without a row."""
    rows = np.array([0, 0, 0, 0, 1, 1])
    weeks = np.array([0, 1, 2, 3, 0, 2])
    action = np.array([0, 0, 2, 0, 0, 0])
    propensity = np.array([0.5, 0.8, 0.3, 0.5, 0.25, 0.25])
    weight = no_contact_after(rows, weeks, action, propensity, ((1, 1), (1, 2)))
    expected = np.array(
        [
            [1 / 0.8, 0.0],  # week 1 none, week 2 contact
            [0.0, 0.0],  # week 2 contact
            [1 / 0.5, 1 / 0.5],  # week 3 none, week 4 no row
            [1.0, 1.0],  # nothing logged after
            [1.0, 1 / 0.25],  # week 1 no row, week 2 none
            [1.0, 1.0],
        ]
    )
    np.testing.assert_allclose(weight, expected)


def _fatigued_weekly_log(
    customers: int = 4000, weeks: int = 16, seed: int = 5
) -> tuple[CampaignExamples, float]:
    """Every customer-week randomised (contact with probability 0.4, independently), spend per
    week 1 + a contact's lift of 2.0, halved for each contact in the four weeks before (fatigue),
    and each contact lowers the spend of the four weeks after it by 0.3 (pull-forward). Alone, a
    contact changes weeks 1-4 by -1.2; under the log's continuing contacts also by the lift it
    takes from them (each following week: 0.4 * E[0.5^b], b ~ Binomial(3, 0.4), = 0.2048;
    -0.82 over four weeks, -2.02 in all). Returns the rows of weeks 0 .. weeks - 5 (window
    observed) and the effect of the contact alone over weeks 1-4."""
    generator = np.random.default_rng(seed)
    contact = generator.random((customers, weeks)) < 0.4  # [N, W]
    before = np.zeros((customers, weeks))
    for lag in range(1, 5):
        before[:, lag:] += contact[:, :-lag]
    spend = 1.0 + contact * 2.0 * 0.5**before - 0.3 * np.minimum(before, 4)
    spend += generator.normal(0, 1.0, spend.shape)
    rows = np.repeat(np.arange(customers), weeks)
    week = np.tile(np.arange(weeks), customers)
    action = contact[rows, week].astype(np.int64)
    propensity = np.where(action == 1, 0.4, 0.6)
    # Every week is logged, so each row's following contacts are seen; the weights must be
    # read off all of them (a row whose following weeks were left out would look uncontacted).
    weight = no_contact_after(rows, week, action, propensity, ((1, 4),))
    keep = week < weeks - 4  # the rows whose weeks 1-4 are observed
    rows, week, action, propensity, weight = (
        rows[keep],
        week[keep],
        action[keep],
        propensity[keep],
        weight[keep],
    )
    future = np.stack([spend[rows, week + s] for s in range(1, 5)]).sum(axis=0)[:, None]
    noise = generator.normal(size=(len(rows), 2)).astype(np.float32)  # uninformative features
    examples = CampaignExamples(
        rows=rows,
        weeks=week,
        features=noise,
        feature_names=("x0", "x1"),
        action=action,
        propensity=propensity,
        bought=(spend[rows, week] > 1.5).astype(np.float32),
        spend=np.maximum(spend[rows, week], 0).astype(np.float32),
        future=future,
        future_observed=np.ones((len(rows), 1), bool),
        windows=((1, 4),),
        no_contact_after=weight,
    )
    return examples, -1.2


@pytest.mark.slow
def test_a_window_learned_for_then_no_contact_leaves_out_the_shops_later_contacts() -> None:
    """The weeks 1-4 effect, weighted by the inverse probability of no further contact, is the
    contact's effect alone (-1.2, within four standard errors); learned under the log's own
    continuing contacts (no_contact_through_week=0), it also carries the fatigue those contacts
    suffer, which a plan that does not send them would not."""
    examples, alone = _fatigued_weekly_log()
    rows = {}
    for through in (4, 0):
        learner = DoublyRobustEffectLearner(
            action_ids=("none", "contact"),
            hidden=16,
            epochs=3,
            device="cpu",
            seed=0,
            no_contact_through_week=through,
            shrink_noisy_effects=False,
        ).fit(examples)
        rows[through] = learner.diagnostics_.calibration["contact"]["spend_weeks_1_4"]
    weighted, logged = rows[4], rows[0]
    assert weighted["followed_by"] == "no contact" and logged["followed_by"] == "the log's contacts"
    assert abs(weighted["doubly_robust_effect"] - alone) < 4 * weighted["doubly_robust_effect_se"]
    assert (
        abs(logged["doubly_robust_effect"] - (alone - 0.82)) < 4 * logged["doubly_robust_effect_se"]
    )
    assert weighted["doubly_robust_effect"] > logged["doubly_robust_effect"] + 0.5
    assert logged["doubly_robust_effect_se"] < weighted["doubly_robust_effect_se"]


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


def test_a_window_the_shop_almost_always_followed_with_a_contact_gets_no_effect() -> None:
    """Learned for "then no contact", weeks 1-4 of `lift` rest on the 50 of its rows that saw
    no further contact: too few (min_logged 100), so that effect is not learned, and said so;
    with the log's continuation (no_contact_through_week=0) every row counts and it is."""
    examples, _ = _randomised_log(rows=20_000)
    weight = np.ones((len(examples), 1))
    lift = np.flatnonzero(examples.action == ACTIONS.index("lift"))
    weight[lift[50:]] = 0.0
    examples = dataclasses.replace(examples, no_contact_after=weight)
    learner = DoublyRobustEffectLearner(action_ids=ACTIONS, epochs=1, device="cpu").fit(examples)
    assert learner.diagnostics_.unobserved == {"lift": ["spend_weeks_1_4"]}
    assert "spend_weeks_1_4" not in learner.diagnostics_.calibration["lift"]
    logged = DoublyRobustEffectLearner(
        action_ids=ACTIONS, epochs=1, device="cpu", no_contact_through_week=0
    ).fit(examples)
    assert logged.diagnostics_.unobserved == {}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(20, 400), scale=st.floats(0.01, 100.0))
def test_calibration_keeps_the_mean_and_never_amplifies(seed: int, rows: int, scale: float) -> None:
    generator = np.random.default_rng(seed)
    baseline = generator.gamma(1.0, scale, rows)
    proxy = generator.normal(0, scale, rows)
    pseudo = generator.normal(0, 3 * scale, rows) + generator.uniform(-1, 1) * proxy
    theta, se = calibration_loadings(pseudo, baseline, proxy)
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


def test_each_logged_customer_is_scored_by_the_half_that_did_not_learn_from_them() -> None:
    """With the rows' customer ids, the learner keeps which half learned from whom: a customer
    of the first half (which trained model 0) is scored by model 1 alone, one of the second by
    model 0, a stranger by both averaged."""
    examples, _ = _randomised_log(rows=6000, seed=5)
    ids = np.array([f"k{r}" for r in examples.rows])
    learner = DoublyRobustEffectLearner(action_ids=ACTIONS, epochs=2, device="cpu", seed=0).fit(
        examples, customer_ids=ids
    )
    held = learner.held_out(np.append(ids, "stranger"))
    assert held[-1] == -1 and set(held[:-1]) == {0, 1}
    first = learner.learned_half_[np.searchsorted(learner.learned_ids_, ids)] == 0
    np.testing.assert_array_equal(held[:-1], np.where(first, 1, 0))
    rows = np.array([np.flatnonzero(held[:-1] == 0)[0], np.flatnonzero(held[:-1] == 1)[0]])
    features = examples.features[rows]
    crossed = learner.effects(features, held[rows]).future_spend_delta
    for row, k in enumerate(held[rows]):
        alone = learner._calibrated(k, learner._means(learner.models_[k], learner._standardise(
            features[row : row + 1])))  # fmt: skip
        assert crossed[row] == pytest.approx(alone[0, :, 1:].sum(axis=1))
    both = learner.effects(features).future_spend_delta  # no ids: the two halves averaged
    assert not np.allclose(both, crossed)
