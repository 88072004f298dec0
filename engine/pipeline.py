"""The weekly allocation batch: ingest, forecast, value, solve, export, register.

Idempotent: the run id is the scenario, the week and a fingerprint of the inputs and the
scenario, so the same week with the same inputs returns the finished run without recomputing.
Resumable: stages write into a staging folder and mark themselves done; a rerun after a kill
skips finished stages. Nothing looks finished until the staging folder is renamed into place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock

from engine import run_folder
from engine.forecast_stage import ForecastPlace, fitted_forecast, saved_model_forecast
from engine.kpis import known_customers, left_out, plan_kpis
from engine.plan_release import (
    ReleaseCheck,
    cost_variances,
    released_frontier,
    released_plan,
    scenario_solver,
)
from engine.policies import RuleMask, apply, attrition, contact_log, lifted, rule_masks
from engine.randomised_tests import assignment_rows
from engine.registry import RunRecord, RunRegistry
from engine.report import write_reports
from engine.run_progress import RunProgress, WarningsTo
from engine.run_reader import RunFolder
from engine.saved_models import SavedModel, choose_saved_model
from engine.scenario import Scenario, load_scenario
from engine.spreadsheet import write_csv
from engine.valuation import value_problem
from forecasting.baseline import week_after_last_purchase
from forecasting.forecast_set import ForecastSet
from optimization.problem import DecisionProblem
from shopdata.atomic import write_atomically
from shopdata.calendar import horizon_start
from shopdata.campaign_design import campaign_log_summary
from shopdata.progress import Progress, reporting
from shopdata.store import Store
from shopdata.validation import (
    NO_CAMPAIGN_LOG,
    InputTables,
    file_fingerprint,
    load_inputs,
    read_id_list,
)

#: Part of every run id, with the code's own fingerprint (run_folder.code_fingerprint): bump it when
#: what a run folder holds changes in a way the code alone does not say.
PIPELINE_VERSION = "13"  # 10: segments; 11: Gamma-Gamma prior; 12: decision; 13: tests
#: The run folder's account of the campaign log (origin, controls per action).
CAMPAIGN_LOG_FILE = "campaign_log.json"
#: The run's randomised tests in the campaign-log contract (engine/randomised_tests.py): append
#: them to the shop's campaign log once sent, and the next run learns from them.
ASSIGNMENT_FILE = "assignment.parquet"
STAGES = ("ingest", "forecast", "value", "solve", "frontier", "report")
#: Test hook: name a stage here and the pipeline stops right after finishing it, as if killed.
FAULT_INJECTION_ENV = "LTV_FAIL_AFTER_STAGE"

log = logging.getLogger("ltv.pipeline")


class InjectedFault(RuntimeError):
    """Raised by the fault-injection hook (tests only)."""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    folder: Path
    reused: bool


def _fingerprint(scenario_text: str, fingerprints: dict[str, str], week: pd.Timestamp) -> str:
    digest = hashlib.sha256()
    digest.update(PIPELINE_VERSION.encode())
    digest.update(run_folder.code_fingerprint().encode())
    digest.update(scenario_text.encode())
    digest.update(f"{week:%Y-%m-%d}".encode())
    for name in sorted(fingerprints):
        digest.update(f"{name}:{fingerprints[name]}".encode())
    return digest.hexdigest()


def run_pipeline(
    scenario_path: Path,
    *,
    data_dir: Path | None,
    runs_dir: Path,
    as_of: str | None = None,
    device: str = "auto",
    force: bool = False,
    sweep: tuple[str, list[float]] | None = None,
    progress: Callable[[str], None] | None = None,
    counts: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run (or return) the plan for the scenario's week; see the module docstring. `sweep`
    replaces the scenario's own sweep (recorded in the run's scenario.yaml as a comment).
    `progress` is told each stage's message, `counts` each counted step of the long ones
    (dual evaluations, training epochs, frontier points; shopdata.progress); both are also
    written to the staging folder's progress.json."""
    progress = progress or (lambda _: None)
    scenario = load_scenario(scenario_path)
    scenario_text = Path(scenario_path).read_text()
    if sweep is not None:
        parameter, levels = sweep
        scenario = scenario.model_copy(update={"sweep": {parameter: [float(v) for v in levels]}})
        scenario_text += f"\n# sweep given on the command line: {parameter} = {list(levels)}\n"
    data_dir = Path(data_dir) if data_dir is not None else Path(scenario.data.get("folder", "data"))
    action_ids = [a.id for a in scenario.actions]
    as_of_value = as_of or (str(scenario.as_of) if scenario.as_of else None)
    tables = load_inputs(
        data_dir,
        as_of=as_of_value,
        action_ids=action_ids,
        unidentified_effects=scenario.forecast.unidentified_effects,
        outliers=scenario.validation.outliers(),
    )
    week = (
        horizon_start(pd.Timestamp(as_of_value))
        if as_of_value
        else week_after_last_purchase(tables.transactions)
    )
    fingerprints = dict(tables.fingerprints)
    # the files the scenario's suppression rules name, read (and refused) with the inputs
    id_lists = {
        rule.file: read_id_list(data_dir / rule.file)
        for rule in scenario.policies.suppress
        if rule.file is not None
    }
    for name in id_lists:
        fingerprints[f"policy:{name}"] = file_fingerprint(data_dir / name)
    saved_model = choose_saved_model(scenario, Path(scenario_path), runs_dir, week)
    if saved_model is not None:
        fingerprints["saved_model"] = saved_model.fingerprint
    fingerprint = _fingerprint(scenario_text, fingerprints, week)
    run_id = run_folder.run_id_for(scenario.name, f"{week:%Y-%m-%d}", fingerprint)
    registry = RunRegistry(runs_dir)
    finished = run_folder.finished_folder(runs_dir, run_id)
    runs_dir.mkdir(parents=True, exist_ok=True)
    # One process per run: a second identical call waits here and then finds the run finished.
    with FileLock(str(run_folder.lock_file(runs_dir, run_id))):
        if finished.exists() and not force:
            if registry.find(run_id) is None:  # committed, then the registry was busy
                _register(registry, finished, scenario.name, week, fingerprint)
            return RunResult(run_id, finished, reused=True)
        plan = _RunPlan(
            scenario,
            scenario_text,
            tables.customers,
            tables.catalog,
            known_customers(tables),
            id_lists,
            week,
            saved_model,
            fingerprint,
            run_id,
            runs_dir,
            device,
        )
        # The tables go to the ingest stage and are let go of there: after it the run reads its
        # inputs from the store (a 1M-customer shop's 26M-row campaign log holds 1.5 GB).
        handoff = [tables]
        del tables
        return _run_stages(plan, handoff, registry, force, progress, counts)


def _run_stages(
    plan: _RunPlan,
    handoff: list[InputTables],
    registry: RunRegistry,
    force: bool,
    progress: Callable[[str], None],
    counts: Callable[[Progress], None] | None,
) -> RunResult:
    """The stages of `plan` in its staging folder, logging to its run.log, their progress in
    its progress.json (engine/run_progress.py)."""
    staging = run_folder.begin(plan.runs_dir, plan.run_id)
    handler = logging.FileHandler(staging / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    recorder = RunProgress(staging, progress, counts)

    def warned(record: logging.LogRecord) -> None:
        """A warning also goes to progress.json and to the caller's logging (the console of
        `ltv plan`, the web page's job), which the stages' INFO lines (run.log only) do not."""
        recorder.warn(record.getMessage())
        logging.getLogger().handle(record)

    warnings = WarningsTo(warned)
    log.addHandler(handler)
    log.addHandler(warnings)
    log.setLevel(logging.INFO)
    log.propagate = False  # the stages' INFO lines go to run.log only
    try:
        with reporting(recorder.count):
            return _stages(plan, handoff, staging, registry, force, recorder.message)
    finally:
        log.removeHandler(handler)
        log.removeHandler(warnings)
        handler.close()


def _write_campaign_log_summary(path: Path, tables: InputTables, actions: tuple[str, ...]) -> None:
    """The run's campaign_log.json (`campaign_log_summary`), each of its warnings logged."""
    if tables.campaign_log is None and not tables.campaign_log_origin:
        log.warning(NO_CAMPAIGN_LOG)
    summary = campaign_log_summary(tables.campaign_log, tables.campaign_log_origin, actions)
    for action, controls in summary["few_controls"].items():
        log.warning("the effect of %s rests on %d control rows", action, controls)
    for action in summary["never_logged"]:
        log.warning(
            "the campaign log never shows %s: its effect cannot be learned, so no plan uses it "
            "(a test campaign with a control group would show it)",
            action,
        )
    path.write_text(json.dumps(summary, indent=2) + "\n")


def _done(staging: Path, stage: str) -> None:
    run_folder.mark_stage(staging, stage)
    log.info("stage %s done", stage)
    if os.environ.get(FAULT_INJECTION_ENV) == stage:
        raise InjectedFault(f"stopped after stage {stage} ({FAULT_INJECTION_ENV})")


@dataclass(frozen=True)
class _RunPlan:
    """What one run is: its scenario and inputs, the week, the saved model it scores with (or
    None to train), its identity, where it goes and on which device."""

    scenario: Scenario
    scenario_text: str
    customers: pd.DataFrame | None  # the customers table (segments, attributes)
    catalog: pd.DataFrame | None
    known_customers: np.ndarray  # [K] str, from the customers table and the campaign log
    id_lists: dict[str, np.ndarray]  # the ids of each file a suppression rule names
    week: pd.Timestamp
    saved_model: SavedModel | None
    fingerprint: str
    run_id: str
    runs_dir: Path
    device: str

    @property
    def review_cache(self) -> Path:
        """Review embeddings are cached once per runs folder, shared by its runs."""
        return self.runs_dir / "review_embeddings.duckdb"


def _stages(
    plan: _RunPlan,
    handoff: list[InputTables],
    staging: Path,
    registry: RunRegistry,
    force: bool,
    progress: Callable[[str], None],
) -> RunResult:
    """The run's stages, each skipped where the staging folder has it done; `handoff` holds
    the validated tables until the ingest stage has stored them (then it is emptied)."""
    scenario, week, saved_model = plan.scenario, plan.week, plan.saved_model
    (staging / "scenario.yaml").write_text(plan.scenario_text)
    store_path = staging / "inputs.duckdb"
    if not run_folder.stage_done(staging, "ingest"):
        progress("ingest: validating and loading the input tables")
        tables = handoff[0]
        for warning in tables.warnings:  # findings kept by choice (amount outliers: warn)
            log.warning("input: %s", warning)
        Store.create(tables, store_path).close()
        _write_campaign_log_summary(
            staging / CAMPAIGN_LOG_FILE, tables, tuple(a.id for a in scenario.actions)
        )
        del tables
        _done(staging, "ingest")
    handoff.clear()
    forecast_dir = staging / "forecast"
    place = ForecastPlace(forecast_dir, plan.review_cache, plan.device)
    if not run_folder.stage_done(staging, "forecast"):
        with Store.open(store_path) as store:
            if saved_model is not None:
                progress(
                    f"forecast: scoring with the saved model {saved_model.folder} (trained as "
                    f"of {saved_model.trained_as_of:%Y-%m-%d})"
                )
                forecast = saved_model_forecast(store, scenario, week, place, saved_model.folder)
            else:
                progress(
                    f"forecast: fitting the {scenario.forecast.model} forecaster and the effect "
                    "learner"
                )
                forecast = fitted_forecast(store, scenario, week, place)
            forecast.save(forecast_dir)
            del forecast
        _done(staging, "forecast")
    # The forecast's [N, A, H] arrays are held only by the stages that read them (at 1M
    # customers x 6 actions x 12 weeks each is 0.58 GB): the value stage whole, the solve stage
    # what it reads, one array at a time.
    if not run_folder.stage_done(staging, "value"):
        progress("value: forecasts to decision coefficients")
        forecast = ForecastSet.load(forecast_dir)
        problem = value_problem(forecast, scenario, customers=plan.customers, catalog=plan.catalog)
        del forecast
        # contact policies: what they block is ineligible in problem.npz (the audit reads it)
        apply(problem, _masks(plan, problem, store_path)).save(staging)
        _done(staging, "value")
    problem = DecisionProblem.load(staging)
    settings = scenario.solver.settings()
    check = ReleaseCheck(
        scenario, plan.week, store_path, forecast_dir, seed=int(plan.fingerprint[:8], 16)
    )
    if not run_folder.stage_done(staging, "solve"):
        _solve_stage(plan, staging, problem, check, progress)
    if scenario.sweep and not run_folder.stage_done(staging, "frontier"):
        progress("frontier: re-solving over the sweep, each level's plan as it would be released")
        curve = released_frontier(
            problem,
            scenario,
            cost_variances(forecast_dir, scenario),
            settings,
            check,
            on_point=lambda point: progress(
                f"frontier: {point.parameter} = {point.level:,.2f}: {point.status.value}, "
                f"CLV {point.clv:,.2f}"
            ),
        )
        write_csv(curve, staging / "frontier.csv")
        _done(staging, "frontier")
    shutil.copy(forecast_dir / "forecast.json", staging / "forecast.json")
    # The report reads the run folder back: the problem's arrays and the log's outcomes held
    # here would be a second copy beside its own (at 1M, 0.7 GB more at the report's peak).
    del problem, check
    if not run_folder.stage_done(staging, "report"):
        progress(f"report: {', '.join(f.upper() for f in scenario.report.formats)}")
        if RunFolder.open(staging).solution.has_plan:
            write_reports(staging)
        _done(staging, "report")
    folder = run_folder.commit(plan.runs_dir, plan.run_id, replace=force)
    _register(registry, folder, scenario.name, week, plan.fingerprint)
    return RunResult(plan.run_id, folder, reused=False)


def _solve_stage(
    plan: _RunPlan,
    staging: Path,
    problem: DecisionProblem,
    check: ReleaseCheck,
    progress: Callable[[str], None],
) -> None:
    """The solve stage: the plan as released (solution.npz), its randomised tests'
    assignment, kpis.json and allocation.csv; what it builds is let go on return."""
    scenario, forecast_dir = plan.scenario, staging / "forecast"
    settings = scenario.solver.settings()
    progress(f"solve: {problem.value.size:,} variables, backend {scenario.solver.backend}")
    solution, extras = released_plan(
        problem, scenario, cost_variances(forecast_dir, scenario), settings, check, progress
    )
    solution.save(staging, problem)
    report = extras.pop("_report", None)
    if report is not None and report.tests:
        rows = assignment_rows(
            problem, list(report.tests), {a.id: a.channel for a in scenario.actions}
        )
        write_atomically(staging / ASSIGNMENT_FILE, lambda path: rows.to_parquet(path, index=False))
        log.info("randomised tests: %d rows written to %s", len(rows), ASSIGNMENT_FILE)
    action_ids = ForecastSet.load_array(forecast_dir, "action_ids")
    kpis = (
        plan_kpis(
            problem,
            solution,
            ForecastSet.load_array(forecast_dir, "purchase_prob")[
                :, _indices(action_ids, scenario), : scenario.horizon_weeks
            ],
        )
        if solution.has_plan
        else {}
    )
    kpis.update(extras)
    masks = _masks(plan, problem, staging / "inputs.duckdb")
    if masks:
        progress(f"attrition: the plan without each of {len(masks)} contact policies")
        solver = scenario_solver(scenario, None, settings, {})
        kpis["attrition"] = [r.to_dict() for r in attrition(lifted(problem, masks), masks, solver)]
    kpis["left_out"] = left_out(
        plan.known_customers, ForecastSet.load_array(forecast_dir, "customer_ids")
    )
    (staging / "kpis.json").write_text(json.dumps(kpis, indent=2) + "\n")
    if solution.has_plan:
        write_csv(solution.allocation(problem), staging / "allocation.csv")
    _done(staging, "solve")


def _register(
    registry: RunRegistry, folder: Path, scenario: str, week: pd.Timestamp, fingerprint: str
) -> None:
    """Record the finished run `folder` in the registry, from its files."""
    summary = RunFolder.open(folder).summary()
    registry.record(
        RunRecord(
            run_id=folder.name,
            created=dt.datetime.now(),
            scenario=scenario,
            week=week.date(),
            inputs_fingerprint=fingerprint,
            status=summary.status,
            backend=summary.backend,
            objective=_number(summary.objective),
            bound=_number(summary.bound),
            gap=_number(summary.gap),
            customers=summary.customers,
            contacts=summary.contacts,
            spend=summary.spend,
            revenue=summary.revenue,
            folder=str(folder),
        )
    )


def _masks(plan: _RunPlan, problem: DecisionProblem, store_path: Path) -> tuple[RuleMask, ...]:
    """The scenario's contact policies over `problem`'s customers and actions, windows and gaps
    counting the campaign log's contacts before the plan's week."""
    log = contact_log(store_path, plan.week, plan.scenario.policies)
    return rule_masks(plan.scenario, problem, plan.customers, plan.id_lists, log, plan.week)


def _number(value: float | None) -> float:
    """A solution.json figure as a float: NaN where it is missing (null), never where it is 0."""
    return float("nan") if value is None else float(value)


def _indices(action_ids: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Where the scenario's actions are among the forecast's `action_ids`."""
    position = {str(a): i for i, a in enumerate(action_ids)}
    return np.array([position[a.id] for a in scenario.actions])
