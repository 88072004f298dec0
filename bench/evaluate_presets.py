"""What the engine's released plans add over doing nothing, on markets it was not built on:
the mean over seeds and both forecasters, with an interval across the cells.

    python bench/evaluate_presets.py --presets default responsive null retention deal_seekers \
        mixed --seeds 0 1 2 --models baseline ziln --customers 20000 \
        --json bench/results/evaluate_presets.json --markdown bench/results/evaluate_presets.md

For each preset (`ltv data demo --preset`; `default` is the demo market without one) and seed
a 104-week shop is generated with a contacts-only campaign log, the base scenario's weekly run
is made with each forecaster (the release decision at its defaults), and `ltv evaluate`
replays every policy in the truth (8 paired replications). Per preset, over its cells (seeds x
forecasters), never the better forecaster per seed:

- the engine's gain over doing nothing per customer: the mean over the cells, with a t interval
  across them (each cell's own interval is in the cell table);
- in how many cells the plan ships (contacts anyone), falls below doing nothing beyond its
  interval (its upper end below zero), and falls below it outside its randomised tests
  (`engine_without_tests`: the plan as released, the tests' contacts taken out);
- what the tests cost in the truth (engine minus engine without tests) against their budget;
- short-term greedy, uplift top-k and the oracle side by side, the engine's share of the
  oracle's mean gain and its regret (oracle minus engine).

Nothing is asserted: the figures are the result.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from scipy.special import stdtrit

AS_OF = "2026-11-30"
POLICIES = (
    "engine",
    "engine_without_tests",
    "short_term_greedy",
    "uplift_top_k",
    "random",
    "oracle",
)


def _ltv(*arguments: str) -> str:
    executable = Path(sys.executable).with_name("ltv")
    completed = subprocess.run(
        [str(executable), *arguments], check=True, capture_output=True, text=True
    )
    return completed.stdout


def _interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t interval across cells."""
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    if len(array) < 2:
        return mean, mean, mean
    half = float(stdtrit(len(array) - 1, 0.975) * array.std(ddof=1) / np.sqrt(len(array)))
    return mean, mean - half, mean + half


def _cell(run: Path, figures: dict, customers: int) -> dict[str, object]:
    """One cell's figures: every policy's gain and interval (in money and per customer), the
    plan's contacts and decision, the tests' budget and what they cost in the truth."""
    policies = figures["policies"]
    kpis = json.loads((run / "kpis.json").read_text())
    release = kpis.get("release") or {}
    return {
        "gain": {name: policies[name]["gain"] for name in POLICIES},
        "gain_ci": {name: policies[name]["gain_ci"] for name in POLICIES},
        "gain_per_customer": {name: policies[name]["gain"] / customers for name in POLICIES},
        "contacts": int(sum(kpis.get("contacts_by_action", {}).values())),
        "ships": bool(sum(kpis.get("contacts_by_action", {}).values())),
        "released": release.get("released", []),
        "tested": release.get("tested", []),
        "withheld": release.get("withheld", []),
        "test_budget": release.get("test_budget", 0.0),
        "expected_gain_per_week": (release.get("plan") or {}).get("expected_gain_per_week"),
        "loss_probability": (release.get("plan") or {}).get("loss_probability"),
        "tests_in_truth": policies["engine"]["gain"] - policies["engine_without_tests"]["gain"],
        "engine_spend": policies["engine"]["budget_used"],
        "engine_weeks_over_budget": policies["engine"]["weeks_over_budget"],
        "oracle_beaten_by": figures["oracle_beaten_by"],
    }


def summarise(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per preset: each policy's mean gain per customer over the cells with its interval, the
    cells that ship and that fall below doing nothing, the engine's share of the oracle's
    mean gain and its regret."""
    summaries = []
    for preset in dict.fromkeys(row["preset"] for row in rows):
        cells = [row for row in rows if row["preset"] == preset]
        means = {
            name: _interval([c["gain_per_customer"][name] for c in cells]) for name in POLICIES
        }
        oracle, engine = means["oracle"][0], means["engine"][0]
        summaries.append(
            {
                "preset": preset,
                "cells": len(cells),
                "gain_per_customer": means,
                "ships": sum(c["ships"] for c in cells),
                "below_nothing": sum(c["gain_ci"]["engine"][1] < 0 for c in cells),
                "below_nothing_outside_tests": sum(
                    c["gain_ci"]["engine_without_tests"][1] < 0 for c in cells
                ),
                "tests_lost_more_than_budget": sum(
                    -c["tests_in_truth"] > c["test_budget"] for c in cells
                ),
                "share_of_oracle": engine / oracle if oracle > 0 else None,
                "regret_per_customer": oracle - engine,
                "oracle_beaten": sum(bool(c["oracle_beaten_by"]) for c in cells),
            }
        )
    return summaries


def _money(triple: tuple[float, float, float]) -> str:
    mean, low, high = triple
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def markdown(rows: list[dict[str, object]], summaries: list[dict[str, object]]) -> str:
    lines = [
        "Gain over doing nothing per customer (money over the 12-week horizon and 26 weeks "
        "after), mean over seeds x forecasters with a 95 % interval across them:",
        "",
        "| market | cells | engine | greedy | uplift top-k | oracle | share of oracle "
        "| regret | ships | below nothing | below outside tests | tests lost > budget |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        g = s["gain_per_customer"]
        share = "n/a" if s["share_of_oracle"] is None else f"{100 * s['share_of_oracle']:.0f} %"
        lines.append(
            f"| {s['preset']} | {s['cells']} | {_money(g['engine'])} "
            f"| {g['short_term_greedy'][0]:+.4f} | {g['uplift_top_k'][0]:+.4f} "
            f"| {g['oracle'][0]:+.4f} | {share} | {s['regret_per_customer']:+.4f} "
            f"| {s['ships']} of {s['cells']} | {s['below_nothing']} "
            f"| {s['below_nothing_outside_tests']} | {s['tests_lost_more_than_budget']} |"
        )
    lines += [
        "",
        "Each cell (gain over doing nothing in money, 95 % interval over 8 paired replications):",
        "",
        "| market | seed | forecaster | engine | without tests | greedy | uplift top-k | oracle "
        "| released | tested | withheld | contacts | spend |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gain, ci = row["gain"], row["gain_ci"]
        lines.append(
            f"| {row['preset']} | {row['seed']} | {row['model']} "
            f"| {gain['engine']:,.0f} [{ci['engine'][0]:,.0f}, {ci['engine'][1]:,.0f}] "
            f"| {gain['engine_without_tests']:,.0f} | {gain['short_term_greedy']:,.0f} "
            f"| {gain['uplift_top_k']:,.0f} "
            f"| {gain['oracle']:,.0f} [{ci['oracle'][0]:,.0f}, {ci['oracle'][1]:,.0f}] "
            f"| {', '.join(row['released']) or '-'} | {', '.join(row['tested']) or '-'} "
            f"| {', '.join(row['withheld']) or '-'} | {row['contacts']:,} "
            f"| {row['engine_spend']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets",
        nargs="+",
        default=["default", "responsive", "null", "retention", "deal_seekers", "mixed"],
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["baseline", "ziln"])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/base.yaml"))
    parser.add_argument("--work", type=Path, default=Path("demo/presets"))
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument(
        "--release", default=None, help="YAML mapping merged into the scenario's release block"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()

    base = yaml.safe_load(args.scenario.read_text())
    base.pop("sweep", None)  # the frontier is not what is measured here
    variant = ""
    if args.release:
        base["release"] = {**base.get("release", {}), **yaml.safe_load(args.release)}
        variant = "_" + "_".join(f"{k}{v}" for k, v in yaml.safe_load(args.release).items())
    rows: list[dict[str, object]] = []
    # seeds outermost: a run cut short leaves every market measured on the same seeds
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            for preset in args.presets:
                data = args.work / f"{preset}_{seed}" / "data"
                if not (data / "ground_truth.npz").is_file():
                    _ltv(
                        "data", "demo", *(() if preset == "default" else ("--preset", preset)),
                        "--log", "contacts", "--customers", str(args.customers),
                        "--weeks", "104", "--seed", str(seed), "--as-of", AS_OF, "--out", str(data),
                    )  # fmt: skip
                for model in args.models:
                    rows.append(_measure(args, base, variant, preset, seed, model, data, folder))
                    print(markdown([rows[-1]], []).splitlines()[-1], flush=True)
                    _write(args, rows)  # after every cell: what is measured is kept
    print(markdown(rows, summarise(rows)))


def _measure(
    args: argparse.Namespace,
    base: dict,
    variant: str,
    preset: str,
    seed: int,
    model: str,
    data: Path,
    folder: str,
) -> dict[str, object]:
    """One cell: the weekly run with `model` on the market's data, evaluated in its truth."""
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
    return {
        "preset": preset,
        "seed": seed,
        "model": model,
        "run": run,
        "seconds": time.perf_counter() - started,
        **_cell(Path(run), figures, int(figures["customers"])),
    }


def _write(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    """The JSON and the Markdown table of the cells measured so far."""
    summaries = summarise(rows)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python", *sys.argv])
        found = {"command": command, "summaries": summaries, "rows": rows}
        args.json.write_text(json.dumps(found, indent=2) + "\n")
    if args.markdown is not None:
        args.markdown.write_text(markdown(rows, summaries))


if __name__ == "__main__":
    main()
