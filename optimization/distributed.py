"""The Lagrangian decomposition on Ray: the customers sharded by a hash of their id, each
shard's coefficients held by a Ray actor that answers prices with its customers' best
responses (the sum of their scores and what they use of each resource), the driver keeping the
small master problem (optimization/dual_bundle.py). The reported bound (float64) and the primal
repair run in the actors too: each keeps its customers' part of the plan
(optimization/plan_shard.py) and sends the driver row totals and short candidate lists
(optimization/repair.py). The recommendation block's proposal rounds run on actors of their
own, sharded the same way (optimization/ray_groups.py, which also holds the actors'
call-and-replay protocol).

L(y) separates by customer, so the shards' responses add up (`Response.sum`) to exactly what
one process computes: the same multipliers, the same bound, the same plan (tests/test_ray.py).
What crosses the network per evaluation is the prices (O(H + A + S) numbers) out and a few
sums back per shard; the plan only when asked for ([N_s, H] small integers).

An actor that dies is restarted by Ray from its shard (the constructor's arguments are kept
in the object store) and the call is retried, so a lost worker costs time, not the solve. Its
part of the plan is rebuilt by replaying the repair's calls that changed it (`RayShards` keeps
them: multipliers and short lists of customer-weeks), which give the same plan again.

Ray is an optional extra (`pip install 'ltv-engine[ray]'`); `start_ray` (ray_groups.py)
starts a local cluster or joins one.

The driver still holds the whole problem (the multipliers' scales, the final plan's
measurement and the report) and ships each actor its rows; see docs/scale.md.
"""

from __future__ import annotations

import numpy as np

from optimization.lagrangian import DualPoint, LagrangianDual, Prices, Response
from optimization.plan_shard import MUTATING, PlanShard
from optimization.problem import DecisionProblem
from optimization.ray_groups import GroupActor, RayShards, shard_members, start_ray
from optimization.rows import CouplingRows


class ShardActor(GroupActor):
    """One shard's customers: their coefficients, a dual evaluator over them and their part of
    the plan (`PlanShard`)."""

    mutating = MUTATING

    def __init__(
        self, problem: DecisionProblem, rows: CouplingRows, chunk: int, customers: np.ndarray
    ) -> None:
        self.dual = LagrangianDual(problem, rows, chunk, "cpu")
        super().__init__(PlanShard(self.dual, customers))

    def fresh(self) -> PlanShard:
        return PlanShard(self.dual, self.part.customers)

    def respond(self, prices: Prices, keep_plan: bool) -> Response:
        return self.dual.respond(prices, keep_plan)


class ShardedDual(LagrangianDual):
    """A `LagrangianDual` whose `evaluate` runs on Ray actors, one per shard."""

    def __init__(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        chunk_customers: int,
        *,
        shards: int,
        address: str | None = None,
        cpus_per_shard: float = 0.5,
    ) -> None:
        import ray

        super().__init__(problem, rows, chunk_customers, "cpu", on_device=False)
        if shards < 1:
            raise ValueError(f"The 'shards' parameter must be >= 1. Got {shards} instead.")
        start_ray(address)
        self.members = shard_members(problem.customer_ids, shards)
        self.order = np.concatenate(self.members) if self.members else np.zeros(0, np.int64)
        remote = ray.remote(num_cpus=cpus_per_shard, max_restarts=3, max_task_retries=3)(ShardActor)
        # Kept referenced: a restarted actor is rebuilt from these (Ray issue 53727).
        self.shards = [ray.put(problem.subset(m)) for m in self.members]
        self.customers = [ray.put(m) for m in self.members]
        self.actors = [
            remote.remote(shard, rows, chunk_customers, customers)
            for shard, customers in zip(self.shards, self.customers, strict=True)
        ]
        self._plan_shards = RayShards(self.actors, MUTATING)

    def evaluate(
        self, y: np.ndarray, *, keep_plan: bool = False
    ) -> tuple[DualPoint, np.ndarray | None]:
        import ray

        prices = self.prices(y)
        parts = ray.get([actor.respond.remote(prices, keep_plan) for actor in self.actors])
        response = Response.sum(parts)
        self.evaluations += 1
        plan = None
        if keep_plan and response.plan is not None:
            plan = np.zeros((self.problem.shape[0], self.problem.shape[2]), dtype=np.int64)
            plan[self.order] = response.plan
        return self.point(y, response), plan

    def evaluate_exact(self, y: np.ndarray) -> float:
        """L(y) in float64, the customers' part summed over the shards."""
        parts = self.plan_shards().call("exact_total", y)
        return float(sum(parts)) + self.rhs_term(y)

    def plan_shards(self) -> RayShards:
        """The actors as the repair's groups of customers (one record of changes per solve)."""
        return self._plan_shards

    def close(self) -> None:
        """Let the actors go (the cluster stays up for the next solve)."""
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors, self.shards, self.customers = [], [], []
