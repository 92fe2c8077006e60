"""The columnar decoder's check of a Decimal's text (``columnar_parse._text_ok``): a text it
takes as is must be the one ``str(Decimal)`` writes, or the column would differ from the
Python decoder's value; every other text goes through the decoder, which is exact but slow.
The check is one expression; these properties hold it to the definition it replaced (the
plain-notation form, minus the texts starting "0.000000", which ``str`` writes with an
exponent) and to ``str(Decimal)`` itself."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import pyarrow as pa
from hypothesis import example, given
from hypothesis import strategies as st

from ordertrail.adapters.store.columnar_parse import _text_ok
from ordertrail.adapters.store.columnar_schema import DECIMAL

_PLAIN = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
_TINY = "0.000000"

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
@example(["0.0000010", "10.000000", "-0.1", "0.", ".5", "1E-7", "-", ""])
def test_a_decimal_text_is_taken_as_is_exactly_when_str_writes_it_so(
    values: list[str | None],
) -> None:
    taken = _text_ok(pa.chunked_array([pa.array(values, pa.string())]), DECIMAL).tolist()
    assert taken == [v is None or replaced_check(v) for v in values]
    assert all(as_written(v) for v, ok in zip(values, taken, strict=True) if ok and v is not None)
