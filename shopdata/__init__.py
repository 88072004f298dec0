"""The shop's data and small infrastructure, the bottom layer (DESIGN §1): the action catalogue,
the input contracts and their validation (contacts-only campaign logs included), the DuckDB
store, the calendar and discounting, atomic files and the compute device. It imports nothing of
ltv-engine's; every other package may import it."""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "Action": "shopdata.actions",
    "DEMO_ACTIONS": "shopdata.actions",
    "action_ids": "shopdata.actions",
    "contact_action_ids": "shopdata.actions",
    "discount_action_ids": "shopdata.actions",
    "staged_folder": "shopdata.atomic",
    "swap_into_place": "shopdata.atomic",
    "write_atomically": "shopdata.atomic",
    "write_text_atomically": "shopdata.atomic",
    "DEFAULT_ANNUAL_DISCOUNT_RATE": "shopdata.calendar",
    "DEFAULT_GROSS_MARGIN": "shopdata.calendar",
    "discount_factors": "shopdata.calendar",
    "horizon_start": "shopdata.calendar",
    "weekly_discount": "shopdata.calendar",
    "resolve_device": "shopdata.device",
    "InputProblem": "shopdata.input_errors",
    "InputValidationError": "shopdata.input_errors",
    "DataSummary": "shopdata.store",
    "Store": "shopdata.store",
    "InputTables": "shopdata.validation",
    "load_inputs": "shopdata.validation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """The public API, imported on first use (importing the package stays cheap)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
