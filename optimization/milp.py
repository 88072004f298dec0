"""The allocation MIP as arrays: columns, rows and a CSC matrix, built in bulk with numpy.

Columns are x[u, a, t] for a >= 1 (a - 1 in column order), index ((u * (A - 1)) + a - 1) * H + t,
with an upper bound of 0 where the action is ineligible. Rows, in order:
  - one action a week: sum_a x[u, a, t] <= 1                  (N * H rows)
  - contact cap: sum_{a, t} x[u, a, t] <= K                    (N rows; omitted when K >= H)
  - contact windows (optimization/contact_windows.py (1)): per window, customer and window end
    whose allowance is below the weeks it holds (the others cannot bind)
  - the coupling rows of `rows.coupling_rows`, relative to none (m rows; a ratio rule's
    coefficients dv - (k - 1) dc on its actions' columns).
The objective and coupling coefficients are differences to `none`, so the all-zero vector is
the all-`none` plan and `offset` is its objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from optimization.contact_windows import ContactWindow
from optimization.highs_model import HighsOutcome, solve_with_highs
from optimization.problem import DecisionProblem
from optimization.rows import CouplingRows, RowKind
from optimization.settings import SolveSettings


@dataclass(frozen=True)
class MilpArrays:
    objective: np.ndarray  # [n_cols]
    offset: float
    upper: np.ndarray  # [n_cols]
    row_lower: np.ndarray  # [n_rows]
    row_upper: np.ndarray
    matrix: sparse.csc_matrix  # [n_rows, n_cols]
    first_coupling_row: int
    shape: tuple[int, int, int]

    @property
    def num_cols(self) -> int:
        return len(self.objective)

    def to_choice(self, x: np.ndarray) -> np.ndarray:
        """[n_cols] 0/1 values to [N, H] action indices (the largest x wins a tie)."""
        n, a, h = self.shape
        values = np.asarray(x, dtype=np.float64).reshape(n, a - 1, h)  # [N, A-1, H]
        best = values.argmax(axis=1)  # [N, H]
        chosen = np.take_along_axis(values, best[:, None, :], axis=1)[:, 0, :] > 0.5
        return np.where(chosen, best + 1, 0)

    def solve(
        self,
        settings: SolveSettings,
        *,
        integer: bool,
        warm_start: np.ndarray | None = None,
        time_limit_s: float | None = None,
        absolute_gap: float | None = None,
    ) -> HighsOutcome:
        """This MIP (or, with `integer=False`, its LP relaxation) maximised on HiGHS, columns
        from 0 to `upper`; `warm_start` is a column vector (`from_choice`). The outcome's
        objective and bound leave out `offset`."""
        return solve_with_highs(
            self.objective,
            np.zeros(self.num_cols),
            self.upper,
            self.matrix,
            self.row_lower,
            self.row_upper,
            settings,
            integer=integer,
            warm_start=warm_start,
            time_limit_s=time_limit_s,
            absolute_gap=absolute_gap,
        )

    def from_choice(self, choice: np.ndarray) -> np.ndarray:
        n, a, h = self.shape
        x = np.zeros((n, a - 1, h))  # [N, A-1, H]
        u, t = np.nonzero(choice > 0)
        x[u, choice[u, t] - 1, t] = 1.0
        return x.reshape(-1)


def incremental(
    problem: DecisionProblem, customers: slice = slice(None)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, cost and revenue of each action > 0 minus `none`'s ([C, A-1, H] each, float64),
    for the `customers` slice (all by default)."""
    return tuple(  # type: ignore[return-value]
        (array[customers, 1:, :] - array[customers, :1, :]).astype(np.float64)
        for array in (problem.value, problem.cost, problem.revenue)
    )


def build_milp(problem: DecisionProblem, rows: CouplingRows) -> MilpArrays:
    n, a, h = problem.shape
    k = a - 1
    dv, dc, dr = incremental(problem)
    cols = n * k * h
    column = np.arange(cols)
    u = column // (k * h)
    act = column // h % k  # action index - 1
    t = column % h
    coo_rows: list[np.ndarray] = [u * h + t]  # one action a week
    coo_cols: list[np.ndarray] = [column]
    coo_vals: list[np.ndarray] = [np.ones(cols)]
    row_lower = [np.full(n * h, -np.inf)]
    row_upper = [np.ones(n * h)]
    next_row = n * h
    cap = problem.effective_contact_cap
    if cap < h:
        coo_rows.append(next_row + u)
        coo_cols.append(column)
        coo_vals.append(np.ones(cols))
        row_lower.append(np.full(n, -np.inf))
        row_upper.append(np.full(n, float(cap)))
        next_row += n
    for window in problem.windows:
        rows_of, lower, upper_of, next_row = _window_rows(window, n, k, h, next_row)
        coo_rows.append(rows_of[0])
        coo_cols.append(rows_of[1])
        coo_vals.append(np.ones(len(rows_of[0])))
        row_lower.append(lower)
        row_upper.append(upper_of)
    first_coupling = next_row
    flat_dc, flat_dr = dc.reshape(-1), dr.reshape(-1)
    for i, kind in enumerate(rows.kinds):
        if kind is RowKind.WEEKLY_BUDGET:
            mask, coefficients = t == rows.week[i], flat_dc
        elif kind is RowKind.TOTAL_BUDGET:
            mask, coefficients = np.ones(cols, bool), flat_dc
        elif kind is RowKind.REVENUE_FLOOR:
            mask, coefficients = t == rows.week[i], flat_dr
        elif kind is RowKind.ACTION_CAPACITY:
            mask, coefficients = act == rows.action[i] - 1, np.ones(cols)
        elif kind is RowKind.RATIO:
            rule = problem.ratios[rows.ratio[i]]
            mask = rule.actions[1:][act]
            coefficients = rule.coefficients(dv.reshape(-1), flat_dc)
        else:
            mask, coefficients = problem.coverage[rows.segment[i]].members[u], np.ones(cols)
        coo_rows.append(np.full(int(mask.sum()), first_coupling + i))
        coo_cols.append(column[mask])
        coo_vals.append(coefficients[mask])
    remaining = rows.incremental_rhs
    row_lower.append(np.where(rows.sense < 0, remaining, -np.inf))
    row_upper.append(np.where(rows.sense > 0, remaining, np.inf))
    matrix = sparse.csc_matrix(
        (np.concatenate(coo_vals), (np.concatenate(coo_rows), np.concatenate(coo_cols))),
        shape=(first_coupling + len(rows), cols),
    )
    upper = np.repeat(problem.eligible[:, 1:].astype(np.float64), h, axis=1).reshape(-1)
    return MilpArrays(
        objective=dv.reshape(-1),
        offset=float(problem.value[:, 0, :].sum()),
        upper=upper,
        row_lower=np.concatenate(row_lower),
        row_upper=np.concatenate(row_upper),
        matrix=matrix,
        first_coupling_row=first_coupling,
        shape=(n, a, h),
    )


def _window_rows(
    window: ContactWindow, n: int, k: int, h: int, first_row: int
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray, int]:
    """The rows of one contact window that can bind: ((row, column) of each coefficient 1),
    their lower and upper bounds, and the next free row index."""
    allowance = window.allowance(h)  # [N, H]
    held = np.minimum(np.arange(h) + 1, window.weeks)  # planned weeks in the window ending at e
    u, e = np.nonzero(allowance < held[None, :])
    row = first_row + np.arange(len(u))
    group = np.flatnonzero(window.actions[1:])  # action index - 1
    back = np.arange(window.weeks)
    # coefficient (row, u, a, t = e - d) for every group action a and d < W with t >= 0
    r_idx, a_idx, d_idx = np.meshgrid(np.arange(len(u)), group, back, indexing="ij")
    r_idx, a_idx, d_idx = r_idx.reshape(-1), a_idx.reshape(-1), d_idx.reshape(-1)
    t = e[r_idx] - d_idx
    keep = t >= 0
    r_idx, a_idx, t = r_idx[keep], a_idx[keep], t[keep]
    columns = (u[r_idx] * k + a_idx) * h + t
    bounds = allowance[u, e].astype(np.float64)
    return (row[r_idx], columns), np.full(len(u), -np.inf), bounds, first_row + len(u)
