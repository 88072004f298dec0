"""The forecast's no-action level and each action's lift against the demo market's truth.

For each run folder (a weekly run on a demo market, `ltv data demo`), the run's customers' mean
purchase probability and expected spend in the first planning week with no action, and each
action's change of both, forecast (the run's ForecastSet) against the truth (the market replayed
from the planning week's state, one week, every customer given that action), with the log's
contact-inflation estimate (forecasting/contact_inflation.py) and the factor the forecast would
have needed (truth / forecast). Usage:

    python bench/no_action_level.py RUN:DATA [RUN:DATA ...] --json OUT
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from run_pairs import over_run_pairs

from engine.evaluation import Evaluator
from engine.run_reader import RunFolder
from forecasting.contact_inflation import contact_inflation
from forecasting.forecast_set import ForecastSet
from markets.demo.ground_truth import GroundTruth
from shopdata.calendar import horizon_start
from shopdata.store import Store


def level(run_path: Path, data: Path) -> dict[str, object]:
    run = RunFolder(run_path)
    truth = GroundTruth.load(data / "ground_truth.npz")
    scenario, problem = run.settings, run.problem()
    forecast = ForecastSet.load(run.path / "forecast")
    evaluator = Evaluator(
        truth,
        problem,
        gross_margin=scenario.gross_margin,
        annual_discount_rate=scenario.annual_discount_rate,
    )
    rows, customers = evaluator.rows, len(truth.customer_ids)
    probability, spend = {}, {}
    for a in range(problem.shape[1]):
        plan = np.full((customers, 1), evaluator.to_truth_action[a], dtype=np.int64)
        replay = truth.replay(plan, seed=7)
        probability[a] = replay.probability[rows, 0]
        spend[a] = evaluator._expected_spend(plan, replay.probability)[rows, 0]
    column = {str(x): i for i, x in enumerate(forecast.action_ids)}
    p = forecast.purchase_prob[:, :, 0]
    gross = p * forecast.spend[:, :, 0]
    store = Store.open(run.path / "inputs.duckdb")
    inflation = contact_inflation(store, horizon_start(truth.config.as_of))
    lifts = {}
    for a in range(1, problem.shape[1]):
        j = column[str(problem.action_ids[a])]
        lifts[str(problem.action_ids[a])] = {
            "purchase_true": float((probability[a] - probability[0]).mean()),
            "purchase_forecast": float((p[:, j] - p[:, 0]).mean()),
            "spend_true": float((spend[a] - spend[0]).mean()),
            "spend_forecast": float((gross[:, j] - gross[:, 0]).mean()),
        }
    applied = forecast.metadata.parameters.get("contact_inflation")
    return {
        "run": str(run_path),
        "model": forecast.metadata.model,
        "purchase_none_true": float(probability[0].mean()),
        "purchase_none_forecast": float(p[:, 0].mean()),
        "spend_none_true": float(spend[0].mean()),
        "spend_none_forecast": float(gross[:, 0].mean()),
        "needed_factor": float(probability[0].mean() / p[:, 0].mean()),
        "factor_applied": applied.get("factor") if isinstance(applied, dict) else None,
        "inflation_estimate": inflation.to_dict() if inflation else None,
        "lifts": lifts,
    }


def _show(r: dict[str, object]) -> None:
    print(
        f"{Path(r['run']).name}: P(none) true {r['purchase_none_true']:.4f} forecast "
        f"{r['purchase_none_forecast']:.4f} (needed x{r['needed_factor']:.3f}, applied "
        f"{r['factor_applied']}, log's estimate "
        f"{(r['inflation_estimate'] or {}).get('factor')})",
        flush=True,
    )


def main() -> None:
    over_run_pairs(__doc__.splitlines()[0], level, _show, key="rows", indent=2)


if __name__ == "__main__":
    main()
