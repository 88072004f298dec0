"""Counted progress of long steps (dual evaluations, training epochs, frontier points), told to
whoever is watching.

Progress is ambient, like logging: the step that loops calls `counted(...)` and `advance()`
where it is, without every function between it and the caller taking a callback; the caller
that wants it (the weekly pipeline: its progress.json, the command line's progress bar) installs
a sink with `reporting(sink)` around its work. Nothing is installed by default, and then
counting costs one context-variable read per step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Where one counted step stands: `done` of `total` `unit` (total None when it is not
    known in advance, e.g. dual evaluations until convergence), seconds since the step began,
    the estimated seconds left (None without a total or before the first unit), and a note
    on the latest unit (e.g. the dual's remaining predicted decrease)."""

    step: str
    done: int
    total: int | None
    unit: str
    elapsed_s: float
    eta_s: float | None
    note: str = ""
    finished: bool = False

    def describe(self) -> str:
        """One line: '<step>: 12/40 epochs, 35 s left (<note>)'."""
        count = f"{self.done:,}/{self.total:,}" if self.total is not None else f"{self.done:,}"
        text = f"{self.step}: {count} {self.unit}"
        if self.eta_s is not None and not self.finished:
            text += f", about {_duration(self.eta_s)} left"
        return text + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "step": self.step,
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "elapsed_s": round(self.elapsed_s, 2),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "note": self.note,
            "finished": self.finished,
        }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


Sink = Callable[[Progress], None]

_SINK: ContextVar[Sink | None] = ContextVar("ltv_progress_sink", default=None)


@contextmanager
def reporting(sink: Sink) -> Iterator[None]:
    """Send the counted progress of everything run inside the block to `sink`."""
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)


class Counter:
    """One counted step; `advance` after each unit, `finish` at the end (also on leaving a
    `with` block). Estimates time left from the mean time per unit so far."""

    def __init__(self, step: str, total: int | None, unit: str) -> None:
        self.step, self.total, self.unit = step, total, unit
        self.done = 0
        self.started = time.perf_counter()
        self._sink = _SINK.get()
        self._tell("")

    def advance(self, units: int = 1, note: str = "") -> None:
        self.done += units
        self._tell(note)

    def finish(self, note: str = "") -> None:
        self._tell(note, finished=True)
        self._sink = None

    def _tell(self, note: str, finished: bool = False) -> None:
        if self._sink is None:
            return
        elapsed = time.perf_counter() - self.started
        eta = None
        if self.total is not None and self.done > 0:
            eta = max(0.0, elapsed / self.done * (self.total - self.done))
        self._sink(
            Progress(self.step, self.done, self.total, self.unit, elapsed, eta, note, finished)
        )

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, *_: object) -> None:
        if self._sink is not None:
            self.finish()


def counted(step: str, total: int | None, unit: str) -> Counter:
    """Begin counting `step` (told to the installed sink, if any)."""
    return Counter(step, total, unit)
