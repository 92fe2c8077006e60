"""The event log read order by order, as Arrow, each topic's JSON decoded into typed columns:
what the projections' columnar rebuild consumes instead of one Python event per row.

A ``DecodedChunk`` holds whole orders (every stored event of each of its orders up to the
head) sorted by (order, version). ``decoded_chunks`` is the fast route; ``reference_chunk``
builds the same chunk from the Python decoder, row by row: the oracle the fast route is tested
against. Which columns each topic has and what each value becomes: ``columnar_schema``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pyarrow as pa  # type: ignore[import-untyped]

from ordertrail.adapters.store.columnar_schema import (
    EVENT_TYPES,
    KNOWN,
    TIMESTAMP,
    event_type_of,
    row_cells,
)
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
TOPIC_SCHEMAS: dict[str, pa.Schema] = {s.event_type: s.arrow_schema for s in KNOWN.values()}


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


def canonical_order_id(oid: Any) -> str:
    """An originator id as stored (SQLite's hex text, PostgreSQL's UUID) as canonical text."""
    return str(oid if isinstance(oid, UUID) else UUID(str(oid)))


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


__all__ = ["LOG_SCHEMA", "TOPIC_SCHEMAS", "DecodedChunk", "canonical_order_id", "reference_chunk"]
