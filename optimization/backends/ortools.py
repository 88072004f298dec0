"""OR-Tools MathOpt backend: the allocation MIP through MathOpt, solved by SCIP by default.

An independent solver to cross-check HiGHS on small and medium problems. MathOpt adds variables
one at a time from Python, so it is not the large-scale path.
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
from ortools.math_opt.python import mathopt

from optimization.backends.base import Capability
from optimization.milp import build_milp
from optimization.problem import DecisionProblem
from optimization.reporting import finish
from optimization.rows import CouplingRows
from optimization.settings import SolveSettings
from optimization.solution import Solution, Timings


class OrToolsBackend:
    name = "ortools"
    capabilities = frozenset({Capability.EXACT, Capability.WARM_START, Capability.TIME_LIMIT})

    def version(self) -> str:
        import ortools

        return f"ortools {ortools.__version__} MathOpt"

    def solve(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        settings: SolveSettings,
        warm_start: np.ndarray | None,
    ) -> Solution:
        started = time.perf_counter()
        milp = build_milp(problem, rows)  # the same rows as HiGHS, handed over row by row
        model = mathopt.Model(name="allocation")
        variables = [
            model.add_binary_variable(name=f"x{j}")
            if milp.upper[j] > 0
            else model.add_variable(lb=0.0, ub=0.0, name=f"x{j}")
            for j in range(milp.num_cols)
        ]
        model.maximize(
            mathopt.fast_sum(
                float(c) * variables[j] for j, c in enumerate(milp.objective) if c != 0.0
            )
        )
        by_row = milp.matrix.tocsr()
        for i in range(by_row.shape[0]):
            begin, end = by_row.indptr[i], by_row.indptr[i + 1]
            expression = mathopt.fast_sum(
                float(v) * variables[j]
                for j, v in zip(by_row.indices[begin:end], by_row.data[begin:end], strict=True)
            )
            lower, upper = milp.row_lower[i], milp.row_upper[i]
            model.add_linear_constraint(
                lb=lower if np.isfinite(lower) else -np.inf,
                ub=upper if np.isfinite(upper) else np.inf,
                expr=expression,
            )
        build_seconds = time.perf_counter() - started
        parameters = mathopt.SolveParameters(
            time_limit=timedelta(seconds=settings.time_limit_s),
            relative_gap_tolerance=settings.relative_gap,
            random_seed=settings.seed,
            threads=settings.threads or None,
            enable_output=settings.verbose,
        )
        model_parameters = None
        if warm_start is not None:
            start = milp.from_choice(warm_start)
            hint = mathopt.SolutionHint(
                variable_values={v: float(start[j]) for j, v in enumerate(variables)}
            )
            model_parameters = mathopt.ModelSolveParameters(solution_hints=[hint])
        solver = getattr(mathopt.SolverType, settings.ortools.solver)
        result = mathopt.solve(model, solver, params=parameters, model_params=model_parameters)
        reason = result.termination.reason
        choice = None
        if result.has_primal_feasible_solution():
            values = result.variable_values(variables)
            choice = milp.to_choice(np.array(values))
        bound = result.termination.objective_bounds.dual_bound + milp.offset
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
            time_limit_hit=result.termination.limit == mathopt.Limit.TIME,
            notes=(f"MathOpt {settings.ortools.solver}: {reason.name}",),
        )
