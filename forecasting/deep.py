"""The deep forecasters' ForecastSet: the deep no-action forecast with multi-horizon effects.

`DeepForecaster(model="ziln" | "sequence")` replaces BG/NBD + Gamma-Gamma's weekly purchase
probabilities and spend with `DeepPurchaseModel`'s, and the baseline's short-horizon T-learner
with `DoublyRobustEffectLearner` over the same panel (and review) features: effects on the week
of the action and on discounted spend in the windows after it. Recommendation affinity and the
CLV horizon come from the baseline forecaster, fitted alongside without its effect learner.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.action_effects import ActionEffects
from forecasting.baseline import BaselineForecaster
from forecasting.campaign_examples import campaign_examples, effect_features
from forecasting.deep_purchases import DeepPurchaseModel
from forecasting.dr_effects import MIN_ROWS, DoublyRobustEffectLearner
from forecasting.forecast_set import ForecastSet
from forecasting.model_files import load_model_files, save_model_files
from forecasting.model_kinds import DEEP_KINDS, DEFAULT_EFFECT_WINDOWS
from shopdata.actions import DEMO_ACTIONS, Action, contact_action_ids, discount_action_ids
from shopdata.calendar import DEFAULT_ANNUAL_DISCOUNT_RATE, DEFAULT_GROSS_MARGIN
from shopdata.store import Store

MODEL_VERSION = "0.1.0"


class DeepForecaster:
    """Fit with `fit(store, as_of)`, then `forecast()` returns the ForecastSet."""

    def __init__(
        self,
        *,
        model: str = "ziln",
        horizon_weeks: int = 12,
        actions: tuple[Action, ...] = DEMO_ACTIONS,
        gross_margin: float = DEFAULT_GROSS_MARGIN,
        annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE,
        use_reviews: bool = True,
        review_cache: Path | str | None = None,
        epochs: int = 8,
        effect_windows: tuple[tuple[int, int], ...] = DEFAULT_EFFECT_WINDOWS,
        effect_epochs: int | str = "auto",
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
        self.effect_windows = effect_windows
        self.effect_epochs = effect_epochs
        self.device = device
        self.seed = seed

    def fit(self, store: Store, as_of: pd.Timestamp | str) -> DeepForecaster:
        """Fit the baseline (BG/NBD prior, Gamma-Gamma), the deep purchase model and the doubly
        robust effect learner on the store's data up to `as_of`; returns self."""
        if self.model not in DEEP_KINDS:
            raise ValueError(
                f"The 'model' parameter of DeepForecaster must be one of {DEEP_KINDS}. "
                f"Got {self.model!r} instead."
            )
        started = time.perf_counter()
        self.reviews_note_ = _reviews_note(store, as_of) if self.use_reviews else ""
        self.baseline_ = self._baseline().fit(store, as_of)
        self.purchases_ = DeepPurchaseModel(
            kind=self.model,  # type: ignore[arg-type]
            device=self.device,
            seed=self.seed,
            **self.purchase_options(),
        ).fit(store, as_of)
        self._check_customers()
        self.effect_learner_ = self._learn_effects(store)
        self.effects_ = self._current_effects()
        self.retrained_ = True
        self.fit_seconds_ = time.perf_counter() - started
        return self

    @classmethod
    def from_files(
        cls,
        folder: Path | str,
        *,
        horizon_weeks: int | None = None,
        gross_margin: float | None = None,
        annual_discount_rate: float | None = None,
        review_cache: Path | str | None = None,
        device: str = "auto",
    ) -> DeepForecaster:
        """The trained forecaster `save_model` wrote into `folder`; `refresh(store, as_of)`
        points it at data, then `forecast()`. The valuation settings (horizon, margin, discount
        rate) are not learned and may differ from training's; all else is as trained."""
        saved = load_model_files(folder, device=device, review_cache=review_cache)
        parameters = saved.description["forecaster"]
        if parameters is None:
            raise ValueError(f"{folder}: the saved model records no forecaster settings")
        overrides = {
            "horizon_weeks": horizon_weeks,
            "gross_margin": gross_margin,
            "annual_discount_rate": annual_discount_rate,
            "review_cache": review_cache,
        }
        forecaster = cls(
            **{
                **parameters,
                "actions": tuple(Action(**action) for action in parameters["actions"]),
                "effect_windows": tuple(tuple(w) for w in parameters["effect_windows"]),
                **{name: value for name, value in overrides.items() if value is not None},
                "device": device,
            }
        )
        forecaster.purchases_ = saved.purchases
        forecaster.effect_learner_ = saved.effects
        forecaster.saved_backtest_ = saved.description.get("backtest") or {}
        return forecaster

    def refresh(self, store: Store, as_of: pd.Timestamp | str) -> DeepForecaster:
        """Forecast from new data with the trained networks: BG/NBD, Gamma-Gamma and the
        recommendation affinity (statistics of seconds) are refitted up to `as_of`; the deep
        no-action model and the effect learner are applied, not trained. The weekly batch can
        so score every week with a model trained once a month."""
        if not hasattr(self, "purchases_"):
            raise ValueError(
                "This DeepForecaster has no trained model to refresh: call fit, or build it "
                "with DeepForecaster.from_files."
            )
        started = time.perf_counter()
        self.baseline_ = self._baseline().fit(store, as_of)
        self.purchases_.refresh(store, as_of)
        self._check_customers()
        self.effect_seconds_ = {}
        self.effects_ = self._current_effects()
        self.retrained_ = False
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _baseline(self) -> BaselineForecaster:
        """BG/NBD + Gamma-Gamma and the affinity, without an effect learner of their own."""
        return BaselineForecaster(
            horizon_weeks=self.horizon_weeks,
            actions=self.actions,
            gross_margin=self.gross_margin,
            annual_discount_rate=self.annual_discount_rate,
            learn_effects=False,
            device=self.device,
            seed=self.seed,
        )

    def _check_customers(self) -> None:
        if not np.array_equal(
            self.purchases_.panel_.customer_ids, self.baseline_.summary_.customer_ids.astype(str)
        ):
            raise RuntimeError("the deep panel and the baseline summary hold different customers")

    def purchase_options(self) -> dict[str, Any]:
        """The no-action model's arguments beyond kind, device and seed: what the run's report
        backtest must fit too, so that it scores this forecaster's model and not a sibling."""
        return {
            "contact_actions": contact_action_ids(self.actions),
            # Reviews asked for but absent from the data are not fed as zeros: the model is
            # fitted without review features, and the forecast's metadata says why.
            "use_reviews": self.use_reviews and not getattr(self, "reviews_note_", ""),
            "review_cache": self.review_cache,
            "epochs": self.epochs,
        }

    def _learn_effects(self, store: Store) -> DoublyRobustEffectLearner | None:
        """The multi-horizon effect learner, fitted on the campaign log (None without one)."""
        self.effect_seconds_: dict[str, float] = {}
        self.effects_note_ = ""
        if not store.has_table("campaign_log"):
            return None
        started = time.perf_counter()
        extra, extra_names = self._extra_features()
        examples = campaign_examples(
            store,
            self.purchases_.panel_,
            self.baseline_.action_ids_,
            windows=self.effect_windows,
            weekly_discount=self.baseline_.weekly_discount,
            discount_actions=discount_action_ids(self.actions),
            extra=extra,
            extra_names=extra_names,
        )
        self.effect_seconds_ = {"effect_examples": time.perf_counter() - started}
        if len(examples) < MIN_ROWS:
            # As the baseline's learner does with an action logged too rarely: no effect
            # learned, said so, rather than no plan at all.
            self.effects_note_ = (
                f"campaign log too small: {len(examples)} usable rows (customer-weeks after a "
                f"first purchase), the effect learner needs {MIN_ROWS}: no action effects learned"
            )
            return None
        learner = DoublyRobustEffectLearner(
            action_ids=self.baseline_.action_ids_,
            epochs=self.effect_epochs,
            device=self.device,
            seed=self.seed,
        ).fit(examples, customer_ids=self.purchases_.panel_.customer_ids[examples.rows])
        self.effect_seconds_["effects"] = learner.fit_seconds_
        return learner

    def _extra_features(
        self,
    ) -> tuple[Callable[[np.ndarray, int], np.ndarray] | None, tuple[str, ...]]:
        """The effect learner's features beyond the panel's: review components at the anchor
        and the customers' encoded static attributes ([B, k] for panel rows at an anchor)."""
        reviews = self.purchases_.reviews_
        attributes = self.purchases_.attributes_  # one encoding, learned with the panel
        encoded = (
            self.purchases_.attribute_rows_ if attributes.feature_names_ else None
        )  # [N_panel, F_attr]
        names = (reviews.feature_names_ if reviews is not None else ()) + (
            attributes.feature_names_ if encoded is not None else ()
        )
        if reviews is None and encoded is None:
            return None, ()

        def extra(rows: np.ndarray, anchor: int) -> np.ndarray:
            parts = [reviews.features(rows, anchor)] if reviews is not None else []
            if encoded is not None:
                parts.append(encoded[rows])
            return np.column_stack(parts)

        return extra, names

    def _current_effects(self) -> ActionEffects:
        """Every panel customer's effects at the panel's end (zero without a learner)."""
        panel, learner = self.purchases_.panel_, self.effect_learner_
        if learner is None:
            zeros = np.zeros((len(panel), len(self.baseline_.action_ids_)))
            return ActionEffects(zeros, np.ones_like(zeros), zeros, 0)
        extra, _ = self._extra_features()
        rows = np.arange(len(panel))
        features = effect_features(
            panel, rows, panel.weeks, discount_action_ids(self.actions), extra
        )
        # cross-fitted: each customer scored by the half that did not learn from them
        return learner.effects(features, learner.held_out(panel.customer_ids))

    def save_model(self, folder: Path | str, *, backtest: dict[str, Any] | None = None) -> Path:
        """Configuration, metrics and network weights of the fitted parts (model_files.py), with
        the backtest figures of this configuration when there are some."""
        return save_model_files(
            self.purchases_,
            self.effect_learner_,
            folder,
            forecaster=self,
            backtest=backtest,
        )

    def forecast(self) -> ForecastSet:
        """The ForecastSet over the horizon: the deep model's purchases and spend, the learned
        effects per action, CLV with BG/NBD's long-run shape rescaled to the deep model."""
        baseline = self.baseline_
        deep = self.purchases_.predict(self.horizon_weeks)
        # CLV beyond the horizon keeps BG/NBD's long-run shape, rescaled by how the deep model
        # sees the horizon against it.
        gamma_gamma_spend = baseline.spend_.expected_spend(baseline.summary_)  # [N]
        ratio = deep.expected_spend() / np.maximum(deep.prior.sum(axis=1) * gamma_gamma_spend, 1e-9)
        clv = baseline.clv(gamma_gamma_spend) * ratio
        metadata = baseline.metadata()
        model, learner = self.purchases_, self.effect_learner_
        effects_summary: dict[str, object] | str = (
            {
                "learner": "doubly robust, cross-fitted, calibrated (best linear predictor)",
                "windows": [list(w) for w in self.effect_windows],
                "training_rows": learner.training_rows_,
                "training": getattr(learner, "training_", []),
                "fit_seconds": learner.fit_seconds_,
                "spend_ratio": dict(
                    zip(learner.action_ids, learner.spend_ratio_.tolist(), strict=True)
                ),
                **learner.diagnostics_.to_dict(),
            }
            if learner is not None
            else getattr(self, "effects_note_", "") or "no campaign log: no action effects learned"
        )
        metadata = dataclasses.replace(
            metadata,
            model=self.model,
            version=MODEL_VERSION,
            device=str(model.device_),
            fit_seconds={
                **metadata.fit_seconds,
                **{f"deep_{k}": v for k, v in model.timings_.items()},
                **self.effect_seconds_,
            },
            parameters={
                **metadata.parameters,
                "future_weeks": max(last for _, last in self.effect_windows),
                "effects": effects_summary,
                "deep": {
                    "kind": self.model,
                    "training_examples": model.training_examples_,
                    "features": list(model.feature_names_),
                    "final_loss": model.final_loss_,
                    "trained_as_of": f"{model.trained_as_of_:%Y-%m-%d}",
                    "retrained": self.retrained_,
                    "anchor_offsets": model.anchor_offset_values_.tolist(),
                    "reviews_encoded": model.reviews_.reviews_encoded_ if model.reviews_ else 0,
                    "reviews": getattr(self, "reviews_note_", "")
                    or ("used" if model.reviews_ is not None else "not used"),
                },
            },
        )
        return baseline.assemble(deep.purchase_prob, deep.spend, clv, metadata, self.effects_)


def _reviews_note(store: Store, as_of: pd.Timestamp | str) -> str:
    """Why review features cannot be used with this data ('' when they can)."""
    if not store.has_table("reviews"):
        return "requested, but the data has no reviews table: fitted without review features"
    count = store.query("SELECT count(*) AS n FROM reviews WHERE ts <= ?", [pd.Timestamp(as_of)])
    if int(count["n"].iloc[0]) == 0:
        return (
            f"requested, but no review is dated on or before {pd.Timestamp(as_of):%Y-%m-%d}: "
            "fitted without review features"
        )
    return ""


def make_forecaster(
    model: str,
    *,
    use_reviews: bool = True,
    review_cache: Path | str | None = None,
    effect_windows: tuple[tuple[int, int], ...] = DEFAULT_EFFECT_WINDOWS,
    **common: Any,
) -> BaselineForecaster | DeepForecaster:
    """The forecaster a scenario or the command line names: `baseline`, `ziln` or `sequence`.
    `common` holds the options both take (horizon, actions, margin, discount rate, device, seed);
    the review and effect-window options apply to the deep ones only."""
    if model == "baseline":
        return BaselineForecaster(**common)
    return DeepForecaster(
        model=model,
        use_reviews=use_reviews,
        review_cache=review_cache,
        effect_windows=effect_windows,
        **common,
    )
