"""The zero-inflated lognormal (ZILN) of Wang, Liu and Miao (2019) for customer-weeks, and the
count distribution of purchase weeks over a horizon.

A customer-week's spend is 0 with probability 1 - p (no purchase) and lognormal(mu, sigma)
otherwise; the loss is the Bernoulli cross-entropy of the purchase plus the lognormal negative
log-likelihood of the positive spends. Purchase weeks over a horizon are negative binomial with
the summed weekly probabilities as mean and a learned shape, so a forecast is a distribution:
its mean is what the optimiser and totals use, its median is the point forecast under absolute
error (MAE is minimised by the median, not the mean).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

LOG_SIGMA_BOUNDS = (-3.0, 2.0)


def ziln_weekly_loss(
    purchase_logit: torch.Tensor,
    spend_mu: torch.Tensor,
    spend_log_sigma: torch.Tensor,
    bought: torch.Tensor,
    spend: torch.Tensor,
    observed: torch.Tensor,
) -> torch.Tensor:
    """Mean ZILN loss per observed customer-week.

    purchase_logit, bought, spend, observed: [B, L]; spend_mu, spend_log_sigma: [B] or [B, L].
    """
    classification = nn.functional.binary_cross_entropy_with_logits(
        purchase_logit, bought, reduction="none"
    )  # [B, L]
    log_sigma = spend_log_sigma.clamp(*LOG_SIGMA_BOUNDS)
    mu, log_sigma = (t if t.dim() == 2 else t[:, None] for t in (spend_mu, log_sigma))
    positive = bought * observed
    log_spend = torch.log(spend.clamp_min(1e-6))
    lognormal = (
        log_spend
        + log_sigma
        + 0.5 * math.log(2 * math.pi)
        + 0.5 * ((log_spend - mu) / log_sigma.exp()) ** 2
    )  # [B, L]
    total = (classification * observed + lognormal * positive).sum()
    return total / observed.sum().clamp_min(1.0)


def negative_binomial_loss(
    mean: torch.Tensor, log_shape: torch.Tensor, count: torch.Tensor
) -> torch.Tensor:
    """Mean negative log-likelihood of `count` under NB(mean, shape) ([B] each)."""
    shape = log_shape.exp()
    log_p = torch.log(shape) - torch.log(shape + mean)  # log P(failure) in scipy's terms
    log_q = torch.log(mean.clamp_min(1e-9)) - torch.log(shape + mean)
    log_likelihood = (
        torch.lgamma(count + shape)
        - torch.lgamma(shape)
        - torch.lgamma(count + 1)
        + shape * log_p
        + count * log_q
    )
    return -log_likelihood.mean()


def lognormal_mean(mu: np.ndarray, log_sigma: np.ndarray) -> np.ndarray:
    sigma = np.exp(np.clip(log_sigma, *LOG_SIGMA_BOUNDS))
    return np.exp(mu + 0.5 * sigma**2)


def count_median(mean: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Median of NB(mean, shape) per customer: the MAE-optimal point forecast of the count."""
    import scipy.stats as stats  # here: scipy.stats takes a second to import, for every command

    mean = np.maximum(mean, 1e-12)
    return stats.nbinom.median(shape, shape / (shape + mean))
