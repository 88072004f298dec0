"""The market's ground truth on disk, and replaying a plan against it.

`ground_truth.npz` holds every customer's latent traits and state at the as-of date, and the
market configuration; an evaluator loads it and replays any plan (an action per customer-week)
with common random numbers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from markets.demo.config import ActionResponse, Behaviour, MarketConfig
from markets.demo.dynamics import MarketState, WeekNoise, step
from markets.demo.history import DemoMarket
from markets.demo.population import Population
from shopdata.actions import Action

FILE_NAME = "ground_truth.npz"


def _tuple(values: list[float] | None) -> tuple[float, ...] | None:
    """A JSON list read back as the tuple it was written from (None stays None)."""
    return None if values is None else tuple(values)


@dataclass(frozen=True)
class Replay:
    """A plan replayed in the true market: [N, H] arrays of purchases, spend and the true
    purchase probabilities with the planned action and without any."""

    purchased: np.ndarray
    spend: np.ndarray
    probability: np.ndarray
    probability_none: np.ndarray
    final_state: MarketState


@dataclass(frozen=True)
class GroundTruth:
    """What the demo market really is: its configuration, customers and their hidden response
    parameters, and the state at the as-of week; `replay` runs any plan in it."""

    config: MarketConfig
    customer_ids: np.ndarray
    population: Population
    state: MarketState

    @classmethod
    def of(cls, market: DemoMarket) -> GroundTruth:
        return cls(market.config, market.customer_ids, market.population, market.final_state)

    def save(self, path: Path) -> None:
        arrays = {f"population.{k}": v for k, v in dataclasses.asdict(self.population).items()}
        arrays |= {f"state.{k}": v for k, v in dataclasses.asdict(self.state).items()}
        config = dataclasses.asdict(self.config)
        config["as_of"] = f"{self.config.as_of:%Y-%m-%d}"
        with path.open("wb") as handle:
            np.savez_compressed(
                handle,
                customer_ids=self.customer_ids,
                config=np.array(json.dumps(config)),
                **arrays,
            )

    @classmethod
    def load(cls, path: Path | str) -> GroundTruth:
        with np.load(path, allow_pickle=False) as archive:
            raw = json.loads(str(archive["config"]))
            raw["as_of"] = pd.Timestamp(raw["as_of"])
            raw["actions"] = tuple(Action(**a) for a in raw["actions"])
            raw["responses"] = {
                k: ActionResponse(
                    **{
                        **v,
                        "region_lift": tuple(v["region_lift"]) if v.get("region_lift") else None,
                    }
                )
                for k, v in raw["responses"].items()
            }
            raw["behaviour"] = Behaviour(**raw.get("behaviour", {}))

            def block(prefix: str, kind: type) -> object:
                names = [f.name for f in dataclasses.fields(kind)]
                return kind(**{name: archive[f"{prefix}.{name}"] for name in names})

            return cls(
                MarketConfig(**raw),
                archive["customer_ids"],
                block("population", Population),
                block("state", MarketState),
            )

    def replay(
        self, plan: np.ndarray, *, seed: int, state: MarketState | None = None, first_week: int = 0
    ) -> Replay:
        """Replay `plan` ([N, H] action indices) from the as-of state, or from `state` at
        `first_week` weeks after the as-of week (to continue an earlier replay)."""
        customers = len(self.customer_ids)
        if plan.ndim != 2 or plan.shape[0] != customers:
            raise ValueError(f"plan must be shaped [{customers}, H]; got {plan.shape}")
        if plan.min(initial=0) < 0 or plan.max(initial=0) >= len(self.config.actions):
            raise ValueError("plan holds action indices outside the market's catalogue")
        discounted = np.array([a.discount_rate > 0 for a in self.config.actions])
        state = self.state if state is None else state
        columns = []
        for offset in range(plan.shape[1]):
            week = self.config.weeks + first_week + offset
            noise = WeekNoise.draw(seed, week, customers, self.config.spend_p)
            outcome, state = step(
                self.population, state, plan[:, offset], week, noise, discounted=discounted
            )
            columns.append(outcome)
        return Replay(
            purchased=np.stack([c.purchased for c in columns], axis=1),  # [N, H]
            spend=np.stack([c.spend for c in columns], axis=1),
            probability=np.stack([c.probability for c in columns], axis=1),
            probability_none=np.stack([c.probability_none for c in columns], axis=1),
            final_state=state,
        )
