"""Minimising the Lagrangian dual (optimization/lagrangian.py): a box-step cutting-plane
(bundle) method whose master problem is a small LP on HiGHS, with the multipliers' natural
scales and the tolerance the dual is driven to.

L(y) is convex and piecewise linear in the multipliers y >= 0; each evaluation gives its value
and a subgradient g_k at y_k, so L(y) >= L_k + g_k (y - y_k) (a cut). The master minimises the
model max_k (L_k + g_k (y - y_k)) inside a box around the best point so far: a candidate that
decreases L by at least a tenth of the model's predicted decrease becomes the centre (a serious
step; the box doubles where the step reached its edge), else its cut is kept (a null step;
every fourth halves the box). It stops when the model predicts a relative decrease below the
tolerance: the model is a lower bound on L, so the centre is then within it of the minimum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from optimization.highs_model import solve_with_highs
from optimization.lagrangian import DualPoint, LagrangianDual
from optimization.problem import DecisionProblem
from optimization.rows import CouplingRows, RowKind
from optimization.settings import SolveSettings
from shopdata.progress import counted


@dataclass(frozen=True)
class DualResult:
    best: DualPoint  # lowest L(y) found: the bound
    iterations: int
    converged: bool
    seconds: float
    history: tuple[float, ...]


def price_scales(
    problem: DecisionProblem, rows: CouplingRows, chunk_customers: int = 200_000
) -> np.ndarray:
    """A natural size for each multiplier: value per unit of the row's coefficient. The mean
    absolute differences to `none` are summed chunk by chunk, so no [N, A-1, H] temporaries
    of the whole problem are made."""
    n = problem.shape[0]
    totals = np.zeros(3)  # |dv|, |dc|, |dr|
    for start in range(0, n, chunk_customers):
        stop = min(start + chunk_customers, n)
        for k, array in enumerate((problem.value, problem.cost, problem.revenue)):
            chunk = array[start:stop]
            totals[k] += np.abs(chunk[:, 1:, :] - chunk[:, :1, :]).sum(dtype=np.float64)
    value_mean, cost_mean, revenue_mean = totals / (n * (problem.shape[1] - 1) * problem.shape[2])
    value_size = max(float(value_mean), 1e-9)
    scale = np.ones(len(rows))
    for i, kind in enumerate(rows.kinds):
        if kind in (RowKind.WEEKLY_BUDGET, RowKind.TOTAL_BUDGET):
            scale[i] = value_size / max(float(cost_mean), 1e-9)
        elif kind is RowKind.REVENUE_FLOOR:
            scale[i] = value_size / max(float(revenue_mean), 1e-9)
        elif kind is RowKind.RATIO:  # its coefficients are values: a price of about 1
            scale[i] = 1.0
        else:
            scale[i] = value_size
    return scale


#: The tightest tolerance the dual is ever driven to (its model's relative decrease).
FINEST_DUAL_TOLERANCE = 1e-7


def dual_tolerance(settings: SolveSettings) -> float:
    """The relative decrease of the dual's model under which it stops: the settings' own
    `lagrangian.dual_tolerance`, or by default a 300th of the requested relative gap (at least
    FINEST_DUAL_TOLERANCE). The bound is then within that share of the dual's minimum, and on
    the random family the plan repaired from it stays within the gap asked (1M customers at
    1e-3: gap 5.1e-4 after 20 evaluations, where 1e-6 took 24 and a 100th of the gap gave
    1.08e-3); the backend drives the dual further when the repaired plan misses the gap."""
    if settings.lagrangian.dual_tolerance is not None:
        return settings.lagrangian.dual_tolerance
    return max(settings.relative_gap / 300.0, FINEST_DUAL_TOLERANCE)


def minimise_dual(
    dual: LagrangianDual,
    settings: SolveSettings,
    *,
    deadline: float,
    start: np.ndarray | None = None,
    box_fraction: float = 1.0,
    step: str = "dual evaluations",
    tolerance: float | None = None,
) -> DualResult:
    """Box-step cutting planes: minimise the piecewise-linear model of L inside a box around
    the best point; serious steps move the box, null steps add cuts; stop when the model
    predicts less than `tolerance` relative decrease (default `dual_tolerance(settings)`).
    Each evaluation is counted as `step` (shopdata.progress) with the predicted relative
    decrease left."""
    config = settings.lagrangian
    tolerance = dual_tolerance(settings) if tolerance is None else tolerance
    rows = dual.rows
    m = len(rows)
    started = time.perf_counter()
    counter = counted(step, None, "evaluations")
    center, _ = dual.evaluate(np.zeros(m) if start is None else start)
    counter.advance()
    history = [center.value]
    if m == 0:
        counter.finish("no coupling rows")
        return DualResult(center, 1, True, time.perf_counter() - started, tuple(history))
    scale = price_scales(dual.problem, rows, dual.chunk)
    box = scale * box_fraction
    cuts = [center]
    converged = False
    iteration = 0
    nulls = 0
    for iteration in range(1, config.max_iterations + 1):  # noqa: B007 (reported after)
        candidate, model_value = _master(cuts, center.multipliers, box)
        predicted = center.value - model_value
        if predicted <= tolerance * max(1.0, abs(center.value)):
            # The cutting-plane model (a lower bound on the convex L) is minimised at the
            # centre over the box, hence everywhere: the centre minimises L.
            converged = True
            break
        if time.perf_counter() > deadline:
            break
        point, _ = dual.evaluate(candidate)
        counter.advance(
            note=f"predicted decrease {predicted / max(1.0, abs(center.value)):.1e} of the "
            f"dual, stopping under {tolerance:.0e}"
        )
        cuts.append(point)
        history.append(point.value)
        if center.value - point.value >= 0.1 * predicted:
            on_edge = np.any(np.abs(candidate - center.multipliers) >= box * 0.999)
            center = point
            nulls = 0
            if on_edge:
                box *= 2.0
        else:
            nulls += 1
            if nulls % 4 == 0:
                box *= 0.5
    counter.finish("converged" if converged else "stopped at the time or iteration limit")
    return DualResult(center, iteration, converged, time.perf_counter() - started, tuple(history))


def _master(cuts: list[DualPoint], center: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
    """min theta s.t. theta >= L_k + g_k (y - y_k), y >= 0, |y - center| <= box."""
    m = len(center)
    k = len(cuts)
    # Variables: y (m), theta (1). Rows: g_k y - theta <= g_k y_k - L_k.
    gradients = np.stack([c.subgradient for c in cuts])  # [K, m]
    coefficients = np.hstack([gradients, -np.ones((k, 1))])  # [K, m + 1]
    rhs = np.array([c.subgradient @ c.multipliers - c.value for c in cuts])
    objective = np.zeros(m + 1)
    objective[-1] = 1.0
    lower = np.concatenate([np.maximum(center - box, 0.0), [-np.inf]])
    upper = np.concatenate([center + box, [np.inf]])
    outcome = solve_with_highs(
        objective,
        lower,
        upper,
        sparse.csc_matrix(coefficients),
        np.full(k, -np.inf),
        rhs,
        SolveSettings(time_limit_s=60.0),
        integer=False,
        maximise=False,
    )
    if outcome.x is None:  # numerically troubled master: stay put
        return center, cuts[-1].value
    return outcome.x[:m], float(outcome.x[-1])
