"""The deep forecast's weekly purchase curve (forecasting/deep_purchases.py): BG/NBD's prior
log-odds corrected by the network's level and its slope in log(1 + week), the corrections
centred over the customers of a training anchor, and the forecast shifted week by week so that
its expected purchases are BG/NBD's; with the forecast it gives (`PurchaseForecast`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import scipy.special as special
import torch

from forecasting.networks import PURCHASE_LEVEL, PURCHASE_SLOPE
from forecasting.ziln import count_median

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def purchase_logit(prior_logit: Array, outputs: Array, basis: Array) -> Array:
    """Weekly purchase log-odds [B, H]: the prior's ([B, H]), corrected by the network's level
    and its slope in log(1 + week) (`basis` [H]); the same formula in training and forecasting."""
    level = outputs[:, PURCHASE_LEVEL : PURCHASE_LEVEL + 1]  # [B, 1]
    slope = outputs[:, PURCHASE_SLOPE : PURCHASE_SLOPE + 1]  # [B, 1]
    return prior_logit + level + slope * basis[None, :]


def centred_by_group(values: torch.Tensor, group: torch.Tensor, groups: int) -> torch.Tensor:
    """`values` [B, C] less the mean of its group's rows in the batch (`group` [B])."""
    sums = torch.zeros(groups, values.shape[1], dtype=values.dtype, device=values.device)
    sums = sums.index_add(0, group, values)  # [G, C]
    counts = torch.bincount(group, minlength=groups).clamp(min=1)  # [G]
    return values - (sums / counts[:, None])[group]


def aggregate_matching_shift(logit: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per week, the log-odds shift s[h] with sum_n sigmoid(logit[n, h] + s[h]) = target[h]
    (`logit` [N, H], `target` [H], 0 < target < N): Newton's method on an increasing function,
    steps clipped to 1."""
    shift = np.zeros(logit.shape[1])
    for _ in range(100):
        probability = special.expit(logit + shift)  # [N, H]
        gap = probability.sum(axis=0) - target  # [H]
        if np.all(np.abs(gap) <= 1e-10 * target):
            break
        slope = (probability * (1.0 - probability)).sum(axis=0)
        shift -= np.clip(gap / np.maximum(slope, 1e-300), -1.0, 1.0)
    return shift


@dataclass(frozen=True)
class PurchaseForecast:
    """No-action forecast for N customers over H weeks from the anchor.

    purchase_prob [N, H]; spend [N]: mean spend of a purchase week; count_shape [N]: negative
    binomial shape of purchase weeks over the horizon; prior [N, H]: BG/NBD's weekly curve.
    """

    customer_ids: np.ndarray
    purchase_prob: np.ndarray
    spend: np.ndarray
    count_shape: np.ndarray
    prior: np.ndarray

    def expected_weeks(self) -> np.ndarray:
        return self.purchase_prob.sum(axis=1)

    def median_weeks(self) -> np.ndarray:
        return count_median(self.expected_weeks(), self.count_shape)

    def expected_spend(self) -> np.ndarray:
        return self.expected_weeks() * self.spend
