"""Shared fixtures: a small generated shop and a finished run on it (session-wide), and the
CDNOW wheel when fetched."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from markets.demo.config import MIXED_RESPONSES, MarketConfig
from markets.demo.files import write_market
from markets.demo.history import DemoMarket, generate_market

if TYPE_CHECKING:
    from engine.pipeline import RunResult

if "PYTEST_XDIST_WORKER" in os.environ:
    # `make test` runs the suite in two worker processes on a two-core machine: each computes
    # with one thread (and so do the commands its tests start), since two processes of two
    # OpenMP threads each on two cores spin against each other (a 9 s test took 113 s so).
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    import torch

    torch.set_num_threads(1)

#: The test files that take longest, longest first (seconds summed over each file's tests,
#: `pytest -n 2 --dist loadfile --durations=0` on the 2-core machine, 2026-12-07: 140, 100, 92,
#: 82, 63, 62, 61, 56, 28, 27, 27, 21; every other file under 16). `make test` hands a worker
#: the next file as it frees (`--no-loadscope-reorder`, or xdist would order files by their
#: count of tests and leave the one-test soak for last); longest first, the two workers end
#: together: simulated from those times, 442 s each instead of 505 and 380.
LONGEST_FIRST = (
    "test_ray.py",
    "test_pipeline.py",
    "test_one_shot_campaign.py",
    "test_soak.py",
    "test_web.py",
    "test_reliability.py",
    "test_forecast_shards.py",
    "test_frontier_release.py",
    "test_deep_forecasting.py",
    "test_campaign_design.py",
    "test_release_decision.py",
    "test_policies.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first (LONGEST_FIRST), the rest in their own order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


REPO = Path(__file__).resolve().parents[1]
WHEEL_DIR = REPO / "data" / "cache"
SMALL_AS_OF = pd.Timestamp("2026-11-23")


def small_config(**overrides: object) -> MarketConfig:
    """The small shop: the original demo market's responses (`mixed`: modest lifts), on which
    the forecasting tests' tolerances were set; the default market's stronger e-mails inflate
    its history more (docs/demo_market.md)."""
    settings: dict[str, object] = {
        "customers": 1500,
        "weeks": 60,
        "seed": 11,
        "as_of": SMALL_AS_OF,
        "campaign_weeks": 20,
        "responses": dict(MIXED_RESPONSES),
    }
    settings.update(overrides)
    return MarketConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def small_market() -> DemoMarket:
    return generate_market(small_config())


@pytest.fixture(scope="session")
def small_market_dir(small_market: DemoMarket, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_market(small_market, tmp_path_factory.mktemp("market") / "data")


@pytest.fixture(scope="session")
def small_run(small_market_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The pipeline tests' scenario (tests/run_helpers.SCENARIO) run once on the small shop:
    the finished run that tests which only read one share (about 8 s each otherwise). Read
    it only; a test that writes into a run works on `copy_runs` of it."""
    from tests.run_helpers import SCENARIO, plan_small

    folder = tmp_path_factory.mktemp("small_run")
    scenario = folder / "small.yaml"
    scenario.write_text(SCENARIO)
    return plan_small(scenario, small_market_dir, folder / "runs")


@pytest.fixture(scope="session")
def lifetimes_wheel() -> Path:
    wheels = sorted(WHEEL_DIR.glob("[Ll]ifetimes-*.whl"))
    if not wheels:
        pytest.skip("the lifetimes wheel is not fetched; `make test` runs `make data` first")
    return wheels[-1]
