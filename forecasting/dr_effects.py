"""Multi-horizon treatment effects from the campaign log, cross-fitted and doubly robust.

Per action a and outcome o (the week's purchase, and discounted spend in each window of weeks
after it), with x the customer's features and e the logged propensity:

1. Outcome model. On one half of the customers a network with a shared trunk and per-action
   heads learns mu_a,o(x) (inverse-propensity weighted, so each arm's head sees the population).
2. Doubly robust pseudo-effects. On the other half, for each row with logged action A and
   outcome Y:  tau~_a = mu_a - mu_0 + 1[A = a] (Y - mu_a) / e - 1[A = 0] (Y - mu_0) / e.
   Its mean is the action's effect whether or not mu is right (the propensities are logged).
3. Calibration, after the best linear predictor of Chernozhukov, Demirer, Duflo and
   Fernandez-Val ("Generic machine learning inference on heterogeneous treatment effects"):
   regress tau~ on [mu_0(x), tau^(x)] without intercept, tau^ = mu_a - mu_0 the model's effect;
   the slope on tau^ is theta_proxy (shrunk towards 0 by its standard error: max(0, 1 -
   se^2 / theta_proxy^2)), and theta_base is set so the calibrated effect's mean is the doubly
   robust average effect. The calibrated effect is theta_base mu_0(x) +
   theta_proxy tau^(x): where the model's heterogeneity is noise, theta_proxy -> 0 and the
   effect falls back to a lift proportional to the customer's no-action outcome (a promotion
   moves an active customer more than a lapsed one), not to one constant that would hand
   lapsed customers the average effect. theta_proxy is kept in [0, 1], so noise is never
   amplified.

   The two halves swap roles and their calibrated effects are averaged.

   Windows ending by `no_contact_through_week` (default 4: weeks 1-4) are learned for the
   action followed by no contact: each row's outcome in the window is weighted, in training
   and in its pseudo-effect, by the inverse probability that the shop sent the customer no
   further contact through the window's end (examples.no_contact_after; a sequentially
   randomised log makes this unbiased, as in a marginal structural model). Unweighted, the
   window's effect includes how the action changes the shop's own later contacts' effect
   (fatigue wears them down), which a plan that does not send those contacts does not incur:
   replayed in the responsive demo market, one e-mail with recommendations changes weeks 1-4
   by -0.03 alone and by -0.14 under the log's continuing contacts
   (bench/fatigue_windows.py). Later windows keep the log's continuation: few rows go 12 weeks
   without a contact (the weights' variance), and the difference measured there is small.
4. Shrinkage towards no effect (empirical Bayes, forecasting/shrinkage.no_effect_shrinkage):
   with m the held-out doubly robust average effect and s its standard error (clustered by
   customer: a customer's logged weeks share overlapping windows), the calibrated effect is
   scaled by the smaller of two posterior means' factors: max(0, 1 - s^2 / m^2), under a
   N(0, m^2 - s^2) prior read off the estimate alone (an average within one standard error of
   zero gives no effect; one at 3 standard errors keeps 89 %), and tau^2 / (tau^2 + s^2), under
   a N(0, tau^2) prior whose variance is pooled over the actions' estimates of the same outcome
   (tau^2 their maximum-likelihood spread), which shrinks an estimate far noisier than the
   actions' spread (a later window the log resolves poorly) where the first would keep most of
   it. The optimiser picks the actions whose effects look best, so unshrunk noise is what it
   would buy (the winner's curse); the baseline's T-learner guards the same way.

The held-out halves also give the diagnostics: a reliability curve of the purchase
probabilities, and sorted group average effects (GATES: predicted against doubly robust effect
per quintile of tau^).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.special as special
import torch
from torch import nn

from forecasting.action_effects import (
    ActionEffects,
    PerActionHeads,
    arm_normalised_weights,
    spend_ratios,
)
from forecasting.campaign_examples import CampaignExamples
from forecasting.cross_fitting import (
    balanced_halves,
    calibration_loadings,
    clustered_standard_error,
    doubly_robust_pseudo_effects,
)
from forecasting.effect_diagnostics import held_out_diagnostics
from forecasting.errors import TooLittleData
from forecasting.scaling import feature_scale, require_finite
from forecasting.shrinkage import no_effect_shrinkage
from forecasting.training import fit_minibatch
from shopdata.device import resolve_device

PROBABILITY_BOUNDS = (1e-6, 1.0 - 1e-6)
#: Usable campaign-log rows (customer-weeks after a first purchase) the learner needs.
MIN_ROWS = 100


class DoublyRobustEffectLearner:
    """Cross-fitted, doubly robust, calibrated effects on the week and on later windows."""

    def __init__(
        self,
        *,
        action_ids: tuple[str, ...],
        hidden: int = 64,
        epochs: int | str = "auto",
        batch_size: int = 4096,
        learning_rate: float = 3e-3,
        weight_clip: float = 30.0,
        max_rows: int = 600_000,
        groups: int = 5,
        min_logged: int = 100,
        shrink_noisy_effects: bool = True,
        no_contact_through_week: int = 4,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.action_ids = action_ids
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_clip = weight_clip
        self.max_rows = max_rows
        self.groups = groups
        self.min_logged = min_logged
        self.shrink_noisy_effects = shrink_noisy_effects
        self.no_contact_through_week = no_contact_through_week
        self.device = device
        self.seed = seed

    def _check_parameters(self) -> None:
        if len(self.action_ids) < 2 or self.action_ids[0] != "none":
            raise ValueError(
                "The 'action_ids' parameter of DoublyRobustEffectLearner must start with 'none' "
                f"and hold at least one action. Got {self.action_ids!r} instead."
            )
        if self.epochs != "auto" and not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ValueError(
                "The 'epochs' parameter of DoublyRobustEffectLearner must be 'auto' (early "
                f"stopping) or an int >= 1. Got {self.epochs!r} instead."
            )
        for name, low in (
            ("hidden", 1),
            ("batch_size", 1),
            ("groups", 2),
            ("min_logged", 1),
            ("no_contact_through_week", 0),
        ):
            if getattr(self, name) < low:
                raise ValueError(
                    f"The '{name}' parameter of DoublyRobustEffectLearner must be >= {low}. "
                    f"Got {getattr(self, name)} instead."
                )
        if not isinstance(self.shrink_noisy_effects, bool):
            raise ValueError(
                "The 'shrink_noisy_effects' parameter of DoublyRobustEffectLearner must be a "
                f"bool. Got {self.shrink_noisy_effects!r} instead."
            )
        if not self.weight_clip >= 1:
            raise ValueError(
                "The 'weight_clip' parameter of DoublyRobustEffectLearner must be >= 1. "
                f"Got {self.weight_clip} instead."
            )

    def fit(
        self, examples: CampaignExamples, customer_ids: np.ndarray | None = None
    ) -> DoublyRobustEffectLearner:
        """Learn the effects from the logged rows: outcome models, pseudo-effects and the
        calibration on alternate halves of the customers, then the held-out diagnostics.
        `customer_ids` ([R], the rows' customers) lets `effects` score each of them with the
        half that did not learn from them (`held_out`)."""
        self._check_parameters()
        started = time.perf_counter()
        if len(examples) < MIN_ROWS:
            raise TooLittleData(
                f"the campaign log has {len(examples)} usable rows (customer-weeks after a first "
                f"purchase); the effect learner needs at least {MIN_ROWS}"
            )
        self.device_ = resolve_device(self.device)
        generator = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        if len(examples) > self.max_rows:
            keep = np.sort(generator.choice(len(examples), self.max_rows, replace=False))
        else:
            keep = np.arange(len(examples))
        actions = len(self.action_ids)
        self.windows_ = examples.windows
        self.outcomes_ = (
            "purchase_week0",
            *(f"spend_weeks_{first}_{last}" for first, last in examples.windows),
        )
        features = examples.features[keep]
        require_finite(features, examples.feature_names, "the effect learner's campaign rows", keep)
        self.feature_mean_ = features.mean(axis=0)
        self.feature_scale_ = feature_scale(features)
        action = examples.action[keep]
        propensity = examples.propensity[keep]
        bought = examples.bought[keep].astype(np.float64)
        future = examples.future[keep]
        observed = examples.future_observed[keep]
        weight = arm_normalised_weights(action, propensity, self.weight_clip)
        buyers = bought > 0
        spend = examples.spend[keep]
        self.spend_scale_ = float(max(spend[buyers].mean(), 1e-6)) if buyers.any() else 1.0
        self.spend_ratio_ = spend_ratios(actions, action, weight, buyers, spend)
        outcome = np.column_stack([bought, future])  # [R, O]
        outcome_observed = np.column_stack([np.ones(len(keep), bool), observed])  # [R, O]
        # No customer's expected later spend is above the largest the log shows: the outcome
        # network's exp heads, extrapolating, had put a few rows' means at 648,409 where the
        # largest observed was 1,171 (responsive seed 2, weeks 1-4), and those rows alone
        # made the doubly robust standard errors five to ten times what they are without.
        self.outcome_cap_ = np.array(
            [future[observed[:, k], k].max(initial=0.0) for k in range(future.shape[1])]
        )  # [O - 1]
        # Windows ending by `no_contact_through_week` are learned for the action followed by
        # no contact: their rows weighted by the inverse probability that the shop sent none.
        self.no_contact_outcomes_ = tuple(
            f"spend_weeks_{first}_{last}"
            for first, last in examples.windows
            if last <= self.no_contact_through_week
        )
        outcome_weight = self._outcome_weights(
            examples.no_contact_weight()[keep], action, observed
        )  # [R, O]

        # An action logged too rarely has an untrained head: its effect stays 0 (theta = 0).
        logged = np.bincount(action, minlength=actions)
        self.supported_ = [a for a in range(1, actions) if logged[a] >= self.min_logged]
        self.unsupported_ = {
            self.action_ids[a]: int(logged[a])
            for a in range(1, actions)
            if a not in self.supported_
        }
        # A later window only some rows have seen end: estimable per action where at least
        # min_logged of its logged rows observed it (the week of the action always is).
        observed_count = np.zeros((actions, len(self.outcomes_)))  # [A, O]
        # (a window learned for "then no contact" counts the rows that have seen it end with
        # no further contact: the others carry no weight there)
        np.add.at(observed_count, action, outcome_observed & (outcome_weight > 0))
        self.estimable_ = observed_count >= self.min_logged  # [A, O]
        self.unobserved_ = {
            self.action_ids[a]: [
                o for k, o in enumerate(self.outcomes_) if not self.estimable_[a, k]
            ]
            for a in self.supported_
            if not self.estimable_[a].all()
        }
        # Halves by customer, so no customer's weeks inform both the model and its check.
        half = balanced_halves(examples.rows[keep], action, generator)
        if customer_ids is not None:  # who each half learned from (`held_out`)
            ids = np.asarray(customer_ids)[keep].astype(str)
            self.learned_ids_, first = np.unique(ids, return_index=True)
            self.learned_half_ = half[first].astype(np.int8)
        else:
            self.learned_ids_, self.learned_half_ = np.zeros(0, str), np.zeros(0, np.int8)
        x = self._standardise(features)
        self.models_: list[PerActionHeads] = []
        self.training_: list[dict[str, object]] = []  # per half: how training stopped
        # [half, A, O, (theta_base, theta_proxy)]
        self.theta_ = np.zeros((2, actions, len(self.outcomes_), 2))
        self.theta_se_ = np.zeros_like(self.theta_)
        held_out_parts = []
        for k, train in enumerate((~half, half)):
            rows = torch.from_numpy(np.flatnonzero(train)).to(self.device_)  # index on x's device
            model = self._train(
                x[rows],
                action[train],
                weight[train],
                outcome[train],
                outcome_observed[train] * outcome_weight[train],
                generator,
            )
            self.models_.append(model)
            test = np.flatnonzero(~train)
            mu = self._means(model, x[torch.from_numpy(test).to(self.device_)])  # [T, A, O]
            proxy = mu - mu[:, :1, :]  # [T, A, O]
            pseudo = doubly_robust_pseudo_effects(
                mu, action[test], propensity[test], outcome[test], outcome_weight[test]
            )
            for a in self.supported_:
                for o in np.flatnonzero(self.estimable_[a]):
                    usable = outcome_observed[test, o]
                    self.theta_[k, a, o], self.theta_se_[k, a, o] = calibration_loadings(
                        pseudo[usable, a, o], mu[usable, 0, o], proxy[usable, a, o]
                    )
            held_out_parts.append((test, mu, proxy, pseudo))
        customer = examples.rows[keep]
        average, standard_error = self._doubly_robust_averages(
            held_out_parts, outcome_observed, customer
        )
        self.shrinkage_ = np.ones_like(average)
        if self.shrink_noisy_effects:
            estimated = np.isfinite(average)
            self.shrinkage_[estimated] = no_effect_shrinkage(average, standard_error)[estimated]
        calibrated = [self._calibrated(k, part[1]) for k, part in enumerate(held_out_parts)]
        self.diagnostics_ = held_out_diagnostics(
            self,
            held_out_parts,
            calibrated,
            action,
            bought,
            outcome_observed,
            customer,
            (average, standard_error),
        )
        self.training_rows_ = len(keep)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _outcome_weights(
        self, no_contact: np.ndarray, action: np.ndarray, observed: np.ndarray
    ) -> np.ndarray:
        """Per row and outcome [R, O], the weight of the row's outcome in training and in its
        pseudo-effect: 1, except in the windows learned for "then no contact", where it is the
        row's no-contact weight (examples.no_contact_after), clipped at `weight_clip` and
        scaled to mean 1 over each action's rows that observe the window (as the propensity
        weights are, arm_normalised_weights: clipping and the few rows a long window keeps
        would otherwise move the arms' scales apart)."""
        weights = np.ones((len(action), len(self.outcomes_)))
        for k, (_, last) in enumerate(self.windows_):
            if last > self.no_contact_through_week:
                continue
            clipped = np.minimum(no_contact[:, k], self.weight_clip) * observed[:, k]
            total = np.bincount(action, weights=clipped, minlength=len(self.action_ids))
            count = np.bincount(action, weights=observed[:, k], minlength=len(self.action_ids))
            mean = np.where(total > 0, total / np.maximum(count, 1), 1.0)
            weights[:, 1 + k] = clipped / mean[action]
        return weights

    def _doubly_robust_averages(
        self,
        held_out: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
        outcome_observed: np.ndarray,
        customer: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per action and outcome [A, O], the held-out doubly robust average effect and its
        customer-clustered standard error (NaN where nothing is estimated): the numbers the
        shrinkage factors (no_effect_shrinkage) and the diagnostics both report."""
        average = np.full((len(self.action_ids), len(self.outcomes_)), np.nan)
        standard_error = np.full_like(average, np.nan)
        tests = np.concatenate([test for test, *_ in held_out])
        pseudo = np.concatenate([q for *_, q in held_out])  # [T, A, O]
        for a in self.supported_:
            for o in np.flatnonzero(self.estimable_[a]):
                usable = outcome_observed[tests, o]
                values = pseudo[usable, a, o]
                average[a, o] = values.mean()
                standard_error[a, o] = clustered_standard_error(values, customer[tests][usable])
        return average, standard_error

    def _standardise(self, features: np.ndarray) -> torch.Tensor:
        scaled = (features - self.feature_mean_) / self.feature_scale_
        return torch.tensor(scaled, dtype=torch.float32, device=self.device_)

    def _train(
        self,
        x: torch.Tensor,
        action: np.ndarray,
        weight: np.ndarray,
        outcome: np.ndarray,
        outcome_weight: np.ndarray,
        generator: np.random.Generator,
    ) -> PerActionHeads:
        """Outcome network on the rows given: `weight` [R] the propensity weights, and
        `outcome_weight` [R, O] each later window's weight in the loss (0 where the window is
        not observed; the no-contact weight where it is learned for "then no contact")."""
        device = self.device_
        model = PerActionHeads(
            x.shape[1], len(self.action_ids), self.hidden, heads=len(self.outcomes_)
        ).to(device)
        a = torch.tensor(action, device=device)
        w = torch.tensor(weight, dtype=torch.float32, device=device)
        scaled = outcome.copy()
        scaled[:, 1:] /= self.spend_scale_
        y = torch.tensor(scaled, dtype=torch.float32, device=device)  # [R, O]
        m = torch.tensor(outcome_weight, dtype=torch.float32, device=device)  # [R, O]

        def batch_loss(batch: torch.Tensor) -> torch.Tensor:
            out = model(x[batch])  # [B, A, O]
            logged = out[torch.arange(len(batch), device=device), a[batch]]  # [B, O]
            purchase = nn.functional.binary_cross_entropy_with_logits(
                logged[:, 0], y[batch, 0], reduction="none"
            )
            later = nn.functional.poisson_nll_loss(
                logged[:, 1:], y[batch, 1:], log_input=True, full=False, reduction="none"
            )  # [B, O - 1]
            return (w[batch] * (purchase + (later * m[batch, 1:]).sum(dim=1))).mean()

        self.training_.append(
            fit_minibatch(
                model,
                batch_loss,
                x.shape[0],
                generator=generator,
                device=device,
                epochs=self.epochs,
                step=f"effect model, cross-fitting half {len(self.training_) + 1} of 2",
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
            ).to_dict()
        )
        return model.eval()

    @torch.no_grad()
    def _means(self, model: PerActionHeads, x: torch.Tensor, batch: int = 65_536) -> np.ndarray:
        """Outcome means per action [N, A, O]: purchase probability, then discounted spend,
        at most the largest spend observed in that window (`outcome_cap_`)."""
        parts = [model(x[s : s + batch]).double().cpu().numpy() for s in range(0, len(x), batch)]
        out = np.concatenate(parts) if parts else np.zeros((0, len(self.action_ids), 1))
        means = np.empty_like(out)
        means[..., 0] = special.expit(out[..., 0])
        with np.errstate(over="ignore"):  # an overflowing head is capped like any other
            means[..., 1:] = np.minimum(np.exp(out[..., 1:]) * self.spend_scale_, self.outcome_cap_)
        return means

    def _calibrated(self, k: int, mu: np.ndarray) -> np.ndarray:
        """Half k's model outcome means [N, A, O] mapped to calibrated effects [N, A, O]."""
        theta = self.theta_[k]  # [A, O, 2]
        effect = theta[None, ..., 0] * mu[:, :1, :] + theta[None, ..., 1] * (mu - mu[:, :1, :])
        effect *= self.shrinkage_[None]
        effect[:, 0, :] = 0.0
        return effect

    def held_out(self, customer_ids: np.ndarray) -> np.ndarray:
        """Per customer ([N] int), the half's model that did not learn from their logged weeks
        (model 0 learned from the first half, so a customer of it gets model 1, and the
        reverse); -1 for a customer neither learned from. Scoring each customer with it makes
        the plan's choice of targets independent of their own logged outcomes (cross-fitted):
        the release decision's evidence on their weeks is then not the noise that chose them."""
        ids = np.asarray(customer_ids).astype(str)
        learned = getattr(self, "learned_ids_", np.zeros(0, str))
        if len(learned) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        position = np.minimum(np.searchsorted(learned, ids), len(learned) - 1)
        found = learned[position] == ids
        return np.where(found, 1 - self.learned_half_[position], -1).astype(np.int64)

    def effects(self, features: np.ndarray, held_out: np.ndarray | None = None) -> ActionEffects:
        """Calibrated effects for customers described by `features` [N, F] (rows in the
        examples' feature order): from the half's model that did not learn from the customer
        where `held_out` [N] says which (0 or 1, `held_out`), else both halves' averaged."""
        x = self._standardise(features)
        effect = np.zeros((len(features), len(self.action_ids), len(self.outcomes_)))
        none_probability = np.zeros(len(features))
        which = np.full(len(features), -1) if held_out is None else held_out
        for k, model in enumerate(self.models_):
            mu = self._means(model, x)  # [N, A, O]
            weight = np.where(which == k, 1.0, np.where(which < 0, 1.0 / len(self.models_), 0.0))
            effect += self._calibrated(k, mu) * weight[:, None, None]
            none_probability += mu[:, 0, 0] * weight
        none_probability = np.clip(none_probability, *PROBABILITY_BOUNDS)
        treated = np.clip(none_probability[:, None] + effect[..., 0], *PROBABILITY_BOUNDS)
        shift = special.logit(treated) - special.logit(none_probability)[:, None]  # [N, A]
        shift[:, 0] = 0.0
        return ActionEffects(
            purchase_logit_shift=shift,
            spend_ratio=np.broadcast_to(self.spend_ratio_, shift.shape).copy(),
            future_spend_delta=effect[..., 1:].sum(axis=2),
            future_weeks=max(last for _, last in self.windows_),
        )
