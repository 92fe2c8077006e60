"""Which Decimal and time texts the columnar decoder takes as is: a text it takes must read as
the Python decoder reads it, every other one goes through that decoder (exact, slow).

* A Decimal's text is taken when it is in the form ``str(Decimal)`` writes without an
  exponent: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?``, less the texts ``str`` writes with one (below
  1E-6: a fraction of "0." starting with six zeros, ``0.0000001`` is written ``1E-7``).
* A time's text is taken when it has the shape ``datetime.isoformat`` gives an aware time —
  ``YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM``, 25 or 32 characters with "-", "T", ":", "." and
  the offset's sign in their places — and is not in year 0 (Arrow reads it, Python has no
  year 0). Its digits and their ranges (the offset's hours below 24, its minutes below 60)
  are checked by the cast to a timestamp that follows (``columnar_parse._times``): a text
  the cast refuses goes through the decoder too.

The time's check was a regular expression (RE2, one match a value: about 0.1 µs, 0.2 s of
CPU at 1,000,000 events); it is now a few comparisons of bytes at fixed places over the
column's buffer, in numpy (a quarter of the cost). The Decimal's stays one expression: the
same comparisons for its variable length cost about what RE2 does.
``tests/projections/test_columnar_parse.py`` holds both to the expressions and to Python.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

# The texts ``str(Decimal)`` writes without an exponent; it switches to one below 1E-6
# (``0.0000001`` is written ``1E-7``), so a text starting "0.000000" goes through the decoder:
# after "0." either fewer than six digits or a non-zero digit among the first six. One
# expression, so that a column costs one scan.
_DECIMAL = r"^-?(0(\.([0-9]{1,5}|0{0,5}[1-9][0-9]*))?|[1-9][0-9]*(\.[0-9]+)?)$"

_MINUS, _PLUS, _DOT, _COLON, _T, _ZERO = (ord(c) for c in "-+.:T0")
# The places of a time's separators, from its start, in both of isoformat's lengths.
_TIME_MARKS = ((4, _MINUS), (7, _MINUS), (10, _T), (13, _COLON), (16, _COLON))
_SHORT, _LONG = 25, 32  # without and with microseconds


def decimal_form(values: pa.ChunkedArray) -> np.ndarray:
    """Whether each text is in the form ``str(Decimal)`` writes (null: true)."""
    ok = pc.match_substring_regex(values, _DECIMAL)
    return np.asarray(pc.fill_null(ok, True), dtype=bool)


def time_form(values: pa.ChunkedArray) -> np.ndarray:
    """Whether each text has the shape ``isoformat`` gives an aware time (null: true)."""
    return _per_chunk(values, _time_chunk)


def _per_chunk(values: pa.ChunkedArray, check: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    parts = [check(c) for c in values.chunks if len(c)]
    ok = np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    if values.null_count:
        ok |= np.asarray(values.is_null(), dtype=bool)
    return ok


def _time_chunk(chunk: pa.Array) -> np.ndarray:
    # Every byte looked at is inside a text of 25 or 32 bytes.
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
    offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1].astype(np.int64)
    buffer = chunk.buffers()[2]
    data = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    ok: np.ndarray = (lengths == _SHORT) | (lengths == _LONG)
    at, end = starts[ok], offsets[1:][ok]
    good = (data[end - 3] == _COLON) & ((data[end - 6] == _PLUS) | (data[end - 6] == _MINUS))
    for place, mark in _TIME_MARKS:
        good &= data[at + place] == mark
    good &= (lengths[ok] == _SHORT) | (data[at + 19] == _DOT)
    good &= ~((data[at] == _ZERO) & (data[at + 1] == _ZERO) & (data[at + 2] == _ZERO)
              & (data[at + 3] == _ZERO))  # fmt: skip
    ok[ok] = good
    return ok


__all__ = ["decimal_form", "time_form"]
