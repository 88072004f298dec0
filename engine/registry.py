"""The run registry: every run, its inputs' fingerprints, scenario, status and key figures, in a
DuckDB file beside the run folders. A weekly batch looks itself up here to stay idempotent."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pandas as pd

REGISTRY_FILE = "registry.duckdb"

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
    def __init__(self, runs_dir: Path | str) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / REGISTRY_FILE

    def _connect(self) -> duckdb.DuckDBPyConnection:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(str(self.path))
        connection.execute(_SCHEMA)
        return connection

    def record(self, run: RunRecord) -> None:
        values = asdict(run)
        with self._connect() as connection:
            connection.execute("DELETE FROM runs WHERE run_id = ?", [run.run_id])
            connection.execute(
                f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )

    def find(self, run_id: str) -> RunRecord | None:
        with self._connect() as connection:
            row = connection.execute("SELECT * FROM runs WHERE run_id = ?", [run_id]).fetchone()
            names = [d[0] for d in connection.description]
        return RunRecord(**dict(zip(names, row, strict=True))) if row else None

    def table(self) -> pd.DataFrame:
        with self._connect() as connection:
            return connection.execute("SELECT * FROM runs ORDER BY created").df()
