"""What the checking pass keeps of an openOrder, and what a placeOrder is read back as, are
exactly what the recorder made of ib_async's own objects before: the terms against any
contract, the raw codes of the terms it cannot name, the identifiers
(docs/adr/0148-open-order-kept-converted.md,
docs/adr/0149-placeorder-read-without-ib-async-objects.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from ib_async import Contract, Order

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.ib.opened import OpenOrder, converted
from ordertrail.adapters.ib.outbound import SentPlace, read_outbound
from ordertrail.adapters.simulator.tickets import parse_place_order
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.tape import Replayer, check_tape
from ordertrail.domain.errors import InvalidFact
from ordertrail.domain.values import ContractRef

from .sessions import event_log

STOCK = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD")
COMBO = Contract(conId=28812380, symbol="SPY", secType="BAG", exchange="SMART", currency="USD")
ORDERS = [
    Order(orderId=7, clientId=3, permId=91, orderRef="t1", action="BUY", totalQuantity=10,
          orderType="LMT", lmtPrice=-1.5, tif="GTC", account="DU1", parentId=4),
    Order(orderId=8, clientId=0, permId=0, action="SELL", totalQuantity=5, orderType="TRAIL",
          trailingPercent=2.5, tif="DAY"),
    Order(orderId=9, clientId=1, action="BUY", totalQuantity=1, orderType="FOO", tif="XYZ"),
    Order(orderId=10, clientId=1, action="BUY", totalQuantity=1, orderType="LMT", lmtPrice=1,
          whatIf=True),
]  # fmt: skip


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: o.orderType + str(o.orderId))
@pytest.mark.parametrize("contract", [STOCK, COMBO], ids=["stock", "combo"])
def test_a_kept_open_order_reads_as_the_order_it_was_made_of(
    order: Order, contract: Contract
) -> None:
    kept = OpenOrder.kept(order.orderId, contract, order)
    live = OpenOrder.live(order.orderId, contract, order)
    ids = (order.orderId, order.clientId, order.permId or None, order.orderRef or None)
    assert kept[:4] == live[:4] == ids
    assert kept.parent_id == live.parent_id == order.parentId
    assert kept.what_if is live.what_if is order.whatIf
    # Nothing of ib_async's is kept.
    assert kept.contract is None
    assert kept.order is None
    if order.whatIf:
        assert kept.terms is None  # the recorder skips what-if answers
        return
    cref, spec = converted(contract, order)
    unnamed = mapping.unnamed_terms(order) or None
    assert kept.new_order_terms() == live.new_order_terms() == (cref, spec, unnamed)
    # Against the stored contract of a known order, which may be another's.
    for stored in (STOCK, COMBO):
        other = mapping.contract_ref(stored)
        assert kept.spec_for(other) == live.spec_for(other) == mapping.order_spec(order, other)


def test_the_checking_pass_keeps_openorders_converted(good_tape: Path) -> None:
    check = check_tape(good_tape)
    kept = [
        args[0]
        for calls in check.decoded.values()
        for name, _, args in calls
        if name == "openOrder"
    ]
    assert kept
    assert all(isinstance(o, OpenOrder) and o.terms is not None for o in kept)
    assert all(o.contract is None and o.order is None for o in kept)


def _kept_executions(tape: Path) -> list[tuple[object, ...]]:
    return [
        args
        for calls in check_tape(tape).decoded.values()
        for name, _, args in calls
        if name == "execDetails"
    ]


def test_the_checking_pass_keeps_each_execution_contract_converted_once(good_tape: Path) -> None:
    kept = _kept_executions(good_tape)
    assert len(kept) >= 2
    contracts = [args[0] for args in kept]
    assert all(isinstance(c, ContractRef) for c in contracts)
    assert contracts[0] == ContractRef(265598, "AAPL", exchange="SMART", currency="USD")
    # One object for the one contract the session traded, not one per execution.
    assert all(c is contracts[0] for c in contracts)


def _nan_strike(f: list[str], at: int) -> None:
    f[at + 3] = "nan"  # symbol, secType, expiry, strike


def _no_name(f: list[str], at: int) -> None:
    f[at - 1], f[at], f[at + 9] = "0", "", ""  # conId, symbol, localSymbol


def _damaged(
    tape: Path, out: Path, msg_id: str, damage: Callable[[list[str], int], None]
) -> tuple[Path, int]:
    """``tape`` with the contract of every incoming ``msg_id`` damaged; (the copy, how many)."""
    lines = tape.read_text().splitlines(keepends=True)
    changed = 0
    for i, line in enumerate(lines):
        d = orjson.loads(line)
        if d.get("dir") == "in" and d["f"][:1] == [msg_id]:
            damage(d["f"], d["f"].index("AAPL"))
            lines[i] = orjson.dumps(d).decode() + "\n"
            changed += 1
    out.write_text("".join(lines))
    return out, changed


@pytest.mark.parametrize("damage", [_nan_strike, _no_name])
def test_an_execution_whose_contract_cannot_be_converted_is_replayed_as_live_records_it(
    good_tape: Path, tmp_path: Path, damage: Callable[[list[str], int], None]
) -> None:
    # The recorder converts an execution's contract only for an order it does not know (to
    # observe the order should IB never report it): for a known order a contract that cannot
    # be converted (a strike IB sent as NaN, no conId and no symbol) changes nothing, live or
    # replayed, and the line is no problem.
    damaged, changed = _damaged(good_tape, tmp_path / "damaged.tape", "11", damage)
    assert changed >= 2
    kept = _kept_executions(damaged)
    assert all(isinstance(args[0], Contract) for args in kept)
    assert not check_tape(damaged).problems

    report = Replayer(StoreConfig.resolve(tmp_path / "damaged")).replay(damaged)
    assert report.ok, report.as_dict()
    Replayer(StoreConfig.resolve(tmp_path / "good")).replay(good_tape)
    topics = [topic for _, _, topic, _ in event_log(tmp_path / "damaged")]
    assert topics == [topic for _, _, topic, _ in event_log(tmp_path / "good")]
    assert sum("ExecutionRecorded" in t for t in topics) == changed


def _place_order_fields(tape: Path) -> list[str]:
    for raw in tape.read_bytes().splitlines():
        obj = orjson.loads(raw)
        if obj.get("dir") == "out" and obj["f"][:1] == ["3"]:
            fields: list[str] = obj["f"]
            return fields
    raise AssertionError("no placeOrder on the tape")


@pytest.mark.parametrize(
    ("order_type", "tif", "lmt", "aux", "sec_type"),
    [
        ("LMT", "DAY", "150", "", "STK"),
        ("STP LMT", "GTC", "-2.5", "3", "FUT"),
        ("TRAIL", "", "", "1.7976931348623157E308", "STK"),
        ("FOO", "XYZ", "1", "Infinite", "OPT"),
    ],
)
def test_a_placeorder_reads_as_ib_async_objects_with_its_values_convert(
    good_tape: Path, order_type: str, tif: str, lmt: str, aux: str, sec_type: str
) -> None:
    fields = _place_order_fields(good_tape)
    # The contract and the order's head are the first scalar fields, in ``raw``'s order.
    names = list(parse_place_order(fields, 178).raw)
    changed = list(fields)
    for name, value in (("orderType", order_type), ("tif", tif), ("lmtPrice", lmt),
                        ("auxPrice", aux), ("secType", sec_type)):  # fmt: skip
        changed[2 + names.index(name)] = value
    sent = read_outbound(changed, 178)
    assert isinstance(sent, SentPlace)
    t = parse_place_order(changed, 178)

    def price(name: str) -> float:
        value = t.number(name)
        return 1.7976931348623157e308 if value is None else float(value)

    contract = Contract(conId=t.con_id, symbol=t.symbol, secType=t.text("secType"),
                        strike=float(t.number("strike") or 0), exchange=t.text("exchange"),
                        currency=t.text("currency"), localSymbol=t.text("localSymbol"),
                        lastTradeDateOrContractMonth=t.text("lastTradeDateOrContractMonth"),
                        right=t.text("right"), multiplier=t.text("multiplier"))  # fmt: skip
    order = Order(action=t.action, totalQuantity=float(t.total_quantity),
                  orderType=t.text("orderType"), lmtPrice=price("lmtPrice"),
                  auxPrice=price("auxPrice"), tif=t.text("tif"), account=t.account,
                  outsideRth=t.outside_rth, ocaGroup=t.oca_group, ocaType=t.oca_type,
                  transmit=t.transmit, goodTillDate=t.text("goodTillDate"),
                  trailingPercent=price("trailingPercent"))  # fmt: skip
    cref = mapping.contract_ref(contract)
    assert sent == (t.order_id, cref, mapping.order_spec(order, cref), t.order_ref,
                    t.parent_id, mapping.unnamed_terms(order))  # fmt: skip
    # Read again, the contract is the one converted the first time.
    again = read_outbound(changed, 178)
    assert again == sent
    assert isinstance(again, SentPlace)
    assert again.contract is sent.contract


def test_a_contract_converts_to_one_object_and_a_bad_one_fails_every_time() -> None:
    again = Contract(conId=265598, symbol="AAPL", secType="STK", exchange="SMART", currency="USD")
    assert mapping.contract_ref(again) is mapping.contract_ref(STOCK)
    assert mapping.contract_ref(COMBO) is not mapping.contract_ref(STOCK)
    bad = Contract(conId=1, symbol="X", secType="OPT", strike=float("nan"))
    for _ in range(2):
        with pytest.raises(InvalidFact, match=r"contract\.strike"):
            mapping.contract_ref(bad)
    for i in range(mapping.CONTRACT_REFS_KEPT + 5):
        mapping.contract_ref(Contract(conId=i + 10, symbol=f"S{i}"))
    assert mapping.contract_ref(Contract(conId=10, symbol="S0")).con_id == 10


@pytest.mark.parametrize("damage", [_nan_strike, _no_name])
def test_an_open_order_of_a_known_order_whose_contract_cannot_be_converted_is_recorded(
    good_tape: Path, tmp_path: Path, damage: Callable[[list[str], int], None]
) -> None:
    # Live, the contract of an order the recorder knows (here: from the placeOrder that sent
    # it) is never converted: its openOrders are read against the contract stored with it.
    damaged, changed = _damaged(good_tape, tmp_path / "damaged.tape", "5", damage)
    assert changed >= 2
    assert not check_tape(damaged).problems
    assert not check_tape(damaged, keep_fields=0).problems
    kept = [
        args[0]
        for calls in check_tape(damaged).decoded.values()
        for name, _, args in calls
        if name == "openOrder"
    ]
    assert kept
    assert all(o.terms is None and o.contract is not None for o in kept)

    report = Replayer(StoreConfig.resolve(tmp_path / "damaged")).replay(damaged)
    assert report.ok, report.as_dict()
    Replayer(StoreConfig.resolve(tmp_path / "good")).replay(good_tape)
    assert [e[1:] for e in event_log(tmp_path / "damaged")] == [
        e[1:] for e in event_log(tmp_path / "good")
    ]


def test_an_open_order_whose_terms_cannot_be_read_is_a_problem_of_its_line(
    good_tape: Path, tmp_path: Path
) -> None:
    lines = good_tape.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        d = orjson.loads(line)
        if d.get("dir") == "in" and d["f"][:1] == ["5"]:
            f = d["f"]
            f[f.index("LMT") - 1] = "nan"  # totalQuantity, just before orderType
            lines[i] = orjson.dumps(d).decode() + "\n"
            break
    damaged = tmp_path / "bad-terms.tape"
    damaged.write_text("".join(lines))
    for keep in (0, 2_000_000):
        problems = check_tape(damaged, keep_fields=keep).problems
        assert [(p.kind, p.line) for p in problems] == [("fact", i + 1)], problems
        assert "totalQuantity" in problems[0].message
