"""The campaign log beyond its columns: control rows derived from a declared design where the
log holds contacts only (or the log refused for having no control group), warnings about
propensities that are tiny or not logged, and hints for action ids the catalogue lacks."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from shopdata.campaign_design import derive_control_rows, no_control_problem
from shopdata.input_errors import InputProblem

#: Labels CRM exports give the customers held out of a campaign; the engine calls them `none`.
CONTROL_LABELS = frozenset(
    {"control", "holdout", "hold-out", "hold_out", "no_contact", "no contact", "nocontact",
     "no_action", "no action", "untreated", "baseline", "ctrl", "cg"}
)  # fmt: skip


def action_hints(found: list[str], action_ids: Collection[str]) -> str:
    """What each unknown action id most likely is: a catalogue id in another case or misspelt,
    or a control group's label (to be written `none`); for the rest, how a scenario keeps an
    action the shop no longer runs."""
    by_case = {a.casefold(): a for a in action_ids}
    hints, other = [], []
    for label in found:
        folded = label.casefold()
        close = difflib.get_close_matches(folded, list(by_case), n=1, cutoff=0.8)
        if folded in by_case:
            hints.append(
                f"{label!r} is {by_case[folded]!r} in another case (ids are case-sensitive)"
            )
        elif folded in CONTROL_LABELS:
            hints.append(
                f"if {label!r} marks customers held out of the campaign (no contact), write it "
                "as 'none'"
            )
        elif close:
            hints.append(f"{label!r}: did you mean {by_case[close[0]]!r}?")
        else:
            other.append(label)
    if other:
        hints.append(
            f"an action the shop ran but no longer plans ({', '.join(map(repr, other))}) goes in "
            "the scenario's actions with capacity: 0 (its log rows are read, it is never planned)"
        )
    return "; ".join(hints)


UnidentifiedEffects = Literal["refuse", "zero"]


def complete_campaign_log(
    tables: dict[str, pd.DataFrame],
    files: dict[str, Path],
    problems: list[InputProblem],
    unidentified_effects: UnidentifiedEffects,
) -> str:
    """Make `tables['campaign_log']` a log with a control group, in place, and say how: as given
    (it has `none` rows), derived from a contacts-only log and its design, or dropped when it
    has no control and the caller declared effects unidentified; else a problem is added."""
    log = tables.get("campaign_log")
    if log is None:
        if "campaign_design" in tables:
            problems.append(
                InputProblem(
                    files["campaign_design"],
                    None,
                    "a campaign_log file of the contacts this design assigned",
                    "a campaign_design without a campaign_log",
                )
            )
        return ""
    has_controls = bool((log["action"] == "none").any())
    if "campaign_design" in tables:
        if has_controls:
            problems.append(
                InputProblem(
                    files["campaign_design"],
                    None,
                    "a campaign_design only beside a contacts-only campaign_log (one without "
                    "'none' rows)",
                    f"a campaign_log that already has {int((log['action'] == 'none').sum())} "
                    "'none' rows: keep the explicit log or the design, not both",
                )
            )
            return ""
        transactions = tables["transactions"]
        if "is_refund" in transactions:
            transactions = transactions[~transactions["is_refund"]]
        first_purchase = transactions.groupby("customer_id", observed=True)["ts"].min()
        derived, found = derive_control_rows(
            log,
            tables["campaign_design"],
            tables.get("campaign_eligible"),
            first_purchase,
            files=files,
        )
        problems.extend(found)
        if derived is None:
            return ""
        tables["campaign_log"] = derived.log
        return derived.origin
    if has_controls:
        return "as given (with its 'none' rows as the control group)"
    if unidentified_effects == "zero":
        del tables["campaign_log"]
        return (
            f"dropped: {len(log)} contacts with no control group and no campaign_design; every "
            "effect is unidentified and set to zero (as asked)"
        )
    problems.append(no_control_problem(files["campaign_log"], log))
    return ""


#: Logged propensities below this are said (inverse weights above 100): a design that gave
#: an action one chance in a billion is most often a unit slip (a percentage, a log).
TINY_PROPENSITY = 0.01


def tiny_propensities(log: pd.DataFrame, path: Path) -> list[str]:
    """A warning where logged propensities are so small that their inverse weights would swamp
    every estimate: named with their count and the smallest (the log's doubly robust scores
    weigh a row by at most 1,000: engine/logged_outcomes.PROPENSITY_FLOOR)."""
    p = log["propensity"]
    tiny = p.notna() & (p < TINY_PROPENSITY)
    if not tiny.any():
        return []
    rows = ", ".join(str(int(i) + 1) for i in np.flatnonzero(tiny.to_numpy())[:5])
    return [
        f"{path.name}, column 'propensity': {int(tiny.sum()):,} rows (rows {rows}...) below "
        f"{TINY_PROPENSITY} (as low as {float(p[tiny].min()):.3g}: inverse weights up to "
        f"{1 / float(p[tiny].min()):.3g}; the release decision weighs a row by at most 1,000): "
        "check the design's probabilities are shares, not percentages"
    ]


def unlogged_propensities(log: pd.DataFrame, path: Path) -> list[str]:
    """A warning where an explicit log's rows do not say how likely their action was: the
    learners then estimate it from the rows' features (forecasting/propensity.py), which is
    right only for a log randomised or targeted on what those features hold."""
    missing = log["propensity"].isna()
    if not missing.any():
        return []
    return [
        f"{path.name}: {int(missing.sum()):,} of {len(log):,} rows have no propensity (the "
        "chance their action had); the effect learners estimate it from what they see of "
        "each row (purchase history, recent contacts, the customers table's attributes), "
        "which is right only if contacts were assigned at random or on those: a campaign "
        "targeted on anything else gives biased effects"
    ]
