"""One topic's stored JSON decoded into its columns (``columnar_schema``) in C: Arrow's JSON
reader with the topic's explicit schema, then Arrow compute for what the reader cannot check.

The reader is strict where the columns must be exact — an int beyond int64, a value of another
JSON type, an unknown key, a line that is not one object fail the parse — but it cannot tell
an absent key from a null, it passes invalid UTF-8 inside a string on, and it would accept
texts the Python decoder reads otherwise (a Decimal's text is kept as stored, where the
decoder gives ``str(Decimal(text))``). So a row goes through the per-row conversion
(``row_cells``, the reference's own) instead when:

* its bytes are not one object (they do not start with "{" and end with "}") or not UTF-8;
* the parse of the topic's rows fails: first the rows with a dict/list field that is not null
  go aside (a Flex import's provenance: its JSON text is the decoder's), then the rest is
  split in eight, recursively, until the rows that fail are alone;
* a Decimal's text is not in the form ``str(Decimal)`` writes, a time not in the form
  ``datetime.isoformat`` writes or one Arrow's cast refuses (``columnar_texts``), or a value
  object's field with a default is null or absent (absent, it reads as the default; null, it
  is refused).

What the rows parsed here may still lack (a null where the class declares none, an enum value
the class does not know) makes them refused: their orders fall back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.json as pj  # type: ignore[import-untyped]

from ordertrail.adapters.store.columnar_schema import (
    DATETIME,
    DECIMAL,
    ENUM,
    JSON,
    TIMESTAMP,
    Column,
    TopicSchema,
    row_cells,
)
from ordertrail.adapters.store.columnar_texts import decimal_form, time_form

_BLOCK = 1 << 24
_EMPTY = pa.scalar(b"", pa.binary())
_NEWLINE = pa.scalar(b"\n", pa.binary())


@dataclass
class TopicColumns:
    """A topic's rows decoded: ``table`` (the topic's Arrow schema, "row" ascending) and the
    log rows the columns cannot hold (their orders fall back)."""

    table: pa.Table
    refused: np.ndarray


def _parse_type(col: Column) -> pa.DataType:
    # Times and Decimals are parsed as text and checked before they are cast; a dict/list
    # field is parsed only when null (any other value was sent through the decoder).
    if col.kind == DATETIME:
        return pa.string()
    if col.kind == JSON:
        return pa.null()
    return col.arrow_type


def parse_schema(schema: TopicSchema) -> pa.Schema:
    fields: list[pa.Field] = []
    grouped = {g.name: g for g in schema.groups}
    done: set[str] = set()
    for col in schema.columns:
        top = col.path[0]
        if top in done:
            continue
        done.add(top)
        if top in grouped:
            members = [c for c in schema.columns if c.path[0] == top]
            fields.append(
                pa.field(top, pa.struct([pa.field(c.path[1], _parse_type(c)) for c in members]))
            )
        else:
            fields.append(pa.field(top, _parse_type(col)))
    fields.append(pa.field("~chain", pa.string()))
    return pa.schema(fields)


def slow_pattern(schema: TopicSchema) -> str:
    """A regex over the stored bytes naming rows the reader cannot take: a dict/list field
    that is not null (its JSON text is the decoder's)."""
    names = [c.name for c in schema.columns if c.kind == JSON]
    return rf'"({"|".join(names)})"\s*:\s*[^n]' if names else "^$"


def _well_formed(payloads: pa.Array) -> np.ndarray:
    """Whether each payload starts with "{" and ends with "}": then the reader makes at least
    one row of it or fails, and a parse of exactly as many rows as payloads is one a payload
    (a payload holding two objects cannot hide beside one making none)."""
    offsets, data = _layout(payloads)
    if data is None:
        return np.zeros(len(payloads), dtype=bool)
    starts, ends = offsets[:-1], offsets[1:]
    ok = ends > starts
    out = np.zeros(len(payloads), dtype=bool)
    out[ok] = (data[starts[ok]] == ord("{")) & (data[ends[ok] - 1] == ord("}"))
    return out


def _utf8(payloads: pa.Array) -> np.ndarray:
    """Whether each payload is valid UTF-8: Arrow's reader would pass invalid bytes inside a
    string on into the column, where the decoder refuses the JSON."""
    try:
        payloads.cast(pa.string())
        return np.ones(len(payloads), dtype=bool)
    except pa.ArrowInvalid:
        pass
    out = np.ones(len(payloads), dtype=bool)
    for i, payload in enumerate(payloads.to_pylist()):
        try:
            payload.decode()
        except UnicodeDecodeError:
            out[i] = False
    return out


def _layout(payloads: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """The offsets and data of a binary array, as numpy views."""
    offsets = np.frombuffer(payloads.buffers()[1], dtype=np.int32)
    offsets = offsets[payloads.offset : payloads.offset + len(payloads) + 1]
    data = payloads.buffers()[2]
    return offsets, None if data is None else np.frombuffer(data, dtype=np.uint8)


def _read(payloads: pa.Array, schema: pa.Schema, unexpected: str = "error") -> pa.Table | None:
    """The payloads parsed, one a line, or None when the reader refuses them or does not make
    one row of each. Every payload is well formed (``_well_formed``) and a JSON string holds
    no raw newline, so no object can run from one payload into the next. ``unexpected``: what
    the reader does with a key the schema does not name (the decoder's is "error"; the bench
    measures "ignore")."""
    lines = pc.binary_join_element_wise(payloads, _EMPTY, _NEWLINE)
    offsets, _ = _layout(lines)
    start, end = int(offsets[0]), int(offsets[-1])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
    try:
        table = pj.read_json(
            pa.BufferReader(lines.buffers()[2].slice(start, end - start)),
            read_options=pj.ReadOptions(block_size=_BLOCK, use_threads=False),
            parse_options=options,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return table if table.num_rows == len(payloads) else None


def _parsed(payloads: pa.Array, schema: pa.Schema, at: int) -> Iterator[tuple[int, Any]]:
    """(first position, table) of each run of rows the reader took, and (position, None) for
    each row it refused alone: a refused batch is split in eight until its refusals are
    single rows."""
    if len(payloads) == 0:
        return
    table = _read(payloads, schema)
    if table is not None:
        yield at, table
    elif len(payloads) == 1:
        yield at, None
    else:
        step = -(-len(payloads) // 8)
        for start in range(0, len(payloads), step):
            yield from _parsed(payloads.slice(start, step), schema, at + start)


def _text_ok(values: pa.ChunkedArray, kind: str) -> np.ndarray:
    """Whether each text is in the form the column takes as is (null: true)."""
    if values.null_count == len(values):
        return np.ones(len(values), dtype=bool)
    return decimal_form(values) if kind == DECIMAL else time_form(values)


def _times(values: Any) -> tuple[Any, np.ndarray]:
    """Texts cast to UTC times, and which failed the cast (an impossible date, which the
    decoder refuses too): those are cast one by one to find them."""
    try:
        return pc.cast(values, TIMESTAMP), np.zeros(len(values), dtype=bool)
    except pa.ArrowInvalid:
        pass
    out: list[Any] = []
    bad = np.zeros(len(values), dtype=bool)
    for i, text in enumerate(values.to_pylist()):
        try:
            out.append(pc.cast(pa.scalar(text, pa.string()), TIMESTAMP).value)
        except pa.ArrowInvalid:
            out.append(None)
            bad[i] = True
    return pa.array(out, TIMESTAMP), bad


class TopicDecoder:
    """Decodes the rows of one topic (see the module docstring)."""

    def __init__(self, schema: TopicSchema, topic: str) -> None:
        self.schema = schema
        self.topic = topic
        self.arrow_schema = schema.arrow_schema
        self.read_schema = parse_schema(schema)
        self.slow = slow_pattern(schema)

    def decode(self, rows: np.ndarray, payloads: pa.Array) -> TopicColumns:
        """``payloads`` (this topic's stored bytes) of the log rows ``rows`` (ascending)."""
        fast = np.flatnonzero(_well_formed(payloads) & _utf8(payloads))
        aside = _complement(fast, len(payloads))
        fast_payloads = payloads if not aside.size else payloads.take(pa.array(fast))
        whole = _read(fast_payloads, self.read_schema)
        parsed: Iterable[tuple[int, Any]] = [(0, whole)]
        if whole is None:
            # Some rows the reader cannot take: first those a scan of their bytes names (a
            # dict/list field that is not null: a Flex import's provenance), then the split.
            named = np.asarray(pc.match_substring_regex(fast_payloads, self.slow), dtype=bool)
            aside = np.union1d(aside, fast[named])
            fast = fast[~named]
            fast_payloads = payloads.take(pa.array(fast))
            parsed = _parsed(fast_payloads, self.read_schema, 0)
        parts, refused, redo = [], [], [aside]
        for start, table in parsed:
            if table is None:
                redo.append(fast[start : start + 1])
                continue
            positions = fast[start : start + table.num_rows]
            columns, again, refuse = self._columns(table)
            redo.append(positions[again])
            refused.append(rows[positions[refuse]])
            keep = ~(again | refuse)
            kept = [c.filter(pa.array(keep)) for c in columns] if not keep.all() else columns
            parts.append(
                pa.Table.from_arrays(
                    [pa.array(rows[positions[keep]], pa.int64()), *kept],
                    schema=self.arrow_schema,
                )
            )
        slow = np.sort(np.concatenate(redo))
        if slow.size:
            by_decoder, refused_slow = self._by_decoder(rows, payloads, slow)
            parts.append(by_decoder)
            refused.append(refused_slow)
        table = pa.concat_tables(parts) if parts else self._empty()
        if slow.size:
            table = table.take(pc.sort_indices(table["row"]))
        refused_rows = np.concatenate(refused) if refused else np.zeros(0, np.int64)
        return TopicColumns(table.combine_chunks(), np.sort(refused_rows))

    def _empty(self) -> pa.Table:
        return self.arrow_schema.empty_table()

    def _by_decoder(
        self, rows: np.ndarray, payloads: pa.Array, positions: np.ndarray
    ) -> tuple[pa.Table, np.ndarray]:
        """The rows the reader could not decide, converted one by one (``row_cells``)."""
        values: list[list[Any]] = [[] for _ in self.arrow_schema]
        refused = []
        for p in positions.tolist():
            got = row_cells(self.topic, payloads[p].as_py())
            if got is None:
                refused.append(int(rows[p]))
                continue
            for column, value in zip(values, (int(rows[p]), *got), strict=True):
                column.append(value)
        arrays = [pa.array(v, f.type) for v, f in zip(values, self.arrow_schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=self.arrow_schema), np.array(refused, np.int64)

    def _columns(self, table: pa.Table) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """The parsed table as the topic's columns; which rows go through the decoder after
        all (a text in another form) and which the columns refuse."""
        flat = table.flatten()
        n = table.num_rows
        redo = np.zeros(n, dtype=bool)
        refused = np.zeros(n, dtype=bool)
        present = {g.name: _valid(table[g.name]) for g in self.schema.groups}
        for g in self.schema.groups:
            if not g.optional:
                refused |= ~present[g.name]
        out = []
        for col in self.schema.columns:
            inside = present.get(col.path[0]) if len(col.path) == 2 else None
            values = _typed(flat[col.name], col, redo)
            if col.fills_default and inside is not None:
                # Absent (an older event: the default) or null (refused): the decoder tells.
                redo |= ~_valid(values) & inside
            if not col.optional:
                missing = ~_valid(values)
                refused |= missing if inside is None else (missing & inside)
            if col.kind == ENUM:
                # ``is_in`` says False (not null) for a null: a null is judged above, as absent
                # (an optional value object's fields when it has none: a cancel's terms).
                known = pc.is_in(values, pa.array(sorted(col.enum_values), pa.string()))
                refused |= ~np.asarray(known, dtype=bool) & _valid(values)
            out.append(values)
        # A row the decoder reads after all is refused or not by the decoder alone.
        return out, redo, refused & ~redo


def _complement(positions: np.ndarray, n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[positions] = False
    return np.flatnonzero(mask)


def _valid(values: Any) -> np.ndarray:
    if values.null_count == 0:
        return np.ones(len(values), dtype=bool)
    return np.asarray(pc.is_valid(values), dtype=bool)


def _typed(values: pa.ChunkedArray, col: Column, redo: np.ndarray) -> Any:
    """A parsed column as its column type; the rows whose text is not in the form the column
    takes as is are marked in ``redo`` (in place)."""
    if col.kind == JSON:
        return pa.nulls(len(values), pa.string())
    if col.kind not in (DECIMAL, DATETIME):
        return values
    redo |= ~_text_ok(values, col.kind)
    if col.kind == DECIMAL:
        return values
    try:
        # Every text casts (the rows marked are redone whatever their cell): no copy of the
        # column with those rows nulled first.
        return pc.cast(values, TIMESTAMP)
    except pa.ArrowInvalid:
        pass
    texts = pc.if_else(pa.array(redo), pa.scalar(None, pa.string()), values)
    times, bad = _times(texts)
    redo |= bad
    return times


__all__ = ["TopicColumns", "TopicDecoder", "parse_schema", "slow_pattern"]
