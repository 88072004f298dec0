"""Bad input is reported with file, column and rows, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopdata.input_errors import InputValidationError
from shopdata.store import Store
from shopdata.validation import load_inputs

AS_OF = "2026-01-01"
ACTIONS = ("none", "email", "coupon_10")


def _good_tables() -> dict[str, pd.DataFrame]:
    return {
        "transactions": pd.DataFrame(
            {
                "customer_id": ["a", "a", "b", "c"],
                "order_id": ["1", "2", "3", "4"],
                "ts": ["2025-01-02", "2025-02-03T10:00:00", "2025-01-05", "2025-03-01"],
                "amount": ["10.5", "20", "7.25", "3"],
            }
        ),
        "customers": pd.DataFrame({"customer_id": ["a", "b", "c"], "segment": ["x", "y", "x"]}),
        "campaign_log": pd.DataFrame(
            {
                "customer_id": ["a", "b", "c"],
                "week_start": ["2025-01-06"] * 3,
                "action": ["none", "email", "coupon_10"],
                "propensity": ["0.5", "0.25", "0.25"],
            }
        ),
        "reviews": pd.DataFrame(
            {"customer_id": ["a"], "ts": ["2025-01-09"], "text": ["great"], "rating": ["5"]}
        ),
        "catalog": pd.DataFrame({"item_id": ["i1", "i2"], "margin_rate": ["0.3", "0.4"]}),
    }


def _write(folder: Path, tables: dict[str, pd.DataFrame], fmt: str = "csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_good_tables_load_typed(tmp_path: Path, fmt: str) -> None:
    tables = load_inputs(_write(tmp_path, _good_tables(), fmt), as_of=AS_OF, action_ids=ACTIONS)
    assert tables.transactions["amount"].dtype == "float64"
    assert pd.api.types.is_datetime64_any_dtype(tables.transactions["ts"])
    assert tables.transactions["amount"].sum() == pytest.approx(40.75)
    assert set(tables.present()) == {
        "transactions",
        "customers",
        "campaign_log",
        "reviews",
        "catalog",
    }
    assert len(tables.fingerprints["transactions"]) == 64


def _break(table: str, column: str, row: int, value: object):
    def mutate(tables: dict[str, pd.DataFrame]) -> None:
        frame = tables[table]
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return mutate


def _drop_column(table: str, column: str):
    def mutate(tables: dict[str, pd.DataFrame]) -> None:
        tables[table] = tables[table].drop(columns=[column])

    return mutate


def _duplicate_row(table: str, row: int):
    def mutate(tables: dict[str, pd.DataFrame]) -> None:
        frame = tables[table]
        tables[table] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)

    return mutate


def _refund_marker(tables: dict[str, pd.DataFrame]) -> None:
    tables["transactions"]["is_refund"] = ["false", "false", "false", "false"]
    tables["transactions"].loc[1, "amount"] = "-20"


# (case, mutation, file, column, 1-based row, words the message must hold)
BAD_INPUTS = [
    (
        "missing column",
        _drop_column("transactions", "amount"),
        "transactions.csv",
        "amount",
        None,
        "no such column",
    ),
    (
        "unparsable timestamp",
        _break("transactions", "ts", 2, "yesterday-ish"),
        "transactions.csv",
        "ts",
        3,
        "unparsable",
    ),
    (
        "future timestamp",
        _break("transactions", "ts", 1, "2031-05-05"),
        "transactions.csv",
        "ts",
        2,
        "future",
    ),
    (
        "non-numeric amount",
        _break("transactions", "amount", 3, "12,5 EUR"),
        "transactions.csv",
        "amount",
        4,
        "non-numeric",
    ),
    (
        "NaN amount",
        _break("transactions", "amount", 0, "NaN"),
        "transactions.csv",
        "amount",
        1,
        "non-numeric or NaN",
    ),
    (
        "negative amount",
        _break("transactions", "amount", 2, "-4"),
        "transactions.csv",
        "amount",
        3,
        "refund",
    ),
    (
        "negative amount, refund column false",
        _refund_marker,
        "transactions.csv",
        "amount",
        2,
        "refund",
    ),
    (
        "duplicated transaction",
        _duplicate_row("transactions", 1),
        "transactions.csv",
        None,
        5,
        "identical",
    ),
    (
        "duplicated customer",
        _duplicate_row("customers", 0),
        "customers.csv",
        "customer_id",
        4,
        "duplicated",
    ),
    (
        "unknown action",
        _break("campaign_log", "action", 1, "coupon_99"),
        "campaign_log.csv",
        "action",
        2,
        "coupon_99",
    ),
    (
        "propensity zero",
        _break("campaign_log", "propensity", 0, "0"),
        "campaign_log.csv",
        "propensity",
        1,
        "(0, 1]",
    ),
    (
        "propensity above one",
        _break("campaign_log", "propensity", 2, "1.5"),
        "campaign_log.csv",
        "propensity",
        3,
        "(0, 1]",
    ),
    (
        "customer not in customers",
        _break("transactions", "customer_id", 2, "zz"),
        "transactions.csv",
        "customer_id",
        3,
        "unknown customers",
    ),
    (
        "margin out of range",
        _break("catalog", "margin_rate", 1, "1.7"),
        "catalog.csv",
        "margin_rate",
        2,
        "out of range",
    ),
]


@pytest.mark.parametrize(
    ("case", "mutate", "file", "column", "row", "words"),
    BAD_INPUTS,
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_names_file_column_row_and_writes_nothing(
    tmp_path: Path,
    case: str,
    mutate,
    file: str,
    column: str | None,
    row: int | None,
    words: str,
) -> None:
    tables = _good_tables()
    mutate(tables)
    data = _write(tmp_path / "data", tables)
    store = tmp_path / "store.duckdb"
    with pytest.raises(InputValidationError) as caught:
        Store.create(load_inputs(data, as_of=AS_OF, action_ids=ACTIONS), store)
    matching = [p for p in caught.value.problems if p.file.name == file and p.column == column]
    assert matching, f"no problem names {file}/{column}: {caught.value}"
    problem = matching[0]
    message = str(caught.value)
    assert file in message and words in message
    if column is not None:
        assert f"column '{column}'" in message
    if row is not None:
        assert row in problem.rows
        assert f"row {row}" in message or f"rows {row}" in message or f", {row}" in message
    assert not store.exists()
    assert list(tmp_path.glob("*.tmp")) == []


def test_missing_required_file(tmp_path: Path) -> None:
    tables = _good_tables()
    del tables["transactions"]
    with pytest.raises(InputValidationError, match=r"transactions\.parquet or transactions\.csv"):
        load_inputs(_write(tmp_path, tables), as_of=AS_OF)


def test_refund_rows_may_be_negative(tmp_path: Path) -> None:
    tables = _good_tables()
    tables["transactions"]["is_refund"] = ["false", "true", "false", "false"]
    tables["transactions"].loc[1, "amount"] = "-20"
    loaded = load_inputs(_write(tmp_path, tables), as_of=AS_OF, action_ids=ACTIONS)
    assert loaded.transactions["is_refund"].tolist() == [False, True, False, False]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    tables = _good_tables()
    _break("transactions", "amount", 0, "abc")(tables)
    _break("campaign_log", "propensity", 1, "7")(tables)
    with pytest.raises(InputValidationError) as caught:
        load_inputs(_write(tmp_path, tables), as_of=AS_OF, action_ids=ACTIONS)
    assert {p.column for p in caught.value.problems} == {"amount", "propensity"}


def test_store_holds_tables_and_fingerprints(tmp_path: Path) -> None:
    tables = load_inputs(_write(tmp_path / "d", _good_tables()), as_of=AS_OF, action_ids=ACTIONS)
    with Store.create(tables, tmp_path / "store.duckdb") as store:
        summary = store.summary()
        files = store.query("SELECT table_name, sha256, rows FROM input_files ORDER BY 1")
    assert summary.customers == 3 and summary.orders == 4
    assert summary.revenue == pytest.approx(40.75)
    assert summary.campaign_arms == {"coupon_10": 1, "email": 1, "none": 1}
    assert files["table_name"].tolist() == [
        "campaign_log",
        "catalog",
        "customers",
        "reviews",
        "transactions",
    ]
    assert (files["sha256"].str.len() == 64).all()


def test_a_semicolon_file_with_decimal_commas_reads_as_the_comma_file(tmp_path: Path) -> None:
    """Spreadsheets saved where the decimal mark is a comma separate columns with ';': the
    header says so, and '10,5' is then 10.5; a thousands mark ('1,234') is not guessed at."""
    commas = load_inputs(_write(tmp_path / "commas", _good_tables()), as_of=AS_OF)
    folder = tmp_path / "semicolons"
    folder.mkdir()
    for name, frame in _good_tables().items():
        decimal = frame.apply(lambda column: column.str.replace(".", ",", regex=False))
        if name != "transactions":  # ids, dates, texts untouched: only numbers take the comma
            decimal = frame
        elif "ts" in frame:
            decimal["ts"] = frame["ts"]
        decimal.to_csv(folder / f"{name}.csv", index=False, sep=";")
    semicolons = load_inputs(folder, as_of=AS_OF)
    assert (folder / "transactions.csv").read_text().splitlines()[1] == "a;1;2025-01-02;10,5"
    for name in ("transactions", "campaign_log", "catalog"):
        pd.testing.assert_frame_equal(
            getattr(semicolons, name).reset_index(drop=True),
            getattr(commas, name).reset_index(drop=True),
        )
    tables = _good_tables()
    tables["transactions"].loc[:2, "amount"] = ["0,125", "1234,5", "3,14159"]
    tables["transactions"].to_csv(folder / "transactions.csv", index=False, sep=";")
    amounts = load_inputs(folder, as_of=AS_OF).transactions["amount"]
    assert amounts.tolist() == [0.125, 1234.5, 3.14159, 3.0]
    tables["transactions"].loc[3, "amount"] = "1,234"
    tables["transactions"].to_csv(folder / "transactions.csv", index=False, sep=";")
    with pytest.raises(InputValidationError) as raised:
        load_inputs(folder, as_of=AS_OF)
    message = str(raised.value)
    assert "transactions.csv, column 'amount'" in message and "no thousands mark" in message
    assert "('1,234') in 1 row (row 4)" in message


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_csv_not_in_utf8_is_named_with_its_encoding_problem(
    tmp_path: Path, encoding: str
) -> None:
    (tmp_path / "transactions.csv").write_bytes(
        "customer_id,ts,amount\nJosé,2025-01-02,10.5\n".encode(encoding)
    )
    with pytest.raises(InputValidationError) as raised:
        load_inputs(tmp_path, as_of=AS_OF)
    message = str(raised.value)
    assert "transactions.csv: expected a CSV file in UTF-8" in message
    assert "another encoding, such as UTF-16 or Latin-1" in message
    # Excel's 'CSV UTF-8' starts with a byte-order mark: read as any UTF-8 file.
    (tmp_path / "transactions.csv").write_bytes(
        "\ufeffcustomer_id,ts,amount\r\nJosé,2025-01-02,10.5\r\n".encode("utf-8")
    )
    assert list(load_inputs(tmp_path, as_of=AS_OF).transactions["customer_id"]) == ["José"]


def test_a_log_without_propensities_is_warned_about(tmp_path: Path) -> None:
    """Without propensities the learners assume a randomised log; validation says so (a
    log derived from its declared design has the design's)."""
    tables = _good_tables()
    as_of = "2025-03-02"  # the day after the last purchase: no warning of a quiet end
    assert load_inputs(_write(tmp_path / "given", tables), as_of=as_of).warnings == ()
    tables["campaign_log"].loc[1, "propensity"] = ""
    (warning,) = load_inputs(_write(tmp_path / "partly", tables), as_of=as_of).warnings
    assert warning.startswith("campaign_log.csv: 1 of 3 rows have no propensity")
    assert "right only if contacts were assigned at random or on those" in warning
    tables["campaign_log"] = tables["campaign_log"].drop(columns="propensity")
    loaded = load_inputs(_write(tmp_path / "none", tables), as_of=as_of)
    (warning,) = loaded.warnings
    assert warning.startswith("campaign_log.csv: 3 of 3 rows have no propensity")
    # The column every reader selects is there, empty (a run on such a log crashed in SQL).
    assert loaded.campaign_log is not None and loaded.campaign_log["propensity"].isna().all()


def test_purchases_that_stop_well_before_the_as_of_date_are_warned_about(tmp_path: Path) -> None:
    """An export that ended early, planned as of a later date, reads as weeks in which nobody
    bought: validation says so where the silence is longer than 14 days and than any the shop
    had in the year before its last sale, and names the date to plan as of instead."""
    days = pd.date_range("2025-01-01", "2025-06-30", freq="D")
    tables = {
        "transactions": pd.DataFrame(
            {"customer_id": [f"c{i % 7}" for i in range(len(days))], "ts": days, "amount": 10.0}
        )
    }
    folder = _write(tmp_path / "daily", tables)
    for as_of, warned in (("2025-07-10", False), ("2025-07-20", True)):
        found = [w for w in load_inputs(folder, as_of=as_of).warnings if "last purchase" in w]
        assert bool(found) == warned, as_of
    (warning,) = found
    assert "the last purchase is on 2025-06-30, 20 days before the as-of date" in warning
    assert "(--as-of 2025-07-01)" in warning
    # a shop that sells once a month has gone a month without a sale before: no warning
    monthly = tables["transactions"].iloc[::30]
    folder = _write(tmp_path / "monthly", {"transactions": monthly})
    assert not load_inputs(folder, as_of="2025-07-20").warnings
    # without an as-of date the planning week follows the last purchase: nothing to warn of
    assert not load_inputs(folder).warnings


def test_a_control_label_or_an_id_in_another_case_is_named_as_such(tmp_path: Path) -> None:
    """CRM exports call the held-out customers 'control' or 'holdout' and capitalise ids; the
    error says what such a value most likely is and what to write instead, and guesses
    nothing (the rows are still refused)."""
    tables = _good_tables()
    tables["campaign_log"]["action"] = ["Holdout", "Email", "coupon_10"]
    with pytest.raises(InputValidationError) as raised:
        load_inputs(_write(tmp_path / "shop", tables), as_of=AS_OF, action_ids=ACTIONS)
    (problem,) = raised.value.problems
    assert problem.column == "action" and problem.rows == (1, 2)
    assert "'Email' is 'email' in another case" in str(problem)
    assert (
        "if 'Holdout' marks customers held out of the campaign (no contact), write it as 'none'"
        in str(problem)
    )
    tables["campaign_log"]["action"] = ["none", "emial", "sms_blast"]
    with pytest.raises(InputValidationError) as raised:
        load_inputs(_write(tmp_path / "other", tables), as_of=AS_OF, action_ids=ACTIONS)
    hint = raised.value.problems[0].hint
    assert "'emial': did you mean 'email'?" in hint
    assert "('sms_blast') goes in the scenario's actions with capacity: 0" in hint
