"""What the fitted effect learner (forecasting/uplift.py) says about itself, for the forecast's
metadata (`forecast.json`'s `parameters.effects`): what it trained on, how well its effects
held up on customers it did not see, and which follow-on effects the log could not identify."""

from __future__ import annotations

from collections.abc import Sequence

from forecasting.features import LogSample
from forecasting.uplift import CampaignEffectLearner


def effect_summary(
    learner: CampaignEffectLearner, action_ids: Sequence[str], sample: LogSample
) -> dict[str, object]:
    """The fitted `learner`'s figures by action (`action_ids`, in the learner's order) and
    the campaign-log `sample` it read."""
    return {
        "training_rows": learner.training_rows_,
        "log_sample": {
            "share_of_customers": sample.share,
            "log_rows": sample.rows,
            "note": sample.note,
        },
        "final_loss": learner.final_loss_,
        "training": learner.training_,
        "base_rate_check": learner.base_rate_check_,
        # held-out: predicted against measured effect on the week's purchase
        "calibration": learner.calibration_,
        "future_effect_not_identified": [
            a for a, ok in zip(action_ids, learner.future_identified_, strict=True) if not ok
        ],
        "spend_ratio": dict(zip(action_ids, learner.spend_ratio_.tolist(), strict=True)),
        "purchase_shift_reliability": dict(
            zip(action_ids, learner.shift_reliability_.tolist(), strict=True)
        ),
        "future_effect_reliability": dict(
            zip(action_ids, learner.future_reliability_.tolist(), strict=True)
        ),
        "segment_effects": learner.segments_.summary(action_ids),
    }
