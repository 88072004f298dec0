"""ltv-engine's planner-facing side: input contracts, the DuckDB store, demo data, the `ltv` CLI."""
