"""Runs the web page starts: each a worker process (engine/web/worker.py) whose status file
lives in `<runs>/.jobs/`, so the page can be closed, reopened or the server restarted while a
run goes on; a job whose worker died without saying so is shown as failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from shopdata.atomic import write_text_atomically

JOBS_FOLDER = ".jobs"


@dataclass(frozen=True)
class Job:
    """A run started from the page: its id, kind (plan or frontier), state (running, finished,
    failed), the latest message, all messages, and the run id or error once known."""

    id: str
    kind: str
    scenario: str
    state: str
    message: str
    messages: tuple[dict[str, str], ...]
    run_id: str | None
    error: str | None
    sweep: str | None
    counted: dict[str, object] | None = None  # the counted step under way (run_progress)
    warnings: tuple[str, ...] = ()  # what the run warned of (a missing campaign log, ...)

    @property
    def done(self) -> bool:
        return self.state != "running"


class JobManager:
    """Starts worker processes and reads their status files."""

    def __init__(self, runs_dir: Path, data_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.data_dir = data_dir
        self.folder = runs_dir / JOBS_FOLDER
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, scenario: Path, *, as_of: str | None = None, sweep: str | None = None) -> str:
        """Start planning `scenario` on the server's data (with `sweep`, a frontier); returns
        the job id."""
        self.folder.mkdir(parents=True, exist_ok=True)
        job_id = uuid.uuid4().hex[:12]
        status = self.folder / f"{job_id}.json"
        write_text_atomically(
            status,
            json.dumps(
                {
                    "id": job_id,
                    "kind": "frontier" if sweep else "plan",
                    "scenario": scenario.stem,
                    "sweep": sweep,
                    "state": "running",
                    "message": "starting",
                    "messages": [],
                }
            ),
        )
        command = [
            sys.executable, "-m", "engine.web.worker", "--status", str(status),
            "--scenario", str(scenario), "--data", str(self.data_dir),
            "--runs-dir", str(self.runs_dir),
        ]  # fmt: skip
        if as_of:
            command += ["--as-of", as_of]
        if sweep:
            command += ["--sweep", sweep]
        log = (self.folder / f"{job_id}.log").open("wb")
        self._processes[job_id] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return job_id

    def get(self, job_id: str) -> Job | None:
        """The job's status, or None for an id the server never gave out."""
        if not job_id.isalnum() or len(job_id) != 12:
            return None
        path = self.folder / f"{job_id}.json"
        if not path.is_file():
            return None
        status = json.loads(path.read_text())
        if status.get("state") == "running" and not self._alive(job_id, status.get("pid")):
            log = self.folder / f"{job_id}.log"
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            status.update(state="failed", error=f"the run's process ended without a word: {tail}")
        return Job(
            id=status["id"],
            kind=status.get("kind", "plan"),
            scenario=status.get("scenario", ""),
            state=status["state"],
            message=status.get("message", ""),
            messages=tuple(status.get("messages", [])),
            run_id=status.get("run_id"),
            error=status.get("error"),
            sweep=status.get("sweep"),
            counted=status.get("counted") if status["state"] == "running" else None,
            warnings=tuple(status.get("warnings", [])),
        )

    def all(self) -> list[Job]:
        """Every job this runs folder has seen, newest first."""
        if not self.folder.is_dir():
            return []
        paths = sorted(self.folder.glob("*.json"), key=os.path.getmtime, reverse=True)
        return [job for p in paths if (job := self.get(p.stem)) is not None]

    def _alive(self, job_id: str, pid: object) -> bool:
        process = self._processes.get(job_id)
        if process is not None:
            return process.poll() is None
        if not isinstance(pid, int) or pid <= 0:
            return True  # started by another server and not yet written its pid: give it time
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
