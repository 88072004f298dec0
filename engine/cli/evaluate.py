"""`ltv evaluate`: the plan replayed in a demo market's ground truth, and off-policy on the log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from engine.cli.app import app
from engine.cli.options import err, out


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
    from engine.evaluation import evaluate_run
    from engine.off_policy import run_off_policy
    from engine.policy_plans import POLICIES
    from engine.report import write_reports
    from engine.run_reader import RunFolder, RunFolderError
    from markets.demo.ground_truth import FILE_NAME, GroundTruth

    truth_path = None if data is None else data / FILE_NAME
    try:
        folder = RunFolder.open(run)
        if truth_path is not None and not truth_path.is_file():
            raise RunFolderError(f"{truth_path}: no ground truth here (only demo markets have one)")
        figures: dict[str, object] = {}
        if truth_path is not None:
            with out.status(f"replaying {len(POLICIES)} policies x {replications} in the truth"):
                figures = evaluate_run(
                    folder, GroundTruth.load(truth_path), replications=replications
                )
            _print_policies(figures, replications)
        problem = folder.problem()
        off_policy = run_off_policy(folder, problem, folder.plan(problem))
    except (RunFolderError, ValueError) as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(code=2) from None
    if off_policy:
        figures["off_policy"] = off_policy
        _print_off_policy(off_policy)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
        out.print(f"figures written to {json_out}")
    # The run keeps its evaluation, and its report shows it.
    saved = folder.save_evaluation(figures)
    write_reports(folder.path)
    out.print(
        f"evaluation saved to {saved}; the report ({folder.path / 'report.html'}) shows "
        + _evaluation_sections(figures)
    )


def _print_off_policy(off_policy: dict[str, dict[str, object]]) -> None:
    weeks = next(iter(off_policy.values()))["window_weeks"]
    view = Table(
        title=f"off-policy value per logged customer-week (margin over the week and {weeks} "
        "weeks after it)"
    )
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
            "{:,.4f} to {:,.4f}".format(*estimate["ipw_ci"]),  # type: ignore[arg-type]
            f"{estimate['dr']:,.4f}",
            "{:,.4f} to {:,.4f}".format(*estimate["dr_ci"]),  # type: ignore[arg-type]
            matched,
        )
    out.print(view)
    for name, estimate in off_policy.items():
        if estimate["dr"] is None:
            out.print(f"{name}: {estimate['reason']}")


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
