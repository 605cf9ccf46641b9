"""Helpers of the GFS tests: the cell of real processes lives in ``harness.gfs``."""

from harness.gfs import CHUNK, Cell, until

__all__ = ["CHUNK", "Cell", "until"]
