"""One planner run started from the web page, in a process of its own: the weekly pipeline
(`ltv plan` / `ltv frontier`'s work) with its progress written to a status file the page reads.

    python -m engine.web.worker --status FILE --scenario S --data DIR --runs-dir DIR
        [--as-of DATE] [--sweep PARAMETER=LEVELS]

The status file (JSON, replaced whole at every step) holds: state (running, finished, failed),
the latest progress message, every message with its time, the counted step under way (done of
total and time left: dual evaluations, training epochs, frontier points), and at the end the run
id and folder or the error. A run killed with its worker resumes from its last finished stage
when started again (the pipeline's own staging), so a closed browser or a restarted server
loses nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
from pathlib import Path

from engine.run_progress import CountThrottle, WarningsTo
from shopdata.atomic import write_text_atomically
from shopdata.progress import Progress


class StatusFile:
    """The job's status as the page sees it, rewritten whole at each change."""

    def __init__(self, path: Path, job: dict[str, object]) -> None:
        self.path = path
        self.status: dict[str, object] = {**job, "state": "running", "messages": [], "pid": 0}
        self._throttle = CountThrottle()

    def update(self, **fields: object) -> None:
        self.status.update(fields)
        write_text_atomically(self.path, json.dumps(self.status, indent=2, default=str) + "\n")

    def progress(self, message: str) -> None:
        messages = list(self.status["messages"])  # type: ignore[arg-type]
        messages.append({"time": dt.datetime.now().isoformat(timespec="seconds"), "text": message})
        self.update(message=message, messages=messages[-200:], counted=None)

    def warn(self, text: str) -> None:
        """A warning of the run, kept apart from the stage messages (the page lists them)."""
        warnings = list(self.status.get("warnings", []))  # type: ignore[call-overload]
        self.update(warnings=[*warnings, text][-50:])

    def count(self, progress: Progress) -> None:
        """The latest counted step (done of total, time left), written at most once a second."""
        if progress.finished:
            self.update(counted=None)
        elif self._throttle.due(progress):
            self.update(counted={**progress.to_dict(), "text": progress.describe()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--scenario", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--as-of")
    parser.add_argument("--sweep")
    args = parser.parse_args()
    status = StatusFile(args.status, json.loads(args.status.read_text()))
    status.update(pid=os.getpid())
    # The run's warnings (the pipeline passes them on to this process's logging), for the page;
    # not the libraries' (Ray's token notice, torch's), which are not about the run.
    logging.getLogger().addHandler(
        WarningsTo(lambda record: status.warn(record.getMessage()), own_only=True)
    )
    # Imported after the status is written: the page shows "starting" while torch loads.
    from engine.pipeline import run_pipeline
    from engine.sweep import parse_sweep

    try:
        result = run_pipeline(
            args.scenario,
            data_dir=args.data,
            runs_dir=args.runs_dir,
            as_of=args.as_of,
            device="auto",
            sweep=parse_sweep(args.sweep) if args.sweep else None,
            progress=status.progress,
            counts=status.count,
        )
    except Exception as error:  # every failure is the page's to show, in words
        status.update(state="failed", error=f"{type(error).__name__}: {error}")
        raise SystemExit(1) from None
    status.progress("finished" if not result.reused else "finished earlier: not recomputed")
    status.update(state="finished", run_id=result.run_id, folder=str(result.folder))


if __name__ == "__main__":
    main()
