"""The RiskGate's exposure saved in the store: a new process starts from the state an earlier one
saved and gives exactly what a follower that read the whole log gives; a saved state that does
not fit the store it is read from (another store's, a damaged row, an unknown layout) is read
past, never trusted and never an error; a save the store does not take is skipped."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.execution.exposure import Exposure, TrailExposure
from ordertrail.adapters.store.checkpoints import TABLE, Checkpoints, SavedState, checkpoints_on
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import ExecutionBust, ExecutionReport, StatusReport
from ordertrail.domain.identity import new_client_order_id
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType, Side
from tests.execution.conftest import AAPL, MSFT
from tests.execution.test_exposure import assert_same_figures, fill_of, sent_order
from tests.strategies import feed_trail, ib_fact_sequences, order_specs

ZERO = Decimal(0)
# A contract without a conId: its key holds the strike, a Decimal.
SPY_CALL = ContractRef(0, "SPY", "OPT", expiry="20240621", strike=Decimal("512.50"), right="C")


@pytest.fixture
def trail(store: StoreConfig) -> Iterator[OrderTrail]:
    t = OrderTrail(store)
    yield t
    t.close()


def saving(trail: OrderTrail) -> Exposure:
    """The exposure follower of a trail, saving its state after every read."""
    follower = TrailExposure(trail, dry_run=False).follower
    follower.save_every = 1
    return follower


def saved_state(trail: OrderTrail) -> tuple[Checkpoints, SavedState]:
    """The trail's exposure read to the head and saved; where it was saved, and what."""
    saving(trail).catch_up()
    checkpoints = checkpoints_on(trail.recorder)
    assert checkpoints is not None
    saved = checkpoints.load(Exposure.name)
    assert saved is not None
    return checkpoints, saved


def whole_log(trail: OrderTrail) -> Exposure:
    """A follower that reads the whole log (no saved state)."""
    follower = Exposure(EventLog.on(trail.recorder))
    follower.catch_up()
    return follower


def new_process(store: StoreConfig, *, dry_run: bool = False) -> tuple[OrderTrail, TrailExposure]:
    trail = OrderTrail(store)
    return trail, TrailExposure(trail, dry_run=dry_run)


def assert_same_as_whole_log(exposure: TrailExposure, trail: OrderTrail) -> None:
    """Same snapshot, live and dry run, and the same open orders as a follower that read every
    event; and the figures of folding every order."""
    reference = whole_log(trail)
    exposure.follower.catch_up()
    assert exposure.follower.open == reference.open
    assert exposure.follower.held == reference.held
    for dry_run in (False, True):
        got = exposure.follower.snapshot(dry_run=dry_run, positions=None)
        want = reference.snapshot(dry_run=dry_run, positions=None)
        assert Counter(got.working) == Counter(want.working)
        assert got.held == want.held
    assert_same_figures(exposure, trail)


def feed_orders(trail: OrderTrail, data: st.DataObject, tag: str) -> list[tuple[FactKey, list]]:
    """A few orders placed and sent, live or dry run, over three contracts: their keys and what
    IB will say about each (not fed yet)."""
    out: list[tuple[FactKey, list]] = []
    first = trail.recorder.max_notification_id() or 0
    for n in range(data.draw(st.integers(1, 4))):
        coid = new_client_order_id(f"{tag}{first}n{n}", dry_run=data.draw(st.booleans()))
        spec = data.draw(order_specs())
        contract = data.draw(st.sampled_from([AAPL, MSFT, SPY_CALL]))
        oid = trail.place(client_order_id=coid, contract=contract, spec=spec)
        trail.submit(oid, client_id=1, order_id=first + n + 1)
        key = FactKey(order_ref=coid, perm_id=40_000 + first + n)
        facts = data.draw(ib_fact_sequences(spec, order_ref=coid, perm_id=key.perm_id or 0))
        out.append((key, facts))
    return out


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_new_process_starts_from_the_saved_state_and_agrees_with_the_whole_log(
    store: StoreConfig, trail: OrderTrail, data: st.DataObject
) -> None:
    orders = feed_orders(trail, data, "a")
    # Part of what IB says before the save, the rest after it (late fills, corrections and
    # final statuses of orders the saved state holds open or done), and new orders after.
    cuts = [data.draw(st.integers(0, len(facts))) for _, facts in orders]
    for (key, facts), cut in zip(orders, cuts, strict=True):
        for fact in facts[:cut]:
            feed_trail(trail, key, fact)
    saver = saving(trail)
    saver.catch_up()
    assert saver.saves == 1
    for (key, facts), cut in zip(orders, cuts, strict=True):
        for fact in facts[cut:]:
            feed_trail(trail, key, fact)
    for key, facts in feed_orders(trail, data, "b"):
        for fact in facts:
            feed_trail(trail, key, fact)
    other, exposure = new_process(store, dry_run=data.draw(st.booleans()))
    try:
        log = exposure.follower.log
        exposure.follower.catch_up()
        assert exposure.follower.restored_from == saver.position
        # The saved state's event checked, then only what was recorded after it; each order
        # open at the save read again from its own events.
        assert log.rows_read == (trail.recorder.max_notification_id() or 0) - saver.position + 1
        assert_same_as_whole_log(exposure, trail)
    finally:
        other.close()


def test_a_done_order_heard_of_after_the_save_and_an_open_dry_run(
    store: StoreConfig, trail: OrderTrail
) -> None:
    _, _, key = sent_order(trail, "done", OrderAction.BUY, perm_id=601)
    first = fill_of("0000e0d5.65f1a2c1.01.01", Side.BOUGHT, Decimal(10), perm_id=601)
    trail.record(key, ExecutionReport(first))
    trail.record(key, StatusReport(raw_status="Filled", filled=Decimal(10), remaining=ZERO))
    dry_coid = new_client_order_id("dry", dry_run=True)
    dry_oid = trail.place(
        client_order_id=dry_coid,
        contract=SPY_CALL,
        spec=OrderSpec(OrderAction.SELL, Decimal(3), OrderType.MARKET),
    )
    trail.submit(dry_oid, client_id=1, order_id=2)
    trail.record(FactKey(order_ref=dry_coid), StatusReport(raw_status="Submitted", filled=ZERO))
    saver = saving(trail)
    saver.catch_up()
    assert [s.client_order_id for s in saver.open.values()] == [dry_coid]
    # After the save: IB reports a late fill of the done order, then busts its first fill.
    late = fill_of("0000e0d5.65f1a2c2.01.01", Side.BOUGHT, Decimal(4), perm_id=601)
    trail.record(key, ExecutionReport(late))
    trail.record(key, ExecutionBust(first.exec_id, reason="TradeCancel"))
    other, exposure = new_process(store)
    try:
        assert exposure.snapshot().position(AAPL) == Decimal(4)
        assert exposure.follower.restored_from == saver.position
        assert_same_as_whole_log(exposure, trail)
    finally:
        other.close()


def test_a_saved_state_of_another_store_is_read_past(tmp_path: Path) -> None:
    # The row says it was saved at a position whose event is another one here: a store
    # replaced under the same name (or a row copied from another store).
    one = OrderTrail(StoreConfig.resolve(tmp_path / "one"))
    sent_order(one, "first", OrderAction.BUY, perm_id=701)
    _, saved = saved_state(one)
    config = StoreConfig.resolve(tmp_path / "two")
    two = OrderTrail(config)
    _, _, key = sent_order(two, "second", OrderAction.SELL, perm_id=702)
    two.record(
        key,
        ExecutionReport(fill_of("0000e0d5.65f1a2d1.01.01", Side.SOLD, Decimal(10), perm_id=702)),
    )
    there = checkpoints_on(two.recorder)
    assert there is not None
    assert there.save(saved)
    other, exposure = new_process(config)
    try:
        assert exposure.snapshot().position(AAPL) == Decimal(-10)
        assert exposure.follower.restored_from == 0
        assert_same_as_whole_log(exposure, two)
    finally:
        for t in (one, two, other):
            t.close()


@pytest.mark.parametrize(
    "damage",
    [
        "not JSON",
        "unknown version",
        "a quantity as a number",
        "an open order at another version",
        "an order that is not open",
        "no open orders key",
        "a contract key of a list",
    ],
)
def test_a_damaged_saved_state_is_read_past(
    store: StoreConfig, trail: OrderTrail, damage: str
) -> None:
    _, _, key = sent_order(trail, "o1", OrderAction.BUY, perm_id=801)
    fill = fill_of("0000e0d5.65f1a2e1.01.01", Side.BOUGHT, Decimal(6), perm_id=801)
    trail.record(key, ExecutionReport(fill))
    _, done, done_key = sent_order(trail, "o2", OrderAction.SELL, perm_id=802)
    trail.record(done_key, StatusReport(raw_status="Cancelled", filled=ZERO))
    checkpoints, saved = saved_state(trail)
    data = json.loads(saved.state)
    version = saved.version
    if damage == "not JSON":
        text = saved.state[:-7]
    elif damage == "unknown version":
        text, version = saved.state, version + 1
    else:
        if damage == "a quantity as a number":
            data["held"][0][2] = 6
        elif damage == "an open order at another version":
            data["open"][0][1] += 1
        elif damage == "an order that is not open":
            data["open"].append([done.hex, len(trail.history(done))])
        elif damage == "no open orders key":
            del data["open"]
        else:
            data["held"][0][1] = [["con"], 1]
        text = json.dumps(data)
    assert checkpoints.save(SavedState(saved.name, version, saved.position, saved.mark, text))
    other, exposure = new_process(store)
    try:
        assert exposure.snapshot().position(AAPL) == Decimal(6)
        assert exposure.follower.restored_from == 0
        assert_same_as_whole_log(exposure, trail)
    finally:
        other.close()


def test_the_saved_state_is_json_text_not_pickle(tmp_path: Path) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config)
    _, _, key = sent_order(trail, "p1", OrderAction.BUY, perm_id=901)
    trail.record(key, StatusReport(raw_status="Submitted", filled=ZERO))
    saving(trail).catch_up()
    trail.close()
    with sqlite3.connect(config.sqlite_path) as conn:
        rows = conn.execute(f"SELECT typeof(state), state FROM {TABLE}").fetchall()
    assert len(rows) == 1
    kind, text = rows[0]
    assert kind == "text"
    assert not text.startswith("\x80")  # pickle's protocol mark

    def plain(x: object) -> bool:
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or isinstance(x, str | int | bool)

    assert plain(json.loads(text))


def test_a_save_the_store_does_not_take_is_skipped(tmp_path: Path) -> None:
    config = StoreConfig.resolve(tmp_path / "data")
    trail = OrderTrail(config)
    _, _, key = sent_order(trail, "l1", OrderAction.BUY, perm_id=951)
    follower = saving(trail)
    # Another writer holds the store's write lock for the whole check.
    blocker = sqlite3.connect(config.sqlite_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        follower.catch_up()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert follower.saves == 0
    checkpoints = checkpoints_on(trail.recorder)
    assert checkpoints is not None
    assert checkpoints.load(Exposure.name) is None
    trail.record(key, StatusReport(raw_status="Submitted", filled=ZERO))
    follower.catch_up()
    assert follower.saves == 1
    saved = checkpoints.load(Exposure.name)
    assert saved is not None
    assert saved.position == follower.position
    trail.close()
