"""The baseline forecast scored in shards of the customers (engine/forecast_shards.py): in one
process or on Ray actors, the forecast `BaselineForecaster.forecast()` gives, and an actor
killed between the two rounds is rebuilt from its shard with the same result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import forecast_shards
from engine.forecast_shards import forecast_in_shards
from forecasting.baseline import BaselineForecaster
from forecasting.forecast_set import ForecastSet
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF


@pytest.fixture(scope="module")
def fitted(small_market_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    tables = load_inputs(
        small_market_dir, as_of=SMALL_AS_OF, action_ids=[a.id for a in DEMO_ACTIONS]
    )
    path = tmp_path_factory.mktemp("shards") / "inputs.duckdb"
    Store.create(tables, path).close()
    with Store.open(path) as store:
        whole = BaselineForecaster(horizon_weeks=4, device="cpu", seed=3)
        whole.fit(store, horizon_start(SMALL_AS_OF))
        models = BaselineForecaster(horizon_weeks=4, device="cpu", seed=3)
        models.fit(store, horizon_start(SMALL_AS_OF), score=False)
    return path, whole.forecast(), models


def _same(sharded: ForecastSet, whole: ForecastSet) -> None:
    assert np.array_equal(sharded.customer_ids, whole.customer_ids)
    for name in ("purchase_prob", "spend", "future_margin_delta", "clv"):
        np.testing.assert_allclose(
            getattr(sharded, name), getattr(whole, name), rtol=1e-9, atol=1e-12
        )
    assert np.array_equal(sharded.item_affinity.candidates, whole.item_affinity.candidates)
    np.testing.assert_allclose(
        sharded.item_affinity.purchase_prob, whole.item_affinity.purchase_prob, rtol=1e-12
    )
    assert np.array_equal(sharded.item_affinity.item_ids, whole.item_affinity.item_ids)
    effects = whole.metadata.parameters["effects"]
    assert sharded.metadata.parameters["effects"]["purchase_shift_reliability"] == pytest.approx(
        effects["purchase_shift_reliability"], rel=1e-9, abs=1e-12
    )


def test_shards_in_one_process_give_the_whole_forecast(fitted) -> None:
    path, whole, models = fitted
    assert np.ptp(whole.future_margin_delta[:, 1:]) > 0  # effects learned, not all equal
    for shards in (1, 3):
        _same(forecast_in_shards(models, path, shards=shards), whole)
    with pytest.raises(ValueError, match="score=False"):
        models.forecast()
    # Refitted without scoring, a scored forecaster keeps nothing of its customers.
    refitted = BaselineForecaster(horizon_weeks=4, device="cpu", seed=3)
    with Store.open(path) as store:
        refitted.fit(store, horizon_start(SMALL_AS_OF))
        refitted.fit(store, horizon_start(SMALL_AS_OF), score=False)
    with pytest.raises(ValueError, match="score=False"):
        refitted.forecast()


@pytest.mark.slow
def test_shards_on_ray_give_the_whole_forecast_and_survive_a_killed_actor(
    fitted, monkeypatch
) -> None:
    ray = pytest.importorskip("ray")
    from optimization.ray_groups import start_ray

    path, whole, models = fitted
    start_ray(cpus=2)
    try:
        # (Without a kill: tests/test_ray.py, a scenario run on Ray.)
        killed: list[str] = []
        sum_moments = forecast_shards._sum_moments

        def kill_one_between_the_rounds(moments):
            names = sorted(n for n in ray.util.list_named_actors() if n.startswith("ltv-forecast-"))
            ray.kill(ray.get_actor(names[0]), no_restart=False)  # as a lost worker would be
            killed.append(names[0])
            return sum_moments(moments)

        monkeypatch.setattr(forecast_shards, "_sum_moments", kill_one_between_the_rounds)
        _same(forecast_in_shards(models, path, shards=3, engine="ray"), whole)
        assert killed
    finally:
        ray.shutdown()
