"""The hash chain holds however events are written: a retried concurrency conflict, a batch
that loads orders another process wrote, an order the mapper had forgotten (the recorder
completes its link), and a store written before the chain existed ("unchained")."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.store import chain
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import ErrorReport, StatusReport
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType
from tests.conftest import Clock
from tests.foundation.tamper_kit import COIDS, RawStore, fill_store
from tests.foundation.test_event_store_contract import Interloper
from tests.foundation.test_tamper import args, named

runner = CliRunner()
SPEC = OrderSpec(OrderAction.SELL, Decimal(3), OrderType.LIMIT, limit_price=Decimal("1.10"))


def intact(store: StoreConfig) -> str:
    result = runner.invoke(app, ["verify", *args(store)])
    assert result.exit_code == 0, result.output
    return result.stderr


def status(trail: OrderTrail, coid: str, filled: int) -> None:
    trail.record(
        FactKey(order_ref=coid), StatusReport("Submitted", Decimal(filled), Decimal(3 - filled))
    )


def test_a_retried_conflict_and_a_batch_keep_the_chain(store: StoreConfig, clock: Clock) -> None:
    interloper = Interloper(clock)
    a, b = OrderTrail(store, clock=interloper), OrderTrail(store, clock=clock)
    try:
        oid = a.place(client_order_id="OT-chain-1", contract=ContractRef(1, "X"), spec=SPEC)
        interloper.action = lambda: status(b, "OT-chain-1", 0)
        status(a, "OT-chain-1", 1)  # loses the race once, reloads, appends on b's event
        with b.batch():  # b loads what a wrote, appends to it and creates another order
            status(b, "OT-chain-1", 2)
            b.place(client_order_id="OT-chain-2", contract=ContractRef(1, "X"), spec=SPEC)
            status(b, "OT-chain-2", 0)
        names = [type(e).__name__ for e in a.history(oid)]
        assert names.count("StatusReported") == 3  # a's, b's (the interloper) and the batch's
        events = len(names) + len(a.history(b.require(FactKey(order_ref="OT-chain-2"))))
        for trail in (a, b):
            assert trail.recorder.placeholders_completed == 0  # type: ignore[attr-defined]
    finally:
        a.close()
        b.close()
    assert f"intact: {events} events of 2 orders" in intact(store)


def test_an_order_the_mapper_forgot_is_linked_by_the_recorder(
    store: StoreConfig, clock: Clock
) -> None:
    ids = fill_store(store, clock)
    trail = OrderTrail(store, clock=clock)
    try:
        order = trail.get(ids[COIDS[0]])
        trail.mapper.links = chain.Links()  # type: ignore[attr-defined]
        order.record(ErrorReport(code=399, message="a warning"), ts_recorded=clock())
        trail.save(order)
        assert trail.recorder.placeholders_completed == 1  # type: ignore[attr-defined]
    finally:
        trail.close()
    last = RawStore(store).rows(ids[COIDS[0]])[-1]
    sealed = chain.unseal(last.state)
    assert sealed is not None
    assert sealed.digest is not None
    intact(store)


def _unchain(raw: RawStore, oids: list[UUID]) -> None:
    """What a store written before the chain existed looks like."""
    for oid in oids:
        for row in raw.rows(oid):
            sealed = chain.unseal(row.state)
            assert sealed is not None
            body = sealed.body[:-1] if sealed.body.endswith(b",") else sealed.body
            raw.set_state(oid, row.version, body + b"}")
    raw.execute("DROP TABLE {head}")


def test_an_unchained_store_is_reported_then_chained_from_its_next_event(
    store: StoreConfig, clock: Clock
) -> None:
    ids = fill_store(store, clock)
    raw = RawStore(store)
    _unchain(raw, list(ids.values()))
    events = sum(len(raw.rows(oid)) for oid in ids.values())
    assert f"{events} unchained" in intact(store)
    trail = OrderTrail(store, clock=clock)
    try:
        trail.record(FactKey(order_ref=COIDS[0]), ErrorReport(399, "after the upgrade"))
    finally:
        trail.close()
    assert f"{events} unchained" in intact(store)
    # The first chained event covers the unchained ones before it in its order.
    first = raw.rows(ids[COIDS[0]])[1]
    raw.set_state(ids[COIDS[0]], 2, first.state.replace(b'"client_id":1', b'"client_id":7'))
    result = runner.invoke(app, ["verify", *args(store)])
    assert result.exit_code == 1
    position = len(raw.rows(ids[COIDS[0]]))
    assert named(result.stdout.splitlines(), ids[COIDS[0]], position, "edited"), result.stdout
    assert "an unchained event before it" in result.stdout
