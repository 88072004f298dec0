"""`ltv validate` and `ltv data`: check the input tables, build the demo market and CDNOW."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from engine.cli.app import app, data_app
from engine.cli.options import (
    AsOf,
    DataDir,
    ScenarioFile,
    Unidentified,
    UnidentifiedEffects,
    actions_option,
    checked_date,
    err,
    fail_on_input,
    latest_monday,
    out,
    scenario_option,
)
from shopdata.amount_outliers import AmountOutliers
from shopdata.input_errors import InputValidationError
from shopdata.validation import NO_CAMPAIGN_LOG

OutlierAction = StrEnum("OutlierAction", [("refuse", "refuse"), ("warn", "warn")])


@app.command()
def validate(
    data: DataDir,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store", help="Also load the tables into this DuckDB file (written atomically)."
        ),
    ] = None,
    as_of: AsOf = None,
    actions: Annotated[
        str | None,
        typer.Option(
            "--actions",
            help="Comma-separated action catalogue the campaign log must use "
            "(default: the demo shop's).",
        ),
    ] = None,
    unidentified_effects: UnidentifiedEffects = Unidentified.refuse,
    scenario: ScenarioFile = None,
    amount_outliers: Annotated[
        OutlierAction,
        typer.Option(
            "--amount-outliers",
            help="Amounts far from the rest (likely data errors): refuse them (default) or "
            "warn and keep them. With --scenario, its validation settings apply.",
        ),
    ] = OutlierAction.refuse,
    amount_outlier_z: Annotated[
        float, typer.Option(min=0.1, help="How far, in robust standard deviations of log amount.")
    ] = 8.0,
) -> None:
    """Check the input tables against their contracts and their plausibility, and print a
    summary of the data."""
    from shopdata.campaign_design import control_counts, few_controls
    from shopdata.store import Store
    from shopdata.validation import load_inputs

    try:
        tables = load_inputs(
            data,
            as_of=as_of,
            action_ids=actions_option(actions, scenario),
            unidentified_effects=unidentified_effects.value,
            outliers=(
                scenario_option(scenario).validation.outliers()
                if scenario is not None
                else AmountOutliers(amount_outlier_z, amount_outliers.value)
            ),
        )
    except InputValidationError as error:
        raise fail_on_input(error) from None
    with Store.create(tables, store) as opened:
        summary = opened.summary()
    table = Table(title=f"{data}", show_header=False)
    table.add_row("customers", f"{summary.customers:,}")
    table.add_row("date range", f"{summary.first_ts:%Y-%m-%d} to {summary.last_ts:%Y-%m-%d}")
    table.add_row("orders", f"{summary.orders:,}")
    table.add_row("revenue", f"{summary.revenue:,.2f}")
    table.add_row("reviews", f"{summary.reviews:,}")
    table.add_row("catalog items", f"{summary.catalog_items:,}")
    arms = ", ".join(f"{k} {v:,}" for k, v in summary.campaign_arms.items()) or "none"
    table.add_row("campaign arms", arms)
    out.print(table)
    for warning in tables.warnings:
        err.print(f"[yellow]warning[/]: {warning}", highlight=False)
    if tables.campaign_log_origin:
        out.print(f"campaign log: {tables.campaign_log_origin}")
    elif tables.campaign_log is None:
        err.print(f"[yellow]warning[/]: {NO_CAMPAIGN_LOG}", highlight=False)
    if tables.campaign_log is not None:
        for action, controls in few_controls(control_counts(tables.campaign_log)).items():
            err.print(
                f"[yellow]warning[/]: the effect of {action} rests on {controls} control rows "
                "(customers not contacted in the weeks it was logged): expect a wide interval"
            )
    if store is not None:
        out.print(f"store written to {store}")


@data_app.command("demo")
def data_demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the tables into.")],
    customers: Annotated[int, typer.Option(min=1)] = 20_000,
    weeks: Annotated[int, typer.Option(min=4)] = 104,
    seed: int = 7,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="The Monday after the last history week (default: the latest Monday up to today, "
            "so that no generated time lies in the future).",
            callback=checked_date,
        ),
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    preset: Annotated[
        str | None,
        typer.Option(
            help="A market whose dynamics disagree with the forecasters' on purpose: null, "
            "retention, deal_seekers, mixed or responsive (docs/demo_market.md). Default: the "
            "demo market, whose e-mails pay as published randomised e-mail tests do, with "
            "campaigns over at most a quarter of the history."
        ),
    ] = None,
    log: Annotated[
        str,
        typer.Option(
            help="explicit: every eligible customer-week with its action and propensity; "
            "contacts: the contacts only, with campaign_design and campaign_eligible."
        ),
    ] = "explicit",
) -> None:
    """Generate a synthetic shop with known ground truth (CDNOW-calibrated)."""
    from markets.demo.config import MarketConfig
    from markets.demo.files import write_market
    from markets.demo.history import generate_market

    common = {
        "customers": customers,
        "weeks": weeks,
        "seed": seed,
        "as_of": latest_monday() if as_of is None else pd.Timestamp(as_of),
    }
    try:
        config = (
            MarketConfig(**common, campaign_weeks=min(26, weeks // 4))  # type: ignore[arg-type]
            if preset is None
            else MarketConfig.from_preset(preset, **common)
        )
        with out.status(f"simulating {customers:,} customers x {weeks} weeks"):
            market = generate_market(config)
            written = write_market(market, out_dir, file_format=file_format, log=log)
    except ValueError as error:  # a preset, a week or a size the market refuses: bad input
        err.print(f"[red]{error}[/]")
        raise typer.Exit(code=2) from None
    out.print(
        f"{len(market.transactions):,} transactions, {len(market.campaign_log):,} campaign "
        f"rows, {len(market.reviews):,} reviews"
    )
    out.print(f"demo market written to {written}")


@data_app.command("cdnow")
def data_cdnow(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write transactions into.")],
    wheel_dir: Annotated[
        Path,
        typer.Option(
            "--wheel-dir", help="Folder holding the lifetimes wheel (make data fetches it)."
        ),
    ] = Path("data/cache"),
) -> None:
    """Convert CDNOW (read from the lifetimes wheel, never imported) to transactions."""
    from markets.cdnow import write_cdnow

    try:
        written = write_cdnow(wheel_dir, out_dir)
    except FileNotFoundError as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(code=1) from None
    out.print(f"CDNOW transactions written to {written}")
