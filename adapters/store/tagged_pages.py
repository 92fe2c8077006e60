"""The order-state rebuild's SQLite route: the log read a range of rowids at a time by ADBC on
a reader thread, each range made into one buffer of JSON lines, which msgspec decodes in one
call into the fold's structs on the caller's thread (docs/adr/0160).

Read row by row, each stored event cost the fold a step of SQLite's cursor and five Python
objects (a tuple, the id, the topic, the bytes, the version) before msgspec saw its JSON, and a
call into msgspec of its own: together more than the decode itself. Here Arrow builds every
line in C, off the interpreter's lock, while the caller folds the page before:

    {"~t":<the topic's tag>,<the stored object's members>,"~o":"<order id>","~v":<version>}

msgspec reads the tag to pick the topic's struct (``struct_shape``'s fields, plus the order id
and version the line carries). The order id and version come after the stored members, so a
stored member of the same name cannot stand in for them (a JSON object's last member of a
name wins); a stored ``~t`` of another value is refused. A range goes row by row instead, as
the fold reads any other source (``OrderFold.rows``), when a line could not stand for its row
exactly: a topic whose event msgspec cannot type, an order id that is not SQLite's hex text,
stored bytes that are not one JSON object, or a page msgspec refuses.
"""

from __future__ import annotations

import itertools
import threading
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from ordertrail.adapters.store.columnar_read import one_array, read_ahead, read_arrow
from ordertrail.adapters.store.logsources import Row, SqliteSource, held_open
from ordertrail.adapters.store.order_fold import CREATED_TOPIC, REFUSED, is_order_topic
from ordertrail.adapters.store.typed_decode import Fields, finish_lines, struct_shape

# Rows a range spans: the decode's CPU per row is flat from 25,000 rows up, and every range in
# flight holds its stored bytes twice (as read and as lines).
RANGE_ROWS = 50_000
# Ranges read ahead at once, and lines decoded a call. The fold's thread holds the
# interpreter's lock through each msgspec call, and the reader needs it for a moment at every
# Arrow call it makes: with one range ahead and a call per range the fold waited for the
# reader 0.7-1.9 s of a 5-7 s rebuild at 1,000,000 events; two ranges ahead, 0.2-0.6 s.
AHEAD = 2
PIECE_LINES = 8_192
_RANGE = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    "WHERE rowid > ? AND rowid <= ?"
)
_HEX_ID = "^[0-9a-f]{32}$"
_DROP = b""  # the tag of a topic no order state folds (the session log's messages)


@dataclass
class TaggedPage:
    """One range of the log: its rows as read and, when every kept row could be a line,
    the lines (in pieces of ``PIECE_LINES``). ``kept``: the rows the lines stand for, when
    some were left out (the rows of topics no order state folds). ``read``: the rows, when
    the driver could not read them as columns."""

    table: pa.Table | None
    lines: list[memoryview] | None = None
    kept: np.ndarray | None = None
    decoder: msgspec.json.Decoder[Any] | None = None
    read: list[Row] | None = None

    @property
    def count(self) -> int:
        return int(self.table.num_rows) if self.table is not None else len(self.rows)

    @property
    def last(self) -> int:
        """The last rowid read (0: the range held none)."""
        if self.table is None:
            return max((int(r[0]) for r in self.rows), default=0)
        return int(pc.max(self.table.column(0)).as_py() or 0) if self.count else 0

    @cached_property
    def rows(self) -> list[Row]:
        """The page's rows, as every source gives them (the ids and topics as text)."""
        if self.read is not None or self.table is None:
            return self.read or []
        return list(zip(*(one_array(c).to_pylist() for c in self.table.columns), strict=True))

    def row_of(self, line: int) -> Row:
        """The stored row behind line number ``line``."""
        return self.rows[line if self.kept is None else int(self.kept[line])]


class TaggedStructs:
    """Each topic's tag and struct, learned by the reader thread as topics appear; the
    decoder of every struct learned so far goes out with each page."""

    def __init__(self) -> None:
        self._tags: dict[str, bytes | None] = {}
        self._structs: list[type] = []
        self._decoder: msgspec.json.Decoder[Any] | None = None
        self._lock = threading.Lock()

    def tag(self, topic: str) -> bytes | None:
        """The tag's text; ``_DROP`` for a topic no order state folds; None for an order's
        topic msgspec cannot type, or a topic no class answers (its rows go row by row, where
        the general codec decides)."""
        if topic in self._tags:
            return self._tags[topic]
        with self._lock:
            try:
                found = self._learn(topic)
            except Exception:
                found = None
            self._tags[topic] = found
            return found

    def _learn(self, topic: str) -> bytes | None:
        if not is_order_topic(topic):
            return _DROP
        struct = tagged_struct(topic, len(self._structs) + 1)
        if struct is None:
            return None
        self._structs.append(struct)
        self._decoder = msgspec.json.Decoder(typing.Union[tuple(self._structs)])  # noqa: UP007
        return str(len(self._structs)).encode()

    @property
    def decoder(self) -> msgspec.json.Decoder[Any] | None:
        return self._decoder


def tagged_struct(topic: str, tag: int) -> type | None:
    """The fold's struct of ``topic`` (``struct_shape``) tagged ``tag``, with the stored order
    id (SQLite's hex text) and version, and its own ``fold_into(states)``: each field's step
    after the parse, then the event's ``new_state`` or ``fold`` on the order's state; returns
    that state, None when no state is held for the order, or ``REFUSED``. None: msgspec cannot
    type the class."""
    cls, behaviour, fields, steps = struct_shape(topic)
    ns: dict[str, Any] = {"REFUSED": REFUSED}
    body = ["def fold_into(e, out):", "    try:"]
    body += [f"    {line}" for line in finish_lines(steps, ns)] or ["        pass"]
    body += ["    except Exception:", "        return REFUSED"]
    if topic == CREATED_TOPIC:
        body += ["    s = out[e.stored_id] = e.new_state()", "    return s"]
    else:
        body += ["    s = out.get(e.stored_id)", "    if s is not None:", "        e.fold(s)"]
        body += ["    return s"]
    exec(compile("\n".join(body), "<ordertrail tagged fold>", "exec"), ns)
    if {"fold_into", "stored_topic", "stored_id", "stored_version"} & behaviour.keys():
        return None  # a name of the event's own: keep to the general route
    namespace = {**behaviour, "fold_into": ns["fold_into"], "stored_topic": topic}
    ids: Fields = [("stored_id", str), ("stored_version", int)]
    try:
        return msgspec.defstruct(
            f"Tagged{cls.__name__}",
            [*ids, *fields],
            namespace=namespace,
            gc=False,
            tag_field="~t",
            tag=tag,
            rename={"stored_id": "~o", "stored_version": "~v"},
        )
    except (TypeError, ValueError):
        return None


def read_ranges(path: Path, table: str, start: int, head: int) -> Iterator[TaggedPage]:
    """The log after rowid ``start`` up to ``head``, ``RANGE_ROWS`` rowids a page, each read
    and made into lines on a reader thread while the caller folds the one before."""
    structs = TaggedStructs()

    def read(low: int) -> TaggedPage:
        page = _range(path, table, low, min(low + RANGE_ROWS, head))
        if page is None or isinstance(page, list):
            return TaggedPage(None, read=page or [])
        return tagged(page, structs)

    with held_open(path):
        yield from read_ahead(iter(range(start, head, RANGE_ROWS)), read, AHEAD)


def tagged(page: pa.Table, structs: TaggedStructs) -> TaggedPage:
    """``page`` with its lines, when every kept row can be one (module docstring)."""
    by_row = TaggedPage(page)
    if page.num_rows == 0:
        return by_row
    encoded = one_array(pc.dictionary_encode(page.column(3)))
    tags = [structs.tag(t) for t in encoded.dictionary.to_pylist()]
    if None in tags:
        return by_row
    kept: np.ndarray | None = None
    if _DROP in tags:
        drop = [i for i, t in enumerate(tags) if t == _DROP]
        kept = np.flatnonzero(~np.isin(np.asarray(encoded.indices), drop))
        page = page.take(pa.array(kept))
        encoded = one_array(pc.dictionary_encode(page.column(3)))
        tags = [structs.tag(t) for t in encoded.dictionary.to_pylist()]
    lines = _lines(page, encoded, tags)
    if lines is None:
        return by_row
    return TaggedPage(by_row.table, lines, kept, structs.decoder)


def _lines(page: pa.Table, encoded: pa.Array, tags: list[bytes | None]) -> list[memoryview] | None:
    """The page's lines, in pieces of one buffer; None when a row cannot be a line exactly."""
    if page.num_rows == 0:
        return []
    ids = one_array(page.column(1))
    state = one_array(page.column(4)).cast(pa.binary())
    # msgspec reads the buffer as JSON values one after another, whatever whitespace (newlines
    # included) lies between or inside them. A stored object's members make a valid member
    # list, so its line is one object; stored bytes that are more than one value give more
    # values than rows (``decoded_items`` counts them), and bytes that are not JSON are
    # refused: either way the range goes row by row. No line can run on into the next: a JSON
    # string cannot hold a raw newline, and an array or object left open cannot be followed
    # by the next line's ``{``.
    whole = pc.and_(pc.starts_with(state, "{"), pc.ends_with(state, "}"))
    if not (pc.all(whole).as_py() and pc.all(pc.match_substring_regex(ids, _HEX_ID)).as_py()):
        return None
    tag = pa.array(tags, pa.binary()).take(encoded.indices)
    members = pc.binary_slice(state, 1, -1)
    comma = pc.if_else(pc.greater(pc.binary_length(state), 2), b",", b"")
    version = one_array(page.column(2)).cast(pa.string()).cast(pa.binary())
    parts = (b'{"~t":', tag, comma, members, b',"~o":"', ids.cast(pa.binary()), b'","~v":')
    joined = pc.binary_join_element_wise(*parts, version, b"}\n", b"")
    return _data(joined)


def _data(joined: pa.Array) -> list[memoryview]:
    """The bytes of every value of ``joined`` back to back (its data buffer, not a copy), cut
    after every ``PIECE_LINES`` values."""
    offsets = np.frombuffer(joined.buffers()[1], np.int32, len(joined) + 1, joined.offset * 4)
    cuts = [*offsets[::PIECE_LINES].tolist(), int(offsets[-1])]
    data = memoryview(joined.buffers()[2])
    return [data[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _range(path: Path, table: str, low: int, high: int) -> pa.Table | list[Row] | None:
    """The range's rows as columns; as rows when the driver cannot read them as columns;
    None when the store has no table yet."""
    import adbc_driver_sqlite.dbapi as adbc

    try:
        return read_arrow(path, _RANGE.format(table=table), (low, high), RANGE_ROWS)
    except adbc.Error:
        # A column whose values SQLite holds in more than one storage class (a store edited
        # by hand) can stop the driver: the range is read as rows instead.
        return SqliteSource(path, table).range_rows(low, high)


__all__ = ["RANGE_ROWS", "TaggedPage", "TaggedStructs", "read_ranges", "tagged"]
