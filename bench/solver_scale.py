"""Solve one random allocation problem and record how long it took and how good the plan is.

    python bench/solver_scale.py --customers 10000 --backend lagrangian --seed 0 --json OUT.json
    python bench/solver_scale.py --customers 100000 --engine ray --shards 4 --json OUT.json
    python bench/solver_scale.py --customers 100000 --policies --json OUT.json

The instance family (optimization/instances.py): N customers x 6 actions (none, email,
email_reco, free_shipping, coupon_10, coupon_20) x 12 weeks, contact cap 3, a weekly budget of
30 % of what the unconstrained best plan would spend, and a weekly revenue floor 2 % under the
all-none revenue. Coefficients follow DESIGN §4's valuation (margin 0.35, 10 % yearly discount)
with heterogeneous lifts, discounts paid on all purchases, negative future effects of coupons.
Writes customers, backend, build_seconds, solve_seconds, peak_rss_mb, objective, bound, gap and
status (plus more) as JSON; with --save DIR also the audit trail (problem.npz, solution.json,
allocation.parquet); the counted steps (dual evaluations) go to stderr as they come and their
final counts into the JSON. `--engine ray` evaluates the decomposition's dual on Ray actors (a local
cluster, `--shards` of the customers; optimization/distributed.py) and adds the actors' peak
resident memory. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from process_memory import MemorySampler

from optimization.instances import random_problem, with_policies
from optimization.settings import LagrangianSettings, SolveSettings
from optimization.solve import BACKENDS, solve
from shopdata.progress import Progress, reporting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--backend", choices=sorted([*BACKENDS, "auto"]), default="lagrangian")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument(
        "--no-warm-start",
        action="store_true",
        help="exact backends start from all-none instead of the decomposition",
    )
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument(
        "--policies",
        action="store_true",
        help="under contact policies of every kind (optimization.instances.with_policies)",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    if args.engine == "ray":
        from optimization.ray_groups import start_ray

        start_ray()  # before the timer: a cluster is started once, not per solve

    started = time.perf_counter()
    dtype = np.float32 if args.customers >= 500_000 else np.float64
    problem = random_problem(args.customers, weeks=args.weeks, seed=args.seed, dtype=dtype)
    if args.policies:
        problem = with_policies(problem, seed=args.seed)
    instance_seconds = time.perf_counter() - started
    settings = SolveSettings(
        time_limit_s=args.time_limit,
        relative_gap=args.gap,
        warm_start=not args.no_warm_start,
        seed=args.seed,
        lagrangian=LagrangianSettings(engine=args.engine, shards=args.shards),
    )
    sampler = MemorySampler() if args.engine == "ray" else None
    started = time.perf_counter()
    steps: list[dict[str, object]] = []

    def tell(progress: Progress) -> None:  # each count on stderr, and kept for the JSON
        print(progress.describe(), file=sys.stderr, flush=True)
        steps.append(progress.to_dict())

    with reporting(tell):
        solution = solve(problem, args.backend, settings)
    wall = time.perf_counter() - started
    actors_peak_mb = sampler.stop()[1] if sampler is not None else None
    figures = {
        "customers": args.customers,
        "actions": problem.shape[1],
        "weeks": problem.shape[2],
        "variables": int(problem.value.size),
        "policies": [w.name for w in problem.windows]
        + [r.name for r in problem.ratios]
        + (["suppression"] if args.policies else []),
        "backend": solution.backend,
        "instance_seconds": instance_seconds,
        "build_seconds": solution.timings.build_seconds,
        "solve_seconds": wall - solution.timings.build_seconds,
        "wall_seconds": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "objective": solution.objective if solution.has_plan else None,
        "bound": solution.bound,
        "gap": solution.gap if solution.has_plan else None,
        "status": solution.status.value,
        "warm_start": settings.warm_start,
        "engine": args.engine,
        "ray_actors_peak_rss_mb": actors_peak_mb,
        "shards": args.shards if args.engine == "ray" else 1,
        "time_limit_s": args.time_limit,
        "notes": list(solution.notes),
        "counted_steps": [step for step in steps if step["finished"]],
        "machine": platform.platform(),
    }
    print(json.dumps({k: v for k, v in figures.items() if k not in ("notes", "machine")}))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.save is not None:
        solution.save(args.save, problem)


if __name__ == "__main__":
    main()
