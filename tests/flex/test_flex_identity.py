"""Statements without IB's ids, and execIds IB used twice: what is one fill, what is two."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.events import AnomalyRecorded, ExecutionRecorded

from .builders import record_live_fill, statement_xml, stock_trade, write
from .conftest import event_count, import_path

D = Decimal


def executions(trail: OrderTrail) -> list[ExecutionRecorded]:
    return [
        e
        for oid in trail.order_ids()
        for e in trail.history(oid)
        if isinstance(e, ExecutionRecorded)
    ]


def anomalies(trail: OrderTrail) -> list[AnomalyRecorded]:
    return [
        e for oid in trail.order_ids() for e in trail.history(oid) if isinstance(e, AnomalyRecorded)
    ]


def test_a_statement_without_ids_is_recorded_once(trail: OrderTrail, tmp_path: Path) -> None:
    rows = [stock_trade(), stock_trade(dateTime="20250806;110000", quantity="-40", buySell="SELL")]
    path = write(tmp_path, "no_ids.xml", statement_xml(rows))
    counts = import_path(trail, path).counts
    assert (counts.executions_recorded, counts.orders_created) == (2, 2)
    provs = [e.provenance or {} for e in executions(trail)]
    assert {p["flex_identity"] for p in provs} == {"derived"}
    assert all(e.execution.exec_id.startswith("FLEX-D") for e in executions(trail))
    before = event_count(trail)
    again = import_path(trail, path).counts
    assert (again.executions_recorded, again.executions_already_recorded) == (0, 2)
    assert event_count(trail) == before


def test_identical_rows_are_distinct_fills_by_their_ordinal(
    trail: OrderTrail, tmp_path: Path
) -> None:
    path = write(tmp_path, "twins.xml", statement_xml([stock_trade(), stock_trade()]))
    assert import_path(trail, path).counts.executions_recorded == 2
    assert len({e.execution.exec_id for e in executions(trail)}) == 2
    assert import_path(trail, path).counts.executions_recorded == 0


def test_trade_ids_key_a_row_without_an_exec_id(trail: OrderTrail, tmp_path: Path) -> None:
    path = write(tmp_path, "t.xml", statement_xml([stock_trade(tradeID="777")]))
    import_path(trail, path)
    (x,) = executions(trail)
    assert x.execution.exec_id == "FLEX-T777"
    assert (x.provenance or {})["flex_identity"] == "tradeID"


def test_a_row_without_ids_merges_with_the_one_live_fill_it_matches(
    trail: OrderTrail, tmp_path: Path
) -> None:
    record_live_fill(trail, "0000e0d5.0001.01", order_id=7)
    path = write(tmp_path, "no_ids.xml", statement_xml([stock_trade()]))
    result = import_path(trail, path)
    assert (result.counts.executions_matched, result.counts.executions_recorded) == (1, 0)
    (x,) = executions(trail)
    assert x.execution.exec_id == "0000e0d5.0001.01"
    # The statement's commission completes the live fill, which had none.
    (state,) = trail.states().values()
    assert state.commissions["0000e0d5.0001"].commission == D("1.00")


def test_an_ambiguous_match_is_reported_not_guessed(trail: OrderTrail, tmp_path: Path) -> None:
    record_live_fill(trail, "0000e0d5.0001.01", order_id=7)
    record_live_fill(trail, "0000e0d5.0002.01", order_id=8)
    path = write(tmp_path, "no_ids.xml", statement_xml([stock_trade()]))
    before = event_count(trail)
    result = import_path(trail, path)
    assert result.counts.executions_ambiguous == 1
    assert result.counts.executions_recorded == result.counts.executions_matched == 0
    (warning,) = result.warnings
    assert "line 6" in warning
    assert "matches 2 recorded fills (0000e0d5.0001.01, 0000e0d5.0002.01)" in warning
    assert event_count(trail) == before


def test_a_statement_with_ids_merges_with_the_same_fills_imported_without(
    trail: OrderTrail, tmp_path: Path
) -> None:
    bare = write(tmp_path, "bare.xml", statement_xml([stock_trade(), stock_trade()]))
    full = write(
        tmp_path,
        "full.xml",
        statement_xml(
            [
                stock_trade(ibExecID="0000e0d5.0001.01", ibOrderID="1001", tradeID="501"),
                stock_trade(dateTime="20250807;120000", ibExecID="0000e0d5.0003.01"),
            ]
        ),
    )
    import_path(trail, bare)
    # The twin rows have two candidates each: the first is ambiguous; the new fill is new.
    counts = import_path(trail, full).counts
    assert (counts.executions_ambiguous, counts.executions_recorded) == (1, 1)


def test_a_conflicting_exec_id_keeps_both_fills_and_names_the_fields(
    trail: OrderTrail, tmp_path: Path
) -> None:
    first = stock_trade(ibExecID="0000e0d5.0001.01", ibOrderID="1001")
    other = stock_trade(
        ibExecID="0000e0d5.0001.01",
        ibOrderID="1002",
        conid="272093",
        symbol="MSFT",
        quantity="50",
    )
    path = write(tmp_path, "clash.xml", statement_xml([first, other]))
    result = import_path(trail, path)
    assert result.counts.execution_conflicts == 1
    assert result.counts.executions_recorded == 2
    ids = sorted(e.execution.exec_id for e in executions(trail))
    assert ids[0] == "0000e0d5.0001.01"
    assert ids[1].startswith("FLEX-X")
    (anomaly,) = anomalies(trail)
    assert anomaly.kind == "exec_id_conflict"
    assert "conid 265598 vs 272093" in anomaly.received
    assert "quantity 100 vs 50" in anomaly.received
    assert "clash.xml line 7" in anomaly.received
    before = event_count(trail)
    again = import_path(trail, path).counts
    assert (again.execution_conflicts, again.executions_recorded) == (0, 0)
    assert event_count(trail) == before


def test_a_conflict_with_a_stored_fill_from_another_statement(
    trail: OrderTrail, tmp_path: Path
) -> None:
    one = write(tmp_path, "one.xml", statement_xml([stock_trade(ibExecID="E1.01", ibOrderID="9")]))
    two = write(
        tmp_path,
        "two.xml",
        statement_xml([stock_trade(ibExecID="E1.01", ibOrderID="9", tradePrice="211.10")]),
    )
    import_path(trail, one)
    counts = import_path(trail, two).counts
    assert counts.execution_conflicts == 1
    # Both fills are on IB order 9, which the second overfills: that is said too.
    assert sorted(a.kind for a in anomalies(trail)) == ["exec_id_conflict", "overfill"]
    (anomaly,) = [a for a in anomalies(trail) if a.kind == "exec_id_conflict"]
    assert "price 210.10 vs 211.10" in anomaly.received
    assert len(executions(trail)) == 2


def test_a_live_fill_named_by_a_row_is_not_claimed_by_another_rows_content(
    trail: OrderTrail, tmp_path: Path
) -> None:
    record_live_fill(trail, "0000e0d5.0001.01", order_id=7)
    # Two fills alike in all but their ids: one carries the live execId, the other (listed
    # first, a row of another kind) only its tradeID. It is a fill of its own.
    rows = [stock_trade(tradeID="900"), stock_trade(ibExecID="0000e0d5.0001.01")]
    counts = import_path(trail, write(tmp_path, "two.xml", statement_xml(rows))).counts
    assert (counts.executions_matched, counts.executions_recorded) == (0, 1)
    assert counts.executions_already_recorded == 1
    assert {e.execution.exec_id for e in executions(trail)} == {"0000e0d5.0001.01", "FLEX-T900"}
