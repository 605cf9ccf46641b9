"""Lazy package exports (PEP 562), so that importing a package's sans-IO core pulls
in no event loop: ``netlib.http``, ``netlib.websocket`` and ``netlib.rpc`` name
their public objects in their ``__init__`` but import a submodule only when one
of its names is first used.

Usage, in a package's ``__init__.py``::

    _EXPORTS = {"serve": "server", "Request": "messages"}   # name -> submodule
    __getattr__ = lazy_exports(__name__, _EXPORTS)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that imports ``exports[name]``
    (a submodule) on first use of ``name`` and caches the value in the package."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
