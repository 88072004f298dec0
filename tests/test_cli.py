"""End to end through the `ltv` command line on a small generated shop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from engine.cli import app
from forecasting.forecast_set import ForecastSet

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_demo_validate_fit_backtest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = _run(
        "data",
        "demo",
        "--customers",
        "800",
        "--weeks",
        "40",
        "--seed",
        "3",
        "--as-of",
        "2026-11-23",
        "--out",
        str(data),
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.output
    assert (data / "transactions.csv").is_file() and (data / "ground_truth.npz").is_file()

    store = tmp_path / "store.duckdb"
    result = _run("validate", "--data", str(data), "--store", str(store), "--as-of", "2026-11-23")
    assert result.exit_code == 0, result.output
    assert "campaign arms" in result.output and store.is_file()

    result = _run(
        "forecast",
        "fit",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "fc"),
        "--horizon-weeks",
        "4",
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].endswith(str(tmp_path / "fc"))
    forecast = ForecastSet.load(tmp_path / "fc")
    assert forecast.shape[1:] == (6, 4)
    assert str(forecast.week_starts[0]) == "2026-11-23"

    figures_path = tmp_path / "bt.json"
    result = _run(
        "forecast",
        "backtest",
        "--data",
        str(data),
        "--calibration-end",
        "2026-05-31",
        "--holdout-weeks",
        "12",
        "--json",
        str(figures_path),
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(figures_path.read_text())
    for key in (
        "model",
        "customers",
        "mae",
        "rmse",
        "predicted_total",
        "actual_total",
        "spearman",
        "spend_gini",
        "spend_decile_mape",
    ):
        assert key in figures
    assert figures["model"] == "bgnbd" and figures["customers"] > 100
    assert "weekly probability ECE" in result.output
    curve = figures["reliability"]
    assert 0 <= curve["ece"] < 0.1 and 0 < curve["brier"] < 0.25
    # Whole Monday weeks from 2026-06-01 to the holdout end (2026-08-23, a Sunday 00:00): 11.
    assert sum(b["count"] for b in curve["bins"]) == figures["customers"] * 11


def test_bad_input_exits_2_and_names_the_problem(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {"customer_id": ["a", "b"], "ts": ["2025-01-01", "2025-13-45"], "amount": [1.0, 2.0]}
    ).to_csv(data / "transactions.csv", index=False)
    store = tmp_path / "store.duckdb"
    result = _run("validate", "--data", str(data), "--store", str(store), "--as-of", "2026-01-01")
    assert result.exit_code == 2
    assert "transactions.csv, column 'ts'" in result.output and "row 2" in result.output
    assert not store.exists()


def test_cdnow_without_wheel_says_how_to_get_it(tmp_path: Path) -> None:
    result = _run("data", "cdnow", "--wheel-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "make data" in result.output


def test_a_saved_deep_model_forecasts_a_later_week_without_training(tmp_path: Path) -> None:
    data = tmp_path / "data"
    demo = ("data", "demo", "--customers", "600", "--weeks", "40", "--seed", "5")
    assert _run(*demo, "--as-of", "2026-11-23", "--out", str(data)).exit_code == 0
    # The shop's data four weeks earlier, to train on.
    earlier = tmp_path / "earlier"
    shutil.copytree(data, earlier)
    cut = (("transactions", "ts"), ("campaign_log", "week_start"), ("reviews", "ts"))
    for table, column in cut:
        frame = pd.read_parquet(earlier / f"{table}.parquet")
        frame[frame[column] < "2026-10-26"].to_parquet(earlier / f"{table}.parquet")
    fitted = tmp_path / "fitted"
    result = _run(
        "forecast", "fit", "--data", str(earlier), "--out", str(fitted), "--as-of", "2026-10-26",
        "--model", "ziln", "--no-reviews", "--horizon-weeks", "4", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (fitted / "model" / "model.json").is_file()

    scored = tmp_path / "scored"
    result = _run(
        "forecast", "predict", "--data", str(data), "--model-dir", str(fitted / "model"),
        "--out", str(scored), "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained as of 2026-10-26" in result.output
    forecast = ForecastSet.load(scored)
    assert str(forecast.week_starts[0]) == "2026-11-23" and forecast.shape[2] == 4
    assert forecast.metadata.parameters["deep"]["retrained"] is False

    result = _run(
        "forecast", "predict", "--data", str(data), "--model-dir", str(tmp_path),
        "--out", str(tmp_path / "none"),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no saved model here" in result.output and not (tmp_path / "none").exists()
