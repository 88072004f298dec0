"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV").

A customer's purchase amounts are Gamma(p, nu) with nu ~ Gamma(q, gamma) across customers;
fitted by maximum likelihood in torch on the customers with repeat purchases.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from forecasting.features import PurchaseSummary
from forecasting.mle import maximise_inside
from shopdata.device import resolve_device


class GammaGammaSpend:
    """Expected spend per purchase week, shrunk from each customer's mean towards the shop's."""

    def __init__(self, *, penalizer: float = 0.0, device: str = "auto", max_iter: int = 500):
        self.penalizer = penalizer
        self.device = device
        self.max_iter = max_iter

    def fit(self, summary: PurchaseSummary) -> GammaGammaSpend:
        usable = (summary.frequency > 0) & (summary.monetary_value > 0)
        if usable.sum() < 3:
            raise ValueError(
                "GammaGammaSpend.fit needs at least 3 customers with repeat purchases of positive "
                f"value; got {int(usable.sum())}."
            )
        device = resolve_device(self.device)
        started = time.perf_counter()
        x = torch.tensor(summary.frequency[usable], dtype=torch.float64, device=device)
        m = torch.tensor(summary.monetary_value[usable], dtype=torch.float64, device=device)

        def log_likelihood(params: torch.Tensor) -> torch.Tensor:
            p, q, v = params
            lg = torch.lgamma
            return (
                lg(p * x + q)
                - lg(p * x)
                - lg(q)
                + q * torch.log(v)
                + (p * x - 1) * torch.log(m)
                + p * x * torch.log(x)
                - (p * x + q) * torch.log(x * m + v)
            )

        initial = np.array([1.0, 1.0, max(float(m.mean()), 1.0)])
        # Spend that does not differ between customers beyond their own purchases' noise has
        # no interior maximum (q, v -> infinity together): the fit is then made with a weak
        # prior, which gives the limit's predictions (every customer near the shop's mean).
        fit = maximise_inside(
            log_likelihood,
            initial,
            names=("p", "q", "v"),
            model=f"Gamma-Gamma on {int(usable.sum())} customers with repeat purchases",
            device=device,
            penalizer=self.penalizer,
            max_iter=self.max_iter,
        )
        result = fit.result
        self.fallback_ = fit.fallback
        self.p_, self.q_, self.v_ = (float(v) for v in result.params)
        self.mean_log_likelihood_ = result.mean_log_likelihood
        self.n_iter_ = result.iterations
        self.converged_ = result.converged
        self.customers_used_ = int(usable.sum())
        self.device_ = str(device)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    @property
    def params_(self) -> dict[str, float]:
        return {"p": self.p_, "q": self.q_, "v": self.v_}

    def expected_spend(self, summary: PurchaseSummary) -> np.ndarray:
        """E[spend of a purchase week | history], per customer ([N]); the population mean for
        customers without repeat purchases."""
        p, q, v = self.p_, self.q_, self.v_
        x, m = summary.frequency, summary.monetary_value
        population_mean = p * v / (q - 1) if q > 1 else float(np.mean(m[m > 0]))
        individual = p * (v + x * m) / np.maximum(p * x + q - 1, 1e-12)
        return np.where((x > 0) & (m > 0), individual, population_mean)
