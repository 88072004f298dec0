"""A reproducible family of random allocation problems, for tests and benchmarks.

Shape: N customers x 6 actions (none, email, email_reco, free_shipping, coupon_10, coupon_20)
x H weeks, contact cap 3. Coefficients follow DESIGN §4's valuation with margin 0.35 and a 10 %
yearly discount rate: each customer has a weekly purchase probability p ~ Beta(1.2, 12) and a
spend s ~ Gamma(2, 30); each action multiplies p by (1 + lift), lift lognormal around the
action's mean (and negative for 10 % of customers on email actions); coupons carry a discount
paid on every purchase and a negative future effect (pull-forward, conditioning), email_reco a
positive one (retention). The weekly budget is `budget_share` of what the unconstrained best
plan would spend; the weekly revenue floor is the all-`none` revenue minus `floor_slack` of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from optimization.contact_windows import ContactWindow
from optimization.problem import DecisionProblem, RatioRule
from shopdata.calendar import DEFAULT_ANNUAL_DISCOUNT_RATE, DEFAULT_GROSS_MARGIN, discount_factors

ACTION_IDS = np.array(["none", "email", "email_reco", "free_shipping", "coupon_10", "coupon_20"])
FIXED_COST = np.array([0.0, 0.02, 0.03, 0.05, 0.05, 0.05])
DISCOUNT = np.array([0.0, 0.0, 0.0, 0.05, 0.10, 0.20])
MEAN_LIFT = np.array([0.0, 0.10, 0.20, 0.25, 0.40, 0.70])
FUTURE_EFFECT = np.array([0.0, 0.2, 1.0, 0.0, -0.8, -2.0])  # mean future margin, per customer
GROSS_MARGIN = DEFAULT_GROSS_MARGIN
ANNUAL_DISCOUNT_RATE = DEFAULT_ANNUAL_DISCOUNT_RATE
#: Customers drawn at a time (each block its own seeded stream).
INSTANCE_BLOCK = 1_000_000
#: Customers whose [A, H] coefficients are computed at a time from a block's draws.
COMPUTE_SLICE = 100_000


def random_problem(
    customers: int,
    *,
    weeks: int = 12,
    contact_cap: int = 3,
    budget_share: float = 0.3,
    floor_slack: float = 0.02,
    seed: int = 0,
    dtype: type = np.float64,
) -> DecisionProblem:
    """A random instance of the family in the module docstring: `customers` x 6 actions x
    `weeks`, the weekly budget `budget_share` of what the unconstrained best plan spends, the
    floor `floor_slack` under the all-none revenue; seeded, coefficients in `dtype`."""
    n, a, h = customers, len(ACTION_IDS), weeks
    value = np.empty((n, a, h), dtype)
    cost = np.empty((n, a, h), dtype)
    revenue = np.empty((n, a, h), dtype)
    eligible = np.ones((n, a), bool)
    unconstrained_spend, none_revenue = np.zeros(h), np.zeros(h)
    # Blocks of customers, each from its own seeded stream, whose float64 temporaries are
    # those of one slice (N = 10M at once would need ~50 GB); up to one block the instance is
    # the single-stream one.
    for block, start in enumerate(range(0, n, INSTANCE_BLOCK)):
        stop = min(start + INSTANCE_BLOCK, n)
        rng = np.random.default_rng(seed if block == 0 else [seed, block])
        draws = _draws(rng, stop - start, h)
        eligible[start:stop] = draws.eligible
        # the [N, A, H] coefficients are a deterministic function of the draws: computed a
        # slice of customers at a time, straight into the output arrays
        for low in range(0, stop - start, COMPUTE_SLICE):
            high = min(low + COMPUTE_SLICE, stop - start)
            spend_h, revenue_h = _coefficients(
                draws,
                slice(low, high),
                contact_cap,
                (
                    value[start + low : start + high],
                    cost[start + low : start + high],
                    revenue[start + low : start + high],
                ),
            )
            unconstrained_spend += spend_h
            none_revenue += revenue_h
    return DecisionProblem(
        value=value,
        cost=cost,
        revenue=revenue,
        eligible=eligible,
        customer_ids=np.char.add("u", np.arange(n).astype(f"U{len(str(max(n - 1, 0)))}")),
        action_ids=ACTION_IDS.copy(),
        week_labels=np.array([f"w{t + 1}" for t in range(h)]),
        weekly_budget=budget_share * unconstrained_spend,
        weekly_revenue_floor=(1 - floor_slack) * none_revenue,
        contact_cap=contact_cap,
    )


@dataclass(frozen=True)
class _Draws:
    """One block's random draws, in the order the single-stream family always drew them."""

    p0: np.ndarray  # [n, H] weekly purchase probability without action
    spend: np.ndarray  # [n]
    lift: np.ndarray  # [n, A]
    future_scale: np.ndarray  # [n, A, 1]
    eligible: np.ndarray  # [n, A]


def _draws(rng: np.random.Generator, n: int, h: int) -> _Draws:
    a = len(ACTION_IDS)
    p0 = rng.beta(1.2, 12.0, n)[:, None] * rng.uniform(0.8, 1.2, (n, h))  # [N, H]
    spend = rng.gamma(2.0, 30.0, n)  # [N]
    lift = MEAN_LIFT[None, :] * rng.lognormal(0.0, 0.5, (n, a))  # [N, A]
    annoyed = rng.random(n) < 0.1
    lift[annoyed, 1:3] -= 0.3
    future_scale = rng.gamma(2.0, 0.5, (n, a, 1))
    eligible = np.ones((n, a), bool)
    eligible[rng.random(n) < 0.05, 5] = False  # some customers may not get the big coupon
    return _Draws(p0, spend, lift, future_scale, eligible)


def _coefficients(
    draws: _Draws,
    part: slice,
    contact_cap: int,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Value, cost and revenue [n, A, H] of the customers `part` of a block, written into
    `out`; returns their unconstrained best spend and all-none revenue per week [H]."""
    p0, spend, lift = draws.p0[part], draws.spend[part], draws.lift[part]
    h = p0.shape[1]
    discount = discount_factors(ANNUAL_DISCOUNT_RATE, h)  # [H]
    probability = np.clip(p0[:, None, :] * (1 + lift[:, :, None]), 0, 1)  # [N, A, H]
    gross = probability * spend[:, None, None]  # expected spend
    cost = FIXED_COST[None, :, None] + DISCOUNT[None, :, None] * gross
    revenue = gross * (1 - DISCOUNT[None, :, None])
    margin = GROSS_MARGIN * gross - cost
    future = FUTURE_EFFECT[None, :, None] * draws.future_scale[part] * p0[:, None, :] * 10
    value = discount[None, None, :] * (margin - margin[:, :1, :]) + future
    value[:, 0, :] = 0.0
    out[0][...], out[1][...], out[2][...] = value, cost, revenue
    best = np.where(value[:, 1:, :] > 0, value[:, 1:, :], 0).argmax(axis=1) + 1  # [N, H]
    best_cost = np.take_along_axis(cost, best[:, None, :], axis=1)[:, 0, :]
    positive = np.take_along_axis(value, best[:, None, :], axis=1)[:, 0, :] > 0
    unconstrained_spend = np.where(positive, best_cost, 0).sum(axis=0) * min(1, contact_cap / h)
    return unconstrained_spend, revenue[:, 0, :].sum(axis=0)


def with_policies(problem: DecisionProblem, *, seed: int = 0) -> DecisionProblem:
    """`problem` (the family above) under the contact policies a shop writes, every kind built:
    e-mail actions suppressed for a random 15 % (an opt-out), every action for 1 % (a
    do-not-contact list), at most 2 coupons in any 4 weeks and 2 weeks between e-mails, each
    with past contacts drawn for 20 % of the customers in each week before the horizon, and
    discounts (free shipping, coupons) earning at least 2.8 of margin per 1 spent (binding:
    they earn about 2.7 without it)."""
    n = problem.shape[0]
    rng = np.random.default_rng([seed, 35])
    email = np.isin(problem.action_ids, ["email", "email_reco"])
    coupons = np.isin(problem.action_ids, ["coupon_10", "coupon_20"])
    eligible = problem.eligible.copy()
    eligible[rng.random(n) < 0.15] &= ~email
    eligible[rng.random(n) < 0.01, 1:] = False
    past = (rng.random((n, 3)) < 0.2).astype(np.uint8), (rng.random((n, 1)) < 0.2).astype(np.uint8)
    windows = (
        ContactWindow("coupons in 4 weeks", coupons, 4, 2, past[0]),
        ContactWindow("e-mail gap", email, 2, 1, past[1]),
    )
    discounts = np.isin(problem.action_ids, ["free_shipping", "coupon_10", "coupon_20"])
    ratios = (RatioRule("discounts pay 2.8 to 1", discounts, 2.8),)
    return replace(problem, eligible=eligible, windows=windows, ratios=ratios)
