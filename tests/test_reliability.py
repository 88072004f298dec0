"""Reliability and security cases that must not come back (issue: run folders that cannot
escape)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine import run_folder
from engine.cli import app
from engine.cli.runs import EXIT_NO_PLAN
from engine.pipeline import run_pipeline
from engine.registry import REGISTRY_FILE, RegistryBusyError, RunRecord, RunRegistry
from engine.report import write_reports
from engine.scenario import (
    MAX_DESCRIPTION_CHARACTERS,
    MAX_SCENARIO_BYTES,
    ScenarioError,
    load_scenario,
)
from engine.spreadsheet import neutralised
from shopdata.atomic import staged_folder, write_atomically, write_text_atomically
from tests.conftest import SMALL_AS_OF
from tests.run_helpers import hand_run
from tests.test_pipeline import SCENARIO


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=400))
def test_any_scenario_name_gives_a_folder_inside_the_runs_folder(name: str) -> None:
    runs = Path("/tmp/ltv-runs-root")
    run_id = run_folder.run_id_for(name, "2026-11-30", "0123456789abcdef")
    folder = run_folder.finished_folder(runs, run_id)
    assert folder.parent == runs and folder.name == run_id
    assert "\n" not in run_id and "/" not in run_id and not run_id.startswith(".")
    assert len(run_id) <= run_folder.MAX_NAME_CHARACTERS + len("-2026-11-30-0123456789")


def test_a_scenario_named_like_a_path_runs_inside_the_runs_folder(
    small_market_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "escape.yaml"
    path.write_text(SCENARIO.replace("name: small", "name: ../../escape"))
    runs = tmp_path / "deep" / "runs"
    result = run_pipeline(
        path,
        data_dir=small_market_dir,
        runs_dir=runs,
        as_of=f"{SMALL_AS_OF:%Y-%m-%d}",
        device="cpu",
    )
    assert result.folder.parent == runs
    assert result.folder.name.startswith("_.._escape-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "escape.yaml"]


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "report.xlsx"
    target.write_text("the good report")

    def half_write(path) -> None:
        path.write_text("half")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        write_atomically(target, half_write)
    assert target.read_text() == "the good report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.xlsx"]


def test_concurrent_atomic_writers_use_their_own_temporaries(tmp_path) -> None:
    target = tmp_path / "kpis.json"
    seen: list[str] = []

    def outer(path) -> None:
        seen.append(path.name)
        write_text_atomically(target, "inner")  # a second writer of the same file meanwhile
        path.write_text("outer")

    write_atomically(target, outer)
    assert target.read_text() == "outer"
    assert seen[0].startswith(".kpis.json.") and seen[0] != ".kpis.json.tmp"
    assert [p.name for p in tmp_path.iterdir()] == ["kpis.json"]


def test_a_staged_folder_replaces_the_target_only_when_complete(tmp_path) -> None:
    target = tmp_path / "model"
    with staged_folder(target) as staging:
        (staging / "weights.pt").write_text("v1")
    with pytest.raises(RuntimeError), staged_folder(target) as staging:
        (staging / "weights.pt").write_text("v2, half")
        raise RuntimeError("killed")
    assert (target / "weights.pt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


FORMULAS = ('=HYPERLINK("http://evil.example","x")', "=cmd|' /C calc'!A0")


def test_report_xlsx_keeps_formula_like_ids_as_text(tmp_path: Path) -> None:
    folder, _ = hand_run(tmp_path / "run", customer_ids=FORMULAS)
    (xlsx,) = write_reports(folder, ("xlsx",))
    with zipfile.ZipFile(xlsx) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/sheet")]
        xml = "".join(book.read(n).decode() for n in sheets)
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in xml  # no cell holds a formula
    assert "HYPERLINK" in strings  # the id is there, as text
    assert not any(n.startswith("xl/worksheets/_rels") for n in book.namelist())  # no links


def test_csv_exports_neutralise_what_a_spreadsheet_would_run() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [*FORMULAS, "+1", "-2", "@SUM(A1)", "\tx", "plain"],
            "value": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    safe = neutralised(frame)
    assert list(safe["customer_id"]) == [
        "'" + FORMULAS[0],
        "'" + FORMULAS[1],
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "plain",
    ]
    assert list(safe["value"]) == list(frame["value"])  # numbers, negative ones too, untouched


def test_oversized_or_deeply_nested_scenarios_are_refused_before_parsing(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text(SCENARIO + "# " + "x" * MAX_SCENARIO_BYTES + "\n")
    with pytest.raises(ScenarioError, match=r"huge.yaml: [\d,]+ bytes; a scenario file may hold"):
        load_scenario(huge)
    long_description = tmp_path / "long.yaml"
    long_description.write_text(
        SCENARIO.replace("A small test scenario.", "y" * (MAX_DESCRIPTION_CHARACTERS + 1))
    )
    with pytest.raises(ScenarioError, match="description: String should have at most"):
        load_scenario(long_description)
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: x\nactions: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ScenarioError, match="brackets nested 100000 deep"):
        load_scenario(nested)
    folder = tmp_path / "a_folder.yaml"
    folder.mkdir()
    with pytest.raises(ScenarioError, match="is a folder"):
        load_scenario(folder)


def test_a_busy_registry_is_waited_for_and_read_only_readers_need_no_write(
    tmp_path: Path,
) -> None:
    registry = RunRegistry(tmp_path, busy_timeout_s=30)
    assert registry.table().empty and registry.find("nothing") is None  # no file: nothing
    assert not (tmp_path / REGISTRY_FILE).exists()  # reading created nothing
    registry.record(_record("a"))
    holder = subprocess.Popen(  # another program holds the database open for writing
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); time.sleep(2)",
            str(tmp_path / REGISTRY_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    registry.record(_record("b"))  # retried until the holder lets go
    holder.wait()
    assert sorted(registry.table()["run_id"]) == ["a", "b"]
    impatient = RunRegistry(tmp_path, busy_timeout_s=0.2)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); time.sleep(3)",
            str(tmp_path / REGISTRY_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    with pytest.raises(RegistryBusyError, match="held open by another program"):
        impatient.record(_record("c"))
    holder.wait()


def _record(run_id: str) -> RunRecord:
    return RunRecord(
        run_id, dt.datetime(2026, 12, 1), "s", dt.date(2026, 11, 30), "f", "optimal", "highs",
        1.0, 1.0, 0.0, 10, 2, 3.0, 4.0, f"/runs/{run_id}",
    )  # fmt: skip


def test_a_finished_run_missing_from_the_registry_is_registered_not_redone(
    small_market_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    runs = tmp_path / "runs"
    arguments = {
        "data_dir": small_market_dir,
        "runs_dir": runs,
        "as_of": f"{SMALL_AS_OF:%Y-%m-%d}",
        "device": "cpu",
    }
    first = run_pipeline(path, **arguments)
    (runs / REGISTRY_FILE).unlink()  # the registry was busy when the run was committed
    again = run_pipeline(path, **arguments)
    assert again.reused and again.folder == first.folder
    assert list(RunRegistry(runs).table()["run_id"]) == [first.run_id]


def test_two_identical_runs_started_together_give_one_run(
    small_market_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    runs = tmp_path / "runs"
    command = [
        str(Path(sys.executable).with_name("ltv")), "plan", str(path),
        "--data", str(small_market_dir), "--runs-dir", str(runs),
        "--as-of", f"{SMALL_AS_OF:%Y-%m-%d}", "--device", "cpu",
    ]  # fmt: skip
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = [process.communicate(timeout=600) for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    folders = {stdout.strip().splitlines()[-1] for stdout, _ in outputs}
    assert len(folders) == 1
    assert sum("not recomputed" in stdout for stdout, _ in outputs) == 1
    assert len(RunRegistry(runs).table()) == 1
    assert not [p for p in runs.iterdir() if p.name.endswith((".partial", ".tmp"))]


def test_an_infeasible_run_exits_with_its_own_code(small_market_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "impossible.yaml"
    path.write_text(
        SCENARIO.replace("name: small", "name: impossible").replace(
            "weekly_revenue_floor: {share_of_baseline: 0.97}", "weekly_revenue_floor: 1.0e+9"
        )
    )
    result = CliRunner().invoke(
        app,
        [
            "plan",
            str(path),
            "--data",
            str(small_market_dir),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--as-of",
            f"{SMALL_AS_OF:%Y-%m-%d}",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == EXIT_NO_PLAN == 3, result.output
    assert "infeasible" in result.output
    assert Path(result.output.strip().splitlines()[-1]).is_dir()  # the folder explains it
