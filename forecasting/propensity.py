"""Propensities for campaign-log rows that do not say how likely their action was.

Inverse-propensity weights need each logged row's chance of the action it got. A randomised
log, or one derived from its declared design, carries them. A CRM export often does not, and
its contacts were often targeted (coupons to lapsing customers). The action's share of the log
is then wrong for every row whose chance differed, and the effects learned with it are biased
towards whatever the targeting chose. Where propensities are missing they are estimated from
the row's features, the same the learners see (purchase history, recent contacts, customer
attributes): gradient-boosted trees classifying the action from them (scikit-learn's
histogram gradient boosting), which follow the thresholds targeting rules use ("no purchase in
90 days") where a logistic regression, linear in the features, does not
(tests/test_propensity.py: a targeting that saturates at 10 % and 90 % left the logistic
regression's weighted effect at 2.3 for a true 1.0; the trees' at 0.84-0.88, the shares' at
-2.0). This is right when the targeting used only what those features hold
(unconfoundedness); `shopdata.validation` warns that a log without propensities rests on
that. For a randomised log it recovers the shares up to noise, which does not hurt an
inverse-propensity estimate (Hirano, Imbens and Ridder 2003).
"""

from __future__ import annotations

import numpy as np

#: Estimated propensities are kept at or above this (weights of at most 50).
MIN_PROPENSITY = 0.02
#: The trees are fitted on at most this many rows (a fixed random sample beyond).
MAX_FIT_ROWS = 200_000
#: Rows per action below which no model is fitted and the shares are used.
MIN_ROWS_PER_ACTION = 50


def fill_propensities(
    features: np.ndarray,
    action: np.ndarray,
    propensity: np.ndarray,
    n_actions: int,
    *,
    seed: int = 0,
) -> np.ndarray:
    """Each row's propensity [R]: the logged one where it is given (finite and > 0); else the
    chance of the row's action under gradient-boosted trees classifying the action
    (`action` [R], indices below `n_actions`) from `features` [R, F], fitted on the rows without
    a logged one (early stopping on a tenth of them held out) and clipped to
    [MIN_PROPENSITY, 1]. Where those rows hold a single action, or
    an action has fewer than MIN_ROWS_PER_ACTION of them, each action's share of those rows."""
    propensity = np.asarray(propensity, dtype=np.float64)
    missing = ~(np.isfinite(propensity) & (propensity > 0))
    if not missing.any():
        return propensity
    filled = propensity.copy()
    taken = action[missing]
    counts = np.bincount(taken, minlength=n_actions)
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < MIN_ROWS_PER_ACTION:
        filled[missing] = counts[taken] / len(taken)
        return filled
    from sklearn.ensemble import HistGradientBoostingClassifier  # imported only when needed

    x = np.asarray(features[missing], dtype=np.float64)
    fit = np.arange(len(x))
    if len(fit) > MAX_FIT_ROWS:
        fit = np.sort(np.random.default_rng(seed).choice(len(x), MAX_FIT_ROWS, replace=False))
    model = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=MIN_ROWS_PER_ACTION * 2,
        early_stopping=len(fit) >= 2_000,
        random_state=seed,
    ).fit(x[fit], taken[fit])
    chance = model.predict_proba(x)[np.arange(len(x)), np.searchsorted(model.classes_, taken)]
    filled[missing] = np.clip(chance, MIN_PROPENSITY, 1.0)
    return filled
