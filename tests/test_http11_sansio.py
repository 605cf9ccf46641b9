"""netlib's protocol modules are sans-IO: they import no asyncio, socket or selectors,
neither directly (read with ast) nor through anything they import (checked in a
fresh interpreter). The list is kept here; any netlib module whose docstring's
first line calls it sans-IO is added automatically, so a new codec cannot slip through."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"asyncio", "socket", "selectors", "ssl", "trio", "uvloop"}
PROTOCOL_MODULES = [
    "netlib/http/core.py", "netlib/http/_events.py", "netlib/http/_framing.py",
    "netlib/resp/__init__.py", "netlib/resp/_types.py", "netlib/resp/_encode.py",
    "netlib/resp/_replies.py", "netlib/resp/_requests.py",
]  # fmt: skip


def declared_sans_io() -> list[str]:
    found = []
    for path in sorted((ROOT / "netlib").rglob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if "sans-io" in doc.split("\n")[0].lower():
            found.append(str(path.relative_to(ROOT)))
    return found


MODULES = sorted(set(PROTOCOL_MODULES) | set(declared_sans_io()))


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_list_covers_the_known_codecs():
    assert "netlib/http/core.py" in MODULES and "netlib/resp/__init__.py" in MODULES


@pytest.mark.parametrize("rel", MODULES)
def test_protocol_module_imports_no_io(rel):
    path = ROOT / rel
    assert path.is_file(), f"{rel} is listed as a protocol module but does not exist"
    assert not imported_names(path) & FORBIDDEN
    module = rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    code = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in {sorted(FORBIDDEN)!r} if m in sys.modules)\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()} indirectly"
