"""Finished runs for the tests that read one: the pipeline tests' scenario (SCENARIO, run once
per session on the small shop by conftest's `small_run`), a copy of its runs folder for a test
that writes into it, and a run folder built by hand (no forecast, no inputs)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from engine.kpis import plan_kpis
from optimization.settings import SolveSettings
from optimization.solve import solve
from tests.optimization_helpers import tiny_problem

if TYPE_CHECKING:
    from engine.pipeline import RunResult

SCENARIO = """
name: small
description: A small test scenario.
horizon_weeks: 4
actions:
  - {id: none}
  - {id: email, fixed_cost: 0.02, channel: email}
  - {id: email_reco, fixed_cost: 0.03, channel: email}
  - {id: free_shipping, fixed_cost: 0.05, discount_rate: 0.05}
  - {id: coupon_10, fixed_cost: 0.05, discount_rate: 0.10}
  - {id: coupon_20, fixed_cost: 0.05, discount_rate: 0.20, capacity: 200}
constraints:
  weekly_budget: 20
  weekly_revenue_floor: {share_of_baseline: 0.97}
  contact_cap: 2
solver: {backend: highs, time_limit_s: 60, mip_gap: 0.001}
# These tests exercise the batch's mechanics on a plan with contacts; the release check,
# which withholds what the small log cannot confirm, has its own test.
release: {check: false}
# The PDF (Chromium printing the page, seconds a run) is written by the web page's runs and
# tested in test_report.py; here the formats a scenario names are the ones written.
report: {formats: [html, xlsx]}
"""


def plan_small(scenario: Path, data_dir: Path, runs_dir: Path) -> RunResult:
    """`run_pipeline` as the tests run it: the small shop's week (conftest's SMALL_AS_OF), on
    the CPU."""
    from engine.pipeline import run_pipeline
    from tests.conftest import SMALL_AS_OF

    return run_pipeline(
        scenario,
        data_dir=data_dir,
        runs_dir=runs_dir,
        as_of=f"{SMALL_AS_OF:%Y-%m-%d}",
        device="cpu",
    )


def copy_runs(folder: Path, destination: Path) -> Path:
    """A copy of the runs folder holding the finished run `folder` (its registry and every
    other run with it) at `destination`; returns the run's folder in the copy. A test that
    writes into a run (evaluation, report, registry) works on such a copy, never on the
    session's run."""
    shutil.copytree(folder.parent, destination)
    return destination / folder.name


def hand_run(folder: Path, customer_ids: tuple[str, str] = ("c0", "c1")) -> tuple[Path, np.ndarray]:
    """A finished run's files for a hand-built problem: two customers, two weeks, one contact
    worth 3 (cost 2) and one worth 1 (cost 1) under a budget of 2 a week."""
    problem = tiny_problem(
        [[[0, 0], [3, 0.5]], [[0, 0], [1, 1]]],
        cost=[[[0, 0], [2, 2]], [[0, 0], [1, 1]]],
        weekly_budget=2.0,
    )
    problem = dataclasses.replace(problem, customer_ids=np.array(customer_ids))
    solution = solve(problem, "highs", SolveSettings(time_limit_s=10))
    folder.mkdir()
    solution.save(folder, problem)
    (folder / "scenario.yaml").write_text(yaml.safe_dump({"name": "hand", "gross_margin": 0.4}))
    purchase = np.full(problem.shape, 0.5)
    (folder / "kpis.json").write_text(json.dumps(plan_kpis(problem, solution, purchase)))
    return folder, solution.plan()
