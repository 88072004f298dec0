"""The DuckDB store: validated input tables in one database file, written atomically.

Features are computed from the store in SQL (forecasting/features.py), so the same queries run
on a shop's full history without loading it into Python first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb
import pandas as pd

from shopdata.atomic import write_atomically
from shopdata.validation import InputTables


@dataclass(frozen=True)
class DataSummary:
    """What `ltv validate` prints: the shape of the shop's data."""

    customers: int
    first_ts: pd.Timestamp
    last_ts: pd.Timestamp
    orders: int
    revenue: float
    campaign_arms: dict[str, int]
    reviews: int
    catalog_items: int


class Store:
    """A DuckDB connection over the input tables (`transactions`, `customers`, ...).

    Open an existing file with `Store.open(path)`, or build one from validated tables with
    `Store.create(tables, path)` (atomic: a temporary file renamed into place) or in memory with
    `Store.create(tables)`.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path | None) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, read_only: bool = True) -> Store:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no store at {path}; build one with `ltv validate --store`")
        return cls(duckdb.connect(str(path), read_only=read_only), path)

    @classmethod
    def create(cls, tables: InputTables, path: Path | str | None = None) -> Store:
        """Load the tables into a new store; with a path, the file appears only once complete."""
        if path is None:
            connection = duckdb.connect(":memory:")
            _load(connection, tables)
            return cls(connection, None)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(temporary: Path) -> None:
            wal = temporary.with_name(temporary.name + ".wal")
            try:
                with duckdb.connect(str(temporary)) as connection:
                    _load(connection, tables)
                    connection.execute("CHECKPOINT")
            finally:  # a failed load (a full disk) must not leave DuckDB's log behind
                wal.unlink(missing_ok=True)

        write_atomically(path, write)
        return cls.open(path)

    def has_table(self, name: str) -> bool:
        found = self.connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(found and found[0])

    def query(self, sql: str, parameters: list[object] | None = None) -> pd.DataFrame:
        return self.connection.execute(sql, parameters or []).df()

    def summary(self) -> DataSummary:
        orders_expr = (
            "count(DISTINCT order_id)"
            if self.has_column("transactions", "order_id")
            else "count(*)"
        )
        customers = "SELECT customer_id FROM transactions"
        if self.has_table("customers"):
            customers += " UNION SELECT customer_id FROM customers"
        row = self.connection.execute(
            f"""SELECT (SELECT count(DISTINCT customer_id) FROM ({customers})),
                       min(ts), max(ts), {orders_expr}, coalesce(sum(amount), 0)
                FROM transactions"""
        ).fetchone()
        assert row is not None
        arms: dict[str, int] = {}
        if self.has_table("campaign_log"):
            arms = dict(
                self.connection.execute(
                    "SELECT action, count(*) FROM campaign_log GROUP BY action ORDER BY action"
                ).fetchall()
            )
        return DataSummary(
            customers=int(row[0]),
            first_ts=pd.Timestamp(row[1]),
            last_ts=pd.Timestamp(row[2]),
            orders=int(row[3]),
            revenue=float(row[4]),
            campaign_arms={str(k): int(v) for k, v in arms.items()},
            reviews=self._count("reviews"),
            catalog_items=self._count("catalog"),
        )

    def _count(self, table: str) -> int:
        if not self.has_table(table):
            return 0
        row = self.connection.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def has_column(self, table: str, column: str) -> bool:
        found = self.connection.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
            "AND column_name = ?",
            [table, column],
        ).fetchone()
        return bool(found and found[0])

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _load(connection: duckdb.DuckDBPyConnection, tables: InputTables) -> None:
    connection.execute(
        "CREATE TABLE input_files (table_name VARCHAR, file VARCHAR, sha256 VARCHAR, rows BIGINT)"
    )
    for name, frame in tables.present().items():
        connection.register("incoming", frame)
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming")
        connection.unregister("incoming")
        connection.execute(
            "INSERT INTO input_files VALUES (?, ?, ?, ?)",
            [name, str(tables.files.get(name, "")), tables.fingerprints.get(name, ""), len(frame)],
        )
