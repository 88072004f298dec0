"""Errors about the user's input files: each names the file, column, rows and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: How many offending rows a message lists before it says "and N more".
MAX_ROWS_SHOWN = 5


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with one column of one input file.

    `rows` are 1-based data-row numbers (the header is not a row), the same numbering for CSV
    and Parquet; in a CSV file, data row k is on line k + 1.
    """

    file: Path
    column: str | None
    expected: str
    found: str
    rows: tuple[int, ...] = ()
    row_count: int = 0
    #: What the found values most likely are, and the fix (empty where nothing is likely).
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file.name}"
        if self.column is not None:
            where += f", column '{self.column}'"
        text = f"{where}: expected {self.expected}; found {self.found}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = self.row_count - min(len(self.rows), MAX_ROWS_SHOWN)
            plural = "s" if self.row_count != 1 else ""
            text += f" in {self.row_count} row{plural} (row{plural} {shown}"
            text += f" and {more} more)" if more > 0 else ")"
        return f"{text}: {self.hint}" if self.hint else text


def problem_at_rows(
    file: Path,
    column: str | None,
    expected: str,
    found: str,
    row_positions: Sequence[int],
    hint: str = "",
) -> InputProblem:
    """Build a problem from 0-based row positions, keeping the first few as 1-based row numbers."""
    rows = tuple(int(p) + 1 for p in row_positions[:MAX_ROWS_SHOWN])
    return InputProblem(file, column, expected, found, rows, len(row_positions), hint)


class InputValidationError(ValueError):
    """The input files break their contract; `problems` lists every finding, one per column."""

    def __init__(self, problems: Sequence[InputProblem]) -> None:
        if not problems:
            raise ValueError("InputValidationError needs at least one problem")
        self.problems: tuple[InputProblem, ...] = tuple(problems)
        lines = [f"{len(self.problems)} problem(s) in the input files:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
