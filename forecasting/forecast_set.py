"""The ForecastSet: what forecasting hands the engine (DESIGN §3).

For N customers, A actions (index 0 is `none`) and H weeks: purchase probability and spend with
each action, the action's effect on discounted margin after the week, each customer's CLV with
no action, and recommendation candidates. Validated once on construction; saved as one `.npz`
of arrays plus a JSON of metadata.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shopdata.atomic import write_atomically, write_text_atomically

ARRAYS_FILE = "forecast.npz"
METADATA_FILE = "forecast.json"


@dataclass(frozen=True)
class ItemAffinity:
    """Top-M recommendation candidates per customer.

    item_ids: [I] labels (items or categories); candidates: [N, M] indices into item_ids, best
    first; purchase_prob: [N, M] probability of buying the candidate in a week if recommended.
    """

    item_ids: np.ndarray
    candidates: np.ndarray
    purchase_prob: np.ndarray


@dataclass(frozen=True)
class ForecastMetadata:
    """Where a ForecastSet came from: the model and its version, the training window, the
    device, the margin and discount rate its money figures use, the parameters and backtest."""

    model: str
    version: str
    training_start: str
    training_end: str
    device: str
    gross_margin: float
    annual_discount_rate: float
    fit_seconds: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    backtest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ForecastSet:
    """The forecasters' contract with valuation (DESIGN §3): per customer, action and horizon
    week the purchase probability and spend, the action's effect on later margin, the CLV
    without action and the item affinity; arrays [N, A, H] unless noted."""

    customer_ids: np.ndarray  # [N] str
    action_ids: np.ndarray  # [A] str, action_ids[0] == "none"
    week_starts: np.ndarray  # [H] datetime64[D], Mondays
    purchase_prob: np.ndarray  # [N, A, H]
    spend: np.ndarray  # [N, A, H]
    future_margin_delta: np.ndarray  # [N, A, H]; [:, 0, :] == 0
    clv: np.ndarray  # [N]
    item_affinity: ItemAffinity
    metadata: ForecastMetadata

    def __post_init__(self) -> None:
        n, a, h = len(self.customer_ids), len(self.action_ids), len(self.week_starts)
        if a == 0 or str(self.action_ids[0]) != "none":
            raise ValueError(
                f"ForecastSet.action_ids must start with 'none'; got {self.action_ids}"
            )
        for name in ("purchase_prob", "spend", "future_margin_delta"):
            values = getattr(self, name)
            if values.shape != (n, a, h):
                raise ValueError(
                    f"ForecastSet.{name} must be shaped [N, A, H] = {(n, a, h)}; got {values.shape}"
                )
            bad = ~np.isfinite(values)
            if bad.any():
                customers, actions, weeks = np.nonzero(bad)
                shown = ", ".join(
                    f"{self.customer_ids[u]}/{self.action_ids[k]}/week {t + 1}"
                    for u, k, t in list(zip(customers, actions, weeks, strict=True))[:5]
                )
                raise ValueError(
                    f"ForecastSet.{name} holds NaN or infinite values in {int(bad.sum())} cells "
                    f"of {len(np.unique(customers))} customers (customer/action/week: {shown}); "
                    f"the forecaster ({self.metadata.model}) produced them"
                )
        if ((self.purchase_prob < 0) | (self.purchase_prob > 1)).any():
            raise ValueError("ForecastSet.purchase_prob must lie in [0, 1]")
        if (self.spend < 0).any():
            raise ValueError("ForecastSet.spend must be >= 0")
        if np.abs(self.future_margin_delta[:, 0, :]).max(initial=0.0) > 0:
            raise ValueError("ForecastSet.future_margin_delta of 'none' (index 0) must be 0")
        if self.clv.shape != (n,) or not np.isfinite(self.clv).all():
            raise ValueError(f"ForecastSet.clv must be [N] = ({n},) and finite")
        affinity = self.item_affinity
        if affinity.candidates.shape != affinity.purchase_prob.shape or (
            affinity.candidates.shape[0] != n
        ):
            raise ValueError("ForecastSet.item_affinity arrays must both be shaped [N, M]")

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.purchase_prob.shape  # type: ignore[return-value]

    def save(self, folder: Path | str) -> Path:
        """Write forecast.npz and forecast.json into `folder` (each whole or not at all)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "customer_ids": self.customer_ids.astype(str),
            "action_ids": self.action_ids.astype(str),
            "week_starts": self.week_starts.astype("datetime64[D]"),
            "purchase_prob": self.purchase_prob,
            "spend": self.spend,
            "future_margin_delta": self.future_margin_delta,
            "clv": self.clv,
            "affinity_item_ids": self.item_affinity.item_ids.astype(str),
            "affinity_candidates": self.item_affinity.candidates,
            "affinity_purchase_prob": self.item_affinity.purchase_prob,
        }
        write_atomically(folder / ARRAYS_FILE, lambda path: _savez(path, arrays))
        write_text_atomically(
            folder / METADATA_FILE, json.dumps(asdict(self.metadata), indent=2, default=str) + "\n"
        )
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> ForecastSet:
        """The ForecastSet `save` wrote into `folder`."""
        folder = Path(folder)
        with np.load(folder / ARRAYS_FILE, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        metadata = ForecastSet.load_metadata(folder)
        return cls(
            customer_ids=arrays["customer_ids"],
            action_ids=arrays["action_ids"],
            week_starts=arrays["week_starts"],
            purchase_prob=arrays["purchase_prob"],
            spend=arrays["spend"],
            future_margin_delta=arrays["future_margin_delta"],
            clv=arrays["clv"],
            item_affinity=ItemAffinity(
                arrays["affinity_item_ids"],
                arrays["affinity_candidates"],
                arrays["affinity_purchase_prob"],
            ),
            metadata=metadata,
        )

    @staticmethod
    def load_metadata(folder: Path | str) -> ForecastMetadata:
        """The metadata `save` wrote into `folder`, without the arrays."""
        return ForecastMetadata(**json.loads((Path(folder) / METADATA_FILE).read_text()))

    @staticmethod
    def load_array(folder: Path | str, name: str) -> np.ndarray:
        """One array of those `save` wrote into `folder`, by its name in forecast.npz
        (`customer_ids`, `action_ids`, `purchase_prob`, ...), read without the others."""
        with np.load(Path(folder) / ARRAYS_FILE, allow_pickle=False) as archive:
            if name not in archive.files:
                raise KeyError(f"{Path(folder) / ARRAYS_FILE} holds no array {name!r}")
            return archive[name]


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as handle:  # a handle, so numpy does not append .npz to the name
        np.savez(handle, **arrays)
