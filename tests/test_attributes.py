"""Customer attributes as features: the encoding is learned at fit and applied unchanged at
predict; unknown customers, unseen levels and missing values read as neutral."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.attributes import CustomerAttributes


def test_attributes_are_encoded_as_learned_and_unseen_values_are_neutral() -> None:
    rng = np.random.default_rng(0)
    n = 400
    customers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "area": rng.choice(["north", "south", "east"], n),
            "rare": np.where(np.arange(n) < 3, "tiny", "big"),
            "spend_last_year": rng.gamma(2.0, 50.0, n).astype(str),  # CSV text
            "newcomer": rng.choice(["True", "False"], n),
            "constant": "web",
            "email": [f"user{i}@shop" for i in range(n)],  # identifier-like: left out
            "signup": pd.Timestamp("2026-01-01"),  # a date: left out
        }
    )
    encoder = CustomerAttributes(min_count=20).fit(customers)
    assert encoder.feature_names_ == (
        "attr_spend_last_year",
        "attr_newcomer",
        "attr_area=east",
        "attr_area=north",
        "attr_area=south",
        "attr_rare=big",
        "attr_constant=web",
    )
    encoded = encoder.transform(customers, customers["customer_id"].to_numpy())
    assert encoded.shape == (n, 7) and np.isfinite(encoded).all()
    assert encoded[:, 0].mean() == pytest.approx(0.0, abs=1e-5)
    assert encoded[:, 0].std() == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_array_equal(encoded[:, 3], (customers["area"] == "north").to_numpy())

    later = pd.DataFrame(
        {
            "customer_id": ["c0", "new"],
            "area": ["west", "north"],  # a level never seen
            "spend_last_year": [None, "100"],
            "newcomer": ["True", None],
        }
    )
    again = CustomerAttributes.from_dict(encoder.to_dict())
    rows = again.transform(later, np.array(["c0", "new", "absent"]))
    np.testing.assert_array_equal(rows[0, 2:5], [0, 0, 0])  # unseen level: no category
    assert rows[0, 0] == 0.0 and rows[2].tolist() == [0.0] * 7  # missing, unknown: neutral
    assert rows[1, 3] == 1.0 and rows[1, 0] != 0.0


def test_no_customers_table_gives_no_features() -> None:
    encoder = CustomerAttributes().fit(None)
    assert encoder.feature_names_ == ()
    assert encoder.transform(None, np.array(["a", "b"])).shape == (2, 0)


def test_a_column_the_fit_read_as_numbers_is_read_so_for_any_group_of_customers() -> None:
    """97 % of the spend column parses as numbers, so the fit reads it as numbers; a group of
    customers (a shard) where fewer of its cells parse reads the ones that do, not zeros."""
    spend = [str(v) for v in range(97)] + ["n/a"] * 3
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(100)], "spend": spend})
    attributes = CustomerAttributes().fit(customers)
    assert attributes.feature_names_ == ("attr_spend",)
    shard = customers.iloc[90:]  # 7 numbers and the 3 'n/a': 70 % parse
    whole = attributes.transform(customers, customers["customer_id"].to_numpy())
    part = attributes.transform(shard, shard["customer_id"].to_numpy())
    np.testing.assert_array_equal(part, whole[90:])
    assert (part[:7] != 0).all() and (part[7:] == 0).all()
