"""Numbers as a student reads and types them: "5" not "5.0", "1/9" not "0.1111", and "1/9" accepted back.

    >>> fmt(2.0000000001), fmt(-0.5), fmt(1 / 3)
    ('2', '-0.5', '0.333')
    >>> cell_text(1 / 9), cell_text(-0.598), cell_text(0.01196), cell_text(0.125)
    ('1/9', '-0.598', '0.01196', '0.125')
    >>> parse_number(" 1/9 ") == 1 / 9
    True
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

from cnnviz.errors import UserError

MAX_DENOMINATOR = 256  # 1/9, 1/16 and the unsharp mask's 1/256 show as fractions; nothing finer does
_FLOAT32_NOISE = 2.0**-23  # relative rounding of a float32 (links carry weights as float32), with a margin of 2


def fmt(value: float) -> str:
    """A number as a student would write it: 5, -0.5, 0.333 (no float noise, at most 3 decimals)."""
    rounded = round(float(value), 3)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.3f}".rstrip("0")


def cell_text(value: float, most: int | None = None) -> str:
    """A kernel weight exactly enough to edit: a short decimal, an exact small fraction, or 4 significant digits;
    with ``most``, in at most that many characters where the value allows (fewer significant digits, then fewer).

    A value that went through a link is a float32: 1/9 comes back 8e-10 off and must still read "1/9".

        >>> cell_text(1.965e-05), cell_text(1.965e-05, most=5), cell_text(0.1111111119389534)
        ('1.965e-5', '2e-5', '1/9')
        >>> cell_text(0.01196, most=5), cell_text(-0.05858, most=5), cell_text(-1 / 256, most=5)
        ('0.012', '-0.06', '-4e-3')
        >>> cell_text(0.001769, most=5), cell_text(12345.678, most=4)
        ('0.002', '1e4')
    """
    value = float(value)
    natural = _natural_text(value)
    if most is None or len(natural) <= most:
        return natural
    return _compact_text(value, most)


def _natural_text(value: float) -> str:
    noise = _FLOAT32_NOISE * abs(value)
    if abs(value - round(value, 3)) <= noise and abs(value) < 1e9:
        return fmt(value)
    fraction = Fraction(value).limit_denominator(MAX_DENOMINATOR)
    if fraction.denominator > 1 and abs(float(fraction) - value) <= max(noise, 1e-12 * max(1.0, abs(value))):
        return f"{fraction.numerator}/{fraction.denominator}"
    return _short_exponent(f"{value:.4g}")


def _compact_text(value: float, most: int) -> str:
    """The most significant digits (4 at most) that fit in ``most`` characters, as a decimal where it fits (a student
    reads 0.002 sooner than 2e-3), else with an exponent; one digit with an exponent when nothing fits (the shortest
    text of a nonzero value, never cut)."""
    exponent = math.floor(math.log10(abs(value)))
    for digits in range(4, 0, -1):
        decimals = max(0, digits - 1 - exponent)
        fixed = f"{value:.{decimals}f}"
        fixed = fixed.rstrip("0").rstrip(".") if "." in fixed else fixed
        scientific = _short_exponent(f"{value:.{digits - 1}e}")
        for text in (fixed, scientific):
            if len(text) <= most and float(text) != 0:
                return text
    return _short_exponent(f"{value:.0e}")


def _short_exponent(text: str) -> str:
    """1.965e-05 as 1.965e-5, 2.0e+04 as 2e4: the same number in fewer characters."""
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def total_text(value: float, *, scale: float = 1.0) -> str:
    """A sum for display: float noise below 1e-9 of ``scale`` (the largest term) shows as 0, not -4.025e-16."""
    if abs(value) <= 1e-9 * max(abs(scale), 1.0):
        return "0"
    return cell_text(value)


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_number(text: str) -> float:
    """A finite number from what a student typed: "0.5", "-2", "1e-3", "1/9", "-3 / 4"; empty means 0.

    Raises:
        ValueError: naming the text, for words, NaN, infinity, overflow and division by zero.
    """
    cleaned = str(text).strip().replace("−", "-").replace(",", ".")
    if cleaned == "":
        return 0.0
    parts = [p.strip() for p in cleaned.split("/")]
    if len(parts) > 2 or not all(_NUMBER.match(p) for p in parts):
        raise UserError("error.numfmt.not_a_number", text=text)
    numerator = float(parts[0])
    denominator = float(parts[1]) if len(parts) == 2 else 1.0
    if denominator == 0:
        raise UserError("error.numfmt.divides_by_zero", text=text)
    value = numerator / denominator
    if not math.isfinite(value):
        raise UserError("error.numfmt.too_large", text=text)
    return value


def parse_rows(text: str) -> list[list[float]]:
    """Rows of numbers pasted as text: one row per line, values separated by spaces, commas or tabs.

    Raises:
        ValueError: a value is not a number (with its row and column), or the rows differ in length.
    """
    rows = []
    for r, line in enumerate(l for l in str(text).strip().splitlines() if l.strip()):
        cells = [c for c in re.split(r"[\s,;]+", line.strip().strip("[]")) if c]
        values = []
        for c, cell in enumerate(cells):
            try:
                values.append(parse_number(cell.strip("[]")))
            except ValueError as error:
                raise UserError("error.numfmt.cell", row=r + 1, col=c + 1, reason=error) from None
        rows.append(values)
    if not rows:
        raise UserError("error.numfmt.empty")
    widths = {len(row) for row in rows}
    if len(widths) != 1:
        raise UserError("error.numfmt.ragged", widths=sorted(widths))
    return rows
