"""The baseline forecaster: BG/NBD + Gamma-Gamma for what each customer does with no action,
the campaign-log T-learner for what each action changes, category affinity for recommendations.

Together they fill the ForecastSet contract (DESIGN §3) for every customer with a purchase on or
before the as-of date.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special as special

from forecasting.action_effects import ActionEffects
from forecasting.affinity import CategoryAffinity
from forecasting.attributes import CustomerAttributes, customers_table
from forecasting.bgnbd import BetaGeometricNBD
from forecasting.campaign_examples import identified_window
from forecasting.contact_inflation import contact_inflation
from forecasting.effect_summary import effect_summary
from forecasting.errors import TooLittleData
from forecasting.features import (
    ANCHOR_FEATURES,
    MAX_LOG_ROWS,
    PurchaseSummary,
    anchor_features,
    log_sample,
    purchase_summary,
)
from forecasting.forecast_set import ForecastMetadata, ForecastSet, ItemAffinity
from forecasting.gamma_gamma import GammaGammaSpend
from forecasting.shrinkage import EffectMoments, HalfSampleEffects
from forecasting.uplift import CampaignEffectLearner
from shopdata.actions import DEMO_ACTIONS, Action, action_ids, discount_action_ids
from shopdata.calendar import (
    DEFAULT_ANNUAL_DISCOUNT_RATE,
    DEFAULT_GROSS_MARGIN,
    horizon_start,
    weekly_discount,
)
from shopdata.store import Store, id_frame

log = logging.getLogger(__name__)

MODEL_NAME = "baseline"
MODEL_VERSION = "0.1.0"
#: Probability bounds keep log-odds finite when effects are added to the baseline.
PROBABILITY_FLOOR, PROBABILITY_CEILING = 1e-7, 0.999
#: Shorter follow-up windows (weeks) the effect learner falls back to where the log's campaigns
#: are too recent for `future_weeks` (`_follow_up_window`).
SHORTER_FUTURE_WEEKS = (4, 2)


@dataclass(frozen=True)
class CustomerGroup:
    """A group of customers as the baseline forecaster scores them (`describe`): their
    purchase summary, the T-learner's two estimates per action before shrinkage ([2, N, A]
    each; None without a learner) and their category shares ([N, C])."""

    summary: PurchaseSummary
    half_effects: HalfSampleEffects | None
    shares: np.ndarray

    def moments(self) -> EffectMoments | None:
        """What the shrinkage needs of this group; groups' moments add up."""
        return None if self.half_effects is None else self.half_effects.moments()


def week_after_last_purchase(transactions: pd.DataFrame) -> pd.Timestamp:
    """The Monday after the last transaction: where a forecast starts when no date is given."""
    return horizon_start(transactions["ts"].max() + pd.Timedelta(seconds=1))


class BaselineForecaster:
    """Fit with `fit(store, as_of)`, then `forecast()` returns the ForecastSet."""

    def __init__(
        self,
        *,
        horizon_weeks: int = 12,
        actions: tuple[Action, ...] = DEMO_ACTIONS,
        gross_margin: float = DEFAULT_GROSS_MARGIN,
        annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE,
        clv_weeks: int = 156,
        future_weeks: int = 8,
        affinity_top_m: int = 3,
        effect_epochs: int | str = "auto",
        learn_effects: bool = True,
        correct_contact_inflation: bool = False,
        max_log_rows: int = MAX_LOG_ROWS,
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.horizon_weeks = horizon_weeks
        self.actions = actions
        self.gross_margin = gross_margin
        self.annual_discount_rate = annual_discount_rate
        self.clv_weeks = clv_weeks
        self.future_weeks = future_weeks
        self.affinity_top_m = affinity_top_m
        self.effect_epochs = effect_epochs
        self.learn_effects = learn_effects
        self.correct_contact_inflation = correct_contact_inflation
        self.max_log_rows = max_log_rows
        self.device = device
        self.seed = seed

    def _check_parameters(self) -> None:
        if self.horizon_weeks < 1:
            raise ValueError(
                "The 'horizon_weeks' parameter of BaselineForecaster must be >= 1. "
                f"Got {self.horizon_weeks} instead."
            )
        if not 0 <= self.gross_margin <= 1:
            raise ValueError(
                "The 'gross_margin' parameter of BaselineForecaster must be in "
                f"[0, 1]. Got {self.gross_margin} instead."
            )
        if not 0 <= self.annual_discount_rate < 1:
            raise ValueError(
                "The 'annual_discount_rate' parameter of BaselineForecaster must be "
                f"in [0, 1). Got {self.annual_discount_rate} instead."
            )
        action_ids(self.actions)

    def fit(
        self, store: Store, as_of: pd.Timestamp | str, *, score: bool = True
    ) -> BaselineForecaster:
        """Fit BG/NBD, Gamma-Gamma, the campaign-log T-learner and category affinity on the store's
        data up to `as_of`; returns self. With `score=False` only the models are fitted (the
        shop-level part): every customer's current effects and shares are left to
        `describe` and `forecast_group`, which score groups of customers apart (on Ray
        actors: engine/forecast_shards.py), and `forecast()` is not available."""
        self._check_parameters()
        as_of = pd.Timestamp(as_of)
        self.as_of_ = as_of
        self.horizon_start_ = horizon_start(as_of)
        self.action_ids_ = action_ids(self.actions)
        timings: dict[str, float] = {}

        started = time.perf_counter()
        self.summary_ = purchase_summary(store, as_of)
        if len(self.summary_) == 0:
            raise TooLittleData(
                f"no purchases on or before {as_of:%Y-%m-%d}: nothing to forecast (the "
                "forecasters need customers with a first purchase before the planning week)"
            )
        timings["features"] = time.perf_counter() - started
        self.purchases_ = BetaGeometricNBD(device=self.device).fit(self.summary_)
        # The history's recent weeks carry the shop's own contacts (contact_inflation.py):
        # always measured, applied to the no-action forecast only where asked (docs/forecasting.md
        # says why not by default).
        self.inflation_ = contact_inflation(store, self.horizon_start_)
        if self.inflation_ is not None and not self.correct_contact_inflation:
            self.inflation_ = self.inflation_.without_ids()  # reported only: no ids to carry
        if self.inflation_ is not None:
            log.info(
                "the log's contacts added %.0f +- %.0f of %d logged customers' %d purchase weeks "
                "in the last %d weeks: no-action factor %.3f (%s)",
                self.inflation_.added_purchase_weeks,
                self.inflation_.standard_error,
                self.inflation_.customers,
                self.inflation_.purchase_weeks,
                self.inflation_.weeks,
                self.inflation_.factor,
                "applied" if self.correct_contact_inflation else "not applied",
            )
        self.spend_ = GammaGammaSpend(device=self.device).fit(self.summary_)
        timings["bgnbd_gamma_gamma"] = self.purchases_.fit_seconds_ + self.spend_.fit_seconds_

        started = time.perf_counter()
        discount_actions = discount_action_ids(self.actions)
        self.effect_learner_: CampaignEffectLearner | None = None
        self.future_weeks_ = self.future_weeks
        self.attributes_ = CustomerAttributes().fit(None)
        if self.learn_effects and store.has_table("campaign_log"):
            before = f"week_start < TIMESTAMP '{self.horizon_start_:%Y-%m-%d}'"
            self.log_sample_ = log_sample(store, before, self.max_log_rows)
            if self.log_sample_.note:
                log.warning("effect learner: %s", self.log_sample_.note)
            shorter = tuple(k for k in SHORTER_FUTURE_WEEKS if k < self.future_weeks)
            examples = anchor_features(
                store,
                "SELECT customer_id, week_start, action, propensity FROM campaign_log "
                f"WHERE {before} AND {self.log_sample_.condition}",
                discount_actions=discount_actions,
                outcome_weeks=self.future_weeks,
                # observed up to the planning week, as the deep learner's panel and the release
                # check read it: weeks with no purchase before it are observed, not missing
                observed_until=self.horizon_start_,
                also_outcome_weeks=shorter,
            )
            examples = self._follow_up_window(examples, shorter)
            timings["campaign_features"] = time.perf_counter() - started
            customers = customers_table(store)
            self.attributes_ = CustomerAttributes().fit(customers)
            examples = self._with_attributes(examples, customers)
            if len(examples):
                self.effect_learner_ = CampaignEffectLearner(
                    action_ids=self.action_ids_,
                    future_weeks=self.future_weeks_,
                    epochs=self.effect_epochs,
                    feature_columns=ANCHOR_FEATURES + self.attributes_.feature_names_,
                    device=self.device,
                    seed=self.seed,
                ).fit(examples)
                timings["effects"] = self.effect_learner_.fit_seconds_
        self.affinity_ = CategoryAffinity(top_m=self.affinity_top_m).fit_shop(
            store, self.summary_.customer_ids, as_of
        )
        if score:
            group = self.describe(store, self.summary_)
            self.effects_ = self.group_effects(group, group.moments())
            self.affinity_.shares_ = group.shares
        else:  # nothing of an earlier fit's customers is left for forecast() to use
            self.__dict__.pop("effects_", None)
        first = store.query("SELECT min(ts) AS first FROM transactions")["first"].iloc[0]
        self.training_start_ = pd.Timestamp(first)
        self.fit_seconds_ = timings
        return self

    def _follow_up_window(self, examples: pd.DataFrame, shorter: tuple[int, ...]) -> pd.DataFrame:
        """`examples` with `future_spend` over the follow-up window the log observes best
        (`campaign_examples.identified_window`: `future_weeks`, or a shorter one where the log's
        campaigns are too recent for it), which `future_weeks_` then names."""
        columns = {self.future_weeks: "future_spend"} | {k: f"future_spend_{k}" for k in shorter}
        action_index = {a: i for i, a in enumerate(self.action_ids_)}
        action = examples["action"].map(action_index).fillna(-1).to_numpy(dtype=np.int64)
        known = action >= 0
        observed = {k: examples[c].notna().to_numpy()[known] for k, c in columns.items()}
        self.future_weeks_ = identified_window(action[known], observed)
        if self.future_weeks_ != self.future_weeks:
            log.warning(
                "effect learner: too few logged weeks observe %d weeks after their campaign "
                "(the log's campaigns are recent); follow-on effects are learned over %d weeks",
                self.future_weeks,
                self.future_weeks_,
            )
            examples = examples.assign(future_spend=examples[columns[self.future_weeks_]])
        return examples.drop(columns=[f"future_spend_{k}" for k in shorter])

    def without_customers(self) -> BaselineForecaster:
        """A shallow copy holding the fitted models alone (no purchase summary, effects or
        shares of any customer): what a shard needs to score its customers, small to ship."""
        models = copy.copy(self)
        models.summary_ = self.summary_.subset(np.zeros(0, dtype=np.int64))
        models.__dict__.pop("effects_", None)
        models.affinity_ = copy.copy(self.affinity_)
        models.affinity_.__dict__.pop("shares_", None)
        return models

    def _with_attributes(self, frame: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
        """`frame` (rows with a customer_id) with the encoded customer attributes added."""
        encoded = self.attributes_.transform(customers, frame["customer_id"].to_numpy())
        columns = pd.DataFrame(encoded, columns=list(self.attributes_.feature_names_))
        return pd.concat([frame.reset_index(drop=True), columns], axis=1)

    @property
    def weekly_discount(self) -> float:
        return weekly_discount(self.annual_discount_rate)

    def describe(self, store: Store, summary: PurchaseSummary) -> CustomerGroup:
        """What the forecast of `summary`'s customers needs beyond the fitted models: their
        current features' effect estimates (before shrinkage) and their category shares."""
        half = None
        if self.effect_learner_ is not None:
            anchors_sql = (
                f"SELECT customer_id, TIMESTAMP '{self.horizon_start_:%Y-%m-%d}' AS week_start "
                "FROM group_ids"
            )
            current = anchor_features(
                store,
                anchors_sql,
                discount_actions=discount_action_ids(self.actions),
                frames={"group_ids": id_frame(summary.customer_ids)},
            )
            current = self._with_attributes(current, customers_table(store, summary.customer_ids))
            current = (
                current.set_index("customer_id")
                .reindex(pd.Index(summary.customer_ids, dtype="string"))
                .reset_index()
            )
            half = self.effect_learner_.half_sample_effects(current)
        return CustomerGroup(summary, half, self.affinity_.shares(store, summary.customer_ids))

    def group_effects(self, group: CustomerGroup, moments: EffectMoments | None) -> ActionEffects:
        """The group's effects, shrunk by the `moments` of every customer scored (zero
        without a learner). The learner keeps the moments for the metadata's reliabilities."""
        if self.effect_learner_ is None or group.half_effects is None or moments is None:
            zeros = np.zeros((len(group.summary), len(self.action_ids_)))
            return ActionEffects(zeros, np.ones_like(zeros), zeros, self.future_weeks_)
        self.effect_learner_.moments_ = moments
        return self.effect_learner_.finish(group.half_effects, moments)

    def forecast_group(self, group: CustomerGroup, moments: EffectMoments | None) -> ForecastSet:
        """The ForecastSet of one group of customers (`describe`), its effects shrunk by the
        `moments` of every group: the rows `forecast()` gives these customers, whatever the
        split (to float rounding)."""
        return self._forecast(group.summary, self.group_effects(group, moments), group.shares)

    def forecast(self) -> ForecastSet:
        """Per customer, action and horizon week: purchase probability, spend, future effect."""
        if not hasattr(self, "effects_"):
            raise ValueError(
                "This BaselineForecaster was fitted with score=False: score groups of customers "
                "with describe and forecast_group."
            )
        return self._forecast(self.summary_, self.effects_, self.affinity_.shares_)

    def _forecast(
        self, summary: PurchaseSummary, effects: ActionEffects, shares: np.ndarray
    ) -> ForecastSet:
        expected = self.purchases_.weekly_expected_purchases(summary, self.horizon_weeks)
        spend_none = self.spend_.expected_spend(summary)  # [N]
        clv = self.clv(spend_none, summary=summary)
        return self._assemble(summary, expected, spend_none, clv, self.metadata(), effects, shares)

    def assemble(
        self,
        expected: np.ndarray,
        spend_none: np.ndarray,
        clv: np.ndarray,
        metadata: ForecastMetadata,
        effects: ActionEffects | None = None,
    ) -> ForecastSet:
        """The ForecastSet from a no-action forecast (weekly purchase probability [N, H], spend
        of a purchase week [N], CLV [N]), action effects (this forecaster's own unless given)
        and this forecaster's affinity. The deep forecasters reuse it with their own no-action
        forecast and effects."""
        effects = self.effects_ if effects is None else effects
        return self._assemble(
            self.summary_, expected, spend_none, clv, metadata, effects, self.affinity_.shares_
        )

    def _assemble(
        self,
        summary: PurchaseSummary,
        expected: np.ndarray,
        spend_none: np.ndarray,
        clv: np.ndarray,
        metadata: ForecastMetadata,
        effects: ActionEffects,
        shares: np.ndarray,
    ) -> ForecastSet:
        h = self.horizon_weeks
        weekly_discount = self.weekly_discount
        if self.inflation_ is not None and self.correct_contact_inflation:  # net of past contacts
            factors = self.inflation_.factors(summary.customer_ids)  # [N]
            expected = expected * factors[:, None]
            clv = clv * factors
        baseline = np.clip(expected, PROBABILITY_FLOOR, PROBABILITY_CEILING)
        shift = effects.purchase_logit_shift  # [N, A]
        purchase_prob = special.expit(special.logit(baseline)[:, None, :] + shift[:, :, None])
        spend = np.broadcast_to(
            (spend_none[:, None] * effects.spend_ratio)[:, :, None], purchase_prob.shape
        ).copy()  # [N, A, H]
        # The learned follow-on effect belongs to the week the action is taken; later weeks of
        # the horizon see it shrink with the customer's activity and with discounting.
        activity = expected / np.maximum(expected[:, :1], 1e-12)  # [N, H]
        discount = weekly_discount ** np.arange(1, h + 1)  # [H]
        future = (
            self.gross_margin
            * effects.future_spend_delta[:, :, None]
            * (activity * discount)[:, None, :]
        )  # [N, A, H]
        future[:, 0, :] = 0.0

        candidates, reco_prob = self.affinity_.candidates(baseline[:, 0], shares)
        week_starts = np.array(
            [self.horizon_start_ + pd.Timedelta(weeks=k) for k in range(h)], dtype="datetime64[D]"
        )
        return ForecastSet(
            customer_ids=summary.customer_ids.astype(str),
            action_ids=np.array(self.action_ids_),
            week_starts=week_starts,
            purchase_prob=purchase_prob,
            spend=spend,
            future_margin_delta=future,
            clv=clv,
            item_affinity=ItemAffinity(self.affinity_.categories_, candidates, reco_prob),
            metadata=metadata,
        )

    def clv(
        self, spend_none: np.ndarray, block: int = 4, *, summary: PurchaseSummary | None = None
    ) -> np.ndarray:
        """Discounted expected margin over `clv_weeks` with no action, in 4-week blocks, for
        the customers of `summary` (default: the fitted summary's)."""
        summary = self.summary_ if summary is None else summary
        edges = np.arange(0, self.clv_weeks + block, block, dtype=np.float64)
        cumulative = self.purchases_.expected_purchases(edges, summary)  # [N, B + 1]
        per_block = np.diff(cumulative, axis=1)  # [N, B]
        midpoints = self.weekly_discount ** (edges[:-1] + block / 2.0)  # [B]
        return self.gross_margin * spend_none * (per_block @ midpoints)

    def metadata(self) -> ForecastMetadata:
        learner = self.effect_learner_
        parameters: dict[str, object] = {
            "bgnbd": self.purchases_.params_,
            "gamma_gamma": self.spend_.params_,
            # where a likelihood had no interior maximum and a weak prior made the fit
            "fit_fallbacks": {
                name: note
                for name, note in (
                    ("bgnbd", self.purchases_.fallback_),
                    ("gamma_gamma", self.spend_.fallback_),
                )
                if note
            },
            "horizon_start": f"{self.horizon_start_:%Y-%m-%d}",
            "future_weeks": self.future_weeks_,
            "contact_inflation": (
                {**self.inflation_.to_dict(), "applied": self.correct_contact_inflation}
                if self.inflation_ is not None
                else "not measured: no campaign log with controls in the last 26 weeks"
            ),
            "effects": (
                effect_summary(learner, self.action_ids_, self.log_sample_)
                if learner is not None
                else "no campaign log: no action effects learned"
            ),
        }
        return ForecastMetadata(
            model=MODEL_NAME,
            version=MODEL_VERSION,
            training_start=f"{self.training_start_:%Y-%m-%d}",
            training_end=f"{self.as_of_:%Y-%m-%d}",
            device=self.purchases_.device_,
            gross_margin=self.gross_margin,
            annual_discount_rate=self.annual_discount_rate,
            fit_seconds=dict(self.fit_seconds_),
            parameters=parameters,
        )
