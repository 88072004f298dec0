"""The action catalogue: what a planner can do to a customer in a week, and what it costs.

Index 0 is always `none`. Scenario files (issue 4) declare their own catalogue; the demo shop and
`ltv validate` use `DEMO_ACTIONS` unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One promotion. `fixed_cost` is paid per contact; `discount_rate` on every purchase that
    week (also those that would have happened anyway); `channel` groups capacity limits."""

    id: str
    fixed_cost: float = 0.0
    discount_rate: float = 0.0
    channel: str = "none"

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("The 'id' parameter of Action must be a non-empty string.")
        if self.fixed_cost < 0:
            raise ValueError(
                f"The 'fixed_cost' parameter of Action must be >= 0. Got {self.fixed_cost} instead."
            )
        if not 0.0 <= self.discount_rate < 1.0:
            raise ValueError(
                "The 'discount_rate' parameter of Action must be in [0, 1). "
                f"Got {self.discount_rate} instead."
            )


NONE = Action("none")

DEMO_ACTIONS: tuple[Action, ...] = (
    NONE,
    Action("email", fixed_cost=0.02, channel="email"),
    Action("email_reco", fixed_cost=0.03, channel="email"),
    Action("free_shipping", fixed_cost=0.05, discount_rate=0.05, channel="onsite"),
    Action("coupon_10", fixed_cost=0.05, discount_rate=0.10, channel="email"),
    Action("coupon_20", fixed_cost=0.05, discount_rate=0.20, channel="email"),
)


def action_ids(actions: tuple[Action, ...]) -> tuple[str, ...]:
    """The ids in catalogue order; checks that `none` comes first and ids are unique."""
    ids = tuple(a.id for a in actions)
    if not ids or ids[0] != "none":
        raise ValueError(f"An action catalogue must start with 'none'. Got {ids} instead.")
    if len(set(ids)) != len(ids):
        raise ValueError(f"Action ids must be unique. Got {ids} instead.")
    return ids


def contact_action_ids(actions: tuple[Action, ...]) -> tuple[str, ...]:
    """The ids of every action but `none`: those a campaign log records as contacts."""
    return tuple(a.id for a in actions if a.id != "none")


def discount_action_ids(actions: tuple[Action, ...]) -> tuple[str, ...]:
    """The ids of the actions that discount the week's purchases."""
    return tuple(a.id for a in actions if a.discount_rate > 0)
