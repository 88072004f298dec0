"""Markets to try the engine on: the simulated demo shop with its ground truth (markets.demo)
and the CDNOW transactions (markets.cdnow). Beside forecasting and optimization; imports
shopdata only."""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "MarketConfig": "markets.demo.config",
    "PRESETS": "markets.demo.config",
    "DemoMarket": "markets.demo.history",
    "generate_market": "markets.demo.history",
    "GroundTruth": "markets.demo.ground_truth",
    "write_market": "markets.demo.files",
    "read_cdnow": "markets.cdnow",
    "write_cdnow": "markets.cdnow",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """The public API, imported on first use (importing the package stays cheap)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
