"""Weekly budgets that hold with a stated probability, not only in expectation.

A plan's marketing cost in week t is random: fixed costs are certain, but discounts are paid on
the purchases that happen. With customers independent, the week's cost C_t = sum_u C_ut has mean
sum c[u, a, t] x[u, a, t] (the problem's cost row) and variance sum s2[u, a, t] x[u, a, t].
The chance constraint P(C_t <= B_t) >= q has, under the normal approximation of a sum of many
independent terms, the deterministic equivalent

    sum c x + z_q sqrt(sum s2 x) <= B_t,        z_q = Phi^{-1}(q),

which is a second-order cone row, not a linear one. It is met by tightening the linear budget
row: solve with B_t - m_t, measure the plan's z_q * sd_t, raise m_t to it, and solve again until
the plan's mean plus z_q * sd fits inside B_t (the margins only grow, so the loop ends; each
round is one solve of whatever backend the caller chose, so every backend gets the same
guarantee). The plan is then feasible for the cone row; it may be slightly conservative (its
margin is the sd of the previous, larger plan).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri  # the normal quantile

from optimization.problem import DecisionProblem
from optimization.recommendations import RecommendationPlan
from optimization.settings import SolveSettings
from optimization.solution import Solution
from optimization.solve import solve

#: Rounds of tightening before giving up (each is one solve).
MAX_ROUNDS = 8


@dataclass(frozen=True)
class BudgetConfidence:
    """How the budgets were made to hold: the confidence q, its z, per week the margin kept
    free [H], the plan's expected cost and its standard deviation [H], and the rounds taken."""

    confidence: float
    z: float
    margin: np.ndarray
    expected_cost: np.ndarray
    cost_sd: np.ndarray
    rounds: int

    def holds(self, budget: np.ndarray) -> np.ndarray:
        """[H] bool: mean + z sd within the budget (weeks without a budget hold trivially)."""
        return self.expected_cost + self.z * self.cost_sd <= budget * (1 + 1e-9) + 1e-9

    def to_dict(self) -> dict[str, object]:
        return {
            "confidence": self.confidence,
            "z": self.z,
            "margin": self.margin.tolist(),
            "expected_cost": self.expected_cost.tolist(),
            "cost_sd": self.cost_sd.tolist(),
            "rounds": self.rounds,
        }


def plan_cost_moments(
    problem: DecisionProblem, cost_variance: np.ndarray, choice: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each week's cost under `choice` ([N, H]): [H] each."""
    n, _, h = problem.shape
    rows = np.arange(n)[:, None]
    weeks = np.arange(h)[None, :]
    mean = problem.cost[rows, choice, weeks].sum(axis=0)
    variance = cost_variance[rows, choice, weeks].sum(axis=0)
    return mean, np.sqrt(np.maximum(variance, 0.0))


def solve_with_budget_confidence(
    problem: DecisionProblem,
    cost_variance: np.ndarray,
    confidence: float,
    backend: str = "auto",
    settings: SolveSettings | None = None,
    *,
    recommended: RecommendationPlan | None = None,
) -> tuple[Solution, BudgetConfidence]:
    """Solve so that each week's budget holds with probability `confidence` (module docstring).

    `cost_variance` [N, A, H] is the variance of each coefficient of `problem.cost`. Returns the
    solution of the last tightened problem (its constraint report shows the tightened budgets)
    and how they were tightened. The recommendation block (untouched by the budgets) is solved
    once, or `recommended` reused (`solve`).
    """
    if not 0.5 <= confidence < 1.0:
        raise ValueError(
            "The 'confidence' parameter of solve_with_budget_confidence must be in [0.5, 1). "
            f"Got {confidence} instead."
        )
    if cost_variance.shape != problem.shape:
        raise ValueError(
            f"cost_variance must be shaped {problem.shape} like the problem's cost; "
            f"got {cost_variance.shape}"
        )
    settings = settings or SolveSettings()
    z = float(ndtri(confidence))
    budget = problem.weekly_budget
    h = problem.shape[2]
    margin = np.zeros(h)
    solution = solve(problem, backend, settings, recommended=recommended)
    recommended = solution.recommended
    rounds = 1
    mean, sd = np.zeros(h), np.zeros(h)
    while solution.has_plan:
        mean, sd = plan_cost_moments(problem, cost_variance, solution.plan())
        needed = np.where(np.isfinite(budget), z * sd, 0.0)
        if np.all(mean + needed <= budget * (1 + 1e-9) + 1e-9) or rounds >= MAX_ROUNDS:
            break
        margin = np.maximum(margin, needed)
        tightened = dataclasses.replace(problem, weekly_budget=np.maximum(budget - margin, 0.0))
        solution = solve(tightened, backend, settings, recommended=recommended)
        rounds += 1
    report = BudgetConfidence(confidence, z, margin, mean, sd, rounds)
    if solution.has_plan:
        held = report.holds(budget)
        note = (
            f"weekly budgets hold with probability >= {confidence:.0%} (normal approximation of "
            f"the plan's cost; z = {z:.2f}): {int(held.sum())} of {h} weeks, budgets tightened "
            f"by up to {margin.max():,.2f} in {rounds} solve(s)"
        )
        solution = dataclasses.replace(solution, notes=(*solution.notes, note))
    return solution, report
