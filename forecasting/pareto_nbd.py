"""Pareto/NBD: BG/NBD's elder sibling, with dropout in continuous time instead of after purchases.

Schmittlein, Morrison & Colombo (1987): while alive a customer buys at Poisson rate lambda ~
Gamma(r, alpha) and leaves after an exponential lifetime with rate mu ~ Gamma(s, beta). The
likelihood and the conditional expectation follow Fader & Hardie (2005), "A note on deriving
the Pareto/NBD model and related expressions". It is fitted by SciPy's L-BFGS-B on the log
parameters in float64 on the CPU: the Gauss hypergeometric function it needs has no torch
kernel, and four parameters over sufficient statistics fit in about a second per 20k customers.

It serves as the second textbook reference for the purchase forecast's aggregate (the CDNOW
total study, bench/cdnow_totals.py), not as a ForecastSet producer.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.optimize as optimize
import scipy.special as special

from forecasting.features import PurchaseSummary

_NEAR_ONE = 1e-8


class ParetoNBD:
    """Pareto/NBD purchase-count model over weekly purchase data.

    Parameters are keyword-only and only stored; `fit` learns `r_`, `alpha_`, `s_`, `beta_`.
    """

    def __init__(self, *, max_iter: int = 1000, tolerance: float = 1e-10):
        self.max_iter = max_iter
        self.tolerance = tolerance

    def fit(self, summary: PurchaseSummary) -> ParetoNBD:
        if self.max_iter < 1:
            raise ValueError(
                f"The 'max_iter' parameter of ParetoNBD must be >= 1. Got {self.max_iter} instead."
            )
        if len(summary) == 0:
            raise ValueError("ParetoNBD.fit needs at least one customer; got none.")
        started = time.perf_counter()

        def objective(log_params: np.ndarray) -> float:
            value = -np.mean(_log_likelihood(np.exp(log_params), summary))
            return float(value) if np.isfinite(value) else 1e10

        initial = np.log([0.5, max(float(summary.age.mean()), 1.0), 0.5, 10.0])
        result = optimize.minimize(
            objective,
            initial,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "ftol": self.tolerance, "gtol": 1e-8},
        )
        self.r_, self.alpha_, self.s_, self.beta_ = (float(v) for v in np.exp(result.x))
        self.mean_log_likelihood_ = -float(result.fun)
        self.n_iter_ = int(result.nit)
        self.converged_ = bool(result.success)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _params(self) -> np.ndarray:
        return np.array([self.r_, self.alpha_, self.s_, self.beta_])

    @property
    def params_(self) -> dict[str, float]:
        return {"r": self.r_, "alpha": self.alpha_, "s": self.s_, "beta": self.beta_}

    def log_likelihood(self, summary: PurchaseSummary) -> np.ndarray:
        """Log-likelihood of each customer's (frequency, recency, age) under the fitted model."""
        return _log_likelihood(self._params(), summary)

    def probability_alive(self, summary: PurchaseSummary) -> np.ndarray:
        """P(still alive at the end of observation | history), per customer."""
        params = self._params()
        return np.exp(_log_alive_term(params, summary) - _log_likelihood_core(params, summary))

    def expected_purchases(self, weeks: np.ndarray | float, summary: PurchaseSummary) -> np.ndarray:
        """E[purchases in (T, T + weeks] | history], per customer; `weeks` broadcasts.

        With `weeks` shaped [H] and N customers, the result is [N, H].
        """
        r, alpha, s, beta = self.r_, self.alpha_, self.s_, self.beta_
        t = np.asarray(weeks, dtype=np.float64).reshape(1, -1)  # [1, H]
        x = summary.frequency[:, None]  # [N, 1]
        age = summary.age[:, None]
        log_ratio = np.log((beta + age) / (beta + age + t))  # [N, H], <= 0
        # (1 - ratio^(s-1)) / (s-1), continuous at s = 1 where it is -log(ratio).
        if abs(s - 1.0) > _NEAR_ONE:
            lifetime_weeks = -np.expm1((s - 1.0) * log_ratio) / (s - 1.0)
        else:
            lifetime_weeks = -log_ratio
        expected = (
            (r + x) / (alpha + age) * (beta + age) * lifetime_weeks
        ) * self.probability_alive(summary)[:, None]
        return expected if np.ndim(weeks) else expected[:, 0]


def _log_alive_term(params: np.ndarray, summary: PurchaseSummary) -> np.ndarray:
    """log of the likelihood's alive-at-T term, without the common Gamma-function factor."""
    r, alpha, s, beta = params
    x, age = summary.frequency, summary.age
    return (
        r * np.log(alpha)
        + s * np.log(beta)
        - (r + x) * np.log(alpha + age)
        - s * np.log(beta + age)
    )


def _log_likelihood_core(params: np.ndarray, summary: PurchaseSummary) -> np.ndarray:
    """log L without the factor Gamma(r + x) / Gamma(r): alive at T, or left in (t_x, T]."""
    r, alpha, s, beta = params
    x, t_x, age = summary.frequency, summary.recency, summary.age
    total = r + s + x
    # A0 (Fader & Hardie 2005, eq. 19-20): the hypergeometric series in the larger of alpha,
    # beta, so that its argument lies in [0, 1).
    if alpha >= beta:
        larger, second = alpha, s + 1.0
    else:
        larger, second = beta, r + x
    gap = abs(alpha - beta)

    def log_term(at: np.ndarray) -> np.ndarray:
        z = gap / (larger + at)
        return np.log(special.hyp2f1(total, second, total + 1.0, z)) - total * np.log(larger + at)

    log_recent, log_end = log_term(t_x), log_term(age)
    # log(exp(a) - exp(b)) for a >= b; tiny negative rounding when t_x == T is clipped.
    log_a0 = log_recent + np.log(-np.expm1(np.minimum(log_end - log_recent, -1e-300)))
    log_left = r * np.log(alpha) + s * np.log(beta) + np.log(s / total) + log_a0
    return np.logaddexp(_log_alive_term(params, summary), log_left)


def _log_likelihood(params: np.ndarray, summary: PurchaseSummary) -> np.ndarray:
    r = params[0]
    x = summary.frequency
    return special.gammaln(r + x) - special.gammaln(r) + _log_likelihood_core(params, summary)
