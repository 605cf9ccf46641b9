"""Geo commands (Redis's geo.c): GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH[STORE], GEORADIUS*.

A geo index is a plain sorted set whose scores are 52-bit geohashes
(``geohash.py``): GEOADD is ZADD with computed scores, TYPE says ``zset``,
and ZRANGE, ZREM, ZCARD work on it. Searches scan the 9 geohash cells
covering the shape and keep the members within its exact distance.

Replies follow Redis 7.0: distances with 4 decimals, coordinates as
``%.17Lf`` trimmed (RESP3: doubles), hashes as integers; COUNT without ANY
sorts nearest first; ANY stops at the first COUNT found in cell order.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from netlib import resp

from .. import geohash, longdouble
from ..geohash import Shape
from ..skiplist import ScoreRange, SortedSet
from ..table import REGISTRY, SYNTAX, CommandError, command, to_int
from . import zsets

G = "geo"
UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
NOT_MEMBER = "could not decode requested zset member"


def _zset(c: Any, key: bytes) -> SortedSet | None:
    return c.db.get_typed(key, SortedSet)


def lonlat(lon: bytes, lat: bytes) -> tuple[float, float]:
    x, y = zsets.strict_float(lon), zsets.strict_float(lat)
    if not geohash.valid(x, y):
        raise CommandError(b"-ERR invalid longitude,latitude pair %.6f,%.6f\r\n" % (x, y))
    return x, y


def unit(b: bytes) -> float:
    u = UNITS.get(b.lower())
    if u is None:
        raise CommandError("unsupported unit provided. please use M, KM, FT, MI")
    return u


def coord_reply(x: float, proto: int) -> bytes:
    text = longdouble.format_human(Fraction(x))
    return b",%s\r\n" % text if proto == 3 else resp.bulk(text)


def dist_reply(d: float) -> bytes:
    """A distance as Redis 7 writes it (``fixedpoint_d2string``): the double times 10**4
    rounded to an integer (``llrint``: half to even), then 4 decimals put back. Not
    ``%.4f``, which rounds the exact decimal value and differs in the last digit when
    the product itself rounded (40648334.33465 ft)."""
    n = round(d * 10000.0)
    sign = b"-" if n < 0 else b""
    whole, frac = divmod(abs(n), 10000)
    return resp.bulk(b"%s%d.%04d" % (sign, whole, frac))


@command("GEOADD", -5, "write denyoom", (1, 1, 1), G, "Add members with their coordinates")
def geoadd(c: Any, a: list[bytes]) -> bytes:
    i, nx, xx, ch = 2, False, False, False
    while i < len(a):
        o = a[i].lower()
        if o == b"nx":
            nx = True
        elif o == b"xx":
            xx = True
        elif o == b"ch":
            ch = True
        else:
            break
        i += 1
    rest = a[i:]
    if not rest or len(rest) % 3:
        raise CommandError(SYNTAX)
    if nx and xx:
        raise CommandError(SYNTAX)
    args = [b"ZADD", a[1]] + [o for o, on in ((b"NX", nx), (b"XX", xx), (b"CH", ch)) if on]
    for j in range(0, len(rest), 3):
        lon, lat = lonlat(rest[j], rest[j + 1])
        args += [b"%d" % geohash.encode(lon, lat).bits, rest[j + 2]]
    return zsets.zadd_generic(c, args, False)


@command("GEOPOS", -2, "readonly", (1, 1, 1), G, "The coordinates of members")
def geopos(c: Any, a: list[bytes]) -> bytes:
    zs = _zset(c, a[1])
    scores = zs.scores if zs else {}
    out = [b"*%d\r\n" % (len(a) - 2)]
    for m in a[2:]:
        s = scores.get(m)
        if s is None:
            out.append(resp.null_array(c.proto))
            continue
        lon, lat = geohash.score_to_lonlat(s)
        out.append(b"*2\r\n" + coord_reply(lon, c.proto) + coord_reply(lat, c.proto))
    return b"".join(out)


@command("GEODIST", -4, "readonly", (1, 1, 1), G, "The distance between two members")
def geodist(c: Any, a: list[bytes]) -> bytes:
    if len(a) > 5:
        raise CommandError(SYNTAX)
    to_m = unit(a[4]) if len(a) == 5 else 1.0
    zs = _zset(c, a[1])
    s1 = zs.scores.get(a[2]) if zs else None
    s2 = zs.scores.get(a[3]) if zs else None
    if s1 is None or s2 is None:
        return resp.null(c.proto)
    (x1, y1), (x2, y2) = geohash.score_to_lonlat(s1), geohash.score_to_lonlat(s2)
    return dist_reply(geohash.distance(x1, y1, x2, y2) / to_m)


@command("GEOHASH", -2, "readonly", (1, 1, 1), G, "Members' positions as geohash strings")
def geohash_(c: Any, a: list[bytes]) -> bytes:
    zs = _zset(c, a[1])
    scores = zs.scores if zs else {}
    out = []
    for m in a[2:]:
        s = scores.get(m)
        out.append(None if s is None else geohash.to_geohash_string(s))
    return resp.bulks(out, c.proto)


# --- searches -----------------------------------------------------------------------------

COORDS, MEMBER, NOSTORE, SEARCH, SEARCHSTORE = 1, 2, 4, 8, 16


def _distance_args(num: bytes, u: bytes, what: str = "radius") -> tuple[float, float]:
    d = zsets.strict_float(num, resp.error(f"need numeric {what}"))
    if d < 0:
        raise CommandError("radius cannot be negative")
    return d, unit(u)


def _member_lonlat(zs: SortedSet, member: bytes) -> tuple[float, float]:
    s = zs.scores.get(member)
    if s is None:
        raise CommandError(NOT_MEMBER)
    return geohash.score_to_lonlat(s)


def search(
    zs: SortedSet, shape: Shape, limit: int
) -> list[tuple[bytes, float, float, float, float]]:
    """(member, distance m, score, lon, lat) of every member inside ``shape``, in cell order."""
    found: list[tuple[bytes, float, float, float, float]] = []
    cells = geohash.areas(shape)
    last = 0
    for i, cell in enumerate(cells):
        if cell.is_zero():
            continue
        if last and cell == cells[last]:
            continue  # huge radii: neighbouring cells can be the same cell
        if found and limit and len(found) >= limit:
            break
        lo, hi = geohash.score_range(cell)
        node = zs.zsl.first_in_score(ScoreRange(lo, hi, False, True))
        while node is not None and node.score < hi:
            lon, lat = geohash.score_to_lonlat(node.score)
            d = shape.contains(lon, lat)
            if d is not None:
                found.append((node.member, d, node.score, lon, lat))
                if limit and len(found) >= limit:
                    break
            node = node.forward[0]
        last = i
    return found


def georadius_generic(c: Any, a: list[bytes], src_at: int, flags: int) -> bytes:
    zs = _zset(c, a[src_at])
    center: tuple[float, float] | None = None
    radius: float | None = None
    width = height = 0.0
    to_m = 1.0
    if flags & COORDS:
        base = 6
        center = lonlat(a[2], a[3])
        radius, to_m = _distance_args(a[4], a[5])
    elif flags & MEMBER:
        base = 5
        if zs is not None:  # without the key Redis parses on only to pick the reply
            center = _member_lonlat(zs, a[2])
            radius, to_m = _distance_args(a[3], a[4])
    else:
        base = src_at + 1
    withdist = withhash = withcoord = anyflag = False
    sort: str | None = None
    count = 0
    storekey: bytes | None = a[1] if flags & SEARCHSTORE else None
    storedist = False
    frommember = fromloc = byradius = bybox = False
    i, n = base, len(a)
    while i < n:
        o = a[i].lower()
        more = n - i - 1
        if o == b"withdist":
            withdist = True
        elif o == b"withhash":
            withhash = True
        elif o == b"withcoord":
            withcoord = True
        elif o == b"any":
            anyflag = True
        elif o == b"asc":
            sort = "asc"
        elif o == b"desc":
            sort = "desc"
        elif o == b"count" and more >= 1:
            count = to_int(a[i + 1])
            if count <= 0:
                raise CommandError("COUNT must be > 0")
            i += 1
        elif o in (b"store", b"storedist") and more >= 1 and not flags & (NOSTORE | SEARCH):
            storekey, storedist = a[i + 1], o == b"storedist"
            i += 1
        elif o == b"storedist" and flags & SEARCHSTORE:
            storedist = True
        elif o == b"frommember" and more >= 1 and flags & SEARCH and not fromloc:
            if zs is not None:
                center = _member_lonlat(zs, a[i + 1])
            frommember = True
            i += 1
        elif o == b"fromlonlat" and more >= 2 and flags & SEARCH and not frommember:
            center = lonlat(a[i + 1], a[i + 2])
            fromloc = True
            i += 2
        elif o == b"byradius" and more >= 2 and flags & SEARCH and not bybox:
            radius, to_m = _distance_args(a[i + 1], a[i + 2])
            byradius = True
            i += 2
        elif o == b"bybox" and more >= 3 and flags & SEARCH and not byradius:
            width = zsets.strict_float(a[i + 1], resp.error("need numeric width"))
            height = zsets.strict_float(a[i + 2], resp.error("need numeric height"))
            if width < 0 or height < 0:
                raise CommandError("height or width cannot be negative")
            to_m = unit(a[i + 3])
            bybox = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1
    name = a[0].decode(errors="replace")
    if storekey is not None and (withdist or withhash or withcoord):
        what = "GEOSEARCHSTORE" if flags & SEARCHSTORE else "STORE option in GEORADIUS"
        raise CommandError(
            f"{what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )
    if flags & SEARCH and not (frommember or fromloc):
        raise CommandError(f"exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & SEARCH and not (byradius or bybox):
        raise CommandError(f"exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if anyflag and not count:
        raise CommandError("the ANY argument requires COUNT argument")
    if zs is None or center is None:
        if storekey is not None:
            c.db.delete(storekey)
            return resp.ZERO
        return resp.EMPTY_ARRAY
    if count and sort is None and not anyflag:
        sort = "asc"
    shape = Shape(center[0], center[1], to_m, radius if not bybox else None, width, height)
    found = search(zs, shape, count if anyflag else 0)
    if sort is not None:
        found.sort(key=lambda p: p[1], reverse=sort == "desc")
    if count:
        found = found[:count]
    if storekey is not None:
        items = [(m, d / to_m if storedist else s) for m, d, s, _, _ in found]
        return resp.integer(zsets.store(c, storekey, items, len(items)))
    if not (withdist or withhash or withcoord):
        return resp.bulks([p[0] for p in found])
    width_n = 1 + withdist + withhash + withcoord
    out = [b"*%d\r\n" % len(found)]
    for m, d, s, lon, lat in found:
        out.append(b"*%d\r\n" % width_n + resp.bulk(m))
        if withdist:
            out.append(dist_reply(d / to_m))
        if withhash:
            out.append(resp.integer(int(s)))
        if withcoord:
            out.append(b"*2\r\n" + coord_reply(lon, c.proto) + coord_reply(lat, c.proto))
    return b"".join(out)


@command("GEORADIUS", -6, "write denyoom", (1, 1, 1), G, "Members within a radius of a point")
def georadius(c: Any, a: list[bytes]) -> bytes:
    return georadius_generic(c, a, 1, COORDS)


@command("GEORADIUS_RO", -6, "readonly", (1, 1, 1), G, "GEORADIUS without STORE")
def georadius_ro(c: Any, a: list[bytes]) -> bytes:
    return georadius_generic(c, a, 1, COORDS | NOSTORE)


@command("GEORADIUSBYMEMBER", -5, "write denyoom", (1, 1, 1), G, "Members near a member")
def georadiusbymember(c: Any, a: list[bytes]) -> bytes:
    return georadius_generic(c, a, 1, MEMBER)


@command("GEORADIUSBYMEMBER_RO", -5, "readonly", (1, 1, 1), G, "GEORADIUSBYMEMBER without STORE")
def georadiusbymember_ro(c: Any, a: list[bytes]) -> bytes:
    return georadius_generic(c, a, 1, MEMBER | NOSTORE)


@command("GEOSEARCH", -7, "readonly", (1, 1, 1), G, "Members inside a circle or a box")
def geosearch(c: Any, a: list[bytes]) -> bytes:
    return georadius_generic(c, a, 1, SEARCH)


@command("GEOSEARCHSTORE", -8, "write denyoom", (1, 2, 1), G, "Store a GEOSEARCH's members")
def geosearchstore(c: Any, a: list[bytes]) -> bytes:
    return georadius_generic(c, a, 2, SEARCH | SEARCHSTORE)


# The argument lines of COMMAND DOCS (redis-cli's hints), as Redis's docs write them.
_SHAPE = "FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI"
_RADIUS_OPTS = "[WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]"
REGISTRY.syntax.update({
    "geoadd": "key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]",
    "geodist": "key member1 member2 [M|KM|FT|MI]",
    "geohash": "key [member [member ...]]",
    "geopos": "key [member [member ...]]",
    "georadius": f"key longitude latitude radius M|KM|FT|MI {_RADIUS_OPTS} [STORE key] [STOREDIST key]",
    "georadius_ro": f"key longitude latitude radius M|KM|FT|MI {_RADIUS_OPTS}",
    "georadiusbymember": f"key member radius M|KM|FT|MI {_RADIUS_OPTS} [STORE key] [STOREDIST key]",
    "georadiusbymember_ro": f"key member radius M|KM|FT|MI {_RADIUS_OPTS}",
    "geosearch": f"key {_SHAPE} [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
    "geosearchstore": f"destination source {_SHAPE} [ASC|DESC] [COUNT count [ANY]] [STOREDIST]",
})  # fmt: skip
