"""The input tables of DESIGN §2 and the design of a contacts-only campaign log: which columns
each has, what kind of value each holds.

A contract is data, not code: validation reads it, docs list it, tests parametrise over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ColumnKind(Enum):
    """What a column must hold, and therefore how it is parsed and checked."""

    IDENTIFIER = "a non-empty identifier"
    TIMESTAMP = "a timestamp (ISO 8601, e.g. 2026-11-30 or 2026-11-30T14:05:00)"
    NUMBER = "a finite number"
    TEXT = "text"
    FLAG = "true/false (or 1/0)"


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    required: bool = True


@dataclass(frozen=True)
class TableContract:
    """One input table: its file stem, its columns, and the key that must be unique (if any)."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    unique_key: tuple[str, ...] = ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r} in its contract")


_ID, _TS, _NUM, _TEXT, _FLAG = (
    ColumnKind.IDENTIFIER,
    ColumnKind.TIMESTAMP,
    ColumnKind.NUMBER,
    ColumnKind.TEXT,
    ColumnKind.FLAG,
)

TRANSACTIONS = TableContract(
    name="transactions",
    required=True,
    columns=(
        Column("customer_id", _ID),
        Column("ts", _TS),
        Column("amount", _NUM),
        Column("order_id", _ID, required=False),
        Column("item_id", _ID, required=False),
        Column("category", _TEXT, required=False),
        Column("quantity", _NUM, required=False),
        # A negative amount is accepted only on a row marked as a refund.
        Column("is_refund", _FLAG, required=False),
    ),
)

CUSTOMERS = TableContract(
    name="customers",
    columns=(Column("customer_id", _ID),),
    unique_key=("customer_id",),
)

CAMPAIGN_LOG = TableContract(
    name="campaign_log",
    columns=(
        Column("customer_id", _ID),
        Column("week_start", _TS),
        Column("action", _ID),
        Column("propensity", _NUM, required=False),
        Column("channel", _TEXT, required=False),
    ),
    unique_key=("customer_id", "week_start"),
)

#: How a contacts-only campaign log was assigned (shopdata/campaign_design.py): per campaign
#: week (and stratum), each action's assignment probability; the rest is no contact. Without a
#: week_start column the rows hold in every campaign week (a fixed exploration rate).
CAMPAIGN_DESIGN = TableContract(
    name="campaign_design",
    columns=(
        Column("week_start", _TS, required=False),
        Column("action", _ID),
        Column("probability", _NUM),
        Column("stratum", _ID, required=False),
    ),
)

#: Who was eligible for the designed campaign in which week (and stratum); optional.
CAMPAIGN_ELIGIBLE = TableContract(
    name="campaign_eligible",
    columns=(
        Column("customer_id", _ID),
        Column("week_start", _TS),
        Column("stratum", _ID, required=False),
    ),
    unique_key=("customer_id", "week_start"),
)

REVIEWS = TableContract(
    name="reviews",
    columns=(
        Column("customer_id", _ID),
        Column("ts", _TS),
        Column("text", _TEXT),
        Column("rating", _NUM, required=False),
    ),
)

CATALOG = TableContract(
    name="catalog",
    columns=(
        Column("item_id", _ID),
        Column("category", _TEXT, required=False),
        Column("price", _NUM, required=False),
        Column("margin_rate", _NUM, required=False),
        Column("weekly_capacity", _NUM, required=False),
    ),
    unique_key=("item_id",),
)

CONTRACTS: dict[str, TableContract] = {
    contract.name: contract
    for contract in (
        TRANSACTIONS,
        CUSTOMERS,
        CAMPAIGN_LOG,
        REVIEWS,
        CATALOG,
        CAMPAIGN_DESIGN,
        CAMPAIGN_ELIGIBLE,
    )
}

#: File suffixes an input table may have, in the order they are looked for.
TABLE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv")

#: A list of customer ids a scenario's suppression rule names (a do-not-contact list): one
#: column of ids, each once; not one of the shop's input tables (CONTRACTS), but read and
#: refused as they are.
ID_LIST = TableContract(
    name="id_list",
    columns=(Column("customer_id", _ID),),
    required=False,
    unique_key=("customer_id",),
)
