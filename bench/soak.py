"""Concurrent weekly runs into one runs folder, killed at random and restarted: does every run
end complete, registered once, with nothing left behind and the plan it would have alone?

    python bench/soak.py --scenarios 20 --weeks 5 --customers 5000 --parallel 4 \
        --json bench/results/soak.json

A demo shop is generated once. Each of `--scenarios` variants of `scenarios/base.yaml`
(budgets, contact caps, horizons; the HTML and XLSX reports, no PDF) is planned for each of
`--weeks` consecutive weeks: every run is first made alone, into a runs folder of its own
(`--parallel` of them at a time, none killed); then all of them again, `--parallel` at a
time, into one shared runs folder, while every `--kill-every` seconds (on average) a random
running one is killed with SIGKILL (its whole process group; each run at most
`--kills-per-run` times) and started again. At the end:

- every run finished (exit 0, or the folder already finished when restarted); a run that
  fails on its own (not killed here) is listed under `failures`, not retried;
- the shared registry holds each run id exactly once;
- no `.partial` staging folder and no temporary file is left in the runs folder;
- each run's allocation is the one made alone: the SHA-256 of the allocation's rows (sorted,
  as CSV text) compared per run id.

The JSON states the runs, kills, restarts, mismatches (run ids) and leftovers. Measures; the
test (`tests/test_soak.py`) asserts on a 4-run version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

AS_OF = pd.Timestamp("2026-11-30")


@dataclass(frozen=True)
class Job:
    """One weekly run: a scenario file and a week."""

    scenario: Path
    week: pd.Timestamp

    def command(self, data: Path, runs: Path) -> list[str]:
        return [
            str(Path(sys.executable).with_name("ltv")), "weekly", "--scenario", str(self.scenario),
            "--as-of", f"{self.week:%Y-%m-%d}", "--data", str(data), "--runs-dir", str(runs),
            "--device", "cpu",
        ]  # fmt: skip


def scenarios(count: int, folder: Path) -> list[Path]:
    """`count` variants of the base scenario: budgets, caps and horizons differ."""
    base = yaml.safe_load(Path("scenarios/base.yaml").read_text())
    base.pop("sweep", None)
    base["report"] = {"formats": ["html", "xlsx"]}
    base["solver"] = {**base.get("solver", {}), "backend": "lagrangian"}
    paths = []
    for k in range(count):
        spec = {**base, "name": f"soak_{k:02d}", "horizon_weeks": 4 + k % 5}
        spec["constraints"] = {
            **base["constraints"],
            "weekly_budget": 100 + 50 * k,
            "contact_cap": 1 + k % 3,
        }
        path = folder / f"soak_{k:02d}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        paths.append(path)
    return paths


def allocation_digest(folder: Path) -> str:
    """SHA-256 of the run's allocation rows, sorted, as CSV text (the file's own bytes carry
    writer metadata)."""
    rows = pd.read_parquet(folder / "allocation.parquet")
    rows = rows.sort_values(list(rows.columns)).reset_index(drop=True)
    return hashlib.sha256(rows.to_csv(index=False).encode()).hexdigest()


def finished(output: str) -> Path:
    """The run folder a finished `ltv weekly` printed last."""
    return Path(output.strip().splitlines()[-1])


def alone(jobs: list[Job], data: Path, runs: Path, parallel: int) -> dict[str, str]:
    """Each job made alone, in a runs folder of its own (`parallel` at a time, none killed):
    run id -> allocation digest."""
    found: dict[str, str] = {}
    waiting = list(enumerate(jobs))
    running: list[subprocess.Popen[str]] = []
    while waiting or running:
        while waiting and len(running) < parallel:
            k, job = waiting.pop(0)
            command = job.command(data, runs / f"job_{k:03d}")
            running.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        time.sleep(0.2)
        for process in [p for p in running if p.poll() is not None]:
            running.remove(process)
            output = process.stdout.read() if process.stdout else ""
            if process.returncode != 0:
                raise RuntimeError(f"a run made alone failed ({process.args}): {output[-500:]}")
            folder = finished(output)
            found[folder.name] = allocation_digest(folder)
    return found


def soak(
    jobs: list[Job],
    data: Path,
    runs: Path,
    parallel: int,
    kill_every: float,
    seed: int,
    kills_per_run: int = 2,
) -> dict[str, object]:
    """Every job, `parallel` at a time, killed at random and restarted (module docstring),
    each at most `kills_per_run` times: a run killed faster than its stages finish would never
    end (each restart resumes from its last finished stage)."""
    rng = random.Random(seed)
    waiting = list(jobs)
    running: dict[int, tuple[Job, subprocess.Popen[str]]] = {}
    killed: dict[Job, int] = {}  # each job is killed at most `kills_per_run` times
    kills = restarts = 0
    folders: dict[str, Path] = {}
    failures: list[str] = []
    next_kill = time.monotonic() + rng.expovariate(1 / kill_every)
    while waiting or running:
        while waiting and len(running) < parallel:
            job = waiting.pop(0)
            process = subprocess.Popen(
                job.command(data, runs),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,  # its own process group: a kill takes its children
            )
            running[process.pid] = (job, process)
        time.sleep(0.2)
        for pid, (job, process) in list(running.items()):
            if process.poll() is None:
                continue
            del running[pid]
            output = process.stdout.read() if process.stdout else ""
            if process.returncode == 0:
                folder = finished(output)
                folders[folder.name] = folder
            elif process.returncode == -signal.SIGKILL:  # killed here: start it again
                waiting.append(job)
                restarts += 1
            else:  # failed on its own: said, not retried for ever
                failures.append(f"{job.scenario.name} {job.week:%Y-%m-%d}: {process.returncode}")
        victims = [pid for pid, (job, _) in running.items() if killed.get(job, 0) < kills_per_run]
        if victims and time.monotonic() >= next_kill:
            pid = rng.choice(victims)
            try:
                os.killpg(pid, signal.SIGKILL)
                kills += 1
                killed[running[pid][0]] = killed.get(running[pid][0], 0) + 1
            except ProcessLookupError:
                pass
            next_kill = time.monotonic() + rng.expovariate(1 / kill_every)
    return {"kills": kills, "restarts": restarts, "folders": folders, "failures": failures}


def check(runs: Path, folders: dict[str, Path], reference: dict[str, str]) -> dict[str, object]:
    """What the shared runs folder holds after the soak (module docstring)."""
    from engine.registry import RunRegistry

    table = RunRegistry(runs).table()
    counts = table["run_id"].value_counts()
    left = [
        str(p.relative_to(runs))
        for p in runs.rglob("*")
        if p.name.endswith(".partial") or ".tmp" in p.name or p.name.startswith(".tmp")
    ]
    mismatches = [
        run_id
        for run_id, digest in reference.items()
        if run_id not in folders or allocation_digest(folders[run_id]) != digest
    ]
    return {
        "registered": len(counts),
        "registered_more_than_once": sorted(counts[counts > 1].index.tolist()),
        "missing_from_registry": sorted(set(reference) - set(counts.index)),
        "leftovers": sorted(left),
        "mismatches": mismatches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--weeks", type=int, default=5)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--history-weeks", type=int, default=104)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=5.0)
    parser.add_argument("--kills-per-run", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        data = work / "data"
        if not (data / "transactions.parquet").is_file():
            subprocess.run(
                [str(Path(sys.executable).with_name("ltv")), "data", "demo", "--customers",
                 str(args.customers), "--weeks", str(args.history_weeks), "--seed", "7",
                 "--as-of", f"{AS_OF:%Y-%m-%d}", "--out", str(data)],
                check=True, capture_output=True,
            )  # fmt: skip
        (work / "scenarios").mkdir(parents=True, exist_ok=True)
        jobs = [
            Job(scenario, AS_OF + pd.Timedelta(weeks=w))
            for scenario in scenarios(args.scenarios, work / "scenarios")
            for w in range(args.weeks)
        ]
        started = time.perf_counter()
        reference = alone(jobs, data, work / "alone", args.parallel)
        alone_seconds = time.perf_counter() - started
        started = time.perf_counter()
        shared = work / "shared"
        result = soak(
            jobs, data, shared, args.parallel, args.kill_every, args.seed, args.kills_per_run
        )
        soak_seconds = time.perf_counter() - started
        figures = {
            "runs": len(jobs),
            "parallel": args.parallel,
            "kills": result["kills"],
            "restarts": result["restarts"],
            "failures": result["failures"],
            **check(shared, result["folders"], reference),  # type: ignore[arg-type]
            "alone_seconds": alone_seconds,
            "soak_seconds": soak_seconds,
        }
    print(json.dumps(figures, indent=1))
    if args.json is not None:
        command = " ".join(["python", *sys.argv])
        args.json.write_text(json.dumps({"command": command, **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
