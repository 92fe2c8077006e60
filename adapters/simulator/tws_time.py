"""How a TWS writes times on the wire, depending on the time zone it runs in.

A TWS logged in with a time zone other than UTC writes its connection time as local wall-clock
time followed by the zone's name (Java's short display name, e.g. ``EST``/``EDT`` or
``CET``/``CEST``, or a long name such as ``Greenwich Mean Time`` on some installations), and
execution times as local wall-clock time with no zone at all (``yyyymmdd  hh:mm:ss``, two
spaces). ib_async 2.1.0 does not read the zone from the handshake (``Client`` drops the
connection time): it reads a zone-less execution time in ``IB.TimezoneTWS`` when that is set,
otherwise in the client machine's local zone. The default :data:`UTC_TWS` keeps the simulator's
original output: every time in UTC, with its zone written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownTimeZone(ValueError):
    """A TWS time zone that is not an IANA zone name."""


@dataclass(frozen=True, slots=True)
class TwsTimeZone:
    """The zone a simulated TWS runs in; ``zone`` None means UTC with explicit zone names."""

    zone: str | None = None
    # How the connection time names the zone; empty: the zone's abbreviation at that instant.
    name: str = ""

    def __post_init__(self) -> None:
        if self.zone is not None:
            try:
                ZoneInfo(self.zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise UnknownTimeZone(f"{self.zone!r} is not an IANA time zone name") from None

    @property
    def tz(self) -> tzinfo:
        return UTC if self.zone is None else ZoneInfo(self.zone)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def stamp(self, moment: datetime) -> str:
        """``yyyymmdd hh:mm:ss NAME``: the connection time and completedOrder's completedTime."""
        local = self.local(moment)
        name = self.name or ("UTC" if self.zone is None else local.strftime("%Z"))
        return local.strftime("%Y%m%d %H:%M:%S") + " " + name

    def execution(self, moment: datetime) -> str:
        """An execution's time: with its zone in UTC mode, zone-less local time otherwise."""
        if self.zone is None:
            return moment.astimezone(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
        return self.local(moment).strftime("%Y%m%d  %H:%M:%S")

    def clock_time(self, moment: datetime) -> str:
        """``hh:mm`` of updateAccountTime, in the TWS's zone."""
        return self.local(moment).strftime("%H:%M")

    def read_filter_time(self, text: str) -> datetime | None:
        """reqExecutions' ``yyyymmdd hh:mm:ss`` (or ``yyyymmdd-hh:mm:ss``), optionally with a
        zone name; a time without one is the TWS's local time, as TWS reads it."""
        parts = text.replace("-", " ").split()
        if len(parts) < 2:
            return None
        try:
            naive = datetime.strptime(parts[0] + parts[1], "%Y%m%d%H:%M:%S")
        except ValueError:
            return None
        zone: tzinfo = self.tz
        if len(parts) > 2:
            try:
                zone = UTC if parts[2] in ("UTC", "GMT") else ZoneInfo(parts[2])
            except (ZoneInfoNotFoundError, ValueError):
                return None
        return naive.replace(tzinfo=zone)


UTC_TWS = TwsTimeZone()
