"""IB's Flex date and time formats, as the query settings produce them.

Flex queries choose a date format (yyyyMMdd, yyyy-MM-dd, MM/dd/yyyy, MM/dd/yy, dd/MM/yyyy,
dd/MM/yy, dd-MMM-yy), a time format (HHmmss, HH:mm:ss) and a separator (``;``, ``,``, space or
none), e.g. ``20250807;104523``, ``2025-12-15;095038``, ``20260419 144528``, ``20250807104523``
(all seen in real statements). ``dateTime`` carries no zone: IB writes it in New York time
unless the importer is told otherwise, so the zone is an argument here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DATE = (
    r"(?P<ymd>\d{8})|(?P<iso>\d{4}-\d{2}-\d{2})|(?P<slash>\d{2}/\d{2}/(?:\d{4}|\d{2}))"
    r"|(?P<dmy>\d{2}-[A-Za-z]{3}-\d{2})"
)
_TIME = r"(?P<hms>\d{6})|(?P<colon>\d{2}:\d{2}:\d{2})"
_DATETIME = re.compile(rf"^(?:{_DATE})(?:(?:;|,\s*|\s+|T)?(?:{_TIME}))?$")


class BadDate(ValueError):
    pass


def _two_digit_year(yy: int) -> int:
    return 2000 + yy if yy < 70 else 1900 + yy


def _date(m: re.Match[str]) -> date:
    if m["ymd"]:
        s = m["ymd"]
        return date(int(s[:4]), int(s[4:6]), int(s[6:]))
    if m["iso"]:
        return date.fromisoformat(m["iso"])
    if m["slash"]:
        a, b, y = m["slash"].split("/")
        year = int(y) if len(y) == 4 else _two_digit_year(int(y))
        # MM/dd and dd/MM cannot be told apart in-band; IB's default is US order, so a first
        # part above 12 is the only evidence of dd/MM. Prefer ISO dates in the query settings.
        month, day = (int(a), int(b)) if int(a) <= 12 else (int(b), int(a))
        return date(year, month, day)
    d, mon, yy = m["dmy"].split("-")
    if mon.upper() not in _MONTHS:
        raise BadDate(f"unknown month {mon!r}")
    return date(_two_digit_year(int(yy)), _MONTHS[mon.upper()], int(d))


def _match(text: str) -> re.Match[str]:
    m = _DATETIME.match(text.strip())
    if m is None:
        raise BadDate(f"not a date IB writes: {text!r}")
    return m


def parse_date(text: str) -> date:
    m = _match(text)
    try:
        return _date(m)
    except ValueError as e:
        raise BadDate(f"not a valid date: {text!r} ({e})") from None


def parse_datetime(text: str, zone: ZoneInfo = NEW_YORK) -> datetime:
    """An aware UTC datetime. A date without a time is midnight in ``zone`` (IB writes
    date-only stamps for some book entries)."""
    m = _match(text)
    try:
        day = _date(m)
        if m["hms"]:
            s = m["hms"]
            clock = time(int(s[:2]), int(s[2:4]), int(s[4:]))
        elif m["colon"]:
            clock = time.fromisoformat(m["colon"])
        else:
            clock = time()
    except ValueError as e:
        raise BadDate(f"not a valid date/time: {text!r} ({e})") from None
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def parse_moment(text: str, zone: ZoneInfo = NEW_YORK) -> tuple[datetime | None, date]:
    """The trade's time (aware UTC) and its date in ``zone``; the time is None when the text
    gives a date alone, since a midnight would be a time IB never said."""
    m = _match(text)
    if m["hms"] or m["colon"]:
        at = parse_datetime(text, zone)
        return at, at.astimezone(zone).date()
    return None, parse_date(text)
