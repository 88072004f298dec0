"""Decomposition backend: the Lagrangian dual for the bound, then a primal repair.

The dual (optimization/lagrangian.py) gives an upper bound and multipliers; the repair
(optimization/repair.py) turns the customers' best responses into a plan that satisfies every
constraint. The gap is measured against the dual bound.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from optimization.backends.base import Capability
from optimization.dual_bundle import FINEST_DUAL_TOLERANCE, dual_tolerance, minimise_dual
from optimization.groups import Shards
from optimization.highs_model import highs_version
from optimization.lagrangian import LagrangianDual
from optimization.plan_shard import whole
from optimization.problem import DecisionProblem
from optimization.repair import repair
from optimization.reporting import finish
from optimization.rows import CouplingRows, coupling_rows
from optimization.settings import SolveSettings
from optimization.solution import Solution, Timings


class LagrangianBackend:
    name = "lagrangian"
    capabilities = frozenset(
        {Capability.LAGRANGE_DUALS, Capability.TIME_LIMIT, Capability.LARGE_SCALE}
    )

    def version(self) -> str:
        return f"ltv-engine bundle + HiGHS {highs_version()} repair"

    def solve(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        warm_start: np.ndarray | None,
    ) -> Solution:
        started = time.perf_counter()
        config = settings.lagrangian
        shards: Shards
        if config.engine == "ray":
            from optimization.distributed import ShardedDual

            dual: LagrangianDual = ShardedDual(
                problem,
                rows,
                config.chunk_customers,
                shards=config.shards,
                address=config.ray_address,
            )
            shards = dual.plan_shards()  # type: ignore[attr-defined]
        else:
            dual = LagrangianDual(problem, rows, config.chunk_customers, config.device)
            shards = whole(dual)
        try:
            return self._solve(problem, rows, settings, dual, shards, started)
        finally:
            if hasattr(dual, "close"):
                dual.close()

    def _solve(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        dual: LagrangianDual,
        shards: Shards,
        started: float,
    ) -> Solution:
        deadline = started + settings.time_limit_s
        config = settings.lagrangian
        start, box_fraction = None, 1.0
        if problem.shape[0] > config.sample_above_customers:
            start = sample_multipliers(problem, rows, settings, deadline)
            box_fraction = 0.1
        tolerance = dual_tolerance(settings)
        rounds: list[str] = []
        dual_seconds = repair_seconds = 0.0
        iterations = 0
        bound, choice, objective = float("inf"), None, -float("inf")
        while True:
            began = time.perf_counter()
            result = minimise_dual(
                dual,
                settings,
                deadline=deadline,
                start=start,
                box_fraction=box_fraction,
                tolerance=tolerance,
            )
            iterations += result.iterations
            dual_seconds += time.perf_counter() - began
            began = time.perf_counter()
            y = result.best.multipliers
            bound = min(bound, dual.evaluate_exact(y))  # every L(y) bounds: keep the least
            repaired = repair(dual, shards, y, bound, settings, deadline)
            if repaired is not None and repaired.objective > objective:
                choice, objective = shards.plan(*problem.shape[::2]), repaired.objective
            repair_seconds += time.perf_counter() - began
            gap = max(bound - objective, 0.0) / max(abs(bound), 1e-9)
            rounds.append(f"dual tolerance {tolerance:.0e}: gap {gap:.1e}")
            # The plan repaired from a dual stopped at this tolerance misses the gap asked:
            # drive the dual ten times further from where it stopped and repair again.
            if (
                gap <= settings.relative_gap
                or not result.converged
                or tolerance <= FINEST_DUAL_TOLERANCE
                or time.perf_counter() > deadline
            ):
                break
            tolerance = max(tolerance / 10.0, FINEST_DUAL_TOLERANCE)
            start, box_fraction = y, 0.1
        notes = (
            f"dual bound: {iterations} iterations, {dual.evaluations} evaluations, "
            f"{'the dual converged' if result.converged else 'the dual stopped early'} in "
            f"{dual_seconds:.2f} s; repair {repair_seconds:.2f} s ({'; '.join(rounds)})",
            "shadow prices are the Lagrange multipliers",
        )
        return finish(
            problem,
            rows,
            settings,
            backend=self.name,
            version=self.version(),
            choice=choice,
            bound=bound,
            shadow=np.where(rows.sense > 0, y, -y),  # d objective / d rhs
            timings=Timings.since(started),
            time_limit_hit=time.perf_counter() > deadline,
            notes=notes,
        )


def sample_multipliers(
    problem: DecisionProblem, rows: CouplingRows, settings: SolveSettings, deadline: float
) -> np.ndarray:
    """Multipliers of the dual on a random sample of customers, each row's incremental
    right-hand side scaled by the sample's share: a cheap, close start for the full dual."""
    config = settings.lagrangian
    n = problem.shape[0]
    rng = np.random.default_rng(settings.seed)
    sample = np.sort(rng.choice(n, size=config.sample_customers, replace=False))
    share = len(sample) / n
    sub = problem.subset(sample)
    sub_rows = coupling_rows(sub)
    sub_rows = dataclasses.replace(sub_rows, rhs=sub_rows.base + share * rows.incremental_rhs)
    dual = LagrangianDual(sub, sub_rows, config.chunk_customers, config.device)
    step = f"dual of a {len(sample):,}-customer sample (the start)"
    return minimise_dual(dual, settings, deadline=deadline, step=step).best.multipliers
