"""The `ltv` command line: thin commands over the library, errors as messages and exit codes.

Exit code 2 means the input broke its contract (the message names file, column and rows);
exit code 1 means a command failed for another stated reason.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
import yaml
from rich.console import Console
from rich.table import Table

from forecasting.model_kinds import BACKTEST_MODELS, FORECASTERS
from shopdata.actions import DEMO_ACTIONS, discount_action_ids
from shopdata.input_errors import InputValidationError

app = typer.Typer(
    help="ltv-engine: forecast customer value and allocate promotions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build input data sets: the demo market, CDNOW.", no_args_is_help=True)


FitModel = StrEnum("FitModel", [(name, name) for name in FORECASTERS])
BacktestModel = StrEnum("BacktestModel", [(name, name) for name in BACKTEST_MODELS])


forecast_app = typer.Typer(help="Fit, backtest and run the forecasters.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(forecast_app, name="forecast")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[Path, typer.Option("--data", help="Folder holding the input tables.")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Timestamps after this date are errors (default: today)."),
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
        "--as-of", help="Forecast from this date (default: the Monday after the last transaction)."
    ),
]


def _forecast_start(as_of: str | None, transactions: pd.DataFrame) -> pd.Timestamp:
    """The forecast's first day: --as-of, or the Monday after the last transaction."""
    from forecasting.baseline import week_after_last_purchase

    return pd.Timestamp(as_of) if as_of is not None else week_after_last_purchase(transactions)


def _fail_on_input(error: InputValidationError) -> typer.Exit:
    err.print(f"[bold red]invalid input[/]\n{error}", highlight=False)
    return typer.Exit(code=2)


def _actions_option(actions: str | None, scenario: Path | None = None) -> list[str]:
    if actions and scenario is not None:
        err.print("[red]give --actions or --scenario, not both[/]")
        raise typer.Exit(code=2)
    if scenario is not None:
        return [a.id for a in _scenario_option(scenario).actions]
    return [a.strip() for a in actions.split(",")] if actions else [a.id for a in DEMO_ACTIONS]


def _scenario_option(path: Path):  # -> engine.scenario.Scenario
    """The scenario a command takes its catalogue from, or exit 2 naming file and key."""
    from engine.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=2) from None


def _latest_monday() -> pd.Timestamp:
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    return today - pd.Timedelta(days=today.day_of_week)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )


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
) -> None:
    """Check the input tables against their contracts and print a summary of the data."""
    from shopdata.campaign_design import control_counts, few_controls
    from shopdata.store import Store
    from shopdata.validation import load_inputs

    try:
        tables = load_inputs(
            data,
            as_of=as_of,
            action_ids=_actions_option(actions, scenario),
            unidentified_effects=unidentified_effects.value,
        )
    except InputValidationError as error:
        raise _fail_on_input(error) from None
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
    if tables.campaign_log_origin:
        out.print(f"campaign log: {tables.campaign_log_origin}")
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
            "so that no generated time lies in the future)."
        ),
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    preset: Annotated[
        str | None,
        typer.Option(
            help="A market whose dynamics disagree with the forecasters' on purpose: null, "
            "retention, deal_seekers or mixed (docs/demo_market.md). Default: the original "
            "demo market (as mixed, with campaigns over at most a quarter of the history)."
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
    from engine.market.config import MarketConfig
    from engine.market.files import write_market
    from engine.market.history import generate_market

    common = {
        "customers": customers,
        "weeks": weeks,
        "seed": seed,
        "as_of": _latest_monday() if as_of is None else pd.Timestamp(as_of),
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
    except ValueError as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(code=1) from None
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
    from engine.cdnow import write_cdnow

    try:
        written = write_cdnow(wheel_dir, out_dir)
    except FileNotFoundError as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(code=1) from None
    out.print(f"CDNOW transactions written to {written}")


Reviews = Annotated[
    bool,
    typer.Option(
        "--reviews/--no-reviews",
        help="Deep models: feed MiniLM embeddings of review texts as features.",
    ),
]


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
        raise _fail_on_input(error) from None
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
                            else _scenario_option(scenario).catalogue()
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
    gross_margin: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.35,
    annual_discount_rate: Annotated[float, typer.Option(min=0.0, max=0.99)] = 0.10,
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
        spec = _scenario_option(scenario)
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
        raise _fail_on_input(error) from None
    start = _forecast_start(as_of, tables.transactions)
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
        raise _fail_on_input(error) from None
    start = _forecast_start(as_of, tables.transactions)
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


RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Where run folders are written.")]


def _run(
    scenario: Path,
    data: Path | None,
    runs_dir: Path,
    as_of: str | None,
    device: str,
    force: bool,
    sweep: tuple[str, list[float]] | None = None,
) -> None:
    from engine.pipeline import run_pipeline
    from engine.scenario import ScenarioError
    from engine.valuation import ValuationError

    try:
        with out.status("starting") as status:
            result = run_pipeline(
                scenario,
                data_dir=data,
                runs_dir=runs_dir,
                as_of=as_of,
                device=device,
                force=force,
                sweep=sweep,
                progress=status.update,
            )
    except InputValidationError as error:
        raise _fail_on_input(error) from None
    except (ScenarioError, ValuationError, FileExistsError) as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=2) from None
    solution = json.loads((result.folder / "solution.json").read_text())
    if result.reused:
        out.print(f"run {result.run_id} already finished with these inputs: not recomputed")
    out.print(
        f"{solution['status']}: CLV gain {solution['objective'] or float('nan'):,.2f}, "
        f"bound {solution['bound']:,.2f}, backend {solution['backend']}"
    )
    if solution.get("explanation"):
        out.print(f"infeasible: {solution['explanation']}")
    if (result.folder / "frontier.csv").exists():
        _print_frontier(result.folder)
    print(result.folder)


@app.command()
def plan(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Input folder (overrides the scenario's).")
    ] = None,
    runs_dir: RunsDir = Path("runs"),
    as_of: AsOf = None,
    device: Device = "auto",
    force: Annotated[bool, typer.Option(help="Redo a finished run.")] = False,
) -> None:
    """Plan one scenario into a run folder (the folder's path is the last line printed)."""
    _run(scenario, data, runs_dir, as_of, device, force)


@app.command()
def weekly(
    scenario: Annotated[Path, typer.Option("--scenario", help="Scenario YAML file.")],
    as_of: Annotated[str, typer.Option("--as-of", help="The week to plan (its Monday).")],
    data: Annotated[Path | None, typer.Option("--data")] = None,
    runs_dir: RunsDir = Path("runs"),
    device: Device = "auto",
    force: Annotated[bool, typer.Option(help="Redo a finished week.")] = False,
) -> None:
    """The weekly batch: ingest, validate, fit, forecast, value, solve, export. Idempotent and
    resumable; a finished week is returned, not redone, unless --force."""
    _run(scenario, data, runs_dir, as_of, device, force)


@app.command()
def runs(runs_dir: RunsDir = Path("runs")) -> None:
    """List the run registry."""
    from engine.registry import RunRegistry

    table = RunRegistry(runs_dir).table()
    view = Table(title=f"runs in {runs_dir}")
    for column in ("run_id", "week", "scenario", "status", "objective", "gap", "contacts", "spend"):
        view.add_column(column)
    for row in table.to_dict("records"):
        view.add_row(
            row["run_id"],
            str(row["week"]),
            row["scenario"],
            row["status"],
            f"{row['objective']:,.2f}",
            f"{row['gap']:.2e}",
            f"{row['contacts']:,}",
            f"{row['spend']:,.2f}",
        )
    out.print(view)


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    formats: Annotated[str, typer.Option("--format", help="Comma list of html,xlsx,pdf.")] = (
        "html,xlsx,pdf"
    ),
) -> None:
    """(Re)write the solver report of a run from its files."""
    from engine.report import write_reports

    try:
        written = write_reports(run, tuple(f.strip() for f in formats.split(",")))
    except (ValueError, FileNotFoundError) as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(code=2) from None
    for path in written:
        out.print(f"wrote {path}")


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument()], run_b: Annotated[Path, typer.Argument()]
) -> None:
    """Two runs side by side: status, CLV, bound, gap, spend, revenue, contacts."""
    view = Table(title="comparison")
    view.add_column("figure")
    runs_data = []
    for folder in (run_a, run_b):
        view.add_column(folder.name)
        solution = json.loads((folder / "solution.json").read_text())
        kpis = json.loads((folder / "kpis.json").read_text())
        runs_data.append(
            {
                "status": solution["status"],
                "CLV gain": solution["objective"],
                "bound": solution["bound"],
                "gap": solution["gap"],
                "spend": sum(kpis.get("spend_by_week", [])),
                "revenue": sum(kpis.get("revenue_by_week", [])),
                "contacts": sum(kpis.get("contacts_by_action", {}).values()),
                "backend": solution["backend"],
            }
        )
    for key in runs_data[0]:
        view.add_row(
            key,
            *[f"{r[key]:,.4f}" if isinstance(r[key], float) else str(r[key]) for r in runs_data],
        )
    out.print(view)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A demo market folder: its ground_truth.npz is replayed."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = (
        None
    ),
    replications: Annotated[int, typer.Option(min=2)] = 8,
) -> None:
    """How good is the plan? Off-policy estimates on the run's logged campaign (IPW and doubly
    robust), and, on a demo market, every baseline policy replayed in the ground truth."""
    from engine.evaluation import POLICIES
    from engine.evaluation import evaluate as evaluate_policies
    from engine.market.ground_truth import FILE_NAME, GroundTruth
    from forecasting.forecast_set import ForecastSet
    from optimization.problem import DecisionProblem

    problem = DecisionProblem.load(run)
    scenario = yaml.safe_load((run / "scenario.yaml").read_text())
    allocation = pd.read_parquet(run / "allocation.parquet")
    allocation = allocation[allocation["action"] != "recommend"]
    row = {c: i for i, c in enumerate(problem.customer_ids)}
    column = {a: i for i, a in enumerate(problem.action_ids)}
    choice = np.zeros((problem.shape[0], problem.shape[2]), dtype=np.int64)
    choice[
        allocation["customer_id"].map(row).to_numpy(dtype=np.int64),
        allocation["week"].to_numpy(dtype=np.int64) - 1,
    ] = allocation["action"].map(column).to_numpy(dtype=np.int64)
    figures: dict[str, object] = {}
    truth_path = None if data is None else data / FILE_NAME
    if truth_path is not None and not truth_path.is_file():
        err.print(f"[red]{truth_path}: no ground truth here (only demo markets have one)[/]")
        raise typer.Exit(code=2)
    if truth_path is not None:
        with out.status(f"replaying {len(POLICIES)} policies x {replications} in the truth"):
            figures = evaluate_policies(
                problem,
                ForecastSet.load(run / "forecast"),
                choice,
                GroundTruth.load(truth_path),
                gross_margin=scenario.get("gross_margin", 0.35),
                annual_discount_rate=scenario.get("annual_discount_rate", 0.10),
                replications=replications,
            )
        _print_policies(figures, replications)
    off_policy = _off_policy(run, problem, choice, scenario)
    if off_policy:
        figures["off_policy"] = off_policy
        view = Table(title="off-policy value per logged customer-week (margin, 8 weeks)")
        for name in ("policy", "IPW", "IPW 95% CI", "DR", "DR 95% CI", "matched rows"):
            view.add_column(name)
        for name, estimate in off_policy.items():
            matched = f"{estimate['matched_rows']:,} of {estimate['rows']:,}"
            if estimate["dr"] is None:
                view.add_row(name, "-", "-", "-", "-", matched)
                continue
            view.add_row(
                name,
                f"{estimate['ipw']:,.4f}",
                "{:,.4f} to {:,.4f}".format(*estimate["ipw_ci"]),
                f"{estimate['dr']:,.4f}",
                "{:,.4f} to {:,.4f}".format(*estimate["dr_ci"]),
                matched,
            )
        out.print(view)
        for name, estimate in off_policy.items():
            if estimate["dr"] is None:
                out.print(f"{name}: {estimate['reason']}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
        out.print(f"figures written to {json_out}")
    # The run keeps its evaluation, and its report shows it.
    from engine.report import write_reports

    temporary = run / ".evaluation.json.tmp"
    temporary.write_text(json.dumps(figures, indent=2) + "\n")
    temporary.replace(run / "evaluation.json")
    write_reports(run)
    out.print(
        f"evaluation saved to {run / 'evaluation.json'}; the report ({run / 'report.html'}) "
        "shows " + _evaluation_sections(figures)
    )


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


def _print_policies(figures: dict[str, object], replications: int) -> None:
    view = Table(
        title=f"what each plan adds over doing nothing, replayed in the truth ({replications} "
        "paired replications)"
    )
    for name in (
        "policy",
        "gain vs none",
        "95% CI",
        "spend",
        "weeks over budget",
        "floor met (weeks)",
    ):
        view.add_column(name)
    for name, result in figures["policies"].items():  # type: ignore[union-attr]
        low, high = result["gain_ci"]
        view.add_row(
            name,
            f"{result['gain']:,.1f}",
            f"{low:,.1f} to {high:,.1f}",
            f"{result['budget_used']:,.1f}",
            f"{result['weeks_over_budget']:.1%}",
            f"{result['floor_met_weeks']:.1f}",
        )
    out.print(view)
    from engine.evaluation import headline

    out.print(headline(figures))


def _evaluation_sections(figures: dict[str, object]) -> str:
    """What `ltv evaluate` added to the report, in words."""
    parts = []
    if "policies" in figures:
        parts.append("the policies replayed in the ground truth")
    if "off_policy" in figures:
        parts.append("the off-policy estimates on the campaign log")
    return " and ".join(parts) if parts else "no evaluation (no ground truth and no campaign log)"


def _off_policy(run: Path, problem, choice: np.ndarray, scenario: dict) -> dict[str, object]:
    """IPW and DR estimates of no action, the logging policy and the engine's per-customer
    action (its first planned contact) on the run's logged campaign; empty without a log."""
    from engine.off_policy import LoggedCampaign
    from engine.scenario import Scenario
    from forecasting.features import anchor_features
    from shopdata.store import Store

    with Store.open(run / "inputs.duckdb") as store:
        if not store.has_table("campaign_log"):
            return {}
        catalogue = Scenario.model_validate(scenario).catalogue()
        examples = anchor_features(
            store,
            "SELECT customer_id, week_start, action, propensity FROM campaign_log",
            discount_actions=discount_action_ids(catalogue),
            outcome_weeks=8,
        )
    log = LoggedCampaign(examples, catalogue, scenario.get("gross_margin", 0.35))
    contacted = choice > 0
    first = np.where(
        contacted.any(axis=1), choice[np.arange(len(choice)), contacted.argmax(axis=1)], 0
    )
    engine_action = dict(zip(problem.customer_ids.astype(str), first, strict=True))
    engine = np.array([engine_action.get(c, 0) for c in log.customer_ids], dtype=np.int64)
    return {
        "no_action": log.estimate(np.zeros(len(engine), dtype=np.int64)).to_dict(),
        "logged": log.logging_policy().to_dict(),
        "engine": log.estimate(engine).to_dict(),
    }


SWEEPABLE = ("weekly_budget", "weekly_revenue_floor", "total_budget")


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """`weekly_budget=10000:60000:6` (6 levels from 10,000 to 60,000) or `weekly_budget=1,2,3`."""
    expected = (
        "The '--sweep' option must look like PARAMETER=LOW:HIGH:N or PARAMETER=A,B,C "
        f"with PARAMETER one of {SWEEPABLE}. Got {text!r} instead."
    )
    parameter, _, levels = text.partition("=")
    if parameter not in SWEEPABLE or not levels:
        raise typer.BadParameter(expected)
    try:
        if ":" in levels:
            low, high, count = levels.split(":")
            if int(count) < 2:
                raise ValueError(count)
            step = (float(high) - float(low)) / (int(count) - 1)
            values = [float(low) + k * step for k in range(int(count))]
        else:
            values = [float(v) for v in levels.split(",")]
    except ValueError:
        raise typer.BadParameter(expected) from None
    if any(v < 0 for v in values):
        raise typer.BadParameter(expected)
    return parameter, values


@app.command()
def frontier(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    sweep: Annotated[
        str, typer.Option("--sweep", help="PARAMETER=LOW:HIGH:N, e.g. weekly_budget=10000:60000:6.")
    ],
    data: Annotated[Path | None, typer.Option("--data")] = None,
    runs_dir: RunsDir = Path("runs"),
    as_of: AsOf = None,
    device: Device = "auto",
    force: Annotated[bool, typer.Option(help="Redo a finished run.")] = False,
) -> None:
    """Plan the scenario and re-solve it over a sweep: the frontier of short-term revenue
    against discounted CLV, and CLV against the swept parameter (also in the report)."""
    _run(scenario, data, runs_dir, as_of, device, force, sweep=parse_sweep(sweep))


def _print_frontier(folder: Path) -> None:
    table = pd.read_csv(folder / "frontier.csv")
    view = Table(title=f"frontier over {table['parameter'].iloc[0]}")
    for column in ("level", "status", "clv", "gap", "short_term_revenue", "spend"):
        view.add_column(column)
    for row in table.to_dict("records"):
        view.add_row(
            f"{row['level']:,.2f}",
            row["status"],
            f"{row['clv']:,.2f}",
            f"{row['gap']:.1e}",
            f"{row['short_term_revenue']:,.2f}",
            f"{row['spend']:,.2f}",
        )
    out.print(view)
