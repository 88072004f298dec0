"""Forecasting: per customer and week, purchase probability and spend with and without each
action, and the action's effect on future value; assembled into a `ForecastSet`. Imports
shopdata only."""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "ForecastMetadata": "forecasting.forecast_set",
    "ForecastSet": "forecasting.forecast_set",
    "ItemAffinity": "forecasting.forecast_set",
    "BaselineForecaster": "forecasting.baseline",
    "DeepForecaster": "forecasting.deep",
    "make_forecaster": "forecasting.deep",
    "BacktestReport": "forecasting.backtest",
    "run_backtest": "forecasting.backtest",
    "ActionEffects": "forecasting.action_effects",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """The public API, imported on first use (importing the package stays cheap)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
