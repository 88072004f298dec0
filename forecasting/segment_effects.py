"""Segment effects read off the campaign log directly: how much each action's effect on the
week's purchase differs in one segment of customers from its effect over all of them, shrunk
by empirical Bayes.

The T-learner (forecasting/uplift.py) learns per-customer effects with a network and shrinks
their spread by the agreement of two half-sample models. On a small log the two halves agree on
little, the shrinkage keeps nothing of the spread, and an effect that differs sharply between
kinds of customer the shop knows apart is flattened to its average: on a 10,000-customer shop
whose coupon tripled standard customers' purchases and left gold customers' (who would buy
anyway, and were paid the discount) unchanged, every customer got the average, the plan sent
the coupon to both tiers, and the release check, measuring the mix, withheld it. A difference
of that size is plain in the log's own segment means.

Segments: the combinations of the customers table's categorical attributes (the levels
`CustomerAttributes` keeps; a level it did not keep, or none, is a level of its own). Per
action a and segment g, from the logged rows (inverse-propensity weighted, Hajek), the week's
purchase shift s_g = logit p_a,g - logit p_none,g, against the same over all rows. The
deviation of a segment from all rows, m_g with standard error se_g, is shrunk towards 0 by
`shrinkage.no_effect_shrinkage` with the segments as the pooled units (a normal prior whose
spread is the segments' maximum-likelihood spread, or the estimate's own, whichever is more
sceptical): segments that do not differ beyond their noise get nothing. A segment with fewer
than `min_rows` rows of the action or of none gets no deviation; a shop without categorical
attributes has one segment and no deviations.

Only the purchase shift: the follow-up spend's segment deviations were tried too and were
noise the optimiser bought. On the `responsive` demo market (whose effects do not differ by
region or acquisition channel), with purchase history (one purchase week or more) as a further
segment dimension, 93 deviations survived the shrinkage, most of them in the follow-up spend
(up to -1.8 against raw estimates of -0.5 to -4.5); the plan moved budget from e-mail with
recommendations to coupon_10 and replayed at 3,008 [2,301, 3,716] against 4,879 [4,520,
5,238] without them (seed 0, baseline forecaster).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from forecasting.shrinkage import no_effect_shrinkage

#: A segment's deviation is estimated only from at least this many rows of the action and of none.
MIN_SEGMENT_ROWS = 50
#: At most this many segments (the largest in the log); customers of the others get none.
MAX_SEGMENTS = 48


@dataclass(frozen=True)
class SegmentKeys:
    """How a row's features map to its segment: the categorical attributes' one-hot columns
    (per attribute, the feature columns of its levels)."""

    attributes: tuple[tuple[str, tuple[int, ...]], ...]  # (attribute, its level columns)
    level_names: tuple[tuple[str, ...], ...]  # per attribute, its levels' names

    @classmethod
    def of(cls, feature_names: tuple[str, ...]) -> SegmentKeys:
        attributes: dict[str, list[int]] = {}
        levels: dict[str, list[str]] = {}
        for column, name in enumerate(feature_names):
            if name.startswith("attr_") and "=" in name:
                attribute, level = name[len("attr_") :].split("=", 1)
                attributes.setdefault(attribute, []).append(column)
                levels.setdefault(attribute, []).append(level)
        return cls(
            tuple((a, tuple(c)) for a, c in attributes.items()),
            tuple(tuple(levels[a]) for a in attributes),
        )

    def codes(self, features: np.ndarray) -> np.ndarray:
        """Each row's segment as one integer code ([R] int64; raw features, not standardised):
        mixed radix over the attributes' level (its number of levels for none)."""
        code = np.zeros(len(features), np.int64)
        for _, columns in self.attributes:
            block = features[:, list(columns)] > 0.5  # [R, L]
            level = np.where(block.any(axis=1), block.argmax(axis=1), len(columns))
            code = code * (len(columns) + 1) + level
        return code

    def label(self, code: int) -> str:
        """A segment's name, e.g. 'tier=gold, region=north'."""
        parts = []
        for (attribute, columns), names in zip(
            reversed(self.attributes), reversed(self.level_names), strict=True
        ):
            level = code % (len(columns) + 1)
            code //= len(columns) + 1
            parts.append(f"{attribute}={names[level] if level < len(columns) else '(other)'}")
        return ", ".join(reversed(parts))


@dataclass(frozen=True)
class SegmentDeviations:
    """Per segment and action ([G, A]; column 0 = none, zero), the shrunk deviation of the
    purchase-logit shift from all rows', and what it rests on."""

    keys: SegmentKeys
    codes: np.ndarray  # [G] the segments' codes
    shift: np.ndarray  # [G, A]
    rows: np.ndarray  # [G, A] logged rows of the action in the segment
    raw_shift: np.ndarray  # [G, A] before shrinkage (NaN: not estimated)

    def index(self, features: np.ndarray) -> np.ndarray:
        """Each row's segment index into `codes` ([R], -1 for a segment without deviations)."""
        return _positions(self.codes, self.keys.codes(features))

    def summary(self, action_ids: tuple[str, ...]) -> list[dict[str, object]]:
        """The segments whose deviation survived shrinkage, for the forecast's metadata."""
        return [
            {
                "segment": self.keys.label(int(self.codes[g])),
                "action": action_ids[a],
                "rows": int(self.rows[g, a]),
                "purchase_logit_shift": float(self.shift[g, a]),
                "before_shrinkage": float(self.raw_shift[g, a]),
            }
            for g, a in zip(*np.nonzero(self.shift), strict=True)
        ]


def _positions(kept: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each of `codes` [R] as its index in `kept` [G] (distinct codes), -1 where not there."""
    if len(kept) == 0:
        return np.full(len(codes), -1)
    order = np.argsort(kept)
    position = np.minimum(np.searchsorted(kept[order], codes), len(kept) - 1)
    return np.where(kept[order][position] == codes, order[position], -1)


def _group_shifts(
    group: np.ndarray,
    groups: int,
    weight: np.ndarray,
    bought: np.ndarray,
    treated: np.ndarray,
    control: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group ([groups] each; `group` [R] the rows' group, -1 for none): the logit of the
    treated rows' weighted (Hajek) purchase rate minus the control rows', its delta-method
    variance (rates kept half an effective row from 0 and 1), and the treated and control rows."""
    found = []
    for rows in (treated, control):
        rows = rows & (group >= 0)
        g, w = group[rows], weight[rows]
        total, squares, bought_sum = (
            np.bincount(g, weights=v, minlength=groups) for v in (w, w * w, w * bought[rows])
        )
        with np.errstate(divide="ignore", invalid="ignore"):  # groups without rows: not used
            n_eff = total**2 / np.maximum(squares, 1e-300)
            rate = np.clip(bought_sum / np.maximum(total, 1e-300), 0.5 / n_eff, 1 - 0.5 / n_eff)
            logit, spread = special.logit(rate), 1.0 / (n_eff * rate * (1.0 - rate))
        found.append((logit, spread, np.bincount(g, minlength=groups)))
    (logit_t, var_t, rows_t), (logit_c, var_c, rows_c) = found
    return logit_t - logit_c, var_t + var_c, rows_t, rows_c


def fit_segment_deviations(
    keys: SegmentKeys,
    features: np.ndarray,
    action: np.ndarray,
    weight: np.ndarray,
    bought: np.ndarray,
    actions: int,
    *,
    min_rows: int = MIN_SEGMENT_ROWS,
    max_segments: int = MAX_SEGMENTS,
) -> SegmentDeviations:
    """The segments' shrunk deviations from the logged rows: raw `features` [R, F], `action`
    [R] (0 = none), inverse-propensity `weight` [R], `bought` [R] (0/1)."""
    codes = keys.codes(features)
    segments, counts = np.unique(codes, return_counts=True)
    segments = segments[np.argsort(-counts, kind="stable")][:max_segments]
    group = _positions(segments, codes)
    everyone = np.zeros(len(codes), np.int64)
    raw = np.full((len(segments), actions), np.nan)
    variance = np.full_like(raw, np.nan)
    rows = np.zeros((len(segments), actions), np.int64)
    none = action == 0
    bought = bought.astype(np.float64)
    for a in range(1, actions):
        treated = action == a
        if treated.sum() < min_rows or none.sum() < min_rows:
            continue
        pooled = _group_shifts(everyone, 1, weight, bought, treated, none)[0]
        shift, shift_variance, rows[:, a], controls = _group_shifts(
            group, len(segments), weight, bought, treated, none
        )
        enough = (rows[:, a] >= min_rows) & (controls >= min_rows)
        raw[enough, a], variance[enough, a] = shift[enough] - pooled, shift_variance[enough]
    # per action, pooled over the segments; an action with fewer than two estimates gets none
    estimated = np.isfinite(raw)
    factor = no_effect_shrinkage(raw, np.sqrt(variance))
    shrunk = np.where(estimated & (estimated.sum(axis=0) >= 2), raw * factor, 0.0)
    return SegmentDeviations(keys=keys, codes=segments, shift=shrunk, rows=rows, raw_shift=raw)
