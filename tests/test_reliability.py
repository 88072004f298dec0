"""Reliability and security cases that must not come back (issue: run folders that cannot
escape)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import run_folder
from engine.pipeline import run_pipeline
from tests.conftest import SMALL_AS_OF
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
