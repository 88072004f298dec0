"""`ltv plan/weekly/frontier` make runs; `ltv runs/report/compare` read them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from engine.cli.app import app
from engine.cli.options import AsOf, Device, RunsDir, checked_date, err, fail_on_input, out
from engine.cli.progress_bars import run_bars
from engine.run_reader import RunFolder, RunFolderError
from engine.sweep import SweepError
from engine.sweep import parse_sweep as sweep_levels
from shopdata.input_errors import InputValidationError


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
    from engine.registry import RegistryBusyError
    from engine.run_folder import OutsideRunsFolder
    from engine.scenario import ScenarioError
    from engine.valuation import ValuationError
    from forecasting.errors import TooLittleData

    try:
        with run_bars(out) as bars:
            result = run_pipeline(
                scenario,
                data_dir=data,
                runs_dir=runs_dir,
                as_of=as_of,
                device=device,
                force=force,
                sweep=sweep,
                progress=bars.message,
                counts=bars.count,
            )
    except InputValidationError as error:
        raise fail_on_input(error) from None
    except (
        ScenarioError, ValuationError, FileExistsError, RunFolderError, OutsideRunsFolder
    ) as error:  # fmt: skip
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=2) from None
    except TooLittleData as error:
        err.print(f"[red]too little data for this scenario: {error}[/]", highlight=False)
        raise typer.Exit(code=2) from None
    except (RegistryBusyError, ConnectionError) as error:  # a busy registry, a cluster away
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=1) from None
    folder = RunFolder.open(result.folder)
    solution = folder.solution
    if result.reused:
        out.print(f"run {result.run_id} already finished with these inputs: not recomputed")
    objective = float("nan") if solution.objective is None else solution.objective
    out.print(
        f"{solution.status}: CLV gain of the promotions {objective:,.2f}, bound "
        f"{solution.bound:,.2f}, backend {solution.backend}"
    )
    shown = solution.recommendations or {}
    if shown.get("shown"):
        out.print(
            f"recommendations: {shown['shown']:,} shown, expected margin of the items "
            f"{shown['value']:,.2f} (how they are chosen; not a gain over showing none)"
        )
    if solution.explanation:
        out.print(f"infeasible: {solution.explanation}")
    if folder.release is not None:
        out.print(f"release: {folder.release.sentence()}", highlight=False)
    if (result.folder / "frontier.csv").exists():
        _print_frontier(result.folder)
    print(result.folder)
    if not solution.has_plan:  # the folder holds the explanation; scripts must not go on
        raise typer.Exit(code=EXIT_NO_PLAN)


#: Exit code of plan, weekly and frontier when the run finished without a plan (infeasible or
#: no solution in time): the run folder, printed last, explains why.
EXIT_NO_PLAN = 3


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
    as_of: Annotated[
        str, typer.Option("--as-of", help="The week to plan (its Monday).", callback=checked_date)
    ],
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

    if runs_dir.exists() and not runs_dir.is_dir():
        err.print(f"[red]{runs_dir}: is a file; a runs folder was expected[/]", highlight=False)
        raise typer.Exit(code=2)
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
    try:
        summaries = [RunFolder.open(folder).summary().to_dict() for folder in (run_a, run_b)]
    except RunFolderError as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=2) from None
    view = Table(title="comparison")
    view.add_column("figure")
    for folder in (run_a, run_b):
        view.add_column(folder.name)
    for key in summaries[0]:
        view.add_row(LABELS.get(key, key), *[_cell(summary[key]) for summary in summaries])
    out.print(view)


#: How `compare` names a run's summary figures.
LABELS = {"objective": "CLV gain", "revenue": "expected revenue", "spend": "planned spend"}


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:,.4f}" if isinstance(value, float) else str(value)


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """engine/sweep.parse_sweep, its refusal as the option's error (exit 2, one line)."""
    try:
        return sweep_levels(text)
    except SweepError as error:
        raise typer.BadParameter(f"The '--sweep' option: {error}.") from None


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
    view = Table(title=f"frontier over {table['parameter'].iloc[0]}, each plan as released")
    withheld = "withheld" in table.columns  # run folders written before it had no such column
    held = [
        [a for a in str(w).split(", ") if a] if isinstance(w, str) else []
        for w in (table["withheld"] if withheld else [])
    ]
    everywhere = [a for a in held[0] if all(a in h for h in held)] if held else []
    columns = ("level", "status", "clv", "gap", "short_term_revenue", "spend")
    for column in (*columns, "also withheld") if withheld else columns:
        view.add_column(column)
    for i, row in enumerate(table.to_dict("records")):
        cells = [
            f"{row['level']:,.2f}",
            row["status"],
            f"{row['clv']:,.2f}",
            f"{row['gap']:.1e}",
            f"{row['short_term_revenue']:,.2f}",
            f"{row['spend']:,.2f}",
        ]
        if withheld:
            cells.append(", ".join(a for a in held[i] if a not in everywhere))
        view.add_row(*cells)
    out.print(view)
    if everywhere:
        out.print(f"withheld at every level by the release decision: {', '.join(everywhere)}")
