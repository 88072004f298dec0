"""Reliability and security cases that must not come back (issue: run folders that cannot
escape)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine import report as report_module
from engine import run_folder
from engine.cli import app
from engine.cli.runs import EXIT_NO_PLAN
from engine.pipeline import RunResult
from engine.registry import REGISTRY_FILE, RegistryBusyError, RunRecord, RunRegistry
from engine.report import write_reports
from engine.scenario import (
    MAX_DESCRIPTION_CHARACTERS,
    MAX_SCENARIO_BYTES,
    ScenarioError,
    load_scenario,
)
from engine.spreadsheet import neutralised
from engine.valuation import category_capacity
from shopdata import store as store_module
from shopdata.amount_outliers import AmountOutliers
from shopdata.atomic import staged_folder, write_atomically, write_text_atomically
from shopdata.input_errors import InputValidationError
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF
from tests.run_helpers import SCENARIO, copy_runs, hand_run, plan_small


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
    result = plan_small(path, small_market_dir, runs)
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
    small_market_dir: Path, small_run: RunResult, tmp_path: Path
) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    folder = copy_runs(small_run.folder, tmp_path / "runs")  # the session's run (conftest)
    runs = folder.parent
    (runs / REGISTRY_FILE).unlink()  # the registry was busy when the run was committed
    again = plan_small(path, small_market_dir, runs)
    assert again.reused and again.folder == folder
    assert list(RunRegistry(runs).table()["run_id"]) == [small_run.run_id]


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


def _shop(customers: int = 40) -> dict[str, pd.DataFrame]:
    """A plausible small shop: each customer buys three baskets of 20-60."""
    rng = np.random.default_rng(0)
    ids = np.repeat([f"c{i}" for i in range(customers)], 3)
    return {
        "transactions": pd.DataFrame(
            {
                "customer_id": ids,
                "ts": pd.date_range("2025-01-01", periods=len(ids), freq="D").astype(str),
                "amount": rng.uniform(20, 60, len(ids)).round(2).astype(str),
            }
        ),
        "customers": pd.DataFrame({"customer_id": [f"c{i}" for i in range(customers)]}),
    }


def _folder(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_an_absurd_amount_is_refused_with_its_row_or_kept_with_a_warning(tmp_path: Path) -> None:
    tables = _shop()
    tables["transactions"].loc[7, "amount"] = "1e12"
    folder = _folder(tmp_path, tables)
    with pytest.raises(InputValidationError) as refused:
        load_inputs(folder, as_of="2026-01-01")
    message = str(refused.value)
    assert "transactions.csv, column 'amount'" in message
    assert "amounts such as 1,000,000,000,000.00" in message and "(row 8)" in message
    kept = load_inputs(folder, as_of="2026-01-01", outliers=AmountOutliers(action="warn"))
    assert len(kept.transactions) == 120
    assert kept.warnings and "rows 8" in kept.warnings[0]


def test_one_customer_far_from_their_own_baskets_is_caught_too(tmp_path: Path) -> None:
    tables = _shop()
    tables["transactions"].loc[[0, 1], "amount"] = "0.01"  # c0: two tiny baskets and one normal
    with pytest.raises(InputValidationError, match="column 'amount'"):
        load_inputs(_folder(tmp_path, tables), as_of="2026-01-01")
    assert load_inputs(
        _folder(tmp_path, tables),
        as_of="2026-01-01",
        outliers=AmountOutliers(z_threshold=50),
    ).transactions["amount"].min() == pytest.approx(0.01)


def test_a_header_only_table_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    tables = _shop()
    tables["transactions"] = tables["transactions"].iloc[:0]
    folder = _folder(tmp_path, tables)
    with pytest.raises(InputValidationError, match=r"transactions.csv: expected at least one data"):
        load_inputs(folder, as_of="2026-01-01")
    result = CliRunner().invoke(
        app, ["validate", "--data", str(folder), "--store", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 2 and "a header only" in result.output
    assert not (tmp_path / "s.duckdb").exists()


@pytest.mark.parametrize("year", ["0001-01-01", "1677-09-22", "1900-05-01"])
def test_times_before_1970_are_named_not_a_traceback(tmp_path: Path, year: str) -> None:
    tables = _shop()
    tables["transactions"].loc[3, "ts"] = year
    with pytest.raises(InputValidationError, match=r"column 'ts'.*\(row 4\)"):
        load_inputs(_folder(tmp_path, tables), as_of="2026-01-01")


def test_years_outside_pandas_range_in_parquet_are_named(tmp_path: Path) -> None:
    tables = _shop()
    folder = _folder(tmp_path, tables)
    frame = pd.read_csv(folder / "transactions.csv")
    stamps = pd.to_datetime(frame["ts"]).astype("datetime64[us]").to_numpy().copy()
    stamps[5] = np.datetime64("0001-01-01", "us")
    table = pa.table(
        {"customer_id": frame["customer_id"], "ts": pa.array(stamps), "amount": frame["amount"]}
    )
    (folder / "transactions.csv").unlink()
    pq.write_table(table, folder / "transactions.parquet")
    with pytest.raises(InputValidationError, match=r"column 'ts'.*\(row 6\)"):
        load_inputs(folder, as_of="2026-01-01")


def test_unknown_customers_are_shown_with_examples_from_both_sides(tmp_path: Path) -> None:
    tables = _shop()
    tables["transactions"]["customer_id"] = tables["transactions"]["customer_id"] + ".0"
    with pytest.raises(InputValidationError) as error:
        load_inputs(_folder(tmp_path, tables), as_of="2026-01-01")
    assert "unknown customers such as 'c0.0', 'c1.0'" in str(error.value)
    assert "which has e.g. 'c0', 'c1', 'c2'" in str(error.value)


def test_a_file_given_for_the_data_folder_is_named_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "transactions.csv"
    path.write_text("customer_id,ts,amount\n")
    with pytest.raises(
        InputValidationError, match="a folder holding the input tables; found a file"
    ):
        load_inputs(path)


def test_an_empty_weekly_capacity_means_no_limit() -> None:
    catalog = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"],
            "category": ["books", "books", "music", "music"],
            "weekly_capacity": [np.nan, np.nan, 5.0, 2.0],
        }
    )
    capacity = category_capacity(catalog, np.array(["books", "music", "games"]))
    assert list(capacity) == [np.inf, 7.0, np.inf]
    catalog.loc[3, "weekly_capacity"] = np.nan  # one unlimited item: the category is unlimited
    assert np.isinf(category_capacity(catalog, np.array(["music"]))).all()


def test_a_store_write_that_fails_midway_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = load_inputs(_folder(tmp_path, _shop()), as_of="2026-01-01")
    target = tmp_path / "out" / "inputs.duckdb"

    def full_disk(connection, tables) -> None:
        connection.execute("CREATE TABLE half (x INTEGER)")
        connection.execute("INSERT INTO half VALUES (1)")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_load", full_disk)
    with pytest.raises(OSError, match="No space"):
        Store.create(tables, target)
    assert list(target.parent.iterdir()) == []  # no store, no temporary, no .wal


@pytest.mark.parametrize("command", ["report", "compare", "evaluate"])
def test_a_folder_that_is_not_a_run_is_named_in_one_line_and_left_alone(
    tmp_path: Path, command: str
) -> None:
    foreign = tmp_path / "holiday_photos"
    foreign.mkdir()
    (foreign / "beach.jpg").write_bytes(b"\xff\xd8")
    damaged, _ = hand_run(tmp_path / "damaged-2026-11-30-abc")
    (damaged / "solution.json").write_text('{"status": "optimal", "objective": "abc"}')
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    for folder in (foreign, damaged, tmp_path / "beach.jpg"):
        arguments = [command, str(folder)] + ([str(folder)] if command == "compare" else [])
        result = CliRunner().invoke(app, arguments)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) <= 2, result.output
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before  # nothing written


def test_a_plan_too_long_for_a_sheet_is_cut_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = hand_run(tmp_path / "run")
    monkeypatch.setattr(report_module, "MAX_SHEET_ROWS", 1)  # the hand plan has 2 contacts
    (xlsx,) = write_reports(folder, ("xlsx",))
    with zipfile.ZipFile(xlsx) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "the plan has 2 contacts; this sheet shows the first 1" in strings


def test_a_file_store_bounds_duckdb_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tables = load_inputs(_folder(tmp_path, _shop()), as_of="2026-01-01")
    Store.create(tables, tmp_path / "inputs.duckdb").close()
    with Store.open(tmp_path / "inputs.duckdb") as store:
        (limit,) = store.connection.execute("SELECT current_setting('memory_limit')").fetchone()
    number, unit = limit.split()
    assert float(number) * {"MiB": 1, "GiB": 1024}[unit] <= 2048  # at most 2 GiB
    monkeypatch.setenv(store_module.MEMORY_ENV, "300MiB")
    with Store.open(tmp_path / "inputs.duckdb") as store:
        (limit,) = store.connection.execute("SELECT current_setting('memory_limit')").fetchone()
    assert limit.startswith("300")
    monkeypatch.setenv(store_module.MEMORY_ENV, "lots")
    with pytest.raises(ValueError, match="LTV_DUCKDB_MEMORY must be a size"):
        Store.open(tmp_path / "inputs.duckdb")
