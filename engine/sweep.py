"""A sweep's levels as a planner types them (`ltv frontier --sweep`, the web page's frontier
form): `PARAMETER=LOW:HIGH:N` (N evenly spaced levels) or `PARAMETER=A,B,C`, bounded and
checked before anything is expanded: a count of 1e9 levels asked of the server once held 900 MB
before it answered, and `nan` reached the solver as a budget."""

from __future__ import annotations

import math

#: What a frontier may sweep: a right-hand side of the plan's coupling rows.
SWEEPABLE = ("weekly_budget", "weekly_revenue_floor", "total_budget")
#: The most levels one sweep may have (each is a solve, and the report plots them).
MAX_LEVELS = 100


class SweepError(ValueError):
    """A sweep that cannot be used; the message says what was expected and what was given."""


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """`weekly_budget=10000:60000:6` (6 levels from 10,000 to 60,000) or `weekly_budget=1,2,3`:
    the parameter and its levels, each finite and not negative, at most MAX_LEVELS of them."""
    expected = (
        f"PARAMETER=LOW:HIGH:N or PARAMETER=A,B,C with PARAMETER one of {', '.join(SWEEPABLE)}, "
        f"at most {MAX_LEVELS} levels, each a finite number >= 0"
    )
    parameter, _, levels = text.partition("=")
    if parameter not in SWEEPABLE or not levels:
        raise SweepError(f"expected {expected}; got {text!r}")
    try:
        if ":" in levels:
            low, high, count = levels.split(":")
            number = int(count)
            if not 2 <= number <= MAX_LEVELS:  # checked before any level is made
                raise SweepError(f"expected 2 to {MAX_LEVELS} levels; got {number:,} in {text!r}")
            bounds = float(low), float(high)
            step = (bounds[1] - bounds[0]) / (number - 1)
            values = [bounds[0] + k * step for k in range(number)]
        else:
            parts = levels.split(",")
            if len(parts) > MAX_LEVELS:
                raise SweepError(f"expected at most {MAX_LEVELS} levels; got {len(parts):,}")
            values = [float(v) for v in parts]
    except SweepError:
        raise
    except ValueError:
        raise SweepError(f"expected {expected}; got {text!r}") from None
    bad = [v for v in values if not math.isfinite(v) or v < 0]
    if bad:
        raise SweepError(f"expected {expected}; got {bad[0]!r} in {text!r}")
    return parameter, values
