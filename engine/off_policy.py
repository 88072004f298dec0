"""Off-policy estimates on a logged randomised campaign: what a policy would have earned on the
logged customer-weeks, from the log alone (no ground truth needed).

The log's rows, outcomes and doubly robust scores are engine/logged_outcomes.py's, the same the
release decision reads. Inverse propensity (IPW): mean of 1[a = pi(x)] / p * y. Doubly robust
(DR): mean of the cross-fitted scores Gamma(pi(x)). Intervals are normal, clustered by customer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.logged_outcomes import WINDOWS, read_logged_outcomes
from engine.run_reader import RunFolder
from optimization.problem import DecisionProblem
from shopdata.store import Store

#: Weeks after the logged week whose margin counts in the run's off-policy estimates (the
#: longest window the log observes, where it observes less).
RUN_OUTCOME_WEEKS = 8


def first_contacts(choice: np.ndarray) -> np.ndarray:
    """Each customer's first planned action ([N]; 0 where the plan contacts them never) from
    `choice` [N, H]: the policy a one-week log can score."""
    contacted = choice > 0
    first = contacted.argmax(axis=1)
    return np.where(contacted.any(axis=1), choice[np.arange(len(choice)), first], 0)


def run_off_policy(
    run: RunFolder, problem: DecisionProblem, choice: np.ndarray
) -> dict[str, dict[str, object]]:
    """IPW and DR estimates of no action, the logging policy and the run's plan (each customer's
    first planned contact; `choice` [N, H] action indices of `problem`) on the run's logged
    campaign, per logged customer-week (margin over RUN_OUTCOME_WEEKS weeks, or the longest
    window the log observes below it); {} without a log."""
    scenario = run.settings
    catalogue = scenario.catalogue()
    with Store.open(run.store_path) as store:
        outcomes = read_logged_outcomes(
            store,
            catalogue,
            scenario.gross_margin,
            pd.Timestamp(str(problem.week_labels[0])),
            longest=RUN_OUTCOME_WEEKS,
        )
    if outcomes is None:
        return {}
    window = max(outcomes.windows)
    planned = pd.Series(first_contacts(choice), index=problem.customer_ids.astype(str))
    engine = planned.reindex(outcomes.customer_ids).fillna(0).to_numpy(dtype=np.int64)
    estimates = {
        "no_action": outcomes.policy_value(np.zeros(len(engine), dtype=np.int64), window),
        "logged": outcomes.logging_policy(window),
        "engine": outcomes.policy_value(engine, window),
        # paired, row by row: what the plan adds over no action on the logged weeks
        "engine_over_no_action": outcomes.policy_gain(engine, window),
    }
    return {name: {**e.to_dict(), "window_weeks": window} for name, e in estimates.items()}


__all__ = ["RUN_OUTCOME_WEEKS", "WINDOWS", "first_contacts", "run_off_policy"]
