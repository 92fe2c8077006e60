"""The rebuild's orders pass from decoded chunks (docs/adr/0105-orders-pass-from-columns.md): the
orders the columns cover and the orders they send to the fold give the very tables the fold
gives every order, on the benchmark's workload and on random histories (statuses out of
order, fills before a status, corrections, commission reports early, late, twice or never,
busts, IB's messages about no order, OCA groups and a bracket, live and dry-run side by side,
the requests a session sends and the identifiers openOrder binds), and on a session recorded
against the simulator.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.bench_workload import populate
from ordertrail.adapters.demo import run_demo
from ordertrail.adapters.store.columnar_log import DecodedChunk, decoded_chunks, reference_chunk
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import CommissionReported, OutboundRequest, RequestKind
from ordertrail.domain.values import CommissionReport, OrderAction, OrderSpec, OrderType
from ordertrail.projections import spill
from ordertrail.projections.columnar_frame import split
from ordertrail.projections.rebuild import Rebuild
from tests.conftest import Clock
from tests.projections.helpers import D, Desk, at
from tests.projections.test_incremental import History, histories, place, record

Tables = dict[str, list[dict[str, Any]]]


def reference_chunks(rows: int) -> Any:
    """The log as decoded chunks of whole orders, about ``rows`` rows each, built by the
    Python decoder (``reference_chunk``)."""

    def chunks(log: EventLog, head: int) -> Iterator[DecodedChunk]:
        held: list[Any] = []
        for row in log.rows_by_order(head):
            if len(held) >= rows and row[1] != held[-1][1]:
                yield reference_chunk(held)
                held = []
            held.append(row)
        if held:
            yield reference_chunk(held)

    return chunks


def tables(log: EventLog, scratch: Path, **route: Any) -> Tables:
    rebuild = Rebuild(log, log.head(), scratch, **route)
    out = {}
    for spec, parts in rebuild.tables(None):
        table = pa.concat_tables([spec.schema.empty_table(), *parts])
        out[spec.name] = sorted(table.to_pylist(), key=repr)
    return out


def routes(directory: Path, rows: int) -> tuple[Tables, Tables, Tables]:
    """(every order folded as before, the columns where they cover, every order of the chunks
    sent to the fold). The chunks are the reference decoder's (``decoded_chunks`` is held to
    them in ``test_columnar_log.py``), in chunks of about ``rows`` rows."""
    with EventLog.open(StoreConfig.resolve(directory)) as log:
        chunks = reference_chunks(rows)
        return (
            tables(log, directory, chunks=None),
            tables(log, directory, chunks=chunks),
            tables(log, directory, chunks=chunks, columns=False),
        )


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The events' spill in several chunks and ranges.
    monkeypatch.setattr(spill, "CHUNK_ROWS", 64)
    monkeypatch.setattr(spill, "WRITE_ROWS", 400)


def test_the_benchmark_workload_takes_the_columns_and_gives_the_folds_tables(
    tmp_path: Path, small_chunks: None
) -> None:
    # Partial fills, commissions, corrections, OCA groups of parent and child, three
    # accounts, a futures multiplier, long and short.
    written, orders = populate(tmp_path, 2500)
    with EventLog.open(StoreConfig.resolve(tmp_path)) as log:
        chunk = reference_chunk(list(log.rows_by_order(log.head())))
    parts = split(chunk)
    assert parts.fallback == []
    assert parts.frames is not None
    assert parts.frames.orders == orders
    folded, columns, fallback = routes(tmp_path, 700)
    assert columns == folded
    assert fallback == folded
    with EventLog.open(StoreConfig.resolve(tmp_path)) as log:
        fast = tables(log, tmp_path, chunks=lambda log, head: decoded_chunks(log, head, 700))
    assert fast == folded
    assert len(columns["events"]) == written
    assert {r["group_kind"] for r in columns["brackets"]} == {"bracket", "oca"}


def test_the_orders_a_live_session_records_take_the_columns(
    tmp_path: Path, small_chunks: None
) -> None:
    """A session against the simulator through the real ib_async client (the demo's: fills in
    parts, a bracket and its OCA group, a cancel racing a fill, a margin rejection, a RiskGate
    refusal) records a RequestSent and an IdentifiersBound for every order it places: every
    placed order takes the columnar route (only the refused one, which has a RiskDenied, goes
    to the fold), and every route gives the fold's tables."""
    directory = tmp_path / "data"
    trail = OrderTrail(StoreConfig.resolve(directory))
    level = logging.getLogger("ib_async").level
    try:
        result = run_demo(trail, lambda line: None)
    finally:
        trail.close()
    # The demo quiets ib_async's error log while it runs, not for the tests after it.
    assert logging.getLogger("ib_async").level == level
    with EventLog.open(StoreConfig.resolve(directory)) as log:
        chunk = reference_chunk(list(log.rows_by_order(log.head())))
    topics = chunk.log.column("event_type").to_pylist()
    placed = [oid for name, oid in result.orders if name != "refused by the RiskGate"]
    assert topics.count("RequestSent") >= len(placed)
    assert topics.count("IdentifiersBound") >= len(placed)
    parts = split(chunk)
    assert parts.fallback == [str(dict(result.orders)["refused by the RiskGate"])]
    assert parts.frames is not None
    assert parts.frames.orders == len(placed)
    folded, columns, fallback = routes(directory, 5)
    assert columns == folded
    assert fallback == folded
    with EventLog.open(StoreConfig.resolve(directory)) as log:
        fast = tables(log, directory, chunks=lambda log, head: decoded_chunks(log, head, 5))
        # The decoder the rebuild runs leaves the same orders to the fold (a cancel's request
        # carries no terms: its null value object is no reason to).
        (whole,) = decoded_chunks(log, log.head(), 10_000)
    assert fast == folded
    assert split(whole).fallback == parts.fallback
    # IB's permId, the (clientId, orderId) and the account IB placed it in (none was sent).
    rows = {r["order_id"]: r for r in columns["orders"]}
    for oid in placed:
        row = rows[str(oid)]
        assert row["perm_id"], row
        assert row["aliases"], row
        assert row["account"], row


@dataclass(frozen=True)
class CancelAsk:
    """We ask to cancel order ``order`` (refused, and so recorded nothing, when its state
    does not allow one)."""

    order: int


@st.composite
def histories_with_cancels(draw: st.DrawFn) -> tuple[History, list[tuple[int, CancelAsk]]]:
    history = draw(histories())
    step = st.integers(0, len(history.steps))
    order = st.integers(0, len(history.orders) - 1)
    asks = draw(st.lists(st.tuples(step, order), max_size=3))
    return history, [(at_step, CancelAsk(i)) for at_step, i in asks]


def _recorded(
    directory: Path, history: History, asks: list[tuple[int, CancelAsk]] | None = None
) -> None:
    trail = OrderTrail(StoreConfig.resolve(directory), clock=Clock())
    asks = sorted(asks or [], key=lambda a: a[0])
    try:
        place(trail, history)
        for n, step in enumerate([*history.steps, None]):
            for _, ask in (a for a in asks if a[0] == n):
                coid = history.orders[ask.order][0]
                with suppress(CommandRefused):
                    trail.request_cancel(trail.require(FactKey(order_ref=coid)))
            if step is not None:
                record(trail, history, [step])
    finally:
        trail.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(drawn=histories_with_cancels(), rows=st.integers(1, 40))
def test_random_histories_give_the_same_tables_by_either_route(
    drawn: tuple[History, list[tuple[int, CancelAsk]]], rows: int
) -> None:
    history, asks = drawn
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        _recorded(directory, history, asks)
        folded, columns, fallback = routes(directory, rows)
        assert columns == folded
        assert fallback == folded


def test_values_only_a_summary_shows_keep_their_order_in_the_columns(tmp_path: Path) -> None:
    """A status's remaining quantity and a request's terms appear in no table but the events'
    summary line, which shows their stored text: written in exponent form or with more
    decimals than the tables keep, they leave their order in the columns, with the fold's
    tables."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-odd", quantity=10, limit="5")
    terms = OrderSpec(OrderAction.BUY, D("0.000000000001"), OrderType.LIMIT,
                      limit_price=D("12.000000000001"), account="U1")  # fmt: skip
    desk.trail.record(desk.keys["OT-odd"], OutboundRequest(RequestKind.PLACE, 1, 1, terms))
    desk.status("OT-odd", "Submitted", filled=0, remaining="1E+1")
    desk.fill("OT-odd", "odd.01", 10, "5", at=at(1))
    desk.trail.close()
    directory = tmp_path / "data"
    with EventLog.open(StoreConfig.resolve(directory)) as log:
        chunk = reference_chunk(list(log.rows_by_order(log.head())))
    assert split(chunk).fallback == []
    folded, columns, fallback = routes(directory, 5)
    assert columns == folded
    assert fallback == folded
    lines = [r["summary"] for r in columns["events"]]
    assert "IB status Submitted filled=0 remaining=1E+1" in lines
    assert any(line.endswith(": BUY 1E-12 LMT @ 12.000000000001") for line in lines)


def test_values_past_the_columns_range_and_odd_fills(tmp_path: Path) -> None:
    """Orders whose values the scaled columns cannot hold (12 decimals, exponent form), whose
    notional passes the exact-integer bound (folded with Decimals), whose correction moves the
    fill to another account, and plain ones beside them: the same tables by every route, and
    each order on the route its values call for."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-big", quantity=9_000_000, limit="98765.4321")
    desk.fill("OT-big", "big.01", 4_000_000, "98765.4321", at=at(1), commission="1200.5")
    desk.fill("OT-big", "big2.01", 5_000_000, "98765.4319", at=at(2))
    desk.fill("OT-big", "big2.02", 5_000_000, "98765.4317", at=at(2))  # corrected
    desk.place("OT-fine", quantity="0.000000000001", limit="12.000000000001")
    desk.fill("OT-fine", "fine.01", "0.000000000001", "12.000000000001", at=at(3))
    desk.place("OT-tiny", quantity=1, limit="0.00000001")  # stored as 1E-8
    desk.fill("OT-tiny", "tiny.01", 1, "0.00000001", at=at(4))
    desk.place("OT-move", quantity=10, limit="5")
    desk.fill("OT-move", "move.01", 10, "5", at=at(5), commission="1")
    desk.fill("OT-move", "move.02", 10, "5", at=at(5), account="U2")  # IB moved it
    desk.place("OT-plain", quantity=10, limit="5")
    desk.fill("OT-plain", "plain.01", 4, "5", at=at(6))
    desk.trail.record(None, CommissionReported(CommissionReport("plain.01", D("0.5"), "USD")))
    desk.error("OT-plain", 202, "Order Canceled - reason:")
    desk.trail.close()
    directory = tmp_path / "data"
    with EventLog.open(StoreConfig.resolve(directory)) as log:
        chunk = reference_chunk(list(log.rows_by_order(log.head())))
    parts = split(chunk)
    assert parts.frames is not None
    created = parts.frames.topics["OrderCreated"]
    assert sorted(created.get_column("client_order_id").to_list()) == ["OT-big", "OT-plain"]
    assert len(parts.fallback) == 3
    folded, columns, fallback = routes(directory, 5)
    assert columns == folded
    assert fallback == folded
    big = next(r for r in columns["orders"] if r["client_order_id"] == "OT-big")
    assert big["filled"] == D(9_000_000)
