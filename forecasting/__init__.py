"""Forecasting: per customer and week, purchase probability and spend with and without each
action, and the action's effect on future value; assembled into a `ForecastSet`. Imports
shopdata only."""

from shopdata.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "forecast_set": ("ForecastMetadata", "ForecastSet", "ItemAffinity"),
        "baseline": ("BaselineForecaster",),
        "deep": ("DeepForecaster", "make_forecaster"),
        "backtest": ("BacktestReport", "run_backtest"),
        "action_effects": ("ActionEffects",),
    },
)
