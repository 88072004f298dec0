"""The application, on top of every other package (DESIGN §1): scenarios, valuation, the weekly
pipeline and its run folders, the release check, evaluation, reports and the `ltv` CLI."""

from shopdata.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "scenario": ("Scenario", "ScenarioError", "load_scenario"),
        "pipeline": ("RunResult", "run_pipeline"),
        "run_reader": ("RunFolder", "RunFolderError"),
        "registry": ("RunRegistry",),
        "report": ("write_reports",),
        "evaluation": ("evaluate", "evaluate_run"),
    },
)
