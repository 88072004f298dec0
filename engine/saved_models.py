"""Which saved deep model a weekly run scores with (the scenario's `forecast.saved_model`).

A path names one model folder (a deep run's `forecast/model`, or `ltv forecast fit`'s
`model/`). `latest` picks, among the finished runs in the runs folder, the newest model of the
scenario's kind and action catalogue trained on or before the run's week, and no older than
`forecast.max_model_age_weeks`; when there is none the run trains and saves a new one. So
`saved_model: latest` with `max_model_age_weeks: 3` retrains every fourth week and scores the
weeks between with the networks it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.scenario import Scenario, ScenarioError
from forecasting.model_files import MODEL_FILE, folder_fingerprint, read_description


@dataclass(frozen=True)
class SavedModel:
    """The model folder a run scores with, when it was trained, and its files' fingerprint."""

    folder: Path
    trained_as_of: pd.Timestamp
    fingerprint: str


def choose_saved_model(
    scenario: Scenario, scenario_path: Path, runs_dir: Path, week: pd.Timestamp
) -> SavedModel | None:
    """The model the run at `week` scores with, or None when it trains its own. A named folder
    that cannot serve (missing, another kind or catalogue, trained after `week`) is a
    ScenarioError naming the file and key, raised before any run folder is made."""
    spec = scenario.forecast
    if spec.saved_model is None:
        return None
    if spec.saved_model == "latest":
        return _latest(scenario, runs_dir, week)
    folder = Path(spec.saved_model)
    where = f"{scenario_path}: forecast.saved_model"
    try:
        description = read_description(folder)
    except (FileNotFoundError, ValueError) as error:
        raise ScenarioError(f"{where}: {error}") from None
    problem = _mismatch(description, scenario)
    trained = _trained_as_of(description)
    if problem is None and trained > week:
        problem = (
            f"was trained on data up to {trained:%Y-%m-%d}, after this run's week "
            f"{week:%Y-%m-%d} (it would score with what it should not know)"
        )
    if problem is not None:
        raise ScenarioError(f"{where}: {folder} {problem}")
    return SavedModel(folder, trained, folder_fingerprint(folder))


def _latest(scenario: Scenario, runs_dir: Path, week: pd.Timestamp) -> SavedModel | None:
    oldest = (
        week - pd.Timedelta(weeks=scenario.forecast.max_model_age_weeks)
        if scenario.forecast.max_model_age_weeks is not None
        else pd.Timestamp.min
    )
    candidates = []
    for path in Path(runs_dir).glob(f"*/forecast/model/{MODEL_FILE}"):  # finished runs only
        try:
            description = read_description(path.parent)
        except ValueError:  # saved by an older version
            continue
        trained = _trained_as_of(description)
        if _mismatch(description, scenario) is None and oldest <= trained <= week:
            candidates.append((trained, str(path.parent)))
    if not candidates:
        return None
    trained, folder = max(candidates)  # the newest; among equals, the last run id
    return SavedModel(Path(folder), trained, folder_fingerprint(folder))


def _trained_as_of(description: dict[str, Any]) -> pd.Timestamp:
    return pd.Timestamp(description["purchase_model"]["trained_as_of"])


def _mismatch(description: dict[str, Any], scenario: Scenario) -> str | None:
    """Why a saved model cannot score this scenario, or None: the effect heads are per action,
    so the catalogue must be the same, and the kind is the scenario's choice."""
    saved = description.get("forecaster") or {}
    saved_actions = [action["id"] for action in saved.get("actions", [])]
    wanted_actions = [action.id for action in scenario.actions]
    if saved.get("model") == scenario.forecast.model and saved_actions == wanted_actions:
        return None
    return (
        f"holds a {saved.get('model')} model for actions {saved_actions}; the scenario asks "
        f"for {scenario.forecast.model} with actions {wanted_actions} (fit a model with this "
        "catalogue, or drop saved_model)"
    )
