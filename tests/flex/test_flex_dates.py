from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ordertrail.adapters.flex.dates import BadDate, parse_date, parse_datetime

# 10:45:23 in New York on 2025-08-07 (EDT, UTC-4) is 14:45:23 UTC.
SUMMER = datetime(2025, 8, 7, 14, 45, 23, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "20250807;104523",
        "2025-08-07;104523",
        "20250807 104523",
        "20250807104523",
        "2025-08-07, 10:45:23",
        "08/07/2025;10:45:23",
        "07-Aug-25 104523",
    ],
)
def test_every_ib_format_reads_as_new_york_time(text: str) -> None:
    assert parse_datetime(text) == SUMMER


def test_winter_stamps_use_eastern_standard_time() -> None:
    assert parse_datetime("2025-12-15;095038") == datetime(2025, 12, 15, 14, 50, 38, tzinfo=UTC)


def test_a_date_without_time_is_midnight_in_the_zone() -> None:
    assert parse_datetime("20250808") == datetime(2025, 8, 8, 4, 0, tzinfo=UTC)


def test_another_zone_can_be_given() -> None:
    got = parse_datetime("20260419 144528", ZoneInfo("Europe/Zurich"))
    assert got == datetime(2026, 4, 19, 12, 45, 28, tzinfo=UTC)
    assert got.tzinfo is UTC


def test_dates() -> None:
    assert parse_date("20250807") == parse_date("2025-08-07") == date(2025, 8, 7)
    assert parse_date("31/12/2025") == date(2025, 12, 31)  # day first: only when unambiguous


@pytest.mark.parametrize("text", ["2025/08/07", "20251307", "yesterday", "20250807;1045", ""])
def test_what_ib_does_not_write_is_refused(text: str) -> None:
    with pytest.raises(BadDate):
        parse_datetime(text)
