"""``OrderTrail.batch()``: the unit of work for bulk facts (docs/adr/0008-batched-facts.md).

Inside a batch, lookups see what the batch did; the store sees nothing until the batch ends,
then all of it in one transaction, in the order the facts came; a batch that raises, or loses
a race to another writer, records nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_rows
from ordertrail.adapters.trail import BatchNotSaved, FactKey, OrderTrail
from ordertrail.domain.facts import (
    CommissionReported,
    ExecutionReport,
    OpenOrderReport,
    OrderObserved,
    Origin,
    StatusReport,
)
from ordertrail.domain.order import Order
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)
from tests.conftest import EPOCH, Clock

AAPL = ContractRef(con_id=265598, symbol="AAPL")
SPEC = OrderSpec(OrderAction.BUY, Decimal(10), OrderType.LIMIT, limit_price=Decimal(150))
PERM = 2_000_000_001


@pytest.fixture
def open_trail(store: StoreConfig) -> Iterator[Callable[[], OrderTrail]]:
    opened: list[OrderTrail] = []

    def make() -> OrderTrail:
        trail = OrderTrail(store, clock=Clock())
        opened.append(trail)
        return trail

    yield make
    for trail in opened:
        trail.close()


def log(trail: OrderTrail) -> list[tuple[str, int, str, bytes]]:
    """(order id, version, topic, payload) in log order; ids as UUIDs on either store."""
    return [(str(UUID(str(o))), v, t, bytes(s)) for _, o, v, t, s in stored_rows(trail.recorder)]


def execution(exec_id: str, shares: int, perm_id: int = PERM) -> Execution:
    return Execution(
        exec_id=exec_id,
        time=EPOCH + timedelta(seconds=1),
        account="DU1",
        exchange="ISLAND",
        side=Side.BOUGHT,
        shares=Decimal(shares),
        price=Decimal(150),
        perm_id=perm_id,
        client_id=1,
        order_id=7,
    )


def commission(exec_id: str) -> CommissionReport:
    return CommissionReport(exec_id=exec_id, commission=Decimal("1.5"), currency="USD")


def session(trail: OrderTrail) -> dict[str, Any]:
    """Facts a replay produces, each relying on what the ones before it did: an order placed
    by hand in TWS is discovered, found again by permId and by its session alias, filled in two
    executions (the commission of the second arrives before it and is held), then repeated."""
    key = FactKey(perm_id=PERM, client_id=1, order_id=7)
    out: dict[str, Any] = {}
    assert trail.resolve(key) is None
    oid = trail.observe(
        OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
    )
    trail.bind_alias(1, 7, oid)
    out["found_by_perm"] = trail.resolve(FactKey(perm_id=PERM))
    out["found_by_alias"] = trail.resolve(FactKey(client_id=1, order_id=7))
    out["exists"] = trail.exists(oid)
    out["same_object"] = trail.get(oid) is trail.get(oid)
    trail.record(
        key,
        OpenOrderReport(
            spec=SPEC, perm_id=key.perm_id, client_id=key.client_id, order_id=key.order_id
        ),
    )
    trail.record(
        key,
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(10),
            avg_fill_price=None,
            perm_id=key.perm_id,
        ),
    )
    out["early_commission"] = trail.record(None, CommissionReported(commission("0001.01.01")))
    trail.record(key, ExecutionReport(execution("0000.01.01", 4)))
    out["commission"] = trail.record(None, CommissionReported(commission("0000.01.01")))
    trail.record(key, ExecutionReport(execution("0001.01.01", 6)))  # releases the held commission
    out["held_after"] = trail.pending_commissions
    out["repeat"] = trail.record(key, ExecutionReport(execution("0001.01.01", 6)))
    trail.record(
        key,
        StatusReport(
            raw_status="Filled",
            filled=Decimal(10),
            remaining=Decimal(0),
            avg_fill_price=Decimal(150),
            perm_id=key.perm_id,
        ),
    )
    out["status"] = trail.get(oid).state.status
    out["commissions"] = len(trail.get(oid).state.commissions)
    out["oid"] = oid
    return out


def test_a_batch_sees_its_own_facts_and_records_what_one_by_one_records(
    open_trail: Callable[[], OrderTrail], tmp_path: Path
) -> None:
    one_by_one = OrderTrail(StoreConfig.resolve(tmp_path / "one-by-one"), clock=Clock())
    expected = session(one_by_one)
    expected_log = log(one_by_one)
    one_by_one.close()

    trail, other = open_trail(), open_trail()
    with trail.batch():
        got = session(trail)
        # Nothing reaches the store before the end.
        assert log(trail) == []
        assert log(other) == []
        assert not other.exists(got["oid"])
    assert got.pop("same_object") is True  # the identity map: one object per order
    assert expected.pop("same_object") is False  # fact by fact, every get loads afresh
    assert got == expected
    assert got["found_by_perm"] == got["found_by_alias"] == got["oid"]
    assert got["exists"]
    assert (got["early_commission"], got["commission"], got["repeat"]) == (None, True, False)
    assert got["held_after"] == []
    assert (got["status"], got["commissions"]) == (OrderStatus.FILLED, 2)
    # The same events, payloads and ts_recorded, in the same log order, as fact by fact.
    assert log(other) == expected_log
    assert other.get(got["oid"]).state.status is OrderStatus.FILLED


def test_a_batch_is_one_transaction(open_trail: Callable[[], OrderTrail]) -> None:
    trail = open_trail()
    before = trail.observe(
        OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM + 1, origin=Origin.DISCOVERED)
    )
    trail.record(
        None, CommissionReported(commission("0009.01.01"))
    )  # held: its execution is unknown
    stored = log(trail)

    class Crash(Exception):
        pass

    def crashing_batch() -> None:
        with trail.batch():
            oid = trail.observe(
                OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
            )
            trail.bind_alias(1, 7, oid)
            trail.record(FactKey(perm_id=PERM), ExecutionReport(execution("0009.01.01", 4)))
            trail.record(
                FactKey(perm_id=PERM + 1),
                StatusReport(
                    raw_status="Submitted",
                    filled=Decimal(0),
                    remaining=Decimal(10),
                    avg_fill_price=None,
                    perm_id=FactKey(perm_id=PERM + 1).perm_id,
                ),
            )
            assert trail.pending_commissions == []
            raise Crash

    with pytest.raises(Crash):
        crashing_batch()
    assert log(trail) == stored
    # The trail's memory is as before the batch: no alias, index entry or order from it, and
    # the commission report it consumed is held again.
    assert trail.resolve(FactKey(perm_id=PERM, client_id=1, order_id=7)) is None
    assert not trail.exists(Order.id_for(perm_id=PERM))
    assert [c.exec_id for c in trail.pending_commissions] == ["0009.01.01"]
    assert trail.resolve(FactKey(perm_id=PERM + 1)) == before
    # And it works on: the same facts again, in a batch that ends well.
    with trail.batch():
        trail.observe(
            OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
        )
        assert trail.record(FactKey(perm_id=PERM), ExecutionReport(execution("0009.01.01", 4)))
    assert trail.pending_commissions == []
    assert len(trail.get(Order.id_for(perm_id=PERM)).state.commissions) == 1


def test_a_conflict_with_another_writer_records_nothing(
    open_trail: Callable[[], OrderTrail],
) -> None:
    ours, theirs = open_trail(), open_trail()
    oid = ours.observe(
        OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
    )
    key = FactKey(perm_id=PERM)
    stored = len(log(ours))

    def facts(trail: OrderTrail) -> None:
        trail.observe(
            OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM + 1, origin=Origin.DISCOVERED)
        )  # a second order: also lost
        trail.record(
            key,
            StatusReport(
                raw_status="Submitted",
                filled=Decimal(0),
                remaining=Decimal(10),
                avg_fill_price=None,
                perm_id=key.perm_id,
            ),
        )

    def racing_batch() -> None:
        with ours.batch():
            facts(ours)
            # Meanwhile another process appends to the same order (it commits fact by fact).
            theirs.record(key, ExecutionReport(execution("0000.01.01", 4)))

    with pytest.raises(BatchNotSaved) as caught:
        racing_batch()
    assert caught.value.conflict
    assert len(log(ours)) == stored + 1  # only theirs
    assert not ours.exists(Order.id_for(perm_id=PERM + 1))
    # Re-running the batch on fresh state succeeds.
    with ours.batch():
        facts(ours)
    assert ours.get(oid).state.filled == Decimal(4)
    assert ours.exists(Order.id_for(perm_id=PERM + 1))


def test_outside_a_batch_each_fact_is_committed_as_it_comes(
    open_trail: Callable[[], OrderTrail],
) -> None:
    trail, other = open_trail(), open_trail()
    oid = trail.observe(
        OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
    )
    assert other.exists(oid)
    trail.record(FactKey(perm_id=PERM), ExecutionReport(execution("0000.01.01", 4)))
    assert other.get(oid).state.filled == Decimal(4)


def test_nested_batches_join_the_outer_one(open_trail: Callable[[], OrderTrail]) -> None:
    trail, other = open_trail(), open_trail()
    with trail.batch():
        with trail.batch():
            oid = trail.observe(
                OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
            )
        assert not other.exists(oid)
        trail.record(FactKey(perm_id=PERM), ExecutionReport(execution("0000.01.01", 4)))
    assert other.get(oid).state.filled == Decimal(4)


def test_commands_in_a_batch(open_trail: Callable[[], OrderTrail]) -> None:
    trail = open_trail()
    with trail.batch():
        oid = trail.place(client_order_id="OT-batch-1", contract=AAPL, spec=SPEC)
        trail.submit(oid, client_id=1, order_id=9)
        assert trail.resolve(FactKey(order_ref="OT-batch-1")) == oid
        assert trail.resolve(FactKey(client_id=1, order_id=9)) == oid
    assert trail.get(oid).state.status is OrderStatus.PENDING_SUBMIT


def test_a_fact_that_fails_half_way_spoils_the_batch(
    open_trail: Callable[[], OrderTrail],
) -> None:
    trail = open_trail()
    oid = trail.observe(
        OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
    )
    stored = log(trail)

    def half_way(order: Order) -> None:
        order.record(
            ExecutionReport(execution("0000.01.01", 4)), ts_recorded=datetime.now(EPOCH.tzinfo)
        )
        raise ValueError("broke after deciding")

    def spoilt_batch() -> None:
        with trail.batch():
            with pytest.raises(ValueError, match="after deciding"):
                trail._change(oid, half_way)  # a recorder catches the error and goes on
            trail.observe(
                OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM + 1, origin=Origin.DISCOVERED)
            )

    with pytest.raises(BatchNotSaved, match="half way"):
        spoilt_batch()
    assert log(trail) == stored


def submitted(filled: int = 0) -> StatusReport:
    return StatusReport(
        raw_status="Submitted",
        filled=Decimal(filled),
        remaining=Decimal(10 - filled),
        avg_fill_price=Decimal(150) if filled else None,
        perm_id=PERM,
    )


def test_a_batch_carries_its_orders_to_the_next_only_if_nobody_wrote_between(
    open_trail: Callable[[], OrderTrail],
) -> None:
    """The next batch starts from the orders the last one saved (no reload), unless the log
    moved meanwhile: then an order another process appended to is loaded afresh, so its fact
    is decided on what the store holds and the save does not conflict."""
    ours, theirs = open_trail(), open_trail()
    key = FactKey(perm_id=PERM)
    with ours.batch():
        oid = ours.observe(
            OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
        )
        ours.record(key, submitted())
    with ours.batch():  # nothing written in between: carried, and the same order object
        carried = ours.get(oid)
        ours.record(key, ExecutionReport(execution("0000.01.01", 2)))
    theirs.record(key, ExecutionReport(execution("0000.01.02", 3)))  # a correction, committed
    with ours.batch():
        assert ours.get(oid) is not carried  # loaded again: the log moved
        ours.record(key, submitted(3))
    state = ours.get(oid).state
    assert state.filled == Decimal(3)
    assert state.status is OrderStatus.SUBMITTED
    versions = [v for o, v, _, _ in log(ours) if o == str(oid)]
    assert versions == list(range(1, len(versions) + 1))
    assert ours.get(oid).state.executions.keys() == {"0000.01"}


def test_a_batch_finds_an_order_another_process_created_before_it_began(
    open_trail: Callable[[], OrderTrail],
) -> None:
    """A batch answers "is this id in the store?" from the log index when the index has read
    the log up to where the batch began; an order created by another process after the index
    last read the log is asked of the store, and found."""
    ours, theirs = open_trail(), open_trail()
    with ours.batch():
        ours.observe(
            OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
        )
    other = theirs.observe(
        OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM + 1, origin=Origin.DISCOVERED)
    )
    with ours.batch():
        assert ours.exists(other)
        assert not ours.exists(Order.id_for(perm_id=PERM + 2))
        ours.record(FactKey(perm_id=PERM + 1), submitted())
    assert theirs.get(other).state.status is OrderStatus.SUBMITTED


def test_an_order_found_absent_then_named_by_the_log_index_is_loaded(
    open_trail: Callable[[], OrderTrail],
) -> None:
    """Found absent at first, created by another process during the batch, then named by the
    permId index when it reads the log: the batch loads it (it does not insist on its first
    answer and fail to find an order the index names)."""
    ours, theirs = open_trail(), open_trail()
    observed = OrderObserved(contract=AAPL, spec=SPEC, perm_id=PERM, origin=Origin.DISCOVERED)
    oid = Order.id_for(perm_id=PERM)
    with ours.batch():
        assert not ours.exists(oid)
        theirs.observe(observed)
        assert ours.resolve(FactKey(perm_id=PERM)) == oid
        ours.record(FactKey(perm_id=PERM), submitted())
    assert theirs.get(oid).state.status is OrderStatus.SUBMITTED
