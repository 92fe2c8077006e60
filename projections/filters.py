"""The filters every audit view shares (CLI, notebook API, session report): a time window,
symbol, account, status and origin.

A bound written as a date means that whole day in the reader's time zone (``--since
2026-12-04 --until 2026-12-04`` is the 4th, local midnight to midnight); a time without an
offset is read in that zone too; one with an offset (``Z``, ``+01:00``) means what it says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

# The origin column's value for a dry run (projections/records.py's ORIGINS).
DRY_RUN = "dry-run"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def local_zone() -> str:
    """The machine's IANA zone name (``TZ``, else /etc/localtime's target), or ``UTC``.
    A name, not an offset: a session that crosses a DST change must shift with it."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and _zone_exists(tz):
        return tz
    link = Path("/etc/localtime")
    if link.is_symlink():
        target = str(link.resolve())
        if "zoneinfo/" in target:
            name = target.split("zoneinfo/", 1)[1]
            if _zone_exists(name):
                return name
    return "UTC"


def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone(name: str | None) -> ZoneInfo:
    """A zone by IANA name (``None``: the local one); a clear error for an unknown name."""
    name = name or local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name, e.g. Europe/Berlin)"
        ) from None


def parse_bound(value: datetime | date | str, tz: ZoneInfo, *, end: bool) -> datetime:
    """One end of a window in UTC. A date is the whole local day: its start for ``since``,
    the next day's start (exclusive) for ``until``."""
    if isinstance(value, str):
        text = value.strip()
        if _DATE.match(text):
            value = date.fromisoformat(text)
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{value!r} is neither a date (2026-12-04) nor an ISO 8601 time "
                    "(2026-12-04T14:31:07, with an optional offset)"
                ) from None
    if not isinstance(value, datetime):
        day = value + timedelta(days=1) if end else value
        return datetime.combine(day, time(), tz).astimezone(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    """What to keep. ``since`` is inclusive, ``until`` exclusive (both UTC once parsed)."""

    since: datetime | None = None
    until: datetime | None = None
    symbols: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    tz: str = field(default="UTC")

    @classmethod
    def build(
        cls,
        *,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        symbol: str | Sequence[str] | None = None,
        account: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        origin: str | Sequence[str] | None = None,
        tz: str | None = None,
    ) -> Filters:
        zi = zone(tz)
        lo = None if since is None else parse_bound(since, zi, end=False)
        hi = None if until is None else parse_bound(until, zi, end=True)
        if lo is not None and hi is not None and hi <= lo:
            raise ValueError(f"--until ({until}) is not after --since ({since})")
        return cls(lo, hi, _many(symbol), _many(account), _many(status), _many(origin), zi.key)

    def window(self, frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
        if self.since is not None:
            frame = frame.filter(pl.col(column) >= self.since)
        if self.until is not None:
            frame = frame.filter(pl.col(column) < self.until)
        return frame

    def _origins(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        # A dry run's orders and fills are nobody's trades: left out unless asked for by name
        # (or with "all").
        if "all" in self.origins:
            return frame
        if not self.origins:
            origin = pl.col("origin")
            return frame.filter(origin.is_null() | (origin != DRY_RUN))
        return frame.filter(pl.col("origin").is_in(list(self.origins)))

    def match(self, frame: pl.LazyFrame, *, time_column: str | None = None) -> pl.LazyFrame:
        """Keep the rows that pass every filter whose column the frame has."""
        names = frame.collect_schema().names()
        if "origin" in names:
            frame = self._origins(frame)
        for column, wanted in (
            ("symbol", self.symbols),
            ("account", self.accounts),
            ("status", self.statuses),
        ):
            if wanted and column in names:
                if column == "status":
                    frame = frame.filter(
                        pl.col(column).str.to_lowercase().is_in([w.lower() for w in wanted])
                    )
                else:
                    frame = frame.filter(pl.col(column).is_in(list(wanted)))
        if time_column is not None:
            frame = self.window(frame, time_column)
        return frame


def _many(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)
