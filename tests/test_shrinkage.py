"""The effects' shrinkage from moments that add up across groups of customers: any split of
the customers gives the whole population's moments, and the shrinkage is Spearman-Brown's on
the estimates' correlation."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.shrinkage import PairMoments


def _pair(seed: int, n: int, columns: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(3.0, 1.0, (n, columns))
    a = signal + rng.normal(0, 1.5, (n, columns))
    b = signal + rng.normal(0, 1.5, (n, columns))
    a[:, 0] = b[:, 0] = 0.0  # `none`: no effect against itself
    b[:, 3] = -a[:, 3]  # estimates that disagree: no reliability
    return a, b


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 300),
    cuts=st.lists(st.integers(0, 300), max_size=5),
)
def test_moments_of_any_split_add_up_to_the_whole(seed: int, n: int, cuts: list[int]) -> None:
    a, b = _pair(seed, n)
    edges = sorted({0, n, *(c for c in cuts if c <= n)})
    parts = [PairMoments.of(a[lo:hi], b[lo:hi]) for lo, hi in itertools.pairwise(edges)]
    merged = PairMoments.of(a[:0], b[:0])
    for part in parts:
        merged = merged + part
    whole = PairMoments.of(a, b)
    assert merged.n == whole.n == n
    for name in ("mean_a", "mean_b", "m2_a", "m2_b", "c_ab"):
        np.testing.assert_allclose(
            getattr(merged, name), getattr(whole, name), rtol=1e-9, atol=1e-9
        )
    np.testing.assert_allclose(merged.reliability(), whole.reliability(), rtol=1e-9, atol=1e-12)


def test_shrinkage_is_spearman_brown_on_the_correlation() -> None:
    a, b = _pair(0, 5_000)
    moments = PairMoments.of(a, b)
    reliability = moments.reliability()
    assert reliability[0] == 0.0 and reliability[3] == 0.0
    for column in (1, 2):
        rho = np.corrcoef(a[:, column], b[:, column])[0, 1]
        assert 0.2 < rho < 0.5
        assert np.isclose(reliability[column], 2 * rho / (1 + rho), rtol=1e-12)
    shrunk = moments.shrink(a, b)
    average = (a + b) / 2
    mean = average.mean(axis=0)
    np.testing.assert_allclose(shrunk, mean + reliability * (average - mean), rtol=1e-12)
    # Shrinking a group of the customers uses the whole population's mean and reliability.
    np.testing.assert_allclose(moments.shrink(a[:10], b[:10]), shrunk[:10], rtol=1e-12)
