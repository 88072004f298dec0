"""Small problems built by hand, and an independent check of a plan against every constraint."""

from __future__ import annotations

import numpy as np

from optimization.problem import DecisionProblem, SegmentCoverage


def tiny_problem(
    value: list[list[list[float]]],
    cost: list[list[list[float]]] | None = None,
    revenue: list[list[list[float]]] | None = None,
    *,
    weekly_budget: float | list[float] = np.inf,
    weekly_revenue_floor: float | list[float] = -np.inf,
    contact_cap: int = 99,
    action_capacity: list[float] | None = None,
    coverage: tuple[SegmentCoverage, ...] = (),
    eligible: np.ndarray | None = None,
) -> DecisionProblem:
    """Arrays given as [customer][action][week]; action 0 is none."""
    v = np.array(value, dtype=np.float64)
    n, a, h = v.shape
    c = np.zeros_like(v) if cost is None else np.array(cost, dtype=np.float64)
    r = np.zeros_like(v) if revenue is None else np.array(revenue, dtype=np.float64)
    return DecisionProblem(
        value=v,
        cost=c,
        revenue=r,
        eligible=np.ones((n, a), bool) if eligible is None else eligible,
        customer_ids=np.array([f"c{i}" for i in range(n)]),
        action_ids=np.array(["none"] + [f"a{i}" for i in range(1, a)]),
        week_labels=np.array([f"w{t + 1}" for t in range(h)]),
        weekly_budget=np.broadcast_to(np.asarray(weekly_budget, float), (h,)).copy(),
        weekly_revenue_floor=np.broadcast_to(np.asarray(weekly_revenue_floor, float), (h,)).copy(),
        contact_cap=contact_cap,
        action_capacity=None if action_capacity is None else np.array(action_capacity, float),
        coverage=coverage,
    )


def violations(problem: DecisionProblem, choice: np.ndarray, tolerance: float = 1e-6) -> list[str]:
    """Every broken constraint of `choice`, checked with plain loops (independent of the
    engine's vectorised measure)."""
    n, a, h = problem.shape
    found = []
    for u in range(n):
        contacts = 0
        for t in range(h):
            act = int(choice[u, t])
            if not 0 <= act < a:
                found.append(f"customer {u} week {t}: action {act} out of range")
                continue
            if not problem.eligible[u, act]:
                found.append(f"customer {u} week {t}: ineligible action {act}")
            contacts += act > 0
        if contacts > problem.contact_cap:
            found.append(f"customer {u}: {contacts} contacts > cap {problem.contact_cap}")
    total_cost = 0.0
    for t in range(h):
        cost = sum(problem.cost[u, choice[u, t], t] for u in range(n))
        revenue = sum(problem.revenue[u, choice[u, t], t] for u in range(n))
        total_cost += cost
        if cost > problem.weekly_budget[t] + tolerance * max(1, problem.weekly_budget[t]):
            found.append(f"week {t}: cost {cost} > budget {problem.weekly_budget[t]}")
        floor = problem.weekly_revenue_floor[t]
        if revenue < floor - tolerance * max(1, abs(floor)):
            found.append(f"week {t}: revenue {revenue} < floor {floor}")
    if total_cost > problem.total_budget + tolerance * max(1, problem.total_budget):
        found.append(f"total cost {total_cost} > {problem.total_budget}")
    for act in range(1, a):
        used = int((choice == act).sum())
        if used > problem.capacity[act]:
            found.append(f"action {act}: {used} > capacity {problem.capacity[act]}")
    for segment in problem.coverage:
        contacted = int((choice[segment.members] > 0).sum())
        if contacted < segment.minimum_contacts - tolerance:
            found.append(f"segment {segment.name}: {contacted} < {segment.minimum_contacts}")
    for rule in problem.ratios:
        activity = 0.0
        for u in range(n):
            for t in range(h):
                act = int(choice[u, t])
                if rule.actions[act]:
                    dv = problem.value[u, act, t] - problem.value[u, 0, t]
                    dc = problem.cost[u, act, t] - problem.cost[u, 0, t]
                    activity += dv - (rule.at_least - 1.0) * dc
        if activity < rule.minimum - tolerance * max(1.0, abs(rule.minimum)):
            found.append(f"ratio {rule.name}: {activity} < {rule.minimum}")
    for window in problem.windows:  # past weeks -(W-1)..-1, then the plan, week by week
        for u in range(n):
            weeks = [int(x) for x in window.past[u]]
            weeks += [int(window.actions[int(choice[u, t])]) for t in range(h)]
            past = window.weeks - 1
            for e in range(h):
                held = weeks[past + e - window.weeks + 1 : past + e + 1]
                planned = sum(held[max(0, window.weeks - 1 - e) :])
                if sum(held) > window.limit and planned > 0:
                    found.append(f"window {window.name}: customer {u}, weeks to {e}: {held}")
    return found


def objective(problem: DecisionProblem, choice: np.ndarray) -> float:
    n, _, h = problem.shape
    return float(sum(problem.value[u, choice[u, t], t] for u in range(n) for t in range(h)))
