"""Why the CDNOW holdout total is missed: two textbook models, rolling origins, the weekly curve.

    python bench/cdnow_totals.py --data data/cdnow --json bench/results/cdnow_totals.json

Three measurements on the backtest's split (calibration through 1997-09-30, 39 holdout weeks,
purchase weeks counted):
1. the holdout total of BG/NBD and of Pareto/NBD, each fitted on the calibration summary;
2. rolling origins inside the calibration period: both models fitted on the data up to an
   earlier cut and scored on the weeks from the cut to 1997-09-30, the only windows whose
   outcome a forecaster made on 1997-09-30 could have checked itself against;
3. the cohort's purchase weeks per week in 13-week blocks, with BG/NBD's expectation from the
   calibration fit in the holdout's, where the level-off shows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.bgnbd import BetaGeometricNBD
from forecasting.features import holdout_outcome, purchase_summary, weekly_purchases
from forecasting.pareto_nbd import ParetoNBD
from shopdata.calendar import horizon_start
from shopdata.store import Store
from shopdata.validation import load_inputs

CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_WEEKS = 39
ROLLING_CUTS = ("1997-04-30", "1997-05-31", "1997-06-30", "1997-07-31", "1997-08-31")


@dataclass(frozen=True)
class WindowTotals:
    """Purchase weeks in (cut, end]: what happened and what each model fitted up to `cut` said."""

    cut: str
    end: str
    weeks: float
    actual: float
    bgnbd: float
    pareto_nbd: float
    bgnbd_error: float
    pareto_nbd_error: float

    def line(self) -> str:
        return (
            f"{self.cut} -> {self.end} ({self.weeks:.1f} wk): actual {self.actual:,.0f}  "
            f"BG/NBD {self.bgnbd:,.0f} ({self.bgnbd_error:+.1%})  "
            f"Pareto/NBD {self.pareto_nbd:,.0f} ({self.pareto_nbd_error:+.1%})"
        )


def _totals(store: Store, cut: pd.Timestamp, end: pd.Timestamp) -> WindowTotals:
    """Both models fitted on purchases up to `cut`, their totals for (cut, end] and the actual."""
    summary = purchase_summary(store, cut)
    weeks = (end - cut) / pd.Timedelta(weeks=1)
    actual = float(holdout_outcome(store, summary, cut, end).purchase_weeks.sum())
    bgnbd = BetaGeometricNBD(device="cpu").fit(summary).expected_purchases(weeks, summary).sum()
    pareto_nbd = ParetoNBD().fit(summary).expected_purchases(weeks, summary).sum()
    return WindowTotals(
        cut=f"{cut:%Y-%m-%d}",
        end=f"{end:%Y-%m-%d}",
        weeks=float(weeks),
        actual=actual,
        bgnbd=float(bgnbd),
        pareto_nbd=float(pareto_nbd),
        bgnbd_error=float(bgnbd / actual - 1),
        pareto_nbd_error=float(pareto_nbd / actual - 1),
    )


def _weekly_blocks(store: Store) -> list[dict[str, object]]:
    """Actual purchase weeks per week in 13-week blocks, counted back from the holdout's first
    whole week and forward from it, with BG/NBD's expectation (calibration fit) in the holdout."""
    summary = purchase_summary(store, CALIBRATION_END)
    model = BetaGeometricNBD(device="cpu").fit(summary)
    first_week = pd.Timestamp(summary.first_week.min())
    holdout_start = horizon_start(CALIBRATION_END)
    calibration_weeks = int((holdout_start - first_week).days // 7)
    holdout_weeks = int(
        (CALIBRATION_END + pd.Timedelta(weeks=HOLDOUT_WEEKS) - holdout_start).days // 7
    )
    observed = weekly_purchases(
        store, summary.customer_ids, first_week, calibration_weeks + holdout_weeks
    ).sum(axis=0)  # [weeks]
    expected = model.weekly_expected_purchases(summary, holdout_weeks).sum(axis=0)  # [holdout]
    bounds = sorted(
        {*range(calibration_weeks, -1, -13), *range(calibration_weeks, len(observed), 13)}
        | {0, len(observed)}
    )
    blocks: list[dict[str, object]] = []
    for start, stop in itertools.pairwise(bounds):
        block: dict[str, object] = {
            "first_week": f"{first_week + pd.Timedelta(weeks=start):%Y-%m-%d}",
            "weeks": stop - start,
            "period": "holdout" if start >= calibration_weeks else "calibration",
            "actual_per_week": float(observed[start:stop].mean()),
        }
        if start >= calibration_weeks:
            offset = start - calibration_weeks
            block["bgnbd_per_week"] = float(expected[offset : offset + stop - start].mean())
        blocks.append(block)
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/cdnow"))
    parser.add_argument("--json", type=Path, default=Path("bench/results/cdnow_totals.json"))
    args = parser.parse_args()

    with Store.create(load_inputs(args.data)) as store:
        holdout = _totals(
            store, CALIBRATION_END, CALIBRATION_END + pd.Timedelta(weeks=HOLDOUT_WEEKS)
        )
        rolling = [_totals(store, pd.Timestamp(cut), CALIBRATION_END) for cut in ROLLING_CUTS]
        blocks = _weekly_blocks(store)

    print("holdout:\n  " + holdout.line())
    print("rolling origins inside the calibration period:")
    for row in rolling:
        print("  " + row.line())
    print("purchase weeks per week, 13-week blocks:")
    for block in blocks:
        expected = f"  BG/NBD {block['bgnbd_per_week']:.0f}" if "bgnbd_per_week" in block else ""
        print(
            f"  {block['first_week']} {block['period']:>11} ({block['weeks']} wk): "
            f"actual {block['actual_per_week']:.0f}{expected}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "holdout": asdict(holdout),
                "rolling_origins": [asdict(row) for row in rolling],
                "weekly_blocks": blocks,
                "mean_absolute_rolling_error": {
                    "bgnbd": float(np.mean([abs(row.bgnbd_error) for row in rolling])),
                    "pareto_nbd": float(np.mean([abs(row.pareto_nbd_error) for row in rolling])),
                },
                "machine": platform.platform(),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
