"""Markets to try the engine on: the simulated demo shop with its ground truth (markets.demo)
and the CDNOW transactions (markets.cdnow). Beside forecasting and optimization; imports
shopdata only."""

from shopdata.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "demo.config": ("MarketConfig", "PRESETS"),
        "demo.history": ("DemoMarket", "generate_market"),
        "demo.ground_truth": ("GroundTruth",),
        "demo.files": ("write_market",),
        "cdnow": ("read_cdnow", "write_cdnow"),
    },
)
