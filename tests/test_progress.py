"""Counted progress: the count, total and time left of long steps reach whoever watches (a
sink installed around the work, the run's progress.json, the web job's status file), and cost
nothing when nobody does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import engine.run_progress as run_progress
import shopdata.progress as progress_module
from engine.run_progress import PROGRESS_FILE, RunProgress
from engine.web.jobs import JobManager
from engine.web.worker import StatusFile
from optimization.frontier import frontier
from optimization.instances import random_problem
from optimization.settings import SolveSettings
from optimization.solve import solve
from shopdata.progress import Progress, counted, reporting


def test_a_counter_says_done_of_total_and_the_time_left(monkeypatch) -> None:
    clock = iter([100.0, 100.0, 110.0, 120.0, 130.0])  # start, begun, two units, finish
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    events: list[Progress] = []
    with reporting(events.append):
        counter = counted("training", 4, "epochs")  # starts at 100 s
        counter.advance()  # 110 s: 1 of 4 in 10 s, 30 s left
        counter.advance(note="loss 0.5")  # 120 s: 2 of 4 in 20 s, 20 s left
        counter.finish()
    assert [(e.done, e.total, e.finished) for e in events] == [
        (0, 4, False),
        (1, 4, False),
        (2, 4, False),
        (2, 4, True),
    ]
    assert events[0].eta_s is None  # nothing done yet: no estimate
    assert events[1].eta_s == pytest.approx(30.0) and events[2].eta_s == pytest.approx(20.0)
    assert events[2].describe() == "training: 2/4 epochs, about 20 s left (loss 0.5)"


def test_counts_go_only_to_the_sink_installed_around_them() -> None:
    events: list[Progress] = []
    with reporting(events.append):
        pass
    with counted("unwatched", None, "steps") as counter:  # no sink: nothing is told
        counter.advance()
    assert events == []
    with reporting(events.append), counted("open-ended", None, "evaluations") as counter:
        counter.advance(3)
    assert events[-1].done == 3 and events[-1].total is None and events[-1].eta_s is None
    assert events[-1].finished and "3 evaluations" in events[-1].describe()


def test_the_dual_and_the_frontier_count_their_work() -> None:
    problem = random_problem(300, weeks=4, seed=3)
    events: list[Progress] = []
    settings = SolveSettings(time_limit_s=60.0, relative_gap=1e-3)
    with reporting(events.append):
        solution = solve(problem, "lagrangian", settings)
    dual = [e for e in events if e.step == "dual evaluations"]
    with reporting(events.append):
        frontier(problem, "weekly_budget", [0.0, 50.0, 100.0], backend="highs", settings=settings)
    assert dual[-1].finished and dual[-1].total is None
    evaluations = int(solution.notes[0].split(" evaluations")[0].split()[-1])
    assert dual[-1].done == evaluations  # the repair answers through its groups, not the dual
    assert [e.done for e in dual] == sorted(e.done for e in dual)
    points = [e for e in events if e.step == "frontier over weekly_budget"]
    assert [(e.done, e.total) for e in points] == [(0, 3), (1, 3), (2, 3), (3, 3), (3, 3)]
    assert points[-1].finished and "weekly_budget = 100.00" in points[-2].note


def test_the_run_folder_and_the_web_job_show_the_latest_count(tmp_path: Path, monkeypatch) -> None:
    told: list[Progress] = []
    run = RunProgress(tmp_path, on_count=told.append)
    run.message("solve: 100 variables, backend lagrangian")
    with reporting(run.count), counted("dual evaluations", None, "evaluations") as counter:
        counter.advance(note="predicted decrease 1e-3")
        written = json.loads((tmp_path / PROGRESS_FILE).read_text())
    assert written["stage"] == "solve"
    assert written["counted"]["step"] == "dual evaluations"  # the first count is written at once
    assert len(told) == 3  # begun, advanced, finished
    final = json.loads((tmp_path / PROGRESS_FILE).read_text())
    assert final["counted"]["finished"] and final["counted"]["done"] == 1
    run.message("report: HTML, XLSX, PDF")
    assert json.loads((tmp_path / PROGRESS_FILE).read_text())["counted"] is None
    run.warn("no campaign log")  # kept apart from the stage messages, which it does not change
    after = json.loads((tmp_path / PROGRESS_FILE).read_text())
    assert after["warnings"] == ["no campaign log"] and after["stage"] == "report"

    jobs = JobManager(tmp_path / "runs", tmp_path)
    jobs.folder.mkdir(parents=True)
    job_file = jobs.folder / "abcdef123456.json"
    job = {"id": "abcdef123456", "kind": "plan", "scenario": "base", "messages": []}
    monkeypatch.setattr(run_progress, "COUNT_WRITE_INTERVAL_S", 0.0)  # every count written
    status = StatusFile(job_file, job)
    status.update(pid=os.getpid())
    with reporting(status.count), counted("training", 10, "epochs at most") as counter:
        counter.advance(4)
        seen = jobs.get("abcdef123456")
    assert seen is not None and seen.counted is not None
    assert seen.counted["done"] == 4 and seen.counted["total"] == 10
    assert str(seen.counted["text"]).startswith("training: 4/10 epochs at most")
    shown = jobs.get("abcdef123456")
    assert shown is not None and shown.counted is None  # finished: the count is cleared
    status.warn("no campaign log")
    warned = jobs.get("abcdef123456")
    assert warned is not None and warned.warnings == ("no campaign log",)
    assert np.isfinite(float(written["counted"]["elapsed_s"]))


def test_the_job_page_shows_the_count_with_a_bar() -> None:
    import jinja2

    import engine.web.app as web_app
    from engine.web.jobs import Job

    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(web_app.__file__).parent / "templates"),
        autoescape=True,
    )
    counted_step = {"done": 4, "total": 10, "text": "training: 4/10 epochs at most, about 6 s left"}
    job = Job("abcdef123456", "plan", "base", "running", "forecast: fitting", (), None, None, None,
              counted=counted_step)  # fmt: skip
    html = templates.get_template("job_status.html.j2").render(job=job, points=[])
    assert '<progress max="10" value="4"></progress>' in html
    assert "about 6 s left" in html
    idle = templates.get_template("job_status.html.j2").render(
        job=Job("abcdef123456", "plan", "base", "running", "solve", (), None, None, None),
        points=[],
    )
    assert "<progress" not in idle and 'id="warnings"' not in idle
    warned = templates.get_template("job_status.html.j2").render(
        job=Job("abcdef123456", "plan", "base", "finished", "finished", (), None, None, None,
                warnings=("no campaign log: <none>",)),
        points=[],
    )  # fmt: skip
    assert '<li class="warning">warning: no campaign log: &lt;none&gt;</li>' in warned


def test_the_terminal_bars_count_steps_and_leave_the_stage_line_uncounted() -> None:
    from rich.console import Console

    from engine.cli.progress_bars import run_bars
    from shopdata.progress import Progress

    console = Console(record=True, width=120, force_terminal=False)
    with run_bars(console) as bars:
        bars.message("solve: the decomposition")
        bars.count(Progress("dual evaluations", 7, None, "evaluations", 3.0, None))
        bars.count(Progress("training epochs", 4, 10, "epochs", 2.0, 3.0))
        lines = [
            "".join(segment.text for segment in line)
            for line in console.render_lines(bars.display.get_renderable())
        ]
    stage = next(line for line in lines if "solve: the decomposition" in line)
    assert "/?" not in stage and "0/" not in stage
    dual = next(line for line in lines if "dual evaluations" in line)
    assert " 7 " in dual and "7/" not in dual
    epochs = next(line for line in lines if "training epochs" in line)
    assert "4/10" in epochs


def test_only_the_engines_own_warnings_are_the_runs() -> None:
    """The web job hears its process's root logger, libraries included; it keeps the
    engine's warnings (the pipeline's, the forecasters') and not Ray's or torch's."""
    import logging

    from engine.run_progress import WarningsTo

    heard: list[str] = []
    root = logging.getLogger()
    handler = WarningsTo(lambda record: heard.append(record.getMessage()), own_only=True)
    root.addHandler(handler)
    try:
        logging.getLogger("engine.release_gate").warning("every action withheld")
        logging.getLogger("forecasting.baseline").warning("campaign log sampled")
        logging.getLogger("ray._private.worker").warning("token authentication is enabled")
        logging.getLogger("torch").warning("a torch notice")
        logging.getLogger("engine.pipeline").info("stage line")  # below WARNING
    finally:
        root.removeHandler(handler)
    assert heard == ["every action withheld", "campaign log sampled"]
