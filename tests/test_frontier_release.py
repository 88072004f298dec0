"""The frontier a run writes is what the engine would release at each level: budgets that hold
and the release decision apply to every level's plan, not only to the scenario's own (before,
the frontier re-solved the plan as first solved: on the small shop it showed 2,694 at the
scenario's own budget, where the released plan, every action withheld, was worth 684)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.run_helpers import SCENARIO, plan_small

LEVELS = [0.0, 20.0, 200.0]  # the scenario's own weekly budget is 20
OWN = LEVELS.index(20.0)


def _run(
    folder: Path,
    name: str,
    data: Path,
    release: str,
    chance: bool = False,
    discounts_only: bool = False,
):
    text = SCENARIO.replace("name: small", f"name: {name}").replace(
        "release: {check: false}", f"release: {release}"
    )
    if chance:
        text = text.replace("contact_cap: 2", "contact_cap: 2\n  budget_confidence: 0.95")
    if discounts_only:  # the e-mails' fixed costs carry no variance for the budget to hold
        text = text.replace("channel: email}", "channel: email, capacity: 0}")
    path = folder / f"{name}.yaml"
    path.write_text(text + f"sweep: {{weekly_budget: {LEVELS}}}\n")
    result = plan_small(path, data, folder / "runs")
    objective = json.loads((result.folder / "solution.json").read_text())["objective"]
    release_report = json.loads((result.folder / "kpis.json").read_text()).get("release")
    return pd.read_csv(result.folder / "frontier.csv"), objective, release_report


@pytest.mark.slow
def test_every_frontier_level_is_solved_and_checked_as_the_scenario_plan_is(
    small_market_dir: Path, tmp_path: Path
) -> None:
    # On the discounted actions alone, whose cost is uncertain (the e-mails' fixed costs carry
    # no variance for the budget to hold); three runs of the small shop, a sweep each.
    loose, loose_objective, _ = _run(
        tmp_path, "loose", small_market_dir, "{check: false}", discounts_only=True
    )
    assert loose["clv"].iloc[OWN] == pytest.approx(loose_objective, rel=1e-6)
    assert loose["withheld"].isna().all()  # nothing checked, nothing withheld

    # Budgets that hold: every level solved with the chance constraint, as the plan is.
    held, held_objective, _ = _run(
        tmp_path, "held", small_market_dir, "{check: false}", True, discounts_only=True
    )
    assert held["clv"].iloc[OWN] == pytest.approx(held_objective, rel=1e-6)
    assert held_objective < loose_objective - 1.0
    # where the budget binds, the plan keeps a margin of it free for the discounts' variance
    assert held["spend"].iloc[OWN] < loose["spend"].iloc[OWN] - 1.0

    # The release decision: the scenario's own level is the released plan (its tests drawn the
    # same), and every level's plan is decided as the scenario's is.
    checked, objective, report = _run(
        tmp_path,
        "checked",
        small_market_dir,
        "{check: true, risk: 0.05, test_budget: 2}",
        discounts_only=True,
    )
    assert report["withheld"] or report["tested"]  # the small log tells little
    assert checked["clv"].iloc[OWN] == pytest.approx(objective, rel=1e-6)
    assert checked["withheld"].fillna("").iloc[OWN] == ", ".join(report["withheld"])
    assert objective <= loose_objective * (1 + 1e-3) + 1e-6
    assert checked["withheld"].notna().any() or checked["tested"].notna().any()
    # a plan of the full problem too: never above the unchecked frontier (up to the MIP gap)
    assert (checked["clv"] <= loose["clv"] * (1 + 1e-3) + 1e-6).all()
