"""Solver backends. Each declares its capabilities; code and tests query those, not names."""
