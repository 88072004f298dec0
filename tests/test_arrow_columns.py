"""The Arrow column operations of input validation give what the pandas expressions they replace
give, on text from CSV (pandas `str`), Arrow-backed Parquet columns, integers and mixed objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from shopdata.arrow_columns import blank_mask, duplicated_rows, identifiers, member_mask

cells = st.one_of(st.none(), st.sampled_from(["a", " a", "a ", "b", "", "  ", "c\t", "Ω"]))


def _pandas_ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    blank = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
    return values.astype(str).str.strip().where(~blank, None).astype("string"), blank


@settings(max_examples=60, deadline=None)
@given(st.lists(cells, min_size=1, max_size=30), st.booleans())
def test_identifiers_and_blanks_match_pandas(raw: list[str | None], chunked: bool) -> None:
    values = pd.Series(raw, dtype="str")
    if chunked and len(raw) > 1:  # a Parquet column arrives in several chunks
        half = len(raw) // 2
        arrow = pa.chunked_array(
            [pa.array(raw[:half], pa.large_string()), pa.array(raw[half:], pa.large_string())]
        )
        values = pd.Series(pd.arrays.ArrowStringArray(arrow))
    ids, blank = identifiers(values)
    expected_ids, expected_blank = _pandas_ids(values)
    np.testing.assert_array_equal(blank, expected_blank)
    np.testing.assert_array_equal(blank_mask(values), expected_blank)
    pd.testing.assert_series_equal(ids, expected_ids, check_dtype=False)
    assert isinstance(ids.dtype, pd.StringDtype)


def test_integer_and_mixed_identifiers_become_text() -> None:
    ids, blank = identifiers(pd.Series([10, 20, 10]))
    assert ids.tolist() == ["10", "20", "10"] and not blank.any()
    mixed, blank = identifiers(pd.Series([1, " x ", None], dtype=object))
    assert mixed.tolist()[:2] == ["1", "x"] and blank.tolist() == [False, False, True]
    # integer ids with a gap arrive as floats: written as the same ids without the gap are
    floats, blank = identifiers(pd.Series([1.0, np.nan, 12345678901.0]))
    assert floats.tolist()[::2] == ["1", "12345678901"] and blank.tolist() == [False, True, False]
    assert identifiers(pd.Series([1.5, 2.0]))[0].tolist() == ["1.5", "2"]  # not whole: as Arrow


@settings(max_examples=60, deadline=None)
@given(st.lists(cells, min_size=1, max_size=30), st.lists(cells, min_size=0, max_size=8))
def test_membership_matches_isin(raw: list[str | None], known_raw: list[str | None]) -> None:
    values, _ = identifiers(pd.Series(raw, dtype="str"))
    known, _ = identifiers(pd.Series(known_raw, dtype="str"))
    expected = values.isin(known.dropna()).to_numpy() & values.notna().to_numpy()
    np.testing.assert_array_equal(member_mask(values, known.dropna()), expected)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            cells,
            st.sampled_from([0, 1, 2]),
            st.sampled_from([1.0, 2.5, float("nan")]),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_duplicated_rows_match_pandas(rows: list[tuple[str | None, int, float, bool]]) -> None:
    customer, day, amount, refund = zip(*rows, strict=True)
    table = pd.DataFrame(
        {
            "customer_id": identifiers(pd.Series(customer, dtype="str"))[0],
            "ts": pd.Timestamp("2026-01-05") + pd.to_timedelta(list(day), unit="D"),
            "amount": list(amount),
            "is_refund": list(refund),
        }
    )
    for columns in (["customer_id"], ["customer_id", "ts"], list(table.columns)):
        np.testing.assert_array_equal(
            duplicated_rows(table, columns), table.duplicated(subset=columns).to_numpy()
        )


def test_duplicated_rows_renumber_before_overflow() -> None:
    rng = np.random.default_rng(0)
    n = 5_000
    table = pd.DataFrame({f"c{k}": rng.integers(0, 2_000, n) for k in range(7)})
    table.iloc[n // 2] = table.iloc[7]  # one repeated row among 7 wide columns
    np.testing.assert_array_equal(
        duplicated_rows(table, list(table.columns)), table.duplicated().to_numpy()
    )
