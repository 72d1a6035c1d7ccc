"""A student's typed answer read leniently: a number, a pair of numbers, or a grid of them.

"14", " 14 ", "14.0", "-3", "5/2" and "2.5" are numbers; "7, 4", "7 4" and "[7, 4]" are pairs; "[[1, 2], [3, 4]]",
"1 2; 3 4" and lines of numbers are grids. Numbers are exact fractions, so "2.5" and "5/2" are the same answer and
nothing is lost to float rounding. What cannot be read raises ``UserError`` saying what to type instead.

    >>> read_number(" 14 ")
    Fraction(14, 1)
    >>> read_grid("[[1, 2], [3, 4.5]]")
    ((Fraction(1, 1), Fraction(2, 1)), (Fraction(3, 1), Fraction(9, 2)))
"""
from __future__ import annotations

import numbers
import re
from fractions import Fraction
from typing import Any

from cnnviz.errors import UserError

MAX_TYPED = 2000  # characters of an answer read at all: a 6×6 grid of fractions fits many times over
_SEPARATORS = re.compile(r"[\s,，]+")  # commas (the Chinese one too) and spaces between numbers
_ROW_BREAKS = re.compile(r"\]\s*[,，]?\s*\[|[;；\n]")  # "], [" between bracketed rows, or a semicolon or line


def _one_number(text: str, answer: str) -> Fraction:
    try:
        return Fraction(text.replace("−", "-"))
    except (ValueError, ZeroDivisionError):
        raise UserError("error.exercises.not_a_number", item=text, answer=answer) from None


def _numbers(text: str, answer: str) -> list[Fraction]:
    return [_one_number(item, answer) for item in _SEPARATORS.split(text.strip("[]() \t")) if item]


def _text_of(answer: Any) -> str:
    if not isinstance(answer, str):
        answer = str(answer)
    if not answer.strip():
        raise UserError("error.exercises.empty")
    if len(answer) > MAX_TYPED:
        raise UserError("error.exercises.too_long", most=MAX_TYPED)
    return answer.strip()


def read_number(answer: Any) -> Fraction:
    """One number, exactly: an int, a decimal or a fraction such as 5/2.

    Raises:
        ValueError: the answer is empty or not one number, with what to type.
    """
    if isinstance(answer, numbers.Rational) and not isinstance(answer, bool):
        return Fraction(answer)
    if isinstance(answer, float):
        return Fraction(answer)
    text = _text_of(answer)
    values = _numbers(text, text)
    if len(values) != 1:
        raise UserError("error.exercises.one_number", answer=text)
    return values[0]


def read_numbers(answer: Any, count: int) -> tuple[Fraction, ...]:
    """``count`` numbers separated by commas or spaces, brackets optional: "7, 4" or "[7 4]".

    Raises:
        ValueError: a different count, or an item that is not a number.
    """
    if isinstance(answer, (list, tuple)):
        answer = ", ".join(map(str, answer))
    text = _text_of(answer)
    values = _numbers(text, text)
    if len(values) != count:
        raise UserError("error.exercises.count", count=count, found=len(values), answer=text)
    return tuple(values)


def read_grid(answer: Any) -> tuple[tuple[Fraction, ...], ...]:
    """Rows of numbers: "[[1, 2], [3, 4]]", "1 2; 3 4", or one row per line.

    Raises:
        ValueError: an item is not a number, or the rows differ in length.
    """
    if isinstance(answer, (list, tuple)):
        answer = "; ".join(", ".join(map(str, row)) if isinstance(row, (list, tuple)) else str(row) for row in answer)
    text = _text_of(answer)
    inner = text.strip()
    if inner.startswith("[[") or inner.startswith("[ ["):
        inner = inner[1:-1] if inner.endswith("]") else inner[1:]
    rows = [_numbers(row, text) for row in _ROW_BREAKS.split(inner) if row.strip("[]() \t,，")]
    if not rows:
        raise UserError("error.exercises.empty")
    if len({len(row) for row in rows}) != 1:
        raise UserError("error.exercises.ragged", lengths=", ".join(str(len(row)) for row in rows), answer=text)
    return tuple(tuple(row) for row in rows)
