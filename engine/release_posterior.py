"""The posterior of what each planned action gains per contact: the forecaster's prediction as
the prior, the campaign log's doubly robust estimates over every window it observes as the
evidence (DESIGN §8a). Pure numpy; engine/release_decision.py decides with it.

The quantity. G_a is action a's gain over `none` per contact, for the customers the plan gives
a, in money over the contact's week and the V = VALUE_WEEKS weeks after it (undiscounted): the
long-term value counted, as far as a year.

Bands. The weeks after a contact are cut at the windows the log observes, K_1 < ... < K_m
(engine/logged_outcomes.WINDOWS): band 1 is weeks 0..K_1, band j is weeks K_(j-1)+1..K_j, and
where K_m < V a tail band K_m+1..V that the log has not seen. g_ab is the gain in band b, and
G_a = sum_b g_ab.

Prior (the forecaster): g_ab normal with mean kappa_a mu_ab, in two parts:
- mu_ab: the forecaster's predicted gain per contact in band b, from its mean over the plan's
  contacts of a: the contact week's margin effect in week 0, its follow-on effect spread evenly
  over its follow-up window of F weeks (the forecast's `future_weeks`), nothing after F;
- kappa_a in [0, 1]: the forecaster's held-out calibration, the share of its predicted effect
  that materialised on customers the effect was not learned from (`forecast fit` measures it;
  engine/release_decision.calibration reads it), shrunk by its own standard error; 0 where it
  was not measured, so that the prediction alone never carries a release;
- the action's scale s_a = max(|p_a|, c_a, |d_a|): the largest of its predicted gain p_a per
  contact, its cost c_a per contact and the gain d_a the log shows over its longest window (a
  forecaster that understates an effect tenfold must not make the prior tenfold too narrow);
- the short window the log measures well (its bands that end within the readout window R of a
  test, `release.test_weeks` - 1 weeks after the contact's week): independent, sd s_a, vague,
  so that the log decides them;
- every later band, observed by the log or not: the forecaster's projection, one uncertain
  scalar spread over the weeks (in the sense of Athey, Chetty, Imbens and Kang's surrogate
  index, with the forecaster as the model): sd u_ab = |kappa_a mu_ab| + rho s_a len_b / (V + 1)
  (rho = `release.later_uncertainty`), perfectly correlated across the later bands (covariance
  u_a u_a'), so that the year after is uncertain by its own projected size plus a share rho of
  the action's scale however the log cuts it into windows (pull-forward gives back, retention
  adds; no forecaster here models either as such). The log's longer windows update it as far
  as they measure it: twelve noisy weeks move it a little, a clear reversal a lot. A prior that
  were vague in every band the log observes would make a log with more windows say less: its
  noisiest window would set the year's uncertainty (measured on the responsive preset, seed 0,
  e-mail with recommendations: sd 0.099 per contact that way, 0.072 this way).

Evidence: for each action a and window K the log observes for its targets, the doubly robust
estimate d_aK = sum of g_ab over the bands within K, plus noise; the noises of every action and
window are jointly normal with the clustered covariance of the estimates (shared control rows,
nested windows: engine/logged_outcomes.covariance).

Posterior: the Gaussian linear update of all actions' bands at once,
    m = m0 + P0 H' (H P0 H' + S)^-1 (d - H m0),   P = P0 - P0 H' (H P0 H' + S)^-1 H P0,
so any linear summary (an action's G_a, the plan's weekly gain sum_a w_a G_a) has a normal
posterior with known mean and variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import block_diag
from scipy.special import ndtr  # the standard normal CDF

#: Weeks after the contact's week that the decision counts the gain over (a year).
VALUE_WEEKS = 52


@dataclass(frozen=True)
class Bands:
    """The bands of weeks after a contact: band b ends at `ends[b]` (weeks after the contact's
    week, inclusive); the last may be a tail beyond the log's longest window (`tail`). The
    bands the log observes within `readout` weeks after the contact's week have a vague prior,
    the others the forecaster's projection (module docstring)."""

    ends: tuple[int, ...]
    tail: bool
    readout: int = 0

    @classmethod
    def of(
        cls, windows: tuple[int, ...], value_weeks: int = VALUE_WEEKS, readout: int = 0
    ) -> Bands:
        """The bands cut at the log's `windows` (weeks, any order), with a tail up to
        `value_weeks` where the longest window is shorter; `readout` the short window the log
        measures well (weeks after the contact's week)."""
        observed = sorted(k for k in set(windows) if k <= value_weeks)
        tail = not observed or observed[-1] < value_weeks
        return cls(tuple([*observed, value_weeks] if tail else observed), tail, readout)

    @property
    def vague(self) -> np.ndarray:
        """Which bands [B] the log observes within the readout window (a vague prior)."""
        found = np.array(self.ends) <= self.readout
        if self.tail:  # the weeks after the log's longest window: never observed
            found[-1] = False
        return found

    @property
    def lengths(self) -> np.ndarray:
        """Weeks in each band [B] (the first counts the contact's own week)."""
        return np.diff(np.array([-1, *self.ends], dtype=np.float64))

    def within(self, window: int) -> np.ndarray:
        """Which bands [B] lie within `window` weeks after the contact (a log window)."""
        return np.array(self.ends) <= window

    def spread(self, immediate: float, later: float, follow_up_weeks: int) -> np.ndarray:
        """A gain of `immediate` in the contact's week and `later` spread evenly over weeks
        1..`follow_up_weeks`, per band [B]."""
        starts = np.array([0, *self.ends[:-1]], dtype=np.float64)  # band b covers (start, end]
        ends = np.array(self.ends, dtype=np.float64)
        weeks = max(follow_up_weeks, 1)
        overlap = np.clip(np.minimum(ends, weeks) - starts, 0.0, None)  # of weeks 1..F
        means = later * overlap / weeks
        means[0] += immediate
        return means


@dataclass(frozen=True)
class ActionPrior:
    """What the forecaster says of one action's planned contacts (money per contact)."""

    action: str
    #: The forecaster's predicted gain per contact, and the part of it after the contact's week.
    predicted_gain: float
    predicted_later: float
    #: Weeks over which the forecaster's follow-on effect accrues (its `future_weeks`).
    follow_up_weeks: int
    #: Held-out calibration in [0, 1] (module docstring).
    calibration: float
    #: What one contact costs (fixed cost and expected discount), the prior's smallest scale.
    cost: float
    #: The gain per contact the log shows over its longest window for these customers (0
    #: where it shows none): the scale of what the log has seen.
    seen: float = 0.0

    @property
    def scale(self) -> float:
        """s_a = max(|p_a|, c_a, |d_a|): the scale of the action's gain (module docstring)."""
        return max(abs(self.predicted_gain), self.cost, abs(self.seen), 1e-9)

    def moments(self, bands: Bands, rho: float) -> tuple[np.ndarray, np.ndarray]:
        """Prior means [B] and covariance [B, B] of the band gains (module docstring): vague
        and independent in the short window the log measures well, the projection's one
        uncertain scalar over the bands after it."""
        mean = self.calibration * bands.spread(
            self.predicted_gain - self.predicted_later, self.predicted_later, self.follow_up_weeks
        )
        vague = bands.vague
        later = np.where(vague, 0.0, np.abs(mean) + rho * self.scale * bands.lengths / (
            VALUE_WEEKS + 1))  # fmt: skip
        covariance = np.outer(later, later) + np.diag(np.where(vague, self.scale**2, 0.0))
        return mean, covariance


@dataclass(frozen=True)
class Evidence:
    """The log's estimates: for observation j, action index `action[j]` (into the priors),
    `window[j]` weeks, estimate `mean[j]`; `covariance` [J, J] their joint clustered
    covariance."""

    action: np.ndarray
    window: np.ndarray
    mean: np.ndarray
    covariance: np.ndarray

    @classmethod
    def none(cls) -> Evidence:
        empty = np.zeros(0)
        return cls(empty.astype(np.int64), empty.astype(np.int64), empty, np.zeros((0, 0)))


@dataclass(frozen=True)
class Posterior:
    """The joint normal posterior of every action's band gains: `mean` [X], `covariance`
    [X, X], X = actions x bands, action a's bands at `slices[a]`."""

    mean: np.ndarray
    covariance: np.ndarray
    slices: tuple[slice, ...]
    prior_mean: np.ndarray
    prior_covariance: np.ndarray

    def gain(self, weights: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of sum_a weights[a] G_a (G_a: action a's gain per
        contact over all its bands): one action's with a unit weight, the plan's weekly gain
        with each action's contacts per week."""
        vector = self._vector(weights)
        return float(vector @ self.mean), float(np.sqrt(max(vector @ self.covariance @ vector, 0)))

    def prior_gain(self, action: int) -> tuple[float, float]:
        """Mean and standard deviation of G_a before the evidence."""
        part = self.slices[action]
        block = self.prior_covariance[part, part]
        return float(self.prior_mean[part].sum()), float(np.sqrt(max(block.sum(), 0.0)))

    def _vector(self, weights: np.ndarray) -> np.ndarray:
        vector = np.zeros(len(self.mean))
        for a, part in enumerate(self.slices):
            vector[part] = weights[a]
        return vector


def posterior(priors: list[ActionPrior], bands: Bands, evidence: Evidence, rho: float) -> Posterior:
    """The joint posterior of the band gains of every action in `priors` given the log's
    `evidence` (module docstring)."""
    means, blocks, slices, start = [], [], [], 0
    for prior in priors:
        mean, block = prior.moments(bands, rho)
        means.append(mean)
        blocks.append(block)
        slices.append(slice(start, start + len(mean)))
        start += len(mean)
    m0 = np.concatenate(means)
    p0 = block_diag(*blocks) if blocks else np.zeros((0, 0))
    if len(evidence.mean) == 0:
        return Posterior(m0, p0, tuple(slices), m0, p0)
    design = np.zeros((len(evidence.mean), len(m0)))  # H: which bands each estimate sums
    for j, (a, window) in enumerate(zip(evidence.action, evidence.window, strict=True)):
        design[j, slices[a]] = bands.within(int(window))
    # [J, J], positive semi-definite: two windows that read the same rows (nothing logged
    # between them) are one piece of evidence, which the pseudo-inverse counts once
    innovation = design @ p0 @ design.T + evidence.covariance
    gain = p0 @ design.T @ np.linalg.pinv(innovation, hermitian=True)  # P0 H' (.)^-1, [X, J]
    mean = m0 + gain @ (evidence.mean - design @ m0)
    covariance = p0 - gain @ design @ p0
    return Posterior(mean, (covariance + covariance.T) / 2, tuple(slices), m0, p0)


def loss_probability(mean: float, sd: float, tolerance: float) -> float:
    """P(gain < -tolerance) for a normal gain with `mean` and `sd` (a point mass where sd = 0)."""
    if sd <= 0:
        return float(mean < -tolerance)
    return float(ndtr((-tolerance - mean) / sd))
