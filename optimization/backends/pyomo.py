"""Pyomo backend: the allocation MIP written the way it reads in DESIGN §4, solved by HiGHS.

Readable and slow to build (Pyomo creates one Python object per variable and constraint): a
cross-check for small problems, not the large-scale path.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo

from optimization.backends.base import Capability
from optimization.milp import incremental
from optimization.problem import DecisionProblem
from optimization.reporting import finish
from optimization.rows import CouplingRows, RowKind
from optimization.settings import SolveSettings
from optimization.solution import Solution, Timings


class PyomoBackend:
    name = "pyomo"
    capabilities = frozenset({Capability.EXACT, Capability.TIME_LIMIT})

    def version(self) -> str:
        return f"pyomo {pyo.__version__ if hasattr(pyo, '__version__') else ''}".strip()

    def build(self, problem: DecisionProblem, rows: CouplingRows) -> pyo.ConcreteModel:
        n, a, h = problem.shape
        dv, dc, dr = incremental(problem)
        model = pyo.ConcreteModel("allocation")
        model.U = pyo.RangeSet(0, n - 1)
        model.A = pyo.RangeSet(1, a - 1)  # actions other than none
        model.T = pyo.RangeSet(0, h - 1)
        eligible = problem.eligible

        def bounds(_, u, act, t):
            return (0, 1 if eligible[u, act] else 0)

        model.x = pyo.Var(model.U, model.A, model.T, domain=pyo.Binary, bounds=bounds)
        model.value = pyo.Objective(
            expr=sum(
                float(dv[u, act - 1, t]) * model.x[u, act, t]
                for u in model.U
                for act in model.A
                for t in model.T
            ),
            sense=pyo.maximize,
        )
        model.one_action_a_week = pyo.Constraint(
            model.U, model.T, rule=lambda m, u, t: sum(m.x[u, act, t] for act in m.A) <= 1
        )
        cap = problem.effective_contact_cap
        if cap < h:
            model.contact_cap = pyo.Constraint(
                model.U, rule=lambda m, u: sum(m.x[u, act, t] for act in m.A for t in m.T) <= cap
            )
        model.windows = pyo.ConstraintList()
        for window in problem.windows:  # optimization/contact_windows.py (1)
            allowance = window.allowance(h)
            group = [int(act) for act in np.flatnonzero(window.actions)]
            for u in range(n):
                for e in range(h):
                    weeks = range(max(0, e - window.weeks + 1), e + 1)
                    if allowance[u, e] < len(weeks):
                        model.windows.add(
                            sum(model.x[u, act, t] for act in group for t in weeks)
                            <= int(allowance[u, e])
                        )
        model.coupling = pyo.ConstraintList()
        remaining = rows.incremental_rhs
        for i, kind in enumerate(rows.kinds):
            if kind is RowKind.WEEKLY_BUDGET:
                t = rows.week[i]
                lhs = sum(
                    float(dc[u, act - 1, t]) * model.x[u, act, t]
                    for u in model.U
                    for act in model.A
                )
            elif kind is RowKind.TOTAL_BUDGET:
                lhs = sum(
                    float(dc[u, act - 1, t]) * model.x[u, act, t]
                    for u in model.U
                    for act in model.A
                    for t in model.T
                )
            elif kind is RowKind.REVENUE_FLOOR:
                t = rows.week[i]
                lhs = sum(
                    float(dr[u, act - 1, t]) * model.x[u, act, t]
                    for u in model.U
                    for act in model.A
                )
            elif kind is RowKind.ACTION_CAPACITY:
                act = int(rows.action[i])
                lhs = sum(model.x[u, act, t] for u in model.U for t in model.T)
            elif kind is RowKind.RATIO:
                rule = problem.ratios[rows.ratio[i]]
                terms = rule.coefficients(dv, dc)  # [N, A-1, H]
                lhs = sum(
                    float(terms[u, act - 1, t]) * model.x[u, act, t]
                    for u in model.U
                    for act in model.A
                    if rule.actions[act]
                    for t in model.T
                )
            else:
                members = np.flatnonzero(problem.coverage[rows.segment[i]].members)
                lhs = sum(
                    model.x[int(u), act, t] for u in members for act in model.A for t in model.T
                )
            if rows.sense[i] > 0:
                model.coupling.add(lhs <= float(remaining[i]))
            else:
                model.coupling.add(lhs >= float(remaining[i]))
        return model

    def solve(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        warm_start: np.ndarray | None,
    ) -> Solution:
        started = time.perf_counter()
        model = self.build(problem, rows)
        build_seconds = time.perf_counter() - started
        from pyomo.contrib.appsi.solvers import Highs

        solver = Highs()
        solver.config.time_limit = settings.time_limit_s
        solver.config.mip_gap = settings.relative_gap
        solver.config.load_solution = False
        result = solver.solve(model)
        termination = str(result.termination_condition)
        has_solution = result.best_feasible_objective is not None
        choice = None
        if has_solution:
            result.solution_loader.load_vars()
            n, a, h = problem.shape
            x = np.zeros((n, a - 1, h))  # [N, A-1, H]
            for (u, act, t), variable in model.x.items():
                x[u, act - 1, t] = pyo.value(variable) or 0.0
            best = x.argmax(axis=1)
            chosen = np.take_along_axis(x, best[:, None, :], axis=1)[:, 0, :] > 0.5
            choice = np.where(chosen, best + 1, 0)
        offset = float(problem.value[:, 0, :].sum())
        bound = result.best_objective_bound
        bound = float(bound) + offset if bound is not None and np.isfinite(bound) else np.inf
        timings = Timings.since(started, build_seconds)
        return finish(
            problem,
            rows,
            settings,
            backend=self.name,
            version=self.version(),
            choice=choice,
            bound=bound,
            shadow=None,
            timings=timings,
            time_limit_hit="maxTimeLimit" in termination,
            notes=(f"Pyomo termination: {termination}",),
        )
