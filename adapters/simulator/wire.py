"""Framing and field encoding of the TWS API socket protocol, server side.

After the client's ``API\\0`` greeting every message in both directions is a 4-byte big-endian
length followed by NUL-terminated ASCII fields. ib_async parses each field with ``int()``,
``float()`` or ``bool(int())`` and swallows (only logs) any failure, so a badly encoded field is
silent on the client: this module is the single place that decides how a value looks on the wire.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

GREETING: Final = b"API\0"
# IB's "no value" doubles and ints. TWS writes Java's Double.MAX_VALUE with Java's spelling.
UNSET_DOUBLE_TEXT: Final = "1.7976931348623157E308"
UNSET_INTEGER: Final = 2**31 - 1
MAX_MESSAGE: Final = 16 * 1024 * 1024
# Java's and Python's spellings of the sentinel, lower-cased for comparison.
_UNSET_DOUBLE_SPELLINGS: Final = frozenset({"1.7976931348623157e308", "1.7976931348623157e+308"})

Field = str | int | Decimal | bool | None


class ProtocolError(Exception):
    """The peer sent something the TWS API protocol does not allow."""


def encode_field(value: Field) -> str:
    """One field as TWS writes it.

    bool must be tested before int (bool is an int): ib_async reads flags with ``int()``, and
    ``"True"`` would break it. Decimals keep their exact digits; whole numbers drop the fraction
    because TWS sends quantities like ``"100"``, and a ``"1.0"`` in an int field breaks ``int()``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value)
    return value


def format_decimal(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def encode_message(fields: Sequence[Field]) -> bytes:
    text = "".join(encode_field(f) + "\0" for f in fields)
    return frame(text.encode("ascii", errors="replace"))


def split_fields(payload: bytes) -> list[str]:
    """Fields of one message body; the trailing NUL yields an empty last element to drop."""
    fields = payload.decode("ascii", errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(4)
    (size,) = struct.unpack(">I", header)
    if size > MAX_MESSAGE:
        raise ProtocolError(f"message of {size} bytes exceeds the {MAX_MESSAGE} byte limit")
    return await reader.readexactly(size)


async def read_greeting(reader: asyncio.StreamReader) -> tuple[int, int, str]:
    """Read ``API\\0`` and the ``v<min>..<max>[ options]`` range; return (min, max, options)."""
    greeting = await reader.readexactly(len(GREETING))
    if greeting != GREETING:
        raise ProtocolError(f"expected the API greeting, got {greeting!r}")
    text = (await read_frame(reader)).decode("ascii", errors="replace")
    versions, _, options = text.partition(" ")
    low, sep, high = versions.removeprefix("v").partition("..")
    try:
        return int(low), int(high if sep else low), options
    except ValueError as exc:
        raise ProtocolError(f"unreadable client version range {text!r}") from exc


class FieldReader:
    """Cursor over an incoming message's fields, typed as the client wrote them.

    The client writes unset doubles and ints as ``""`` (ib_async's ``makeEmpty``), so empty
    numbers read as None rather than failing.
    """

    def __init__(self, fields: Sequence[str]) -> None:
        self._fields = list(fields)
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._fields) - self._pos

    def text(self) -> str:
        if self._pos >= len(self._fields):
            raise ProtocolError(f"message ended after {len(self._fields)} fields")
        value = self._fields[self._pos]
        self._pos += 1
        return value

    def texts(self, count: int) -> list[str]:
        """The next ``count`` fields at once."""
        end = self._pos + count
        if end > len(self._fields):
            raise ProtocolError(f"message ended after {len(self._fields)} fields")
        values = self._fields[self._pos : end]
        self._pos = end
        return values

    def integer(self) -> int | None:
        raw = self.text()
        if raw == "":
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise ProtocolError(f"field {self._pos - 1}: {raw!r} is not an int") from exc

    def integer_or(self, default: int) -> int:
        value = self.integer()
        return default if value is None else value

    def decimal(self) -> Decimal | None:
        raw = self.text()
        if raw == "" or raw.lower() in _UNSET_DOUBLE_SPELLINGS:
            return None
        if raw == "Infinite":
            return Decimal("Infinity")
        try:
            return Decimal(raw)
        except ArithmeticError as exc:
            raise ProtocolError(f"field {self._pos - 1}: {raw!r} is not a number") from exc

    def flag(self) -> bool:
        raw = self.text()
        return raw not in ("", "0")
