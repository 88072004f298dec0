"""The run registry: every run, its inputs' fingerprints, scenario, status and key figures, in a
DuckDB file beside the run folders. A weekly batch looks itself up here to stay idempotent.

Several processes share it: writers take a file lock beside it (`registry.duckdb.lock`) and
retry while another program holds the database open (DuckDB allows one writing process);
readers open it read-only, so `ltv runs` works on a runs folder it may not write to.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import pandas as pd
from filelock import FileLock

T = TypeVar("T")

REGISTRY_FILE = "registry.duckdb"
#: How long a command waits for a registry that another program holds open.
BUSY_TIMEOUT_S = 60.0


class RegistryBusyError(RuntimeError):
    """The registry stayed locked by another program for BUSY_TIMEOUT_S."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    created TIMESTAMP,
    scenario VARCHAR,
    week DATE,
    inputs_fingerprint VARCHAR,
    status VARCHAR,
    backend VARCHAR,
    objective DOUBLE,
    bound DOUBLE,
    gap DOUBLE,
    customers BIGINT,
    contacts BIGINT,
    spend DOUBLE,
    revenue DOUBLE,
    folder VARCHAR
)
"""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    created: dt.datetime
    scenario: str
    week: dt.date
    inputs_fingerprint: str
    status: str
    backend: str
    objective: float
    bound: float
    gap: float
    customers: int
    contacts: int
    spend: float
    revenue: float
    folder: str


class RunRegistry:
    def __init__(self, runs_dir: Path | str, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / REGISTRY_FILE
        self.busy_timeout_s = busy_timeout_s

    def _retrying(self, work: Callable[[], T]) -> T:
        """`work()`, retried with backoff while DuckDB reports the file locked by another
        process; RegistryBusyError after busy_timeout_s."""
        deadline = time.monotonic() + self.busy_timeout_s
        pause = 0.05
        while True:
            try:
                return work()
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() > deadline:
                    raise RegistryBusyError(
                        f"{self.path}: held open by another program for more than "
                        f"{self.busy_timeout_s:.0f} s ({error})"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _write(self, statements: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        self.runs_dir.mkdir(parents=True, exist_ok=True)

        def work() -> T:
            with duckdb.connect(str(self.path)) as connection:
                connection.execute(_SCHEMA)
                return statements(connection)

        with FileLock(str(self.path) + ".lock", timeout=self.busy_timeout_s):
            return self._retrying(work)

    def _read(self, query: Callable[[duckdb.DuckDBPyConnection], T], empty: T) -> T:
        if not self.path.is_file():
            return empty

        def work() -> T:
            with duckdb.connect(str(self.path), read_only=True) as connection:
                tables = connection.execute(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs'"
                ).fetchone()
                return query(connection) if tables and tables[0] else empty

        return self._retrying(work)

    def record(self, run: RunRecord) -> None:
        values = asdict(run)

        def insert(connection: duckdb.DuckDBPyConnection) -> None:
            connection.execute("DELETE FROM runs WHERE run_id = ?", [run.run_id])
            connection.execute(
                f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )

        self._write(insert)

    def find(self, run_id: str) -> RunRecord | None:
        def query(connection: duckdb.DuckDBPyConnection) -> RunRecord | None:
            row = connection.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).fetchone()
            names = [d[0] for d in connection.description]
            return RunRecord(**dict(zip(names, row, strict=True))) if row else None

        return self._read(query, None)

    def table(self) -> pd.DataFrame:
        columns = [name for name in RunRecord.__dataclass_fields__]
        return self._read(
            lambda connection: connection.execute("SELECT * FROM runs ORDER BY created").df(),
            pd.DataFrame(columns=columns),
        )
