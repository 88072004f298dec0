"""Read the input tables of DESIGN §2 from CSV or Parquet and check them against their contracts.

This is the one place input is checked: everything downstream receives an `InputTables` and
trusts it. All problems are collected before anything is raised, so a user fixes a file once.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from shopdata.arrow_columns import blank_mask, duplicated_rows, identifiers, member_mask
from shopdata.campaign_design import derive_control_rows, no_control_problem
from shopdata.contracts import CONTRACTS, ID_LIST, TABLE_SUFFIXES, ColumnKind, TableContract
from shopdata.input_errors import InputProblem, InputValidationError, problem_at_rows

#: Times before this are not a shop's data (and near pandas' limits of 1677 and 2262).
EARLIEST_TIME = pd.Timestamp("1970-01-01")
#: The longest id (customer, order, item, action, stratum) a table may hold. Arrays of ids are
#: as wide as their longest value: one id of 100,000 characters made a million-customer array
#: of 11 GiB and killed the machine; a longer key is hashed into an id by the shop's export.
MAX_ID_CHARACTERS = 64


@dataclass(frozen=True)
class AmountOutliers:
    """How far an amount may lie from the rest before it is taken for a data error.

    On the log scale, robustly: z = (log amount - median) / (1.4826 MAD), against all positive
    amounts (global) and against the customer's own median (customers with at least
    `min_customer_rows` purchases, on the global scale). An amount with either z above
    `z_threshold` is refused (`action="refuse"`, the rows named) or kept and warned about
    (`"warn"`). The default 8 is about 500 times the typical amount on CDNOW's spread; one
    amount of 1e12 among ordinary baskets is far beyond it.
    """

    z_threshold: float = 8.0
    action: Literal["refuse", "warn"] = "refuse"
    min_customer_rows: int = 3

    def __post_init__(self) -> None:
        if not self.z_threshold > 0:
            raise ValueError(
                f"The 'z_threshold' parameter of AmountOutliers must be > 0. "
                f"Got {self.z_threshold} instead."
            )
        if self.action not in ("refuse", "warn"):
            raise ValueError(
                "The 'action' parameter of AmountOutliers must be 'refuse' or 'warn'. "
                f"Got {self.action!r} instead."
            )


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


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


#: Column separators a CSV may use; the header line says which (`_separator`).
SEPARATORS = (",", ";", "\t", "|")


def _separator(path: Path) -> str:
    """The separator that splits the CSV's header line into the most columns: a comma, or the
    semicolon of spreadsheets saved in locales whose decimal mark is a comma, a tab, a bar."""
    with path.open(encoding="utf-8", errors="replace") as file:
        header = file.readline()
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])  # ties: the earlier, a comma first
    return best if counts[best] > 0 else ","


def _read_raw(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    # Everything as text first: parsing is done per column below, so a bad cell is reported
    # with its row instead of silently turning the whole column into `object`.
    separator = _separator(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, sep=separator)
    raw.attrs["separator"] = separator
    return raw


#: Numbers written with a decimal comma and nothing else, in a ';'-separated file: the comma
#: is the decimal mark wherever it cannot be a thousands mark: after 0 or four and more digits
#: ('0,125', '1234,5'), or before other than three digits ('12,5', '3,14159'). '1,234' could
#: be either and stays an error rather than a guess.
_DECIMAL_COMMAS = (
    r"^\s*(-?(?:0|[1-9]\d{3,})),(\d+)\s*$",
    r"^\s*(-?\d+),(\d{1,2}|\d{4,})\s*$",
)


def _positions(mask: np.ndarray | pd.Series) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask, dtype=bool))


def _describe(values: pd.Series, positions: np.ndarray, limit: int = 3) -> str:
    shown = ", ".join(repr(v) for v in values.iloc[positions[:limit]].tolist())
    return shown


class _TableChecker:
    """Parses one raw table column by column and records what breaks the contract."""

    def __init__(self, contract: TableContract, path: Path, raw: pd.DataFrame) -> None:
        self.contract = contract
        self.path = path
        self.raw = raw
        self.problems: list[InputProblem] = []
        self.warnings: list[str] = []
        #: Columns whose times were moved to the Monday of their week (`_read_as_weeks`).
        self.moved_weeks: set[str] = set()

    def flag(
        self, column: str | None, expected: str, found: str, mask: np.ndarray, hint: str = ""
    ) -> None:
        positions = _positions(mask)
        if len(positions):
            self.problems.append(
                problem_at_rows(self.path, column, expected, found, positions, hint)
            )

    def parse(self) -> pd.DataFrame | None:
        missing = [c for c in self.contract.required_columns if c not in self.raw.columns]
        for name in missing:
            self.problems.append(
                InputProblem(
                    self.path,
                    name,
                    f"a column '{name}' ({self.contract.column(name).kind.value})",
                    f"no such column; the file has {sorted(map(str, self.raw.columns))}",
                )
            )
        if missing:
            return None
        parsed = self.raw.copy()
        for column in self.contract.columns:
            if column.name in self.raw.columns:
                parsed[column.name] = self._parse_column(column.name, column.kind, column.required)
        return parsed

    def _parse_column(self, name: str, kind: ColumnKind, required: bool) -> pd.Series:
        values = self.raw[name]
        if kind is ColumnKind.IDENTIFIER:
            ids, blank = identifiers(values)
            if required:
                self.flag(name, kind.value, "empty values", blank)
            length = ids.str.len().fillna(0).to_numpy()
            longest = int(length.max(initial=0))
            self.flag(
                name,
                f"an id of at most {MAX_ID_CHARACTERS:,} characters",
                f"ids of up to {longest:,} characters",
                length > MAX_ID_CHARACTERS,
                "a longer key can be hashed into an id when the data is exported",
            )
            return ids
        blank = blank_mask(values)
        if kind is ColumnKind.TEXT:
            if required:
                self.flag(name, "non-empty text", "empty values", blank)
            return values.astype("string").fillna("")
        if kind is ColumnKind.TIMESTAMP:
            parsed = _parse_timestamps(values)
            bad = parsed.isna().to_numpy() & (required | ~blank)
            self.flag(name, kind.value, self._found(values, bad, "unparsable"), bad)
            return parsed
        if kind is ColumnKind.NUMBER:
            expected, shown = kind.value, values
            if self.raw.attrs.get("separator") == ";" and pd.api.types.is_string_dtype(values):
                expected += " (';' between columns: a decimal comma or point, no thousands mark)"
                for pattern in _DECIMAL_COMMAS:
                    values = values.str.replace(pattern, r"\1.\2", regex=True)
            numbers = pd.to_numeric(values, errors="coerce").astype("float64")
            finite = np.isfinite(numbers.to_numpy())
            bad = ~finite & (required | ~blank)
            self.flag(name, expected, self._found(shown, bad, "non-numeric or NaN"), bad)
            return numbers
        if kind is ColumnKind.FLAG and pd.api.types.is_bool_dtype(values) and not blank.any():
            return values.astype(bool)
        if kind is ColumnKind.FLAG:
            text = values.astype(str).str.strip().str.lower().where(~blank, "")
            bad = ~text.isin(_TRUE | _FALSE).to_numpy()
            self.flag(name, kind.value, self._found(values, bad, "other values"), bad)
            return text.isin(_TRUE)
        raise AssertionError(f"unhandled column kind {kind}")

    def _found(self, values: pd.Series, bad: np.ndarray, what: str) -> str:
        positions = _positions(bad)
        return f"{what} ({_describe(values, positions)})" if len(positions) else what


def _parse_timestamps(values: pd.Series) -> pd.Series:
    """Naive UTC datetimes in nanoseconds; NaT where a value is not a time or lies outside
    what nanoseconds hold (years 1677-2262), which the caller reports with its rows."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        text = values.astype("string").str.strip()
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    # Compare as microseconds since the epoch: no conversion can overflow on the way.
    micros = parsed.to_numpy().astype("datetime64[us]").astype(np.int64)
    limits = np.array([pd.Timestamp.min, pd.Timestamp.max], dtype="datetime64[us]")
    inside = parsed.notna().to_numpy() & (micros > limits[0].astype(np.int64))
    inside &= micros < limits[1].astype(np.int64)
    out = np.full(len(parsed), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[inside] = parsed.to_numpy()[inside].astype("datetime64[ns]")
    return pd.Series(out, index=values.index)


def _check_rules(
    name: str,
    table: pd.DataFrame,
    checker: _TableChecker,
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
        _check_amount_outliers(table, checker, outliers)
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
                _action_hints(found, action_ids),
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


#: Labels CRM exports give the customers held out of a campaign; the engine calls them `none`.
CONTROL_LABELS = frozenset(
    {"control", "holdout", "hold-out", "hold_out", "no_contact", "no contact", "nocontact",
     "no_action", "no action", "untreated", "baseline", "ctrl", "cg"}
)  # fmt: skip


def _action_hints(found: list[str], action_ids: Collection[str]) -> str:
    """What each unknown action id most likely is: a catalogue id in another case or misspelt,
    or a control group's label (to be written `none`); for the rest, how a scenario keeps an
    action the shop no longer runs."""
    by_case = {a.casefold(): a for a in action_ids}
    hints, other = [], []
    for label in found:
        folded = label.casefold()
        close = difflib.get_close_matches(folded, list(by_case), n=1, cutoff=0.8)
        if folded in by_case:
            hints.append(
                f"{label!r} is {by_case[folded]!r} in another case (ids are case-sensitive)"
            )
        elif folded in CONTROL_LABELS:
            hints.append(
                f"if {label!r} marks customers held out of the campaign (no contact), write it "
                "as 'none'"
            )
        elif close:
            hints.append(f"{label!r}: did you mean {by_case[close[0]]!r}?")
        else:
            other.append(label)
    if other:
        hints.append(
            f"an action the shop ran but no longer plans ({', '.join(map(repr, other))}) goes in "
            "the scenario's actions with capacity: 0 (its log rows are read, it is never planned)"
        )
    return "; ".join(hints)


def _read_as_weeks(table: pd.DataFrame, checker: _TableChecker) -> None:
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


def _check_amount_outliers(
    table: pd.DataFrame, checker: _TableChecker, outliers: AmountOutliers
) -> None:
    """Flag (or warn about) amounts far above or below the rest (`AmountOutliers`)."""
    amount = table["amount"].to_numpy(dtype=np.float64)
    positive = np.isfinite(amount) & (amount > 0)
    if positive.sum() < 10:
        return
    logs = np.log(np.where(positive, amount, 1.0))
    centre = float(np.median(logs[positive]))
    scale = 1.4826 * float(np.median(np.abs(logs[positive] - centre)))
    scale = max(scale, 0.1)  # identical amounts (a price list shop): still a finite scale
    z_global = np.where(positive, np.abs(logs - centre) / scale, 0.0)
    frame = pd.DataFrame({"customer": table["customer_id"].to_numpy(), "log": logs})
    frame = frame[positive]
    grouped = frame.groupby("customer", observed=True)["log"]
    own_median = grouped.transform("median")
    own_count = grouped.transform("size")
    z_own = np.zeros(len(amount))
    z_own[positive] = np.where(
        own_count >= outliers.min_customer_rows, np.abs(frame["log"] - own_median) / scale, 0.0
    )
    far = (z_global > outliers.z_threshold) | (z_own > outliers.z_threshold)
    if not far.any():
        return
    shown = ", ".join(f"{a:,.2f}" for a in amount[far][:3])
    expected = (
        f"an amount within {outliers.z_threshold:g} robust standard deviations (log scale) of "
        f"the typical {np.exp(centre):,.2f} and of the customer's own purchases"
    )
    found = f"amounts such as {shown} (a data error? fix them, or warn instead of refusing)"
    if outliers.action == "refuse":
        checker.flag("amount", expected, found, far)
    else:
        rows = ", ".join(str(int(r) + 1) for r in np.flatnonzero(far)[:5])
        checker.warnings.append(
            f"{checker.path.name}, column 'amount': {int(far.sum())} amounts far from the "
            f"rest kept as asked ({shown}; rows {rows})"
        )


def _check_references(tables: dict[str, pd.DataFrame], checkers: dict[str, _TableChecker]) -> None:
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


UnidentifiedEffects = Literal["refuse", "zero"]


def _complete_campaign_log(
    tables: dict[str, pd.DataFrame],
    files: dict[str, Path],
    problems: list[InputProblem],
    unidentified_effects: UnidentifiedEffects,
) -> str:
    """Make `tables['campaign_log']` a log with a control group, in place, and say how: as given
    (it has `none` rows), derived from a contacts-only log and its design, or dropped when it
    has no control and the caller declared effects unidentified; else a problem is added."""
    log = tables.get("campaign_log")
    if log is None:
        if "campaign_design" in tables:
            problems.append(
                InputProblem(
                    files["campaign_design"],
                    None,
                    "a campaign_log file of the contacts this design assigned",
                    "a campaign_design without a campaign_log",
                )
            )
        return ""
    has_controls = bool((log["action"] == "none").any())
    if "campaign_design" in tables:
        if has_controls:
            problems.append(
                InputProblem(
                    files["campaign_design"],
                    None,
                    "a campaign_design only beside a contacts-only campaign_log (one without "
                    "'none' rows)",
                    f"a campaign_log that already has {int((log['action'] == 'none').sum())} "
                    "'none' rows: keep the explicit log or the design, not both",
                )
            )
            return ""
        transactions = tables["transactions"]
        if "is_refund" in transactions:
            transactions = transactions[~transactions["is_refund"]]
        first_purchase = transactions.groupby("customer_id", observed=True)["ts"].min()
        derived, found = derive_control_rows(
            log,
            tables["campaign_design"],
            tables.get("campaign_eligible"),
            first_purchase,
            files=files,
        )
        problems.extend(found)
        if derived is None:
            return ""
        tables["campaign_log"] = derived.log
        return derived.origin
    if has_controls:
        return "as given (with its 'none' rows as the control group)"
    if unidentified_effects == "zero":
        del tables["campaign_log"]
        return (
            f"dropped: {len(log)} contacts with no control group and no campaign_design; every "
            "effect is unidentified and set to zero (as asked)"
        )
    problems.append(no_control_problem(files["campaign_log"], log))
    return ""


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


#: Logged propensities below this are said (inverse weights above 100): a design that gave
#: an action one chance in a billion is most often a unit slip (a percentage, a log).
TINY_PROPENSITY = 0.01


def _tiny_propensities(log: pd.DataFrame, path: Path) -> list[str]:
    """A warning where logged propensities are so small that their inverse weights would swamp
    every estimate: named with their count and the smallest (the log's doubly robust scores
    weigh a row by at most 1,000: engine/logged_outcomes.PROPENSITY_FLOOR)."""
    p = log["propensity"]
    tiny = p.notna() & (p < TINY_PROPENSITY)
    if not tiny.any():
        return []
    rows = ", ".join(str(int(i) + 1) for i in np.flatnonzero(tiny.to_numpy())[:5])
    return [
        f"{path.name}, column 'propensity': {int(tiny.sum()):,} rows (rows {rows}...) below "
        f"{TINY_PROPENSITY} (as low as {float(p[tiny].min()):.3g}: inverse weights up to "
        f"{1 / float(p[tiny].min()):.3g}; the release decision weighs a row by at most 1,000): "
        "check the design's probabilities are shares, not percentages"
    ]


def _unlogged_propensities(log: pd.DataFrame, path: Path) -> list[str]:
    """A warning where an explicit log's rows do not say how likely their action was: the
    learners then estimate it from the rows' features (forecasting/propensity.py), which is
    right only for a log randomised or targeted on what those features hold."""
    missing = log["propensity"].isna()
    if not missing.any():
        return []
    return [
        f"{path.name}: {int(missing.sum()):,} of {len(log):,} rows have no propensity (the "
        "chance their action had); the effect learners estimate it from what they see of "
        "each row (purchase history, recent contacts, the customers table's attributes), "
        "which is right only if contacts were assigned at random or on those: a campaign "
        "targeted on anything else gives biased effects"
    ]


def read_id_list(path: Path) -> np.ndarray:
    """The customer ids of a list file (CSV or Parquet with a `customer_id` column: a
    do-not-contact list), as text; InputValidationError naming the file, the column and the
    rows where it is not one (no such file or column, empty or over-long ids, an id twice)."""
    path = Path(path)
    if not path.is_file():
        raise InputValidationError(
            [InputProblem(path, None, "a CSV or Parquet file of customer ids", "no such file")]
        )
    try:
        raw = _read_raw(path)
    except (UnicodeDecodeError, ValueError, OSError) as error:
        raise InputValidationError(
            [InputProblem(path, None, "a CSV or Parquet file of customer ids", str(error))]
        ) from None
    checker = _TableChecker(ID_LIST, path, raw)
    parsed = checker.parse()
    if parsed is not None:
        twice = parsed["customer_id"].duplicated().to_numpy()
        checker.flag("customer_id", "each id once", "ids listed twice", twice)
    if checker.problems:
        raise InputValidationError(checker.problems)
    assert parsed is not None
    return parsed["customer_id"].to_numpy(dtype=str)


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
    checkers: dict[str, _TableChecker] = {}
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
            raw = _read_raw(path)
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
        checker = _TableChecker(contract, path, raw)
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
        origin = _complete_campaign_log(tables, files, problems, unidentified_effects)
    if problems:
        raise InputValidationError(problems)
    if as_of is not None:  # without one the planning week follows the last purchase
        warnings.extend(_quiet_end(tables["transactions"], files["transactions"], as_of_ts))
    if "campaign_log" in tables and "campaign_design" not in tables:
        if "propensity" not in tables["campaign_log"]:  # every reader may select the column
            tables["campaign_log"] = tables["campaign_log"].assign(propensity=np.nan)
        warnings.extend(_unlogged_propensities(tables["campaign_log"], files["campaign_log"]))
        warnings.extend(_tiny_propensities(tables["campaign_log"], files["campaign_log"]))
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
