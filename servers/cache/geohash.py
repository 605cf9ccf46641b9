"""Geohash for GEOADD & co: a (longitude, latitude) as one 52-bit integer, a sorted set score.

Strategy (Redis's geohash.c / geohash_helper.c). Each coordinate is turned
into a 26-bit cell number: the longitude's position in [-180, 180] and the
latitude's in [-85.05112878, 85.05112878] (the Web Mercator limits Redis
uses), scaled to 2**26 cells. The two numbers are interleaved bit by bit,
latitude on even bits and longitude on odd ones, so that nearby points share
long prefixes: every 2*k-bit prefix names a rectangular cell ("step" k), and
all points of one cell are one contiguous range of scores. A 52-bit integer
fits a double exactly, so the score loses nothing.

A radius or box search (``areas``) picks the step whose cells are about as
big as the search, takes the cell of the center and its 8 neighbours, drops
neighbours wholly outside the search's bounding box, and scans each cell's
score range; every candidate is then checked by its exact distance
(haversine on a sphere of Redis's radius, 6372797.560856 m) to the center.

``to_geohash_string`` gives the standard 11-character geohash (which uses
latitude [-90, 90], so it is re-encoded, as Redis's GEOHASH does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEP_MAX = 26  # 26 bits per coordinate: 52-bit scores
LONG_MIN, LONG_MAX = -180.0, 180.0
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
EARTH_RADIUS_M = 6372797.560856
MERCATOR_MAX = 20037726.37
D_R = math.pi / 180.0
ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def valid(lon: float, lat: float) -> bool:
    return LONG_MIN <= lon <= LONG_MAX and LAT_MIN <= lat <= LAT_MAX


def _spread(v: int) -> int:
    """The 32 low bits of ``v`` moved to the even bit positions of a 64-bit word.

    Five shift-and-mask rounds, each halving the size of the blocks moved apart
    (16, 8, 4, 2, 1 bits), instead of 32 single-bit steps.
    """
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


def _squeeze(v: int) -> int:
    """The inverse of _spread: the even bits of ``v`` packed together."""
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


def interleave(lat_cell: int, lon_cell: int) -> int:
    return _spread(lat_cell) | (_spread(lon_cell) << 1)


def deinterleave(bits: int) -> tuple[int, int]:
    """(latitude cell, longitude cell)."""
    return _squeeze(bits), _squeeze(bits >> 1)


@dataclass(frozen=True)
class Cell:
    bits: int
    step: int

    def is_zero(self) -> bool:
        return self.bits == 0 and self.step == 0


ZERO = Cell(0, 0)
MERCATOR_LAT = (LAT_MIN, LAT_MAX)
STANDARD_LAT = (-90.0, 90.0)


def encode(
    lon: float, lat: float, step: int = STEP_MAX, lat_range: tuple[float, float] = MERCATOR_LAT
) -> Cell:
    lat_lo, lat_hi = lat_range
    lat_off = (lat - lat_lo) / (lat_hi - lat_lo) * (1 << step)
    lon_off = (lon - LONG_MIN) / (LONG_MAX - LONG_MIN) * (1 << step)
    # C casts the offsets to uint32_t: truncation (the top edge wraps past 2**step-1)
    return Cell(interleave(int(lat_off) & 0xFFFFFFFF, int(lon_off) & 0xFFFFFFFF), step)


@dataclass(frozen=True)
class Area:
    lon_min: float
    lon_max: float
    lat_min: float
    lat_max: float


def decode(cell: Cell, lat_range: tuple[float, float] = MERCATOR_LAT) -> Area:
    lat_i, lon_i = deinterleave(cell.bits)
    lat_lo, lat_hi = lat_range
    n = float(1 << cell.step)
    lat_scale, lon_scale = lat_hi - lat_lo, LONG_MAX - LONG_MIN
    return Area(
        LONG_MIN + (lon_i / n) * lon_scale,
        LONG_MIN + ((lon_i + 1) / n) * lon_scale,
        lat_lo + (lat_i / n) * lat_scale,
        lat_lo + ((lat_i + 1) / n) * lat_scale,
    )


def score_to_lonlat(score: float) -> tuple[float, float]:
    """The center of a member's 52-bit cell, clamped to the valid range."""
    a = decode(Cell(int(score), STEP_MAX))
    lon = min(max((a.lon_min + a.lon_max) / 2, LONG_MIN), LONG_MAX)
    lat = min(max((a.lat_min + a.lat_max) / 2, LAT_MIN), LAT_MAX)
    return lon, lat


def to_geohash_string(score: float) -> bytes:
    lon, lat = score_to_lonlat(score)
    bits = encode(lon, lat, STEP_MAX, STANDARD_LAT).bits
    out = bytearray()
    for i in range(11):
        idx = 0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1F
        out.append(ALPHABET[idx])
    return bytes(out)


# --- distances ------------------------------------------------------------------------


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_M * abs(lat2 * D_R - lat1 * D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine great-circle distance in meters (as Redis computes it)."""
    v = math.sin((lon2 * D_R - lon1 * D_R) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r, lat2r = lat1 * D_R, lat2 * D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Shape:
    """A search: center, and a radius or a width x height box, in ``unit`` (meters per unit)."""

    lon: float
    lat: float
    unit: float
    radius: float | None = None
    width: float = 0.0
    height: float = 0.0

    def contains(self, lon: float, lat: float) -> float | None:
        """The distance in meters from the center, or None when outside."""
        if self.radius is not None:
            d = distance(self.lon, self.lat, lon, lat)
            return None if d > self.radius * self.unit else d
        if lat_distance(lat, self.lat) > self.height * self.unit / 2:
            return None
        if distance(lon, lat, self.lon, lat) > self.width * self.unit / 2:
            return None
        return distance(self.lon, self.lat, lon, lat)

    def bounds(self) -> tuple[float, float, float, float]:
        """(min lon, min lat, max lon, max lat) of the shape's bounding box."""
        h = self.unit * (self.radius if self.radius is not None else self.height / 2)
        w = self.unit * (self.radius if self.radius is not None else self.width / 2)
        lat_delta = h / EARTH_RADIUS_M / D_R
        top = w / EARTH_RADIUS_M / math.cos((self.lat + lat_delta) * D_R) / D_R
        bottom = w / EARTH_RADIUS_M / math.cos((self.lat - lat_delta) * D_R) / D_R
        lon_delta = bottom if self.lat < 0 else top
        return (
            self.lon - lon_delta,
            self.lat - lat_delta,
            self.lon + lon_delta,
            self.lat + lat_delta,
        )

    def reach_m(self) -> float:
        if self.radius is not None:
            return self.radius * self.unit
        return math.sqrt((self.width / 2) ** 2 + (self.height / 2) ** 2) * self.unit


def steps_for(range_m: float, lat: float) -> int:
    """The cell size (step) about as wide as ``range_m`` at ``lat``."""
    if range_m == 0:
        return STEP_MAX
    step = 1
    while range_m < MERCATOR_MAX:
        range_m *= 2
        step += 1
    step -= 2  # so that the range is inside the 9 cells in most cases
    if lat > 66 or lat < -66:  # cells narrow towards the poles
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), STEP_MAX)


def _move(cell: Cell, dlon: int, dlat: int) -> Cell:
    """The cell ``dlon`` east and ``dlat`` north, wrapping around (Redis's geohash_move_x/y).

    An axis that does not move keeps its bits as they are, even the one past the step a
    coordinate on the top edge (longitude 180) gets in ``encode``: the neighbours Redis
    scans depend on it.
    """
    lat_i, lon_i = deinterleave(cell.bits)
    mask = (1 << cell.step) - 1
    if dlat:
        lat_i = (lat_i + dlat) & mask
    if dlon:
        lon_i = (lon_i + dlon) & mask
    return Cell(interleave(lat_i, lon_i), cell.step)


# The 9 cells in Redis's order: center, N, S, E, W, NE, NW, SE, SW (as (dlon, dlat)).
NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def areas(shape: Shape) -> list[Cell]:
    """The cells to scan for ``shape`` (zeroed ones already dropped, Redis's order kept)."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    steps = steps_for(shape.reach_m(), shape.lat)
    center = encode(shape.lon, shape.lat, steps)
    around = [_move(center, dx, dy) for dx, dy in NEIGHBOURS]
    north, south, east, west = (decode(around[i]) for i in range(4))
    if steps > 1 and (
        north.lat_max < max_lat
        or south.lat_min > min_lat
        or east.lon_max < max_lon
        or west.lon_min > min_lon
    ):
        steps -= 1
        center = encode(shape.lon, shape.lat, steps)
        around = [_move(center, dx, dy) for dx, dy in NEIGHBOURS]
    area = decode(center)
    cells = [center, *around]
    if steps >= 2:
        drop: set[int] = set()
        if area.lat_min < min_lat:
            drop |= {2, 7, 8}  # south, south-east, south-west
        if area.lat_max > max_lat:
            drop |= {1, 5, 6}
        if area.lon_min < min_lon:
            drop |= {4, 8, 6}
        if area.lon_max > max_lon:
            drop |= {3, 7, 5}
        cells = [ZERO if i in drop else c for i, c in enumerate(cells)]
    return cells


def score_range(cell: Cell) -> tuple[int, int]:
    """The cell's scores: [lo, hi) at full precision."""
    shift = 52 - cell.step * 2
    return cell.bits << shift, (cell.bits + 1) << shift
