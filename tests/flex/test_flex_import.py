"""The importer against a real SQLite event store, through OrderTrail."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordertrail.adapters.flex.importer import FlexImporter
from ordertrail.adapters.flex.statement import read_flex_file
from ordertrail.adapters.flex.xmltree import FlexFileError
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.events import ExecutionCancelled, ExecutionRecorded, OrderCreated
from ordertrail.domain.facts import CommissionReported, ExecutionReport
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

from .conftest import BROKEN, CONFIRM, MISSING, WEEK1, WEEK2, event_count, import_path

D = Decimal


def test_only_execution_rows_are_read() -> None:
    flex = read_flex_file(WEEK1)
    (st,) = flex.statements
    # 5 EXECUTION rows; the ORDER, SymbolSummary and CLOSED_LOT rows, the LOT position and the
    # OptionEAE section would count the same fills again.
    assert [f.row.attrs["tradeID"] for f in st.fills] == ["501", "502", "503", "504", "505"]
    assert st.skipped_rollups == 3
    assert [(p.con_id, p.quantity) for p in st.positions or ()] == [
        (265598, D(100)),
        (272093, D(150)),
    ]
    assert flex.warnings == [
        "activity_2025-08-04_08.xml: line 31: <FancyNewSection> unknown section ignored"
    ]


def test_a_statement_becomes_orders_executions_and_commissions(trail: OrderTrail) -> None:
    counts = import_path(trail, WEEK1).counts
    assert (counts.orders_created, counts.executions_recorded, counts.commissions_recorded) == (
        4,
        5,
        5,
    )
    states = trail.states()
    aapl = states[Order.id_for(client_order_id="OT-aapl-1")]
    assert aapl.origin == "flex"
    assert aapl.perm_id == 1001
    assert aapl.filled == D(100)  # not 200 or 300: roll-up rows are not fills
    assert aapl.status is OrderStatus.FILLED
    assert aapl.spec.order_type is OrderType.LIMIT
    assert aapl.spec.limit_price is None
    # Flex books commissions negative; stored with the live sign.
    assert aapl.commission_total == D("1.00")
    x = aapl.executions["0000e0d5.6891a001.01"]
    assert (x.side, x.shares, x.price) == (Side.BOUGHT, D(60), D("210.10"))
    assert x.time == datetime(2025, 8, 5, 14, 15, tzinfo=UTC)
    # orderReference "rebalance" is not one of ours: keyed by IB's order id.
    msft = states[Order.id_for(perm_id=1002)]
    assert msft.client_order_id is None
    assert msft.executions["0000e0d5.6891a003.01"].side is Side.SOLD
    assert msft.commissions["0000e0d5.6891a003.01"].realized_pnl == D("1210.55")
    # The expiry: a book entry at price 0, no IB order, no execution id.
    expiry = states[Order.id_for(perm_id=-505)]
    assert expiry.contract.sec_type == "OPT"
    assert expiry.contract.symbol == "AAPL"
    assert expiry.contract.multiplier == D(100)
    assert expiry.executions["FLEX-T505"].price == D(0)


def test_provenance_keeps_the_raw_row(trail: OrderTrail) -> None:
    import_path(trail, WEEK1)
    oid = Order.id_for(client_order_id="OT-aapl-1")
    events = trail.history(oid)
    created = events[0]
    assert isinstance(created, OrderCreated)
    assert created.provenance is not None
    assert created.provenance["flex_row"] == "Order/ORDER"  # the ORDER row names the order
    fills = [e for e in events if isinstance(e, ExecutionRecorded)]
    prov = fills[0].provenance
    assert prov is not None
    assert prov["flex_file"] == "activity_2025-08-04_08.xml"
    assert prov["flex_row"] == "Trade/EXECUTION"
    assert prov["tradeID"] == "501"
    assert prov["ibCommission"] == "-0.35"
    assert prov["dateTime"] == "20250805;101500"


def test_importing_twice_records_nothing_twice(trail: OrderTrail) -> None:
    import_path(trail, WEEK1)
    import_path(trail, WEEK2)
    before = event_count(trail)
    again = import_path(trail, WEEK1).counts
    again2 = import_path(trail, WEEK2).counts
    assert event_count(trail) == before
    assert again.executions_already_recorded == 5
    assert again.executions_recorded == again.orders_created == again.commissions_recorded == 0
    assert again2.cancels_already_applied == 1
    # The busted fill of week 1 is not brought back by re-reading week 1.
    aapl = trail.states()[Order.id_for(client_order_id="OT-aapl-1")]
    assert "0000e0d5.6891a002.01" not in aapl.executions


def test_a_fresh_trail_on_the_same_store_also_records_nothing(trail: OrderTrail) -> None:
    import_path(trail, WEEK1)
    before = event_count(trail)
    other = OrderTrail(trail.config)
    assert import_path(other, WEEK1).counts.executions_recorded == 0
    assert event_count(other) == before


def test_a_statement_overlapping_live_executions_merges(trail: OrderTrail) -> None:
    contract = ContractRef(265598, "AAPL")
    spec = OrderSpec(
        OrderAction.BUY, D(100), OrderType.LIMIT, limit_price=D("210.50"), account="U1234567"
    )
    oid = trail.place(client_order_id="OT-aapl-1", contract=contract, spec=spec)
    trail.submit(oid, client_id=1, order_id=7)
    live = Execution(
        exec_id="0000e0d5.6891a001.01.01",
        time=datetime(2025, 8, 5, 14, 15, tzinfo=UTC),
        account="U1234567",
        exchange="ISLAND",
        side=Side.BOUGHT,
        shares=D(60),
        price=D("210.10"),
        perm_id=1001,
        client_id=1,
        order_id=7,
        order_ref="OT-aapl-1",
    )
    key = FactKey(order_ref="OT-aapl-1", perm_id=1001, client_id=1, order_id=7)
    assert trail.record(key, ExecutionReport(live))
    # The live report said 0.34; the statement's 0.35 does not overwrite what IB sent live.
    trail.record(None, CommissionReported(CommissionReport(live.exec_id, D("0.34"), "USD")))

    counts = import_path(trail, WEEK1).counts

    assert counts.executions_already_recorded == 1
    assert counts.executions_recorded == 4
    assert counts.orders_created == 3  # MSFT, the call, its expiry: not AAPL
    states = trail.states()
    aapl = states[oid]
    assert aapl.origin == "placed"
    assert aapl.filled == D(100)
    assert set(aapl.executions) == {"0000e0d5.6891a001.01", "0000e0d5.6891a002.01"}
    assert aapl.commissions["0000e0d5.6891a001.01"].commission == D("0.34")
    assert aapl.commissions["0000e0d5.6891a002.01"].commission == D("0.65")
    assert sum(1 for s in states.values() if s.contract.con_id == 265598) == 1


def test_a_trade_cancel_busts_the_fill_it_names_and_keeps_the_replacement(
    trail: OrderTrail,
) -> None:
    import_path(trail, WEEK1)
    counts = import_path(trail, WEEK2).counts
    assert counts.cancels_applied == 1
    aapl_id = Order.id_for(client_order_id="OT-aapl-1")
    aapl = trail.states()[aapl_id]
    assert aapl.cancelled_executions == ["0000e0d5.6891a002.01.01"]
    assert set(aapl.executions) == {"0000e0d5.6891a001.01", "0000e0d5.6891a00c.01"}
    assert aapl.filled == D(100)
    assert "overfill" not in aapl.anomalies  # the cancel went before its replacement
    # The busted fill's commission went with it: only the live fills' commissions remain.
    assert set(aapl.commissions) == set(aapl.executions)
    (cancel,) = [e for e in trail.history(aapl_id) if isinstance(e, ExecutionCancelled)]
    assert cancel.provenance is not None
    assert cancel.provenance["reportDate"] == "2025-08-13"  # report time, kept
    assert cancel.ts_event == datetime(2025, 8, 5, 14, 15, 2, tzinfo=UTC)  # trade time


def test_a_cancel_of_a_trade_never_seen_is_reported_not_guessed(trail: OrderTrail) -> None:
    result = import_path(trail, WEEK2)
    assert result.counts.cancels_unmatched == 1
    assert any("TradeCancel of tradeID 502 not applied" in w for w in result.warnings)
    assert result.counts.executions_recorded == 2  # the replacement and the sale


def test_trade_confirmations_use_their_own_names(trail: OrderTrail) -> None:
    counts = import_path(trail, CONFIRM).counts
    assert (counts.orders_created, counts.executions_recorded, counts.rollup_rows_skipped) == (
        1,
        2,
        2,
    )
    nvda = trail.states()[Order.id_for(client_order_id="OT-nvda-1")]
    assert nvda.filled == D(25)
    assert nvda.commission_total == D("0.80")
    times = sorted(x.time for x in nvda.executions.values() if x.time is not None)
    assert times == [
        datetime(2025, 8, 18, 18, 45, 28, tzinfo=UTC),
        datetime(2025, 8, 18, 18, 45, 31, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (BROKEN, "line 7, column 1: malformed XML"),
        (MISSING, "line 9: <Trade> is missing required attribute 'conid'"),
    ],
)
def test_bad_files_are_refused_whole(trail: OrderTrail, path: object, expected: str) -> None:
    with pytest.raises(FlexFileError) as err:
        read_flex_file(path)  # type: ignore[arg-type]
    assert expected in str(err.value)
    assert str(path) in str(err.value)
    assert event_count(trail) == 0


def test_a_file_is_saved_in_one_transaction(trail: OrderTrail) -> None:
    # Another process imports the same file while this import is half way through: the first
    # to commit records the file; the other's one transaction records nothing of it.
    other = OrderTrail(trail.config)
    raced: list[int] = []

    def progress(n: int) -> None:
        if not raced:
            raced.append(n)
            FlexImporter(other).import_file(read_flex_file(WEEK1))

    alone = event_count(trail)
    with pytest.raises(FlexFileError, match="another writer changed these orders"):
        FlexImporter(trail).import_file(read_flex_file(WEEK1), progress)
    once = event_count(trail)
    assert raced
    assert once > alone
    # Importing it again records nothing: the store holds the file exactly once.
    FlexImporter(trail).import_file(read_flex_file(WEEK1))
    assert event_count(trail) == once
    other.close()
