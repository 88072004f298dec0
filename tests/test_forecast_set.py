"""The baseline forecaster fills the ForecastSet contract; the contract rejects bad arrays."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import valuation
from engine.scenario import load_scenario
from forecasting.baseline import BaselineForecaster
from forecasting.forecast_set import ForecastSet
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import discount_factors, horizon_start
from shopdata.device import resolve_device
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF
from tests.run_helpers import SCENARIO


@pytest.fixture(scope="module")
def forecast(small_market_dir: Path) -> ForecastSet:
    tables = load_inputs(
        small_market_dir, as_of=SMALL_AS_OF, action_ids=[a.id for a in DEMO_ACTIONS]
    )
    with Store.create(tables) as store:
        forecaster = BaselineForecaster(horizon_weeks=6, device="cpu", effect_epochs=2)
        return forecaster.fit(store, SMALL_AS_OF).forecast()


def test_shapes_ranges_and_contract(forecast: ForecastSet) -> None:
    n, a, h = forecast.shape
    assert a == len(DEMO_ACTIONS) and h == 6 and n > 1000
    assert forecast.action_ids[0] == "none"
    assert (forecast.purchase_prob > 0).all() and (forecast.purchase_prob < 1).all()
    assert (forecast.spend > 0).all()
    assert (forecast.future_margin_delta[:, 0, :] == 0).all()
    assert (forecast.clv > 0).all()
    assert str(forecast.week_starts[0]) == "2026-11-23"
    assert forecast.metadata.device == "cpu"
    assert forecast.item_affinity.candidates.shape == (n, 3)
    # Affinity candidates are distinct categories, probabilities below the week's purchase odds.
    candidates = forecast.item_affinity.candidates
    assert (np.sort(candidates, axis=1)[:, 1:] != np.sort(candidates, axis=1)[:, :-1]).all()
    assert (
        forecast.item_affinity.purchase_prob.sum(axis=1) <= forecast.purchase_prob[:, 0, 0] + 1e-12
    ).all()


def test_customers_who_buy_more_are_forecast_to_buy_more(
    forecast: ForecastSet, small_market_dir: Path
) -> None:
    """The no-action forecast follows the true purchase probabilities of the horizon."""
    from markets.demo.ground_truth import FILE_NAME, GroundTruth

    truth = GroundTruth.load(small_market_dir / FILE_NAME)
    index = {cid: i for i, cid in enumerate(truth.customer_ids)}
    rows = np.array([index[c] for c in forecast.customer_ids])
    horizon = forecast.shape[2]
    replay = truth.replay(np.zeros((len(truth.customer_ids), horizon), dtype=np.int64), seed=0)
    true_expected = replay.probability_none[rows].sum(axis=1)
    predicted = forecast.purchase_prob[:, 0, :].sum(axis=1)
    assert np.corrcoef(predicted, true_expected)[0, 1] > 0.6
    assert predicted.sum() == pytest.approx(true_expected.sum(), rel=0.25)


def test_round_trip(forecast: ForecastSet, tmp_path: Path) -> None:
    loaded = ForecastSet.load(forecast.save(tmp_path / "f"))
    np.testing.assert_array_equal(loaded.purchase_prob, forecast.purchase_prob)
    np.testing.assert_array_equal(
        loaded.item_affinity.candidates, forecast.item_affinity.candidates
    )
    assert loaded.metadata == forecast.metadata
    # One array alone, as the solve stage reads it; a name the file does not hold is named.
    np.testing.assert_array_equal(
        ForecastSet.load_array(tmp_path / "f", "purchase_prob"), forecast.purchase_prob
    )
    with pytest.raises(KeyError, match=r"forecast.npz holds no array 'spending'"):
        ForecastSet.load_array(tmp_path / "f", "spending")
    assert not list((tmp_path / "f").glob(".*.tmp"))


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        (
            "purchase_prob",
            lambda f: f.purchase_prob * 2 + 0.5,
            r"purchase_prob must lie in \[0, 1\]",
        ),
        ("spend", lambda f: f.spend[:, :, :-1], r"spend must be shaped"),
        ("future_margin_delta", lambda f: f.future_margin_delta + 1.0, "of 'none'"),
        ("clv", lambda f: np.full_like(f.clv, np.nan), "clv must be"),
        (
            "spend",
            lambda f: np.where(np.arange(f.shape[0])[:, None, None] == 2, np.nan, f.spend),
            r"spend holds NaN or infinite values in \d+ cells of 1 customers \(customer/action/"
            r"week: \w+/none/week 1",
        ),
        ("action_ids", lambda f: f.action_ids[::-1], "must start with 'none'"),
    ],
)
def test_contract_rejects(forecast: ForecastSet, field: str, bad, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(forecast, **{field: bad(forecast)})


def test_horizon_starts_on_monday() -> None:
    import pandas as pd

    assert horizon_start(pd.Timestamp("2026-11-23")) == pd.Timestamp("2026-11-23")
    assert horizon_start(pd.Timestamp("2026-11-25 13:00")) == pd.Timestamp("2026-11-30")


def test_device_resolution() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="'device' parameter"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA"):
            resolve_device("cuda")


def test_forecaster_parameter_errors() -> None:
    with pytest.raises(ValueError, match="'gross_margin' parameter of BaselineForecaster"):
        BaselineForecaster(gross_margin=1.5).fit(None, SMALL_AS_OF)  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk", [7, 100_000])
def test_valuation_in_chunks_is_the_formulas_on_whole_arrays(
    forecast: ForecastSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """engine/valuation.py fills the problem a chunk of customers at a time; every coefficient
    is the module docstring's formula on the whole arrays, bit for bit, whatever the chunk."""
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    monkeypatch.setattr(valuation, "CHUNK_CUSTOMERS", chunk)
    problem = valuation.value_problem(forecast, scenario)

    h, margin = scenario.horizon_weeks, scenario.gross_margin
    fixed = np.array([a.fixed_cost for a in scenario.actions])[None, :, None]
    rate = np.array([a.discount_rate for a in scenario.actions])[None, :, None]
    g = discount_factors(scenario.annual_discount_rate, h)[None, None, :]
    gross = forecast.purchase_prob[:, :, :h] * forecast.spend[:, :, :h]
    cost = fixed + rate * gross
    future = forecast.future_margin_delta[:, :, :h] * (margin / forecast.metadata.gross_margin)
    value = g * (margin * gross - cost) - g * (margin * gross[:, :1, :]) + future
    value[:, 0, :] = g[0, 0, :] * -cost[:, 0, :]
    np.testing.assert_array_equal(problem.cost, cost)
    np.testing.assert_array_equal(problem.revenue, gross * (1.0 - rate))
    np.testing.assert_array_equal(problem.value, value)
    floor = scenario.constraints.weekly_revenue_floor.share_of_baseline
    np.testing.assert_array_equal(
        problem.weekly_revenue_floor, floor * (gross[:, 0, :] * (1.0 - rate[0, 0, 0])).sum(axis=0)
    )
