"""Groups of customers wherever they live, one interface: a call goes to every group (in this
process, or a Ray actor each: optimization/distributed.py) and their answers come back in
group order. The repair's plan parts (optimization/plan_shard.py) and the recommendation
block's parts (optimization/recommendation_rounds.py) are such groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class Shards:
    """Groups of customers, wherever they live: a call goes to every group and their answers
    come back in group order."""

    def __len__(self) -> int:
        raise NotImplementedError

    def call_each(self, name: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
        """`group.name(*arguments[k])` on group k; their answers in group order."""
        raise NotImplementedError

    def call(self, name: str, *args: Any) -> list[Any]:
        """`group.name(*args)` on every group; their answers in group order."""
        return self.call_each(name, [args] * len(self))

    def plan(self, n: int, h: int) -> np.ndarray:
        """The whole promotion plan [n, H], gathered from the groups (`plan_part`)."""
        plan = np.zeros((n, h), dtype=np.int64)
        for customers, rows in self.call("plan_part"):
            plan[customers] = rows
        return plan


class LocalShards(Shards):
    """Groups of customers in this process."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)

    def __len__(self) -> int:
        return len(self.parts)

    def call_each(self, name: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
        return [getattr(part, name)(*a) for part, a in zip(self.parts, arguments, strict=True)]
