"""The Delta tables after updates (or rebuilds) at random split points, some cut short by a
crash between two commits, equal the tables of one clean rebuild: on random histories
(statuses out of order, fills before and after a cancel, corrections, busts, late fills,
commissions early, late or never, flips, a futures multiplier, OCA groups and a bracket), on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.facts import CommissionReported, ExecutionReport
from ordertrail.domain.values import CommissionReport, Execution, OrderAction, Side
from ordertrail.projections.api import Audit
from ordertrail.projections.tables import DeltaTables
from tests.conftest import Clock
from tests.projections.helpers import ES, D, Desk, at
from tests.projections.test_incremental import History, chunked, histories, place, record
from tests.projections.test_tables import contents

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class PowerCut(Exception):
    pass


@contextmanager
def power_cut_after(commits: int | None) -> Iterator[None]:
    """The process dies after ``commits`` more table commits (None: it does not): an update's
    (``write``) or a rebuild's (``commit_files``, one a table)."""
    if commits is None:
        yield
        return
    left = [commits]

    def dies(real: Any) -> Any:
        def commit(self: DeltaTables, *args: Any, **kw: Any) -> Any:
            if left[0] == 0:
                raise PowerCut
            left[0] -= 1
            return real(self, *args, **kw)

        return commit

    with pytest.MonkeyPatch.context() as mp:
        for name in ("write", "commit_files"):
            mp.setattr(DeltaTables, name, dies(getattr(DeltaTables, name)))
        with suppress(PowerCut):
            yield


@contextmanager
def store(tmp: Path, pg_url: str | None) -> Iterator[StoreConfig]:
    if pg_url is None:
        yield StoreConfig.resolve(tmp / "data")
        return
    import psycopg

    name = f"ordertrail_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield StoreConfig.resolve(
            tmp / "data", urlunparse(urlparse(pg_url)._replace(path=f"/{name}"))
        )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check(history: History, data: st.DataObject, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as d, store(Path(d), pg_url) as config:
        trail = OrderTrail(config, clock=Clock())
        try:
            place(trail, history)
            sizes = data.draw(st.lists(st.integers(1, 10), max_size=5), label="split points")
            for chunk in chunked(history.steps, sizes):
                record(trail, history, chunk)
                crash = data.draw(st.none() | st.integers(0, 6), label="commits before a crash")
                rebuild = data.draw(st.booleans(), label="a rebuild instead of an update")
                with power_cut_after(crash):
                    step = Audit(config)
                    if rebuild:
                        step.rebuild()
                    else:
                        step.refresh()
            audit = Audit(config)
            audit.refresh()
            rebuilt = Audit(config, root=Path(d) / "rebuilt")
            rebuilt.rebuild()
            assert contents(audit) == contents(rebuilt)
            audit.close()
            rebuilt.close()
        finally:
            trail.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_and_crashes_end_in_the_tables_of_a_rebuild(
    backend: str, request: pytest.FixtureRequest
) -> None:
    pg_url = request.getfixturevalue("pg_url") if backend == "postgres" else None

    @settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(history=histories(), data=st.data())
    def run(history: History, data: st.DataObject) -> None:
        check(history, data, pg_url)

    run()


def each_like_a_rebuild(
    audit: Audit, desk: Desk, steps: Sequence[Callable[[], object]], tmp_path: Path
) -> None:
    """After each step an update leaves the tables a rebuild would write."""
    for n, step in enumerate(steps):
        step()
        audit.refresh()
        rebuilt = Audit(desk.config, root=tmp_path / f"rebuilt-{n}")
        rebuilt.rebuild()
        assert contents(audit) == contents(rebuilt), n
        rebuilt.close()


def test_updates_go_on_from_the_running_state_then_from_the_fills(tmp_path: Path) -> None:
    """Fills after the last one continue from the position's stored running state (open FIFO
    lots across a flip, a futures multiplier); a commission of an earlier update's fill, a
    late fill and a bust refold the position from its stored fills. After every update the
    tables equal a rebuild's."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-a", quantity=300, limit="10")
    desk.place("OT-s", OrderAction.SELL, quantity=500, limit="11")
    desk.place("OT-f", quantity=4, contract=ES, limit="5000")
    steps = [
        lambda: desk.fill("OT-a", "a1.01", 100, "10", at=at(1), commission="1"),
        lambda: desk.fill("OT-f", "f1.01", 2, "5000.25", at=at(2)),
        lambda: desk.fill("OT-a", "a2.01", 100, "10.5", at=at(3), commission="1"),
        lambda: desk.fill("OT-s", "s1.01", 250, "11", at=at(4)),  # flips long 200 to short 50
        lambda: desk.fill("OT-f", "f2.01", 2, "5001", at=at(5), commission="2.5"),
        lambda: desk.trail.record(
            None, CommissionReported(CommissionReport("s1.01", D("1.25"), "USD"))
        ),
        lambda: desk.fill("OT-a", "a3.01", 50, "9.75", at=at(3.5)),  # late: before s1
        lambda: desk.bust("OT-a", "a2.01"),
        lambda: desk.fill("OT-s", "s2.01", 10, "12", at=at(9), commission="0.5"),
    ]
    audit = Audit(desk.config)
    each_like_a_rebuild(audit, desk, steps, tmp_path)
    states = audit.positions()["running_state"].to_list()
    assert all(json.loads(s)["fills"] >= 1 for s in states)


def test_facts_among_an_updates_own_fills_and_among_stored_ones(tmp_path: Path) -> None:
    """A long position across flips, stored; then one update holding new fills, a correction
    of one of them, a late fill among them, a bust and a commission (refolded from the stored
    running state), then commissions of stored fills (in another currency, then none before;
    only the commission moves), then a correction of a stored fill (refolded from the stored
    fills). After each update the tables equal a rebuild's."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-b", quantity=2000, limit="10")
    desk.place("OT-s", OrderAction.SELL, quantity=2000, limit="11")
    for n in range(20):
        desk.fill("OT-b", f"b{n}.01", 30, f"10.{n:02d}", at=at(2 * n), commission="0.35")
        desk.fill("OT-s", f"s{n}.01", 45 if n % 4 else 20, f"10.{n + 3:02d}", at=at(2 * n + 1))
    audit = Audit(desk.config)
    audit.refresh()
    desk.fill("OT-b", "b20.01", 30, "10.5", at=at(41))
    desk.fill("OT-b", "b20.02", 30, "10.45", at=at(41))  # corrected: the price
    desk.fill("OT-s", "s20.01", 75, "10.7", at=at(43))  # flips
    desk.fill("OT-b", "b21.01", 10, "10.6", at=at(42))  # late: before s20
    desk.fill("OT-s", "s21.01", 5, "10.8", at=at(44))
    desk.bust("OT-s", "s21.01")
    desk.trail.record(None, CommissionReported(CommissionReport("b20.02", D("0.4"), "USD")))

    def commissions() -> None:
        for exec_id, amount, currency in (("b5.01", "0.3", "EUR"), ("s7.01", "0.5", "USD")):
            report = CommissionReport(exec_id, D(amount), currency)
            desk.trail.record(None, CommissionReported(report))

    steps = [lambda: None, commissions, lambda: desk.fill("OT-b", "b3.02", 20, "9.9", at=at(6))]
    each_like_a_rebuild(audit, desk, steps, tmp_path)


def test_a_commission_of_a_fill_left_out_of_the_journal_rebuilds(tmp_path: Path) -> None:
    """A fill whose row the journal could not hold (a permId past 64 bits) has no stored
    figures for its commission's row to keep: the update rebuilds instead."""
    desk = Desk(tmp_path / "data")
    desk.place("OT-1", quantity=10, limit="10")
    key = desk.keys["OT-1"]
    huge = Execution(
        exec_id="h1.01", time=at(1), account="U1", exchange="ISLAND", side=Side.BOUGHT,
        shares=D(10), price=D(10), perm_id=2**64 + 5, client_id=1, order_id=key.order_id or 0,
    )  # fmt: skip
    audit = Audit(desk.config)
    steps = [
        lambda: desk.trail.record(key, ExecutionReport(huge)),
        lambda: desk.trail.record(
            None, CommissionReported(CommissionReport("h1.01", D("1.5"), "USD"))
        ),
    ]
    each_like_a_rebuild(audit, desk, steps, tmp_path)
