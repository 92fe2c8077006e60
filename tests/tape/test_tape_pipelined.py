"""A replay on two processes (docs/adr/0156-replay-pipelined-on-two-processes.md): a child
checks the tape while this process records, speculatively, what it streams. The store ends up
exactly as the replay in one process leaves it; a tape with problems records nothing, and a
replay stopped or a checking process that dies saves nothing of what was held."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ordertrail.adapters import bench_tape
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.tape import Replayer, ReplayReport, check_tape, pipeline
from ordertrail.adapters.tape.ledger import TABLE

from .sessions import AAPL, Live, event_log, recorded_tape


async def bracket_and_corrections(s: Live) -> None:
    sim = s.h.sim
    parent, take, stop = s.ib.bracketOrder("BUY", 10, 149, 160, 140)
    trades = [s.ib.placeOrder(AAPL, o) for o in (parent, take, stop)]
    await s.until(lambda: trades[0].orderStatus.status == "Submitted")
    first = sim.fill(parent.orderId, 4, 149)
    sim.fill(parent.orderId, 6, 148.5, commission_timing="late")
    sim.correct_execution(first, price=148.75)
    await s.until(lambda: trades[0].orderStatus.status == "Filled")
    corrected = await s.place(7)
    sim.correct_execution(sim.fill(corrected.order.orderId, 7, 150), price=149.5)
    await s.synced()
    await s.reconnect(1)  # a second segment: the held batch is decided before it begins
    sim.fill(take.orderId, 10, 160)
    await s.synced()


@pytest.fixture(scope="module")
def bracket_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bracket")
    return recorded_tape(root, "bracket.tape", bracket_and_corrections)


@pytest.fixture(scope="module")
def long_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3,000 messages: what the child streams outgrows the pipe, so it is still at work
    while this process records the first lines."""
    tape = tmp_path_factory.mktemp("long") / "long.tape"
    asyncio.run(bench_tape._record(tape, 300))
    return tape


def ledger(config: StoreConfig) -> list[tuple[object, ...]]:
    with sqlite3.connect(config.sqlite_path) as conn:
        return conn.execute(f"SELECT * FROM {TABLE} ORDER BY session").fetchall()


def in_one_process(tape: Path, config: StoreConfig, **options: Any) -> ReplayReport:
    replayer = Replayer(config, **options)
    try:
        return replayer.replay(tape, check_tape(tape))  # checked first: no child
    finally:
        replayer.close()


def pipelined(tape: Path, config: StoreConfig, **options: Any) -> tuple[ReplayReport, bool]:
    """The replay on two processes, and whether anything was fed while the checking process
    ran beside it. The progress told must add up to the messages the report says were fed,
    whatever was fed and dropped on the way."""
    fed: list[tuple[int, bool]] = []
    replayer = Replayer(
        config,
        progress=lambda n: fed.append((n, bool(multiprocessing.active_children()))),
        processes=2,
        **options,
    )
    try:
        report = replayer.replay(tape)
    finally:
        replayer.close()
    assert sum(n for n, _ in fed) == report.messages
    return report, any(beside for _, beside in fed)


def same(report: ReplayReport, expected: ReplayReport) -> None:
    assert report.as_dict() == expected.as_dict()
    assert report.pipelined
    assert not expected.pipelined


@pytest.mark.parametrize("tape_name", ["bracket_tape", "long_tape"])
def test_two_processes_record_what_one_records(
    tape_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    tape: Path = request.getfixturevalue(tape_name)
    one, two = StoreConfig.resolve(tmp_path / "one"), StoreConfig.resolve(tmp_path / "two")
    expected = in_one_process(tape, one)
    report, _ = pipelined(tape, two)
    assert report.ok, report.as_dict()
    same(report, expected)
    assert event_log(tmp_path / "two") == event_log(tmp_path / "one")
    assert len(event_log(tmp_path / "two")) == report.events > 0
    assert ledger(two) == ledger(one)
    assert len(ledger(two)) == report.segments


def damaged_late(tape: Path, into: Path) -> Path:
    """The last openOrder cut short: only ib_async's decoder finds it, near the tape's end."""
    lines = tape.read_text().splitlines(keepends=True)
    at = max(
        i
        for i, line in enumerate(lines)
        if (d := json.loads(line)).get("dir") == "in" and d["f"][:1] == ["5"] and "kind" not in d
    )
    d = json.loads(lines[at])
    d["f"] = d["f"][:40]
    lines[at] = json.dumps(d) + "\n"
    into.write_text("".join(lines))
    assert at > len(lines) * 0.9
    return into


def test_a_problem_late_in_the_tape_records_nothing_held(long_tape: Path, tmp_path: Path) -> None:
    bad = damaged_late(long_tape, tmp_path / "bad.tape")
    config = StoreConfig.resolve(tmp_path / "refused")
    report, beside = pipelined(bad, config)
    assert beside  # fed while the child checked, then dropped: the problem refuses the tape
    assert report.refused
    assert not report.pipelined
    assert [p.kind for p in report.problems] == ["decoder"]
    assert report.problems == check_tape(bad).problems
    assert (report.events, report.messages) == (0, 0)
    assert event_log(tmp_path / "refused") == []
    assert ledger(config) == []

    skipped, _ = pipelined(bad, StoreConfig.resolve(tmp_path / "skipped"), skip_bad=True)
    expected = in_one_process(bad, StoreConfig.resolve(tmp_path / "one"), skip_bad=True)
    assert not skipped.refused
    assert skipped.as_dict() == expected.as_dict()
    assert not skipped.pipelined
    assert event_log(tmp_path / "skipped") == event_log(tmp_path / "one")


def test_a_checking_process_that_dies_leaves_nothing_held(
    long_tape: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "CHUNK_ITEMS", 50)  # the pipe is full long before the end
    killed: list[int] = []

    def kill_the_child(_n: int) -> None:
        for child in multiprocessing.active_children():
            if not killed:
                os.kill(child.pid or 0, signal.SIGKILL)
                killed.append(child.pid or 0)

    config = StoreConfig.resolve(tmp_path / "died")
    replayer = Replayer(config, progress=kill_the_child, processes=2)
    report = replayer.replay(long_tape)
    replayer.close()
    assert killed
    # What was held is dropped, and the replay ran again in this process: every fact once.
    expected = in_one_process(long_tape, StoreConfig.resolve(tmp_path / "one"))
    assert report.as_dict() == expected.as_dict()
    assert not report.pipelined
    assert event_log(tmp_path / "died") == event_log(tmp_path / "one")
    assert ledger(config) == ledger(StoreConfig.resolve(tmp_path / "one"))


def test_a_replay_interrupted_while_it_holds_saves_nothing(
    long_tape: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "CHUNK_ITEMS", 50)
    fed: list[int] = []

    def interrupt(n: int) -> None:
        fed.append(n)
        if len(fed) == 2_500:  # past BATCH_SIZE: one process would have saved a batch by now
            raise KeyboardInterrupt

    config = StoreConfig.resolve(tmp_path / "stopped")
    replayer = Replayer(config, progress=interrupt, processes=2)
    with pytest.raises(KeyboardInterrupt):
        replayer.replay(long_tape)
    replayer.close()
    assert multiprocessing.active_children() == []
    assert event_log(tmp_path / "stopped") == []
    assert ledger(config) == []


def test_past_the_held_budget_the_replay_runs_in_one_process(
    long_tape: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "HELD_MESSAGES", 500)
    monkeypatch.setattr(pipeline, "CHUNK_ITEMS", 50)
    report, _ = pipelined(long_tape, StoreConfig.resolve(tmp_path / "budget"))
    expected = in_one_process(long_tape, StoreConfig.resolve(tmp_path / "one"))
    assert report.as_dict() == expected.as_dict()
    assert not report.pipelined
    assert event_log(tmp_path / "budget") == event_log(tmp_path / "one")


def test_one_process_when_asked_and_two_by_choice(bracket_tape: Path, tmp_path: Path) -> None:
    one = Replayer(StoreConfig.resolve(tmp_path / "one"), processes=1)
    two = Replayer(StoreConfig.resolve(tmp_path / "two"), processes=2)
    try:
        alone, beside = one.replay(bracket_tape), two.replay(bracket_tape)
    finally:
        one.close()
        two.close()
    assert not alone.pipelined
    assert beside.pipelined == pipeline.available()
    assert alone.as_dict() == beside.as_dict()
    assert pipeline.two_processes(1) is False
    assert pipeline.two_processes(2) is pipeline.available()
