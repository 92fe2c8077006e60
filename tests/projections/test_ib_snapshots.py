"""Positions as of a time on IB's clock from the snapshots ``compact`` writes: always the fold
of the whole fill journal executed by then, also after a late fill, a correction, a bust or a
late commission report changed the journal before a snapshot's cutoff."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from ordertrail.domain.facts import CommissionReported
from ordertrail.domain.values import CommissionReport
from ordertrail.projections import snapshots_ib
from ordertrail.projections.api import Audit
from ordertrail.projections.journal_fold import combine, fold_fills
from tests.conftest import EPOCH
from tests.projections.helpers import AAPL, ES, SAP, D, Desk, at

KEYS = ["account", "con_id", "origin"]


def _ib_as_of(audit: Audit, t: datetime) -> pl.DataFrame:
    """The definition: every current fill executed by ``t``, in (IB time, execId) order; a
    position is its last fill's row, with its commission in its currency and its fill count."""
    fills = audit.fills().filter(pl.col("ts_ib") <= t).sort("ts_ib", "exec_base_id")
    in_ccy = pl.col("commission_currency").is_null() | (
        pl.col("commission_currency") == pl.col("currency")
    )
    return (
        fills.with_columns(pl.lit("live").alias("origin"))
        .group_by(KEYS, maintain_order=True)
        .agg(
            pl.col("symbol", "sec_type", "currency", "multiplier").last(),
            pl.col("position_quantity").last().alias("quantity"),
            pl.col("position_avg_cost").last().alias("avg_cost"),
            pl.col("position_fifo_cost").last().alias("fifo_cost"),
            pl.col("position_realized_pnl").last().alias("realized_pnl"),
            pl.col("position_realized_pnl_avg").last().alias("realized_pnl_avg"),
            pl.col("commission").filter(in_ccy).sum(),
            pl.len().cast(pl.Int64).alias("fills"),
            pl.col("ts_ib").last().alias("last_fill_ib"),
        )
        .sort(KEYS)
    )


def _trade_days(desk: Desk, days: range, tag: str) -> None:
    for day in days:
        desk.clock.now = EPOCH + timedelta(days=day, hours=1)
        for n, contract in enumerate((ES, SAP, AAPL)):
            coid = f"OT-{tag}{day}-{n}"
            desk.place(coid, quantity=3, contract=contract, account=f"U{1 + day % 2}")
            desk.status(coid, "Submitted", 0, 3)
            desk.fill(coid, f"{tag}{day}{n}a.01", 1, str(10 + day), at=at(day * 86_400),
                      commission="1")  # fmt: skip
            desk.fill(coid, f"{tag}{day}{n}b.01", 2, str(11 + n), at=at(day * 86_400 + 9))


def _times(days: int) -> list[datetime]:
    return [EPOCH + timedelta(hours=h) for h in range(-14, days * 24 + 24, 5)]


def _same_everywhere(audit: Audit, days: int) -> None:
    for t in _times(days):
        got = audit.positions(as_of=t, clock="ib")
        assert got.equals(_ib_as_of(audit, t)), t


def _compacted(desk: Desk) -> Audit:
    audit = desk.audit()
    audit.refresh()
    audit.compact()
    assert snapshots_ib.build(audit.tables, rows_between=5)["files_added"] >= 3
    return audit


def test_ib_snapshots_give_the_whole_journals_fold(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    _trade_days(desk, range(6), "a")
    audit = _compacted(desk)
    found = snapshots_ib.snapshot_as_of(audit.tables, EPOCH + timedelta(days=4))
    assert found is not None
    assert found.stale.is_empty()
    _same_everywhere(audit, 6)

    # Fills executed after the snapshots (with their commissions) leave them right.
    _trade_days(desk, range(6, 8), "b")
    audit.refresh()
    found = snapshots_ib.snapshot_as_of(audit.tables, EPOCH + timedelta(days=5))
    assert found is not None
    assert found.stale.is_empty()
    _same_everywhere(audit, 8)


def _naive(audit: Audit, t: datetime) -> pl.DataFrame:
    """The snapshot and the fills since, without the staleness check."""
    found = snapshots_ib.snapshot_as_of(audit.tables, t)
    assert found is not None
    fills = audit.scan("fills").filter(pl.col("ts_ib").is_between(found.cutoff, t))
    return combine([found.positions, fold_fills(fills)]).sort(KEYS).collect()


def test_a_late_fill_before_the_cutoff_makes_its_position_stale(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    _trade_days(desk, range(6), "a")
    audit = _compacted(desk)
    # Recorded now, executed on day 1: slotted before every later fill of its position.
    desk.clock.now = EPOCH + timedelta(days=7)
    desk.place("OT-late", quantity=5, contract=AAPL, account="U2")
    desk.fill("OT-late", "late1.01", 5, "9", at=at(86_400 + 3), commission="2")
    audit.refresh()
    t = EPOCH + timedelta(days=5)
    found = snapshots_ib.snapshot_as_of(audit.tables, t)
    assert found is not None
    assert found.stale.to_dicts() == [{"account": "U2", "con_id": AAPL.con_id, "origin": "live"}]
    assert not _naive(audit, t).equals(_ib_as_of(audit, t))  # the snapshot alone is wrong
    _same_everywhere(audit, 8)


def test_a_correction_a_bust_and_a_late_commission_make_their_positions_stale(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path / "data")
    _trade_days(desk, range(6), "a")
    audit = _compacted(desk)
    desk.clock.now = EPOCH + timedelta(days=7)
    # Day 1's ES fill corrected to another price; day 2's SAP fill busted; day 3's AAPL fill,
    # reported without commission, gets its commission report only now.
    desk.fill("OT-a1-0", "a10b.02", 2, "15", at=at(86_400 + 9))
    desk.bust("OT-a2-1", "a21a.01")
    desk.trail.record(None, CommissionReported(CommissionReport("a32b.01", D("0.7"), "USD")))
    audit.refresh()
    t = EPOCH + timedelta(days=5)
    found = snapshots_ib.snapshot_as_of(audit.tables, t)
    assert found is not None
    assert sorted(found.stale.rows()) == [
        ("U1", SAP.con_id, "live"),
        ("U2", AAPL.con_id, "live"),
        ("U2", ES.con_id, "live"),
    ]
    assert not _naive(audit, t).equals(_ib_as_of(audit, t))
    _same_everywhere(audit, 8)


def test_a_rebuild_sets_the_ib_snapshots_aside(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "data")
    _trade_days(desk, range(4), "a")
    audit = _compacted(desk)
    assert snapshots_ib.snapshot_as_of(audit.tables, EPOCH + timedelta(days=3)) is not None
    audit.rebuild()
    assert snapshots_ib.snapshot_as_of(audit.tables, EPOCH + timedelta(days=3)) is None
    _same_everywhere(audit, 4)
