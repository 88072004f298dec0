"""What the engine's plans add over doing nothing on markets it was not built on.

    python bench/evaluate_presets.py --presets null retention deal_seekers mixed --seeds 0 1 2 \
        --models baseline ziln --customers 20000 --json bench/results/evaluate_presets.json \
        --markdown bench/results/evaluate_presets.md

For each preset (`ltv data demo --preset`, docs/demo_market.md) and seed a 104-week shop is
generated with a contacts-only campaign log (the design and eligibility files beside it), the
base scenario's weekly run is made with each forecaster, and `ltv evaluate` replays every policy
in the truth. Per cell: the paired gain over doing nothing of the engine, short-term greedy,
uplift top-k and the oracle, with 95 % intervals; the engine's spend and share of weeks over
budget; the share of the oracle's gain it captures; and which policies beat the oracle beyond
noise (a defect of the oracle, if any). Nothing is asserted: the figures are the result.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

AS_OF = "2026-11-30"
POLICIES = ("engine", "short_term_greedy", "uplift_top_k", "random", "oracle")


def _ltv(*arguments: str) -> str:
    executable = Path(sys.executable).with_name("ltv")
    completed = subprocess.run(
        [str(executable), *arguments], check=True, capture_output=True, text=True
    )
    return completed.stdout


def _cell(figures: dict, budget_total: float) -> dict[str, object]:
    policies = figures["policies"]
    return {
        "gain": {name: policies[name]["gain"] for name in POLICIES},
        "gain_ci": {name: policies[name]["gain_ci"] for name in POLICIES},
        "engine_spend": policies["engine"]["budget_used"],
        "engine_budget_share": policies["engine"]["budget_used"] / budget_total,
        "engine_weeks_over_budget": policies["engine"]["weeks_over_budget"],
        "capture": figures["engine_capture_of_oracle_gain"],
        "oracle_beaten_by": figures["oracle_beaten_by"],
    }


def _markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| preset | seed | forecaster | engine gain [95 % CI] | greedy | uplift top-k | oracle "
        "| capture | engine spend (share of budget) | weeks over budget | oracle beaten by |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gain, ci = row["gain"], row["gain_ci"]
        capture = "n/a" if row["capture"] is None else f"{100 * row['capture']:.0f} %"
        lines.append(
            f"| {row['preset']} | {row['seed']} | {row['model']} "
            f"| {gain['engine']:,.0f} [{ci['engine'][0]:,.0f}, {ci['engine'][1]:,.0f}] "
            f"| {gain['short_term_greedy']:,.0f} | {gain['uplift_top_k']:,.0f} "
            f"| {gain['oracle']:,.0f} [{ci['oracle'][0]:,.0f}, {ci['oracle'][1]:,.0f}] "
            f"| {capture} | {row['engine_spend']:,.0f} ({100 * row['engine_budget_share']:.1f} %) "
            f"| {100 * row['engine_weeks_over_budget']:.1f} % "
            f"| {', '.join(row['oracle_beaten_by']) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["null", "retention", "deal_seekers", "mixed"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["baseline", "ziln"])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/base.yaml"))
    parser.add_argument("--work", type=Path, default=Path("demo/presets"))
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument(
        "--budget-confidence",
        type=float,
        help="set constraints.budget_confidence (each week's budget holds with this probability)",
    )
    parser.add_argument(
        "--no-release-check",
        action="store_true",
        help="release the plan unchecked (release.check: false), to measure the plan itself",
    )
    parser.add_argument(
        "--release-confidence",
        type=float,
        help="set release.confidence (the release check's one-sided level over the actions)",
    )
    parser.add_argument(
        "--release-weeks",
        type=int,
        help="set release.outcome_weeks (the longest outcome window the release check uses)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    base = yaml.safe_load(args.scenario.read_text())
    base.pop("sweep", None)  # the frontier is not what is measured here
    variant = ""
    if args.budget_confidence is not None:
        base["constraints"]["budget_confidence"] = args.budget_confidence
        variant += f"_conf{round(100 * args.budget_confidence)}"
    if args.release_confidence is not None:
        base["release"] = {**base.get("release", {}), "confidence": args.release_confidence}
        variant += f"_release{round(100 * args.release_confidence)}"
    if args.release_weeks is not None:
        base["release"] = {**base.get("release", {}), "outcome_weeks": args.release_weeks}
        variant += f"_window{args.release_weeks}"
    if args.no_release_check:
        base["release"] = {"check": False}
        variant += "_unchecked"
    weekly = base["constraints"]["weekly_budget"]
    budget_total = float(weekly) * base["horizon_weeks"]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.presets:
            for seed in args.seeds:
                data = args.work / f"{preset}_{seed}" / "data"
                if not (data / "ground_truth.npz").is_file():
                    _ltv(
                        "data", "demo", "--preset", preset, "--log", "contacts",
                        "--customers", str(args.customers), "--weeks", "104",
                        "--seed", str(seed), "--as-of", AS_OF, "--out", str(data),
                    )  # fmt: skip
                for model in args.models:
                    spec = {**base, "name": f"{preset}_{seed}_{model}{variant}"}
                    spec["forecast"] = {**base.get("forecast", {}), "model": model}
                    scenario = Path(folder) / f"{spec['name']}.yaml"
                    scenario.write_text(yaml.safe_dump(spec, sort_keys=False))
                    started = time.perf_counter()
                    run = _ltv(
                        "weekly", "--scenario", str(scenario), "--as-of", AS_OF,
                        "--data", str(data), "--runs-dir", str(args.work / "runs"),
                    ).strip().splitlines()[-1]  # fmt: skip
                    figures_path = Path(folder) / f"{spec['name']}.json"
                    _ltv(
                        "evaluate", run, "--data", str(data), "--json", str(figures_path),
                        "--replications", str(args.replications),
                    )  # fmt: skip
                    figures = json.loads(figures_path.read_text())
                    row = {
                        "variant": variant.strip("_") or "default",
                        "preset": preset,
                        "seed": seed,
                        "model": model,
                        "run": run,
                        "seconds": time.perf_counter() - started,
                        **_cell(figures, budget_total),
                    }
                    rows.append(row)
                    print(_markdown([row]).splitlines()[-1], flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python", *sys.argv])
        args.json.write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(_markdown(rows))


if __name__ == "__main__":
    main()
