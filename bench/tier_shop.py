"""A shop whose promotion effects differ by a customers-table attribute (docs/forecasting.md,
"Segment effects read off the log").

    python bench/tier_shop.py write /tmp/tier            # data in /tmp/tier/data
    ltv weekly --scenario bench/tier_shop.yaml --as-of 2026-11-30 --data /tmp/tier/data \
        --runs-dir /tmp/tier/runs
    python bench/tier_shop.py lifts /tmp/tier RUN        # predicted first-week lift per tier

10,000 customers over 80 weeks, most with one or two purchases; a one-shot randomised campaign
in week 64 (coupon_15 to 30 %, push to 30 %, a contacts-only log with its rates declared once);
a `tier` column in customers.csv. The coupon triples a standard customer's weekly purchase
chance for three weeks (then 0.85 for three) and moves a gold one's by 5 %; the push raises a
standard customer's chance 2.5-fold in its week and lowers a gold one's by 10-15 % for ten
weeks. Amounts are list prices (DESIGN: the discount is a cost, not a lower amount).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

WEEKS, CAMPAIGN_WEEK, CUSTOMERS = 80, 64, 10_000
AS_OF = pd.Timestamp("2026-11-30")
START = AS_OF - pd.Timedelta(weeks=WEEKS)
DEATH = 0.012  # weekly chance that a customer stops buying


def _lift(action: str, gold: np.ndarray, k: int) -> np.ndarray:
    """Multiplier of the weekly purchase chance k weeks after the contact (0: its week)."""
    if action == "coupon_15":
        if k < 3:
            return np.where(gold, 1.05, 3.0)
        return np.where(gold, 1.0, 0.85) if k < 6 else np.ones(len(gold))
    if action == "push":
        if k < 1:
            return np.where(gold, 0.9, 2.5)
        return np.where(gold, 0.85, 1.0) if k < 10 else np.ones(len(gold))
    return np.ones(len(gold))


def write(folder: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    gold = rng.random(CUSTOMERS) < 0.2
    rate = np.where(gold, rng.gamma(4, 0.02, CUSTOMERS), rng.gamma(2, 0.015, CUSTOMERS))
    rate = np.clip(rate, 0, 0.6)
    first = rng.integers(0, WEEKS - 4, CUSTOMERS)
    alive = np.ones(CUSTOMERS, bool)
    u, d = rng.random((CUSTOMERS, WEEKS)), rng.random((CUSTOMERS, WEEKS))
    amount = rng.gamma(2.5, 24, (CUSTOMERS, WEEKS))
    arm = np.where(first < CAMPAIGN_WEEK, rng.choice(3, CUSTOMERS, p=[0.4, 0.3, 0.3]), 0)
    names = np.array(["none", "coupon_15", "push"])
    bought = np.zeros((CUSTOMERS, WEEKS), bool)
    for w in range(WEEKS):
        lift = np.ones(CUSTOMERS)
        if w >= CAMPAIGN_WEEK:
            for a in (1, 2):
                lift = np.where(arm == a, _lift(names[a], gold, w - CAMPAIGN_WEEK), lift)
        bought[:, w] = (w == first) | ((w > first) & alive & (u[:, w] < rate * lift))
        alive &= (w < first) | (d[:, w] > DEATH)
    customer, week = np.nonzero(bought)
    ids = np.array([f"C{i:05d}" for i in range(CUSTOMERS)])
    seconds = rng.integers(0, 7 * 86400, len(week))
    ts = START + pd.to_timedelta(week * 7, unit="D") + pd.to_timedelta(seconds, unit="s")
    out = folder / "data"
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"customer_id": ids[customer], "ts": ts, "amount": amount[customer, week].round(2)}
    ).to_csv(out / "transactions.csv", index=False)
    tier = np.where(gold, "gold", "standard")
    pd.DataFrame({"customer_id": ids, "tier": tier}).to_csv(out / "customers.csv", index=False)
    contacted = arm > 0
    send = (START + pd.Timedelta(weeks=CAMPAIGN_WEEK, days=1, hours=10)).isoformat()
    pd.DataFrame(
        {"customer_id": ids[contacted], "week_start": send, "action": names[arm[contacted]]}
    ).to_csv(out / "campaign_log.csv", index=False)
    pd.DataFrame({"action": ["coupon_15", "push"], "probability": [0.3, 0.3]}).to_csv(
        out / "campaign_design.csv", index=False
    )
    print(f"{len(week):,} purchases, {contacted.sum():,} contacts, {gold.sum():,} gold")


def lifts(folder: Path, run: Path) -> None:
    """The run's predicted extra purchase chance in the first planning week, per tier."""
    forecast = np.load(run / "forecast" / "forecast.npz", allow_pickle=True)
    tiers = pd.read_csv(folder / "data" / "customers.csv").set_index("customer_id")["tier"]
    tier = tiers.reindex(forecast["customer_ids"]).to_numpy()
    probability = forecast["purchase_prob"][:, :, 0]
    for a, action in enumerate(forecast["action_ids"][1:], start=1):
        for name in ("gold", "standard"):
            lift = (probability[:, a] - probability[:, 0])[tier == name].mean()
            print(f"{action:>10} {name:>8}: {lift:+.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]))
    else:
        lifts(Path(sys.argv[2]), Path(sys.argv[3]))
