"""INCRBYFLOAT arithmetic exactly as Redis does it: x87 80-bit ``long double``, printed "%.17Lf".

Redis parses both operands with strtold, adds them as long doubles (a 64-bit
mantissa on x86-64) and prints the sum with ``%.17Lf`` with trailing zeros
trimmed (ld2string, LD_STR_HUMAN). Python floats have a 53-bit mantissa, so
``200 + 0.1`` would print ``200.1`` where Redis prints
``200.10000000000000001``. We emulate the 64-bit mantissa exactly with
``fractions.Fraction`` (round-to-nearest-even, as the FPU does) so redis-cli
shows the same digits for both servers.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

MANTISSA_BITS = 64  # x87 extended precision
MAX_EXPONENT = 16383  # beyond 2**16384 a long double is infinite
DECIMALS = 17  # "%.17Lf"
# strtold's decimal range: LDBL_MAX is about 1.19e4932 and the smallest subnormal
# about 3.65e-4951; beyond them it sets ERANGE, which Redis's string2ld refuses.
# Checked on the exponent *before* any exact arithmetic, so "1e-999999999" costs
# nothing instead of a 10**999999999 that would stall the whole server.
MAX_DECIMAL_EXPONENT = 4932
MIN_DECIMAL_EXPONENT = -4951


def round_to_long_double(x: Fraction) -> Fraction:
    """The long double nearest to ``x`` (ties to even)."""
    if x == 0:
        return x
    sign, x = (-1 if x < 0 else 1), abs(x)
    e = x.numerator.bit_length() - x.denominator.bit_length()  # 2**e <= x < 2**(e+2)
    if x < Fraction(2) ** e:
        e -= 1
    shift = MANTISSA_BITS - 1 - e
    scale = Fraction(2) ** shift
    return sign * Fraction(round(x * scale)) / scale


def parse(text: bytes) -> Fraction | float | None:
    """strtold's value for ``text`` (already free of spaces and underscores).

    The exact long double, ``inf``/``-inf`` for an infinity literal, or None
    when Redis refuses it: not a number, NaN, or out of the long double range.
    """
    try:
        d = Decimal(text.decode("ascii"))
    except (InvalidOperation, UnicodeDecodeError):
        return None
    if d.is_nan():
        return None
    if d.is_infinite():
        return float(d)
    if d and not MIN_DECIMAL_EXPONENT <= d.adjusted() <= MAX_DECIMAL_EXPONENT:
        return None
    x = round_to_long_double(Fraction(d))
    return None if is_infinite(x) else x


def is_infinite(x: Fraction) -> bool:
    return x != 0 and abs(x) >= Fraction(2) ** (MAX_EXPONENT + 1)


def format_human(x: Fraction) -> bytes:
    """``%.17Lf`` of the exact value, trailing zeros and dot trimmed, "-0" -> "0"."""
    q = round(abs(x) * 10**DECIMALS)
    whole, frac = divmod(q, 10**DECIMALS)
    text = f"{whole}.{frac:0{DECIMALS}d}".rstrip("0").rstrip(".")
    if x < 0 and text != "0":
        text = "-" + text
    return text.encode()


def add(current: Fraction, increment: Fraction) -> bytes | None:
    """The new value's text, or None when the sum is not finite."""
    total = round_to_long_double(current + increment)
    return None if is_infinite(total) else format_human(total)
