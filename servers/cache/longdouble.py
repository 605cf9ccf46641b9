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

from fractions import Fraction

MANTISSA_BITS = 64  # x87 extended precision
MAX_EXPONENT = 16383  # beyond 2**16384 a long double is infinite
DECIMALS = 17  # "%.17Lf"


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


def parse(text: bytes) -> Fraction:
    """strtold's value for a decimal already validated as a finite float."""
    return round_to_long_double(Fraction(text.decode()))


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


def add(current: bytes | None, increment: bytes) -> bytes | None:
    """The new value's text, or None when the sum is not finite."""
    total = round_to_long_double((parse(current) if current else Fraction(0)) + parse(increment))
    return None if is_infinite(total) else format_human(total)
