"""What scoring with a saved deep model saves: `ltv forecast fit` against `ltv forecast predict`.

    python bench/saved_model_reuse.py --data demo/data100k --models ziln sequence \
        --json bench/results/saved_model_reuse.json

Per model: the wall time of the whole `ltv forecast fit --model M --no-reviews` (which trains
and saves the model) and of `ltv forecast predict --model-dir` on the same data (which loads it
and scores without training), and the largest difference between the two forecasts (0 when the
saved model reproduces the fitted one).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from forecasting.forecast_set import ForecastSet


def _timed_ltv(*arguments: str) -> float:
    executable = Path(sys.executable).with_name("ltv")
    started = time.perf_counter()
    subprocess.run([str(executable), *arguments], check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("demo/data100k"))
    parser.add_argument("--models", nargs="+", default=["ziln", "sequence"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for model in args.models:
            fitted, scored = Path(scratch) / f"fit_{model}", Path(scratch) / f"predict_{model}"
            common = ("--data", str(args.data), "--device", args.device)
            fit_seconds = _timed_ltv(
                "forecast", "fit", *common, "--out", str(fitted), "--model", model, "--no-reviews"
            )
            predict_seconds = _timed_ltv(
                "forecast", "predict", *common, "--out", str(scored),
                "--model-dir", str(fitted / "model"),
            )  # fmt: skip
            first, second = ForecastSet.load(fitted), ForecastSet.load(scored)
            difference = max(
                float(np.abs(getattr(first, name) - getattr(second, name)).max())
                for name in ("purchase_prob", "spend", "future_margin_delta", "clv")
            )
            row = {
                "model": model,
                "customers": len(first.customer_ids),
                "fit_seconds": fit_seconds,
                "predict_seconds": predict_seconds,
                "speed_up": fit_seconds / predict_seconds,
                "largest_difference": difference,
            }
            results.append(row)
            print(
                f"{model:>9}: fit {fit_seconds:6.1f} s, predict {predict_seconds:6.1f} s "
                f"({row['speed_up']:.1f}x), forecasts differ by at most {difference:.2g}"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"results": results, "machine": platform.platform()}, indent=2) + "\n"
        )
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
