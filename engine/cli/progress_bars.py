"""The run's progress on the terminal: a spinner with the stage's message and, under it, a bar
for each counted step under way (done of total, elapsed, time left; a count without a bar
where the total is not known in advance, e.g. dual evaluations until convergence)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from shopdata.progress import Progress as Counted

#: Characters of a line's text, so that bar, count, elapsed and time left fit in 100 columns.
DESCRIPTION_WIDTH = 56


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class CountColumn(ProgressColumn):
    """done/total for a step that knows its total, done alone for one that does not (dual
    evaluations), nothing for the stage line (rich's M-of-N column shows "0/?" there)."""

    def render(self, task: Task) -> Text:
        if task.fields.get("stage"):
            return Text("")
        if task.total is None:
            return Text(f"{int(task.completed)}", style="progress.download")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


@dataclass
class RunBars:
    """Callbacks for `run_pipeline(progress=..., counts=...)` drawing on one rich display."""

    display: Progress
    stage: TaskID
    steps: dict[str, TaskID] = field(default_factory=dict)  # the counted steps under way

    def message(self, message: str) -> None:
        self.display.update(self.stage, description=_shorten(message, DESCRIPTION_WIDTH))

    def count(self, counted: Counted) -> None:
        task = self.steps.get(counted.step)
        line = f"  {counted.step} ({counted.unit})" + (f": {counted.note}" if counted.note else "")
        description = _shorten(line, DESCRIPTION_WIDTH)  # leaves the bar and counts room
        if task is None:
            task = self.display.add_task(description, total=counted.total)
            self.steps[counted.step] = task
        self.display.update(task, completed=counted.done, description=description)
        if counted.finished:
            self.display.remove_task(task)
            del self.steps[counted.step]


@contextmanager
def run_bars(console: Console) -> Iterator[RunBars]:
    """A live display on `console` while the block runs (cleared at its end)."""
    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(bar_width=16),
        CountColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with display:
        yield RunBars(display, display.add_task("starting", total=None, stage=True))
