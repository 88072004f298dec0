"""The weekly batch end to end at N customers: the time and peak memory of each stage.

    python bench/scale.py --customers 100000 --engine local --json bench/results/scale_100000.json

A demo shop of N customers over 104 weeks is generated once into `--work` (timed apart), then
`scenarios/base.yaml` (without its sweep; the lagrangian backend, on `--engine`) runs from the
input files to the report in this process. The pipeline's own progress messages mark the
stages (reading and validating the input files, ingest into DuckDB, forecast, value, solve,
report); a sampler reads this process's resident
memory, and that of its Ray actors, every 0.2 s, so each stage gets its seconds and its peak.
Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from process_memory import MemorySampler

from engine.pipeline import run_pipeline

AS_OF = "2026-11-30"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("demo/scale"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data = args.work / f"data_{args.customers}"
    generate_seconds = None
    if not (data / "transactions.parquet").is_file():
        started = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).with_name("ltv")), "data", "demo", "--customers",
             str(args.customers), "--weeks", str(args.weeks), "--seed", "7", "--as-of", AS_OF,
             "--out", str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        generate_seconds = time.perf_counter() - started
    spec = yaml.safe_load(Path("scenarios/base.yaml").read_text())
    spec.pop("sweep", None)
    spec["name"] = f"scale_{args.customers}_{args.engine}"
    spec["solver"] = {
        **spec.get("solver", {}),
        "backend": "lagrangian",
        "execution": {"engine": args.engine, "shards": args.shards},
    }
    stages: list[dict[str, object]] = []
    sampler = MemorySampler(ray_actors=args.engine == "ray")
    current = {"name": "read and validate the inputs", "since": time.perf_counter()}

    def progress(message: str) -> None:
        name = message.split(":", 1)[0].strip()
        if name == current["name"]:
            return
        now = time.perf_counter()
        own, private, actors = sampler.mark()
        stages.append(
            {
                "stage": current["name"],
                "seconds": now - current["since"],
                "peak_rss_mb": own,
                "peak_private_mb": private,
                "ray_actors_peak_rss_mb": actors,
            }
        )
        current.update(name=name, since=now)

    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "scale.yaml"
        scenario.write_text(yaml.safe_dump(spec, sort_keys=False))
        started = time.perf_counter()
        result = run_pipeline(
            scenario,
            data_dir=data,
            runs_dir=Path(folder) / "runs",
            as_of=AS_OF,
            device="auto",
            force=True,
            progress=progress,
        )
        progress("end")
        total = time.perf_counter() - started
        solution = json.loads((result.folder / "solution.json").read_text())
        kpis = json.loads((result.folder / "kpis.json").read_text())
    sampler.stop()
    figures = {
        "customers": args.customers,
        "weeks_of_history": args.weeks,
        "engine": args.engine,
        "shards": args.shards if args.engine == "ray" else 1,
        "generate_seconds": generate_seconds,
        "total_seconds": total,
        "peak_rss_mb": max(float(s["peak_rss_mb"]) for s in stages),
        # the process's own maximum (the sampler, every 0.2 s, can miss a short peak)
        "peak_rss_getrusage_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stages": stages,
        "status": solution["status"],
        "objective": solution["objective"],
        "bound": solution["bound"],
        "gap": solution["gap"],
        "contacts": int(sum((kpis.get("contacts_by_action") or {}).values())),
        "contacts_by_action": kpis.get("contacts_by_action"),
        "recommendation_margin": kpis.get("recommendation_margin"),
        "release_released": (kpis.get("release") or {}).get("released"),
        "release_tested": (kpis.get("release") or {}).get("tested"),
        "release_withheld": (kpis.get("release") or {}).get("withheld"),
        "release_plan": (kpis.get("release") or {}).get("plan"),
        "release_note": (kpis.get("release") or {}).get("note"),
        "machine": platform.platform(),
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "machine"}, indent=1))
    if args.json is not None:
        command = " ".join(["python", *sys.argv])
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
