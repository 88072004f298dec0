"""The baseline forecast scored in shards of the customers: in this process, or on Ray actors
that open the run's store themselves (Build item 2 of the scale issue; docs/scale.md).

Trained once, on the driver: BG/NBD and Gamma-Gamma on the purchase summary, the T-learner on
the campaign log's sample, the shop's category shares (`BaselineForecaster.fit(score=False)`).
Per customer, in the shards: the current features and the T-learner's two estimates, the
category shares, the [N, A, H] arrays. Two rounds: each shard describes its customers and sends
the driver the effects' shrinkage moments (six numbers per action and effect); the driver sums
them and each shard forecasts with the sum, so every customer is shrunk by the whole
population's figures. Customers are sharded by the hash of their id that the decomposition's
actors use (`optimization.ray_groups.shard_of`). The forecast is the one
`BaselineForecaster.forecast()` gives, to float rounding (tests/test_forecast_shards.py).

A Ray actor that dies is restarted from its shard's arguments (kept in the object store) and
describes its customers again; both calls are free of state the driver would have to replay.
The driver gathers the shards' forecasts: the batch's later stages read one forecast file.
"""

from __future__ import annotations

import copy
import functools
import operator
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from forecasting.baseline import BaselineForecaster, CustomerGroup
from forecasting.features import PurchaseSummary
from forecasting.forecast_set import ForecastSet, ItemAffinity
from forecasting.shrinkage import EffectMoments
from optimization.ray_groups import ray_session, shard_of
from shopdata.store import Store

#: The shard actors' names begin so (then a token of the call and the shard's number).
ACTOR_PREFIX = "ltv-forecast-"


class ForecastShard:
    """One shard's customers (their purchase `summary`), described from the store at
    `store_path` on construction; a Ray actor's class on a cluster, a plain object in one
    process."""

    def __init__(
        self, forecaster: BaselineForecaster, store_path: Path, summary: PurchaseSummary
    ) -> None:
        self.forecaster = forecaster
        with Store.open(store_path) as store:
            self.group: CustomerGroup = forecaster.describe(store, summary)

    def moments(self) -> EffectMoments | None:
        return self.group.moments()

    def forecast(self, moments: EffectMoments | None) -> ForecastSet:
        return self.forecaster.forecast_group(self.group, moments)


def forecast_in_shards(
    forecaster: BaselineForecaster,
    store_path: Path,
    *,
    shards: int,
    engine: Literal["local", "ray"] = "local",
    address: str | None = None,
    cpus_per_shard: float = 0.5,
) -> ForecastSet:
    """The forecast of every customer of `forecaster` (fitted; `score=False` is enough) on the
    store at `store_path`, scored in `shards` groups here or on Ray actors (the cluster at
    `address`, or a local one), gathered in the summary's customer order."""
    if shards < 1:
        raise ValueError(f"The 'shards' parameter must be >= 1. Got {shards} instead.")
    summary = forecaster.summary_
    assignment = shard_of(summary.customer_ids, shards)
    members = [m for m in (np.flatnonzero(assignment == s) for s in range(shards)) if len(m)]
    model = forecaster.without_customers()
    if engine == "local":
        parts = [ForecastShard(model, store_path, summary.subset(rows)) for rows in members]
        total = _sum_moments([part.moments() for part in parts])
        return _gather([part.forecast(total) for part in parts], members, len(summary))
    with ray_session(address):
        return _on_ray(model, store_path, summary, members, cpus_per_shard)


def _on_ray(
    model: BaselineForecaster,
    store_path: Path,
    summary: PurchaseSummary,
    members: list[np.ndarray],
    cpus_per_shard: float,
) -> ForecastSet:
    """`forecast_in_shards` on Ray actors, gathered here (their parts copied out of the object
    store before the session ends)."""
    import ray

    remote = ray.remote(num_cpus=cpus_per_shard, max_restarts=3, max_task_retries=3)(ForecastShard)
    shipped = ray.put(model)
    # Kept referenced while the actors live: a restarted actor is rebuilt from them.
    summaries = [ray.put(summary.subset(rows)) for rows in members]
    token = uuid.uuid4().hex[:8]
    actors = [
        remote.options(name=f"{ACTOR_PREFIX}{token}-{k}").remote(shipped, store_path, part)
        for k, part in enumerate(summaries)
    ]
    try:
        total = _sum_moments(ray.get([actor.moments.remote() for actor in actors]))
        forecasts = ray.get([actor.forecast.remote(total) for actor in actors])
    finally:
        for actor in actors:
            ray.kill(actor)
    return _gather(forecasts, members, len(summary))


def _sum_moments(moments: Sequence[EffectMoments | None]) -> EffectMoments | None:
    present = [m for m in moments if m is not None]
    return functools.reduce(operator.add, present) if present else None


def _gather(parts: Sequence[ForecastSet], members: Sequence[np.ndarray], n: int) -> ForecastSet:
    """One ForecastSet of `n` customers from the shards' (`members[k]`: shard k's rows)."""
    order = np.concatenate(members)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])[inverse]

    # Copies, not the parts' own arrays: on Ray those are views into the object store, which
    # they would keep mapped after the session ends (`ray_session`).
    first = parts[0]
    affinity = ItemAffinity(
        np.array(first.item_affinity.item_ids),
        np.concatenate([p.item_affinity.candidates for p in parts])[inverse],
        np.concatenate([p.item_affinity.purchase_prob for p in parts])[inverse],
    )
    return ForecastSet(
        customer_ids=joined("customer_ids"),
        action_ids=np.array(first.action_ids),
        week_starts=np.array(first.week_starts),
        purchase_prob=joined("purchase_prob"),
        spend=joined("spend"),
        future_margin_delta=joined("future_margin_delta"),
        clv=joined("clv"),
        item_affinity=affinity,
        metadata=copy.deepcopy(first.metadata),
    )
