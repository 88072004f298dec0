"""Reading one input file and parsing it column by column against its contract: the file
(CSV with its separator sniffed, or Parquet) read as text, each column parsed to its kind
(ids bounded in length, numbers with decimal commas where unambiguous, booleans, times as
naive UTC), and every cell that breaks the contract recorded with its rows
(`TableChecker`); a list of customer ids read the same way (`read_id_list`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopdata.arrow_columns import blank_mask, identifiers
from shopdata.contracts import ID_LIST, ColumnKind, TableContract
from shopdata.input_errors import InputProblem, InputValidationError, problem_at_rows

#: The longest id (customer, order, item, action, stratum) a table may hold. Arrays of ids are
#: as wide as their longest value: one id of 100,000 characters made a million-customer array
#: of 11 GiB and killed the machine; a longer key is hashed into an id by the shop's export.
MAX_ID_CHARACTERS = 64


_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0", ""})


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


def read_raw(path: Path) -> pd.DataFrame:
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


class TableChecker:
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
            parsed = parse_timestamps(values)
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


def parse_timestamps(values: pd.Series) -> pd.Series:
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
        raw = read_raw(path)
    except (UnicodeDecodeError, ValueError, OSError) as error:
        raise InputValidationError(
            [InputProblem(path, None, "a CSV or Parquet file of customer ids", str(error))]
        ) from None
    checker = TableChecker(ID_LIST, path, raw)
    parsed = checker.parse()
    if parsed is not None:
        twice = parsed["customer_id"].duplicated().to_numpy()
        checker.flag("customer_id", "each id once", "ids listed twice", twice)
    if checker.problems:
        raise InputValidationError(checker.problems)
    assert parsed is not None
    return parsed["customer_id"].to_numpy(dtype=str)
