"""Shrinking per-customer effects towards their mean by the reliability of two independent
estimates, from moments that add up across groups of customers.

The campaign-log T-learner (forecasting/uplift.py) gives each customer two estimates per
action, from models fitted on the two halves of the log. The average of the two is shrunk
towards the action's mean by its reliability, 2 rho / (1 + rho) with rho the estimates'
correlation across the customers scored (Spearman-Brown), so the optimiser does not chase
heterogeneity that is mostly noise. The mean and rho need only the count, the means and the
centred second moments of each pair of columns; `PairMoments` holds them and merges two groups
exactly (Chan, Golub and LeVeque's pairwise update), so customers scored in shards, on Ray
actors or in one process, are shrunk by the same figures (to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairMoments:
    """Per column of two estimates a, b ([N, A] each): the count `n`, the means [A] and the
    centred sums of squares and of cross-products [A]."""

    n: int
    mean_a: np.ndarray
    mean_b: np.ndarray
    m2_a: np.ndarray
    m2_b: np.ndarray
    c_ab: np.ndarray

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray) -> PairMoments:
        """The moments of one group of customers' estimates ([N, A] each)."""
        n = a.shape[0]
        if n == 0:
            zeros = np.zeros(a.shape[1])
            return cls(0, zeros, zeros, zeros, zeros, zeros)
        mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
        da, db = a - mean_a, b - mean_b
        return cls(
            n, mean_a, mean_b, (da * da).sum(axis=0), (db * db).sum(axis=0), (da * db).sum(axis=0)
        )

    def __add__(self, other: PairMoments) -> PairMoments:
        """The moments of both groups together (exact up to rounding)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        weight = self.n * other.n / n
        delta_a, delta_b = other.mean_a - self.mean_a, other.mean_b - self.mean_b
        return PairMoments(
            n,
            self.mean_a + delta_a * other.n / n,
            self.mean_b + delta_b * other.n / n,
            self.m2_a + other.m2_a + delta_a * delta_a * weight,
            self.m2_b + other.m2_b + delta_b * delta_b * weight,
            self.c_ab + other.c_ab + delta_a * delta_b * weight,
        )

    def reliability(self) -> np.ndarray:
        """2 rho / (1 + rho) per column ([A]), rho the estimates' correlation clipped to
        [0, 1]; 0 where a column is constant or there are fewer than three customers."""
        usable = (self.n > 2) & (self.m2_a > 0) & (self.m2_b > 0)
        rho = np.zeros_like(self.c_ab)
        rho[usable] = self.c_ab[usable] / np.sqrt(self.m2_a[usable] * self.m2_b[usable])
        rho = np.clip(rho, 0.0, 1.0)
        return 2 * rho / (1 + rho)

    def shrink(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The average of `a` and `b` ([N, A], any group of the customers these moments
        describe) shrunk towards the column means by the reliability."""
        mean = (self.mean_a + self.mean_b) / 2.0
        return mean + self.reliability() * ((a + b) / 2.0 - mean)


@dataclass(frozen=True)
class EffectMoments:
    """The T-learner's two shrinkages: the purchase-logit shifts' and the future-spend deltas'."""

    shift: PairMoments
    future: PairMoments

    def __add__(self, other: EffectMoments) -> EffectMoments:
        return EffectMoments(self.shift + other.shift, self.future + other.future)


@dataclass(frozen=True)
class HalfSampleEffects:
    """One group of customers' two estimates per action: purchase-logit shifts and
    future-spend deltas, [2, N, A] each (first axis: the half-sample model)."""

    shifts: np.ndarray
    futures: np.ndarray

    def moments(self) -> EffectMoments:
        return EffectMoments(
            PairMoments.of(self.shifts[0], self.shifts[1]),
            PairMoments.of(self.futures[0], self.futures[1]),
        )
