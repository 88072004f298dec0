"""The application, on top of every other package (DESIGN §1): scenarios, valuation, the weekly
pipeline and its run folders, the release check, evaluation, reports and the `ltv` CLI."""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "Scenario": "engine.scenario",
    "ScenarioError": "engine.scenario",
    "load_scenario": "engine.scenario",
    "RunResult": "engine.pipeline",
    "run_pipeline": "engine.pipeline",
    "RunFolder": "engine.run_reader",
    "RunFolderError": "engine.run_reader",
    "RunRegistry": "engine.registry",
    "write_reports": "engine.report",
    "evaluate": "engine.evaluation",
    "evaluate_run": "engine.evaluation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """The public API, imported on first use (importing the package stays cheap)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
