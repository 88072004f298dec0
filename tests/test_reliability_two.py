"""Reliability, round two: the cases of the second probe (docs/reliability.md, issue
"Reliability, round two"), each failing before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.report import write_reports
from engine.report_data import ReportData
from engine.scenario import ScenarioError, load_scenario
from engine.sweep import MAX_LEVELS, SweepError, parse_sweep
from shopdata.input_errors import InputValidationError
from shopdata.validation import MAX_ID_CHARACTERS, load_inputs
from tests.run_helpers import hand_run

BASE = Path("scenarios/base.yaml").read_text()


def _shop(folder: Path, customer: str = "C1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "customer_id": [customer, "C2", "C2"],
            "ts": ["2026-10-01", "2026-10-02", "2026-11-01"],
            "amount": [10.0, 20.0, 30.0],
        }
    ).to_csv(folder / "transactions.csv", index=False)
    return folder


def test_an_id_of_100000_characters_is_refused_with_its_row_not_a_dead_machine(
    tmp_path: Path,
) -> None:
    """One such id made every array of ids as wide as it (11 GiB at a million customers): ids
    longer than MAX_ID_CHARACTERS are refused, naming the file, the column and the row, and
    nothing is written."""
    data = _shop(tmp_path / "data", customer="x" * 100_000)
    with pytest.raises(InputValidationError) as refused:
        load_inputs(data, as_of="2026-11-30", action_ids=["none"])
    text = str(refused.value)
    assert "transactions.csv, column 'customer_id'" in text
    assert f"an id of at most {MAX_ID_CHARACTERS} characters" in text
    assert "ids of up to 100,000 characters in 1 row (row 1)" in text
    result = CliRunner().invoke(
        app, ["validate", "--data", str(data), "--store", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not list(tmp_path.glob("s.duckdb*"))


def test_a_number_written_5e2_is_a_number_everywhere_the_report_included(tmp_path: Path) -> None:
    """YAML 1.1 reads `5e2` as text: the schema converted it, but the report formatted the raw
    text as a number and failed after all the compute, on every rerun."""
    path = tmp_path / "e.yaml"
    path.write_text(BASE.replace("weekly_budget: 500", "weekly_budget: 5e2"))
    assert load_scenario(path).constraints.weekly_budget == 500.0
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    (folder / "scenario.yaml").write_text(
        "name: hand\ngross_margin: 0.4\nactions: [{id: none}, {id: a1}]\n"
        "constraints: {weekly_budget: 1e1}\n"
    )
    costs = ReportData.read(folder).summary()["costs"]
    assert "(10.00 a week)" in costs
    assert write_reports(folder, ("html", "xlsx"))


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """A scenario with `weekly_budget: 500` and later `weekly_budget: 1000000` planned with a
    million, without a word."""
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: dup\nactions:\n  - {id: none}\nconstraints:\n  weekly_budget: 500\n"
        "  contact_cap: 2\n  weekly_budget: 1000000\n"
    )
    with pytest.raises(ScenarioError, match="'weekly_budget' is given twice: on line 5 and"):
        load_scenario(path)
    result = CliRunner().invoke(app, ["plan", str(path), "--data", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "on line 7" in result.output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("weekly_budget=nan,100", "got nan"),
        ("weekly_budget=inf", "got inf"),
        ("weekly_budget=1e400,1", "got inf"),
        ("weekly_budget=0:1000:1000000000", "got 1,000,000,000"),
        ("weekly_budget=" + ",".join(["1"] * (MAX_LEVELS + 1)), f"at most {MAX_LEVELS} levels"),
    ],
)
def test_sweep_levels_are_finite_and_bounded_before_they_are_made(text: str, said: str) -> None:
    """`nan` was a traceback, `inf` and `1e400` were levels, and the server expanded a count of
    a billion (900 MB) before answering: the count is checked before any level is made."""
    with pytest.raises(SweepError, match=said):
        parse_sweep(text)
    result = CliRunner().invoke(app, ["frontier", "x.yaml", "--sweep", text])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_kpis_file_with_text_where_a_number_belongs_is_named_not_a_traceback(
    tmp_path: Path,
) -> None:
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    kpis = json.loads((folder / "kpis.json").read_text())
    kpis["spend_by_week"] = ["1.5", 2.0]
    (folder / "kpis.json").write_text(json.dumps(kpis))
    result = CliRunner().invoke(app, ["report", str(folder), "--format", "html"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "kpis.json: spend_by_week is ['1.5', 2.0]; expected numbers" in result.output


def _bad_arguments(folder: Path) -> list[list[str]]:
    """Each command with arguments a careless or hostile user would give it."""
    (folder / "file").write_text("x")
    (folder / "empty").mkdir()
    f, e = str(folder / "file"), str(folder / "empty")
    return [
        ["data", "demo", "--customers", "-5", "--out", e],
        ["data", "demo", "--preset", "nope", "--out", e],
        ["data", "demo", "--as-of", "yesterday", "--out", e],
        ["data", "cdnow", "--wheel-dir", e, "--out", e],
        ["validate", "--data", str(folder / "nope")],
        ["validate", "--data", f],
        ["validate", "--data", e, "--as-of", "2026-13-45"],
        ["validate", "--data", e, "--scenario", f],
        ["forecast", "fit", "--data", e, "--out", e, "--as-of", "yesterday"],
        ["forecast", "predict", "--model-dir", e, "--data", e, "--out", e],
        ["forecast", "backtest", "--data", e, "--calibration-end", "nope", "--json", f],
        ["plan", str(folder / "nope.yaml")],
        ["plan", f, "--as-of", "2026-13-45"],
        ["weekly", "--scenario", f, "--as-of", "yesterday"],
        ["frontier", f, "--sweep", "weekly_budget=nan"],
        ["frontier", f, "--sweep", "weekly_budget=0:1:1000000000"],
        ["runs", "--runs-dir", f],
        ["report", e],
        ["report", e, "--format", "docx"],
        ["compare", e, f],
        ["evaluate", e, "--data", str(folder / "nope")],
        ["serve", "--data", str(folder / "nope"), "--port", "-1"],
    ]


def test_no_command_prints_a_traceback_for_bad_arguments(tmp_path: Path) -> None:
    """Every command answers bad input with a located message and exit 2 (or 1 for a stated
    failure), never a traceback: before, a date such as 2026-13-45 or `yesterday` was a
    DateParseError traceback with exit 1, and `ltv runs` read a file as an empty runs folder."""
    runner = CliRunner()
    for arguments in _bad_arguments(tmp_path):
        result = runner.invoke(app, arguments)
        assert result.exit_code in (1, 2), (arguments, result.output)
        assert "Traceback" not in result.output, arguments
        assert result.exception is None or isinstance(result.exception, SystemExit), arguments


def test_a_run_folder_linked_to_outside_the_runs_folder_is_refused_in_one_line(
    small_market_dir: Path, tmp_path: Path
) -> None:
    """A link named as the run's id that leads out of the runs folder was refused, but with a
    traceback; it is a located line and exit 2, and the link is never followed."""
    from tests.run_helpers import SCENARIO, plan_small

    scenario = tmp_path / "small.yaml"
    scenario.write_text(SCENARIO)
    first = plan_small(scenario, small_market_dir, tmp_path / "elsewhere")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / first.run_id).symlink_to(first.folder)
    from tests.conftest import SMALL_AS_OF

    result = CliRunner().invoke(
        app,
        [
            "plan", str(scenario), "--data", str(small_market_dir), "--runs-dir", str(runs),
            "--as-of", f"{SMALL_AS_OF:%Y-%m-%d}", "--device", "cpu",
        ],
    )  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{runs / first.run_id}: not a folder inside {runs} (a link to" in result.output


def test_a_form_field_nested_200000_deep_is_an_error_at_the_field() -> None:
    """The nesting limit of scenario files applies to every form field (a 500 before)."""
    from engine.web.forms import read_form, scenario_form

    groups = scenario_form()
    result = read_form({"name": "x", "actions": "[" * 200_000}, groups)
    assert result.scenario is None
    assert result.errors["actions"] == ["brackets nested 200,000 deep; a field nests at most 20"]
    huge = read_form({"name": "x", "actions": "a" * 300_000}, groups)
    assert huge.errors["actions"][0].startswith("300,000 characters")


def test_two_files_for_one_table_are_refused_naming_both(tmp_path: Path) -> None:
    """transactions.csv beside transactions.parquet: the Parquet was used without a word."""
    data = _shop(tmp_path / "data")
    pd.read_csv(data / "transactions.csv").to_parquet(data / "transactions.parquet")
    with pytest.raises(InputValidationError, match=r"both transactions\.parquet and "):
        load_inputs(data, as_of="2026-11-30", action_ids=["none"])


def test_a_time_just_after_the_as_of_date_is_refused_saying_what_the_date_means(
    tmp_path: Path,
) -> None:
    data = _shop(tmp_path / "data")
    frame = pd.read_csv(data / "transactions.csv")
    frame.loc[0, "ts"] = "2026-11-30 00:00:01"
    frame.to_csv(data / "transactions.csv", index=False)
    with pytest.raises(InputValidationError) as refused:
        load_inputs(data, as_of="2026-11-30", action_ids=["none"])
    assert "a time at or before the as-of, 2026-11-30 00:00:00 (an as-of date means its " in (
        str(refused.value)
    )
    assert "--as-of 2026-12-01 takes in all of 2026-11-30" in str(refused.value)


def test_a_propensity_of_1e_12_is_said_and_weighs_a_row_at_most_1000_times(tmp_path: Path) -> None:
    from engine.logged_outcomes import PROPENSITY_FLOOR, LoggedOutcomes
    from tests.test_logged_outcomes import ACTIONS, synthetic_log

    data = _shop(tmp_path / "data")
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "week_start": ["2026-10-05", "2026-10-05"],
            "action": ["none", "none"],
            "propensity": [1e-12, 0.5],
        }
    ).to_csv(data / "campaign_log.csv", index=False)
    tables = load_inputs(data, as_of="2026-11-30", action_ids=["none"])
    (warning,) = [w for w in tables.warnings if "column 'propensity'" in w]
    assert "1 rows (rows 1...) below 0.01 (as low as 1e-12: inverse weights up to 1e+12" in warning
    log = synthetic_log(400, effect=1.0)
    log.loc[0, "propensity"] = 1e-12
    assert LoggedOutcomes(log, ACTIONS, 1.0).propensity.min() == PROPENSITY_FLOOR


def test_a_run_made_by_other_code_is_not_returned_for_the_same_inputs(monkeypatch) -> None:
    """The run id holds the fingerprint of the code that makes the figures: after an upgrade
    the same scenario, data and week make a new run instead of returning the old one (a rerun
    of the bench got its old runs back when the version was not bumped by hand)."""
    from engine import pipeline, run_folder

    week = pd.Timestamp("2026-11-30")
    first = pipeline._fingerprint("name: x\n", {"transactions.csv": "abc"}, week)
    assert first == pipeline._fingerprint("name: x\n", {"transactions.csv": "abc"}, week)
    assert len(run_folder.code_fingerprint()) == 64
    monkeypatch.setattr(run_folder, "code_fingerprint", lambda: "0" * 64)
    assert pipeline._fingerprint("name: x\n", {"transactions.csv": "abc"}, week) != first
