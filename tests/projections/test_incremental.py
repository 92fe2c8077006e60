"""Incremental projections equal a full rebuild, over random histories in random chunks.

Histories come from the shared strategies (``ib_fact_sequences``: statuses out of order and
repeated, fills before any status or after a cancel, corrections, commission reports early,
late, twice or never), for a few orders sharing contracts, accounts, OCA groups and a bracket
parent, live and dry-run orders side by side, plus busted executions; they go through the real
``OrderTrail`` into SQLite.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import ExecutionBust, OpenOrderReport, OutboundRequest, SessionError
from ordertrail.domain.identity import DRY_RUN_PREFIX
from ordertrail.domain.values import ContractRef, OrderSpec, OrderType
from ordertrail.projections.fold import Projection
from ordertrail.projections.positions import Position
from ordertrail.projections.projector import log_events
from ordertrail.projections.schema import TABLES
from tests.conftest import Clock
from tests.strategies import (
    ExecutionReport,
    Fact,
    feed_trail,
    ib_fact_sequences,
    order_specs,
    wire_facts,
)

PLAIN_TYPES = [OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT]
CONTRACTS = [
    ContractRef(1, "AAA"),
    ContractRef(2, "ES", "FUT", multiplier=Decimal(50)),
]


@dataclass(frozen=True)
class Bust:
    exec_id: str


@dataclass(frozen=True)
class SessionNote:
    """IB's message about no order (a connectivity notice, an unknown reqId): its row sits
    in ``events`` among the orders' own."""

    code: int
    req_id: int


Step = tuple[int, Fact | Bust | SessionNote]


@dataclass
class History:
    orders: list[tuple[str, ContractRef, OrderSpec, str | None]]
    steps: list[Step]


@st.composite
def histories(draw: st.DrawFn) -> History:
    n = draw(st.integers(1, 3))
    orders = []
    per_order: list[list[Fact | Bust]] = []
    seen: set[str] = set()
    for i in range(n):
        # A dry run's orders share contracts and accounts with live ones: their positions
        # must stay apart.
        coid = f"{draw(st.sampled_from(['', DRY_RUN_PREFIX]))}OT-{i}"
        # The order types are fixed here: the projections do not care, and the shared
        # strategy follows the domain's list (which may grow ahead of it).
        spec = draw(order_specs(order_type=draw(st.sampled_from(PLAIN_TYPES))))
        if spec.oca_type:
            spec = spec.with_changes(oca_group=draw(st.sampled_from(["G1", "G2"])))
        parent = f"coid:{orders[0][0]}" if i and draw(st.booleans()) else None
        orders.append((coid, draw(st.sampled_from(CONTRACTS)), spec, parent))
        facts: list[Fact | Bust] = list(
            draw(ib_fact_sequences(spec, order_ref=coid, perm_id=1000 + i))
        )
        xs = [f.execution for f in facts if isinstance(f, ExecutionReport)]
        bases = {x.base_id for x in xs}
        assume(not bases & seen)  # IB's execIds are unique across orders
        seen |= bases
        if xs and draw(st.booleans()):
            facts.append(Bust(draw(st.sampled_from(xs)).exec_id))
        # What a live session records besides: its requests on the wire, openOrder's ids.
        for wire in draw(wire_facts(spec, client_id=1, order_id=i + 1, perm_id=1000 + i)):
            facts.insert(draw(st.integers(0, len(facts))), wire)
        per_order.append(facts)
    # Interleave the orders' facts the way one session delivers them.
    labels = [i for i, facts in enumerate(per_order) for _ in facts]
    labels = draw(st.permutations(labels))
    cursors = [0] * n
    steps: list[Step] = []
    for i in labels:
        steps.append((i, per_order[i][cursors[i]]))
        cursors[i] += 1
    notes = draw(st.lists(st.tuples(st.integers(0, len(steps)), st.sampled_from([1100, 2104])),
                          max_size=2))  # fmt: skip
    for at_step, code in sorted(notes, reverse=True):
        steps.insert(at_step, (-1, SessionNote(code, -1 if code == 1100 else at_step)))
    return History(orders, steps)


def record(trail: OrderTrail, history: History, steps: list[Step]) -> None:
    for i, fact in steps:
        if isinstance(fact, SessionNote):
            note = SessionError(fact.code, f"message {fact.code}", fact.req_id, client_id=1)
            trail.record(None, note)
            continue
        coid = history.orders[i][0]
        key = FactKey(order_ref=coid, perm_id=1000 + i, client_id=1, order_id=i + 1)
        if isinstance(fact, Bust):
            trail.record(key, ExecutionBust(fact.exec_id, reason="TradeCancel"))
        elif isinstance(fact, OpenOrderReport | OutboundRequest):
            trail.record(key, fact)  # with the identifiers it carries
        else:
            feed_trail(trail, key, fact)


def place(trail: OrderTrail, history: History) -> None:
    for i, (coid, contract, spec, parent) in enumerate(history.orders):
        oid = trail.place(client_order_id=coid, contract=contract, spec=spec, parent_key=parent)
        trail.submit(oid, client_id=1, order_id=i + 1)


def chunked(items: list[Any], sizes: list[int]) -> list[list[Any]]:
    out, start = [], 0
    for size in sizes:
        out.append(items[start : start + size])
        start += size
    out.append(items[start:])
    return [c for c in out if c]


class Tables:
    """The tables' semantics in memory: append, or upsert/delete by key."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Any, dict[str, Any]]] = {t.name: {} for t in TABLES}

    def apply(self, projection: Projection, since: dict[str, int]) -> None:
        for spec in TABLES:
            batch = projection.batches(since)[spec.name]
            table = self.rows[spec.name]
            for row in batch.rows:
                key = (
                    (row["notification_id"], repr(row))
                    if spec.append_only
                    else tuple(row[k] for k in spec.keys)
                )
                assert not (spec.append_only and key in table), "an appended row came twice"
                table[key] = row
            for key in batch.deletes:
                table.pop(key, None)
            since[spec.name] = projection.head
        projection.changes = type(projection.changes)()


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(history=histories(), data=st.data())
def test_fold_in_chunks_equals_fold_at_once(history: History, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trail = OrderTrail(StoreConfig.resolve(Path(tmp)), clock=Clock())
        place(trail, history)
        record(trail, history, history.steps)
        events = list(log_events(trail.recorder, 0))

    whole, at_once = Projection(), Tables()
    for nid, event, payload in events:
        whole.feed(nid, event, payload)
    at_once.apply(whole, {})

    sizes = data.draw(st.lists(st.integers(1, 8), max_size=len(events)), label="chunks")
    part, in_chunks, since = Projection(), Tables(), {}
    for chunk in chunked(events, sizes):
        for nid, event, payload in chunk:
            part.feed(nid, event, payload)
        in_chunks.apply(part, since)
    assert in_chunks.rows == at_once.rows
    # And both agree with positions folded afresh from the final fills in execution order.
    for pos in whole.positions.values():
        fresh = Position(
            pos.account,
            pos.con_id,
            pos.origin,
            pos.symbol,
            pos.sec_type,
            pos.currency,
            pos.multiplier,
        )
        for fill in sorted(pos.fills, key=lambda f: f.sort_key):
            fresh.add(fill)
        assert fresh.effects == pos.effects
        assert sum((f.quantity for f in pos.fills), Decimal(0)) == pos.quantity
