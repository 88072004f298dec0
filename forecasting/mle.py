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


#: Weights of the log-normal prior tried, in turn, when the unpenalised optimum leaves the
#: parameter space (`maximise_likelihood`'s log_penalizer).
FALLBACK_LOG_PENALIZERS = (1e-3, 1e-2, 1e-1, 1.0)
#: Parameters outside [1 / this, this] are a boundary the optimiser ran off to, not a fit.
PARAMETER_LIMIT = 1e4


def inside_parameter_space(result: MaximumLikelihoodResult) -> bool:
    """Whether a fit is an interior optimum: finite likelihood, every parameter finite and
    within [1 / PARAMETER_LIMIT, PARAMETER_LIMIT]."""
    params = result.params
    return bool(
        np.isfinite(result.mean_log_likelihood)
        and np.all(np.isfinite(params))
        and np.all(params < PARAMETER_LIMIT)
        and np.all(params > 1.0 / PARAMETER_LIMIT)
    )


@dataclass(frozen=True)
class InteriorFit:
    """A fit inside the parameter space, and how it was reached: `fallback` is '' for the
    plain maximum likelihood, else what the unpenalised fit did and the prior's weight used."""

    result: MaximumLikelihoodResult
    fallback: str


def maximise_inside(
    log_likelihood: Callable[[torch.Tensor], torch.Tensor],
    initial_params: np.ndarray,
    *,
    names: tuple[str, ...],
    model: str,
    device: torch.device,
    penalizer: float = 0.0,
    max_iter: int = 500,
) -> InteriorFit:
    """`maximise_likelihood`, refitted with a weak log-normal prior centred on the start
    (weights FALLBACK_LOG_PENALIZERS in turn) where the unpenalised optimum leaves the parameter
    space (`inside_parameter_space`).

    A likelihood without an interior maximum is a property of the data, not a failure: few
    repeat buyers leave BG/NBD's flat towards a = 0 or b = infinity; spend that does not differ
    between customers sends Gamma-Gamma's q and v to infinity together (nu then has no spread).
    Run there, the optimiser ends at 1e13 or, on another CPU's rounding, at NaN. The prior stops
    it where the likelihood is flat, so the fit is the limit's predictions at finite parameters.
    ValueError (naming `model` and the parameters) where even the strongest prior leaves.
    """
    result = maximise_likelihood(
        log_likelihood, initial_params, device=device, penalizer=penalizer, max_iter=max_iter
    )
    if inside_parameter_space(result):
        return InteriorFit(result, "")
    unpenalised = dict(zip(names, result.params.tolist(), strict=True))
    for log_penalizer in FALLBACK_LOG_PENALIZERS:
        result = maximise_likelihood(
            log_likelihood,
            initial_params,
            device=device,
            penalizer=penalizer,
            log_penalizer=log_penalizer,
            max_iter=max_iter,
        )
        if inside_parameter_space(result):
            return InteriorFit(
                result,
                f"the unpenalised fit left the parameter space ({unpenalised}); refitted with a "
                f"log-normal prior of weight {log_penalizer}",
            )
    raise ValueError(
        f"{model} has no interior maximum of its likelihood on these data, even with a "
        f"log-normal prior of weight {FALLBACK_LOG_PENALIZERS[-1]} (parameters "
        f"{dict(zip(names, result.params.tolist(), strict=True))})"
    )
