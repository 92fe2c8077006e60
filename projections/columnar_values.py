"""Exact money in columns for the rebuild's columnar orders pass
(docs/adr/0105-orders-pass-from-columns.md).

The decoded log gives every Decimal as the exact text the store holds. Arrow has no cumulative
sum and no grouped "last" for its decimal type, so the columnar route works on decimals as
integers scaled by 10**10 (the tables' scale) in int64. That is exact only for values that
have at most 10 decimals and whose scaled sums stay inside int64: ``scaled`` says, per value,
whether it qualifies, and an order holding one that does not goes through the fold instead.
Values written in exponent form (``1E+2``, which ``str(Decimal)`` gives for some) are sent
there too, rather than parsed a second way.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.projections.schema import DEC

SCALE = 10
# |value| < 10**8: a scaled value is below 10**18, so sums of a few of them stay in int64
# (orders whose sums come near the bound are checked separately: ``beyond_int64_sums``).
_PLAIN = r"^-?[0-9]{1,8}(\.[0-9]{1,10})?$"
_INT64_SAFE = 4e18


def scaled(text: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decimal texts as (scaled int64 values, valid mask, refused mask): a null is valid=False,
    refused=False; a text the columns cannot hold exactly is refused (its value is 0)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    valid = pc.is_valid(text)
    plain = pc.match_substring_regex(text, _PLAIN)
    ok = pc.and_kleene(valid, plain)
    ok = pc.fill_null(ok, False)
    kept = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    as_dec = kept.cast(pa.decimal128(38, SCALE))
    values = _low_words(as_dec)
    okn = ok.to_numpy(zero_copy_only=False)
    validn = valid.to_numpy(zero_copy_only=False)
    values = np.where(okn, values, 0)
    return values, validn, validn & ~okn


def _low_words(array: pa.Array) -> np.ndarray:
    """The low 64 bits of each decimal128 value (exact when it fits int64)."""
    n = len(array)
    if n == 0:
        return np.zeros(0, np.int64)
    data = array.buffers()[1]
    words = np.frombuffer(data, dtype=np.int64, count=2 * (array.offset + n))
    return words[2 * array.offset :: 2].copy()


def decimals(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Scaled int64 values as ``decimal(38, 10)`` (null where not ``valid``)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    n = len(values)
    words = np.empty((n, 2), np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63  # the sign, extended to 128 bits
    buffers: list[pa.Buffer | None] = [None, pa.py_buffer(words.tobytes())]
    nulls = 0
    if valid is not None and not valid.all():
        bits = pa.array(valid, pa.bool_())
        buffers[0] = bits.buffers()[1]
        nulls = int(n - valid.sum())
    return pa.Array.from_buffers(DEC, n, buffers, null_count=nulls)


def as_decimal(value: int) -> Decimal:
    """One scaled value as the Decimal it stands for."""
    return Decimal(value).scaleb(-SCALE)


def beyond_int64_sums(groups: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Whether each of ``count`` groups (``groups``: each value's group number) has an absolute
    sum of its scaled ``values`` that does not stay well inside int64 (its partial sums might
    not be exact)."""
    sums = np.bincount(groups, np.abs(values.astype(float)), minlength=count)
    return sums >= _INT64_SAFE


__all__ = ["SCALE", "as_decimal", "beyond_int64_sums", "decimals", "scaled"]
