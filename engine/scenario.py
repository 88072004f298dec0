"""Planner-facing scenario files (DESIGN §6): YAML, validated by a strict pydantic model.

An unknown key or a bad value is an error that names the file and the key's location, e.g.
`scenarios/base.yaml: constraints.weekly_budget: Input should be greater than or equal to 0`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from engine import strict_yaml
from engine.scenario_policies import Policies, check_policies
from engine.scenario_policies import StrictModel as _Strict
from engine.sweep import MAX_LEVELS
from forecasting.model_kinds import DEFAULT_EFFECT_WINDOWS, ForecasterName
from optimization.settings import LagrangianSettings, SolveSettings
from shopdata.actions import Action
from shopdata.amount_outliers import AmountOutliers
from shopdata.calendar import DEFAULT_ANNUAL_DISCOUNT_RATE, DEFAULT_GROSS_MARGIN

NonNegative = Annotated[float, Field(ge=0)]


class ActionSpec(_Strict):
    id: str = Field(min_length=1)
    fixed_cost: NonNegative = 0.0
    discount_rate: Annotated[float, Field(ge=0, lt=1)] = 0.0
    channel: str = "none"
    #: Most uses over the horizon (channel or stock capacity); none: uncapped.
    capacity: NonNegative | None = None

    def to_action(self) -> Action:
        return Action(self.id, self.fixed_cost, self.discount_rate, self.channel)


class RelativeFloor(_Strict):
    """A floor as a share of the forecast revenue of sending nothing in that week."""

    share_of_baseline: Annotated[float, Field(gt=0, le=2)]


class CoverageSpec(_Strict):
    """At least `minimum_contacts` contacts to customers whose `column` equals `value`."""

    name: str
    column: str
    value: str
    minimum_contacts: NonNegative


class Constraints(_Strict):
    weekly_budget: NonNegative | list[NonNegative] | None = None
    total_budget: NonNegative | None = None
    weekly_revenue_floor: NonNegative | list[NonNegative] | RelativeFloor | None = None
    contact_cap: Annotated[int, Field(ge=0)] = 3
    coverage: list[CoverageSpec] = Field(default_factory=list)
    #: Each week's budget holds with this probability, not only in expectation (discounts are
    #: paid on purchases that may or may not happen): optimization/chance.py. None: expectation.
    budget_confidence: Annotated[float, Field(ge=0.5, lt=1)] | None = None


class ExecutionSpec(_Strict):
    """Where the per-customer work runs: `local` (this process) or `ray` (actors over
    `shards` of the customers, on the cluster at `address` or a local one; the `ray` extra):
    the decomposition's dual, bound and repair (the lagrangian backend;
    optimization/distributed.py) and the baseline forecaster's scoring
    (engine/forecast_shards.py)."""

    engine: Literal["local", "ray"] = "local"
    address: str | None = None
    shards: Annotated[int, Field(ge=1, le=10_000)] = 4


class SolverSpec(_Strict):
    backend: Literal["auto", "highs", "lagrangian", "ortools", "pyomo"] = "auto"
    time_limit_s: Annotated[float, Field(gt=0)] = 120.0
    mip_gap: Annotated[float, Field(ge=0, lt=1)] = 1e-3
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)

    def settings(self) -> SolveSettings:
        """The solver settings this spec asks for."""
        return SolveSettings(
            time_limit_s=self.time_limit_s,
            relative_gap=self.mip_gap,
            lagrangian=LagrangianSettings(
                engine=self.execution.engine,
                shards=self.execution.shards,
                ray_address=self.execution.address,
            ),
        )


class ForecastSpec(_Strict):
    """Which forecaster fills the ForecastSet: `baseline` (BG/NBD + Gamma-Gamma), `ziln` (the
    ZILN network over tabular features) or `sequence` (the transformer over weekly events);
    `reviews` feeds review-text embeddings to the deep ones; `seed` fixes the networks'
    initialisation and sampling (a different seed is a different run). `saved_model`: the
    `model/` folder of an earlier deep run or of `ltv forecast fit`, whose networks then score
    this week's data without training (its own reviews and seed apply), or `latest`: the
    newest such model in the runs folder no older than `max_model_age_weeks`, else train one
    (engine/saved_models.py)."""

    model: ForecasterName = "baseline"
    reviews: bool = True
    #: A campaign log with no control group and no campaign_design: `refuse` it (an input
    #: error), or `zero`: plan with every effect unidentified and set to zero.
    unidentified_effects: Literal["refuse", "zero"] = "refuse"
    #: Deep forecasters: the windows of weeks after an action (first, last) whose change of
    #: discounted spend is learned from the log; windows the log has not seen end are not used.
    effect_windows: list[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]] = Field(
        default_factory=lambda: list(DEFAULT_EFFECT_WINDOWS)
    )

    @field_validator("effect_windows")
    @classmethod
    def _ordered_windows(cls, windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if not windows or any(last < first for first, last in windows):
            raise ValueError(f"effect windows are (first, last) with first <= last; got {windows}")
        return windows

    seed: Annotated[int, Field(ge=0)] = 0
    saved_model: Literal["latest"] | Path | None = None
    max_model_age_weeks: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _saved_model_is_deep(self) -> ForecastSpec:
        if self.saved_model is not None and self.model == "baseline":
            raise ValueError("saved_model is a deep model's folder: set model to ziln or sequence")
        if self.max_model_age_weeks is not None and self.saved_model != "latest":
            raise ValueError(
                "max_model_age_weeks chooses among saved models: set saved_model: latest"
            )
        return self


class ReleaseSpec(_Strict):
    """The release decision (engine/release_decision.py): each action of the plan goes out where
    its expected gain (the forecaster's prediction as the prior, the campaign log's doubly
    robust estimates over every window it observes as the evidence) is above zero and the
    probability that it loses more than `max_loss` a week is at most `risk`; where the gain is
    expected but that probability is higher, a randomised test of it goes out in the coming
    week within `test_budget`; the rest is withheld. `check: false` releases the plan as
    solved, unchecked."""

    check: bool = True
    #: The largest probability of losing more than `max_loss` a week the plan may carry.
    risk: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    #: Money a week the plan may lose with probability `risk`; default 5 % of the mean weekly
    #: budget (0 where there is none).
    max_loss: NonNegative | None = None
    #: Weeks after which a test is read out, the week of its contacts included (a shop that
    #: reads its tests after two weeks: 2).
    test_weeks: Annotated[int, Field(ge=1, le=53)] = 2
    #: Money the run's randomised tests may spend (their fixed costs and expected discounts);
    #: default 10 % of the horizon's budget. 0: no tests.
    test_budget: NonNegative | None = None
    #: The prior's uncertainty about the weeks after the log's longest window, as a share of
    #: the action's predicted gain per contact spread over the year (engine/release_posterior.py).
    later_uncertainty: Annotated[float, Field(ge=0, le=10)] = 0.5
    #: The longest outcome window of the log the evidence reads, in weeks after the contact's
    #: week (one of engine/logged_outcomes.WINDOWS); None: every window the log observes.
    outcome_weeks: Literal[0, 1, 2, 4, 8, 12, 26, 52] | None = None


class ValidationSpec(_Strict):
    """Plausibility checks on the inputs beyond their types (shopdata/validation.py): an amount
    more than `amount_outlier_z` robust standard deviations (log scale) from the typical one or
    from the customer's own is refused, or with `amount_outliers: warn` kept and logged."""

    amount_outlier_z: Annotated[float, Field(gt=0)] = 8.0
    amount_outliers: Literal["refuse", "warn"] = "refuse"

    def outliers(self) -> AmountOutliers:
        return AmountOutliers(z_threshold=self.amount_outlier_z, action=self.amount_outliers)


class RecommendationSpec(_Strict):
    slots: Annotated[int, Field(ge=0)] = 1


class ReportSpec(_Strict):
    """Which report files a run writes (engine/report.py): the self-contained HTML page, the
    workbook, and the PDF printed from the page by Chromium (a browser start each run; a
    nightly batch that nobody reads as PDF can leave it out). `ltv report RUN --format` writes
    any of them later from the run folder."""

    formats: list[Literal["html", "xlsx", "pdf"]] = Field(
        default_factory=lambda: ["html", "xlsx", "pdf"], min_length=1
    )

    @field_validator("formats")
    @classmethod
    def _unique(cls, formats: list[str]) -> list[str]:
        if len(set(formats)) != len(formats):
            raise ValueError(f"each format once; got {formats}")
        return formats


#: Limits checked before a scenario is parsed or rendered: a scenario is a page of settings,
#: so anything far larger is a mistake or an attack (a 50 MB description once kept the PDF
#: writer busy for ten minutes at 9 GB).
MAX_SCENARIO_BYTES = 256 * 1024
MAX_NESTING = 20
MAX_NAME_CHARACTERS = 200
MAX_DESCRIPTION_CHARACTERS = 5_000


class Scenario(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARACTERS)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARACTERS)
    data: dict[str, str] = Field(default_factory=dict)
    as_of: dt.date | None = None
    horizon_weeks: Annotated[int, Field(ge=1, le=104)] = 12
    annual_discount_rate: Annotated[float, Field(ge=0, lt=1)] = DEFAULT_ANNUAL_DISCOUNT_RATE
    gross_margin: Annotated[float, Field(ge=0, le=1)] = DEFAULT_GROSS_MARGIN
    actions: list[ActionSpec]
    constraints: Constraints = Field(default_factory=Constraints)
    solver: SolverSpec = Field(default_factory=SolverSpec)
    forecast: ForecastSpec = Field(default_factory=ForecastSpec)
    recommendations: RecommendationSpec = Field(default_factory=RecommendationSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    release: ReleaseSpec = Field(default_factory=ReleaseSpec)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    policies: Policies = Field(default_factory=Policies)
    sweep: dict[
        Literal["weekly_budget", "weekly_revenue_floor", "total_budget"],
        Annotated[list[NonNegative], Field(min_length=1, max_length=MAX_LEVELS)],
    ] = Field(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _none_first_and_unique(cls, actions: list[ActionSpec]) -> list[ActionSpec]:
        ids = [a.id for a in actions]
        if not ids or ids[0] != "none":
            raise ValueError(f"the first action must be 'none'; got {ids[:1]}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"action ids must be unique; got {ids}")
        return actions

    @field_validator("sweep")
    @classmethod
    def _one_swept_parameter(cls, sweep: dict[str, list[float]]) -> dict[str, list[float]]:
        if len(sweep) > 1:
            raise ValueError(f"sweep one parameter at a time; got {sorted(sweep)}")
        return sweep

    @model_validator(mode="after")
    def _policies_name_the_catalogue(self) -> Scenario:
        check_policies(self.policies, self.actions[1:])
        return self

    @model_validator(mode="after")
    def _weekly_lists_match_horizon(self) -> Scenario:
        for key in ("weekly_budget", "weekly_revenue_floor"):
            value = getattr(self.constraints, key)
            if isinstance(value, list) and len(value) != self.horizon_weeks:
                raise ValueError(
                    f"constraints.{key} lists {len(value)} weeks; the horizon has "
                    f"{self.horizon_weeks}"
                )
        return self

    def catalogue(self) -> tuple[Action, ...]:
        return tuple(a.to_action() for a in self.actions)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


def nesting(text: str) -> int:
    """The deepest bracket nesting of YAML flow collections in `text` (an upper bound on what
    the parser would recurse into), counted without parsing."""
    depth = deepest = 0
    for character in text:
        if character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth = max(depth - 1, 0)
    return deepest


def load_scenario(path: Path | str) -> Scenario:
    """The scenario in the YAML file at `path`, validated; ScenarioError names the file and
    the key otherwise. Files over MAX_SCENARIO_BYTES or nested deeper than MAX_NESTING are
    refused before parsing."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ScenarioError(f"{path}: is a folder; a scenario YAML file was expected")
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                f"{path}: {size:,} bytes; a scenario file may hold at most "
                f"{MAX_SCENARIO_BYTES:,} bytes"
            )
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (UTF-8 expected)") from None
    if (depth := nesting(text)) > MAX_NESTING:
        raise ScenarioError(
            f"{path}: brackets nested {depth} deep; a scenario nests at most {MAX_NESTING}"
        )
    try:
        raw = strict_yaml.load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML: {error}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply to read") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping of keys at the top level")
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        lines = [f"{path}: {len(error.errors())} problem(s):"]
        for item in error.errors():
            location = ".".join(str(part) for part in item["loc"]) or "(top level)"
            lines.append(f"  {location}: {item['msg']}")
        raise ScenarioError("\n".join(lines)) from None
