"""The GFS client (N18): ``GfsClient`` (``client``), the record format record append
writes and readers deduplicate (``records``), and the CLI (``__main__``):
``python -m clients.gfs --master HOST:PORT ls|put|get|rm|append|records|stat ...``."""

from .client import GfsClient, GfsError
from .records import encode as encode_record
from .records import scan as scan_records

__all__ = ["GfsClient", "GfsError", "encode_record", "scan_records"]
