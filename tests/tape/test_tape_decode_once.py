"""Replay decodes each message once: the checking pass keeps what ib_async's decoder handed
the recorder, and the replay records from it (docs/adr/0060-replay-decodes-once.md). Whatever
the checking pass kept — everything, nothing, part of the tape — the log is the live one and
its hash chain verifies."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ordertrail.adapters.ib.outbound import SentPlace
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.verify import verify
from ordertrail.adapters.tape import Replayer, check_tape
from ordertrail.adapters.tape.format import Message
from ordertrail.adapters.trail import OrderTrail

from .sessions import event_log


def test_the_checking_pass_keeps_every_good_incoming_message_within_its_budget(
    good_tape: Path,
) -> None:
    whole = check_tape(good_tape)
    assert whole.problems == []
    assert len(whole.decoded) == whole.incoming
    assert whole.plan is not None
    kept = [item for _, item in whole.plan if isinstance(item, Message)]
    assert {m.line for m in kept if m.direction == "in" and not m.handshake} == set(whole.decoded)
    names = {name for calls in whole.decoded.values() for name, _, _ in calls}
    assert {"openOrder", "orderStatus", "execDetails", "commissionReport"} <= names

    nothing = check_tape(good_tape, keep_fields=0)
    assert (nothing.decoded, nothing.plan, nothing.incoming) == ({}, None, whole.incoming)

    part = check_tape(good_tape, keep_fields=300)
    assert 0 < len(part.decoded) < whole.incoming
    assert part.plan is None  # the replay reads the tape again, and decodes what was not kept


@pytest.mark.parametrize("keep_fields", [0, 300, None])
def test_a_replay_records_the_live_log_whatever_was_kept(
    good_tape: Path, tmp_path: Path, keep_fields: int | None
) -> None:
    options = {} if keep_fields is None else {"keep_fields": keep_fields}
    replayer = Replayer(StoreConfig.resolve(tmp_path), batch_size=3, **options)
    report = replayer.replay(good_tape)
    replayer.close()
    assert report.ok, report.as_dict()
    assert report.recorder_problems == []
    assert event_log(tmp_path) == event_log(good_tape.parent / "live")
    trail = OrderTrail(StoreConfig.resolve(tmp_path))
    try:
        chain = verify(trail.recorder, None)
    finally:
        trail.close()
    assert chain.intact, [str(f) for f in chain.findings]
    assert chain.events == len(event_log(tmp_path)) > 0


def test_the_checking_pass_reads_each_placeorder_line_once_for_the_replay(good_tape: Path) -> None:
    check = check_tape(good_tape)
    assert check.plan is not None
    outbound = [
        item
        for _, item in check.plan
        if isinstance(item, Message) and item.direction == "out" and not item.handshake
    ]
    assert {m.line for m in outbound} == set(check.sent)
    placed = [s for s in check.sent.values() if isinstance(s, SentPlace)]
    assert placed
    assert all(s.order_ref.startswith("t") and s.spec.quantity > 0 for s in placed)
    # The fields are not kept once read: the replay records from the request.
    assert all(m.fields == [] for m in outbound)
    assert check_tape(good_tape, keep_fields=0).sent == {}


def test_a_placeorder_line_that_cannot_be_read_is_a_problem_on_record_as_live(
    good_tape: Path, tmp_path: Path
) -> None:
    lines = good_tape.read_bytes().splitlines(keepends=True)
    at = next(
        i
        for i, raw in enumerate(lines)
        if (obj := orjson.loads(raw)).get("dir") == "out" and obj["f"][:1] == ["3"]
    )
    obj = orjson.loads(lines[at])
    obj["f"] = obj["f"][:-3]  # the walk runs out of fields
    lines[at] = orjson.dumps(obj) + b"\n"
    tape = tmp_path / "short-placeorder.tape"
    tape.write_bytes(b"".join(lines))

    check = check_tape(tape)
    assert check.problems == []
    assert check.plan is not None
    # The line it could not read keeps its fields, for the recording pass to read.
    unread = [m for _, m in check.plan if isinstance(m, Message) and m.fields[:1] == ["3"]]
    assert len(unread) == 1
    assert unread[0].line not in check.sent
    reports = {}
    for keep in (None, 0):
        options = {} if keep is None else {"keep_fields": keep}
        replayer = Replayer(StoreConfig.resolve(tmp_path / f"keep-{keep}"), **options)
        reports[keep] = replayer.replay(tape)
        replayer.close()
    kept, read_again = reports[None], reports[0]
    assert kept.ok, kept.as_dict()
    assert len(kept.recorder_problems) == 1
    assert "outbound: placeOrder of" in kept.recorder_problems[0]
    assert kept.recorder_problems == read_again.recorder_problems
    assert event_log(tmp_path / "keep-None") == event_log(tmp_path / "keep-0")
