"""Plan one random recommendation block by proposal rounds, in this process or on Ray actors.

    python bench/recommendation_rounds.py --customers 1000000 --json OUT
    python bench/recommendation_rounds.py --customers 1000000 --engine ray --shards 4 --json OUT

The block: N customers x M candidate items (of `--items`, each capped at `--capacity-share` of
the customers a week) x H weeks, `--slots` shown per customer-week, values Gamma(1, 1) - 0.3
(about a quarter not worth showing). The rounds are those the solve runs above the exact LP's
size (optimization/recommendation_rounds.py); on Ray the customers are sharded by id hash over
`--shards` actors, which hold their rows and send the driver only their proposals to capped
items. Writes seconds (building the actors apart), value, bound, shown and the plan's hash
(equal between engines for the same arguments). Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np

from optimization.groups import LocalShards
from optimization.recommendation_rounds import BlockPart
from optimization.recommendations import RecommendationBlock, solve_recommendations
from optimization.settings import SolveSettings


def random_block(
    customers: int, candidates: int, weeks: int, items: int, slots: int, share: float, seed: int
) -> RecommendationBlock:
    rng = np.random.default_rng(seed)
    # Distinct candidates per customer: the first M of a random rotation of the items.
    offsets = rng.integers(0, items, customers)[:, None]
    steps = rng.choice(np.arange(1, items), size=(customers, 1))
    chosen = (offsets + steps * np.arange(candidates)[None, :]) % items
    chosen[np.gcd(steps[:, 0], items) != 1] = np.arange(candidates)  # keep them distinct
    value = rng.gamma(1.0, 1.0, (customers, candidates, weeks)).astype(np.float64) - 0.3
    return RecommendationBlock(
        item_ids=np.array([f"i{i}" for i in range(items)]),
        candidates=chosen.astype(np.int64),
        value=value,
        slots=slots,
        item_capacity=np.full((items, weeks), np.floor(share * customers)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--candidates", type=int, default=5)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--capacity-share", type=float, default=0.004)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    block = random_block(
        args.customers,
        args.candidates,
        args.weeks,
        args.items,
        args.slots,
        args.capacity_share,
        args.seed,
    )
    settings = SolveSettings()
    started = time.perf_counter()
    if args.engine == "ray":
        from optimization.ray_groups import block_groups, start_ray

        start_ray()
        ids = np.array([f"c{i}" for i in range(args.customers)])
        with block_groups(block, ids, shards=args.shards) as groups:
            groups.call("total")  # the actors are up and hold their rows
            built = time.perf_counter() - started
            started = time.perf_counter()
            plan = solve_recommendations(block, settings, allow_exact=False, groups=groups)
    else:
        groups = LocalShards([BlockPart.of(block, np.arange(args.customers))])
        built = 0.0
        plan = solve_recommendations(block, settings, allow_exact=False, groups=groups)
    seconds = time.perf_counter() - started
    result = {
        "command": "python bench/recommendation_rounds.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "json"),
        "customers": args.customers,
        "engine": args.engine,
        "shards": args.shards if args.engine == "ray" else 1,
        "build_seconds": built,
        "seconds": seconds,
        "value": plan.value,
        "bound": plan.bound,
        "gap": (plan.bound - plan.value) / max(abs(plan.bound), 1e-12),
        "shown": int(plan.shown.sum()),
        "plan_sha256": hashlib.sha256(np.packbits(plan.shown).tobytes()).hexdigest()[:16],
        "machine": platform.platform(),
    }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
