"""The wire tape format, version 1 (docs/tape-format.md is the spec; keep the two in step).

A tape is UTF-8 JSON Lines, optionally gzip-compressed (``.gz``). It holds one or more
*segments*, one per API connection: a header line, then one line per TWS API message in either
direction, in the order the client saw them, and (when the connection ended while the recorder
was alive) an end line. Appending a later recording to the same file starts a new segment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

MAGIC = "ordertrail-wire-tape"
FORMAT_VERSION = 1
SUPPORTED_FORMATS = frozenset({1})
# What ib_async 2.1.0 offers in its handshake (Client.MinClientVersion..MaxClientVersion): a
# tape negotiated outside this range was not written by a client this decoder understands.
MIN_SERVER_VERSION = 157
MAX_SERVER_VERSION = 178


@dataclass(frozen=True, slots=True)
class TapeLimits:
    """What a reader accepts before it stops reading a tape (docs/tape-format.md, "Limits").

    * ``line_bytes``: IB's own API client refuses a wire message longer than 16 MiB - 1
      (``MAX_MSG_LEN`` in its readers); a tape line is that message as JSON strings, at most
      three bytes per wire byte (an empty field costs ``"",`` for its one NUL). Longer is not
      a message a TWS sent, and reading on would hold the whole line in memory.
    * ``tape_bytes``: the decompressed size of one tape file. A few megabytes of gzip can expand
      to terabytes; a real session's tape is far below this.
    * ``problems``: bad lines reported (and remembered) before the reader gives up on a tape
      that is mostly not a tape.
    """

    line_bytes: int = 3 * (16 << 20)
    tape_bytes: int = 64 << 30
    problems: int = 10_000


LIMITS = TapeLimits()

Direction = Literal["in", "out"]
HANDSHAKE = "handshake"


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return ts


@dataclass(frozen=True, slots=True)
class Header:
    """The first line of a segment: who connected where, and what the server negotiated."""

    session: str
    server_version: int
    client_id: int
    connection_time: str = ""
    accounts: tuple[str, ...] = ()
    host: str = ""
    port: int = 0
    started: str = ""
    ordertrail: str = ""
    ib_async: str = ""
    # The zone ib_async read zone-less execution times in (IB.TimezoneTWS, else the recording
    # machine's local zone); "" in tapes written before it was kept.
    tws_timezone: str = ""
    format: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def new_session() -> str:
        return uuid.uuid4().hex

    def to_json(self) -> dict[str, Any]:
        return {
            "tape": MAGIC,
            "format": self.format,
            "session": self.session,
            "server_version": self.server_version,
            "connection_time": self.connection_time,
            "client_id": self.client_id,
            "accounts": list(self.accounts),
            "host": self.host,
            "port": self.port,
            "started": self.started,
            "ordertrail": self.ordertrail,
            "ib_async": self.ib_async,
            "tws_timezone": self.tws_timezone,
            **self.extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Header:
        """Raises ValueError (KeyError, TypeError) for a header this reader cannot trust."""
        known = {
            "tape",
            "format",
            "session",
            "server_version",
            "connection_time",
            "client_id",
            "accounts",
            "host",
            "port",
            "started",
            "ordertrail",
            "ib_async",
            "tws_timezone",
        }
        return cls(
            format=int(d["format"]),
            session=str(d["session"]),
            server_version=int(d["server_version"]),
            connection_time=str(d.get("connection_time", "")),
            client_id=int(d["client_id"]),
            accounts=tuple(str(a) for a in d.get("accounts", ())),
            host=str(d.get("host", "")),
            port=int(d.get("port", 0)),
            started=str(d.get("started", "")),
            ordertrail=str(d.get("ordertrail", "")),
            ib_async=str(d.get("ib_async", "")),
            tws_timezone=str(d.get("tws_timezone", "")),
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One TWS API message as raw string fields, as ib_async's client framed it."""

    seq: int
    ts: datetime
    direction: Direction
    fields: list[str]
    line: int = 0
    handshake: bool = False

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "seq": self.seq,
            "ts": format_ts(self.ts),
            "dir": self.direction,
            "f": self.fields,
        }
        if self.handshake:
            d["kind"] = HANDSHAKE
        return d


@dataclass(frozen=True, slots=True)
class End:
    """The connection of a segment ended (a disconnect, or the recorder closed the tape)."""

    seq: int
    ts: datetime
    reason: str
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": format_ts(self.ts), "end": self.reason}
