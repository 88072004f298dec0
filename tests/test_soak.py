"""The soak, small: weekly runs made concurrently into one runs folder and killed at random
with SIGKILL end complete, registered once, with nothing left behind and each allocation the
one the same run made alone (bench/soak.py; `make bench` runs the 100-run version)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_runs_killed_at_random_and_restarted_end_as_they_would_alone(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    subprocess.run(
        [
            sys.executable, "bench/soak.py", "--scenarios", "5", "--weeks", "2",
            "--customers", "400", "--history-weeks", "30", "--parallel", "4",
            "--kill-every", "4", "--kills-per-run", "1", "--work", str(tmp_path / "work"),
            "--json", str(out),
        ],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    figures = json.loads(out.read_text())
    assert figures["runs"] == 10 and figures["failures"] == []
    assert figures["kills"] >= 1 and figures["restarts"] == figures["kills"]
    assert figures["registered"] == 10
    assert figures["registered_more_than_once"] == [] and figures["missing_from_registry"] == []
    assert figures["leftovers"] == []
    assert figures["mismatches"] == []
