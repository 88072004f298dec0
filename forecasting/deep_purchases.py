"""The deep no-action forecast: per customer and week, purchase probability and spend (ZILN).

Training examples are (customer, anchor week) pairs at past anchors: inputs from the weeks before
the anchor, labels from the `label_weeks` after it. A BG/NBD fitted at each anchor supplies the
prior weekly purchase curve; the network corrects each customer's log-odds with a level and a
slope in log(1 + week), centred over the customers of an anchor, and the forecast is shifted
each week so that its expected purchases are BG/NBD's: the network learns what BG/NBD cannot
see about who buys (spend levels, recent rhythm, contacts, reviews), BG/NBD keeps how much the
cohort buys, also where no label reaches (a 39-week backtest horizon trained on 26-week
labels). Spend given a purchase is the ZILN lognormal; the count of purchase weeks over a
horizon is negative binomial with a learned shape (medians for MAE).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.special as special
import torch

from forecasting.anchors import (
    Labels,
    labels_after,
    sequence_window,
    tabular_names,
)
from forecasting.attributes import CustomerAttributes, customers_table
from forecasting.deep_examples import (
    PRIOR_FEATURES,
    TrainingExamples,
    anchor_inputs,
    training_examples,
)
from forecasting.errors import TooLittleData
from forecasting.model_kinds import DEEP_KINDS, DeepKind
from forecasting.networks import (
    COUNT_LOG_SHAPE,
    PURCHASE,
    SPEND_LOG_SIGMA,
    SPEND_MU,
    ForecastNetwork,
    NetworkConfig,
)
from forecasting.panel import WeeklyPanel, weekly_panel
from forecasting.purchase_curve import (
    PurchaseForecast,
    aggregate_matching_shift,
    centred_by_group,
    purchase_logit,
)
from forecasting.review_embeddings import ReviewFeatures
from forecasting.scaling import feature_scale
from forecasting.ziln import (
    lognormal_mean,
    negative_binomial_loss,
    ziln_weekly_loss,
)
from shopdata.calendar import horizon_start
from shopdata.device import resolve_device
from shopdata.progress import counted
from shopdata.store import Store

log = logging.getLogger(__name__)


class DeepPurchaseModel:
    """`fit(store, as_of)` trains on past anchors; `predict(horizon_weeks)` forecasts from the
    week after `as_of` for every customer with a purchase on or before it."""

    def __init__(
        self,
        *,
        kind: DeepKind = "ziln",
        label_weeks: int = 26,
        anchors: int = 6,
        anchor_stride: int = 4,
        min_history_weeks: int = 8,
        sequence_weeks: int = 32,
        hidden: int = 64,
        layers: int = 2,
        epochs: int = 8,
        batch_size: int = 1024,
        learning_rate: float = 2e-3,
        count_weight: float = 0.1,
        max_examples: int | Literal["auto"] = "auto",
        contact_actions: tuple[str, ...] = (),
        use_reviews: bool = False,
        review_cache: Path | str | None = None,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.kind = kind
        self.label_weeks = label_weeks
        self.anchors = anchors
        self.anchor_stride = anchor_stride
        self.min_history_weeks = min_history_weeks
        self.sequence_weeks = sequence_weeks
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.count_weight = count_weight
        self.max_examples = max_examples
        self.contact_actions = contact_actions
        self.use_reviews = use_reviews
        self.review_cache = review_cache
        self.device = device
        self.seed = seed

    def _check_parameters(self) -> None:
        if self.kind not in DEEP_KINDS:
            raise ValueError(
                f"The 'kind' parameter of DeepPurchaseModel must be one of {DEEP_KINDS}. "
                f"Got {self.kind!r} instead."
            )
        if self.max_examples != "auto" and (
            not isinstance(self.max_examples, int) or self.max_examples < 1
        ):
            raise ValueError(
                "The 'max_examples' parameter of DeepPurchaseModel must be an int >= 1 or "
                f"'auto'. Got {self.max_examples!r} instead."
            )
        for name in ("label_weeks", "anchors", "anchor_stride", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"The '{name}' parameter of DeepPurchaseModel must be >= 1. "
                    f"Got {getattr(self, name)} instead."
                )

    # ------------------------------------------------------------------ fit
    def fit(self, store: Store, as_of: pd.Timestamp | str) -> DeepPurchaseModel:
        self._check_parameters()
        started = time.perf_counter()
        self.device_ = resolve_device(self.device)
        self.max_examples_ = self._resolve_max_examples()
        torch.manual_seed(self.seed)
        generator = np.random.default_rng(self.seed)
        self.trained_as_of_ = pd.Timestamp(as_of)
        self._read(store, self.trained_as_of_, trained=False)
        self.categories_ = self.panel_.categories
        self.timings_: dict[str, float] = {"panel": time.perf_counter() - started}

        started = time.perf_counter()
        examples = self._examples(generator)
        self.timings_["examples"] = time.perf_counter() - started
        self.feature_names_ = self._feature_names()
        self.feature_mean_ = examples.tabular.mean(axis=0)
        self.feature_scale_ = feature_scale(examples.tabular)
        self.training_examples_ = len(examples.rows)

        labels = labels_after(self.panel_, examples.rows, examples.anchors, self.label_weeks)
        self.log_spend_mean_ = self._log_spend_level(labels)

        started = time.perf_counter()
        self.network_ = ForecastNetwork(
            NetworkConfig(
                kind=self.kind,
                tabular_features=examples.tabular.shape[1],
                channels=len(self.panel_.channels),
                sequence_weeks=self.sequence_weeks,
                hidden=self.hidden,
                layers=self.layers,
            )
        ).to(self.device_)
        self.losses_ = self._train(examples, labels, generator)
        self.timings_["train"] = time.perf_counter() - started
        return self

    def _log_spend_level(self, labels: Labels) -> float:
        """The level the spend head learns around: the mean log spend of the training labels'
        purchase weeks, or, where those hold none (a shop whose customers mostly bought once,
        long before the anchors: no label window has a purchase), of every purchase week in
        the panel; 0 (spend 1) where the panel holds none either. Without it the level was the
        mean of nothing (NaN) and every spend forecast NaN."""
        positive = labels.bought * labels.observed > 0
        if positive.any():
            return float(np.log(np.maximum(labels.spend[positive], 1e-6)).mean())
        bought = self.panel_.values[..., self.panel_.channel("bought")] > 0
        if not bought.any():
            return 0.0
        spend = np.expm1(self.panel_.values[..., self.panel_.channel("log_spend")][bought])
        log.warning(
            "deep purchase model: no training label window holds a purchase; its spend level "
            "is every purchase week's in the history (%d weeks)",
            int(bought.sum()),
        )
        return float(np.log(np.maximum(spend, 1e-6)).mean())

    def refresh(self, store: Store, as_of: pd.Timestamp | str) -> DeepPurchaseModel:
        """Point the trained model at the data up to `as_of` without training: the panel (with
        the categories it was trained on) and review features are rebuilt; the network, its
        feature scaling and spend level stay. `predict` then forecasts from the week after
        `as_of`; the weekly batch scores a model trained weeks ago this way."""
        if not hasattr(self, "network_"):
            raise ValueError(
                "This DeepPurchaseModel has no trained network to refresh: call fit, or load "
                "one with load_model_files."
            )
        started = time.perf_counter()
        self.device_ = resolve_device(self.device)
        self.network_.to(self.device_)
        self._read(store, pd.Timestamp(as_of), trained=True)
        names = self._feature_names()
        if names != self.feature_names_:
            missing = sorted(set(self.feature_names_) - set(names))
            extra = sorted(set(names) - set(self.feature_names_))
            raise ValueError(
                f"the data up to {pd.Timestamp(as_of):%Y-%m-%d} does not give the features the "
                f"model was trained on (as of {self.trained_as_of_:%Y-%m-%d}): missing "
                f"{missing or 'none'}, unexpected {extra or 'none'}; refit the model"
            )
        self.timings_ = {"panel": time.perf_counter() - started}
        return self

    def _read(self, store: Store, as_of: pd.Timestamp, *, trained: bool) -> None:
        """The panel and review features up to `as_of` (the data the model sees); a `trained`
        model keeps its categories and review projection, a new one learns them."""
        self.as_of_ = as_of
        self.panel_ = weekly_panel(
            store,
            as_of,
            horizon_start(as_of),
            self.contact_actions,
            categories=self.categories_ if trained else None,
        )
        # The customers' static attributes, encoded as learned at fit ([N_panel, F_attr]).
        customers = customers_table(store)
        if not trained:
            self.attributes_ = CustomerAttributes().fit(customers)
        self.attribute_rows_ = self.attributes_.transform(customers, self.panel_.customer_ids)
        if not self.use_reviews:
            self.reviews_ = None
        elif trained:
            self.reviews_.refresh(store, self.panel_, as_of)
        else:
            self.reviews_ = ReviewFeatures(cache_path=self.review_cache, device=self.device).fit(
                store, self.panel_, as_of
            )

    def _feature_names(self) -> tuple[str, ...]:
        return (
            tabular_names(self.panel_)
            + PRIOR_FEATURES
            + (self.reviews_.feature_names_ if self.reviews_ is not None else ())
            + self.attributes_.feature_names_
        )

    def _resolve_max_examples(self) -> int:
        """'auto': 300k examples, except the transformer on a CPU, which gets 50k (about 4 min
        for 8 epochs on 2 cores; 300k would take 25 min)."""
        if self.max_examples != "auto":
            return int(self.max_examples)
        return 50_000 if self.kind == "sequence" and self.device_.type == "cpu" else 300_000

    def _inputs_at(
        self, rows: np.ndarray, anchor: int, horizon: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tabular inputs [B, F] and the BG/NBD prior [B, horizon] of `rows` at `anchor`."""
        return anchor_inputs(
            self.panel_,
            rows,
            anchor,
            horizon,
            self.label_weeks,
            self.reviews_,
            self.attribute_rows_,
        )

    def _examples(self, generator: np.random.Generator) -> TrainingExamples:
        last = self.panel_.weeks
        anchor_weeks = [
            last - k * self.anchor_stride
            for k in range(1, self.anchors + 1)
            if last - k * self.anchor_stride >= self.min_history_weeks
        ]
        if not anchor_weeks:
            raise TooLittleData(
                f"{self.panel_.weeks} weeks of history leave no training anchor with "
                f"{self.min_history_weeks} weeks before it; the deep forecasters ({self.kind}) "
                f"need more history: use the baseline forecaster (forecast: {{model: "
                "baseline}), which fits any shop with purchases"
            )
        return training_examples(
            self.panel_,
            anchor_weeks,
            self.max_examples_,
            lambda rows, anchor: self._inputs_at(rows, anchor, self.label_weeks),
            generator,
            self.kind,
        )

    def _horizon_basis(self, weeks: int) -> np.ndarray:
        return np.log1p(np.arange(weeks)) / np.log1p(self.label_weeks)  # [H]

    def _sequence(self, rows: np.ndarray, anchors: np.ndarray) -> tuple[torch.Tensor, ...]:
        if self.kind != "sequence":
            return ()
        events, mask = sequence_window(self.panel_, rows, anchors, self.sequence_weeks)
        return (
            torch.from_numpy(events).to(self.device_),
            torch.from_numpy(mask).to(self.device_),
        )

    def _outputs(self, tabular: torch.Tensor, sequence: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.device_.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return self.network_(tabular, *sequence).float()
        return self.network_(tabular, *sequence)

    def _train(
        self, examples: TrainingExamples, labels: Labels, generator: np.random.Generator
    ) -> list[float]:
        device = self.device_
        tabular = torch.tensor(
            (examples.tabular - self.feature_mean_) / self.feature_scale_, device=device
        )
        prior_logit = torch.tensor(examples.prior_logit, device=device)
        bought = torch.tensor(labels.bought, device=device)
        spend = torch.tensor(labels.spend, device=device)
        observed = torch.tensor(labels.observed, device=device)
        basis = torch.tensor(
            self._horizon_basis(self.label_weeks), dtype=torch.float32, device=device
        )  # [L]
        # What moved the whole market in a training window (a promotion burst, a season, the
        # prior's bias at a short history) is a free level and slope per anchor; the network's
        # corrections are centred within each anchor, so it learns only how customers differ
        # from the prior, which transfers to a new anchor. A forecast adds no market shift:
        # each week's expected purchases are the prior's (`predict`). (With an uncentred
        # network the split between its bias and the anchor offsets was not identified, and
        # CDNOW's holdout total moved by 6 points with the seed.)
        anchor_ids = np.unique(examples.anchors, return_inverse=True)[1]
        anchor_index = torch.from_numpy(anchor_ids).to(device)
        # Levels start at each window's log ratio of actual to prior purchases; slopes at 0.
        ratio = np.bincount(
            anchor_ids, (labels.bought * labels.observed).sum(axis=1)
        ) / np.bincount(
            anchor_ids, (special.expit(examples.prior_logit) * labels.observed).sum(axis=1)
        )
        initial = np.column_stack([np.log(np.maximum(ratio, 1e-3)), np.zeros(len(ratio))])
        self.anchor_offsets_ = torch.tensor(
            initial, dtype=torch.float32, device=device
        ).requires_grad_(True)  # [K, 2] level and slope
        optimiser = torch.optim.AdamW(
            [
                {"params": self.network_.parameters(), "weight_decay": 1e-4},
                {
                    "params": [self.anchor_offsets_],
                    "weight_decay": 0.0,
                    "lr": 10 * self.learning_rate,
                },
            ],
            lr=self.learning_rate,
        )
        steps = self.epochs * int(np.ceil(len(examples.rows) / self.batch_size))
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=[self.learning_rate, 10 * self.learning_rate], total_steps=steps
        )
        losses = []
        self.network_.train()
        counter = counted("deep forecaster training", self.epochs, "epochs")
        for _ in range(self.epochs):
            order = generator.permutation(len(examples.rows))
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                index = torch.from_numpy(batch).to(device)
                sequence = self._sequence(examples.rows[batch], examples.anchors[batch])
                out = self._outputs(tabular[index], sequence)  # [B, OUTPUTS]
                batch_anchor = anchor_index[index]
                shifted = torch.cat(
                    [
                        centred_by_group(out[:, PURCHASE], batch_anchor, len(initial))
                        + self.anchor_offsets_[batch_anchor],
                        out[:, PURCHASE.stop :],
                    ],
                    dim=1,
                )  # [B, OUTPUTS]: level and slope centred per anchor plus its market shift
                logit = purchase_logit(prior_logit[index], shifted, basis)  # [B, L]
                seen = observed[index]
                loss = ziln_weekly_loss(
                    logit,
                    self.log_spend_mean_ + out[:, SPEND_MU],
                    out[:, SPEND_LOG_SIGMA],
                    bought[index],
                    spend[index],
                    seen,
                ) + self.count_weight * negative_binomial_loss(
                    (torch.sigmoid(logit) * seen).sum(dim=1),
                    out[:, COUNT_LOG_SHAPE],
                    (bought[index] * seen).sum(dim=1),
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                losses.append(float(loss.detach()))
            counter.advance(note=f"training loss {np.mean(losses[-20:]):.4g}")
        counter.finish()
        self.network_.eval()
        self.anchor_offset_values_ = self.anchor_offsets_.detach().cpu().numpy()
        self.final_loss_ = float(np.mean(losses[-20:]))
        return losses

    # -------------------------------------------------------------- predict
    @torch.no_grad()
    def predict(self, horizon_weeks: int, batch_size: int = 8192) -> PurchaseForecast:
        """The forecast from the panel's end over `horizon_weeks` weeks, batched."""
        panel: WeeklyPanel = self.panel_
        rows = np.arange(len(panel))
        anchor = panel.weeks
        tabular, prior = self._inputs_at(rows, anchor, horizon_weeks)
        tabular = (tabular - self.feature_mean_) / self.feature_scale_
        outputs = []
        started = time.perf_counter()
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            sequence = self._sequence(chunk, np.full(len(chunk), anchor))
            out = self._outputs(torch.tensor(tabular[chunk], device=self.device_), sequence)
            outputs.append(out.double().cpu().numpy())
        out = np.concatenate(outputs)  # [N, OUTPUTS]
        self.timings_["predict"] = time.perf_counter() - started
        logit = purchase_logit(special.logit(prior), out, self._horizon_basis(horizon_weeks))
        # No market shift at a new anchor: each week's expected purchases are BG/NBD's.
        logit += aggregate_matching_shift(logit, prior.sum(axis=0))[None, :]
        return PurchaseForecast(
            customer_ids=panel.customer_ids,
            purchase_prob=special.expit(logit),
            spend=lognormal_mean(self.log_spend_mean_ + out[:, SPEND_MU], out[:, SPEND_LOG_SIGMA]),
            count_shape=np.exp(np.clip(out[:, COUNT_LOG_SHAPE], -6.0, 6.0)),
            prior=prior,
        )
