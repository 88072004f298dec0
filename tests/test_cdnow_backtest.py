"""Issue 2's acceptance figure: our BG/NBD backtest on CDNOW agrees with lifetimes 0.11.3."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecasting.backtest import run_backtest
from markets.cdnow import CUSTOMERS, read_cdnow
from shopdata.store import Store
from shopdata.validation import InputTables

# lifetimes 0.11.3 on this machine: calibration_and_holdout_data(freq="W"), BetaGeoFitter().
REFERENCE = {"r": 0.284, "alpha": 6.72, "a": 0.708, "b": 2.37}
REFERENCE_FIGURES = {"actual_total": 18_440, "predicted_total": 16_507, "mae": 0.784, "rmse": 1.463}


@pytest.fixture(scope="module")
def cdnow_store(lifetimes_wheel: Path) -> Store:
    transactions = read_cdnow(lifetimes_wheel)
    return Store.create(InputTables(transactions, None, None, None, None))


def test_cdnow_has_all_customers_and_orders(lifetimes_wheel: Path) -> None:
    transactions = read_cdnow(lifetimes_wheel)
    assert transactions["customer_id"].nunique() == CUSTOMERS
    assert len(transactions) == 69_659
    assert transactions["ts"].min().year == 1997 and transactions["ts"].max().year == 1998


def test_bgnbd_backtest_agrees_with_lifetimes_within_two_percent(cdnow_store: Store) -> None:
    report = run_backtest(
        cdnow_store, calibration_end="1997-09-30", holdout_weeks=39, model="bgnbd", device="cpu"
    )
    assert report.customers == CUSTOMERS
    for name, value in REFERENCE.items():
        assert report.params[name] == pytest.approx(value, rel=0.02), name
    for name, value in REFERENCE_FIGURES.items():
        assert getattr(report, name) == pytest.approx(value, rel=0.02), name
    assert 0.3 < report.spearman < 1
    assert 0.5 < report.spend_gini < 1
    assert 0 <= report.spend_decile_mape < 0.5
    # Weekly probabilities of every customer in the 38 whole Monday weeks of the holdout.
    bins = report.reliability["bins"]
    assert sum(b["count"] for b in bins) == CUSTOMERS * 38
    assert report.reliability["ece"] < 0.005
    assert bins[-1]["observed"] > 5 * bins[0]["observed"]  # the ranking is real
