"""The Lagrangian dual of the allocation MIP: multipliers on the coupling rows only.

With multipliers y >= 0 on the m coupling rows, the problem separates by customer:

    L(y) = sum_u max_{x_u} sum_{a,t} adj[u,a,t] x[u,a,t]  +  sum_r y_r s_r rhs'_r
    adj  = dv - sum_r y_r s_r A_r            (s_r = +1 for <= rows, -1 for >= rows)

and each customer's maximum is closed form: per week the best adjusted action, then the (at most)
K weeks with the largest positive scores (optimization/best_response.py; under contact windows
an exact dynamic programme for the customers this breaks one for). L(y) is an upper bound on
the optimum for every y >= 0 (weak duality); optimization/dual_bundle.minimise_dual drives it
down. Evaluation is vectorised over customers in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from optimization.best_response import best_response, within_windows
from optimization.contact_windows import ContactWindow
from optimization.problem import DecisionProblem, Usage
from optimization.rows import CouplingRows, RowKind, row_activity
from shopdata.device import resolve_device

#: On the CPU, the float32 differences to none of value, cost and revenue are kept between
#: evaluations up to this size (1M customers x 6 actions x 12 weeks take 0.72 GB, all kept);
#: the chunks beyond are evaluated from the problem's own arrays at each evaluation (1.3 times
#: as long; making the differences anew took 1.6 times) instead of holding a second copy of
#: the problem.
CPU_COPY_LIMIT_BYTES = 2 * 2**30


@dataclass(frozen=True)
class DualPoint:
    """One evaluation of the dual: the multipliers y, L(y) (an upper bound on the optimum) and a
    subgradient of L at y."""

    multipliers: np.ndarray  # [m]
    value: float  # L(y)
    subgradient: np.ndarray  # [m]


@dataclass(frozen=True)
class Response:
    """Customers' best responses to prices: the sum of their taken adjusted scores, what they
    use (`Usage`), the value of none over them (the constant of L), and the plan [N, H] when
    asked for. Responses of disjoint sets of customers add up (`Response.sum`)."""

    total: float
    usage: Usage
    none_value: float
    plan: np.ndarray | None = None

    @staticmethod
    def sum(parts: list[Response]) -> Response:
        """The responses of disjoint customer sets together (plans concatenated in order)."""
        usage = Usage.sum([p.usage for p in parts])
        plans = [p.plan for p in parts]
        plan = None if any(x is None for x in plans) else np.concatenate(plans)  # type: ignore[arg-type]
        return Response(sum(p.total for p in parts), usage, sum(p.none_value for p in parts), plan)


@dataclass(frozen=True)
class Prices:
    """The multipliers laid out per week, action and customer for the adjusted values."""

    per_cost: np.ndarray  # [H]: weekly + total budget multipliers
    per_revenue: np.ndarray  # [H]: floor multipliers
    per_action: np.ndarray  # capacity multipliers
    per_segment: np.ndarray  # [S]: coverage multipliers
    ratio_value: np.ndarray  # [A-1]: ratio rules' multipliers on each action's dv
    ratio_cost: np.ndarray  # and on its dc, times (k - 1)


def _key(prices: Prices) -> bytes:
    """The prices as bytes: which exact best response a kept plan belongs to."""
    return b"".join(
        np.asarray(x, dtype=np.float64).tobytes()
        for x in (
            prices.per_cost,
            prices.per_revenue,
            prices.per_action,
            prices.per_segment,
            prices.ratio_value,
            prices.ratio_cost,
        )
    )


class LagrangianDual:
    """Evaluates L(y), its subgradient and the customers' best responses."""

    def __init__(
        self,
        problem: DecisionProblem,
        rows: CouplingRows,
        chunk_customers: int,
        device: str = "auto",
        *,
        on_device: bool = True,
    ):
        """`on_device`: keep float32 copies of the coefficients for `evaluate` (on a GPU, or on
        the CPU up to CPU_COPY_LIMIT_BYTES; False where the evaluation happens elsewhere, as
        in optimization/distributed.py)."""
        self.problem = problem
        self.rows = rows
        self.chunk = max(1, chunk_customers)
        n = problem.shape[0]
        self.cap = problem.effective_contact_cap
        self.segments = (
            np.stack([s.members for s in problem.coverage], axis=1)
            if problem.coverage
            else np.zeros((n, 0), bool)
        )  # [N, S]
        self.evaluations = 0
        self._window_parts: dict[tuple[int, int], list[ContactWindow]] = {}
        self._exact_plans: dict[tuple[int, int], tuple[bytes, np.ndarray]] = {}
        self.device = resolve_device(device)
        self._ranges = [(start, min(start + self.chunk, n)) for start in range(0, n, self.chunk)]
        # The float32 differences to none are kept between evaluations on a GPU (they must
        # live there) and on the CPU up to CPU_COPY_LIMIT_BYTES, chunk by chunk; the chunks
        # beyond are evaluated from the problem's own arrays (read in place when float32), so
        # memory stays near the problem's.
        per_customer = 3 * 4 * (problem.shape[1] - 1) * problem.shape[2]
        self._fast: list[dict[str, torch.Tensor] | None] = []
        kept_bytes = 0
        for start, stop in self._ranges:
            size = per_customer * (stop - start)
            keep = on_device and (
                self.device.type != "cpu" or kept_bytes + size <= CPU_COPY_LIMIT_BYTES
            )
            self._fast.append(self._differences(start, stop) if keep else None)
            kept_bytes += size if keep else 0

    def _chunks(self) -> Iterator[dict[str, torch.Tensor]]:
        """Each chunk's float32 arrays: its kept differences to none (`_differences`) or the
        problem's own arrays (`_levels`)."""
        for kept, (start, stop) in zip(self._fast, self._ranges, strict=True):
            yield kept if kept is not None else self._levels(start, stop)

    def _float32(self, array: np.ndarray, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(array[start:stop]).to(self.device, torch.float32)

    def _segments(self, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(self.segments[start:stop].astype(np.float32)).to(self.device)

    def _differences(self, start: int, stop: int) -> dict[str, torch.Tensor]:
        """float32 copies of one chunk's differences to none [C, A-1, H] on the device;
        ineligible contacts carry -inf value, so no mask is needed per evaluation."""
        p = self.problem

        def difference(array: np.ndarray) -> torch.Tensor:
            chunk = self._float32(array, start, stop)
            return torch.sub(chunk[:, 1:, :], chunk[:, :1, :])  # [C, A-1, H]

        value = difference(p.value)
        value.masked_fill_(self._ineligible(start, stop), -np.inf)
        return {
            "value": value,
            "cost": difference(p.cost),
            "revenue": difference(p.revenue),
            "segments": self._segments(start, stop),
        }

    def _levels(self, start: int, stop: int) -> dict[str, torch.Tensor]:
        """One chunk's own arrays [C, A, H] in float32 on the device (no copy where they
        are float32 on the CPU) with the contacts' ineligibility."""
        p = self.problem
        return {
            "value": self._float32(p.value, start, stop),
            "cost": self._float32(p.cost, start, stop),
            "revenue": self._float32(p.revenue, start, stop),
            "ineligible": self._ineligible(start, stop),
            "segments": self._segments(start, stop),
        }

    def _ratio_prices(
        self, prices: Prices, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The ratio rules' value scale and cost price per action as tensors (None without
        ratio rules)."""
        if not self.problem.ratios:
            return None
        return (
            torch.tensor(prices.ratio_value, dtype=dtype, device=device),
            torch.tensor(prices.ratio_cost, dtype=dtype, device=device),
        )

    def _windows(self, start: int, stop: int) -> list[ContactWindow]:
        """The contact windows of customers [start, stop), made once (they keep their
        allowances between evaluations)."""
        if (start, stop) not in self._window_parts:
            self._window_parts[(start, stop)] = [
                w.subset(slice(start, stop)) for w in self.problem.windows
            ]
        return self._window_parts[(start, stop)]

    def _ineligible(self, start: int, stop: int) -> torch.Tensor:
        return torch.from_numpy(~self.problem.eligible[start:stop, 1:, None]).to(self.device)

    def prices(self, y: np.ndarray) -> Prices:
        """The multipliers y [m] laid out per week, action and segment (`Prices`)."""
        rows, (_, a, h) = self.rows, self.problem.shape
        per_cost, per_revenue = np.zeros(h), np.zeros(h)
        per_action, per_segment = np.zeros(a - 1), np.zeros(self.segments.shape[1])
        ratio_value, ratio_cost = np.zeros(a - 1), np.zeros(a - 1)
        for i, kind in enumerate(rows.kinds):
            if kind is RowKind.WEEKLY_BUDGET:
                per_cost[rows.week[i]] += y[i]
            elif kind is RowKind.TOTAL_BUDGET:
                per_cost += y[i]
            elif kind is RowKind.REVENUE_FLOOR:
                per_revenue[rows.week[i]] += y[i]
            elif kind is RowKind.ACTION_CAPACITY:
                per_action[rows.action[i] - 1] += y[i]
            elif kind is RowKind.RATIO:  # a >= row: + y (dv - (k - 1) dc) on its actions
                rule = self.problem.ratios[rows.ratio[i]]
                ratio_value += y[i] * rule.actions[1:]
                ratio_cost += y[i] * (rule.at_least - 1.0) * rule.actions[1:]
            else:
                per_segment[rows.segment[i]] += y[i]
        return Prices(per_cost, per_revenue, per_action, per_segment, ratio_value, ratio_cost)

    @torch.no_grad()
    def best_response(
        self, start: int, stop: int, prices: Prices, *, windows: str = "exact"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best response of customers [start, stop) in float64 on the CPU: choice [C, H],
        score [C, H] of the best contact each week, and every contact's adjusted value over
        none [C, A-1, H] (-inf where ineligible). Under contact windows the choice is the
        exact best (`windows="exact"`), a greedy plan that keeps them ("greedy"), or left
        unconstrained ("ignore": for a caller that reads only the adjusted values)."""
        p = self.problem

        def as_float64(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(array[start:stop], dtype=np.float64))

        response = best_response(
            as_float64(p.value),
            as_float64(p.cost),
            as_float64(p.revenue),
            torch.from_numpy(self.segments[start:stop].astype(np.float64)),
            tuple(  # type: ignore[arg-type]
                torch.from_numpy(np.asarray(x, dtype=np.float64))
                for x in (
                    prices.per_cost,
                    prices.per_revenue,
                    prices.per_action,
                    prices.per_segment,
                )
            ),
            self.cap,
            ineligible=torch.from_numpy(~p.eligible[start:stop, 1:, None]),
            ratio=self._ratio_prices(prices, torch.float64, torch.device("cpu")),
        )
        if windows != "ignore":
            parts = self._windows(start, stop)
            response = within_windows(response, parts, self.cap, exact=windows == "exact")
            if windows == "exact" and parts:  # kept for a plan at these prices (`respond`)
                self._exact_plans[(start, stop)] = (
                    _key(prices),
                    response.choice.numpy().astype(np.int8),
                )
        return (
            response.choice.numpy().astype(np.int64),
            response.score.numpy(),
            response.adjusted.numpy(),
        )

    @torch.no_grad()
    def respond(self, prices: Prices, keep_plan: bool = False) -> Response:
        """The customers' best responses to `prices`: the sum of their taken scores and what
        they use of each resource (float32 on the device, float64 sums), and optionally the
        plan [N, H]. The part of L(y) that separates by customer."""
        h = self.problem.shape[2]
        device = self.device

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device)

        per_cost, per_revenue = tensor(prices.per_cost), tensor(prices.per_revenue)
        per_action, per_segment = tensor(prices.per_action), tensor(prices.per_segment)
        ratio = self._ratio_prices(prices, torch.float32, device)
        rules = self.problem.ratios
        a = self.problem.shape[1]
        members = torch.tensor(
            np.array([r.actions[1:] for r in rules], dtype=bool).reshape(len(rules), a - 1),
            device=device,
        )  # [Q, A-1]
        slopes = torch.tensor([r.at_least - 1.0 for r in rules], dtype=torch.float64)
        per_ratio = torch.zeros(len(rules), dtype=torch.float64, device=device)
        total = 0.0
        plans = []
        cost_by_week = torch.zeros(h, dtype=torch.float64, device=device)
        revenue_by_week = torch.zeros(h, dtype=torch.float64, device=device)
        per_action_count = torch.zeros(self.problem.shape[1], dtype=torch.float64, device=device)
        per_segment_count = torch.zeros(self.segments.shape[1], dtype=torch.float64, device=device)
        for chunk, (start, stop) in zip(self._chunks(), self._ranges, strict=True):
            levels = "ineligible" in chunk  # the problem's own arrays, none first
            response = best_response(
                chunk["value"],
                chunk["cost"],
                chunk["revenue"],
                chunk["segments"],
                (per_cost, per_revenue, per_action, per_segment),
                self.cap,
                ineligible=chunk.get("ineligible"),
                ratio=ratio,
            )
            # under windows, greedy while the multipliers are searched (each cut is a plan's
            # value, so it stays below L; the bound reported is evaluate_exact's), exact for a
            # plan that is kept (the repair's start: evaluate_exact's plans at these prices)
            kept = self._exact_plans.get((start, stop))
            known = kept[1] if keep_plan and kept is not None and kept[0] == _key(prices) else None
            response = within_windows(
                response, self._windows(start, stop), self.cap, exact=keep_plan, known=known
            )
            choice, score, take, best = (
                response.choice,
                response.score,
                response.take,
                response.best,
            )
            zero = torch.zeros_like(score)
            total += float(torch.where(take, score, zero).sum(dtype=torch.float64))
            index = best[:, None, :] + int(levels)  # [C, 1, H]: into all actions, or contacts
            cost, revenue = (  # the taken contacts' increments over none [C, H]
                torch.where(
                    take,
                    chunk[k].gather(1, index)[:, 0, :] - (chunk[k][:, 0, :] if levels else 0),
                    zero,
                )
                for k in ("cost", "revenue")
            )
            if rules:  # each ratio rule's activity: its taken contacts' dv - (k - 1) dc
                row, week = torch.nonzero(take & members.any(dim=0)[best], as_tuple=True)
                act = best[row, week] + int(levels)
                value = chunk["value"][row, act, week] - (
                    chunk["value"][row, 0, week] if levels else 0
                )
                terms = (
                    value.double()[None]
                    - slopes.to(device)[:, None] * cost[row, week].double()[None]
                )  # [Q, K]
                per_ratio += (terms * members[:, best[row, week]]).sum(dim=1)
            cost_by_week += cost.sum(dim=0, dtype=torch.float64)
            revenue_by_week += revenue.sum(dim=0, dtype=torch.float64)
            per_action_count += torch.bincount(
                choice.reshape(-1), minlength=self.problem.shape[1]
            ).double()
            contacts = take.sum(dim=1).to(torch.float64)  # [C]
            per_segment_count += contacts @ chunk["segments"].to(torch.float64)
            if keep_plan:
                plans.append(choice.cpu().numpy())
        per_action_used = per_action_count.cpu().numpy()
        per_action_used[0] = 0.0  # `none` is no contact
        usage = Usage(
            cost_by_week.cpu().numpy(),
            revenue_by_week.cpu().numpy(),
            per_action_used,
            per_segment_count.cpu().numpy(),
            per_ratio.cpu().numpy(),
        )
        plan = (
            (np.concatenate(plans).astype(np.int64) if plans else np.zeros((0, h), dtype=np.int64))
            if keep_plan
            else None
        )
        return Response(
            total, usage, float(self.problem.value[:, 0, :].sum(dtype=np.float64)), plan
        )

    def evaluate(
        self, y: np.ndarray, *, keep_plan: bool = False
    ) -> tuple[DualPoint, np.ndarray | None]:
        """L(y), a subgradient, and (optionally) the customers' best-response plan [N, H].

        Runs in float32 on the device (CUDA when present) with float64 sums; `evaluate_exact`
        recomputes a value in float64 for the bound that is reported.
        """
        response = self.respond(self.prices(y), keep_plan)
        self.evaluations += 1
        return self.point(y, response), response.plan

    def point(self, y: np.ndarray, response: Response) -> DualPoint:
        """L(y) and its subgradient from the customers' responses (`respond`, summed over
        shards where the customers are split): the separable part plus y's share of the
        right-hand sides."""
        rows = self.rows
        activity = row_activity(rows, response.usage)
        remaining = rows.incremental_rhs
        value = response.total + float((y * rows.sense * remaining).sum()) + response.none_value
        return DualPoint(y.copy(), value, rows.sense * (remaining - activity))

    def evaluate_exact(self, y: np.ndarray) -> float:
        """L(y) in float64 on the CPU: the value reported as the bound."""
        return self.exact_total(y) + self.rhs_term(y)

    def rhs_term(self, y: np.ndarray) -> float:
        """y's share of the incremental right-hand sides: the part of L(y) that does not
        separate by customer."""
        return float((y * self.rows.sense * self.rows.incremental_rhs).sum())

    def exact_total(self, y: np.ndarray) -> float:
        """The customers' part of L(y) in float64 on the CPU: their taken adjusted scores plus
        the value of sending them nothing."""
        prices = self.prices(y)
        n = self.problem.shape[0]
        total = 0.0
        for start in range(0, n, self.chunk):
            choice, score, _ = self.best_response(start, min(start + self.chunk, n), prices)
            total += float(np.where(choice > 0, score, 0.0).sum())
        return total + float(self.problem.value[:, 0, :].sum(dtype=np.float64))

    def margins(self, y: np.ndarray) -> np.ndarray:
        """How far each customer's best response is from changing ([N], smaller = closer).

        The smallest of: a taken week's score (against none), the gap between the K-th and
        the (K+1)-th week, and a taken week's gap to its second-best action.
        """
        n, _, h = self.problem.shape
        prices = self.prices(y)
        out = np.empty(n)
        for start in range(0, n, self.chunk):
            stop = min(start + self.chunk, n)
            choice, score, adjusted = self.best_response(start, stop, prices, windows="greedy")
            finite = np.where(np.isfinite(score), score, -1e300)
            ordered = -np.sort(-finite, axis=1)  # [C, H], descending
            edge = np.abs(ordered[:, : min(self.cap + 1, h)])  # distance of top weeks to 0
            margin = edge.min(axis=1)
            if self.cap < h:
                margin = np.minimum(
                    margin,
                    ordered[:, self.cap - 1] - ordered[:, self.cap] if self.cap > 0 else np.inf,
                )
            if adjusted.shape[1] > 1:
                two = -np.sort(-np.where(np.isfinite(adjusted), adjusted, -1e300), axis=1)[:, :2]
                action_gap = np.where(choice > 0, two[:, 0, :] - two[:, 1, :], np.inf)
                margin = np.minimum(margin, action_gap.min(axis=1))
            out[start:stop] = margin
        return out
