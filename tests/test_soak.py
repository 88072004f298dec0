"""The soak, small: weekly runs made concurrently into one runs folder and killed at random
with SIGKILL end complete, registered once, with nothing left behind and each allocation the
one the same run made alone (bench/soak.py; `make bench` runs the 100-run version).

Four runs, all at once: each `ltv weekly` is a process of about 14 s on two cores (8 s of them
importing torch and starting), made twice (alone, then soaked) plus once per kill; ten runs took
573 s here, most of CI's ten minutes. The machinery checked is the same; the 100-run soak in
`make bench` is the measurement."""

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
            sys.executable, "bench/soak.py", "--scenarios", "2", "--weeks", "2",
            "--customers", "400", "--history-weeks", "30", "--parallel", "4",
            "--kill-every", "6", "--kills-per-run", "1", "--work", str(tmp_path / "work"),
            "--json", str(out),
        ],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    figures = json.loads(out.read_text())
    assert figures["runs"] == 4 and figures["failures"] == []
    assert figures["kills"] >= 1 and figures["restarts"] == figures["kills"]
    assert figures["registered"] == 4
    assert figures["registered_more_than_once"] == [] and figures["missing_from_registry"] == []
    assert figures["leftovers"] == []
    assert figures["mismatches"] == []
