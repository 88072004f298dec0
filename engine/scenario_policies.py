"""The scenario's contact policies (`policies`: suppressions, rolling windows, gaps and ratio
rules) as the scenario file writes them, checked against the catalogue; engine/policies.py
applies them to a problem. Also the strict base every scenario section is built on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """A scenario section: unknown keys refused, frozen, and no infinite or NaN number
    anywhere ("no limit" is an absent key, never `.inf`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_Strict = StrictModel


class CustomerMatch(_Strict):
    """The customers whose customers-table `column` holds one of `values` (compared as text,
    case-insensitively for true/false: `false` matches a flag column's False)."""

    column: str = Field(min_length=1)
    values: list[str | bool | int | float] = Field(min_length=1)


#: What a suppression file may be named: a bare file name in the data folder (no path: the
#: page cannot reach files elsewhere on the server), CSV or Parquet.
SUPPRESSION_FILE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.(csv|parquet)$"


class SuppressionRule(_Strict):
    """Customers who must not get some actions, whatever the plan would gain: per action or
    channel (`actions`, `channels`; neither: every action), the customers a customers-table
    attribute names (`where`: an opt-out flag, a segment legal or brand keeps out) or those a
    file of ids in the data folder lists (`file`: a do-not-contact list). Absolute in every
    backend, in the release decision's tests and in exploration. `enforce: false` measures the
    rule (what it would remove, in the attrition table) without applying it."""

    name: str = Field(min_length=1, max_length=200)
    actions: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    where: CustomerMatch | None = None
    file: Annotated[str, Field(pattern=SUPPRESSION_FILE)] | None = None
    enforce: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> SuppressionRule:
        if (self.where is None) == (self.file is None):
            raise ValueError(
                "a suppression rule names its customers one way: `where` (a customers-table "
                "column and its values) or `file` (a file of ids in the data folder)"
            )
        return self


class WindowRule(_Strict):
    """At most `at_most` contacts of some actions (`actions`, `channels`; neither: every
    action) in any `weeks` consecutive weeks, counting the contacts the campaign log holds in
    the weeks just before the plan's first week ("at most 2 coupons in any 4 weeks").
    `enforce: false` measures the rule without applying it."""

    name: str = Field(min_length=1, max_length=200)
    actions: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    weeks: Annotated[int, Field(ge=1, le=13)]
    at_most: Annotated[int, Field(ge=0)]
    enforce: bool = True


class GapRule(_Strict):
    """At least `weeks` weeks between two contacts of some actions (`actions`, `channels`;
    neither: every action), the last logged contact before the plan included: a contact in
    week t and the next in week t + `weeks` at the earliest. The window rule with at most 1
    contact in any `weeks` weeks."""

    name: str = Field(min_length=1, max_length=200)
    actions: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    weeks: Annotated[int, Field(ge=2, le=13)]
    enforce: bool = True


class RatioPolicy(_Strict):
    """Incremental margin at least `at_least` times spend over the plan's contacts of some
    actions (`actions`, `channels`; neither: every action): "at least 3 of margin per 1 spent
    on coupons". A contact's margin is its value over none plus its spend (the CLV gain before
    paying for it), so the rule reads sum (value + spend) >= at_least x sum spend."""

    name: str = Field(min_length=1, max_length=200)
    actions: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    at_least: Annotated[float, Field(gt=0, le=1000)]
    enforce: bool = True


class Policies(_Strict):
    """Contact policies as marketing operations write them, measured in the order listed,
    kind by kind (the attrition table follows it): `suppress`, who must not get what;
    `windows`, at most so many contacts in any so many weeks; `gaps`, weeks between two
    contacts; `ratios`, margin per unit of spend. Windows and gaps count the campaign log's
    contacts before the plan."""

    suppress: list[SuppressionRule] = Field(default_factory=list)
    windows: list[WindowRule] = Field(default_factory=list)
    gaps: list[GapRule] = Field(default_factory=list)
    ratios: list[RatioPolicy] = Field(default_factory=list)

    @property
    def rules(self) -> list[SuppressionRule | WindowRule | GapRule | RatioPolicy]:
        """Every rule in the order the attrition table measures them."""
        return [*self.suppress, *self.windows, *self.gaps, *self.ratios]


_RULE_KEYS = {
    SuppressionRule: "suppress",
    WindowRule: "windows",
    GapRule: "gaps",
    RatioPolicy: "ratios",
}


class _Action(Protocol):
    id: str
    channel: str


def check_policies(policies: Policies, actions: Sequence[_Action]) -> None:
    """Refuse rules that name actions or channels the catalogue (`actions`, none left out)
    lacks, or two rules of one name; the message names the rule."""
    ids = [a.id for a in actions]
    channels = sorted({a.channel for a in actions})
    for rule in policies.rules:
        key = _RULE_KEYS[type(rule)]
        unknown = [a for a in rule.actions if a not in ids]
        if unknown:
            raise ValueError(
                f"policies.{key} {rule.name!r}: actions {unknown} are not in the "
                f"catalogue; it has {ids}"
            )
        missing = [c for c in rule.channels if c not in channels]
        if missing:
            raise ValueError(
                f"policies.{key} {rule.name!r}: channels {missing} are not any "
                f"action's; the catalogue's are {channels}"
            )
    names = [rule.name for rule in policies.rules]
    if len(set(names)) != len(names):
        raise ValueError(f"policies: each rule's name once (the report names them); got {names}")
