"""A small schema language for Kafka messages, compiled per version into codecs.

Strategy. Apache Kafka describes each request and response as JSON: fields with
a type and the versions that carry them, and a ``flexibleVersions`` range from
which strings, bytes and arrays are *compact* (uvarint length + 1) and every
struct ends with a tagged-field section (KIP-482). We write the same facts as
Python (``F("name", "int32", "3+")``) in ``apis.py``; ``Message.codec(version)``
turns one version into a flat list of field codecs, cached, so decoding a
request is a loop over closures with no per-field version checks.

Messages are plain dicts (field name -> value; arrays are lists of dicts or of
scalars). A field absent in a version is left out when decoding and ignored
when encoding; a field missing from the dict at encode time takes its type's
default (0, "", [], None for nullable), which is what the protocol guide says
a new field means to an older peer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .primitives import Reader, Writer

Decode = Callable[[Reader], Any]
Encode = Callable[[Writer, Any], None]


def _span(spec: str | None) -> tuple[int, int]:
    """'3+' -> (3, 99); '0-2' -> (0, 2); None -> empty."""
    if spec is None:
        return (99, -1)
    if spec.endswith("+"):
        return (int(spec[:-1]), 99)
    if "-" in spec:
        lo, hi = spec.split("-")
        return (int(lo), int(hi))
    return (int(spec), int(spec))


@dataclass(frozen=True)
class Array:
    """An array of a scalar type name or of a struct (a list of ``F``)."""

    of: str | Sequence[F]


@dataclass(frozen=True)
class F:
    name: str
    type: str | Array
    versions: str = "0+"
    nullable: str | None = None  # versions in which null (-1) is allowed
    default: Any = None

    def present(self, v: int) -> bool:
        lo, hi = _span(self.versions)
        return lo <= v <= hi

    def is_nullable(self, v: int) -> bool:
        lo, hi = _span(self.nullable)
        return lo <= v <= hi


_SCALAR_DEFAULTS = {
    "int8": 0, "int16": 0, "int32": 0, "int64": 0, "uint32": 0, "bool": False,
    "string": "", "bytes": b"", "records": None, "uuid": bytes(16),
}  # fmt: skip


def _scalar(kind: str, flexible: bool, nullable: bool) -> tuple[Decode, Encode]:
    if kind == "string":
        if flexible:
            return (lambda r: r.compact_string(nullable)), Writer.compact_string
        return (lambda r: r.string(nullable)), Writer.string
    if kind in ("bytes", "records"):
        nul = nullable or kind == "records"
        if flexible:
            return (lambda r: r.compact_bytes(nul)), Writer.compact_bytes
        return (lambda r: r.bytes_(nul)), Writer.bytes_
    reader = getattr(Reader, kind)
    writer = getattr(Writer, kind)
    return reader, writer


def _array(item: tuple[Decode, Encode], flexible: bool, nullable: bool) -> tuple[Decode, Encode]:
    dec_item, enc_item = item

    def dec(r: Reader) -> list[Any] | None:
        n = r.uvarint() - 1 if flexible else r.int32()
        if n < 0:
            if nullable:
                return None
            if n == -1 and not flexible:
                return []  # some clients send -1 for "no entries" where null is not allowed
            raise ValueError(f"negative array length {n}")
        if n > r.remaining():  # every element takes at least one byte
            raise ValueError(f"array of {n} elements in {r.remaining()} bytes")
        return [dec_item(r) for _ in range(n)]

    def enc(w: Writer, v: list[Any] | None) -> None:
        if v is None:
            if flexible:
                w.uvarint(0)
            else:
                w.int32(-1)
            return
        if flexible:
            w.uvarint(len(v) + 1)
        else:
            w.int32(len(v))
        for x in v:
            enc_item(w, x)

    return dec, enc


def _struct(fields: Sequence[F], version: int, flexible: bool) -> tuple[Decode, Encode]:
    plan: list[tuple[str, Decode, Encode, Any]] = []
    for f in fields:
        if not f.present(version):
            continue
        dec, enc = _field_codec(f, version, flexible)
        plan.append((f.name, dec, enc, _default(f, version)))

    def dec_struct(r: Reader) -> dict[str, Any]:
        out = {name: dec(r) for name, dec, _, _ in plan}
        if flexible:
            r.skip_tags()
        return out

    def enc_struct(w: Writer, v: dict[str, Any]) -> None:
        for name, _, enc, default in plan:
            x = v.get(name, default)
            enc(w, default if x is None and default is not None else x)
        if flexible:
            w.empty_tags()

    return dec_struct, enc_struct


def _default(f: F, version: int) -> Any:
    if f.default is not None:
        return f.default
    if f.is_nullable(version):
        return None
    if isinstance(f.type, Array):
        return []
    return _SCALAR_DEFAULTS[f.type]


def _field_codec(f: F, version: int, flexible: bool) -> tuple[Decode, Encode]:
    nullable = f.is_nullable(version)
    if isinstance(f.type, Array):
        of = f.type.of
        item = _scalar(of, flexible, False) if isinstance(of, str) else _struct(of, version, flexible)
        return _array(item, flexible, nullable)
    return _scalar(f.type, flexible, nullable)


@dataclass
class Message:
    """One side (request or response) of one API, over all its versions."""

    fields: Sequence[F]
    flexible_from: int = 99
    _cache: dict[int, tuple[Decode, Encode]] = field(default_factory=dict, repr=False)

    def codec(self, version: int) -> tuple[Decode, Encode]:
        c = self._cache.get(version)
        if c is None:
            c = self._cache[version] = _struct(self.fields, version, version >= self.flexible_from)
        return c

    def decode(self, version: int, r: Reader) -> dict[str, Any]:
        return self.codec(version)[0](r)

    def encode(self, version: int, value: dict[str, Any], w: Writer | None = None) -> Writer:
        w = w or Writer()
        self.codec(version)[1](w, value)
        return w
