"""Solve settings: one block shared by every backend, and a typed block per backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: Above this many columns `presolve="auto"` switches HiGHS' MIP presolve off: on the random
#: family at 10,000 customers (600,000 columns) HiGHS 1.16's MIP presolve ran past its time limit
#: and ignored interrupts (measured: over 6 minutes with a 60 s limit; ERGO-Code/HiGHS#2226).
MIP_PRESOLVE_MAX_COLUMNS = 200_000


@dataclass(frozen=True)
class HighsSettings:
    presolve: Literal["auto", "on", "off"] = "auto"
    #: Solve the LP relaxation first for shadow prices (and a bound when the MIP stops early).
    lp_duals: bool = True


@dataclass(frozen=True)
class LagrangianSettings:
    max_iterations: int = 200
    #: Stop when the bundle model predicts less than this relative decrease of the dual;
    #: None: a 300th of the requested relative gap (optimization.dual_bundle.dual_tolerance),
    #: tightened tenfold while the repaired plan misses the gap and time remains.
    dual_tolerance: float | None = None
    #: Customers per chunk when evaluating the dual (bounds memory on large problems).
    chunk_customers: int = 200_000
    #: Customers re-optimised exactly (a small MIP) around the dual's ties, at least.
    repair_customers: int = 300
    #: Time for the repair MIP.
    repair_time_limit_s: float = 30.0
    #: Above this many customers the dual starts from the multipliers of a random sample.
    sample_above_customers: int = 100_000
    sample_customers: int = 20_000
    #: Where the dual is evaluated: auto (CUDA when present), cpu or cuda.
    device: str = "auto"
    #: local: in this process; ray: on Ray actors, customers sharded by id hash
    #: (optimization/distributed.py; the `ray` extra).
    engine: str = "local"
    shards: int = 4
    #: A running Ray cluster to join; None starts a local one.
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise ValueError(
                "The 'engine' parameter of LagrangianSettings must be 'local' or 'ray'. "
                f"Got {self.engine!r} instead."
            )
        if self.shards < 1:
            raise ValueError(
                f"The 'shards' parameter of LagrangianSettings must be >= 1. Got {self.shards}."
            )


@dataclass(frozen=True)
class OrToolsSettings:
    #: MathOpt solver: GSCIP (bundled SCIP) by default; HIGHS or CP_SAT where available.
    solver: str = "GSCIP"


@dataclass(frozen=True)
class SolveSettings:
    """What every backend honours: time limit, relative gap, threads, seed, warm start."""

    time_limit_s: float = 120.0
    relative_gap: float = 1e-3
    threads: int = 0  # 0: the solver's default
    seed: int = 0
    verbose: bool = False
    #: Exact backends start from the decomposition's plan (else from all-`none`).
    warm_start: bool = True
    #: `auto` uses the decomposition above this many variables (customers x actions x weeks).
    auto_exact_max_variables: int = 200_000
    highs: HighsSettings = field(default_factory=HighsSettings)
    lagrangian: LagrangianSettings = field(default_factory=LagrangianSettings)
    ortools: OrToolsSettings = field(default_factory=OrToolsSettings)

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise ValueError(
                "The 'time_limit_s' parameter of SolveSettings must be > 0. "
                f"Got {self.time_limit_s} instead."
            )
        if not 0 <= self.relative_gap < 1:
            raise ValueError(
                "The 'relative_gap' parameter of SolveSettings must be in [0, 1). "
                f"Got {self.relative_gap} instead."
            )
        if self.threads < 0:
            raise ValueError(
                "The 'threads' parameter of SolveSettings must be >= 0. "
                f"Got {self.threads} instead."
            )
