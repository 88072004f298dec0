"""Treatment effects from the campaign log: a T-learner with one head per action, in torch.

For each logged (customer, week, action) the network sees the customer's features at that week
and learns, per action, the week's purchase probability, the spend given a purchase, and the
spend over the following weeks. The logged propensities weight each row by the inverse
probability of the action it received, so a campaign that targeted some customers more than
others does not bias the effect. Effects are the differences of an action's heads against
`none`'s.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecasting.action_effects import (
    HEADS,
    LOG_FUTURE_SPEND,
    LOG_SPEND,
    PURCHASE_LOGIT,
    ActionEffects,
    PerActionHeads,
    arm_normalised_weights,
    spend_ratios,
)
from forecasting.campaign_examples import MIN_LOGGED
from forecasting.cross_fitting import customer_half
from forecasting.features import ANCHOR_FEATURES
from forecasting.propensity import fill_propensities
from forecasting.scaling import feature_scale, require_finite
from forecasting.segment_effects import SegmentKeys, fit_segment_deviations
from forecasting.shrinkage import EffectMoments, HalfSampleEffects
from forecasting.training import fit_minibatch
from shopdata.device import resolve_device


class CampaignEffectLearner:
    """Inverse-propensity-weighted T-learner over the campaign log (per-action heads)."""

    def __init__(
        self,
        *,
        action_ids: tuple[str, ...],
        future_weeks: int = 8,
        hidden: int = 64,
        epochs: int | str = "auto",
        batch_size: int = 4096,
        learning_rate: float = 3e-3,
        weight_clip: float = 20.0,
        max_rows: int = 600_000,
        min_logged: int = MIN_LOGGED,
        feature_columns: tuple[str, ...] = ANCHOR_FEATURES,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.action_ids = action_ids
        self.feature_columns = feature_columns
        self.future_weeks = future_weeks
        self.min_logged = min_logged
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_clip = weight_clip
        self.max_rows = max_rows
        self.device = device
        self.seed = seed

    def fit(self, examples: pd.DataFrame) -> CampaignEffectLearner:
        """`examples`: `anchor_features` of the campaign log with outcomes and `action`,
        `propensity` columns (a missing propensity is estimated as the action's share)."""
        started = time.perf_counter()
        device = resolve_device(self.device)
        generator = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        action_index = {a: i for i, a in enumerate(self.action_ids)}
        unknown = sorted(set(examples["action"]) - set(action_index))
        if unknown:
            raise ValueError(
                f"campaign log actions {unknown} are not in the catalogue {self.action_ids}"
            )
        if len(examples) > self.max_rows:
            examples = examples.iloc[
                np.sort(generator.choice(len(examples), self.max_rows, replace=False))
            ]
        action = examples["action"].map(action_index).to_numpy(dtype=np.int64)
        features = examples[list(self.feature_columns)].to_numpy(dtype=np.float32)
        require_finite(
            features,
            self.feature_columns,
            "the T-learner's campaign rows",
            examples["customer_id"].to_numpy() if "customer_id" in examples else None,
        )
        # Rows without a logged propensity: estimated from these features (propensity.py).
        propensity = fill_propensities(
            features,
            action,
            examples["propensity"].to_numpy(dtype=np.float64),
            len(self.action_ids),
            seed=self.seed,
        )
        weight = arm_normalised_weights(action, propensity, self.weight_clip)

        self.feature_mean_ = features.mean(axis=0)
        self.feature_scale_ = feature_scale(features)
        bought = examples["bought"].to_numpy(dtype=np.float32)
        spend = examples["spend"].to_numpy(dtype=np.float32)
        future = examples["future_spend"].to_numpy(dtype=np.float64)
        has_future = np.isfinite(future)
        self.spend_scale_ = float(
            max(spend[bought > 0].mean() if (bought > 0).any() else 1.0, 1e-6)
        )
        self.spend_ratio_ = spend_ratios(len(self.action_ids), action, weight, bought > 0, spend)
        # An action logged too rarely has an untrained head: no effect is learned for it.
        logged = np.bincount(action, minlength=len(self.action_ids))
        self.supported_ = logged >= self.min_logged
        self.supported_[0] = True
        # The follow-up head of an action whose window fewer than min_logged of its rows (or of
        # none's) observed learned nothing: its later effect is not identified and stays 0.
        observed = np.bincount(action, weights=has_future, minlength=len(self.action_ids))
        self.future_identified_ = (observed >= self.min_logged) & (observed[0] >= self.min_logged)
        self.future_identified_[0] = True

        def tensor(values: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        x = tensor((features - self.feature_mean_) / self.feature_scale_)
        a = tensor(action, torch.int64)
        w = tensor(weight)
        y_buy = tensor(bought)
        y_spend = tensor(spend / self.spend_scale_)
        y_future = tensor(np.nan_to_num(future) / self.spend_scale_)
        m_future = tensor(has_future.astype(np.float32))

        # Two models on disjoint halves of the customers: their agreement measures how much of
        # the estimated heterogeneity is signal (see `effects`).
        if "customer_id" in examples.columns:  # halves by customer, so no one is in both
            ids = examples["customer_id"].to_numpy(dtype=str)
            fold = customer_half(ids).astype(bool)
            #: The customers each half learned from (cross-fitting: `held_out`).
            self.learned_from_ = np.unique(ids)
        else:
            fold = generator.random(len(examples)) < 0.5
            self.learned_from_ = np.zeros(0, dtype=str)
        self.models_ = []
        self.training_: list[dict[str, object]] = []
        losses: list[float] = []
        for half in (~fold, fold):
            keep = torch.tensor(np.flatnonzero(half), device=device)
            model, report, final = self._train(
                x[keep],
                a[keep],
                w[keep],
                y_buy[keep],
                y_spend[keep],
                y_future[keep],
                m_future[keep],
                device,
                generator,
            )
            self.models_.append(model)
            self.training_.append(report)
            losses.append(final)
        self.base_rate_check_ = self._base_rate_check(x, action, bought, fold)
        clusters = (
            np.unique(examples["customer_id"].to_numpy(dtype=str), return_inverse=True)[1]
            if "customer_id" in examples.columns
            else np.arange(len(examples))
        )
        self.calibration_ = self._effect_calibration(x, action, bought, propensity, fold, clusters)
        self._fit_segments(features, action, weight, bought)
        rows = x.shape[0]
        self.training_rows_ = rows
        self.final_loss_ = float(np.mean(losses))
        self.device_ = str(device)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    @torch.no_grad()
    def _base_rate_check(
        self, x: torch.Tensor, action: np.ndarray, bought: np.ndarray, fold: np.ndarray
    ) -> dict[str, float | int | None]:
        """Calibration of the no-action purchase rate on held-out customers: each half's model
        predicts P(buy | none) for the other half's `none` rows; the mean prediction against
        the observed rate (the base every effect is measured from)."""
        predicted, observed = [], []
        for model, held_out in zip(self.models_, (fold, ~fold), strict=True):
            rows = np.flatnonzero(held_out & (action == 0))
            if len(rows) == 0:
                continue
            index = torch.tensor(rows, device=x.device)
            logit = model(x[index])[:, 0, PURCHASE_LOGIT].double().cpu().numpy()
            predicted.append(1.0 / (1.0 + np.exp(-logit)))
            observed.append(bought[rows])
        if not predicted:
            return {"predicted": None, "observed": None, "rows": 0}
        return {
            "predicted": float(np.concatenate(predicted).mean()),
            "observed": float(np.concatenate(observed).mean()),
            "rows": int(sum(len(o) for o in observed)),
        }

    @torch.no_grad()
    def _effect_calibration(
        self,
        x: torch.Tensor,
        action: np.ndarray,
        bought: np.ndarray,
        propensity: np.ndarray,
        fold: np.ndarray,
        clusters: np.ndarray,
    ) -> dict[str, dict[str, dict[str, float]]]:
        """How much of the learned purchase effects materialised on held-out customers, per
        action: each half's model predicts the other half's rows, and its mean predicted
        effect on the week's purchase probability (sigma(logit_a) - sigma(logit_none)) is set
        beside the held-out rows' inverse-propensity (Hajek) estimate of the same effect, with
        its standard error clustered by customer. The layout of the deep learner's
        `calibration` (outcome `purchase_week0`), which the release decision reads as the
        forecaster's calibration (engine/release_decision.calibration)."""
        predicted = np.zeros((len(action), len(self.action_ids)))
        for model, held_out in zip(self.models_, (fold, ~fold), strict=True):
            rows = np.flatnonzero(held_out)
            if len(rows) == 0:
                continue
            logit = model(x[torch.tensor(rows, device=x.device)])[..., PURCHASE_LOGIT]
            probability = torch.sigmoid(logit.double()).cpu().numpy()  # [R, A]
            predicted[rows] = probability - probability[:, :1]
        weight = 1.0 / propensity
        found: dict[str, dict[str, dict[str, float]]] = {}
        for a in np.flatnonzero(self.supported_)[1:]:
            taken, controls = action == a, action == 0
            if taken.sum() < 2 or controls.sum() < 2:
                continue
            mean_a = np.average(bought[taken], weights=weight[taken])
            mean_0 = np.average(bought[controls], weights=weight[controls])
            influence = np.zeros(len(action))
            influence[taken] = weight[taken] * (bought[taken] - mean_a) / weight[taken].sum()
            influence[controls] = (
                -weight[controls] * (bought[controls] - mean_0) / (weight[controls].sum())
            )
            per_customer = np.bincount(clusters, weights=influence)
            found[self.action_ids[a]] = {
                "purchase_week0": {
                    "average_effect": float(predicted[:, a].mean()),
                    "doubly_robust_effect": float(mean_a - mean_0),
                    "doubly_robust_effect_se": float(np.sqrt((per_customer**2).sum())),
                }
            }
        return found

    def _train(
        self,
        x: torch.Tensor,
        a: torch.Tensor,
        w: torch.Tensor,
        y_buy: torch.Tensor,
        y_spend: torch.Tensor,
        y_future: torch.Tensor,
        m_future: torch.Tensor,
        device: torch.device,
        generator: np.random.Generator,
    ) -> tuple[PerActionHeads, dict[str, object], float]:
        """One half's model, how its training stopped, and its mean loss on its rows."""
        model = PerActionHeads(x.shape[1], len(self.action_ids), self.hidden).to(device)

        def batch_loss(batch: torch.Tensor) -> torch.Tensor:
            out = model(x[batch])  # [B, A, HEADS]
            logged = out[torch.arange(len(batch), device=device), a[batch]]  # [B, HEADS]
            buy_loss = nn.functional.binary_cross_entropy_with_logits(
                logged[:, PURCHASE_LOGIT], y_buy[batch], reduction="none"
            )
            spend_loss = (
                nn.functional.poisson_nll_loss(
                    logged[:, LOG_SPEND],
                    y_spend[batch],
                    log_input=True,
                    full=False,
                    reduction="none",
                )
                * y_buy[batch]
            )
            future_loss = (
                nn.functional.poisson_nll_loss(
                    logged[:, LOG_FUTURE_SPEND],
                    y_future[batch],
                    log_input=True,
                    full=False,
                    reduction="none",
                )
                * m_future[batch]
            )
            return (w[batch] * (buy_loss + spend_loss + future_loss)).mean()

        report = fit_minibatch(
            model,
            batch_loss,
            x.shape[0],
            generator=generator,
            device=device,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            step="uplift model",
        )
        with torch.no_grad():
            final = float(batch_loss(torch.arange(x.shape[0], device=device)))
        return model.eval(), report.to_dict(), final

    def _fit_segments(
        self, features: np.ndarray, action: np.ndarray, weight: np.ndarray, bought: np.ndarray
    ) -> None:
        """The segments' purchase-shift deviations read off the log directly
        (forecasting/segment_effects.py) and, per segment and action, how far the networks' own
        average shift for the segment's logged rows lies from theirs over all rows
        (`segment_gap_`, [G, A]): `finish` keeps of the networks' spread what the reliability
        keeps, so of a segment's gap only that part is replaced by the log's deviation (where
        one survived the shrinkage)."""
        self.segments_ = fit_segment_deviations(
            SegmentKeys.of(self.feature_columns), features, action, weight, bought,
            len(self.action_ids),
        )  # fmt: skip
        half = self._half_sample_matrix(features)
        shift = half.shifts.mean(axis=0)  # [R, A]
        member = half.segments >= 0
        count = np.bincount(half.segments[member], minlength=len(self.segments_.codes))
        total = np.zeros((len(count), len(self.action_ids)))
        np.add.at(total, half.segments[member], shift[member])
        self.segment_gap_ = np.where(
            count[:, None] > 0, total / np.maximum(count, 1)[:, None] - shift.mean(axis=0), 0.0
        )

    @torch.no_grad()
    def _half_sample_matrix(
        self, matrix: np.ndarray, batch_size: int = 65_536
    ) -> HalfSampleEffects:
        """Each half-sample model's estimates for raw feature rows [N, F] ([2, N, A] each), with
        each row's segment (-1: none with deviations)."""
        device = next(self.models_[0].parameters()).device
        segments = self.segments_.index(matrix)
        matrix = ((matrix - self.feature_mean_) / self.feature_scale_).astype(np.float32)
        shifts, futures = [], []
        for model in self.models_:
            outputs = []
            for start in range(0, len(matrix), batch_size):
                chunk = torch.tensor(matrix[start : start + batch_size], device=device)
                outputs.append(model(chunk).double().cpu().numpy())
            out = (
                np.concatenate(outputs) if outputs else np.zeros((0, len(self.action_ids), HEADS))
            )  # [N, A, HEADS]
            logit, log_future = out[..., PURCHASE_LOGIT], out[..., LOG_FUTURE_SPEND]  # [N, A] each
            future = np.exp(log_future) * self.spend_scale_
            shifts.append(logit - logit[:, :1])
            futures.append(future - future[:, :1])
        return HalfSampleEffects(np.stack(shifts), np.stack(futures), segments)

    def half_sample_effects(
        self, features: pd.DataFrame, batch_size: int = 65_536
    ) -> HalfSampleEffects:
        """Each half-sample model's estimates for customers described by `anchor_features`
        rows: purchase-logit shifts and future-spend deltas against `none`, [2, N, A] each,
        and each customer's segment."""
        matrix = features[list(self.feature_columns)].to_numpy(dtype=np.float32)
        require_finite(
            matrix,
            self.feature_columns,
            "the T-learner's customers to score",
            features["customer_id"].to_numpy() if "customer_id" in features else None,
        )
        half = self._half_sample_matrix(matrix, batch_size)
        if "customer_id" not in features:
            return half
        return dataclasses.replace(half, held_out=self.held_out(features["customer_id"]))

    def held_out(self, customer_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Per customer ([N] int), the half-sample model that did not learn from their logged
        weeks: model 0 learned from half 0 (`customer_half`), so a customer of half 0 gets
        model 1 and one of half 1 model 0; -1 for a customer neither learned from (not in the
        log), who gets both. Scoring each customer with the model that never saw them makes
        the plan's choice of targets independent of their own logged outcomes (cross-fitted),
        so the release decision's evidence on their weeks is not the noise that chose them."""
        ids = np.asarray(customer_ids).astype(str)
        learned = np.isin(ids, getattr(self, "learned_from_", np.zeros(0, dtype=str)))
        return np.where(learned, 1 - customer_half(ids), -1)

    def finish(self, half: HalfSampleEffects, moments: EffectMoments) -> ActionEffects:
        """The effects of a group of customers from its half-sample estimates, shrunk by the
        `moments` of every customer scored (the group's own, or all groups' summed)."""
        held_out = (
            np.full(half.shifts.shape[1], -1) if half.held_out is None else half.held_out
        )  # [N]
        shift = moments.shift.cross_fitted(half.shifts[0], half.shifts[1], held_out)
        future_delta = moments.future.cross_fitted(half.futures[0], half.futures[1], held_out)
        # A segment whose deviation survived the shrinkage gets its purchase effect as the
        # log measures it: the deviation in place of the part of the networks' segment gap
        # that the reliability kept (segment_effects.py). Where it did not survive, the
        # log's segment means show no difference beyond their noise, which is no evidence
        # against the networks' own: their effects stay as they are.
        member = half.segments >= 0
        g = half.segments[member]
        deviation = self.segments_.shift[g]  # [M, A]
        kept = moments.shift.reliabilities(held_out[member]) * self.segment_gap_[g]
        shift[member] += np.where(deviation != 0.0, deviation - kept, 0.0)
        shift[:, ~self.supported_] = 0.0
        future_delta[:, ~(self.supported_ & self.future_identified_)] = 0.0
        return ActionEffects(
            purchase_logit_shift=shift,
            spend_ratio=np.broadcast_to(self.spend_ratio_, shift.shape).copy(),
            future_spend_delta=future_delta,
            future_weeks=self.future_weeks,
        )

    def effects(self, features: pd.DataFrame, batch_size: int = 65_536) -> ActionEffects:
        """Learned effects for customers described by `anchor_features` rows ([N, A] each).

        Each half-sample model gives an estimate; their average is shrunk towards the action's
        mean effect by the reliability of the average (Spearman-Brown of the two estimates'
        correlation across these customers; forecasting/shrinkage.py), so the optimiser does
        not chase heterogeneity that is mostly noise (the winner's curse). The moments are kept
        (`moments_`) for the reliabilities the forecast's metadata reports.
        """
        half = self.half_sample_effects(features, batch_size)
        self.moments_ = half.moments()
        return self.finish(half, self.moments_)

    @property
    def shift_reliability_(self) -> np.ndarray:
        """Reliability of the purchase-logit shifts per action ([A]) over the customers scored."""
        return self.moments_.shift.reliability()

    @property
    def future_reliability_(self) -> np.ndarray:
        """Reliability of the future-spend deltas per action ([A]) over the customers scored."""
        return self.moments_.future.reliability()
