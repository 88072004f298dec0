"""A finished run folder read back as typed objects (DESIGN §7): the one reader that the report,
the command line, the pipeline and the planner web page use.

A folder that is not a finished run (a file, a staging folder, another tool's folder, a run
with a damaged file) raises `RunFolderError`, which names the folder, the file and what was
expected; nothing is written into such a folder.
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from engine import strict_yaml
from engine.run_summaries import (
    Constraint,
    ReleaseSummary,
    RunFolderError,
    RunSummary,
    SolutionSummary,
    optional_number,
)
from engine.scenario import Scenario
from optimization.problem import DecisionProblem
from optimization.rows import RowKind
from optimization.solution import RECOMMEND
from shopdata.atomic import write_text_atomically

#: Files every finished run has; the others are optional.
REQUIRED = ("scenario.yaml", "solution.json", "kpis.json", "problem.npz")
EVALUATION_FILE = "evaluation.json"
#: A run being staged lives in `.{run_id}.partial` (engine/run_folder.py).
STAGING_SUFFIX = ".partial"


#: kpis.json's figures and their shapes ("number", "numbers": a list of numbers, "counts": a
#: mapping of names to numbers).
KPI_SHAPES = {
    "clv_gain": "number",
    "bound": "number",
    "gap": "number",
    "customers": "number",
    "customers_contacted": "number",
    "contacts_by_action": "counts",
    "spend_by_week": "numbers",
    "revenue_by_week": "numbers",
    "baseline_revenue_by_week": "numbers",
    "floor_probability_by_week": "numbers",
    "recommendations_shown": "number",
    "recommendation_margin": "number",
}


def _number_like(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shaped(value: object, shape: str) -> bool:
    """Whether a kpis.json figure has `shape` (KPI_SHAPES)."""
    if shape == "number":
        return _number_like(value)
    if shape == "numbers":  # a week without a figure (no floor to meet) is null
        return isinstance(value, list) and all(v is None or _number_like(v) for v in value)
    return isinstance(value, dict) and all(_number_like(v) for v in value.values())


class RunFolder:
    """A finished run folder. Files are read on first use; `open` checks the folder first."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> RunFolder:
        """The run at `path`, after checking it is a folder holding every REQUIRED file."""
        path = Path(path)
        if not path.exists():
            raise RunFolderError(f"{path}: no such run folder")
        if not path.is_dir():
            raise RunFolderError(
                f"{path}: is a file; a run folder was expected (ltv runs lists them)"
            )
        missing = [name for name in REQUIRED if not (path / name).is_file()]
        if missing:
            raise RunFolderError(
                f"{path}: not a finished run folder (missing {', '.join(missing)}); "
                "`ltv runs` lists the finished runs"
            )
        return cls(path)

    @property
    def run_id(self) -> str:
        """The run's id: the folder's name, also while the run is still being staged."""
        name = self.path.name
        if name.startswith(".") and name.endswith(STAGING_SUFFIX):
            return name[1 : -len(STAGING_SUFFIX)]
        return name

    def _json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunFolderError(f"{self.path / name}: cannot be read as JSON ({error})") from None

    def _optional_json(self, name: str) -> Any | None:
        return self._json(name) if (self.path / name).is_file() else None

    @cached_property
    def scenario_text(self) -> str:
        return (self.path / "scenario.yaml").read_text()

    @cached_property
    def scenario(self) -> dict[str, Any]:
        """The resolved scenario the run was made with (as written, a mapping)."""
        try:
            scenario = strict_yaml.load(self.scenario_text)
        except yaml.YAMLError as error:
            raise RunFolderError(f"{self.path / 'scenario.yaml'}: not YAML ({error})") from None
        if not isinstance(scenario, dict):
            raise RunFolderError(f"{self.path / 'scenario.yaml'}: not a scenario mapping")
        return scenario

    @cached_property
    def settings(self) -> Scenario:
        """The scenario, validated (the margin, discount rate and catalogue the run used)."""
        try:
            return Scenario.model_validate(self.scenario)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise RunFolderError(
                f"{self.path / 'scenario.yaml'}: not a scenario ({where}: {first['msg']})"
            ) from None

    @cached_property
    def solution(self) -> SolutionSummary:
        raw = self._json("solution.json")
        try:
            constraints = tuple(
                Constraint(
                    name=str(r["name"]),
                    kind=RowKind(r["kind"]),
                    week=None if r.get("week") is None else int(r["week"]),
                    sense=str(r["sense"]),
                    activity=float(r["activity"]),
                    rhs=float(r["rhs"]),
                    slack=float(r["slack"]),
                    shadow_price=float(r["shadow_price"]),
                )
                for r in raw.get("constraints", [])
            )
            objective = optional_number(raw.get("objective"))
            bound = float(raw["bound"]) if raw.get("bound") is not None else math.nan
            gap = optional_number(raw.get("gap"))
            shown = raw.get("recommendations")
            if shown and "objective_counts" not in raw:
                # written before the CLV gain left out the recommendations' expected margin
                # (optimization/solve.py): the promotions' figures are what remains
                bound -= float(shown["bound"])
                if objective is not None:
                    objective -= float(shown["value"])
                    gap = max(0.0, (bound - objective) / max(abs(bound), 1e-9))
            return SolutionSummary(
                status=str(raw["status"]),
                objective=objective,
                bound=bound,
                gap=gap,
                backend=str(raw["backend"]),
                backend_version=str(raw.get("backend_version", "")),
                solve_seconds=float(raw.get("solve_seconds", math.nan)),
                build_seconds=float(raw.get("build_seconds", math.nan)),
                total_seconds=float(raw.get("total_seconds", math.nan)),
                constraints=constraints,
                notes=tuple(raw.get("notes", [])),
                explanation=raw.get("explanation"),
                recommendations=raw.get("recommendations"),
                raw=raw,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RunFolderError(
                f"{self.path / 'solution.json'}: not a solution this version wrote ({error!r})"
            ) from None

    @cached_property
    def kpis(self) -> dict[str, Any]:
        """kpis.json: the plan's key figures (only the solver's, for a run without a plan),
        each figure checked to be what this version writes (KPI_SHAPES): a hand-edited or
        damaged file is named with its key, not met by a TypeError deep in a report."""
        kpis = self._json("kpis.json")
        if not isinstance(kpis, dict):
            raise RunFolderError(f"{self.path / 'kpis.json'}: not a mapping of figures")
        for key, shape in KPI_SHAPES.items():
            if key in kpis and kpis[key] is not None and not _shaped(kpis[key], shape):
                raise RunFolderError(
                    f"{self.path / 'kpis.json'}: {key} is {kpis[key]!r:.60}; expected {shape}"
                )
        return kpis

    @cached_property
    def release(self) -> ReleaseSummary | None:
        """The release decision's summary (None where none was made or an earlier rule made
        it)."""
        raw = self.kpis.get("release")
        if not isinstance(raw, dict):
            return None
        try:
            return ReleaseSummary.of(raw)
        except (KeyError, TypeError, ValueError) as error:
            raise RunFolderError(
                f"{self.path / 'kpis.json'}: release is not what this version writes ({error!r})"
            ) from None

    @cached_property
    def assignment(self) -> pd.DataFrame:
        """assignment.parquet: the run's randomised tests in the campaign-log contract (empty
        where the run sent none)."""
        path = self.path / "assignment.parquet"
        if not path.is_file():
            return pd.DataFrame(
                {c: pd.Series(dtype=t) for c, t in (("customer_id", str), ("action", str))}
            )
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{path}: cannot be read as Parquet ({error})") from None

    def test_contacts(self, problem: DecisionProblem) -> np.ndarray:
        """Which of `problem`'s customer-weeks ([N, H] bool) are contacts of the run's
        randomised tests: the plan without them is what the release decision released."""
        found = np.zeros((len(problem.customer_ids), len(problem.week_labels)), dtype=bool)
        rows = self.assignment[self.assignment["action"] != "none"]
        if rows.empty:
            return found
        customer = pd.Index(problem.customer_ids.astype(str)).get_indexer(
            rows["customer_id"].astype(str)
        )
        weeks = pd.to_datetime([str(w) for w in problem.week_labels])
        week = weeks.get_indexer(pd.to_datetime(rows["week_start"]))
        keep = (customer >= 0) & (week >= 0)
        found[customer[keep], week[keep]] = True
        return found

    @cached_property
    def forecast(self) -> dict[str, Any]:
        """forecast.json: the forecaster's description and parameters ({} without one)."""
        return self._optional_json("forecast.json") or {}

    @cached_property
    def evaluation(self) -> dict[str, Any] | None:
        """`ltv evaluate`'s figures, once run."""
        return self._optional_json(EVALUATION_FILE)

    @cached_property
    def campaign_log(self) -> dict[str, Any] | None:
        """How the campaign log came about and its controls per action."""
        return self._optional_json("campaign_log.json")

    @cached_property
    def allocation(self) -> pd.DataFrame:
        """allocation.parquet: promotions and recommendations (empty without a plan)."""
        path = self.path / "allocation.parquet"
        if not path.is_file():
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in ALLOCATION_COLUMNS.items()})
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as error:
            raise RunFolderError(f"{path}: cannot be read as Parquet ({error})") from None

    @property
    def promotions(self) -> pd.DataFrame:
        """The allocation's promotion rows (one per contacted customer-week)."""
        return self.allocation[self.allocation["action"] != RECOMMEND]

    @property
    def recommendations(self) -> pd.DataFrame:
        """The allocation's recommendation rows (one per item shown to a customer in a week)."""
        return self.allocation[self.allocation["action"] == RECOMMEND]

    @cached_property
    def frontier(self) -> pd.DataFrame | None:
        path = self.path / "frontier.csv"
        return pd.read_csv(path) if path.is_file() else None

    @property
    def store_path(self) -> Path:
        """The run's own copy of its inputs (DuckDB)."""
        return self.path / "inputs.duckdb"

    def summary(self) -> RunSummary:
        solution, kpis = self.solution, self.kpis
        return RunSummary(
            status=solution.status,
            objective=solution.objective,
            bound=solution.bound,
            gap=solution.gap,
            backend=solution.backend,
            customers=int(kpis.get("customers", 0)),
            contacts=int(sum(kpis.get("contacts_by_action", {}).values())),
            spend=float(sum(kpis.get("spend_by_week", []))),
            revenue=float(sum(kpis.get("revenue_by_week", []))),
        )

    def problem(self) -> DecisionProblem:
        return DecisionProblem.load(self.path)

    def plan(self, problem: DecisionProblem) -> np.ndarray:
        """The promotions as action indices of `problem` per customer and week ([N, H], 0 =
        none)."""
        promotions = self.promotions
        row = {str(c): i for i, c in enumerate(problem.customer_ids)}
        column = {str(a): i for i, a in enumerate(problem.action_ids)}
        choice = np.zeros((problem.shape[0], problem.shape[2]), dtype=np.int64)
        choice[
            promotions["customer_id"].astype(str).map(row).to_numpy(dtype=np.int64),
            promotions["week"].to_numpy(dtype=np.int64) - 1,
        ] = promotions["action"].astype(str).map(column).to_numpy(dtype=np.int64)
        return choice

    def save_evaluation(self, figures: dict[str, object]) -> Path:
        """Keep `ltv evaluate`'s figures in the run (whole or not at all)."""
        self.__dict__.pop("evaluation", None)
        return write_text_atomically(
            self.path / EVALUATION_FILE, json.dumps(figures, indent=2) + "\n"
        )


ALLOCATION_COLUMNS = {
    "customer_id": "string",
    "week": "int64",
    "action": "string",
    "item": "string",
    "value": "float64",
    "cost": "float64",
    "revenue": "float64",
}


#: Customer attributes a plan is broken down by, the first one present.
SEGMENT_COLUMNS = ("segment", "region", "acquisition_channel")


def customer_segments(store_path: Path) -> pd.DataFrame | None:
    """customer_id and `segment` (the first of SEGMENT_COLUMNS the run's customers table has;
    its name in `attrs["column"]`), or None without one."""
    if not store_path.exists():
        return None
    from shopdata.store import Store

    with Store.open(store_path) as store:
        if not store.has_table("customers"):
            return None
        columns = [c for c in SEGMENT_COLUMNS if store.has_column("customers", c)]
        if not columns:
            return None
        frame = store.query(f"SELECT customer_id, {columns[0]} AS segment FROM customers")
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame.attrs["column"] = columns[0]
    return frame
