"""The no-action forecast net of the shop's past contacts: a hand-built randomised log whose
contacts double the purchase rate, one where they do nothing, and the forecaster scaling only
the customers the campaigns reached."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from forecasting.baseline import BaselineForecaster
from forecasting.contact_inflation import contact_inflation
from shopdata.store import Store

HORIZON = pd.Timestamp("2026-06-01")  # a Monday


def _shop(
    lift: float, *, seed: int = 0, customers: int = 4000, weeks: int = 26, logged_share: float = 1.0
) -> Store:
    """`customers` buying with probability 0.05 a week over 52 weeks before HORIZON; in the
    last `weeks` weeks the first `logged_share` of them are in a campaign that e-mails each
    with probability 0.5 a week and raises that week's purchase probability by `lift`."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:05d}" for i in range(customers)])
    history = 52
    week_starts = HORIZON - pd.to_timedelta(7 * np.arange(history, 0, -1), unit="D")
    logged = np.arange(customers) < int(logged_share * customers)
    in_log = np.arange(history) >= history - weeks  # [W]
    contacted = (rng.random((customers, history)) < 0.5) & logged[:, None] & in_log[None, :]
    probability = 0.05 + lift * contacted
    bought = rng.random((customers, history)) < probability
    bought[:, 0] = True  # everyone's first purchase opens the history
    rows, cols = np.nonzero(bought)
    transactions = pd.DataFrame(
        {
            "customer_id": ids[rows],
            "ts": week_starts[cols] + pd.Timedelta(hours=10),
            "amount": rng.gamma(2.0, 20.0, len(rows)),
        }
    )
    lrows, lcols = np.nonzero(logged[:, None] & in_log[None, :])
    log = pd.DataFrame(
        {
            "customer_id": ids[lrows],
            "week_start": week_starts[lcols],
            "action": np.where(contacted[lrows, lcols], "email", "none"),
            "propensity": 0.5,
        }
    )
    connection = duckdb.connect(":memory:")
    connection.register("t", transactions)
    connection.register("l", log)
    connection.execute("CREATE TABLE transactions AS SELECT * FROM t")
    connection.execute("CREATE TABLE campaign_log AS SELECT * FROM l")
    return Store(connection, None)


def test_contacts_that_double_the_purchase_rate_are_taken_out_of_the_history() -> None:
    """Half the weeks contacted, each doubling 0.05: the logged weeks' purchase rate is 0.075,
    under no action 0.05, so the factor is 2/3."""
    inflation = contact_inflation(_shop(lift=0.05), HORIZON)
    assert inflation is not None
    assert inflation.factor == pytest.approx(2 / 3, abs=0.02)
    expected_added = 0.05 * 0.5 * 4000 * 26
    assert abs(inflation.added_purchase_weeks - expected_added) < 4 * inflation.standard_error
    assert inflation.logged_rows == 4000 * 26
    assert inflation.to_dict()["logged_customers"] == 4000


def test_contacts_that_do_nothing_leave_the_forecast_alone() -> None:
    for seed in range(3):
        inflation = contact_inflation(_shop(lift=0.0, seed=seed), HORIZON)
        assert inflation is not None
        assert abs(inflation.factor - 1.0) < 0.01  # shrunk to 1 unless the log says otherwise


def test_a_log_without_controls_or_propensities() -> None:
    """No `none` row: nothing to compare with (None). `none` rows without a logged propensity
    take their week's share of `none` rows: the same figure here, where the design was 0.5."""
    store = _shop(lift=0.05)
    given = contact_inflation(store, HORIZON)
    store.connection.execute("UPDATE campaign_log SET propensity = NULL")
    estimated = contact_inflation(store, HORIZON)
    assert given is not None and estimated is not None
    assert estimated.factor == pytest.approx(given.factor, abs=0.01)
    store.connection.execute("DELETE FROM campaign_log WHERE action = 'none'")
    assert contact_inflation(store, HORIZON) is None


def test_the_forecaster_scales_only_the_customers_the_campaigns_reached() -> None:
    """With `correct_contact_inflation=True` the logged customers' no-action probabilities and
    CLV are scaled by the factor and the others' are not; by default it is only reported."""
    store = _shop(lift=0.05, logged_share=0.5)
    options = {"horizon_weeks": 4, "learn_effects": False, "device": "cpu"}
    corrected = BaselineForecaster(**options, correct_contact_inflation=True).fit(
        store, HORIZON - pd.Timedelta(days=1)
    )
    raw = BaselineForecaster(**options).fit(store, HORIZON - pd.Timedelta(days=1))
    factor = corrected.inflation_.factor
    assert 0.55 < factor < 0.8
    a, b = corrected.forecast(), raw.forecast()
    logged = np.isin(a.customer_ids, corrected.inflation_.logged_customers)
    assert logged.sum() == 2000
    ratio = a.purchase_prob[:, 0, :] / b.purchase_prob[:, 0, :]
    np.testing.assert_allclose(ratio[logged], factor, rtol=1e-6)
    np.testing.assert_allclose(ratio[~logged], 1.0, rtol=1e-9)
    np.testing.assert_allclose(a.clv[logged] / b.clv[logged], factor, rtol=1e-6)
    assert a.metadata.parameters["contact_inflation"]["factor"] == factor
    assert a.metadata.parameters["contact_inflation"]["applied"] is True
    # by default measured and reported, not applied (docs/forecasting.md says why)
    assert b.metadata.parameters["contact_inflation"]["factor"] == factor
    assert b.metadata.parameters["contact_inflation"]["applied"] is False
    assert b.metadata.parameters["contact_inflation"]["logged_customers"] == 2000
    assert len(raw.inflation_.logged_customers) == 0  # reported only: no ids carried
