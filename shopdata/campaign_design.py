"""Campaign logs as shops keep them: contacts only, plus a declaration of how they were assigned.

An effect is a difference between contacted and comparable uncontacted customers, so a log that
lists only the contacts identifies nothing by itself. CRM exports are usually like that; the
shop knows, though, how contacts were assigned. It declares it in two tables:

- `campaign_design` (week_start, action, probability[, stratum]): in each campaign week (and
  stratum), the probability with which an eligible customer was assigned each action. The
  remainder, 1 - sum, is the probability of no contact (a `none` row may state it; then the
  week's probabilities must sum to 1). A fixed exploration rate is a design with the same rows
  every week; it may be declared once, without the week_start column: its rows then hold in
  every week in which the log has a contact (or, with campaign_eligible, in which anyone was
  eligible).
- `campaign_eligible` (customer_id, week_start[, stratum]), optional: who was eligible in
  which week (and in which stratum). Without it, every customer with a purchase before the week
  was eligible, in every design week, and the design may not be stratified.

`derive_control_rows` turns the contacts into the complete log the effect learners read: every
eligible customer-week with its action (`none` where not contacted) and its propensity (the
design's probability of what happened; a propensity the log already states wins). A log with no
`none` row and no design is refused: it cannot identify any effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopdata.input_errors import InputProblem, problem_at_rows

#: Probabilities of one week and stratum must sum to 1 within this (with a `none` row).
SUM_TOLERANCE = 1e-6
#: Below this many control rows in the weeks an action was logged, its effect rests on few
#: controls: the report warns.
FEW_CONTROLS = 200


@dataclass(frozen=True)
class DerivedLog:
    """The complete campaign log and what was done to get it."""

    log: pd.DataFrame
    origin: str


def control_counts(log: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per action (not `none`): its logged rows and the `none` rows in the weeks it was logged
    (the controls its effect is measured against)."""
    contacts = log[log["action"] != "none"]
    controls = log[log["action"] == "none"].groupby("week_start").size()
    counts: dict[str, dict[str, int]] = {}
    for action, rows in contacts.groupby("action", observed=True):
        weeks = rows["week_start"].unique()
        counts[str(action)] = {
            "rows": len(rows),
            "controls": int(controls.reindex(weeks, fill_value=0).sum()),
        }
    return counts


def few_controls(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """The actions whose effect rests on fewer than FEW_CONTROLS control rows, with the count."""
    return {a: c["controls"] for a, c in counts.items() if c["controls"] < FEW_CONTROLS}


def no_control_problem(log_file: Path, log: pd.DataFrame) -> InputProblem:
    """The error for a contacts-only log without a design."""
    actions = sorted(set(log["action"].astype(str)))[:5]
    return InputProblem(
        log_file,
        "action",
        "rows with action 'none' (the control group), or a campaign_design file beside it "
        "declaring how contacts were assigned (week_start, action, probability; see "
        "docs/inputs.md); or say that effects are unidentified (--unidentified-effects zero, "
        "scenario forecast.unidentified_effects: zero) to plan with no effects at all",
        f"only contacts ({len(log)} rows of {actions}) and no campaign_design file: no effect "
        "can be estimated from it",
    )


def _design_problems(design: pd.DataFrame, design_file: Path) -> list[InputProblem]:
    problems = []
    keys = ["week_start", "stratum", "action"]
    duplicated = design.duplicated(subset=keys, keep="first").to_numpy()
    if duplicated.any():
        problems.append(
            problem_at_rows(
                design_file,
                "action",
                "one row per week_start, stratum and action",
                "duplicated rows",
                np.flatnonzero(duplicated),
            )
        )
    probability = design["probability"]
    bad = ((probability < 0) | (probability > 1)).to_numpy()
    if bad.any():
        problems.append(
            problem_at_rows(
                design_file,
                "probability",
                "a probability in [0, 1]",
                "values outside it",
                np.flatnonzero(bad),
            )
        )
    contact = design["action"] != "none"
    totals = design.groupby(["week_start", "stratum"])["probability"].sum()
    contact_totals = design[contact].groupby(["week_start", "stratum"])["probability"].sum()
    has_none = design[~contact].groupby(["week_start", "stratum"]).size()
    stated = totals.index.isin(has_none.index)
    off = (np.abs(totals - 1.0) > SUM_TOLERANCE) & stated
    full = contact_totals.reindex(totals.index, fill_value=0.0) >= 1.0 - SUM_TOLERANCE
    for label, mask, expected in (
        ("sum to", off, "probabilities that sum to 1 in each week (with a 'none' row)"),
        ("leave", full & ~stated, "contact probabilities below 1 in total (the rest: none)"),
    ):
        if mask.any():
            where = design.set_index(["week_start", "stratum"]).index.isin(totals.index[mask])
            problems.append(
                problem_at_rows(
                    design_file,
                    "probability",
                    expected,
                    f"weeks whose probabilities {label} {totals[mask].iloc[0]:.4f}"
                    if label == "sum to"
                    else "weeks with no chance of no contact: no control group",
                    np.flatnonzero(where),
                )
            )
    return problems


def derive_control_rows(
    log: pd.DataFrame,
    design: pd.DataFrame,
    eligible: pd.DataFrame | None,
    first_purchase: pd.Series,
    *,
    files: dict[str, Path],
) -> tuple[DerivedLog | None, list[InputProblem]]:
    """The complete log from contacts, a design and eligibility (see the module docstring).

    `first_purchase`: each customer's first purchase time (index customer_id), for the default
    eligibility. Returns the derived log, or None with the problems that prevent it.
    """
    log_file, design_file = files["campaign_log"], files["campaign_design"]
    design = design.copy()
    if "stratum" not in design:
        design["stratum"] = ""
    design["stratum"] = design["stratum"].fillna("").astype(str)
    design["action"] = design["action"].astype(str)
    declared_once = "week_start" not in design
    if declared_once:  # a fixed rate: checked as one week, then held in every campaign week
        design["week_start"] = pd.Timestamp(0)
    problems = _design_problems(design, design_file)
    if declared_once:
        weeks = [log["week_start"]] + ([eligible["week_start"]] if eligible is not None else [])
        campaign_weeks = pd.DataFrame({"week_start": np.sort(pd.concat(weeks).unique())})
        design = design.drop(columns="week_start").merge(campaign_weeks, how="cross")
    stratified = (design["stratum"] != "").any()
    if eligible is None:
        if stratified:
            problems.append(
                InputProblem(
                    design_file,
                    "stratum",
                    "a campaign_eligible file naming each customer's stratum per week, since "
                    "the design is stratified",
                    "no campaign_eligible file",
                )
            )
            return None, problems
        weeks = pd.DataFrame({"week_start": np.sort(design["week_start"].unique())})
        buyers = first_purchase.rename("first").reset_index()
        eligible = buyers.merge(weeks, how="cross")
        before = eligible["first"] < eligible["week_start"]
        eligible = eligible.loc[before, ["customer_id", "week_start"]]
        # A contact of a customer with no earlier purchase (a subscriber, say) was drawn from
        # the same design: eligible too, though the learners need a purchase before the week.
        in_design = log[log["week_start"].isin(weeks["week_start"])]
        eligible = pd.concat([eligible, in_design[["customer_id", "week_start"]]]).drop_duplicates()
        eligible["stratum"] = ""
    else:
        eligible = eligible.copy()
        if "stratum" not in eligible:
            eligible["stratum"] = ""
        eligible["stratum"] = eligible["stratum"].fillna("").astype(str)
        unknown = ~eligible.set_index(["week_start", "stratum"]).index.isin(
            design.set_index(["week_start", "stratum"]).index
        )
        if unknown.any():
            problems.append(
                problem_at_rows(
                    files["campaign_eligible"],
                    "week_start",
                    "a week and stratum that campaign_design declares",
                    "weeks or strata the design does not list",
                    np.flatnonzero(unknown),
                )
            )
    contacts = log.reset_index(drop=True)
    contact_keys = contacts.merge(
        eligible[["customer_id", "week_start", "stratum"]],
        on=["customer_id", "week_start"],
        how="left",
    )
    outside = contact_keys["stratum"].isna().to_numpy()
    if outside.any():
        problems.append(
            problem_at_rows(
                log_file,
                "week_start",
                "contacts of eligible customers in the weeks campaign_design declares",
                "contacts outside them (customer not eligible that week, or a week with no design)",
                np.flatnonzero(outside),
            )
        )
    probability = design.set_index(["week_start", "stratum", "action"])["probability"]
    assigned = probability.reindex(
        pd.MultiIndex.from_frame(contact_keys[["week_start", "stratum", "action"]].fillna(""))
    ).to_numpy()
    undeclared = ~outside & ~(assigned > 0)
    if undeclared.any():
        problems.append(
            problem_at_rows(
                log_file,
                "action",
                "actions the design assigns with a positive probability in that week",
                "actions the design does not assign then",
                np.flatnonzero(undeclared),
            )
        )
    if problems:
        return None, problems

    contact_probability = (
        design[design["action"] != "none"].groupby(["week_start", "stratum"])["probability"].sum()
    )
    none_probability = 1.0 - contact_probability
    controls = eligible.merge(
        contacts[["customer_id", "week_start"]],
        on=["customer_id", "week_start"],
        how="left",
        indicator=True,
    )
    controls = controls[controls["_merge"] == "left_only"].drop(columns="_merge")
    controls["propensity"] = none_probability.reindex(
        pd.MultiIndex.from_frame(controls[["week_start", "stratum"]]), fill_value=1.0
    ).to_numpy()
    controls["action"] = "none"
    logged = contacts.copy()
    stated = (
        logged["propensity"].to_numpy(dtype=float)
        if "propensity" in logged
        else np.full(len(logged), np.nan)
    )
    logged["propensity"] = np.where(np.isfinite(stated), stated, assigned)
    columns = [c for c in log.columns if c not in ("propensity",)] + ["propensity"]
    complete = pd.concat(
        [logged[columns], controls[["customer_id", "week_start", "action", "propensity"]]],
        ignore_index=True,
    )
    complete["action"] = complete["action"].astype("string")
    complete["customer_id"] = complete["customer_id"].astype("string")
    complete = complete.sort_values(["week_start", "customer_id"], kind="stable").reset_index(
        drop=True
    )
    origin = (
        f"contacts only ({len(logged)} rows); {len(controls)} control rows derived from "
        f"campaign_design ({_weeks(design['week_start'].nunique())}"
        + (", its rows declared once for every campaign week" if declared_once else "")
        + (", stratified" if stratified else "")
        + (
            ", eligibility from campaign_eligible)"
            if "campaign_eligible" in files
            else ", every customer with an earlier purchase eligible)"
        )
    )
    return DerivedLog(complete, origin), []


def _weeks(count: int) -> str:
    return f"{count} week" if count == 1 else f"{count} weeks"


def campaign_log_summary(
    log_table: pd.DataFrame | None, origin: str, actions: tuple[str, ...]
) -> dict[str, object]:
    """How the campaign log (validated, with its propensity column, empty where unlogged) came
    about, how many controls each action's effect rests on, and which of the scenario's
    `actions` it never shows (the run's campaign_log.json; the report warns of both)."""
    counts: dict[str, dict[str, int]] = {}
    never: list[str] = []
    unlogged = 0
    if log_table is not None:
        counts = control_counts(log_table)
        never = [a for a in actions if a != "none" and a not in counts]
        unlogged = int(log_table["propensity"].isna().sum())
    return {
        "origin": origin or "no campaign log: no effect is learned",
        "actions": counts,
        "few_controls": few_controls(counts),
        "never_logged": never,
        # Rows whose propensity the learners estimate from their features (propensity.py).
        "unlogged_propensities": unlogged,
    }
