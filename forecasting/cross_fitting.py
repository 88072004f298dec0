"""Cross-fitting statistics of the campaign log's effects: customer halves stratified by arm,
cluster-robust standard errors (a customer's logged weeks are one cluster), and the
calibration regression of held-out doubly robust pseudo-effects on a model's prediction (the
best linear predictor of Chernozhukov, Demirer, Duflo and Fernandez-Val). Pure numpy; the
effect learner (forecasting/dr_effects.py), the contact-inflation check and the release
decision's logged outcomes read them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.shrinkage import own_estimate_shrinkage


def balanced_halves(
    customers: np.ndarray, action: np.ndarray, generator: np.random.Generator
) -> np.ndarray:
    """Cross-fitting halves by customer, stratified by arm ([R] bool, True: second half).

    Customers are grouped by the action of their first logged row, shuffled within the group and
    dealt alternately to the halves, so every arm with at least two customers has customers in
    both halves (a half drawn by coin flips can miss a small arm, and the learner then had
    nothing to fit or check it on). All rows of a customer go to the customer's half."""
    order = np.argsort(customers, kind="stable")
    first = np.ones(len(order), bool)
    first[1:] = customers[order][1:] != customers[order][:-1]
    ids, arms = customers[order][first], action[order][first]  # one row per customer
    shuffled = generator.permutation(len(ids))
    by_arm = shuffled[np.argsort(arms[shuffled], kind="stable")]  # grouped by arm, random within
    rank = np.empty(len(ids), np.int64)
    starts = np.searchsorted(arms[by_arm], arms[by_arm], side="left")
    rank[by_arm] = np.arange(len(ids)) - starts
    second = rank % 2 == 1
    return second[np.searchsorted(ids, customers)]


def clustered_standard_error(values: np.ndarray, clusters: np.ndarray) -> float:
    """Standard error of the mean of `values` when rows of one cluster (a customer's logged
    weeks, whose later-spend windows overlap) are correlated: the cluster-robust (CR1) variance
    G / (G - 1) * sum over clusters of (sum of deviations)^2 / n^2. With one row per cluster
    it is the usual s / sqrt(n) (up to n / (n - 1)). `clusters` are non-negative integer
    labels (customer rows), counted without sorting."""
    if len(values) < 2:
        return float("inf")
    sums = np.bincount(clusters, weights=values - values.mean())  # centred: less cancellation
    return clustered_standard_error_of_sum(sums, np.bincount(clusters)) / len(values)


def clustered_standard_error_of_sum(sums: np.ndarray, counts: np.ndarray) -> float:
    """Standard error of the sum of the values behind per-cluster `sums` and row `counts` ([G]
    each; clusters without rows are not counted): CR1, G / (G - 1) * sum over clusters of
    (sum - count * overall mean)^2, what `clustered_standard_error` gives times the rows, for
    callers that aggregate per cluster before reading (forecasting/contact_inflation.py)."""
    rows = counts.sum()
    groups = int(np.count_nonzero(counts))
    if rows < 2 or groups < 2:
        return float("inf")
    deviations = sums - counts * (sums.sum() / rows)
    return float(np.sqrt(groups / (groups - 1) * (deviations**2).sum()))


def calibration_loadings(
    pseudo: np.ndarray, baseline: np.ndarray, proxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Loadings (theta_base, theta_proxy) of the calibrated effect theta_base baseline +
    theta_proxy proxy, and HC0 standard errors of the regression of `pseudo` on [baseline,
    proxy].

    theta_proxy is that regression's slope, kept in [0, 1] and shrunk towards 0 by its standard
    error (max(0, 1 - se^2 / slope^2): the optimiser picks the customers whose effects look
    best, so heterogeneity the held-out half does not confirm is noise it would buy);
    theta_base then makes the mean of the calibrated effect equal the mean of `pseudo`, the
    doubly robust average effect, which is the best-determined number here (least squares
    without an intercept would trade it away to fit the few customers with the largest
    outcomes).
    """
    design = np.column_stack([baseline, proxy])  # [R, 2]
    gram = design.T @ design
    if np.linalg.cond(gram) > 1e12:  # proxy and baseline collinear: proportional effect only
        loading, se_proxy = 0.0, np.inf
        residual = pseudo - baseline * pseudo.mean() / max(baseline.mean(), 1e-300)
        se_base = np.sqrt((baseline**2 * residual**2).sum()) / max(baseline @ baseline, 1e-300)
    else:
        inverse = np.linalg.inv(gram)
        theta = inverse @ design.T @ pseudo
        residual = pseudo - design @ theta
        meat = (design * residual[:, None] ** 2).T @ design
        se_base, se_proxy = np.sqrt(np.diag(inverse @ meat @ inverse))
        # Kept in [0, 1] and shrunk towards no heterogeneity by its own evidence, as the
        # averages are (max(0, 1 - se^2 / slope^2)): a slope within one standard error of zero
        # keeps none of the model's ranking, one at 2 standard errors keeps 75 % of it.
        loading = float(np.clip(theta[1], 0.0, 1.0) * own_estimate_shrinkage(theta[1], se_proxy))
    base = (pseudo.mean() - loading * proxy.mean()) / max(baseline.mean(), 1e-300)
    return np.array([base, loading]), np.array([se_base, se_proxy])


def doubly_robust_pseudo_effects(
    mu: np.ndarray,
    action: np.ndarray,
    propensity: np.ndarray,
    outcome: np.ndarray,
    outcome_weight: np.ndarray,
) -> np.ndarray:
    """Doubly robust effect of every action against none per row [T, A, O]; an outcome's
    residual is weighted by `outcome_weight` [T, O] (the no-contact weight of a window
    learned for "then no contact", else 1)."""
    rows = np.arange(len(action))
    residual = outcome_weight * (outcome - mu[rows, action]) / propensity[:, None]  # [T, O]
    gamma = mu.copy()  # [T, A, O]
    gamma[rows, action] += residual
    return gamma - gamma[:, :1, :]


def customer_half(ids: np.ndarray) -> np.ndarray:
    """Each customer's half ([N] int, 0 or 1): a fixed hash of the id, the same in every run."""
    return (pd.util.hash_array(np.asarray(ids).astype(str)) % 2).astype(np.int64)
