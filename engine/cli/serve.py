"""`ltv serve`: the planner's web page (engine/web/app.py) on a local port."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from engine.cli.app import app
from engine.cli.options import RunsDir, err, out

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="The shop's input tables every run uses.")],
    runs_dir: RunsDir = Path("runs"),
    scenarios_dir: Annotated[
        Path, typer.Option("--scenarios", help="Scenario files the page lists and saves.")
    ] = Path("scenarios"),
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            help="Required from browsers (env LTV_TOKEN); made up when listening beyond "
            "loopback without one."
        ),
    ] = None,
) -> None:
    """Scenarios, runs, comparisons, frontiers and reports in the browser."""
    try:
        import uvicorn

        from engine.web.app import create_app
    except ImportError as error:
        err.print(f"[red]the web page needs its extra: pip install 'ltv-engine[web]' ({error})[/]")
        raise typer.Exit(code=1) from None
    for folder, what in ((data, "--data"), (scenarios_dir, "--scenarios")):
        if not folder.is_dir():
            err.print(f"[red]{what} {folder}: no such folder[/]")
            raise typer.Exit(code=2)
    token = token or os.environ.get("LTV_TOKEN")
    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(16)
    runs_dir.mkdir(parents=True, exist_ok=True)
    web = create_app(runs_dir, data, scenarios_dir, token=token, host=host)
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    out.print(f"planner page: {address}" + (f"?token={token}" if token else ""))
    uvicorn.run(web, host=host, port=port, log_level="warning")
