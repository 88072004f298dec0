"""What a contact does to later spend, alone and followed by the shop's own contacts.

The campaign log measures each action's effect on later weeks under the contacts the shop kept
sending after it; in the demo market each contact wears down the lift of those that follow
(fatigue), so the log's later-window effect includes that cost. A plan that sends few later
contacts does not incur it. This replays the truth of a demo market from its planning week: one
contact of each action in week 0 against none, followed (a) by no contacts, (b) by the demo
log's assignment policy (each week `none` with the log's share, otherwise a random action; the
same draws in both arms), and prints the change of expected spend in week 0, weeks 1-4 and
weeks 5-12, averaged over the market's customers. Usage:

    python bench/fatigue_windows.py DATA [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from markets.demo.ground_truth import GroundTruth
from markets.demo.history import CAMPAIGN_NONE_SHARE_NEW, CAMPAIGN_NONE_SHARE_REPEAT

WEEKS = 13
REPLICATIONS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a demo market's folder (ground_truth.npz)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    truth = GroundTruth.load(args.data / "ground_truth.npz")
    customers, actions = len(truth.customer_ids), len(truth.config.actions)
    mean_spend = truth.config.spend_p / truth.population.spend_rate  # [N]
    rows = np.arange(customers)[:, None]

    def expected_spend(plan: np.ndarray) -> np.ndarray:
        """Mean over replications of each customer-week's expected spend ([N, WEEKS])."""
        basket = 1.0 + np.where(plan > 0, truth.population.basket_lift[rows, plan], 0.0)
        total = np.zeros(plan.shape)
        for r in range(REPLICATIONS):
            replay = truth.replay(plan, seed=11 + r)
            total += replay.probability * mean_spend[:, None] * basket
        return total / REPLICATIONS

    rng = np.random.default_rng(0)
    none_share = 0.5 * (CAMPAIGN_NONE_SHARE_REPEAT + CAMPAIGN_NONE_SHARE_NEW)
    policy = np.where(
        rng.random((customers, WEEKS)) >= none_share,
        rng.integers(1, actions, (customers, WEEKS)),
        0,
    )
    continuations = {
        "no contacts after": np.zeros((customers, WEEKS), dtype=np.int64),
        "the log's policy after": policy,
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, after in continuations.items():
        base = after.copy()
        base[:, 0] = 0
        none = expected_spend(base)
        results[name] = {}
        for a in range(1, actions):
            plan = after.copy()
            plan[:, 0] = a
            change = (expected_spend(plan) - none).mean(axis=0)  # [WEEKS]
            results[name][truth.config.actions[a].id] = {
                "week_0": float(change[0]),
                "weeks_1_4": float(change[1:5].sum()),
                "weeks_5_12": float(change[5:13].sum()),
            }
        print(f"{name} (none share {none_share:.2f}):")
        for action, figures in results[name].items():
            print(
                f"  {action:>14}: week 0 {figures['week_0']:+.3f}, weeks 1-4 "
                f"{figures['weeks_1_4']:+.3f}, weeks 5-12 {figures['weeks_5_12']:+.3f}"
            )
    if args.json:
        args.json.write_text(
            json.dumps({"command": "python " + " ".join(sys.argv), "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
