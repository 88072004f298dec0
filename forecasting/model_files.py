"""A fitted deep forecaster on disk: its configuration, metrics and network weights.

    <folder>/model.json            configuration of every part, feature names and scaling,
                                   training metrics, the effect calibration and diagnostics
    <folder>/purchase_network.pt   the no-action network's state_dict
    <folder>/effect_networks.pt    the effect learner's two half-sample state_dicts
    <folder>/review_projection.npz the review embeddings' centre and principal axes (when the
                                   model reads reviews)

The folder is written beside itself and renamed into place, so a reader sees the old model or
the new one, never half of one. `load_model_files` rebuilds the trained parts: the no-action
model (which `refresh(store, as_of)` points at new data before it predicts) and the effect
learner, which maps features to effects exactly as the fitted one did.
`DeepForecaster.from_files` builds a whole forecaster from them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from forecasting.action_effects import PerActionHeads
from forecasting.attributes import CustomerAttributes
from forecasting.deep_purchases import DeepPurchaseModel
from forecasting.dr_effects import DoublyRobustEffectLearner
from forecasting.effect_diagnostics import EffectDiagnostics
from forecasting.networks import ForecastNetwork, NetworkConfig
from forecasting.review_embeddings import ReviewFeatures
from shopdata.atomic import staged_folder

MODEL_FILE = "model.json"
PURCHASE_WEIGHTS = "purchase_network.pt"
EFFECT_WEIGHTS = "effect_networks.pt"
#: Which customers each half of the effect learner learned from (ids and halves).
LEARNED_FROM = "effect_learned_from.npz"
REVIEW_PROJECTION = "review_projection.npz"
FORMAT_VERSION = 3


def _plain(value: Any) -> Any:
    """JSON-ready copy: arrays to lists, dataclasses to dicts, paths and other objects to
    strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _constructor_parameters(model: object) -> dict[str, Any]:
    """The keyword arguments the model was built with (scikit-learn's get_params: every
    constructor argument is stored under its own name)."""
    names = [n for n in inspect.signature(type(model).__init__).parameters if n != "self"]
    return {name: _plain(getattr(model, name)) for name in names}


def save_model_files(
    purchases: DeepPurchaseModel,
    effects: DoublyRobustEffectLearner | None,
    folder: Path | str,
    *,
    forecaster: object | None = None,
    backtest: dict[str, Any] | None = None,
) -> Path:
    """Write the fitted parts into `folder` (replacing what was there) and return it;
    `forecaster`, the object that owns them, has its constructor arguments recorded too, and
    `backtest` the figures the model scored when it was trained."""
    folder = Path(folder)
    with staged_folder(folder) as staging:
        _write_model(staging, purchases, effects, forecaster, backtest)
    return folder


def _write_model(
    staging: Path,
    purchases: DeepPurchaseModel,
    effects: DoublyRobustEffectLearner | None,
    forecaster: object | None,
    backtest: dict[str, Any] | None,
) -> None:
    description: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "purchase_model": {
            "parameters": _constructor_parameters(purchases),
            "network": dataclasses.asdict(purchases.network_.config),
            "feature_names": list(purchases.feature_names_),
            "feature_mean": _plain(purchases.feature_mean_),
            "feature_scale": _plain(purchases.feature_scale_),
            "log_spend_mean": purchases.log_spend_mean_,
            "categories": list(purchases.categories_),
            "training_examples": purchases.training_examples_,
            "final_loss": purchases.final_loss_,
            "anchor_offsets": _plain(purchases.anchor_offset_values_),
            "timings": _plain(purchases.timings_),
            "trained_as_of": f"{purchases.trained_as_of_:%Y-%m-%d}",
            "attributes": purchases.attributes_.to_dict(),
        },
        "effects": None,
        "forecaster": _constructor_parameters(forecaster) if forecaster is not None else None,
        "backtest": _plain(backtest) if backtest else None,
    }
    torch.save(purchases.network_.state_dict(), staging / PURCHASE_WEIGHTS)
    reviews = purchases.reviews_
    if reviews is not None and reviews.basis_ is not None:
        np.savez(staging / REVIEW_PROJECTION, center=reviews.center_, basis=reviews.basis_)
    if effects is not None:
        description["effects"] = {
            "parameters": _constructor_parameters(effects),
            "features": len(effects.feature_mean_),
            "feature_mean": _plain(effects.feature_mean_),
            "feature_scale": _plain(effects.feature_scale_),
            "spend_scale": effects.spend_scale_,
            "outcome_cap": _plain(effects.outcome_cap_),
            "spend_ratio": _plain(effects.spend_ratio_),
            "theta": _plain(effects.theta_),
            "theta_se": _plain(effects.theta_se_),
            "shrinkage": _plain(effects.shrinkage_),
            "outcomes": list(effects.outcomes_),
            "windows": _plain(effects.windows_),
            "training_rows": effects.training_rows_,
            "fit_seconds": effects.fit_seconds_,
            "diagnostics": effects.diagnostics_.to_dict(),
        }
        torch.save([m.state_dict() for m in effects.models_], staging / EFFECT_WEIGHTS)
        with (staging / LEARNED_FROM).open("wb") as handle:  # cross-fitting (`held_out`)
            np.savez(handle, ids=effects.learned_ids_.astype(str), half=effects.learned_half_)
    (staging / MODEL_FILE).write_text(json.dumps(description, indent=2, allow_nan=True) + "\n")


def folder_fingerprint(folder: Path | str) -> str:
    """SHA-256 over a saved model's file names and bytes: a run that scores with it is a
    different run when the model changes."""
    folder = Path(folder)
    read_description(folder)  # a clear error for a folder without a (readable) model
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFiles:
    """What `load_model_files` returns: the description; the no-action model, trained but not
    yet pointed at data (call `refresh(store, as_of)`, then `predict`); the effect learner, ready
    to call `effects(features)` (None without a campaign log). Networks are on the CPU."""

    description: dict[str, Any]
    purchases: DeepPurchaseModel
    effects: DoublyRobustEffectLearner | None


def read_description(folder: Path | str) -> dict[str, Any]:
    """The saved model's model.json (configuration and metrics), without loading weights."""
    path = Path(folder) / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved model here (expected {MODEL_FILE})")
    description = json.loads(path.read_text())
    if description.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {description.get('format_version')!r}; this version "
            f"reads {FORMAT_VERSION} (refit the model to save it again)"
        )
    return description


def load_model_files(
    folder: Path | str, *, device: str = "cpu", review_cache: Path | str | None = None
) -> ModelFiles:
    """The saved parts; the no-action model will run on `device` once refreshed, and read its
    review embeddings from `review_cache` (default: the cache it was trained with)."""
    folder = Path(folder)
    description = read_description(folder)
    effects = description["effects"]
    return ModelFiles(
        description,
        _purchase_model(folder, description["purchase_model"], device, review_cache),
        _effect_learner(folder, effects) if effects is not None else None,
    )


def _purchase_model(
    folder: Path, saved: dict[str, Any], device: str, review_cache: Path | str | None
) -> DeepPurchaseModel:
    parameters = dict(saved["parameters"], device=device)
    if review_cache is not None:
        parameters["review_cache"] = review_cache
    parameters["contact_actions"] = tuple(parameters["contact_actions"])
    model = DeepPurchaseModel(**parameters)
    model.device_ = torch.device("cpu")
    model.network_ = ForecastNetwork(NetworkConfig(**saved["network"]))
    model.network_.load_state_dict(torch.load(folder / PURCHASE_WEIGHTS, map_location="cpu"))
    model.network_.eval()
    model.feature_names_ = tuple(saved["feature_names"])
    model.feature_mean_ = np.asarray(saved["feature_mean"], dtype=np.float32)
    model.feature_scale_ = np.asarray(saved["feature_scale"], dtype=np.float32)
    model.log_spend_mean_ = float(saved["log_spend_mean"])
    model.categories_ = tuple(saved["categories"])
    model.training_examples_ = int(saved["training_examples"])
    model.final_loss_ = float(saved["final_loss"])
    model.anchor_offset_values_ = np.asarray(saved["anchor_offsets"])
    model.timings_ = dict(saved["timings"])
    model.trained_as_of_ = pd.Timestamp(saved["trained_as_of"])
    # Models saved before attributes were features have none (format 3 without the key).
    model.attributes_ = (
        CustomerAttributes.from_dict(saved["attributes"])
        if saved.get("attributes")
        else CustomerAttributes().fit(None)
    )
    model.reviews_ = None
    if model.use_reviews:
        reviews = ReviewFeatures(cache_path=model.review_cache, device=device)
        reviews.center_ = reviews.basis_ = None
        if (folder / REVIEW_PROJECTION).is_file():
            with np.load(folder / REVIEW_PROJECTION) as projection:
                reviews.center_ = projection["center"]
                reviews.basis_ = projection["basis"]
        model.reviews_ = reviews
    return model


def _effect_learner(folder: Path, saved: dict[str, Any]) -> DoublyRobustEffectLearner:
    parameters = dict(saved["parameters"], device="cpu")
    parameters["action_ids"] = tuple(parameters["action_ids"])
    learner = DoublyRobustEffectLearner(**parameters)
    learner.device_ = torch.device("cpu")
    learner.feature_mean_ = np.asarray(saved["feature_mean"], dtype=np.float32)
    learner.feature_scale_ = np.asarray(saved["feature_scale"], dtype=np.float32)
    learner.spend_scale_ = float(saved["spend_scale"])
    # models saved before the cap have none: their means are read uncapped, as they were made
    windows = len(saved["windows"])
    learner.outcome_cap_ = np.asarray(saved.get("outcome_cap", [np.inf] * windows), dtype=float)
    learner.spend_ratio_ = np.asarray(saved["spend_ratio"])
    learner.theta_ = np.asarray(saved["theta"])
    learner.theta_se_ = np.asarray(saved["theta_se"])
    learner.shrinkage_ = np.asarray(saved["shrinkage"])
    learner.outcomes_ = tuple(saved["outcomes"])
    learner.windows_ = tuple(tuple(w) for w in saved["windows"])
    learner.training_rows_ = int(saved["training_rows"])
    learner.fit_seconds_ = float(saved["fit_seconds"])
    diagnostics = saved["diagnostics"]
    learner.unsupported_ = dict(diagnostics["unsupported_actions"])
    learner.diagnostics_ = EffectDiagnostics(
        outcomes=tuple(diagnostics["outcomes"]),
        calibration=diagnostics["calibration"],
        gates=diagnostics["gates"],
        reliability=diagnostics["reliability"],
        unsupported=learner.unsupported_,
        unobserved=diagnostics["unobserved_windows"],
    )
    if (folder / LEARNED_FROM).is_file():
        with np.load(folder / LEARNED_FROM, allow_pickle=False) as archive:
            learner.learned_ids_, learner.learned_half_ = archive["ids"], archive["half"]
    else:  # saved before cross-fitting: both halves for everyone, as it scored then
        learner.learned_ids_, learner.learned_half_ = np.zeros(0, str), np.zeros(0, np.int8)
    learner.models_ = []
    for state in torch.load(folder / EFFECT_WEIGHTS, map_location="cpu"):
        heads = PerActionHeads(
            saved["features"], len(learner.action_ids), learner.hidden, heads=len(learner.outcomes_)
        )
        heads.load_state_dict(state)
        learner.models_.append(heads.eval())
    return learner
