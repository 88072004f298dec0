"""Options shared by the `ltv` commands, the consoles they print to and the exits on bad input.

Exit code 2 means the input broke its contract (the message names file, column and rows);
exit code 1 means a command failed for another stated reason.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from forecasting.model_kinds import BACKTEST_MODELS, FORECASTERS
from shopdata.actions import DEMO_ACTIONS
from shopdata.input_errors import InputValidationError

FitModel = StrEnum("FitModel", [(name, name) for name in FORECASTERS])
BacktestModel = StrEnum("BacktestModel", [(name, name) for name in BACKTEST_MODELS])

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def checked_date(value: str | None) -> str | None:
    """--as-of as given, once it reads as a date (exit 2 naming the option otherwise: it was a
    traceback from the date parser, exit 1)."""
    if value is None:
        return None
    try:
        parsed = pd.Timestamp(value)
    except (ValueError, OverflowError):
        parsed = pd.NaT
    if pd.isna(parsed):
        raise typer.BadParameter(f"expected a date such as 2026-11-30; got {value!r}")
    return value


DataDir = Annotated[Path, typer.Option("--data", help="Folder holding the input tables.")]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Timestamps after this date are errors (default: today).",
        callback=checked_date,
    ),
]
Device = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")]
ScenarioFile = Annotated[
    Path | None,
    typer.Option(
        "--scenario",
        help="Take the action catalogue (and, for forecast fit, the horizon, margin, discount "
        "rate and effect options) from this scenario file instead of the demo shop's.",
    ),
]
Unidentified = StrEnum("Unidentified", [("refuse", "refuse"), ("zero", "zero")])
UnidentifiedEffects = Annotated[
    Unidentified,
    typer.Option(
        "--unidentified-effects",
        help="A campaign log with no control group ('none' rows) and no campaign_design: "
        "refuse it (default), or zero: plan with every effect unidentified and set to zero.",
    ),
]
ForecastFrom = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Forecast from this date (default: the Monday after the last transaction).",
        callback=checked_date,
    ),
]


def forecast_start(as_of: str | None, transactions: pd.DataFrame) -> pd.Timestamp:
    """The forecast's first day: --as-of, or the Monday after the last transaction."""
    from forecasting.baseline import week_after_last_purchase

    return pd.Timestamp(as_of) if as_of is not None else week_after_last_purchase(transactions)


def fail_on_input(error: InputValidationError) -> typer.Exit:
    err.print(f"[bold red]invalid input[/]\n{error}", highlight=False)
    return typer.Exit(code=2)


def actions_option(actions: str | None, scenario: Path | None = None) -> list[str]:
    if actions and scenario is not None:
        err.print("[red]give --actions or --scenario, not both[/]")
        raise typer.Exit(code=2)
    if scenario is not None:
        return [a.id for a in scenario_option(scenario).actions]
    return [a.strip() for a in actions.split(",")] if actions else [a.id for a in DEMO_ACTIONS]


def scenario_option(path: Path):  # -> engine.scenario.Scenario
    """The scenario a command takes its catalogue from, or exit 2 naming file and key."""
    from engine.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=2) from None


def latest_monday() -> pd.Timestamp:
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    return today - pd.Timedelta(days=today.day_of_week)


RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Where run folders are written.")]
Reviews = Annotated[
    bool,
    typer.Option(
        "--reviews/--no-reviews",
        help="Deep models: feed MiniLM embeddings of review texts as features.",
    ),
]
