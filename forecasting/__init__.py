"""Forecasting: per customer and week, purchase probability and spend with and without each
action, and the action's effect on future value; assembled into a `ForecastSet`."""
