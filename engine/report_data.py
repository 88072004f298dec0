"""What a run folder's report says, read from its files alone (`ReportData`): the summary in
words, the release decision, the tests, the attrition, the effects and the tables by week and
action; engine/report.py draws and writes it (HTML, XLSX, PDF)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.evaluation import headline
from engine.run_reader import RunFolder, customer_segments
from engine.run_summaries import ReleaseSummary, RunFolderError, SolutionSummary
from engine.scenario import Scenario
from optimization.solution import RECOMMEND


def _effect_row(action: str, outcome: str, c: dict[str, float]) -> dict[str, object]:
    """One learned effect of the report's table (runs saved before shrinkage have none)."""
    shrinkage = c.get("shrinkage", 1.0)
    return {
        "action": action,
        "outcome": outcome,
        "effect": c["average_effect"],
        "doubly robust": c["doubly_robust_effect"],
        "std. error": c["doubly_robust_effect_se"],
        "heterogeneity kept": c.get("heterogeneity_loading", math.nan),
        "shrinkage": shrinkage,
        # A window learned for the action followed by no contact, or under the log's own
        # continuing contacts (forecasting/dr_effects.py); runs saved before say neither.
        "followed by": c.get("followed_by", ""),
        "note": "" if shrinkage > 0 else "within one std. error of 0",
    }


@dataclass(frozen=True)
class ReportData:
    run_id: str
    scenario: dict[str, Any]
    solution: SolutionSummary
    kpis: dict[str, Any]
    forecast: dict[str, Any]
    allocation: pd.DataFrame
    frontier: pd.DataFrame | None
    segments: pd.DataFrame | None = None  # contacts by customer segment and action
    #: Each customer's segment (customer_id, segment), read once from the run's inputs.
    customer_segments: pd.DataFrame | None = None
    evaluation: dict[str, Any] | None = None  # `ltv evaluate`'s figures, once run
    campaign_log: dict[str, Any] | None = None  # origin of the log and controls per action
    release: ReleaseSummary | None = None
    #: The scenario validated (numbers as numbers), where the run's scenario.yaml validates.
    settings: Scenario | None = None

    @classmethod
    def read(cls, folder: Path) -> ReportData:
        run = RunFolder.open(folder)
        customers = customer_segments(run.store_path)
        return cls(
            run_id=run.run_id,
            scenario=run.scenario,
            solution=run.solution,
            kpis=run.kpis,
            forecast=run.forecast,
            allocation=run.allocation,
            frontier=run.frontier,
            segments=_segment_table(customers, run.promotions),
            customer_segments=customers,
            evaluation=run.evaluation,
            campaign_log=run.campaign_log,
            release=run.release,
            settings=_settings(run),
        )

    @property
    def promotions(self) -> pd.DataFrame:
        return self.allocation[self.allocation["action"] != RECOMMEND]

    def summary(self) -> dict[str, str]:
        """The plan in four sentences a manager reads in a minute: what it does, what it
        costs, what it earns, what binds (and what the release decision held back)."""
        k, s = self.kpis, self.solution
        weeks = len(k.get("spend_by_week", [])) or int(self.scenario.get("horizon_weeks", 0))
        counts = k.get("contacts_by_action", {})
        used = ", ".join(f"{a} {n:,}" for a, n in counts.items() if n) or "no promotion at all"
        customers = k.get("customers", 0)
        contacted = k.get("customers_contacted", 0)
        share = contacted / customers if customers else 0.0
        shown = int(k.get("recommendations_shown", 0))
        does = (
            f"Over {weeks} weeks the plan contacts {contacted:,} of {customers:,} customers "
            f"({share:.1%}): {used}"
            + (f"; it shows {shown:,} product recommendations." if shown else ".")
            + ("" if contacted else " " + self._why_nobody())
        )
        spend = sum(k.get("spend_by_week", []))
        # the validated value (a number or a list of them), never the file's raw text
        budget = self.settings.constraints.weekly_budget if self.settings is not None else None
        if isinstance(budget, list):
            budget_text = f" against a budget of {sum(budget):,.2f}"
        elif budget is not None:
            budget_text = f" against a budget of {budget * weeks:,.2f} ({budget:,.2f} a week)"
        else:
            budget_text = ""
        costs = f"It costs {spend:,.2f} in contacts and discounts{budget_text}."
        revenue = sum(k.get("revenue_by_week", []))
        baseline = sum(k.get("baseline_revenue_by_week", []))
        gain = s.objective or 0.0
        margin = float(k.get("recommendation_margin") or 0.0)
        held = self.release is not None and (self.release.withheld or self.release.tested)
        released = " with the actions released" if held else ""
        earns = (
            f"The forecast puts what its promotions add at {gain:,.2f} of discounted lifetime "
            f"value over doing nothing (at most {s.bound:,.2f} is possible{released}, gap "
            f"{(s.gap or 0):.2%}); expected short-term revenue is {revenue:,.2f} against "
            f"{baseline:,.2f} without promotions."
            + self._decided()
            + (
                f" The recommendations are chosen by the expected margin of the items shown "
                f"({margin:,.2f}), which is not counted as a gain: no effect of a "
                "recommendation is learned, so what they add over showing none is not known."
                if shown
                else ""
            )
        )
        binding = [c for c in s.constraints if c.binding and abs(c.shadow_price) > 1e-9]
        binding.sort(key=lambda c: -abs(c.shadow_price))
        binds = (
            "What binds: " + "; ".join(f"{c.name}: {c.meaning()}" for c in binding[:3]) + "."
            if binding
            else "No constraint binds: more budget or a lower floor would not change the plan."
        )
        if self.release is not None and self.release.withheld:
            binds += (
                " Held back because, with the campaign log's evidence, their expected gain is "
                f"not above zero: {', '.join(self.release.withheld)}."
            )
        return {"does": does, "costs": costs, "earns": earns, "binds": binds}

    def _decided(self) -> str:
        """The release decision in sentences ("" where none was made): the released plan's
        expected gain and probability of loss, the tests and what they cost."""
        release = self.release
        if release is None:
            return ""
        text = ""
        if release.released:
            text += (
                f" With the campaign log's evidence, the released promotions "
                f"({', '.join(release.released)}) are expected to add "
                f"{release.expected_gain_per_week:,.2f} a week over a year after each contact "
                f"(standard deviation {release.sd_per_week:,.2f}); the probability that they "
                f"lose more than {release.max_loss:,.2f} a week is {release.loss_probability:.1%}"
                f" (the scenario allows {release.risk:.0%})."
            )
        for test in release.tests:
            text += (
                f" {test['action']} goes out as a randomised test: {test['treated']:,} of its "
                f"{test['candidates']:,} chosen customers at random this week (the other "
                f"{test['controls']:,} are its control group), expected cost "
                f"{test['expected_cost']:,.2f}, read out after {test['readout_weeks']} weeks"
                + (
                    f"; were its gain what is expected, the test would release it with "
                    f"probability {test['power']:.0%}."
                    if test.get("power") is not None
                    else "."
                )
            )
        return text

    def _why_nobody(self) -> str:
        """Why a plan contacts no one, in a sentence: no campaign log to learn effects from,
        the release check, or no contact worth its cost."""
        campaign_log = self.campaign_log
        if campaign_log is not None and not campaign_log.get("actions"):
            origin = str(campaign_log.get("origin", ""))
            if not origin or origin.startswith("no campaign log"):
                return (
                    "There is no campaign log, and without one no action's effect on a customer "
                    "can be learned: every contact would only cost (docs/inputs.md says what "
                    "the log holds)."
                )
            return (
                f"No action's effect could be learned from the campaign log ({origin}): every "
                "contact would only cost."
            )
        effects = self.forecast.get("parameters", {}).get("effects")
        if isinstance(effects, str) and effects and not effects.startswith("no campaign log"):
            # The forecaster learned no effect (a log too small for its learner): it says why.
            return (
                f"The forecaster learned no action's effect ({effects}): every contact would "
                "only cost."
            )
        if self.release is not None and not self.release.released:
            return "The release decision released none of the actions the plan chose (below)."
        return (
            "No contact is forecast to add more lifetime value than it costs under these "
            "constraints."
        )

    def policy_table(self) -> pd.DataFrame | None:
        """Per policy replayed in the truth: the paired gain over doing nothing with its 95 %
        interval, realised spend, the share of replayed weeks over budget and the floor."""
        if not self.evaluation or "policies" not in self.evaluation:
            return None
        rows = [
            {
                "policy": name,
                "gain vs none": p["gain"],
                "CI low": p["gain_ci"][0],
                "CI high": p["gain_ci"][1],
                "realised CLV": p["clv"],
                "spend": p["budget_used"],
                "weeks over budget": p["weeks_over_budget"],
                "floor met (weeks)": p["floor_met_weeks"],
            }
            for name, p in self.evaluation["policies"].items()
        ]
        return pd.DataFrame(rows)

    def evaluation_headline(self) -> str:
        """The capture ratio in words, with the oracle's defects when a policy beat it."""
        return headline(self.evaluation) if self.evaluation else ""

    def attrition_table(self) -> pd.DataFrame | None:
        """Per contact policy, in the scenario's order: the customers it names, the candidate
        offers and predicted value it removed, and the value of relaxing it (engine/policies.py;
        None where the scenario has no policy)."""
        rows = self.kpis.get("attrition")
        if not rows:
            return None
        return pd.DataFrame(
            [
                {
                    "rule": r["rule"],
                    "kind": r["kind"],
                    "enforced": "yes" if r["enforced"] else "report only",
                    "customers named": r["customers"],
                    "offers removed": r["offers_removed"],
                    "value removed": r["value_removed"],
                    "value of relaxing it": r["relaxing_value"] if r["enforced"] else math.nan,
                    "relaxing measured by": r["relaxing_by"] if r["enforced"] else "",
                }
                for r in rows
            ]
        )

    def release_table(self) -> pd.DataFrame | None:
        """Per action of the plan: the forecaster's predicted gain per contact, its calibration
        and the prior, the campaign log's estimates (shortest and longest window), the
        posterior's expected gain and standard deviation, the expected gain a week, the
        probability of losing more than the tolerance a week, and the decision with its
        reason."""
        if self.release is None or not self.release.decisions:
            return None
        rows = []
        for d in self.release.decisions:
            evidence = d.get("evidence") or []
            first, last = (evidence[0], evidence[-1]) if evidence else (None, None)
            rows.append(
                {
                    "action": d["action"],
                    "decision": d["decision"],
                    "contacts planned": d["contacts"],
                    "predicted gain / contact": d["predicted_gain"],
                    "calibration": d["calibration"],
                    "prior mean": d["prior_mean"],
                    "log, shortest window": _window(first),
                    "log, longest window": _window(last),
                    "expected gain / contact": d["expected_gain"],
                    "sd": d["gain_sd"],
                    "expected gain / week": d["expected_gain_per_week"],
                    "P(loss > tolerance)": d["loss_probability"],
                    "why": d["reason"],
                }
            )
        return pd.DataFrame(rows)

    def test_table(self) -> pd.DataFrame | None:
        """The run's randomised tests: who, how many, what they cost and when they answer."""
        if self.release is None or not self.release.tests:
            return None
        return pd.DataFrame(
            [
                {
                    "action": t["action"],
                    "candidates": t["candidates"],
                    "treated": t["treated"],
                    "controls": t["controls"],
                    "propensity": t["propensity"],
                    "expected cost": t["expected_cost"],
                    "read out after (weeks)": t["readout_weeks"],
                    "power": math.nan if t["power"] is None else t["power"],
                    "note": t["note"],
                }
                for t in self.release.tests
            ]
        )

    def off_policy_table(self) -> pd.DataFrame | None:
        """Off-policy estimates on the campaign log (value per logged customer-week), with the
        reason where a policy cannot be estimated."""
        if not self.evaluation or not self.evaluation.get("off_policy"):
            return None
        rows = []
        for name, e in self.evaluation["off_policy"].items():
            estimable = e.get("dr") is not None
            rows.append(
                {
                    "policy": name,
                    "doubly robust": e["dr"] if estimable else math.nan,
                    "CI low": e["dr_ci"][0] if estimable else math.nan,
                    "CI high": e["dr_ci"][1] if estimable else math.nan,
                    "IPW": e["ipw"] if estimable else math.nan,
                    "matched rows": e["matched_rows"],
                    "note": e.get("reason", ""),
                }
            )
        return pd.DataFrame(rows)

    def effect_table(self) -> pd.DataFrame | None:
        """Per action and outcome: the calibrated, shrunk average effect against the doubly robust
        one, how much of the model's heterogeneity survived calibration and the shrinkage factor
        (deep forecasters); the effects the log could not support are listed with 0 and the
        reason."""
        effects = self._effects()
        if effects is None or "calibration" not in effects:
            return None
        rows = [
            _effect_row(action, outcome, c)
            for action, outcomes in effects["calibration"].items()
            for outcome, c in outcomes.items()
        ]
        not_learned = {"effect": 0.0, "doubly robust": math.nan, "std. error": math.nan}
        rows += [
            {"action": action, "outcome": "all", **not_learned, "note": f"logged {count} times"}
            for action, count in effects.get("unsupported_actions", {}).items()
        ]
        rows += [
            {"action": action, "outcome": outcome, **not_learned, "note": "window not yet seen"}
            for action, outcomes in effects.get("unobserved_windows", {}).items()
            for outcome in outcomes
        ]
        return pd.DataFrame(rows)

    def reliability(self) -> dict[str, Any] | None:
        effects = self._effects()
        return effects.get("reliability") if effects is not None else None

    def inflation_note(self) -> str:
        """How much the log's contacts inflated the history the no-action forecast reads
        (forecasting/contact_inflation.py), in a sentence; '' where it was not measured."""
        found = self.forecast.get("parameters", {}).get("contact_inflation")
        if not isinstance(found, dict) or not found.get("purchase_weeks"):
            return ""
        share = found["added_purchase_weeks"] / found["purchase_weeks"]
        error = found["standard_error"] / found["purchase_weeks"]
        sentence = (
            f"In the last {found['weeks']} weeks the campaigns added {share:.1%} (+- "
            f"{error:.1%}) of the logged customers' purchase weeks, by the log's control group"
        )
        if found.get("applied"):
            return (
                f"{sentence}; their no-action forecast is scaled by {found['factor']:.3f} to "
                "take that out."
            )
        if found["factor"] >= 1:
            return f"{sentence}: no inflation of the no-action forecast to correct."
        return (
            f"{sentence}. The no-action forecast reads that history as it is, so it is about "
            f"{1 / found['factor'] - 1:.0%} above what these customers would buy with no "
            "contact at all; it is not corrected, for the reason docs/forecasting.md gives "
            "('How much the shop's own contacts inflated the history')."
        )

    def _effects(self) -> dict[str, Any] | None:
        """The forecast's learned-effects summary (a message string, not a dict, without one)."""
        effects = self.forecast.get("parameters", {}).get("effects")
        return effects if isinstance(effects, dict) else None

    def constraint_table(self) -> pd.DataFrame:
        """Each coupling row with its activity, right-hand side, slack, shadow price and what
        the shadow price means in words."""
        columns = ["name", "sense", "activity", "rhs", "slack", "shadow_price", "meaning"]
        return pd.DataFrame(
            [{**c.to_dict(), "meaning": c.meaning()} for c in self.solution.constraints],
            columns=columns,
        )[columns]

    def by_week_and_action(self) -> pd.DataFrame:
        table = self.promotions.pivot_table(
            index="week", columns="action", values="customer_id", aggfunc="count", fill_value=0
        )
        weeks = len(self.kpis["spend_by_week"])
        return table.reindex(range(1, weeks + 1), fill_value=0)

    def weekly(self) -> pd.DataFrame:
        k = self.kpis
        return pd.DataFrame(
            {
                "week": range(1, len(k["spend_by_week"]) + 1),
                "spend": k["spend_by_week"],
                "expected_revenue": k["revenue_by_week"],
                "revenue_without_promotions": k["baseline_revenue_by_week"],
                "p_meet_floor": k["floor_probability_by_week"],
            }
        )


def _segment_table(segments: pd.DataFrame | None, promotions: pd.DataFrame) -> pd.DataFrame | None:
    """Contacts by customer segment and action (`segments` from `customer_segments`)."""
    if segments is None:
        return None
    merged = promotions.merge(segments, on="customer_id", how="left")
    table = merged.pivot_table(
        index="segment", columns="action", values="customer_id", aggfunc="count", fill_value=0
    )
    table.index.name = segments.attrs["column"]
    return table


def _settings(run: RunFolder) -> Scenario | None:
    """The run's scenario validated, or None where its file does not validate (a folder an
    earlier version wrote): the report then leaves out what only the scenario says."""
    try:
        return run.settings
    except RunFolderError:
        return None


def _window(estimate: dict[str, Any] | None) -> str:
    """A log estimate in words ("+0.41 +- 0.12 over 5 weeks")."""
    if estimate is None:
        return "-"
    weeks = int(estimate["window"]) + 1
    scope = "" if estimate["scope"] == "targets" else ", all logged weeks"
    return (
        f"{estimate['mean']:+,.4f} +- {estimate['standard_error']:,.4f} over {weeks} "
        f"week{'s' if weeks > 1 else ''}{scope}"
    )
