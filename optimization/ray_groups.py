"""Groups of customers on Ray actors: the call-and-replay protocol both the decomposition's
shards (optimization/distributed.py) and the recommendation block's rounds use, the customers'
sharding by a hash of their id, and the local cluster's start.

An actor holds a group's `part` (a `PlanShard`, a `BlockPart`) and counts the calls that
changed it. Ray restarts a dead actor from its constructor's arguments (kept in the object
store and referenced by the driver) and retries the call; the restarted actor has lost its
part's state, says so, and the driver replays the calls that changed it (`RayShards` keeps
them: multipliers, short lists, cutoffs), which give the same state again.

This module does not import torch: the block's actors start in about a second where the
decomposition's, which evaluate the dual, import it (seconds on a small machine).

Ray is an optional extra (`pip install 'ltv-engine[ray]'`). On a laptop or in tests,
`ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=...)` starts a
local cluster; give `address` to join a running one. Fractional CPUs per actor, since Ray's
pools deadlock when asked for more whole CPUs than a small machine has.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimization.groups import Shards
from optimization.recommendation_rounds import MUTATING as BLOCK_MUTATING
from optimization.recommendation_rounds import BlockPart
from optimization.recommendations import RecommendationBlock


def shard_of(customer_ids: np.ndarray, shards: int) -> np.ndarray:
    """Each customer's shard ([N] in 0..shards-1): a stable hash of the id (pandas' SipHash
    with its fixed key, vectorised), the same on every machine and every run, unlike Python's
    salted `hash`."""
    values = pd.util.hash_array(np.asarray(customer_ids, dtype=str).astype(object))
    return (values % np.uint64(shards)).astype(np.int64)


def shard_members(customer_ids: np.ndarray, shards: int) -> list[np.ndarray]:
    """Each non-empty shard's customers, as increasing indices into `customer_ids`."""
    assignment = shard_of(customer_ids, shards)
    members = (np.flatnonzero(assignment == s) for s in range(shards))
    return [m for m in members if len(m)]


class GroupActor:
    """A group of customers held by a Ray actor (`part`: its `PlanShard` or `BlockPart`), with
    a count of the calls that changed it: an actor restarted by Ray has lost them, says so, and
    the driver replays them (`RayShards`)."""

    #: The part's calls that change it.
    mutating: frozenset[str] = frozenset()

    def __init__(self, part: Any) -> None:
        self.part = part
        self.changes = 0  # calls that changed `part` since it was built

    def fresh(self) -> Any:
        """The part as it was built (no call applied)."""
        raise NotImplementedError

    def call(self, name: str, args: tuple[Any, ...], changes: int) -> tuple[bool, Any]:
        """`part.name(*args)`, as (True, answer); (False, None) if this actor has not seen
        the `changes` calls the driver made (it was restarted and lost its part's state)."""
        if changes != self.changes:
            return False, None
        answer = getattr(self.part, name)(*args)
        self.changes += name in self.mutating
        return True, answer

    def replay(self, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Rebuild the part from the calls that changed it, in order."""
        self.part = self.fresh()
        for name, args in calls:
            getattr(self.part, name)(*args)
        self.changes = len(calls)

    def pid(self) -> int:
        return os.getpid()


class BlockActor(GroupActor):
    """One shard's rows of the recommendation block and their part of its plan (`BlockPart`)."""

    mutating = BLOCK_MUTATING

    def __init__(self, part: BlockPart) -> None:
        # A new plan of its own: the one sent may be a read-only view of the object store.
        super().__init__(part)
        self.part = self.fresh()

    def fresh(self) -> BlockPart:
        p = self.part
        return BlockPart(p.candidates, p.value, p.slots, p.capped, p.customers)


class RayShards(Shards):
    """Groups of customers in Ray actors, one per shard (`GroupActor`s: the repair's
    `ShardActor`s or the recommendation block's `BlockActor`s). The calls that changed each
    actor's part (`mutating`) are kept (multipliers, short lists, cutoffs), so a restarted
    actor is brought back to where it was."""

    def __init__(self, actors: list[Any], mutating: frozenset[str]) -> None:
        self.actors = actors
        self.mutating = mutating
        self.changes: list[list[tuple[str, tuple[Any, ...]]]] = [[] for _ in actors]
        self.replays = 0  # actors brought back to where they were

    def __len__(self) -> int:
        return len(self.actors)

    def call_each(self, name: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
        import ray

        sent = [
            actor.call.remote(name, args, len(done))
            for actor, args, done in zip(self.actors, arguments, self.changes, strict=True)
        ]
        answers = []
        for actor, args, done, reference in zip(
            self.actors, arguments, self.changes, sent, strict=True
        ):
            current, answer = ray.get(reference)
            if not current:  # restarted since: replay what changed its part, then ask again
                ray.get(actor.replay.remote(done))
                self.replays += 1
                current, answer = ray.get(actor.call.remote(name, args, len(done)))
                if not current:
                    raise RuntimeError(f"shard actor lost its plan again while answering {name}")
            answers.append(answer)
        if name in self.mutating:
            for done, args in zip(self.changes, arguments, strict=True):
                done.append((name, args))
        return answers


#: Seconds to wait for a cluster's address to answer before giving up (Ray itself retries for
#: ever, and a worker stuck there ignored SIGTERM).
CONNECT_TIMEOUT_S = 15.0


def reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ConnectionError, naming the address and the wait, unless a TCP connection to
    `address` ("host:port" or "ray://host:port") opens within `timeout` seconds ("auto" and
    other addresses without a port are left to Ray)."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(
            f"cannot reach the Ray cluster at {address!r} within {timeout:.0f} s ({error}): "
            "check solver.execution.address, or run without it on this machine"
        ) from None


def start_ray(address: str | None = None, cpus: int | None = None) -> None:
    """Join the cluster at `address` (after checking it answers: `reachable`), or start a
    local one bound to 127.0.0.1 with no dashboard and a temporary folder of its own (never
    `ray stop`: it kills by name)."""
    import ray

    if ray.is_initialized():
        return
    if address:
        reachable(address)
        ray.init(address=address, include_dashboard=False)
        return
    folder = Path(tempfile.gettempdir()) / f"ray_ltv_{os.getpid()}"  # short: socket paths
    ray.init(
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _temp_dir=str(folder),
        num_cpus=cpus or os.cpu_count() or 2,
        log_to_driver=False,
    )


@contextmanager
def ray_session(address: str | None = None) -> Iterator[None]:
    """Ray for the duration of one distributed step (the forecast's shards, a solve): joined
    or started as `start_ray` does, and, where this session started a local cluster, shut
    down when it ends. The driver maps the local object store and keeps every page it touched
    resident (at 1M customers about 2 GB of its 8.7 GB peak, counted again in the stages after
    the solve that use no Ray); a step that needs Ray again starts it again (a few seconds). A
    cluster started before (an outer session's, a test's, a caller's) or joined at an address
    stays."""
    import ray

    started = address is None and not ray.is_initialized()
    start_ray(address)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


@contextmanager
def block_groups(
    block: RecommendationBlock,
    customer_ids: np.ndarray,
    *,
    shards: int,
    address: str | None = None,
    cpus_per_shard: float = 0.5,
) -> Iterator[RayShards]:
    """The recommendation block's rows on Ray actors, customers sharded by id hash as the
    dual's (`BlockActor`, one per shard), for the proposal rounds
    (optimization/recommendation_rounds.py); the actors are let go on leaving."""
    import ray

    start_ray(address)
    members = shard_members(customer_ids, shards)
    remote = ray.remote(num_cpus=cpus_per_shard, max_restarts=3, max_task_retries=3)(BlockActor)
    # Kept referenced: a restarted actor is rebuilt from these (Ray issue 53727).
    parts = [ray.put(BlockPart.of(block, m)) for m in members]
    actors = [remote.remote(part) for part in parts]
    try:
        yield RayShards(actors, BLOCK_MUTATING)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
