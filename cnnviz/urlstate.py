"""Page state <-> plain dicts and short query strings, without Streamlit.

A page's state is one frozen dataclass. Its class lists, in ``FIELDS``, how each attribute appears in a URL:
a short query key and a ``Codec`` that turns the value into text and back. ``to_query`` writes only the values
that differ from the defaults, so a link names just what the user changed. ``from_query`` never raises: an
unknown key is skipped, and a malformed or out-of-range value falls back to its default and is reported, so the
page can say what it ignored.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo:
    ...     stride: tuple[int, int] = (1, 1)  # rows, cols
    ...     FIELDS = (Field("stride", "s", PairCodec(1, 8)),)
    >>> to_query(Demo(stride=(2, 1)))
    {'s': '2,1'}
    >>> from_query(Demo, {"s": "9,1", "zz": "1"})
    (Demo(stride=(1, 1)), ['s=9,1'])
"""
from __future__ import annotations

import base64
import math
import re
import struct
import zlib
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

from cnnviz.conv.geometry import PADDING_KINDS, PADDING_MODES

Matrix = tuple[tuple[float, ...], ...]  # a kernel or input grid, row-major, hashable


# Links carry numbers as ASCII only: Python's int() and float() also take " 5 ", "1_0" and other scripts' digits ("٣"),
# which would make two different links mean one view.
_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def _ascii_number(text: str, pattern: re.Pattern) -> str:
    if not isinstance(text, str) or not pattern.fullmatch(text):
        raise ValueError(f"{text!r} is not a number written in ASCII digits")
    return text


class Codec:
    """Text <-> value for one field. ``parse`` raises ValueError on anything it does not accept."""

    def format(self, value: Any) -> str:
        return str(value)

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    def coerce(self, value: Any) -> Any:
        """A JSON value (from ``to_dict``) back to the field's type; strings go through ``parse``."""
        return self.parse(value) if isinstance(value, str) else self.check(value)

    def check(self, value: Any) -> Any:
        return self.parse(self.format(value))

    def plain(self, value: Any) -> Any:
        """The value as JSON likes it (lists, not tuples)."""
        return value


@dataclass(frozen=True)
class Choice(Codec):
    options: tuple[str, ...]  # the only values accepted

    def parse(self, text: str) -> str:
        if text not in self.options:
            raise ValueError(f"{text!r} is not one of {', '.join(self.options)}")
        return text


@dataclass(frozen=True)
class IntCodec(Codec):
    low: int  # smallest accepted
    high: int  # largest accepted

    def parse(self, text: str) -> int:
        value = int(_ascii_number(text, _INT))
        if not self.low <= value <= self.high:
            raise ValueError(f"{value} is outside {self.low}..{self.high}")
        return value

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not an int")
        return self.parse(str(value))


@dataclass(frozen=True)
class FloatCodec(Codec):
    low: float  # smallest accepted
    high: float  # largest accepted

    def format(self, value: float) -> str:
        return _number(value)

    def parse(self, text: str) -> float:
        value = float(_ascii_number(text, _FLOAT))
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ValueError(f"{text} is outside {self.low:g}..{self.high:g}")
        return value

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number")
        return self.parse(repr(float(value)))


class BoolCodec(Codec):
    def format(self, value: bool) -> str:
        return "1" if value else "0"

    def parse(self, text: str) -> bool:
        if text not in ("0", "1"):
            raise ValueError(f"{text!r} is not 0 or 1")
        return text == "1"

    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value


@dataclass(frozen=True)
class PairCodec(Codec):
    low: int  # smallest accepted in each position
    high: int  # largest accepted

    def format(self, value: Sequence[int]) -> str:
        return f"{value[0]},{value[1]}"

    def parse(self, text: str) -> tuple[int, int]:
        parts = text.split(",")
        if len(parts) == 1:
            parts = parts * 2  # "2" means (2, 2)
        if len(parts) != 2:
            raise ValueError(f"{text!r} is not rows,cols")
        return tuple(IntCodec(self.low, self.high).parse(p) for p in parts)

    def check(self, value: Any) -> tuple[int, int]:
        if not (isinstance(value, (list, tuple)) and len(value) == 2):
            raise ValueError(f"{value!r} is not a (rows, cols) pair")
        return tuple(IntCodec(self.low, self.high).check(v) for v in value)

    def plain(self, value: Sequence[int]) -> list[int]:
        return list(value)


@dataclass(frozen=True)
class UnitCodec(Codec):
    """A unit of a map as "row,col", or None (no unit chosen, or the page's own pick) as the empty text.

    Both pages' older links still read: "" (the inspector's "no unit") and "3" for (3, 3) (the receptive-field
    page read a unit as a pair of sizes).
    """

    high: int  # largest row or col accepted

    def format(self, value: Sequence[int] | None) -> str:
        return "" if value is None else f"{value[0]},{value[1]}"

    def parse(self, text: str) -> tuple[int, int] | None:
        return None if text == "" else PairCodec(0, self.high).parse(text)

    def check(self, value: Any) -> tuple[int, int] | None:
        return None if value is None else PairCodec(0, self.high).check(value)

    def plain(self, value: Sequence[int] | None) -> list[int] | None:
        return None if value is None else list(value)


@dataclass(frozen=True)
class FloatsCodec(Codec):
    low: float  # smallest accepted value
    high: float  # largest accepted value
    most: int = 8  # longest list accepted

    def format(self, value: Sequence[float]) -> str:
        return ",".join(_number(v) for v in value)

    def parse(self, text: str) -> tuple[float, ...]:
        values = tuple(FloatCodec(self.low, self.high).parse(t) for t in text.split(",") if t)
        if len(values) > self.most:
            raise ValueError(f"more than {self.most} values")
        return values

    def check(self, value: Any) -> tuple[float, ...]:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{value!r} is not a list of numbers")
        return self.parse(self.format([FloatCodec(self.low, self.high).check(v) for v in value]))

    def plain(self, value: Sequence[float]) -> list[float]:
        return list(value)


@dataclass(frozen=True)
class NamesCodec(Codec):
    options: tuple[str, ...]  # names that may appear in the list
    most: int = 16  # longest list accepted

    def format(self, value: Sequence[str]) -> str:
        return ",".join(value)

    def parse(self, text: str) -> tuple[str, ...]:
        names = tuple(n for n in text.split(",") if n)
        unknown = [n for n in names if n not in self.options]
        if unknown or len(names) > self.most:
            raise ValueError(f"unknown names {unknown}" if unknown else f"more than {self.most} names")
        return names

    def check(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{value!r} is not a list of names")
        return self.parse(",".join(value))

    def plain(self, value: Sequence[str]) -> list[str]:
        return list(value)


@dataclass(frozen=True)
class MatrixCodec(Codec):
    """A 2-D grid, or a stack of them, in a few hundred characters: see ``encode_matrix``."""

    max_side: int  # largest rows or cols accepted
    max_depth: int = 3  # largest number of stacked grids (3 = an RGB filter)

    def format(self, value: Any) -> str:
        return encode_matrix(value)

    def parse(self, text: str) -> Any:
        return decode_matrix(text, max_side=self.max_side, max_depth=self.max_depth)

    def check(self, value: Any) -> Any:
        return self.parse(encode_matrix(value))

    def plain(self, value: Any) -> Any:
        return _lists(value)


@dataclass(frozen=True)
class Field:
    """How one attribute of a state appears in a URL."""

    name: str  # the dataclass attribute
    key: str  # the short query key
    codec: Codec  # text <-> value


def _number(value: float) -> str:
    """Shortest text that reads back as the same float: 2 not 2.0, 0.1 not 0.1000000000000000055."""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def _defaults(state: Any) -> Any:
    """What a link leaves out: the class defaults, or those implied by the state's own anchor fields (a preset)."""
    anchored = getattr(state, "query_defaults", None)
    return anchored() if anchored is not None else type(state)()


def to_query(state: Any) -> dict[str, str]:
    """The query parameters for ``state``: only the fields that differ from its defaults.

    Anchor fields (``ANCHORS``, e.g. a preset) are compared with the class defaults; the rest with the defaults
    the anchors imply, so a link says "classic network, 2 epochs" rather than every layer of it.
    """
    cls = type(state)
    implied, plain = _defaults(state), cls()
    anchors = getattr(cls, "ANCHORS", ())
    return {f.key: f.codec.format(getattr(state, f.name)) for f in cls.FIELDS
            if getattr(state, f.name) != getattr(plain if f.name in anchors else implied, f.name)}


def from_query(cls: type, params: dict[str, str]) -> tuple[Any, list[str]]:
    """A state from query parameters, and the "key=value" texts it could not use (left at their defaults).

    Never raises: keys it does not know are skipped silently, since other parts of the app share the URL.
    """
    values, ignored = {}, []
    for spec in cls.FIELDS:
        if spec.key not in params:
            continue
        text = params[spec.key]
        try:
            values[spec.name] = spec.codec.parse(text)
        except (ValueError, TypeError, IndexError, struct.error, zlib.error):
            ignored.append(f"{spec.key}={text[:40]}")
    state = _build(cls, values, ignored)
    return state, ignored


def to_dict(state: Any) -> dict[str, Any]:
    """Every field as plain JSON values, by attribute name."""
    return {f.name: f.codec.plain(getattr(state, f.name)) for f in type(state).FIELDS}


def from_dict(cls: type, data: dict[str, Any]) -> tuple[Any, list[str]]:
    """A state from ``to_dict`` output; like ``from_query``, bad values fall back to defaults and are listed."""
    values, ignored = {}, []
    blank = cls()
    for spec in cls.FIELDS:
        if spec.name in data:
            if data[spec.name] is None and getattr(blank, spec.name) is None:
                values[spec.name] = None  # an optional field left empty (a kernel still equal to its preset)
                continue
            try:
                values[spec.name] = spec.codec.coerce(data[spec.name])
            except (ValueError, TypeError, IndexError, struct.error, zlib.error):
                ignored.append(spec.name)
    return _build(cls, values, ignored), ignored


def _build(cls: type, values: dict[str, Any], ignored: list[str]) -> Any:
    state = replace(_defaults(cls(**values)), **values)
    repair = getattr(state, "repaired", None)
    if repair is None:
        return state
    repaired, notes = repair()
    ignored.extend(notes)
    return repaired


class PageState:
    """Base of a frozen page-state dataclass: its dict and query round trips, as ``FIELDS`` says.

    ``from_query`` and ``from_dict`` never raise: they return the state and what they could not use.
    """

    def to_query(self) -> dict[str, str]:
        return to_query(self)

    @classmethod
    def from_query(cls, params: dict[str, str]) -> tuple[Any, list[str]]:
        return from_query(cls, params)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> tuple[Any, list[str]]:
        return from_dict(cls, data)


def geometry_fields(*, max_pad: int, max_stride: int, max_dilation: int) -> tuple[Field, ...]:
    """How the convolution settings of a page (its padding, pad, padding_mode, stride, dilation and flip) appear in
    its links, the same keys on every page."""
    return (Field("padding", "p", Choice(PADDING_KINDS)), Field("pad", "pa", PairCodec(0, max_pad)),
            Field("padding_mode", "pm", Choice(PADDING_MODES)), Field("stride", "s", PairCodec(1, max_stride)),
            Field("dilation", "d", PairCodec(1, max_dilation)), Field("flip", "f", BoolCodec()))


def field_names(cls: type) -> set[str]:
    """The query keys a state class reads."""
    return {f.key for f in cls.FIELDS}


def check_fields(cls: type) -> None:
    """Raise if ``FIELDS`` misses or misnames an attribute: every setting must reach the URL."""
    attributes = {f.name for f in fields(cls)}
    named = [f.name for f in cls.FIELDS]
    keys = [f.key for f in cls.FIELDS]
    if set(named) != attributes or len(set(keys)) != len(keys):
        raise TypeError(f"{cls.__name__}.FIELDS must name each attribute once with a unique key: "
                        f"missing {sorted(attributes - set(named))}, keys {keys}")


# --- matrices --------------------------------------------------------------------------------------
# A link must hold a 15x15 kernel, and an RGB 3x15x15 one when it can. Values a student types or the
# "Random" button makes have few decimals: scaled to integers they pack into one or two bytes each.
# Other values (a normalised kernel, a Gaussian) go as float32, which is what images are convolved in.

_SHAPE = re.compile(r"([0-9]{1,2})x([0-9]{1,2})(?:x([0-9]))?", re.ASCII)


def _zigzag(n: int) -> int:
    return n * 2 if n >= 0 else -n * 2 - 1


def _unzigzag(n: int) -> int:
    return n // 2 if n % 2 == 0 else -(n + 1) // 2


def _varints(numbers: Sequence[int]) -> bytes:
    out = bytearray()
    for number in numbers:
        n = _zigzag(number)
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                break
    return bytes(out)


def _read_varints(data: bytes, count: int) -> list[int]:
    numbers, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise ValueError("a value is too long")
        if not byte & 0x80:
            numbers.append(_unzigzag(value))
            value, shift = 0, 0
    if len(numbers) != count or shift:
        raise ValueError(f"expected {count} values, got {len(numbers)}")
    return numbers


def _decimals(values: Sequence[float]) -> int | None:
    """The fewest decimals (0-6) that write every value exactly, or None."""
    for decimals in range(7):
        scale = 10**decimals
        if all(abs(v * scale - round(v * scale)) <= 1e-9 * max(1.0, abs(v * scale)) and abs(v * scale) < 2**40
               for v in values):
            return decimals
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_matrix(value: Any) -> str:
    """A grid (rows of numbers) or a stack of grids as short URL-safe text: "3x3.d0.<base64>".

    Layout: the shape ("rows x cols", then "x depth" for a stack), then "d<decimals>" when every value is a
    whole number of 10^-decimals (stored as variable-length integers), else "f" (float32), then the bytes in
    base64url, deflated when that is shorter ("D" / "F").
    """
    grids = _lists(value)
    stacked = isinstance(grids[0][0], list)
    depth = len(grids) if stacked else 0
    grids = grids if stacked else [grids]
    rows, cols = len(grids[0]), len(grids[0][0])
    flat = [float(v) for grid in grids for row in grid for v in row]
    shape = f"{rows}x{cols}" + (f"x{depth}" if stacked else "")
    decimals = _decimals(flat)
    if decimals is not None:
        kind, data = f"d{decimals}", _varints([round(v * 10**decimals) for v in flat])
    else:
        kind, data = "f", struct.pack(f"<{len(flat)}f", *flat)
    packed = zlib.compress(data, 9)
    if len(packed) < len(data):
        kind, data = kind.upper(), packed
    return f"{shape}.{kind}.{_b64(data)}"


def decode_matrix(text: str, *, max_side: int = 15, max_depth: int = 3) -> Matrix | tuple[Matrix, ...]:
    """The inverse of ``encode_matrix``. Raises ValueError on anything malformed or too big."""
    parts = text.split(".")
    if len(parts) != 3 or not (match := _SHAPE.fullmatch(parts[0])):
        raise ValueError(f"{text[:20]!r} is not a matrix")
    rows, cols = int(match.group(1)), int(match.group(2))
    depth = int(match.group(3)) if match.group(3) else 0
    if not (1 <= rows <= max_side and 1 <= cols <= max_side and depth <= max_depth and depth != 1):
        raise ValueError(f"shape {parts[0]} is outside 1..{max_side}")
    count = rows * cols * max(depth, 1)
    kind, data = parts[1], _unb64(parts[2])
    if kind[:1] in ("D", "F"):
        data = zlib.decompressobj().decompress(data, 16 * count + 64)
    if kind[:1] in ("d", "D") and re.fullmatch("[0-6]", kind[1:]):
        flat = [n / 10 ** int(kind[1:]) for n in _read_varints(data, count)]
    elif kind in ("f", "F") and len(data) == 4 * count:
        flat = [float(v) for v in struct.unpack(f"<{count}f", data)]
    else:
        raise ValueError(f"unknown matrix encoding {kind!r}")
    if not all(math.isfinite(v) for v in flat):
        raise ValueError("matrix holds NaN or infinity")
    grids = [tuple(tuple(flat[(g * rows + r) * cols:(g * rows + r + 1) * cols]) for r in range(rows))
             for g in range(max(depth, 1))]
    return tuple(grids) if depth else grids[0]


def as_matrix(array: Any) -> Any:
    """A numpy array (2-D or 3-D) as nested tuples of Python floats: hashable, comparable, URL-encodable."""
    if hasattr(array, "tolist"):
        array = array.tolist()
    return tuple(as_matrix(v) for v in array) if isinstance(array, (list, tuple)) else float(array)


__all__ = ["Codec", "Choice", "IntCodec", "FloatCodec", "FloatsCodec", "BoolCodec", "PairCodec", "UnitCodec", "NamesCodec", "MatrixCodec",
           "Field", "to_query", "from_query", "to_dict", "from_dict", "encode_matrix", "decode_matrix", "as_matrix",
           "field_names", "check_fields", "Matrix", "PageState"]
