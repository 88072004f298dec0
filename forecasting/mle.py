"""Maximum likelihood for small parametric models in torch (float64, L-BFGS, positive params).

BG/NBD and Gamma-Gamma share this: parameters are optimised on the log scale so they stay
positive, the whole data set is one batch (sufficient statistics are tiny), and the run is on
whatever device the data lives on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MaximumLikelihoodResult:
    params: np.ndarray
    mean_log_likelihood: float
    iterations: int
    converged: bool


def maximise_likelihood(
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    initial_params: np.ndarray,
    *,
    device: torch.device,
    penalizer: float = 0.0,
    log_penalizer: float = 0.0,
    max_iter: int = 500,
    tolerance: float = 1e-10,
) -> MaximumLikelihoodResult:
    """Maximise mean(log_likelihood(params)) - penalizer * sum(params**2)
    - log_penalizer * sum(log(params / initial_params)**2) over params > 0.

    `log_likelihood` maps a positive parameter vector to per-observation log-likelihoods. The
    second penalty is a weak log-normal prior centred on the start: unlike the first (lifetimes'
    penalizer_coef) it keeps parameters away from 0 as well as from infinity.
    """
    log_params = torch.tensor(
        np.log(initial_params), dtype=torch.float64, device=device, requires_grad=True
    )
    centre = log_params.detach().clone()
    optimiser = torch.optim.LBFGS(
        [log_params],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tolerance,
        tolerance_change=tolerance * 1e-3,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        params = log_params.exp()
        loss = (
            -log_likelihood(params).mean()
            + penalizer * (params**2).sum()
            + log_penalizer * ((log_params - centre) ** 2).sum()
        )
        loss.backward()
        return loss

    optimiser.step(objective)
    state = optimiser.state[optimiser._params[0]]
    iterations = int(state.get("n_iter", 0))
    with torch.no_grad():
        params = log_params.exp()
        mean_ll = float(log_likelihood(params).mean())
        gradient = log_params.grad
        converged = bool(
            np.isfinite(mean_ll) and gradient is not None and float(gradient.abs().max()) < 1e-5
        )
    return MaximumLikelihoodResult(
        params=params.detach().cpu().numpy(),
        mean_log_likelihood=mean_ll,
        iterations=iterations,
        converged=converged,
    )
