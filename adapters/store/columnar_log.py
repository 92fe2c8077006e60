"""The event log read order by order, as Arrow, each topic's JSON decoded into typed columns:
what the projections' columnar rebuild consumes instead of one Python event per row.

A ``DecodedChunk`` holds whole orders (every stored event of each of its orders up to the
head) sorted by (order, version). ``decoded_chunks`` is the fast route; ``reference_chunk``
builds the same chunk from the Python decoder, row by row: the oracle the fast route is tested
against. Which columns each topic has and what each value becomes: ``columnar_schema``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.adapters.store.columnar_parse import TopicDecoder
from ordertrail.adapters.store.columnar_read import (
    canonical_order_id,
    one_array,
    order_pages,
    read_ahead,
)
from ordertrail.adapters.store.columnar_schema import (
    EVENT_TYPES,
    KNOWN,
    TIMESTAMP,
    event_type_of,
    row_cells,
)
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.logsources import Row

LOG_SCHEMA = pa.schema(
    [
        pa.field("nid", pa.int64()),
        pa.field("order_id", pa.string()),
        pa.field("version", pa.int64()),
        pa.field("event_type", pa.string()),
        pa.field("ts_recorded", TIMESTAMP),
        pa.field("ts_event", TIMESTAMP),
        pa.field("status", pa.string()),
        pa.field("payload", pa.binary()),
    ]
)
# The log's decoded columns (ts_recorded, ts_event, status): their topic columns and types.
LOG_FIELDS = ("timestamp", "ts_event", "status")
LOG_TYPES = (TIMESTAMP, TIMESTAMP, pa.string())
TOPIC_SCHEMAS: dict[str, pa.Schema] = {s.event_type: s.arrow_schema for s in KNOWN.values()}
# Each topic's empty table, made once: a chunk names every topic, and an empty table made per
# chunk and topic cost a tenth of a second of the decode at 1,000,000 events (Arrow tables
# are immutable, so one is shared).
_EMPTY_TOPICS: dict[str, pa.Table] = {t: s.empty_table() for t, s in TOPIC_SCHEMAS.items()}
# Rows a chunk holds at most (whole orders: it ends at the last order boundary before this,
# unless one order alone has more). Measured in docs/benchmarks.md: the decode's CPU per row
# is about the same from 25,000 to 100,000 rows, its peak memory grows with the chunk (the
# stored bytes, their JSON copy, the parsed columns, the next chunk decoded ahead).
ROWS_PER_CHUNK = 50_000


@dataclass
class DecodedChunk:
    """Whole orders of the log, as columns.

    ``log``: one row per stored event, sorted by (order, version), ``LOG_SCHEMA``: nid, the
    order's id as canonical UUID text, version, event_type (the class name), ts_recorded (the
    event's ``timestamp``), ts_event (null when absent), status (the event's own ``status``
    value; null where the class has none), payload (the stored bytes as stored). The three
    decoded columns (ts_recorded, ts_event, status) are null for the rows of an order in
    ``fallback``.

    ``topics``: every known event type (``EVENT_TYPES``), present even when empty -> its rows
    of the orders not in ``fallback``, ``TOPIC_SCHEMAS[event_type]``: "row" (the index of the
    event in ``log``, ascending) then every declared field, value objects flattened with ".".

    ``fallback``: the orders (canonical text) the columns cannot hold exactly — an integer
    beyond int64, an unknown topic or key, a JSON the schema refuses: none of their rows is
    in ``topics``; they go through the Python decoder and fold.
    """

    log: pa.Table
    topics: dict[str, pa.Table]
    fallback: set[str] = field(default_factory=set)


def decoded_chunks(
    log: EventLog,
    head: int,
    rows_per_chunk: int = ROWS_PER_CHUNK,
    first: int | None = None,
    threads: int = 1,
) -> Iterator[DecodedChunk]:
    """The log up to notification ``head``, order by order, in chunks of whole orders of
    about ``rows_per_chunk`` rows (the first of about ``first`` when given), each topic decoded
    into its columns in C (``columnar_parse``), the next ``threads`` decoded ahead at once;
    equal to ``reference_chunk`` of the same rows."""
    # Made before the threads start: a decoder per known topic, shared, read-only once made.
    decoders = {topic: TopicDecoder(schema, topic) for topic, schema in KNOWN.items()}
    pages = order_pages(log, head, rows_per_chunk, first)
    yield from read_ahead(pages, lambda page: _decoded(page, decoders), threads)


def _decoded(page: pa.Table, decoders: dict[str, TopicDecoder]) -> DecodedChunk:
    n = page.num_rows
    encoded = one_array(pc.dictionary_encode(page["topic"]))
    codes = np.asarray(encoded.indices)
    stored_topics: list[str] = encoded.dictionary.to_pylist()
    payloads = page["payload"]  # as read: a copy of every stored byte would cost its size
    # One array (the page is one batch: its chunk, not a copy): a take from the chunked array
    # cost 40 % more.
    stored = one_array(payloads)
    order_ids = one_array(page["order_id"])
    topics = dict(_EMPTY_TOPICS)
    refused: list[np.ndarray] = []
    for code, topic in enumerate(stored_topics):
        rows = np.flatnonzero(codes == code)
        schema = KNOWN.get(topic)
        if schema is None:
            refused.append(rows)  # a topic the columns do not know: its orders fall back
            continue
        got = decoders[topic].decode(rows, stored.take(pa.array(rows)))
        refused.append(np.asarray(got.refused, dtype=np.int64))
        topics[schema.event_type] = got.table
    fallback_rows = np.concatenate(refused) if refused else np.zeros(0, dtype=np.int64)
    fallback = pc.unique(order_ids.take(pa.array(fallback_rows, pa.int64()))).to_pylist()
    if fallback:
        falls = np.asarray(pc.is_in(order_ids, pa.array(fallback, pa.string())), dtype=bool)
        topics = {t: _without(table, falls) for t, table in topics.items()}
    event_types = pa.array([event_type_of(t) for t in stored_topics], pa.string())
    log = pa.Table.from_arrays(
        [
            page["nid"],
            order_ids,
            page["version"],
            event_types.take(encoded.indices),
            *_decoded_log_columns(n, topics),
            payloads,
        ],
        schema=LOG_SCHEMA,
    )
    return DecodedChunk(log, topics, set(fallback))


def _without(table: pa.Table, falls: np.ndarray) -> pa.Table:
    if table.num_rows == 0:
        return table
    keep = ~falls[np.asarray(table["row"])]
    return table if keep.all() else table.filter(pa.array(keep))


def _decoded_log_columns(n: int, topics: dict[str, pa.Table]) -> list[pa.Array]:
    """ts_recorded, ts_event and status of each log row, from its topic's columns (null for
    the rows in no topic table: their orders fell back)."""
    rows: list[np.ndarray] = []
    columns: list[list[Any]] = [[], [], []]
    for table in topics.values():
        if table.num_rows == 0:
            continue
        rows.append(np.asarray(table["row"]))
        for out, name, kind in zip(columns, LOG_FIELDS, LOG_TYPES, strict=True):
            none = pa.chunked_array([pa.nulls(table.num_rows, kind)])
            out.append(table[name] if name in table.column_names else none)
    where = np.full(n, -1, dtype=np.int64)
    if rows:
        at = np.concatenate(rows)
        where[at] = np.arange(len(at))
    index = pa.array(where, mask=where < 0)
    return [
        pa.chunked_array([part for col in c for part in col.chunks], kind)
        .combine_chunks()
        .take(index)
        for c, kind in zip(columns, LOG_TYPES, strict=True)
    ]


def reference_chunk(rows: list[Row]) -> DecodedChunk:
    """The chunk of ``rows`` (whole orders, any order) built from the Python decoder, one row
    at a time: slow, and the definition ``decoded_chunks`` is held to."""
    keyed = sorted(((canonical_order_id(r[1]), r[2], r) for r in rows), key=lambda k: k[:2])
    cells: list[tuple[Any, ...] | None] = []
    fallback: set[str] = set()
    for order_id, _, (_, _, _, topic, state) in keyed:
        got = row_cells(topic, bytes(state))
        cells.append(got)
        if got is None:
            fallback.add(order_id)
    log = _reference_log(keyed, cells, fallback)
    topics = _reference_topics(keyed, cells, fallback)
    return DecodedChunk(log, topics, fallback)


def _decoded_log_cells(topic: str, got: tuple[Any, ...] | None) -> tuple[Any, Any, Any]:
    schema = KNOWN.get(topic)
    if got is None or schema is None:
        return None, None, None
    names = [c.name for c in schema.columns]
    values = dict(zip(names, got, strict=True))
    return values["timestamp"], values.get("ts_event"), values.get("status")


def _reference_log(
    keyed: list[tuple[str, int, Row]], cells: list[tuple[Any, ...] | None], fallback: set[str]
) -> pa.Table:
    columns: list[list[Any]] = [[] for _ in LOG_SCHEMA]
    for (order_id, version, (nid, _, _, topic, state)), got in zip(keyed, cells, strict=True):
        decoded = _decoded_log_cells(topic, None if order_id in fallback else got)
        values = (nid, order_id, version, event_type_of(topic), *decoded, bytes(state))
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, LOG_SCHEMA, strict=True)],
        schema=LOG_SCHEMA,
    )


def _reference_topics(
    keyed: list[tuple[str, int, Row]], cells: list[tuple[Any, ...] | None], fallback: set[str]
) -> dict[str, pa.Table]:
    by_type: dict[str, list[tuple[Any, ...]]] = {t: [] for t in EVENT_TYPES}
    for i, ((order_id, _, row), got) in enumerate(zip(keyed, cells, strict=True)):
        if got is not None and order_id not in fallback:
            by_type[KNOWN[row[3]].event_type].append((i, *got))
    return {t: _table(TOPIC_SCHEMAS[t], rows) for t, rows in by_type.items()}


def _table(schema: pa.Schema, rows: Iterable[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) or [() for _ in schema]
    return pa.Table.from_arrays(
        [pa.array(list(c), type=f.type) for c, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


__all__ = [
    "LOG_SCHEMA",
    "ROWS_PER_CHUNK",
    "TOPIC_SCHEMAS",
    "DecodedChunk",
    "canonical_order_id",
    "decoded_chunks",
    "reference_chunk",
]
