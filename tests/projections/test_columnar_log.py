"""The log decoded into Arrow columns (``decoded_chunks``) equals the chunks the Python decoder
builds row by row (``reference_chunk``): on random histories (the equivalence property's), on
SQLite and PostgreSQL, at any head and chunk size; on stored rows edited into every shape the
columns cannot take as is; and what the columns cannot hold falls back, order by order, with
no row lost."""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.bench_columnar import decode_only, memory, parts, rates
from ordertrail.adapters.bench_workload import populate
from ordertrail.adapters.store.codec import encode
from ordertrail.adapters.store.columnar_log import (
    EVENT_TYPES,
    DecodedChunk,
    decoded_chunks,
    reference_chunk,
)
from ordertrail.adapters.store.columnar_read import canonical_order_id
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.store.logsources import Row
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import StatusReport
from ordertrail.domain.values import OrderAction, OrderSpec
from tests.conftest import Clock
from tests.projections.helpers import ES
from tests.projections.test_equivalence import BACKENDS, store
from tests.projections.test_incremental import History, histories, place, record

SETTINGS = settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def assert_same(chunk: DecodedChunk, ref: DecodedChunk) -> None:
    assert chunk.fallback == ref.fallback
    assert chunk.log.schema == ref.log.schema
    if not chunk.log.equals(ref.log):
        assert chunk.log.to_pylist() == ref.log.to_pylist()
    assert list(chunk.topics) == list(ref.topics) == list(EVENT_TYPES)
    for name, table in chunk.topics.items():
        assert table.schema == ref.topics[name].schema, name
        if not table.equals(ref.topics[name]):
            assert table.to_pylist() == ref.topics[name].to_pylist(), name


def check_chunks(
    log: EventLog, head: int, rows_per_chunk: int, first: int | None = None
) -> list[DecodedChunk]:
    """Every chunk equals the reference chunk of its rows; the chunks hold whole orders, cover
    the log up to ``head`` in (order, version) order, and exceed ``rows_per_chunk`` (the first
    ``first`` when given) only when one order alone does."""
    rows = list(log.rows_by_order(head))
    chunks = list(decoded_chunks(log, head, rows_per_chunk, first))
    at, seen = 0, set()
    for i, chunk in enumerate(chunks):
        limit = first if i == 0 and first is not None else rows_per_chunk
        n = chunk.log.num_rows
        mine = rows[at : at + n]
        at += n
        orders = set(chunk.log["order_id"].to_pylist())
        assert n
        assert {canonical_order_id(r[1]) for r in mine} == orders
        assert not orders & seen  # an order is never split between two chunks
        seen |= orders
        assert n <= limit or len(orders) == 1
        assert_same(chunk, reference_chunk(mine))
    assert at == len(rows)
    assert [n for c in chunks for n in c.log["nid"].to_pylist()] == [r[0] for r in rows]
    return chunks


def recorded(trail: OrderTrail, history: History) -> None:
    place(trail, history)
    record(trail, history, history.steps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoded_chunks_equal_the_python_decoders_on_random_histories(
    backend: str, request: pytest.FixtureRequest
) -> None:
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None

    @SETTINGS
    @given(history=histories(), data=st.data())
    def run(history: History, data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory() as d, store(Path(d), pg_url) as config:
            trail = OrderTrail(config, clock=Clock())
            try:
                recorded(trail, history)
            finally:
                trail.close()
            with EventLog.open(config) as log:
                head = data.draw(st.integers(0, log.head()), label="head")
                size = data.draw(st.integers(1, 40), label="rows per chunk")
                first = data.draw(st.none() | st.integers(1, 40), label="rows of the first")
                chunks = check_chunks(log, head, size, first)
            assert not any(c.fallback for c in chunks)

    run()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_first_chunk_is_as_small_as_asked_and_the_rest_as_large(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The rebuild asks for a small first chunk (the passes wait for it while the second core
    idles): the first holds at most that many rows, the others up to the usual size."""
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    spec = OrderSpec(OrderAction.BUY, Decimal(100), limit_price=Decimal("101.25"), account="U1")
    with store(tmp_path, pg_url) as config:
        trail = OrderTrail(config, clock=Clock())
        try:
            for i in range(1, 21):
                oid = trail.place(client_order_id=f"OT-{i}", contract=ES, spec=spec)
                trail.submit(oid, client_id=1, order_id=i)
        finally:
            trail.close()
        with EventLog.open(config) as log:
            per_order = log.head() // 20
            chunks = check_chunks(log, log.head(), 8 * per_order, 2 * per_order)
    sizes = [c.log.num_rows for c in chunks]
    # check_chunks holds each to its size; a page ends before an order it may have cut.
    assert sizes[0] <= 2 * per_order < min(sizes[1:-1])
    assert len(sizes) >= 3


# ---- stored rows in shapes the columns cannot take as is ------------------------------------

Edit = Callable[[dict[str, Any], st.DataObject], None]


def _keys(d: dict[str, Any]) -> list[str]:
    return sorted(k for k in d if k != "~chain")


def _paths(d: dict[str, Any], want: Callable[[Any], bool]) -> list[tuple[str, ...]]:
    out = [(k,) for k in _keys(d) if want(d[k])]
    for k in _keys(d):
        if isinstance(d[k], dict):
            out += [(k, j) for j in sorted(d[k]) if want(d[k][j])]
    return out


def _set(d: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


def _pick(data: st.DataObject, d: dict[str, Any], want: Callable[[Any], bool]) -> Any:
    paths = _paths(d, want)
    return data.draw(st.sampled_from(paths)) if paths else None


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_text(v: Any) -> bool:
    return isinstance(v, str)


def edit_value(want: Callable[[Any], bool], values: st.SearchStrategy[Any]) -> Edit:
    def edit(d: dict[str, Any], data: st.DataObject) -> None:
        path = _pick(data, d, want)
        if path is not None:
            _set(d, path, data.draw(values))

    return edit


def drop_key(d: dict[str, Any], data: st.DataObject) -> None:
    path = _pick(data, d, lambda v: True)
    if path is not None:
        parent = d if len(path) == 1 else d[path[0]]
        del parent[path[-1]]


EDITS: dict[str, Edit] = {
    "an int beyond int64": edit_value(_is_int, st.sampled_from([2**63, 2**64 - 1, -(2**63) - 1])),
    "an int as text": edit_value(_is_int, st.just("12")),
    "an unknown key": lambda d, data: d.update({"class_version": 2}),
    "a key absent": drop_key,
    "a null": edit_value(lambda v: True, st.none()),
    "a Decimal in another form": edit_value(
        _is_text, st.sampled_from(["1E+2", "0.0000001", "1e2", "+5", "1_0", "NaN", "abc", "-0"])
    ),
    "a time in another form": edit_value(
        _is_text,
        st.sampled_from(
            [
                "2026-01-05T14:30:00.123456+02:00",
                "2026-01-05T14:30:00-05:30",
                "2026-01-05T14:30:00",
                "2026-01-05 14:30:00+00:00",
                "2026-01-05T14:30:00Z",
                "2026-02-30T14:30:00+00:00",
                "2026-01-05T14:30:00.1234567+00:00",
                "0000-01-05T14:30:00+00:00",
                "2026-01-05T14:30:00+24:00",
                "2026-01-05T14:30:00.12345a+00:00",
            ]
        ),
    ),
    "a provenance": lambda d, data: (
        d.update({"provenance": {"tradeID": "77", "note": "a\\b"}}) if "provenance" in d else None
    ),
    "an unknown enum value": edit_value(_is_text, st.just("Bogus")),
    "a text of any characters": edit_value(_is_text, st.text(max_size=5)),
    "a nested object emptied": edit_value(lambda v: isinstance(v, dict), st.just({})),
    "a list for an object": edit_value(lambda v: isinstance(v, dict), st.just([1])),
}
RAW_EDITS: dict[str, Callable[[bytes], bytes]] = {
    "cut short": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "two objects": lambda b: b + b,
    "spaces and a newline": lambda b: b" " + b.replace(b",", b",\n", 1) + b" ",
    "not an object": lambda b: b"[" + b + b"]",
    "invalid UTF-8 in a key": lambda b: b.replace(b'"', b'"\xff', 1),
    "invalid UTF-8 in a text": lambda b: b.replace(b'":"', b'":"\xff', 1),
    "an escaped lone surrogate": lambda b: b.replace(b'":"', b'":"\\ud800', 1),
}


@SETTINGS
@given(history=histories(), data=st.data())
def test_decoded_chunks_equal_the_python_decoders_on_stored_rows_in_any_shape(
    history: History, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as d:
        config = StoreConfig.resolve(Path(d) / "data")
        trail = OrderTrail(config, clock=Clock())
        try:
            recorded(trail, history)
        finally:
            trail.close()
        db = sqlite3.connect(config.sqlite_path)
        stored = db.execute("SELECT rowid, state FROM stored_events").fetchall()
        edited = data.draw(st.lists(st.sampled_from(stored), min_size=1, max_size=4))
        for rowid, state in edited:
            changed = edit(state, data)
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (changed, rowid))
        db.commit()
        db.close()
        with EventLog.open(config) as log:
            check_chunks(log, log.head(), data.draw(st.integers(1, 40), label="rows per chunk"))


def edit(state: bytes, data: st.DataObject) -> bytes:
    name = data.draw(st.sampled_from(sorted(EDITS) + sorted(RAW_EDITS)), label="edit")
    if name in RAW_EDITS:
        return RAW_EDITS[name](bytes(state))
    d = orjson.loads(state)
    EDITS[name](d, data)
    return encode(d)  # the codec's: an int past 64 bits is stored tagged


# ---- what falls back ------------------------------------------------------------------------


def two_orders(trail: OrderTrail, perm_id: int) -> tuple[str, str]:
    """Two orders submitted; the first told a permId of ``perm_id``."""
    spec = OrderSpec(OrderAction.BUY, Decimal(100), limit_price=Decimal("101.25"), account="U1")
    ids = []
    for i in (1, 2):
        oid = trail.place(client_order_id=f"OT-{i}", contract=ES, spec=spec)
        trail.submit(oid, client_id=1, order_id=i)
        ids.append(str(oid))
    key = FactKey(order_ref="OT-1", perm_id=perm_id, client_id=1, order_id=1)
    status = StatusReport("Submitted", Decimal(0), spec.quantity, perm_id=perm_id)
    trail.record(key, status)
    return ids[0], ids[1]


def the_chunk(config: StoreConfig) -> tuple[DecodedChunk, list[Row]]:
    with EventLog.open(config) as log:
        (chunk,) = check_chunks(log, log.head(), 10_000)
        return chunk, list(log.rows_by_order(log.head()))


def assert_falls_back(chunk: DecodedChunk, rows: list[Row], order: str, other: str) -> None:
    assert chunk.fallback == {order}
    ids = chunk.log["order_id"].to_pylist()
    assert ids.count(order) == sum(1 for r in rows if canonical_order_id(r[1]) == order) > 0
    mine = [i for i, o in enumerate(ids) if o == order]
    assert chunk.log.take(pa.array(mine))["ts_recorded"].null_count == len(mine)
    in_topics = {r for t in chunk.topics.values() for r in t["row"].to_pylist()}
    assert not in_topics & set(mine)
    assert in_topics == {i for i, o in enumerate(ids) if o != order}
    assert other in ids


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("perm_id", [2**63, 2**64 - 1, 2**70])
def test_a_perm_id_beyond_int64_sends_its_order_to_the_python_decoder(
    backend: str, perm_id: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    with store(tmp_path, pg_url) as config:
        trail = OrderTrail(config, clock=Clock())
        try:
            first, second = two_orders(trail, perm_id)
        finally:
            trail.close()
        chunk, rows = the_chunk(config)
    assert_falls_back(chunk, rows, first, second)


def test_an_unknown_topic_sends_its_order_to_the_python_decoder(tmp_path: Path) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config, clock=Clock())
    try:
        first, second = two_orders(trail, 1234)
    finally:
        trail.close()
    db = sqlite3.connect(config.sqlite_path)
    (version,) = db.execute(
        "SELECT MAX(originator_version) + 1 FROM stored_events WHERE originator_id = ?",
        (first.replace("-", ""),),
    ).fetchone()
    db.execute(
        "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
        (first.replace("-", ""), version, "ordertrail.domain.events:LaterEvent", b'{"x":1}'),
    )
    db.commit()
    db.close()
    chunk, rows = the_chunk(config)
    assert_falls_back(chunk, rows, first, second)
    assert "LaterEvent" in chunk.log["event_type"].to_pylist()


def test_an_empty_log_has_no_chunks(tmp_path: Path) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    OrderTrail(config, clock=Clock()).close()
    with EventLog.open(config) as log:
        assert list(decoded_chunks(log, log.head())) == []


def test_the_bench_decodes_the_same_events_by_both_routes(tmp_path: Path) -> None:
    """``bench_columnar DIR``: both routes read every event of a populated store, the memory
    probe decodes them all in a fresh process, each stage of ``parts`` reads or parses every
    one, and so does ``decode`` (tiny: this checks the command, never a timing)."""
    written, _ = populate(tmp_path, 600)
    out = rates(tmp_path, 1, 100)
    assert out["columnar"]["events"] == out["python_decode"]["events"] == written
    assert memory(tmp_path, 100)["events"] == written
    stages = parts(tmp_path, 1, 100)
    assert stages["decode"]["rows"] == stages["read"]["rows"] == written
    assert stages["parse_every_field"]["rows"] == stages["parse_one_field"]["rows"] == written
    assert decode_only(tmp_path, 1, 100)["events"] == written


def test_every_field_the_orders_pass_reads_is_a_column_the_decoder_makes() -> None:
    """The orders pass takes a field its topic table lacks as null (an older event's absent
    key) and converts one of another type, refusing its order when a value is lost: a field
    renamed or retyped on one side only would send every order to the fold, or read nulls,
    without an error. So the fields it reads (``columnar_frame.FIELDS``) are held here to the
    decoder's columns, by name and type."""
    import polars as pl

    from ordertrail.adapters.store.columnar_log import TOPIC_SCHEMAS
    from ordertrail.projections.columnar_frame import FIELDS

    missing = []
    for topic, fields in FIELDS.items():
        made = pl.from_arrow(TOPIC_SCHEMAS[topic].empty_table())
        assert isinstance(made, pl.DataFrame)
        for name, dtype in fields.items():
            if made.schema.get(name) != dtype:
                missing.append((topic, name, dtype, made.schema.get(name)))
    assert missing == []
