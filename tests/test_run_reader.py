"""The typed run-folder reader: what it reads back, and the folders it refuses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from engine.run_reader import RunFolder
from engine.run_summaries import Constraint, RunFolderError
from optimization.rows import RowKind
from tests.run_helpers import hand_run


def test_a_run_reads_back_as_typed_objects(tmp_path: Path) -> None:
    folder, plan = hand_run(tmp_path / "hand-2026-11-30-abc")
    run = RunFolder.open(folder)
    assert run.run_id == "hand-2026-11-30-abc"
    assert run.scenario["gross_margin"] == 0.4
    assert run.solution.status == "optimal" and run.solution.objective == pytest.approx(4.0)
    budgets = run.solution.of_kind(RowKind.WEEKLY_BUDGET)
    assert [c.week for c in budgets] == [1, 2]
    assert all(isinstance(c.kind, RowKind) for c in run.solution.constraints)
    problem = run.problem()
    assert np.array_equal(run.plan(problem), plan)
    summary = run.summary()
    assert summary.contacts == int((plan > 0).sum()) == 2  # c0 in week 1, c1 in week 2
    assert summary.spend == pytest.approx(2 + 1)
    assert run.evaluation is None and run.frontier is None
    run.save_evaluation({"policies": {}})
    assert run.evaluation == {"policies": {}}
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_a_run_written_when_the_gain_counted_the_recommendations_reads_without_them(
    tmp_path: Path,
) -> None:
    """solution.json from before pipeline version 8 added the recommendations' expected margin
    to objective and bound; read back, the figures are the promotions' as a new run's are."""
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    path = folder / "solution.json"
    raw = json.loads(path.read_text())
    assert raw["objective_counts"] == "promotions"
    old = dict(raw, objective=raw["objective"] + 10.0, bound=raw["bound"] + 12.0)
    old["recommendations"] = {"shown": 3, "value": 10.0, "bound": 12.0, "exact": True}
    del old["objective_counts"]
    path.write_text(json.dumps(old))
    solution = RunFolder.open(folder).solution
    assert solution.objective == pytest.approx(raw["objective"])
    assert solution.bound == pytest.approx(raw["bound"])


def test_a_staging_folder_reports_the_run_id_it_will_have(tmp_path: Path) -> None:
    folder, _ = hand_run(tmp_path / ".hand-2026-11-30-abc.partial")
    assert RunFolder.open(folder).run_id == "hand-2026-11-30-abc"


def test_folders_that_are_not_runs_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="no such run folder"):
        RunFolder.open(tmp_path / "missing")
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file; a run folder was expected"):
        RunFolder.open(tmp_path / "a_file")
    (tmp_path / "foreign").mkdir()
    with pytest.raises(RunFolderError, match=r"missing scenario.yaml, solution.json, kpis.json"):
        RunFolder.open(tmp_path / "foreign")
    folder, _ = hand_run(tmp_path / "damaged")
    (folder / "solution.json").write_text("{not json")
    with pytest.raises(RunFolderError, match=r"damaged/solution.json: cannot be read as JSON"):
        _ = RunFolder.open(folder).solution
    (folder / "solution.json").write_text(json.dumps({"status": "optimal"}))
    with pytest.raises(RunFolderError, match="not a solution this version wrote"):
        _ = RunFolder.open(folder).solution


@pytest.mark.parametrize(
    ("kind", "price", "slack", "words"),
    [
        (RowKind.WEEKLY_BUDGET, 1.5, 0.0, "one more euro of this budget is worth 1.50"),
        (RowKind.WEEKLY_BUDGET, 0.0, 40.0, "not binding: 40.00 of this budget is left unspent"),
        (RowKind.TOTAL_BUDGET, 0.2, 0.0, "one more euro of this budget is worth 0.20"),
        (
            RowKind.REVENUE_FLOOR,
            -0.25,
            0.0,
            "raising this floor by one euro of revenue costs 0.250",
        ),
        (RowKind.REVENUE_FLOOR, 0.0, 900.0, "not binding: expected revenue is 900 above the floor"),
        (RowKind.ACTION_CAPACITY, 2.0, 0.0, "one more unit of capacity is worth 2.00"),
        (RowKind.SEGMENT_COVERAGE, -3.0, 0.0, "each further required contact costs 3.00"),
        (RowKind.SEGMENT_COVERAGE, 0.0, 12.0, "met with 12 contacts to spare"),
    ],
)
def test_each_kind_of_row_is_explained_in_words(
    kind: RowKind, price: float, slack: float, words: str
) -> None:
    row = Constraint("row", kind, 1, "<=", 100.0 - slack, 100.0, slack, price)
    assert row.meaning().startswith(words)


def test_the_test_contacts_are_read_back_as_the_customer_weeks_they_hold(tmp_path: Path) -> None:
    """assignment.parquet's treated rows (customer, week) are the plan's test contacts, in
    whatever week the plan gave them; controls and unknown customers or weeks are not."""
    import pandas as pd

    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    run = RunFolder.open(folder)
    problem = run.problem()
    assert not run.test_contacts(problem).any()  # a run without tests
    weeks = [str(w) for w in problem.week_labels]
    assert len(weeks) >= 2
    weeks_as_dates = ["2026-11-30", "2026-12-07"][: len(weeks)]
    problem = dataclasses.replace(problem, week_labels=np.array(weeks_as_dates))
    pd.DataFrame(
        {
            "customer_id": [str(problem.customer_ids[0]), str(problem.customer_ids[1]), "nobody"],
            "week_start": pd.to_datetime(["2026-12-07", "2026-11-30", "2026-11-30"]),
            "action": ["a1", "none", "a1"],
            "propensity": [0.5, 0.5, 0.5],
            "channel": ["email", "none", "email"],
        }
    ).to_parquet(folder / "assignment.parquet")
    cells = RunFolder.open(folder).test_contacts(problem)
    assert cells.sum() == 1 and cells[0, 1]
