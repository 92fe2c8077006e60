"""The domain's reading of IB's errors against the request they answer, the request facts, and
observed terms IB gave no quantity for. Pure: the aggregate and its dispatch, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ordertrail.domain.facts import (
    ErrorReport,
    ExecutionReport,
    OrderObserved,
    Origin,
    OutboundRequest,
    RequestKind,
    StatusReport,
)
from ordertrail.domain.ib_errors import (
    CODE_TABLE,
    ErrorEffect,
    code_table_markdown,
    effect_of,
    is_session_code,
    is_warning,
)
from ordertrail.domain.order import Order
from ordertrail.domain.order_facts import answering
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)

S = OrderStatus
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
AAPL = ContractRef(265598, "AAPL")
LMT = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("150"))
K = RequestKind
E = ErrorEffect


@pytest.mark.parametrize(
    ("code", "answers", "acknowledged", "effect"),
    [
        (202, K.CANCEL, True, E.CONFIRMS_CANCEL),
        (202, None, False, E.CONFIRMS_CANCEL),
        (10147, K.CANCEL, False, E.REFUSES_CANCEL),
        (10148, K.CANCEL, True, E.REFUSES_CANCEL),
        (161, K.CANCEL, True, E.REFUSES_CANCEL),
        (201, K.PLACE, False, E.REJECTS),
        (201, None, False, E.REJECTS),
        (103, K.PLACE, False, E.REJECTS),
        (200, K.PLACE, False, E.REJECTS),
        (110, K.PLACE, False, E.REJECTS),
        (203, K.PLACE, False, E.REJECTS),
        (201, K.PLACE, True, E.INFORMS),
        (201, K.MODIFY, True, E.REFUSES_MODIFY),
        (110, K.MODIFY, True, E.REFUSES_MODIFY),
        (103, K.MODIFY, False, E.REFUSES_MODIFY),
        (135, K.MODIFY, True, E.REFUSES_MODIFY),
        (135, K.PLACE, False, E.INFORMS),
        (404, K.MODIFY, True, E.INFORMS),
        (399, K.PLACE, False, E.INFORMS),
        (10349, K.PLACE, False, E.INFORMS),
        (10167, K.MODIFY, True, E.INFORMS),
        (2104, K.MODIFY, True, E.INFORMS),
        (2199, K.PLACE, False, E.INFORMS),
        (1100, K.MODIFY, True, E.INFORMS),
        (326, K.PLACE, False, E.INFORMS),
        (504, K.PLACE, False, E.INFORMS),
    ],
)
def test_effect_of_reads_the_code_against_the_request(
    code: int, answers: RequestKind | None, acknowledged: bool, effect: ErrorEffect
) -> None:
    assert effect_of(code, answers=answers, acknowledged=acknowledged) is effect


def test_session_codes_are_the_documented_ones() -> None:
    for code in (326, 502, 504, 1100, 1101, 1102, 1300, 2100, 2104, 2158, 2199):
        assert is_session_code(code), code
    for code in (201, 202, 404, 2200, 2099, 10147, 1103):
        assert not is_session_code(code), code


def test_the_docs_table_has_a_row_per_entry() -> None:
    table = code_table_markdown().splitlines()
    assert table[:2] == ["| codes | answering | effect | why |", "|---|---|---|---|"]
    assert len(table) == 2 + len(CODE_TABLE)
    assert {row.split("`")[1] for row in table[2:]} == {e.value for e in ErrorEffect}


def _placed() -> Order:
    o = Order.place(client_order_id="OT-req-1", contract=AAPL, spec=LMT, ts_recorded=T0)
    o.submit(client_id=1, order_id=7, ts_recorded=T0)
    return o


def _kinds(o: Order) -> list[str]:
    return [type(e).__name__ for e in o.collect_events()]


def test_answering_prefers_the_last_unanswered_request() -> None:
    o = _placed()
    assert answering(o.state) is None
    o.record(OutboundRequest(K.PLACE, 1, 7, LMT), ts_recorded=T0)
    assert answering(o.state) is K.PLACE
    o.record(StatusReport("Submitted", Decimal(0), Decimal(100)), ts_recorded=T0)
    newer = LMT.with_changes(limit_price=Decimal("149"))
    o.record(OutboundRequest(K.MODIFY, 1, 7, newer), ts_recorded=T0)
    assert answering(o.state) is K.MODIFY
    o.record(OutboundRequest(K.CANCEL, 1, 7), ts_recorded=T0)
    assert answering(o.state) is K.CANCEL  # both open: the last one sent
    o.state.last_request = K.PLACE
    assert answering(o.state) is K.MODIFY  # the last sent is answered: the oldest open one


def test_a_place_request_submits_an_order_seen_leaving_the_client() -> None:
    o = Order.observe(
        OrderObserved(AAPL, LMT, Origin.API, sent_as="1:7@2026-03-02T15:00:00+00:00"),
        ts_recorded=T0,
    )
    assert o.state.status is S.NEW
    assert o.state.order_key == "sent:1:7@2026-03-02T15:00:00+00:00"
    assert o.record(OutboundRequest(K.PLACE, 1, 7, LMT), ts_recorded=T0)
    s = o.state
    assert (s.status, s.last_request, s.requests, s.aliases) == (
        S.PENDING_SUBMIT,
        K.PLACE,
        1,
        [(1, 7)],
    )
    assert not s.acknowledged
    assert o.record(ErrorReport(201, "Order rejected - reason:margin"), ts_recorded=T0)
    assert o.state.status is S.INACTIVE
    assert o.state.anomalies == []


def test_a_refused_modify_keeps_the_order_and_its_terms() -> None:
    o = _placed()
    o.record(OutboundRequest(K.PLACE, 1, 7, LMT), ts_recorded=T0)
    o.record(StatusReport("Submitted", Decimal(0), Decimal(100), perm_id=55), ts_recorded=T0)
    o.collect_events()
    newer = LMT.with_changes(limit_price=Decimal("149.993"))
    o.record(OutboundRequest(K.MODIFY, 1, 7, newer), ts_recorded=T0)
    assert o.state.pending_modification == newer
    o.record(
        ErrorReport(110, "The price does not conform to the minimum price variation"),
        ts_recorded=T0,
    )
    assert _kinds(o) == ["RequestSent", "ErrorReported", "ModificationRefused"]
    s = o.state
    assert (s.status, s.spec, s.pending_modification, s.anomalies) == (S.SUBMITTED, LMT, None, [])
    assert s.modifications_refused == 1


def test_an_unchanged_replace_is_a_request_that_asks_nothing_new() -> None:
    o = _placed()
    o.record(OutboundRequest(K.PLACE, 1, 7, LMT), ts_recorded=T0)
    o.record(StatusReport("Submitted", Decimal(0), Decimal(100), perm_id=55), ts_recorded=T0)
    o.record(OutboundRequest(K.MODIFY, 1, 7, LMT), ts_recorded=T0)
    assert o.state.pending_modification is None
    assert o.state.requests == 2


def test_a_rejection_of_a_working_order_informs_and_says_so() -> None:
    o = _placed()
    o.record(StatusReport("PreSubmitted", Decimal(0), Decimal(100)), ts_recorded=T0)
    o.collect_events()
    o.record(ErrorReport(201, "Order rejected - reason:margin"), ts_recorded=T0)
    events = list(o.collect_events())
    assert [type(e).__name__ for e in events] == ["ErrorReported", "AnomalyRecorded"]
    assert events[0].effect == "informs"
    assert events[1].kind == "rejection_of_working_order"
    assert o.state.status is S.PRE_SUBMITTED
    # IB's own status then ends it.
    o.record(StatusReport("Inactive", Decimal(0), Decimal(100)), ts_recorded=T0)
    assert o.state.status is S.INACTIVE


def test_the_same_error_is_one_fact_per_request() -> None:
    o = _placed()
    o.record(OutboundRequest(K.PLACE, 1, 7, LMT), ts_recorded=T0)
    o.record(StatusReport("Filled", Decimal(100), Decimal(0)), ts_recorded=T0)
    refusal = ErrorReport(10148, "OrderId 7 that needs to be cancelled cannot be cancelled")
    o.record(OutboundRequest(K.CANCEL, 1, 7), ts_recorded=T0)
    assert o.record(refusal, ts_recorded=T0)
    assert not o.record(refusal, ts_recorded=T0 + timedelta(seconds=1))  # IB repeating itself
    o.record(OutboundRequest(K.CANCEL, 1, 7), ts_recorded=T0)
    assert o.record(refusal, ts_recorded=T0)  # answering the second cancel
    assert o.state.errors == 2
    assert not o.state.cancel_requested
    assert o.state.status is S.FILLED


def _exec(n: int, shares: str) -> Execution:
    return Execution(
        exec_id=f"0001f4e8.65f1a2b3.0{n}.01",
        time=T0,
        account="DU1",
        exchange="ISLAND",
        side=Side.BOUGHT,
        shares=Decimal(shares),
        price=Decimal("150"),
        perm_id=55,
    )


def test_observed_quantity_zero_is_unknown_and_the_gap_closes_with_executions() -> None:
    unknown = OrderSpec(OrderAction.BUY, Decimal(0), OrderType.LIMIT, observed=True)
    o = Order.observe(OrderObserved(AAPL, unknown, Origin.API, perm_id=55), ts_recorded=T0)
    o.record(StatusReport("Filled", Decimal(26), None), ts_recorded=T0)
    assert o.state.status is S.FILLED
    assert o.state.fills_not_seen == Decimal(26)
    o.record(ExecutionReport(_exec(1, "20")), ts_recorded=T0)
    assert o.state.fills_not_seen == Decimal(6)
    o.record(ExecutionReport(_exec(2, "6")), ts_recorded=T0)
    assert o.state.fills_not_seen == Decimal(0)
    # No quantity: no fill completes it or overfills it; IB's Filled status said it.
    assert o.state.anomalies == []
    assert o.state.status is S.FILLED


def test_a_command_still_needs_a_quantity() -> None:
    from ordertrail.domain.errors import InvalidOrderSpec

    with pytest.raises(InvalidOrderSpec, match="quantity"):
        OrderSpec(OrderAction.BUY, Decimal(0), OrderType.LIMIT, limit_price=Decimal(1))
    with pytest.raises(InvalidOrderSpec, match="quantity"):
        OrderSpec(OrderAction.BUY, Decimal(-1), OrderType.LIMIT, observed=True)


def test_only_a_place_request_submits_and_only_a_new_order() -> None:
    # A cancel seen leaving the client for an order not yet submitted leaves it New.
    o = Order.place(client_order_id="OT-req-2", contract=AAPL, spec=LMT, ts_recorded=T0)
    o.record(OutboundRequest(K.CANCEL, 1, 8), ts_recorded=T0)
    assert o.state.status is S.NEW
    assert o.state.cancel_requested
    # A place seen again for an order IB already works leaves its status alone.
    o = _placed()
    o.record(StatusReport("Submitted", Decimal(0), Decimal(100), perm_id=55), ts_recorded=T0)
    o.record(OutboundRequest(K.PLACE, 1, 7, LMT), ts_recorded=T0)
    assert o.state.status is S.SUBMITTED


@pytest.mark.parametrize(
    ("code", "warning"),
    [(2099, False), (2100, True), (2158, True), (2199, True), (2200, False),
     (399, True), (404, True), (10349, True), (10167, True), (10350, False), (201, False)],
)  # fmt: skip
def test_warnings_are_the_farm_notices_and_the_order_messages_that_cancel_nothing(
    code: int, warning: bool
) -> None:
    assert is_warning(code) is warning


@pytest.mark.parametrize("code", [399, 404, 10349, 10167])
def test_a_warning_answering_a_new_order_informs_where_an_error_would_reject(code: int) -> None:
    # ib_async marks the Trade Cancelled on these; the order still works.
    assert effect_of(code, answers=RequestKind.PLACE, acknowledged=False) is ErrorEffect.INFORMS
    assert effect_of(code, answers=RequestKind.MODIFY, acknowledged=True) is ErrorEffect.INFORMS
