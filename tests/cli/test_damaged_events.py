"""A stored event damaged by hand (its JSON cut short, a number that is no number, a topic no
event class answers to): every command that reads it stops with one ``error:`` line naming the
event (its order and version) and what is wrong with it, exits non-zero, prints no traceback,
and leaves every stored event as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import Result
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.store.codec import UnreadableEvent, event_decoder
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.eventlog import EventLog
from ordertrail.domain.events import ExecutionRecorded
from tests.projections.helpers import Desk, at

runner = CliRunner()
FILL_TOPIC = f"{ExecutionRecorded.__module__}:{ExecutionRecorded.__qualname__}"

# (what is done to the fill's stored row, words the error must hold)
Damage = tuple[str, tuple[str, ...]]
DAMAGES: dict[str, Damage] = {
    "json_cut_short": (
        "UPDATE stored_events SET state = substr(state, 1, length(state) - 7) WHERE rowid = ?",
        ("JSON is damaged",),
    ),
    "price_no_number": (
        "UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), "
        '\'"price":"10.5"\', \'"price":"ten"\') AS BLOB) WHERE rowid = ?',
        ("field execution.price holds 'ten', which is no decimal number",),
    ),
    "unknown_topic": (
        "UPDATE stored_events SET topic = 'ordertrail.domain.events:NoSuchEvent' WHERE rowid = ?",
        ("no event class", "NoSuchEvent"),
    ),
}
PLACE = ["place", "AAPL", "--action", "BUY", "--qty", "1", "--limit", "10", "--dry-run"]
BRACKET = ["bracket", "AAPL", "--action", "BUY", "--qty", "1", "--entry", "10"]
BRACKET += ["--take-profit", "10.4", "--stop-loss", "9.6", "--dry-run"]
# ``rebuild`` alone refuses an edited log on its tamper check, before it reads a payload.
COMMANDS = [
    ["orders"],
    ["fills"],
    ["rebuild", "--ignore-tamper"],
    ["timeline", "OT-1"],
    PLACE,
    BRACKET,
]
# What a command the RiskGate refuses records: the orders asked for, each created and denied.
RECORDED = {" ".join(PLACE): ["OrderCreated", "RiskDenied"]}
RECORDED[" ".join(BRACKET)] = ["OrderCreated"] * 3 + ["RiskDenied"] * 3


def stored(root: Path) -> list[tuple[object, ...]]:
    """Every stored event, read with sqlite3 (not ordertrail, so a bug cannot hide)."""
    with sqlite3.connect(root / "events.sqlite") as db:
        return db.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ).fetchall()


def damaged_store(root: Path, damage: str) -> tuple[UUID, int, int]:
    """A store of two orders, the first filled; its fill's stored row damaged by ``damage``.
    Returns the damaged event's order, version and notification id."""
    desk = Desk(root)
    oid = desk.place("OT-1")
    desk.status("OT-1", "Submitted", 0, 100)
    desk.fill("OT-1", "E1", 100, "10.5", at=at(1))
    desk.place("OT-2")
    desk.trail.close()
    with sqlite3.connect(root / "events.sqlite") as db:
        rowid, version = db.execute(
            "SELECT rowid, originator_version FROM stored_events WHERE topic = ?", (FILL_TOPIC,)
        ).fetchone()
        changed = db.execute(DAMAGES[damage][0], (rowid,)).rowcount
    assert changed == 1
    return oid, int(version), int(rowid)


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_event_is_named_by_every_reader(
    tmp_path: Path, damage: str, command: list[str]
) -> None:
    root = tmp_path / "data"
    oid, version, _ = damaged_store(root, damage)
    before = stored(root)
    result = invoke(*command, "--data", str(root))
    text = result.output
    assert result.exit_code != 0, text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in text, text
    for needle in ("error", "cannot be read", str(oid), f"version {version}"):
        assert needle in text, (needle, text)
    for needle in DAMAGES[damage][1]:
        assert needle in text, (needle, text)
    after = stored(root)
    assert after[: len(before)] == before
    # Only the orders asked for are new: refused by the gate, which could not judge them.
    added = sorted(row[3].rsplit(":", 1)[1] for row in after[len(before) :])
    recorded = RECORDED.get(" ".join(command), [])
    assert added == recorded
    if recorded:
        assert "exposure_unreadable" in text


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_the_event_log_names_the_notification(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "data"
    oid, version, nid = damaged_store(root, damage)
    with EventLog.open(StoreConfig.resolve(root)) as log, pytest.raises(UnreadableEvent) as raised:
        list(log.events(0))
    error = raised.value
    assert error.topic.endswith("ExecutionRecorded" if damage != "unknown_topic" else "NoSuchEvent")
    assert f"of order {oid} version {version} (notification {nid})" in str(error)


def test_a_good_event_decodes_and_the_reason_names_the_field() -> None:
    decode: Callable[[bytes], object] = event_decoder(FILL_TOPIC)
    with pytest.raises(UnreadableEvent, match=r"JSON is damaged") as cut:
        decode(b'{"execution": {')
    assert cut.value.where == ""
    with pytest.raises(UnreadableEvent, match=r"JSON is list, not an object"):
        decode(b"[1, 2]")
    with pytest.raises(UnreadableEvent, match=r"no event class answers") as unknown:
        event_decoder("ordertrail.domain.events:NoSuchEvent")
    located = unknown.value.at("0" * 32, 3, nid=17)
    assert str(located).startswith(
        "the stored event of order 00000000-0000-0000-0000-000000000000 version 3 "
        "(notification 17) (ordertrail.domain.events:NoSuchEvent) cannot be read"
    )
