"""The deep forecasters' ForecastSet: the deep no-action forecast with the learned action effects.

`DeepForecaster(model="ziln" | "sequence")` replaces BG/NBD + Gamma-Gamma's weekly purchase
probabilities and spend with `DeepPurchaseModel`'s; the action effects (campaign-log learner),
recommendation affinity and CLV horizon come from the baseline forecaster, fitted alongside, so
the two forecasters differ in exactly the no-action forecast.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.actions import DEMO_ACTIONS, Action
from engine.store import Store
from forecasting.baseline import BaselineForecaster
from forecasting.deep_purchases import KINDS, DeepPurchaseModel
from forecasting.forecast_set import ForecastSet

MODEL_VERSION = "0.1.0"


class DeepForecaster:
    """Fit with `fit(store, as_of)`, then `forecast()` returns the ForecastSet."""

    def __init__(
        self,
        *,
        model: str = "ziln",
        horizon_weeks: int = 12,
        actions: tuple[Action, ...] = DEMO_ACTIONS,
        gross_margin: float = 0.35,
        annual_discount_rate: float = 0.10,
        use_reviews: bool = True,
        review_cache: Path | str | None = None,
        epochs: int = 8,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.model = model
        self.horizon_weeks = horizon_weeks
        self.actions = actions
        self.gross_margin = gross_margin
        self.annual_discount_rate = annual_discount_rate
        self.use_reviews = use_reviews
        self.review_cache = review_cache
        self.epochs = epochs
        self.device = device
        self.seed = seed

    def fit(self, store: Store, as_of: pd.Timestamp | str) -> DeepForecaster:
        if self.model not in KINDS:
            raise ValueError(
                f"The 'model' parameter of DeepForecaster must be one of {KINDS}. "
                f"Got {self.model!r} instead."
            )
        started = time.perf_counter()
        self.baseline_ = BaselineForecaster(
            horizon_weeks=self.horizon_weeks,
            actions=self.actions,
            gross_margin=self.gross_margin,
            annual_discount_rate=self.annual_discount_rate,
            device=self.device,
            seed=self.seed,
        ).fit(store, as_of)
        self.purchases_ = DeepPurchaseModel(
            kind=self.model,  # type: ignore[arg-type]
            contact_actions=tuple(a.id for a in self.actions if a.id != "none"),
            use_reviews=self.use_reviews,
            review_cache=self.review_cache,
            epochs=self.epochs,
            device=self.device,
            seed=self.seed,
        ).fit(store, as_of)
        if not np.array_equal(
            self.purchases_.panel_.customer_ids, self.baseline_.summary_.customer_ids.astype(str)
        ):
            raise RuntimeError("the deep panel and the baseline summary hold different customers")
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def forecast(self) -> ForecastSet:
        baseline = self.baseline_
        deep = self.purchases_.predict(self.horizon_weeks)
        # CLV beyond the horizon keeps BG/NBD's long-run shape, rescaled by how the deep model
        # sees the horizon against it.
        gamma_gamma_spend = baseline.spend_.expected_spend(baseline.summary_)  # [N]
        ratio = deep.expected_spend() / np.maximum(deep.prior.sum(axis=1) * gamma_gamma_spend, 1e-9)
        clv = baseline.clv(gamma_gamma_spend) * ratio
        metadata = baseline.metadata()
        model = self.purchases_
        metadata = dataclasses.replace(
            metadata,
            model=self.model,
            version=MODEL_VERSION,
            device=str(model.device_),
            fit_seconds={
                **metadata.fit_seconds,
                **{f"deep_{k}": v for k, v in model.timings_.items()},
            },
            parameters={
                **metadata.parameters,
                "deep": {
                    "kind": self.model,
                    "training_examples": model.training_examples_,
                    "features": list(model.feature_names_),
                    "final_loss": float(np.mean(model.losses_[-20:])),
                    "anchor_offsets": model.anchor_offset_values_.tolist(),
                    "reviews_encoded": model.reviews_.reviews_encoded_ if model.reviews_ else 0,
                },
            },
        )
        return baseline.assemble(deep.purchase_prob, deep.spend, clv, metadata)


def make_forecaster(
    model: str,
    *,
    use_reviews: bool = True,
    review_cache: Path | str | None = None,
    **common: Any,
) -> BaselineForecaster | DeepForecaster:
    """The forecaster a scenario or the command line names: `baseline`, `ziln` or `sequence`.
    `common` holds the options both take (horizon, actions, margin, discount rate, device, seed);
    the review options apply to the deep ones only."""
    if model == "baseline":
        return BaselineForecaster(**common)
    return DeepForecaster(model=model, use_reviews=use_reviews, review_cache=review_cache, **common)
