"""The DuckDB store: validated input tables in one database file, written atomically.

Features are computed from the store in SQL (forecasting/features.py), so the same queries run
on a shop's full history without loading it into Python first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import duckdb
import numpy as np
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


#: Environment variable that sets DuckDB's working memory for file-backed stores (e.g. 8GB).
MEMORY_ENV = "LTV_DUCKDB_MEMORY"


def memory_limit() -> str:
    """DuckDB's memory limit for a file-backed store: $LTV_DUCKDB_MEMORY, else an eighth of
    the machine's memory, at most 2 GiB (the queries stream and spill; more buys no speed
    here: a 100,000-customer log's features took 8.7 s at 1 GB and 8.6 s unbounded)."""
    configured = os.environ.get(MEMORY_ENV)
    if configured:
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", configured.strip()):
            raise ValueError(
                f"{MEMORY_ENV} must be a size such as 4GB or 512MiB. Got {configured!r} instead."
            )
        return configured.strip()
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    return f"{max(min(total // 8, 2 * 2**30) // 2**20, 256)}MiB"


def id_frame(customer_ids: np.ndarray) -> pd.DataFrame:
    """Customer ids as a one-column frame (`customer_id`, text) for a query to read by name
    (`Store.query`'s `frames`): the customers of a shard or a group."""
    return pd.DataFrame({"customer_id": pd.array(customer_ids, dtype="string")})


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
        """The store in the DuckDB file at `path`, its working memory bounded by
        `memory_limit()` (DuckDB spills to disk beyond it; by default it would keep up to 80 %
        of the machine's memory in its buffer pool, which a 1M-customer batch ran into)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no store at {path}; build one with `ltv validate --store`")
        connection = duckdb.connect(str(path), read_only=read_only)
        connection.execute(f"SET memory_limit = '{memory_limit()}'")
        return cls(connection, path)

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
        """Whether the store holds a table `name` (optional tables may be absent)."""
        found = self.connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(found and found[0])

    def query(
        self,
        sql: str,
        parameters: list[object] | None = None,
        *,
        frames: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """The result of one SQL statement (with `?` parameters) as a DataFrame; `frames`
        are data frames the statement reads by name (registered on a cursor of its own)."""
        if not frames:
            return self.connection.execute(sql, parameters or []).df()
        with self.connection.cursor() as cursor:
            for name, frame in frames.items():
                cursor.register(name, frame)
            return cursor.execute(sql, parameters or []).df()

    def summary(self) -> DataSummary:
        """What the store holds, in counts and dates (`ltv validate` prints it)."""
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
        """Whether `table` has the optional column `column`."""
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
