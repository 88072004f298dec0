"""What the held-out halves say about a campaign log's learned effects
(forecasting/dr_effects.py): per action and outcome, the calibrated model's average effect
against the doubly robust one with the calibration's loadings and shrinkage; sorted group
average effects (GATES: predicted against doubly robust effect per quantile group of the
model's effect); and a reliability curve of the purchase probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from forecasting.cross_fitting import clustered_standard_error
from forecasting.metrics import reliability_curve


class FittedEffects(Protocol):
    """What the diagnostics read of a fitted learner (forecasting/dr_effects.py)."""

    action_ids: tuple[str, ...]
    groups: int
    supported_: list[int]
    outcomes_: tuple[str, ...]
    estimable_: np.ndarray  # [A, O] bool
    theta_: np.ndarray  # [2, A, O, 2] per half, the calibration's loadings
    theta_se_: np.ndarray  # [2, A, O, 2] their standard errors
    shrinkage_: np.ndarray  # [A, O]
    no_contact_outcomes_: tuple[str, ...]
    unsupported_: dict[str, int]
    unobserved_: dict[str, list[str]]


@dataclass(frozen=True)
class EffectDiagnostics:
    """What the held-out halves say about the learned effects (all JSON-ready).

    calibration[action][outcome]: the calibrated model's average effect (after shrinkage)
    against the doubly robust one, the loadings on the baseline and on the model's effect with
    their standard errors, and the shrinkage factor; gates[action][outcome]: per quintile of
    the predicted effect, the mean predicted and the doubly robust effect with its standard
    error; reliability: per bin of predicted purchase probability (of the logged action), the
    mean prediction, the observed purchase rate and the count, with the expected calibration
    error and Brier.
    """

    outcomes: tuple[str, ...]
    calibration: dict[str, dict[str, dict[str, float]]]
    gates: dict[str, dict[str, list[dict[str, float]]]]
    reliability: dict[str, object] = field(default_factory=dict)
    #: Actions logged fewer than `min_logged` times, with their count: no effect is learned.
    unsupported: dict[str, int] = field(default_factory=dict)
    #: Per action, the later windows that fewer than `min_logged` of its logged rows have seen
    #: end (a log younger than the window; for a window learned for "then no contact", end
    #: with no further contact): that effect is not learned and stays 0.
    unobserved: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "outcomes": list(self.outcomes),
            "calibration": self.calibration,
            "gates": self.gates,
            "reliability": self.reliability,
            "unsupported_actions": self.unsupported,
            "unobserved_windows": self.unobserved,
        }


def held_out_diagnostics(
    learner: FittedEffects,
    held_out: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    calibrated: list[np.ndarray],
    action: np.ndarray,
    bought: np.ndarray,
    outcome_observed: np.ndarray,
    customer: np.ndarray,
    averages: tuple[np.ndarray, np.ndarray],
) -> EffectDiagnostics:
    """The diagnostics of a fitted learner from its held-out halves: `held_out` per half the
    rows tested (indices [T_k]), outcome means [T_k, A, O], the model's effects (proxy) and
    the doubly robust pseudo-effects [T_k, A, O]; `calibrated` per half its calibrated effects
    [T_k, A, O]; `action`, `bought`, `customer` per logged row [R]; `outcome_observed` [R, O];
    `averages` the held-out doubly robust average effects and their standard errors [A, O]."""
    average, standard_error = averages
    tests = np.concatenate([test for test, *_ in held_out])
    mu = np.concatenate([m for _, m, _, _ in held_out])
    proxy = np.concatenate([p for _, _, p, _ in held_out])
    pseudo = np.concatenate([q for *_, q in held_out])
    effect = np.concatenate(calibrated)  # [T, A, O]
    logged = action[tests]
    predicted = mu[np.arange(len(tests)), logged, 0]
    reliability = reliability_curve(predicted, bought[tests])
    reliability["by_action"] = {
        name: reliability_curve(predicted[logged == a], bought[tests][logged == a], bins=5)
        for a, name in enumerate(learner.action_ids)
        if (logged == a).sum() >= 50
    }
    calibration: dict[str, dict[str, dict[str, float]]] = {}
    gates: dict[str, dict[str, list[dict[str, float]]]] = {}
    for a in learner.supported_:
        name = learner.action_ids[a]
        calibration[name], gates[name] = {}, {}
        for o, outcome in enumerate(learner.outcomes_):
            if not learner.estimable_[a, o]:
                continue
            theta, se = learner.theta_[:, a, o].mean(axis=0), learner.theta_se_[:, a, o]
            usable = outcome_observed[tests, o]
            calibration[name][outcome] = {
                "average_effect": float(effect[usable, a, o].mean()),
                "doubly_robust_effect": float(average[a, o]),
                "doubly_robust_effect_se": float(standard_error[a, o]),
                "baseline_loading": float(theta[0]),
                "baseline_loading_se": float(np.sqrt((se[:, 0] ** 2).sum()) / 2),
                "heterogeneity_loading": float(theta[1]),
                "heterogeneity_loading_se": float(np.sqrt((se[:, 1] ** 2).sum()) / 2),
                "shrinkage": float(learner.shrinkage_[a, o]),
                "followed_by": "no contact"
                if outcome in learner.no_contact_outcomes_
                else "the log's contacts",
            }
            order = proxy[usable, a, o]
            cut = np.quantile(order, np.linspace(0, 1, learner.groups + 1)[1:-1])
            group = np.searchsorted(cut, order)
            rows = []
            for g in range(learner.groups):
                inside = group == g
                if inside.sum() < 2:
                    continue
                values = pseudo[usable, a, o][inside]
                rows.append(
                    {
                        "group": g + 1,
                        "predicted": float(effect[usable, a, o][inside].mean()),
                        "doubly_robust": float(values.mean()),
                        "doubly_robust_se": clustered_standard_error(
                            values, customer[tests][usable][inside]
                        ),
                        "count": int(inside.sum()),
                    }
                )
            gates[name][outcome] = rows
    return EffectDiagnostics(
        learner.outcomes_,
        calibration,
        gates,
        reliability,
        dict(learner.unsupported_),
        dict(learner.unobserved_),
    )
