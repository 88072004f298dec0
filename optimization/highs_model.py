"""Passing array-built models to HiGHS in bulk (`passModel`), solving, reading results."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sparse

from optimization.settings import MIP_PRESOLVE_MAX_COLUMNS, SolveSettings

WATCHDOG_FACTOR = 1.05
WATCHDOG_GRACE_S = 2.0


@dataclass(frozen=True)
class HighsOutcome:
    model_status: str
    x: np.ndarray | None  # column values, None without a primal solution
    objective: float  # without any offset
    bound: float  # dual bound (MIP) or objective (LP)
    row_duals: np.ndarray | None
    seconds: float
    has_solution: bool
    time_limit_hit: bool
    infeasible: bool


def highs_version() -> str:
    return (
        f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
    )


def solve_with_highs(
    objective: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    matrix: sparse.csc_matrix,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    settings: SolveSettings,
    *,
    integer: bool,
    maximise: bool = True,
    warm_start: np.ndarray | None = None,
    time_limit_s: float | None = None,
    absolute_gap: float | None = None,
) -> HighsOutcome:
    """Solve max (or min) objective @ x over lower <= x <= upper, row_lower <= A x <= row_upper."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", bool(settings.verbose))
    highs.setOptionValue("time_limit", float(time_limit_s or settings.time_limit_s))
    highs.setOptionValue("mip_rel_gap", float(settings.relative_gap))
    highs.setOptionValue("random_seed", int(settings.seed))
    presolve = settings.highs.presolve
    if presolve == "auto":
        presolve = "off" if integer and len(objective) > MIP_PRESOLVE_MAX_COLUMNS else "on"
    highs.setOptionValue("presolve", presolve)
    if absolute_gap is not None:
        highs.setOptionValue("mip_abs_gap", float(absolute_gap))
    if settings.threads:
        highs.setOptionValue("threads", int(settings.threads))
    inf = highspy.kHighsInf
    model = highspy.HighsLp()
    model.num_col_ = len(objective)
    model.num_row_ = matrix.shape[0]
    model.col_cost_ = np.ascontiguousarray(objective, dtype=np.float64)
    model.col_lower_ = np.ascontiguousarray(lower, dtype=np.float64)
    model.col_upper_ = np.ascontiguousarray(upper, dtype=np.float64)
    model.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf).astype(np.float64)
    model.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf).astype(np.float64)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    model.a_matrix_.index_ = matrix.indices.astype(np.int32)
    model.a_matrix_.value_ = matrix.data.astype(np.float64)
    model.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    if integer:
        model.integrality_ = [highspy.HighsVarType.kInteger] * len(objective)
    highs.passModel(model)
    if integer and warm_start is not None:
        start = highspy.HighsSolution()
        start.col_value = list(np.asarray(warm_start, dtype=np.float64))
        start.value_valid = True
        highs.setSolution(start)
    if integer:
        _run_with_watchdog(highs, float(time_limit_s or settings.time_limit_s))
    else:  # LPs honour the time limit, and the bundle master is solved hundreds of times
        highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    has_solution = info.primal_solution_status == highspy.kSolutionStatusFeasible
    solution = highs.getSolution()
    x = np.array(solution.col_value) if has_solution else None
    row_duals = (
        np.array(solution.row_dual)
        if not integer and info.dual_solution_status == highspy.kSolutionStatusFeasible
        else None
    )
    objective_value = float(info.objective_function_value) if has_solution else float("nan")
    bound = float(info.mip_dual_bound) if integer else objective_value
    return HighsOutcome(
        model_status=highs.modelStatusToString(status),
        x=x,
        objective=objective_value,
        bound=bound,
        row_duals=row_duals,
        seconds=float(highs.getRunTime()),
        has_solution=has_solution,
        time_limit_hit=status
        in (highspy.HighsModelStatus.kTimeLimit, highspy.HighsModelStatus.kInterrupt),
        infeasible=status == highspy.HighsModelStatus.kInfeasible,
    )


def _run_with_watchdog(highs: highspy.Highs, limit: float) -> None:
    """HiGHS does not always check its time limit in long MIP phases (ERGO-Code/HiGHS#885,
    #2226): a watchdog interrupts the solve through its callback a little after the limit."""
    highs.HandleUserInterrupt = True
    watchdog = threading.Timer(limit * WATCHDOG_FACTOR + WATCHDOG_GRACE_S, highs.cancelSolve)
    watchdog.daemon = True
    watchdog.start()
    try:
        highs.joinSolve(highs.startSolve())
    finally:
        watchdog.cancel()
