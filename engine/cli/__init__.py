"""The `ltv` command line: thin commands over the library that parse, call and print.

Exit code 2 means the input broke its contract (the message names file, column and rows);
exit code 1 means a command failed for another stated reason. One module per group of
commands; each only parses options, calls the library and prints what came back.
"""

from engine.cli import data, evaluate, forecast, runs, serve  # noqa: F401 (registers the commands)
from engine.cli.app import app
from engine.cli.runs import parse_sweep

__all__ = ["app", "parse_sweep"]
