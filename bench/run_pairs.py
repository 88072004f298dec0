"""The command line the benchmarks that replay run folders in their demo market's truth share:
`python bench/NAME.py RUN:DATA [RUN:DATA ...] [--json OUT]` (a run folder and the data folder
holding its `ground_truth.npz`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def over_run_pairs(
    description: str,
    replay: Callable[[Path, Path], dict[str, Any]],
    show: Callable[[dict[str, Any]], None],
    *,
    key: str = "results",
    indent: int = 1,
) -> None:
    """Parse the command line, `replay` each RUN:DATA pair, `show` each result as it comes, and
    write them all, with the command, to --json (under `key`) where asked."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("runs", nargs="+", help="RUN:DATA pairs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    found = []
    for pair in args.runs:
        run, data = pair.split(":")
        found.append(replay(Path(run), Path(data)))
        show(found[-1])
    if args.json:
        figures = {"command": "python " + " ".join(sys.argv), key: found}
        args.json.write_text(json.dumps(figures, indent=indent))
