"""A finished run folder built by hand (no forecast, no inputs): what the reader, the report
and the command line read back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import yaml

from engine.kpis import plan_kpis
from optimization.settings import SolveSettings
from optimization.solve import solve
from tests.optimization_helpers import tiny_problem


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
