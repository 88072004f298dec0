"""The names of the forecasters, shared by the models, scenarios and the command line.

Kept free of torch so that the command line can offer the choices without loading it.
"""

from __future__ import annotations

from typing import Literal, get_args

#: The deep no-action networks: an MLP over tabular features, a transformer over weekly events.
DeepKind = Literal["ziln", "sequence"]
#: What fills a ForecastSet: BG/NBD + Gamma-Gamma with its T-learner, or a deep forecaster.
ForecasterName = Literal["baseline", DeepKind]
#: What a backtest scores: the BG/NBD purchase model or a deep one.
BacktestName = Literal["bgnbd", DeepKind]

DEEP_KINDS: tuple[str, ...] = get_args(DeepKind)
FORECASTERS: tuple[str, ...] = get_args(ForecasterName)
BACKTEST_MODELS: tuple[str, ...] = get_args(BacktestName)

#: Windows of weeks after an action whose discounted spend change is learned: pull-forward and
#: conditioning show in the first, retention over months. A window the log has not seen end
#: for enough rows is not learned (its effect stays 0: right-censoring), and nothing is
#: extrapolated beyond the last window.
DEFAULT_EFFECT_WINDOWS: tuple[tuple[int, int], ...] = ((1, 4), (5, 12), (13, 26), (27, 52))
