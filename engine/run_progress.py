"""A run's progress in its folder (progress.json), for a caller that polls it, and passed on to
the caller's own callbacks (the command line's progress bars, the web worker's status file).

progress.json, rewritten whole at each change:

    {"stage": "solve", "message": "solve: 72,000,000 variables, backend lagrangian",
     "started": "2026-12-01T20:10:03", "messages": [{"seconds": 0.0, "message": ...}, ...],
     "counted": {"step": "dual evaluations", "done": 12, "total": null,
                 "unit": "evaluations", "elapsed_s": 221.5, "eta_s": null,
                 "note": "predicted decrease 3.1e-05 of the dual, stopping under 1e-06",
                 "finished": false},
     "warnings": ["no campaign log: no action's effect can be learned, ..."]}

`counted` is the latest counted step (shopdata.progress): dual evaluations, training epochs,
frontier points; a count is written at most once a second, a finished count and every stage
message at once. `warnings` are what the run warned of, in order (also in run.log).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from shopdata.atomic import write_text_atomically
from shopdata.progress import Progress

PROGRESS_FILE = "progress.json"

#: Seconds between two writes of a running count.
COUNT_WRITE_INTERVAL_S = 1.0


class CountThrottle:
    """When a count is worth writing: a step's start and end at once, between them at most
    every COUNT_WRITE_INTERVAL_S (the run's progress.json, the web job's status file)."""

    def __init__(self) -> None:
        self._last = -float("inf")

    def due(self, progress: Progress) -> bool:
        now = time.perf_counter()
        if progress.finished or progress.done == 0 or now - self._last >= COUNT_WRITE_INTERVAL_S:
            self._last = now
            return True
        return False


#: The engine's own packages: their loggers' warnings are the run's (a library's are not).
OWN_PACKAGES = ("ltv", "engine", "forecasting", "optimization", "shopdata", "markets")


class WarningsTo(logging.Handler):
    """Hands every record at WARNING or above to `sink`: the run's warnings to its
    progress.json and the caller (engine/pipeline.py), the web job's to its status file.
    With `own_only`, only records of the engine's own loggers (`OWN_PACKAGES`): a process's
    root logger also hears its libraries (Ray, torch), whose warnings are not the run's."""

    def __init__(
        self, sink: Callable[[logging.LogRecord], None], *, own_only: bool = False
    ) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink
        if own_only:
            self.addFilter(lambda record: record.name.split(".")[0] in OWN_PACKAGES)

    def emit(self, record: logging.LogRecord) -> None:
        self.sink(record)


class RunProgress:
    """Stage messages and counted steps of one run, written to `folder`/progress.json."""

    def __init__(
        self,
        folder: Path,
        on_message: Callable[[str], None] | None = None,
        on_count: Callable[[Progress], None] | None = None,
    ) -> None:
        self.folder = folder
        self.on_message = on_message or (lambda _: None)
        self.on_count = on_count or (lambda _: None)
        self.started = dt.datetime.now()
        self.messages: list[dict[str, object]] = []
        self.counted: dict[str, object] | None = None
        self.warnings: list[str] = []
        self._throttle = CountThrottle()

    def message(self, message: str) -> None:
        """A stage begins or says something: recorded with its time since the start."""
        seconds = (dt.datetime.now() - self.started).total_seconds()
        self.messages.append({"seconds": round(seconds, 2), "message": message})
        self.counted = None  # a new stage: the last count belonged to the one before
        self._write()
        self.on_message(message)

    def warn(self, text: str) -> None:
        """Something the caller should know (a missing campaign log, actions withheld)."""
        self.warnings.append(text)
        self._write()

    def count(self, progress: Progress) -> None:
        """A counted step advanced (the sink `shopdata.progress.reporting` takes)."""
        self.counted = progress.to_dict()
        if self._throttle.due(progress):
            self._write()
        self.on_count(progress)

    def _write(self) -> None:
        latest = self.messages[-1]["message"] if self.messages else ""
        status = {
            "stage": str(latest).split(":", 1)[0],
            "message": latest,
            "started": self.started.isoformat(timespec="seconds"),
            "messages": self.messages,
            "counted": self.counted,
            "warnings": self.warnings,
        }
        write_text_atomically(self.folder / PROGRESS_FILE, json.dumps(status, indent=2) + "\n")
