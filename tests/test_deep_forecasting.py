"""The deep forecasters: ZILN and count maths against scipy, the weekly panel without leakage,
both networks trained end to end at tiny sizes on CPU, review embeddings and their cache."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.special as special
import scipy.stats as stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.report_data import ReportData
from forecasting.anchors import (
    Labels,
    history_at,
    labels_after,
    sequence_window,
    summary_at,
    tabular_features,
    tabular_names,
)
from forecasting.backtest import run_backtest
from forecasting.bgnbd import BetaGeometricNBD
from forecasting.deep import DeepForecaster
from forecasting.deep_purchases import DeepPurchaseModel
from forecasting.features import purchase_filter, purchase_summary
from forecasting.model_files import load_model_files
from forecasting.panel import weekly_panel
from forecasting.purchase_curve import aggregate_matching_shift
from forecasting.review_embeddings import EmbeddingCache, encode_texts
from forecasting.ziln import count_median, negative_binomial_loss, ziln_weekly_loss
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF

CONTACTS = tuple(a.id for a in DEMO_ACTIONS if a.id != "none")


@pytest.fixture(scope="module")
def store(small_market_dir: Path):
    tables = load_inputs(
        small_market_dir, as_of=SMALL_AS_OF, action_ids=[a.id for a in DEMO_ACTIONS]
    )
    with Store.create(tables) as opened:
        yield opened


def test_ziln_loss_is_bernoulli_plus_lognormal_likelihood() -> None:
    logit = torch.tensor([[0.3, -1.0]])
    mu, log_sigma = torch.tensor([1.5]), torch.tensor([-0.2])
    bought = torch.tensor([[1.0, 0.0]])
    spend = torch.tensor([[4.0, 0.0]])
    loss = ziln_weekly_loss(logit, mu, log_sigma, bought, spend, torch.ones(1, 2))
    p = 1 / (1 + np.exp(-np.array([0.3, -1.0])))
    expected = -np.log(p[0]) - np.log(1 - p[1])
    expected -= stats.lognorm.logpdf(4.0, s=np.exp(-0.2), scale=np.exp(1.5))
    assert float(loss) == pytest.approx(expected / 2, rel=1e-5)


def test_negative_binomial_loss_and_median_match_scipy() -> None:
    mean, shape, count = 2.5, 0.7, 3.0
    loss = negative_binomial_loss(
        torch.tensor([mean], dtype=torch.float64),
        torch.tensor([np.log(shape)], dtype=torch.float64),
        torch.tensor([count], dtype=torch.float64),
    )
    p = shape / (shape + mean)
    assert float(loss) == pytest.approx(-stats.nbinom.logpmf(count, shape, p), rel=1e-9)
    medians = count_median(np.array([0.2, 2.5, 10.0]), np.array([0.5, 0.7, 5.0]))
    assert medians[0] == 0  # mostly zero: the MAE point forecast is 0 although the mean is not
    assert medians[2] == stats.nbinom.median(5.0, 5.0 / 15.0)


def test_bgnbd_predictive_draws_average_to_the_closed_form(store: Store) -> None:
    summary = purchase_summary(store, SMALL_AS_OF)
    model = BetaGeometricNBD(device="cpu").fit(summary)
    draws = model.sample_purchases(13.0, summary, draws=400, seed=3)
    expected = model.expected_purchases(13.0, summary)
    assert draws.mean(axis=1).sum() == pytest.approx(expected.sum(), rel=0.02)
    # no purchase in closed form against the draws
    quiet = model.probability_no_purchase(13.0, summary)
    np.testing.assert_allclose((draws == 0).mean(axis=1).mean(), quiet.mean(), rtol=0.02)
    # the backtest's medians: 0 where no purchase is at least as likely as not (the draws'
    # median agrees wherever that is clear), drawn elsewhere, a chunk of customers at a time
    whole = model.median_purchases(13.0, summary, draws=400, seed=3, chunk=len(summary))
    sampled = np.median(draws, axis=1)
    assert (whole[quiet >= 0.5] == 0).all() and (sampled[quiet >= 0.6] == 0).all()
    assert (quiet < 0.5).any() and (whole[quiet < 0.5] > 0).any()
    assert whole.mean() == pytest.approx(sampled.mean(), rel=0.05)
    chunked = model.median_purchases(13.0, summary, draws=400, seed=3, chunk=97)
    assert chunked.mean() == pytest.approx(whole.mean(), rel=0.05)


def test_panel_matches_the_sql_summary_and_never_looks_ahead(store: Store) -> None:
    panel = weekly_panel(store, SMALL_AS_OF, horizon_start(SMALL_AS_OF), CONTACTS)
    rows = np.arange(len(panel))
    summary = summary_at(history_at(panel, rows, panel.weeks))
    sql = purchase_summary(store, SMALL_AS_OF)
    np.testing.assert_array_equal(summary.customer_ids, sql.customer_ids.astype(str))
    np.testing.assert_allclose(summary.frequency, sql.frequency)
    np.testing.assert_allclose(summary.recency, sql.recency)

    # Category channels hold every purchase line of their category, week by week.
    assert len(panel.categories) > 1
    lines = store.query(
        "SELECT customer_id, category, count(*) AS n FROM transactions "
        f"WHERE {purchase_filter(store)} AND ts <= ? GROUP BY ALL",
        [pd.Timestamp(SMALL_AS_OF)],
    ).pivot_table(index="customer_id", columns="category", values="n", fill_value=0)
    lines = lines.reindex(index=panel.customer_ids, columns=list(panel.categories), fill_value=0)
    from_panel = np.stack(
        [panel.values[..., panel.channel(f"category_{c}")].sum(axis=1) for c in panel.categories],
        axis=1,
    )
    np.testing.assert_array_equal(from_panel, lines.to_numpy())
    shares = tabular_features(history_at(panel, rows, panel.weeks))[
        :, [i for i, n in enumerate(tabular_names(panel)) if n.startswith("category_share_")]
    ]
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-5)

    anchor = panel.weeks - 10
    before = tabular_features(history_at(panel, rows, anchor))
    events, _ = sequence_window(panel, rows, np.full(len(rows), anchor), 16)
    future = dataclasses.replace(panel, values=panel.values.copy())
    future.values[:, anchor:] = 7.0  # rewrite everything from the anchor on
    np.testing.assert_array_equal(before, tabular_features(history_at(future, rows, anchor)))
    again, _ = sequence_window(future, rows, np.full(len(rows), anchor), 16)
    np.testing.assert_array_equal(events, again)
    labels = labels_after(panel, rows[:5], np.full(5, panel.weeks - 2), 4)
    np.testing.assert_array_equal(labels.observed[0], [1, 1, 0, 0])


@pytest.mark.parametrize("hours_after_monday", [0, 10])
def test_first_purchases_at_the_cut_off_monday_run(
    small_market_dir: Path, tmp_path: Path, hours_after_monday: int
) -> None:
    """Customers whose first purchase is at the backtest's cut-off (Monday 00:00), or later on
    that Monday when the cut-off is too, are in the panel's last week (it crashed with an
    IndexError in summary_at) and the deep backtest runs."""
    cut_off = horizon_start(SMALL_AS_OF - pd.Timedelta(weeks=8))
    tables = load_inputs(
        small_market_dir, as_of=SMALL_AS_OF, action_ids=[a.id for a in DEMO_ACTIONS]
    )
    transactions = tables.transactions[tables.transactions["ts"] <= SMALL_AS_OF]
    newcomers = pd.DataFrame(
        {
            "customer_id": ["NEW1", "NEW2"],
            "ts": [cut_off, cut_off + pd.Timedelta(hours=hours_after_monday)],
            "amount": [20.0, 35.0],
        }
    )
    data = tmp_path / "data"
    data.mkdir()
    pd.concat([transactions, newcomers], ignore_index=True)[
        ["customer_id", "ts", "amount", "category"]
    ].to_parquet(data / "transactions.parquet", index=False)
    with Store.create(load_inputs(data, as_of=SMALL_AS_OF)) as opened:
        end = cut_off + pd.Timedelta(hours=hours_after_monday)
        panel = weekly_panel(opened, end, horizon_start(end), ())
        assert (panel.first_week < panel.weeks).all()
        summary = summary_at(history_at(panel, np.arange(len(panel)), panel.weeks))
        assert {"NEW1", "NEW2"} <= set(summary.customer_ids)
        assert (summary.age >= 0).all()
        report = run_backtest(
            opened,
            calibration_end=end,
            holdout_weeks=4,
            model="ziln",
            device="cpu",
            deep_options={"epochs": 1, "anchors": 2, "max_examples": 1000, "hidden": 8},
        )
        assert report.customers == len(summary)


@pytest.mark.parametrize("kind", ["ziln", "sequence"])
def test_deep_purchase_model_trains_and_forecasts(store: Store, kind: str) -> None:
    options = dict(
        kind=kind,
        epochs=2,
        anchors=3,
        max_examples=3000,
        hidden=16,
        sequence_weeks=8,
        contact_actions=CONTACTS,
        device="cpu",
        seed=5,
    )
    model = DeepPurchaseModel(**options).fit(store, SMALL_AS_OF)
    forecast = model.predict(6)
    n = len(model.panel_)
    assert forecast.purchase_prob.shape == (n, 6)
    assert ((forecast.purchase_prob > 0) & (forecast.purchase_prob < 1)).all()
    assert (forecast.spend > 0).all() and np.isfinite(forecast.spend).all()
    assert (forecast.median_weeks() <= np.ceil(forecast.expected_weeks()) + 6).all()
    assert np.isfinite(model.losses_).all()
    # A correction of BG/NBD, not a replacement: customers keep roughly BG/NBD's order.
    rho = stats.spearmanr(forecast.expected_weeks(), forecast.prior.sum(axis=1)).statistic
    assert rho > 0.6
    # The network says who buys, not how much the cohort buys: every week's expected purchases
    # are BG/NBD's, and the customers' log-odds corrections differ.
    np.testing.assert_allclose(
        forecast.purchase_prob.sum(axis=0), forecast.prior.sum(axis=0), rtol=1e-9
    )
    correction = special.logit(forecast.purchase_prob) - special.logit(forecast.prior)  # [N, 6]
    assert correction.std(axis=0).min() > 1e-3
    repeat = DeepPurchaseModel(**options).fit(store, SMALL_AS_OF).predict(6)
    np.testing.assert_allclose(repeat.purchase_prob, forecast.purchase_prob, rtol=1e-5)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    customers=st.integers(1, 300),
    spread=st.floats(0.1, 8.0),
    share=st.floats(0.001, 0.999),
)
def test_aggregate_matching_shift_hits_every_weeks_target(
    seed: int, customers: int, spread: float, share: float
) -> None:
    generator = np.random.default_rng(seed)
    logit = generator.normal(-3.0, spread, size=(customers, 5))
    target = share * customers * np.linspace(0.5, 1.0, 5)
    shifted = special.expit(logit + aggregate_matching_shift(logit, target))
    np.testing.assert_allclose(shifted.sum(axis=0), target, rtol=1e-8)


def test_deep_purchase_model_rejects_bad_parameters(store: Store) -> None:
    with pytest.raises(ValueError, match="The 'kind' parameter of DeepPurchaseModel"):
        DeepPurchaseModel(kind="lstm").fit(store, SMALL_AS_OF)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no training anchor"):
        DeepPurchaseModel(min_history_weeks=10_000, device="cpu").fit(store, SMALL_AS_OF)
    with pytest.raises(ValueError, match=r"The 'max_examples' parameter .* Got 0 instead"):
        DeepPurchaseModel(max_examples=0).fit(store, SMALL_AS_OF)


@pytest.mark.parametrize(
    ("kind", "device", "expected"),
    [("sequence", "cpu", 50_000), ("ziln", "cpu", 300_000), ("sequence", "cuda", 300_000)],
)
def test_auto_training_size_follows_the_device(kind: str, device: str, expected: int) -> None:
    model = DeepPurchaseModel(kind=kind)  # type: ignore[arg-type]
    model.device_ = torch.device(device)  # what fit resolves first; no GPU needed to check
    assert model._resolve_max_examples() == expected


@pytest.mark.slow
def test_deep_forecaster_fills_the_forecast_set(store: Store, tmp_path: Path) -> None:
    forecaster = DeepForecaster(
        model="ziln", horizon_weeks=4, epochs=1, use_reviews=False, device="cpu"
    )
    forecast = forecaster.fit(store, SMALL_AS_OF).forecast()
    assert forecast.shape[1:] == (len(DEMO_ACTIONS), 4)
    assert forecast.metadata.model == "ziln"
    assert forecast.metadata.parameters["deep"]["training_examples"] > 0
    # Multi-horizon effects with their held-out checks, as the run report shows them.
    effects = forecast.metadata.parameters["effects"]
    assert effects["windows"] == [[1, 4], [5, 12], [13, 26], [27, 52]]
    assert set(effects["calibration"]) == {a.id for a in DEMO_ACTIONS} - {"none"}
    assert np.all(forecast.future_margin_delta[:, 0] == 0.0)
    report = ReportData(
        run_id="r",
        scenario={},
        solution={"constraints": []},
        kpis={},
        forecast=json.loads(json.dumps(dataclasses.asdict(forecast.metadata), default=str)),
        allocation=pd.DataFrame(),
        frontier=None,
    )
    table = report.effect_table()
    assert table is not None and len(table) == 5 * (1 + 4)  # the week and four windows
    assert report.reliability()["bins"]

    # Saved with configuration, metrics and weights; the reloaded parts compute the same.
    saved = load_model_files(forecaster.save_model(tmp_path / "model"))
    assert saved.description["forecaster"]["model"] == "ziln"
    assert saved.description["purchase_model"]["training_examples"] > 0
    network = saved.purchases.network_
    features = torch.randn(7, network.config.tabular_features)
    with torch.no_grad():
        torch.testing.assert_close(
            network(features), forecaster.purchases_.network_.eval()(features)
        )
    learner = forecaster.effect_learner_
    rows = np.random.default_rng(0).normal(size=(9, len(learner.feature_mean_)))
    reloaded, original = saved.effects.effects(rows), learner.effects(rows)
    np.testing.assert_allclose(reloaded.purchase_logit_shift, original.purchase_logit_shift)
    np.testing.assert_allclose(reloaded.future_spend_delta, original.future_spend_delta)
    forecaster.save_model(tmp_path / "model")  # replacing a saved model leaves no debris
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


@pytest.mark.slow
def test_a_saved_forecaster_scores_newer_data_without_training(
    store: Store, tmp_path: Path
) -> None:
    trained_as_of = pd.Timestamp(SMALL_AS_OF) - pd.Timedelta(weeks=4)
    with pytest.raises(ValueError, match="no trained model to refresh"):
        DeepForecaster(model="ziln").refresh(store, trained_as_of)
    with pytest.raises(ValueError, match="no trained network to refresh"):
        DeepPurchaseModel().refresh(store, trained_as_of)
    forecaster = DeepForecaster(
        model="ziln",
        horizon_weeks=4,
        epochs=1,
        use_reviews=True,
        review_cache=tmp_path / "cache.duckdb",
        device="cpu",
    ).fit(store, trained_as_of)
    original = forecaster.forecast()
    folder = forecaster.save_model(tmp_path / "model")

    # The same data through the saved files gives the same forecast: categories, review
    # projection, feature scaling and both learners all come back.
    again = DeepForecaster.from_files(folder, device="cpu").refresh(store, trained_as_of).forecast()
    np.testing.assert_array_equal(again.customer_ids, original.customer_ids)
    for name in ("purchase_prob", "spend", "future_margin_delta", "clv"):
        np.testing.assert_allclose(getattr(again, name), getattr(original, name), rtol=1e-5)

    # Four weeks later: four more weeks of events and a new horizon, scored by the same
    # networks; only the new weeks' review texts are encoded.
    later_forecaster = DeepForecaster.from_files(folder, horizon_weeks=6, device="cpu")
    later = later_forecaster.refresh(store, SMALL_AS_OF).forecast()
    deep = later.metadata.parameters["deep"]
    assert deep["retrained"] is False
    assert deep["trained_as_of"] == f"{trained_as_of:%Y-%m-%d}"
    assert later.purchase_prob.shape[2] == 6
    assert later_forecaster.purchases_.panel_.weeks == forecaster.purchases_.panel_.weeks + 4
    assert later.week_starts[0] == original.week_starts[0] + np.timedelta64(28, "D")
    assert 0 < deep["reviews_encoded"] < original.metadata.parameters["deep"]["reviews_encoded"]
    assert np.isfinite(later.future_margin_delta).all()
    network = later_forecaster.purchases_.network_
    torch.testing.assert_close(
        next(network.parameters()), next(forecaster.purchases_.network_.parameters())
    )


def test_review_embeddings_separate_tone_and_are_cached(tmp_path: Path) -> None:
    texts = [
        "Excellent garden tools, absolutely love it!",
        "Best fashion shop I know, fantastic service.",
        "Terrible experience buying electronics here.",
        "Very disappointed with this home order.",
    ]
    vectors = encode_texts(texts, device="cpu")
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[1, 3]

    cache = EmbeddingCache(tmp_path / "cache.duckdb")
    _, first, encoded = cache.embeddings(pd.Series(texts[:3]), device="cpu")
    cache.close()
    cache = EmbeddingCache(tmp_path / "cache.duckdb")
    hashes, second, encoded_again = cache.embeddings(pd.Series(texts), device="cpu")
    cache.close()
    assert (encoded, encoded_again) == (3, 1)  # the second run encodes only the new text
    np.testing.assert_allclose(second[:3], first, atol=1e-6)
    assert len(hashes) == 4


def test_a_spend_level_with_no_purchase_in_any_label_window_comes_from_the_history(
    store: Store,
) -> None:
    """A shop whose customers mostly bought once, long before the anchors: no training label
    window holds a purchase. The spend head's level is then every purchase week's mean log
    spend in the history, not the mean of nothing (NaN, which made every spend forecast NaN
    and the deep plan gain 0.00 on a real one-shot campaign)."""
    model = DeepPurchaseModel(kind="ziln", device="cpu")
    model.panel_ = weekly_panel(store, SMALL_AS_OF, horizon_start(SMALL_AS_OF), CONTACTS)
    none = Labels(bought=np.zeros((4, 3)), spend=np.zeros((4, 3)), observed=np.ones((4, 3)))
    level = model._log_spend_level(none)
    bought = model.panel_.values[..., model.panel_.channel("bought")] > 0
    spend = np.expm1(model.panel_.values[..., model.panel_.channel("log_spend")][bought])
    assert np.isfinite(level) and level == pytest.approx(np.log(spend).mean())
    some = Labels(
        bought=np.array([[1.0, 0.0]]), spend=np.array([[20.0, 0.0]]), observed=np.ones((1, 2))
    )
    assert model._log_spend_level(some) == pytest.approx(np.log(20.0))
