"""The shop's data and small infrastructure, the bottom layer (DESIGN §1): the action catalogue,
the input contracts and their validation (contacts-only campaign logs included), the DuckDB
store, the calendar and discounting, atomic files and the compute device. It imports nothing of
ltv-engine's; every other package may import it."""

from shopdata.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "actions": (
            "Action",
            "DEMO_ACTIONS",
            "action_ids",
            "contact_action_ids",
            "discount_action_ids",
        ),
        "atomic": ("staged_folder", "swap_into_place", "write_atomically", "write_text_atomically"),
        "calendar": (
            "DEFAULT_ANNUAL_DISCOUNT_RATE",
            "DEFAULT_GROSS_MARGIN",
            "discount_factors",
            "horizon_start",
            "weekly_discount",
        ),
        "device": ("resolve_device",),
        "input_errors": ("InputProblem", "InputValidationError"),
        "store": ("DataSummary", "Store"),
        "validation": ("InputTables", "load_inputs"),
    },
)
