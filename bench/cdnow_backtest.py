"""CDNOW backtest of a purchase model; BG/NBD is compared with the lifetimes 0.11.3 figures.

    python bench/cdnow_backtest.py --data data/cdnow --json bench/results/cdnow_bgnbd.json
    python bench/cdnow_backtest.py --model ziln --json bench/results/cdnow_ziln.json
    python bench/cdnow_backtest.py --model sequence --max-examples 60000 --epochs 4 \
        --json bench/results/cdnow_sequence.json

Split: all 23,570 customers (first purchases in 1997-Q1), calibration through 1997-09-30,
39 holdout weeks, purchase weeks counted. The JSON holds our figures, the reference and the
relative difference of each.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from forecasting.backtest import run_backtest
from shopdata.store import Store
from shopdata.validation import load_inputs

REFERENCE = {  # lifetimes 0.11.3 measured on this machine (issue 2)
    "r": 0.284,
    "alpha": 6.72,
    "a": 0.708,
    "b": 2.37,
    "actual_total": 18_440,
    "predicted_total": 16_507,
    "mae": 0.784,
    "rmse": 1.463,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/cdnow"))
    parser.add_argument("--json", type=Path, default=Path("bench/results/cdnow_bgnbd.json"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="bgnbd", choices=("bgnbd", "ziln", "sequence"))
    parser.add_argument("--epochs", type=int, default=8, help="deep models only")
    parser.add_argument(
        "--max-examples",
        type=lambda text: text if text == "auto" else int(text),
        default="auto",
        help="deep models only; 'auto' is the model's default",
    )
    args = parser.parse_args()

    with Store.create(load_inputs(args.data)) as store:
        report = run_backtest(
            store,
            calibration_end="1997-09-30",
            holdout_weeks=39,
            model=args.model,
            device=args.device,
            deep_options=(
                None
                if args.model == "bgnbd"
                else {"epochs": args.epochs, "max_examples": args.max_examples}
            ),
        )
    ours = report.to_dict()
    flat = {**ours, **ours["params"]}
    comparison = {
        name: {"ours": flat[name], "lifetimes": ref, "relative_difference": flat[name] / ref - 1}
        for name, ref in REFERENCE.items()
        if name in flat
    }
    for name, row in comparison.items():
        print(
            f"{name:>16}  ours {row['ours']:>12.4f}  lifetimes {row['lifetimes']:>10}  "
            f"diff {row['relative_difference']:+.3%}"
        )
    print(
        f"{'median_mae':>16}  {report.median_mae:.4f}   total off "
        f"{report.predicted_total / report.actual_total - 1:+.2%}\n"
        f"{'spearman':>16}  {report.spearman:.4f}   spend_gini {report.spend_gini:.4f}   "
        f"spend_decile_mape {report.spend_decile_mape:.4f}   fit {report.fit_seconds:.2f} s"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"backtest": ours, "reference_comparison": comparison, "machine": platform.platform()},
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
