"""`ltv forecast`: backtest, fit and score the forecasters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from engine.cli.app import forecast_app
from engine.cli.options import (
    AsOf,
    BacktestModel,
    DataDir,
    Device,
    FitModel,
    ForecastFrom,
    Reviews,
    ScenarioFile,
    Unidentified,
    UnidentifiedEffects,
    err,
    fail_on_input,
    forecast_start,
    out,
    scenario_option,
)
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import DEFAULT_ANNUAL_DISCOUNT_RATE, DEFAULT_GROSS_MARGIN
from shopdata.input_errors import InputValidationError


@forecast_app.command("backtest")
def forecast_backtest(
    data: DataDir,
    calibration_end: Annotated[str, typer.Option(help="Last day of the calibration window.")],
    holdout_weeks: Annotated[int, typer.Option(min=1)] = 39,
    model: Annotated[
        BacktestModel, typer.Option(help="Forecaster to score.")
    ] = BacktestModel.bgnbd,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
    reviews: Reviews = False,
    device: Device = "auto",
    as_of: AsOf = None,
    scenario: ScenarioFile = None,
) -> None:
    """Fit on the calibration window, predict the holdout, and score it per customer."""
    from forecasting.backtest import run_backtest
    from forecasting.deep import DeepForecaster
    from shopdata.store import Store
    from shopdata.validation import load_inputs

    try:
        # The backtest scores the no-action forecast only: a log without controls is no
        # obstacle to it (its contacts are still features).
        tables = load_inputs(data, as_of=as_of, unidentified_effects="zero")
    except InputValidationError as error:
        raise fail_on_input(error) from None
    with Store.create(tables) as store:
        try:
            report = run_backtest(
                store,
                calibration_end=calibration_end,
                holdout_weeks=holdout_weeks,
                model=model.value,
                device=device,
                # The options `ltv forecast fit --model` trains with (contacts of every action).
                deep_options=(
                    DeepForecaster(
                        model=model.value,
                        use_reviews=reviews,
                        actions=(
                            DEMO_ACTIONS
                            if scenario is None
                            else scenario_option(scenario).catalogue()
                        ),
                    ).purchase_options()
                    if model.value != "bgnbd"
                    else None
                ),
            )
        except ValueError as error:
            err.print(f"[red]{error}[/]")
            raise typer.Exit(code=1) from None
    figures = report.to_dict()
    table = Table(
        title=f"backtest {model.value}: {figures['calibration_end']} + {holdout_weeks} weeks"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in (
        "customers",
        "mae",
        "median_mae",
        "rmse",
        "predicted_total",
        "actual_total",
        "spearman",
        "spend_gini",
        "spend_decile_mape",
        "fit_seconds",
    ):
        value = figures[key]
        table.add_row(key, f"{value:,.4f}" if isinstance(value, float) else f"{value:,}")
    reliability = figures["reliability"]
    if reliability:
        table.add_row("weekly probability ECE", f"{reliability['ece']:.5f}")
        table.add_row("weekly probability Brier", f"{reliability['brier']:.5f}")
    out.print(table)
    if reliability:
        curve = Table(title="reliability of weekly purchase probabilities (holdout)")
        for column in ("predicted", "observed", "customer-weeks"):
            curve.add_column(column, justify="right")
        for row in reliability["bins"]:
            curve.add_row(f"{row['predicted']:.4f}", f"{row['observed']:.4f}", f"{row['count']:,}")
        out.print(curve)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
        out.print(f"figures written to {json_out}")


@forecast_app.command("fit")
def forecast_fit(
    data: DataDir,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for forecast.npz/.json.")],
    as_of: ForecastFrom = None,
    horizon_weeks: Annotated[int, typer.Option(min=1)] = 12,
    model: Annotated[FitModel, typer.Option(help="Forecaster to fit.")] = FitModel.baseline,
    reviews: Reviews = True,
    gross_margin: Annotated[float, typer.Option(min=0.0, max=1.0)] = DEFAULT_GROSS_MARGIN,
    annual_discount_rate: Annotated[float, typer.Option(min=0.0, max=0.99)] = (
        DEFAULT_ANNUAL_DISCOUNT_RATE
    ),
    device: Device = "auto",
    seed: int = 0,
    unidentified_effects: UnidentifiedEffects = Unidentified.refuse,
    scenario: ScenarioFile = None,
) -> None:
    """Fit the forecaster on the data and write the ForecastSet for the horizon. With
    --scenario, the catalogue, horizon, margin, discount rate, effect windows and the handling
    of a log without controls are the scenario's (what its weekly run would fit)."""
    from forecasting.deep import DeepForecaster, make_forecaster
    from forecasting.model_kinds import DEFAULT_EFFECT_WINDOWS
    from shopdata.store import Store
    from shopdata.validation import load_inputs

    actions, windows = DEMO_ACTIONS, DEFAULT_EFFECT_WINDOWS
    unidentified = unidentified_effects.value
    if scenario is not None:
        spec = scenario_option(scenario)
        actions, windows = spec.catalogue(), tuple(tuple(w) for w in spec.forecast.effect_windows)
        horizon_weeks, gross_margin = spec.horizon_weeks, spec.gross_margin
        annual_discount_rate = spec.annual_discount_rate
        unidentified = spec.forecast.unidentified_effects
    try:
        tables = load_inputs(
            data,
            as_of=as_of,
            action_ids=[a.id for a in actions],
            unidentified_effects=unidentified,
        )
    except InputValidationError as error:
        raise fail_on_input(error) from None
    start = forecast_start(as_of, tables.transactions)
    with Store.create(tables) as store, out.status(f"fitting the {model.value} forecaster"):
        forecaster = make_forecaster(
            model.value,
            use_reviews=reviews,
            effect_windows=windows,
            horizon_weeks=horizon_weeks,
            actions=actions,
            gross_margin=gross_margin,
            annual_discount_rate=annual_discount_rate,
            device=device,
            seed=seed,
        )
        forecast = forecaster.fit(store, start).forecast()
    n, a, h = forecast.shape
    out.print(
        f"{n:,} customers x {a} actions x {h} weeks from "
        f"{pd.Timestamp(forecast.week_starts[0]):%Y-%m-%d} on {forecast.metadata.device}; "
        f"mean CLV {forecast.clv.mean():,.2f}"
    )
    _print_effect_calibration(forecast.metadata.parameters.get("effects"))
    written = forecast.save(out_dir)
    if isinstance(forecaster, DeepForecaster):
        out.print(f"model written to {forecaster.save_model(out_dir / 'model')}")
    out.print(f"forecast written to {written}")


@forecast_app.command("predict")
def forecast_predict(
    data: DataDir,
    model_dir: Annotated[
        Path,
        typer.Option(
            "--model-dir",
            help="A saved deep model: the model/ folder of 'ltv forecast fit' or a deep run.",
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for forecast.npz/.json.")],
    as_of: ForecastFrom = None,
    horizon_weeks: Annotated[
        int | None, typer.Option(min=1, help="Default: the horizon the model was saved with.")
    ] = None,
    device: Device = "auto",
) -> None:
    """Forecast with a saved deep model, without training: its networks score the data up to
    --as-of (BG/NBD and Gamma-Gamma are refitted; they take seconds)."""
    from forecasting.deep import DeepForecaster
    from shopdata.store import Store
    from shopdata.validation import load_inputs

    try:
        forecaster = DeepForecaster.from_files(
            model_dir, horizon_weeks=horizon_weeks, device=device
        )
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(code=1) from None
    try:
        tables = load_inputs(data, as_of=as_of, action_ids=[a.id for a in forecaster.actions])
    except InputValidationError as error:
        raise fail_on_input(error) from None
    start = forecast_start(as_of, tables.transactions)
    with Store.create(tables) as store, out.status(f"scoring with the {forecaster.model} model"):
        try:
            forecast = forecaster.refresh(store, start).forecast()
        except ValueError as error:
            err.print(f"[red]{model_dir}: {error}[/]")
            raise typer.Exit(code=1) from None
    n, a, h = forecast.shape
    trained = forecast.metadata.parameters["deep"]["trained_as_of"]
    out.print(
        f"{n:,} customers x {a} actions x {h} weeks from "
        f"{pd.Timestamp(forecast.week_starts[0]):%Y-%m-%d} by the model trained as of "
        f"{trained} on {forecast.metadata.device}; mean CLV {forecast.clv.mean():,.2f}"
    )
    out.print(f"forecast written to {forecast.save(out_dir)}")


def _print_effect_calibration(effects: object) -> None:
    """The learned effects against the held-out doubly robust ones, per action and group of
    predicted effect (GATES; the deep forecasters' learner), for the week of the action."""
    if not isinstance(effects, dict) or not effects.get("gates"):
        return
    view = Table(
        title="effect calibration on held-out customers: predicted against doubly robust "
        "effect on the week's purchase probability, per fifth of predicted effect"
    )
    for name in ("action", "group", "predicted", "doubly robust", "std. error", "rows"):
        view.add_column(name)
    for action, outcomes in effects["gates"].items():
        for row in outcomes.get("purchase_week0", []):
            view.add_row(
                action,
                str(row["group"]),
                f"{row['predicted']:+.4f}",
                f"{row['doubly_robust']:+.4f}",
                f"{row['doubly_robust_se']:.4f}",
                f"{row['count']:,}",
            )
    out.print(view)
    for action, count in effects.get("unsupported_actions", {}).items():
        out.print(f"{action}: logged {count} times, too few: no effect learned")
