"""The `ltv` application object, its command groups and the global options."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

app = typer.Typer(
    help="ltv-engine: forecast customer value and allocate promotions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build input data sets: the demo market, CDNOW.", no_args_is_help=True)
forecast_app = typer.Typer(help="Fit, backtest and run the forecasters.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(forecast_app, name="forecast")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
