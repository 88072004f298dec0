"""Read the input tables of DESIGN §2 from CSV or Parquet and check them against their contracts.

This is the one place input is checked: everything downstream receives an `InputTables` and
trusts it. All problems are collected before anything is raised, so a user fixes a file once.
One file read and parsed column by column: `shopdata/table_checker.py`; the campaign log's
control rows, propensity warnings and action hints: `shopdata/campaign_log_checks.py`; the
rules across columns and tables, and the loading, here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shopdata.amount_outliers import AmountOutliers, check_amount_outliers
from shopdata.arrow_columns import duplicated_rows, member_mask
from shopdata.campaign_log_checks import (
    UnidentifiedEffects,
    action_hints,
    complete_campaign_log,
    tiny_propensities,
    unlogged_propensities,
)
from shopdata.contracts import CONTRACTS, TABLE_SUFFIXES
from shopdata.input_errors import InputProblem, InputValidationError
from shopdata.table_checker import (
    MAX_ID_CHARACTERS,
    TableChecker,
    read_id_list,
    read_raw,
)

__all__ = [
    "MAX_ID_CHARACTERS",
    "NO_CAMPAIGN_LOG",
    "InputTables",
    "UnidentifiedEffects",
    "file_fingerprint",
    "find_table_file",
    "load_inputs",
    "read_id_list",
]

#: Times before this are not a shop's data (and near pandas' limits of 1677 and 2262).
EARLIEST_TIME = pd.Timestamp("1970-01-01")


#: What a shop without a campaign log means for its plans (the batch and `ltv validate` warn).
NO_CAMPAIGN_LOG = (
    "no campaign log: no action's effect can be learned, so no contact is worth more than it "
    "costs (docs/inputs.md says what the log holds)"
)


@dataclass(frozen=True)
class InputTables:
    """The validated input tables, typed: ids are strings, times are naive UTC datetimes.

    Tables that were not supplied are None (only transactions is required).
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame | None
    campaign_log: pd.DataFrame | None
    reviews: pd.DataFrame | None
    catalog: pd.DataFrame | None
    files: dict[str, Path] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    campaign_design: pd.DataFrame | None = None
    campaign_eligible: pd.DataFrame | None = None
    #: How `campaign_log` came about: as given, derived from a contacts-only log and its design,
    #: or dropped (no control group, effects declared unidentified); '' without a log.
    campaign_log_origin: str = ""
    #: Findings kept by choice (amount outliers with `AmountOutliers(action="warn")`), in words.
    warnings: tuple[str, ...] = ()

    def present(self) -> dict[str, pd.DataFrame]:
        """The supplied tables by name."""
        tables = {name: getattr(self, name) for name in CONTRACTS}
        return {name: frame for name, frame in tables.items() if frame is not None}


def find_table_file(data_dir: Path, table: str) -> Path | None:
    """The file holding `table` in `data_dir` (Parquet preferred over CSV), or None."""
    for suffix in TABLE_SUFFIXES:
        candidate = data_dir / f"{table}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def file_fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes: the identity of an input for idempotent runs."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_rules(
    name: str,
    table: pd.DataFrame,
    checker: TableChecker,
    as_of: pd.Timestamp,
    action_ids: Collection[str] | None,
    outliers: AmountOutliers,
) -> None:
    """Rules beyond one cell's type: time order, signs, ranges, duplicates, known actions."""
    flag = checker.flag
    for column in ("ts", "week_start"):
        if column in table.columns:
            future = (table[column] > as_of).to_numpy()
            day = as_of == as_of.normalize()  # a date given: its first moment
            flag(
                column,
                f"a time at or before the as-of, {as_of:%Y-%m-%d %H:%M:%S}"
                + (
                    f" (an as-of date means its first moment: --as-of "
                    f"{as_of + pd.Timedelta(days=1):%Y-%m-%d} takes in all of {as_of:%Y-%m-%d})"
                    if day
                    else ""
                ),
                "future times",
                future,
            )
            early = (table[column] < EARLIEST_TIME).to_numpy()
            found = sorted({f"{t:%Y-%m-%d}" for t in table.loc[early, column]})[:3]
            flag(column, f"a time from {EARLIEST_TIME:%Y} on", f"times as early as {found}", early)
    if "week_start" in table.columns:
        _read_as_weeks(table, checker)
    if name == "transactions":
        refund = table["is_refund"].to_numpy() if "is_refund" in table else False
        negative = (table["amount"] < 0).to_numpy() & ~refund
        flag(
            "amount",
            "a non-negative amount (or is_refund = true on a refund row)",
            "negative amounts without a refund marker",
            negative,
        )
        check_amount_outliers(table, checker, outliers)
    if name in ("campaign_log", "campaign_design"):
        if action_ids is not None:
            catalogue = pd.Series(sorted(action_ids), dtype="string")
            unknown = ~member_mask(table["action"], catalogue) & table["action"].notna().to_numpy()
            known = ", ".join(sorted(action_ids))
            found = sorted(set(table.loc[unknown, "action"].astype(str)))[:5]
            flag(
                "action",
                f"an action of the catalogue ({known})",
                f"unknown actions {found}",
                unknown,
                action_hints(found, action_ids),
            )
        if name == "campaign_log" and "propensity" in table:
            p = table["propensity"]
            flag(
                "propensity",
                "a probability in (0, 1]",
                "values outside (0, 1]",
                (p.notna() & ((p <= 0) | (p > 1))).to_numpy(),
            )
    if name == "reviews" and "rating" in table:
        r = table["rating"]
        flag(
            "rating",
            "a rating between 1 and 5",
            "values outside [1, 5]",
            (r.notna() & ((r < 1) | (r > 5))).to_numpy(),
        )
    if name == "catalog":
        for column, low, high in (
            ("price", 0, np.inf),
            ("margin_rate", 0, 1),
            ("weekly_capacity", 0, np.inf),
        ):
            if column in table:
                v = table[column]
                flag(
                    column,
                    f"a value in [{low}, {high}]",
                    "values out of range",
                    (v.notna() & ((v < low) | (v > high))).to_numpy(),
                )
    contract = CONTRACTS[name]
    if contract.unique_key:
        dup = duplicated_rows(table, list(contract.unique_key))
        moved = "week_start" in contract.unique_key and "week_start" in checker.moved_weeks
        expected = "one row per " + " and ".join(contract.unique_key)
        if name == "campaign_log":
            expected += (
                " (the engine plans one action per customer and week: two contacts in one "
                "week are one action of the catalogue, such as email_reco for an e-mail with "
                "recommendations)"
            )
        flag(
            ", ".join(contract.unique_key),
            expected,
            "duplicated keys (once week_start is read as the Monday-based week it falls in)"
            if moved
            else "duplicated keys",
            dup,
        )
    else:
        dup = duplicated_rows(table, list(table.columns))
        flag(None, "no duplicated rows", "rows identical to an earlier row", dup)


def _read_as_weeks(table: pd.DataFrame, checker: TableChecker) -> None:
    """Weeks start on Monday 00:00 (shopdata/calendar.py). A `week_start` that is another day
    or carries a time (a CRM export's send time, a shop whose weeks start on Sunday) is read as
    the Monday-based week it falls in, with a warning: features stay strictly before the
    contact's week and outcome windows start with it, as for every other row."""
    stamps = table["week_start"]
    monday = stamps.dt.normalize() - pd.to_timedelta(stamps.dt.day_of_week, unit="D")
    moved = (monday != stamps).to_numpy() & stamps.notna().to_numpy()
    if not moved.any():
        return
    examples = pd.DataFrame({"stamp": stamps[moved], "week": monday[moved]}).drop_duplicates()
    shown = ", ".join(
        f"{stamp:%Y-%m-%d %H:%M} ({stamp:%A}) -> {week:%Y-%m-%d}"
        for stamp, week in examples.head(3).itertuples(index=False)
    )
    checker.warnings.append(
        f"{checker.path.name}, column 'week_start': {int(moved.sum()):,} values are not a Monday "
        f"00:00 (e.g. {shown}); each is read as the Monday-based week it falls in (weeks start "
        "on Monday)"
    )
    checker.moved_weeks.add("week_start")
    table["week_start"] = monday.where(stamps.notna(), stamps)


def _check_references(tables: dict[str, pd.DataFrame], checkers: dict[str, TableChecker]) -> None:
    """Customers and items referred to must exist where their master table was supplied."""
    if "customers" in tables:
        known = tables["customers"]["customer_id"]
        for name in ("transactions", "campaign_log", "reviews", "campaign_eligible"):
            if name in tables:
                unknown = ~member_mask(tables[name]["customer_id"], known)
                examples = tables[name]["customer_id"][unknown].drop_duplicates().head(3)
                checkers[name].flag(
                    "customer_id",
                    "a customer_id listed in the customers table (which has e.g. "
                    f"{', '.join(repr(str(c)) for c in known.head(3))})",
                    f"unknown customers such as {', '.join(repr(str(c)) for c in examples)}",
                    unknown,
                )
    if "catalog" in tables and "item_id" in tables.get("transactions", pd.DataFrame()).columns:
        items = tables["transactions"]["item_id"]
        unknown = items.notna().to_numpy() & ~member_mask(items, tables["catalog"]["item_id"])
        examples = items[unknown].drop_duplicates().head(3)
        checkers["transactions"].flag(
            "item_id",
            "an item_id listed in the catalog table (which has e.g. "
            f"{', '.join(repr(str(i)) for i in tables['catalog']['item_id'].head(3))})",
            f"unknown items such as {', '.join(repr(str(i)) for i in examples)}",
            unknown,
        )


#: The shortest silence before the as-of date that `_quiet_end` warns about.
QUIET_END_MIN = pd.Timedelta(days=14)


def _quiet_end(transactions: pd.DataFrame, path: Path, as_of: pd.Timestamp) -> list[str]:
    """A warning where the purchases stop well before the as-of date: longer than 14 days and
    than the shop went without a sale in the year before its last one. An export that ended
    early, planned as of a later date, reads as weeks in which nobody bought (every customer
    looks less alive, every recent campaign's follow-up as observed with no purchase)."""
    days = np.unique(transactions["ts"].to_numpy(dtype="datetime64[D]"))
    if len(days) == 0:
        return []
    last = pd.Timestamp(days[-1])
    silence = as_of.normalize() - last
    year = days[days >= days[-1] - np.timedelta64(365, "D")]
    longest = pd.Timedelta(np.diff(year).max()) if len(year) > 1 else pd.Timedelta(0)
    if silence <= max(QUIET_END_MIN, longest):
        return []
    return [
        f"{path.name}: the last purchase is on {last:%Y-%m-%d}, {silence.days} days before the "
        f"as-of date {as_of:%Y-%m-%d}, longer than the shop went without a sale in the year "
        f"before ({longest.days} days at most): the forecasters read those days as days on "
        "which nobody bought. If the export ends earlier, plan as of its end "
        f"(--as-of {last + pd.Timedelta(days=1):%Y-%m-%d})"
    ]


def load_inputs(
    data_dir: Path | str,
    *,
    as_of: pd.Timestamp | str | None = None,
    action_ids: Collection[str] | None = None,
    unidentified_effects: UnidentifiedEffects = "refuse",
    outliers: AmountOutliers | None = None,
) -> InputTables:
    """Read and validate every input table found in `data_dir`.

    `as_of` bounds all timestamps (default: now, UTC); `action_ids` is the action catalogue the
    campaign log must draw from (None: not checked). A contacts-only campaign log is completed
    from its `campaign_design` (engine/campaign_design.py); one with neither `none` rows nor a
    design is refused, or with `unidentified_effects="zero"` left out (no effect is learned).
    Amounts far from the rest (`AmountOutliers`) are refused, or with `outliers.action="warn"`
    kept and listed in `InputTables.warnings`. Raises `InputValidationError` listing every
    problem found; returns typed tables otherwise.
    """
    outliers = outliers or AmountOutliers()
    data_dir = Path(data_dir)
    as_of_ts = (
        pd.Timestamp.now(tz="UTC").tz_localize(None) if as_of is None else pd.Timestamp(as_of)
    )
    if not data_dir.is_dir():
        found = "a file" if data_dir.exists() else "no such folder"
        raise InputValidationError(
            [InputProblem(data_dir, None, "a folder holding the input tables", found)]
        )
    problems: list[InputProblem] = []
    tables: dict[str, pd.DataFrame] = {}
    checkers: dict[str, TableChecker] = {}
    files: dict[str, Path] = {}
    for name, contract in CONTRACTS.items():
        both = [data_dir / f"{name}{suffix}" for suffix in TABLE_SUFFIXES]
        if all(f.is_file() for f in both):  # which one the shop meant is not ours to guess
            problems.append(
                InputProblem(
                    both[0],
                    None,
                    f"one file for the {name} table",
                    f"both {both[0].name} and {both[1].name} in {data_dir}: keep the one to "
                    "plan with",
                )
            )
            continue
        path = find_table_file(data_dir, name)
        if path is None:
            if contract.required:
                problems.append(
                    InputProblem(
                        data_dir / f"{name}.csv",
                        None,
                        f"a file {name}.parquet or {name}.csv in {data_dir}",
                        "no such file",
                    )
                )
            continue
        try:
            raw = read_raw(path)
        except UnicodeDecodeError as error:
            problems.append(
                InputProblem(
                    path,
                    None,
                    "a CSV file in UTF-8 (a spreadsheet's 'CSV UTF-8')",
                    f"bytes that are not UTF-8 ({error.object[error.start : error.start + 4]!r}"
                    "): another encoding, such as UTF-16 or Latin-1",
                )
            )
            continue
        except Exception as error:  # the reader's own message says what is wrong with the bytes
            problems.append(
                InputProblem(
                    path, None, "a readable CSV or Parquet file", f"{type(error).__name__}: {error}"
                )
            )
            continue
        checker = TableChecker(contract, path, raw)
        if raw.empty:
            problems.append(
                InputProblem(
                    path,
                    None,
                    "at least one data row (leave an optional file out when it has none)",
                    "a header only" if len(raw.columns) else "an empty file",
                )
            )
            continue
        parsed = checker.parse()
        checkers[name] = checker
        files[name] = path
        if parsed is not None:
            _check_rules(name, parsed, checker, as_of_ts, action_ids, outliers)
            tables[name] = parsed
    _check_references(tables, checkers)
    warnings: list[str] = []
    for checker in checkers.values():
        problems.extend(checker.problems)
        warnings.extend(checker.warnings)
    origin = ""
    if not problems:
        origin = complete_campaign_log(tables, files, problems, unidentified_effects)
    if problems:
        raise InputValidationError(problems)
    if as_of is not None:  # without one the planning week follows the last purchase
        warnings.extend(_quiet_end(tables["transactions"], files["transactions"], as_of_ts))
    if "campaign_log" in tables and "campaign_design" not in tables:
        if "propensity" not in tables["campaign_log"]:  # every reader may select the column
            tables["campaign_log"] = tables["campaign_log"].assign(propensity=np.nan)
        warnings.extend(unlogged_propensities(tables["campaign_log"], files["campaign_log"]))
        warnings.extend(tiny_propensities(tables["campaign_log"], files["campaign_log"]))
    return InputTables(
        transactions=tables["transactions"],
        customers=tables.get("customers"),
        campaign_log=tables.get("campaign_log"),
        reviews=tables.get("reviews"),
        catalog=tables.get("catalog"),
        files=files,
        fingerprints={name: file_fingerprint(path) for name, path in files.items()},
        campaign_design=tables.get("campaign_design"),
        campaign_eligible=tables.get("campaign_eligible"),
        campaign_log_origin=origin,
        warnings=tuple(warnings),
    )
