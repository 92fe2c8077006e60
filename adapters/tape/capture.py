"""Live capture: every TWS API message a real ``ib_async.IB`` sends or receives, on the tape.

Attach before ``connectAsync``. Three taps on ib_async 2.1.0's client, each seeing exactly the
fields ib_async itself handles:

* outgoing: ``client.conn.sendMsg`` gets every framed message as it goes to the socket (after
  ib_async's request throttling), and the ``API\\0`` greeting that opens a connection;
* the handshake reply: ``Client._onSocketHasData`` consumes the first frame (server version and
  connection time) itself and never passes it to the decoder, so the first frame of each
  connection is read from the socket data by a listener placed before the client's;
* incoming: ``client.decoder.interpret(fields)`` receives every later message as split fields;
  the tape line is written *before* the decoder runs (record the raw before interpreting it),
  and the :class:`TapeClock` holds that line's timestamp while the recorder records.

A segment's header needs the negotiated server version and the accounts, which ib_async learns
from the handshake reply and managedAccounts; the first few lines of a connection are held in
memory until then (or until the connection ends), and written at once after the header.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib.metadata import version
from typing import Any

from ib_async import IB

from .clock import TapeClock, utc_now
from .format import End, Header, format_ts
from .writer import TapeFile

MICROSECOND = timedelta(microseconds=1)
SegmentStarted = Callable[[Header, int], None]
SegmentEnded = Callable[[Header, int, str], None]


def tws_timezone(ib: IB) -> str:
    """The zone ib_async reads zone-less execution times in: ``IB.TimezoneTWS`` when set, else
    this machine's local zone. A replay must read them in the same zone to record the same
    times, wherever it runs."""
    if ib.TimezoneTWS:
        return str(ib.TimezoneTWS)
    return local_zone_name()


def local_zone_name() -> str:
    """This machine's IANA zone name (TZ, else /etc/localtime's link), or "" when unknown."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if (tz and "/" in tz) or tz == "UTC":
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return ""
    _, marker, name = target.partition("zoneinfo/")
    return name if marker else ""


def _versions() -> tuple[str, str]:
    import ib_async

    try:
        ours = version("ordertrail")
    except Exception:  # pragma: no cover - not installed as a distribution
        ours = ""
    return ours, str(getattr(ib_async, "__version__", ""))


class _Segment:
    def __init__(self, mark: int, started: datetime) -> None:
        self.session = Header.new_session()
        self.mark = mark
        self.started = started
        self.seq = 0
        self.held: list[dict[str, Any]] = []
        self.header: Header | None = None
        self.handshake = b""
        self.awaiting_handshake = True
        self.server_version = 0
        self.connection_time = ""
        self.accounts: tuple[str, ...] | None = None
        self.next_id_seen = False


class WireCapture:
    """Writes every message of ``ib`` to ``tape``; one segment per connection."""

    def __init__(
        self,
        ib: IB,
        tape: TapeFile,
        clock: TapeClock | None = None,
        *,
        now: Callable[[], datetime] = utc_now,
        mark: Callable[[], int] = lambda: 0,
        on_segment_start: SegmentStarted | None = None,
        on_segment_end: SegmentEnded | None = None,
    ) -> None:
        self.ib = ib
        self.tape = tape
        self.clock = clock or TapeClock()
        self.now = now
        self.mark = mark
        self.on_segment_start = on_segment_start
        self.on_segment_end = on_segment_end
        self.run = uuid.uuid4().hex
        self.messages = 0
        self.segments = 0
        self._seg: _Segment | None = None
        self._last_ts: datetime | None = None
        self._orig_send: Callable[[bytes], None] | None = None
        self._orig_interpret: Callable[[list[str]], None] | None = None
        self._versions = _versions()

    # ---- wiring ----

    def attach(self) -> WireCapture:
        client = self.ib.client
        conn = client.conn
        self._orig_send = conn.sendMsg
        conn.sendMsg = self._sent  # type: ignore[method-assign]
        # Ours must see the socket data before the client consumes the handshake reply.
        conn.hasData -= client._onSocketHasData
        conn.hasData += self._received
        conn.hasData += client._onSocketHasData
        conn.disconnected += self._connection_lost
        self._orig_interpret = client.decoder.interpret
        client.decoder.interpret = self._interpret  # type: ignore[method-assign]
        self.ib.disconnectedEvent += self._disconnected
        return self

    def detach(self) -> None:
        client = self.ib.client
        conn = client.conn
        if self._orig_send is not None:
            conn.sendMsg = self._orig_send  # type: ignore[method-assign]
        if self._orig_interpret is not None:
            client.decoder.interpret = self._orig_interpret  # type: ignore[method-assign]
        conn.hasData -= self._received
        conn.disconnected -= self._connection_lost
        self.ib.disconnectedEvent -= self._disconnected

    def close(self, reason: str = "closed") -> None:
        """End the open segment (if any) and close the tape; safe to call twice."""
        self.end_segment(reason)
        self.detach()
        self.tape.close()

    # ---- numbering ----

    def _stamp(self) -> datetime:
        ts = self.now()
        # Strictly increasing: replay uses these stamps as the events' ts_recorded, and a
        # wall clock can stand still or step back.
        if self._last_ts is not None and ts <= self._last_ts:
            ts = self._last_ts + MICROSECOND
        self._last_ts = ts
        return ts

    def _emit(self, seg: _Segment, record: dict[str, Any]) -> None:
        if seg.header is None:
            seg.held.append(record)
        else:
            self.tape.write(record)

    def _message(
        self, direction: str, fields: list[str], *, handshake: bool = False
    ) -> datetime | None:
        seg = self._seg
        if seg is None:
            return None
        seg.seq += 1
        ts = self._stamp()
        record: dict[str, Any] = {
            "seq": seg.seq,
            "ts": format_ts(ts),
            "dir": direction,
            "f": fields,
        }
        if handshake:
            record["kind"] = "handshake"
        self.messages += 1
        self._emit(seg, record)
        return ts

    def _write_header(self, seg: _Segment) -> None:
        client = self.ib.client
        ours, theirs = self._versions
        seg.header = Header(
            session=seg.session,
            server_version=seg.server_version,
            client_id=int(client.clientId),
            connection_time=seg.connection_time,
            accounts=seg.accounts or (),
            host=str(client.host),
            port=int(client.port),
            started=format_ts(seg.started),
            ordertrail=ours,
            ib_async=theirs,
            tws_timezone=tws_timezone(self.ib),
            extra={"run": self.run},
        )
        self.tape.write(seg.header.to_json())
        for record in seg.held:
            self.tape.write(record)
        seg.held.clear()
        self.segments += 1
        if self.on_segment_start is not None:
            self.on_segment_start(seg.header, seg.mark)

    def end_segment(self, reason: str) -> None:
        seg = self._seg
        if seg is None:
            return
        self._seg = None
        if seg.header is None:
            self._write_header(seg)
        assert seg.header is not None
        seg.seq += 1
        self.tape.write(End(seg.seq, self._stamp(), reason).to_json())
        self.tape.sync()
        if self.on_segment_end is not None:
            self.on_segment_end(seg.header, seg.seq, reason)

    # ---- taps ----

    def _sent(self, data: bytes) -> None:
        ts = None
        if data.startswith(b"API\0"):
            # A new connection: ib_async sends the greeting from Connection.connectAsync.
            self.end_segment("reconnected")
            self._seg = _Segment(self.mark(), self.now())
            greeting = data[8:].decode(errors="backslashreplace")
            self._message("out", [greeting], handshake=True)
        elif self._seg is not None and len(data) > 4:
            fields = data[4:].decode(errors="backslashreplace").split("\0")[:-1]
            ts = self._message("out", fields)
        assert self._orig_send is not None
        # The recorder reads outbound requests below this tap (it attached first): it records
        # them at the tape line's time, as a replay of the line will.
        held, self.clock.current = self.clock.current, ts or self.clock.current
        try:
            self._orig_send(data)
        finally:
            self.clock.current = held

    def _received(self, data: bytes) -> None:
        seg = self._seg
        if seg is None or not seg.awaiting_handshake:
            return
        seg.handshake += data
        if len(seg.handshake) < 4:
            return
        end = 4 + struct.unpack(">I", seg.handshake[:4])[0]
        if len(seg.handshake) < end:
            return
        # The same framing and decoding as Client._onSocketHasData.
        fields = seg.handshake[4:end].decode(errors="backslashreplace").split("\0")[:-1]
        seg.awaiting_handshake = False
        seg.handshake = b""
        if len(fields) == 2:
            seg.server_version = int(fields[0]) if fields[0].isdigit() else 0
            seg.connection_time = fields[1]
        self._message("in", fields, handshake=True)

    def _interpret(self, fields: list[str]) -> None:
        seg = self._seg
        ts = self._message("in", list(fields))
        if seg is not None and seg.header is None and fields:
            # ib_async's own readiness test: managedAccounts and nextValidId both seen.
            if fields[0] == "15" and len(fields) == 3:
                seg.accounts = tuple(a for a in fields[2].split(",") if a)
            elif fields[0] == "9":
                seg.next_id_seen = True
            if seg.accounts and seg.next_id_seen:
                self._write_header(seg)
        self.clock.current = ts
        try:
            assert self._orig_interpret is not None
            self._orig_interpret(fields)
        finally:
            self.clock.current = None

    def _disconnected(self) -> None:
        self.end_segment("disconnected")

    def _connection_lost(self, msg: str = "") -> None:
        # Without a ready API, ib_async emits no disconnectedEvent (a refused client id).
        self.end_segment(f"connection lost{': ' + msg if msg else ''}")
