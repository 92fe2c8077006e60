"""The columnar decoder's checks of a Decimal's and a time's text (``columnar_texts``, through
``columnar_parse._text_ok``): a text it takes as is must be the one ``str(Decimal)`` or
``datetime.isoformat`` writes, or the column would differ from the Python decoder's value;
every other text goes through the decoder, which is exact but slow. The checks are byte
comparisons at fixed places; these properties hold them to the regular expressions they
replaced, and to ``str(Decimal)`` and the Python decoder themselves."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import example, given
from hypothesis import strategies as st

from ordertrail.adapters.store.columnar_parse import _text_ok
from ordertrail.adapters.store.columnar_schema import DATETIME, DECIMAL, TIMESTAMP

_PLAIN = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_TINY = "0.000000"
# The expression the time check replaced: ``datetime.isoformat`` of an aware time.
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{6})?"
    r"[+-]([01][0-9]|2[0-3]):[0-5][0-9]"
)

# Texts made mostly of what a Decimal's text is made of, so that most are near the boundary.
texts = st.text(alphabet="0123456789.-+eE ", max_size=14) | st.decimals(
    allow_nan=False, allow_infinity=False
).map(str)


def replaced_check(text: str) -> bool:
    tiny = text.startswith(_TINY) or text.startswith("-" + _TINY)
    return _PLAIN.fullmatch(text) is not None and not tiny


def as_written(text: str) -> bool:
    try:
        return str(Decimal(text)) == text
    except InvalidOperation:
        return False


@given(st.lists(st.none() | texts, max_size=30))
@example(["0", "-0", "0.000001", "0.0000001", "0.000000", "-0.0000009", "0.00000", "00", "1."])
@example(["0.0000010", "10.000000", "-0.1", "0.", ".5", "1E-7", "-", "", "--1", "-.5", "1.2.3"])
@example(["٣", "1\x00", "0.", "-0.0000001", "12.", "0.0", "-00", "1-", "0.00000010"])
def test_a_decimal_text_is_taken_as_is_exactly_when_str_writes_it_so(
    values: list[str | None],
) -> None:
    taken = _text_ok(pa.chunked_array([pa.array(values, pa.string())]), DECIMAL).tolist()
    assert taken == [v is None or replaced_check(v) for v in values]
    assert all(as_written(v) for v, ok in zip(values, taken, strict=True) if ok and v is not None)


def cast_ok(text: str) -> bool:
    try:
        pc.cast(pa.array([text], pa.string()), TIMESTAMP)
        return True
    except pa.ArrowInvalid:
        return False


def python_reads(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.utcoffset() is not None else None


# An aware time as isoformat writes it, then a few of its characters replaced by what a time's
# text is made of (and what Arrow's reader of times takes besides: a space, "Z", other digits).
_ALPHABET = "0123456789-:T+.Z x\u0663/"
times = st.datetimes(timezones=st.timezones()).map(datetime.isoformat)
edited_times = st.tuples(
    times, st.lists(st.tuples(st.integers(0, 40), st.sampled_from(_ALPHABET)), max_size=3)
).map(lambda t: "".join(_replaced(t[0], t[1])))


def _replaced(text: str, edits: list[tuple[int, str]]) -> list[str]:
    chars = list(text)
    for at, char in edits:
        if at < len(chars):
            chars[at] = char
        else:
            chars.append(char)  # a longer text
    return chars


@given(st.lists(st.none() | edited_times | st.text(_ALPHABET, max_size=34), max_size=20))
@example(["2026-01-05T14:30:00+24:00", "2026-01-05T14:30:00+23:60", "2026-01-05T24:00:00+00:00"])
@example(["2026-01-05T14:30:60+00:00", "2026-01-05T14:30:00Z", "2026-01-05 14:30:00+00:00"])
@example(["2026-01-05T14:30:00.1234567+00:00", "2026-01-05T14:30:00.12345+00:00", ""])
@example(["0000-01-05T14:30:00+00:00", "2026-01-05T14:30:00+0000", "2026-01-05T14:30:00"])
def test_a_time_text_is_taken_as_is_exactly_when_isoformat_writes_it_so(
    values: list[str | None],
) -> None:
    # The check and the cast after it together: a text the cast refuses goes to the decoder.
    taken = _text_ok(pa.chunked_array([pa.array(values, pa.string())]), DATETIME).tolist()
    for value, ok in zip(values, taken, strict=True):
        if value is None:
            assert ok
            continue
        replaced = _ISO.fullmatch(value) is not None and not value.startswith("0000")
        assert (ok and cast_ok(value)) == (replaced and cast_ok(value)), value
        if ok and cast_ok(value):
            read = python_reads(value)
            assert read is not None, value
            assert read.isoformat() == value
            cast = pc.cast(pa.array([value], pa.string()), TIMESTAMP)[0].as_py()
            assert cast == read, value
