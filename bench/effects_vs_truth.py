"""How well a run's treatment-effect estimates rank the demo market's true individual effects.

    python bench/effects_vs_truth.py demo/runs/<run> --data demo/data --json OUT

Per action, Spearman correlation across the run's customers between
  short horizon: the forecast's change of week-1 purchase probability (action vs none) and the
                 true change (the market's probabilities at the as-of state, exact);
  long horizon:  the problem's value of the action in week 1 (incremental discounted margin of
                 the week plus `future_margin_delta`) and the true incremental discounted margin
                 over the horizon and 26 weeks after, replayed with common random numbers.
For a deep forecaster also, per later-spend window of its effect learner (e.g. weeks 1-4 after
the action), the learner's held-out doubly robust average and the effect the plan uses against
the true average change of discounted spend in that window (action in week 1, none after).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import scipy.stats as stats

from engine.evaluation import Evaluator
from engine.scenario import load_scenario
from forecasting.forecast_set import ForecastSet
from markets.demo.ground_truth import FILE_NAME, GroundTruth
from optimization.problem import DecisionProblem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, default=Path("demo/data"))
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    scenario = load_scenario(args.run / "scenario.yaml")
    problem = DecisionProblem.load(args.run / "problem.npz")
    forecast = ForecastSet.load(args.run / "forecast")
    truth = GroundTruth.load(args.data / FILE_NAME)
    evaluator = Evaluator(
        truth,
        problem,
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
    )
    rows = evaluator.rows
    horizon = problem.shape[2] + evaluator.terminal_weeks
    discount = evaluator.weekly_discount ** np.arange(horizon)
    position = {str(a): i for i, a in enumerate(forecast.action_ids)}
    forecast_rows = {str(c): i for i, c in enumerate(forecast.customer_ids)}
    in_forecast = np.array([forecast_rows[str(c)] for c in problem.customer_ids])

    def replayed(action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """True week-1 purchase probability, discounted margin and spend per week [N, horizon]."""
        plan = np.zeros((len(truth.customer_ids), horizon), dtype=np.int64)
        plan[rows, 0] = evaluator.to_truth_action[action]
        value = np.zeros(len(rows))
        spend = np.zeros((len(rows), horizon))
        for r in range(args.replications):
            replay = truth.replay(plan, seed=evaluator.seed + 20_000 + r)
            margin, _, _ = evaluator._margin(plan, replay.spend)
            value += (margin[rows] * discount).sum(axis=1) / args.replications
            spend += replay.spend[rows] / args.replications
        return replay.probability[rows, 0], value, spend

    none_probability, none_value, none_spend = replayed(0)
    learned = forecast.metadata.parameters.get("effects")
    if not isinstance(learned, dict) or "calibration" not in learned:  # the baseline's learner
        learned = {"outcomes": [], "windows": [], "calibration": {}}
    # The learner's outcomes are the week's purchase, then one per window in this order.
    windows = dict(zip(learned["outcomes"][1:], map(tuple, learned["windows"]), strict=True))
    figures = {}
    for action in range(1, problem.shape[1]):
        name = str(problem.action_ids[action])
        probability, value, spend = replayed(action)
        k = position[name]
        short_estimate = (
            forecast.purchase_prob[in_forecast, k, 0] - forecast.purchase_prob[in_forecast, 0, 0]
        )
        long_estimate = problem.value[:, action, 0]
        true_short, true_long = probability - none_probability, value - none_value
        figures[name] = {
            "short_spearman": float(stats.spearmanr(short_estimate, true_short).statistic),
            "long_spearman": float(stats.spearmanr(long_estimate, true_long).statistic),
            "short_mean_estimate": float(short_estimate.mean()),
            "short_mean_true": float(true_short.mean()),
            "long_mean_estimate": float(long_estimate.mean()),
            "long_mean_true": float(true_long.mean()),
            "windows": _window_effects(
                learned["calibration"].get(name, {}), windows, spend - none_spend, discount
            ),
        }
        row = figures[name]
        print(
            f"{name:>14}  short: rho {row['short_spearman']:+.3f}  "
            f"mean {row['short_mean_estimate']:+.4f} (true {row['short_mean_true']:+.4f})   "
            f"long: rho {row['long_spearman']:+.3f}  mean "
            f"{row['long_mean_estimate']:+.3f} (true {row['long_mean_true']:+.3f})"
        )
        for window, w in row["windows"].items():
            print(
                f"{'':>14}  {window}: doubly robust {w['doubly_robust']:+.3f} ± "
                f"{w['doubly_robust_se']:.3f}, used {w['used']:+.3f}, true {w['true']:+.3f}"
            )
    result = {"run": str(args.run), "forecaster": forecast.metadata.model, "actions": figures}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {args.json}")


def _window_effects(
    calibration: dict[str, dict[str, float]],
    windows: dict[str, tuple[int, int]],
    spend_change: np.ndarray,
    discount: np.ndarray,
) -> dict[str, dict[str, float]]:
    """Per later-spend window (first, last) the learner estimated for this action: its doubly
    robust average with standard error, the (shrunk) average the plan uses, and the true mean
    change of spend in weeks first..last after the action, discounted to the action's week."""
    figures = {}
    for outcome, (first, last) in windows.items():
        if outcome not in calibration:  # not estimable for this action
            continue
        row = calibration[outcome]
        true = (spend_change[:, first : last + 1] * discount[first : last + 1]).sum(axis=1)
        figures[outcome] = {
            "doubly_robust": row["doubly_robust_effect"],
            "doubly_robust_se": row["doubly_robust_effect_se"],
            "used": row["average_effect"],
            "true": float(true.mean()),
        }
    return figures


if __name__ == "__main__":
    main()
