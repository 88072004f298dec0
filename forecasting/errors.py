"""The one error the forecasters raise about the shop's data rather than their parameters."""

from __future__ import annotations


class TooLittleData(ValueError):
    """The shop's data are too few for the forecaster asked for. The message says what there
    is, what the forecaster needs and what to use instead; the command line prints it and
    exits with 2, as for an input that breaks its contract."""
