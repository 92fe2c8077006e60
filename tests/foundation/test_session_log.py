"""The session log aggregate on its own: what IB says about no order, one aggregate a client id
a day, each message recorded once however often the same session is replayed. Pure: the
aggregate and its events, no store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ordertrail.domain.facts import SessionError
from ordertrail.domain.session import (
    SessionLog,
    SessionLogOpened,
    SessionMessageRecorded,
    session_log_id,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
DAY = date(2026, 3, 2)


def _opened(client_id: int = 7) -> SessionLog:
    return SessionLog.open(client_id=client_id, day=DAY, ts_recorded=T0)


def _lost(**changes: object) -> SessionError:
    fields: dict[str, object] = {
        "code": 1100,
        "message": "Connectivity between IB and TWS has been lost.",
        "req_id": -1,
        "client_id": 7,
        "advanced_reject": None,
        "ts_event": T0 - timedelta(seconds=1),
    }
    fields.update(changes)
    return SessionError(**fields)  # type: ignore[arg-type]


def test_one_log_a_client_id_a_day() -> None:
    one = session_log_id(7, DAY)
    assert session_log_id(7, DAY) == one
    assert session_log_id(8, DAY) != one
    assert session_log_id(7, DAY + timedelta(days=1)) != one
    # Client ids and days are not confused with each other's digits.
    assert session_log_id(1, date(2026, 3, 12)) != session_log_id(11, date(2026, 3, 2))


def test_opening_names_the_client_id_and_day_and_sees_nothing_yet() -> None:
    log = _opened()
    assert log.id == session_log_id(7, DAY)
    assert (log.client_id, log.day, log.seen) == (7, "2026-03-02", set())
    (opened,) = log.collect_events()
    assert type(opened) is SessionLogOpened
    assert opened.timestamp == T0


def test_a_message_is_recorded_with_both_clocks_and_every_field_ib_sent() -> None:
    log = _opened()
    log.collect_events()
    fact = _lost(advanced_reject='{"rejectCode": 1}', req_id=42)
    at = T0 + timedelta(minutes=5)
    assert log.record(fact, ts_recorded=at) is True
    (event,) = log.collect_events()
    assert type(event) is SessionMessageRecorded
    assert (event.ts_event, event.ts_recorded, event.timestamp) == (fact.ts_event, at, at)
    assert (event.client_id, event.code, event.message, event.req_id, event.advanced_reject) == (
        7, 1100, fact.message, 42, '{"rejectCode": 1}',
    )  # fmt: skip
    assert log.seen == {(at.isoformat(), 1100, 42, fact.message)}


def test_the_same_message_at_the_same_time_is_recorded_once() -> None:
    log = _opened()
    at = T0 + timedelta(minutes=5)
    assert log.record(_lost(), ts_recorded=at) is True
    log.collect_events()
    assert log.record(_lost(), ts_recorded=at) is False
    assert log.collect_events() == []


@pytest.mark.parametrize(
    "change",
    [
        {"code": 1101},
        {"req_id": 3},
        {"message": "Connectivity between IB and TWS has been restored."},
    ],
)
def test_a_message_differing_in_any_part_of_its_identity_is_a_new_fact(
    change: dict[str, object],
) -> None:
    log = _opened()
    at = T0 + timedelta(minutes=5)
    log.record(_lost(), ts_recorded=at)
    assert log.record(_lost(**change), ts_recorded=at) is True
    assert len(log.seen) == 2


def test_the_same_message_at_another_time_is_a_new_fact() -> None:
    # IB repeats connectivity messages during an outage; each is a fact of its own.
    log = _opened()
    log.record(_lost(), ts_recorded=T0 + timedelta(minutes=5))
    assert log.record(_lost(), ts_recorded=T0 + timedelta(minutes=6)) is True
