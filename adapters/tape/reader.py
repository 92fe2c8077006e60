"""Reading tapes back: every line checked, every problem named with its file and line.

The scanner never stops at a bad line. It yields what it could read and a :class:`Problem` for
what it could not; the caller (``replay``) decides whether a problem refuses the tape or is
skipped (``--skip-bad``). A torn last line of a segment (a crash while writing it) is reported
as such and never hides the complete lines before it.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from .format import (
    HANDSHAKE,
    LIMITS,
    MAGIC,
    MAX_SERVER_VERSION,
    MIN_SERVER_VERSION,
    SUPPORTED_FORMATS,
    End,
    Header,
    Message,
    TapeLimits,
    parse_ts,
)
from .writer import is_gzip

ProblemKind = Literal[
    "torn",
    "malformed",
    "no_header",
    "unsupported",
    "sequence",
    "unknown_message",
    "field_count",
    "decoder",
    "fact",
    "recorder",
    "store",
    "limit",
    "empty",
]
# Problems after which the rest of the tape is not read: replaying it is never complete.
UNFINISHED_KINDS = frozenset({"limit", "empty"})


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.message}"


# Incoming messages whose length ib_async's decoder fixes, by message id: ib_async ignores
# surplus fields (it unpacks with ``*rest`` or zips against its type list) and only logs a
# shortfall, so a miscounted message would otherwise pass unnoticed or half-parsed.
def expected_length(msg_id: int, server_version: int) -> int | None:
    match msg_id:
        case 3:  # orderStatus: id, orderId … mktCapPrice (no version field, skip=1)
            return 12
        case 4:  # error: advancedOrderRejectJson from server version 166
            return 6 if server_version >= 166 else 5
        case 9 | 15 | 55:  # nextValidId, managedAccounts, execDetailsEnd
            return 3
        case 11:  # execDetails: pendingPriceRevision from server version 178
            return 32 if server_version >= 178 else 31
        case 53:  # openOrderEnd
            return 2
        case 59:  # commissionReport
            return 8
        case 102:  # completedOrdersEnd has no version field
            return 1
    return None


def _known_ids() -> frozenset[int]:
    from ib_async.decoder import Decoder

    return frozenset(Decoder(None, 0).handlers)  # type: ignore[arg-type]


KNOWN_IDS = _known_ids()


@dataclass(slots=True)
class Segment:
    """What a reader learns about one segment; ``bad_lines`` are never fed to the decoder."""

    header: Header | None
    line: int
    messages: int = 0
    incoming: int = 0
    last_seq: int = 0
    first_ts: Any = None
    last_ts: Any = None
    end: End | None = None
    bad_lines: set[int] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.header is not None

    @property
    def refused_problems(self) -> list[Problem]:
        """Problems that refuse the segment unless --skip-bad (a torn tail does not)."""
        return [p for p in self.problems if p.kind != "torn"]


Item = tuple[Segment, Message | End | None]


Line = tuple[int, bytes | None, ProblemKind, str]


def _past_limit(raw: bytes, total: int, limits: TapeLimits) -> str | None:
    if len(raw) > limits.line_bytes and not raw.endswith(b"\n"):
        return (
            f"line longer than {limits.line_bytes:,} bytes (a TWS message is at most 16 MiB): "
            "the rest of the tape is not read"
        )
    if total > limits.tape_bytes:
        return (
            f"the tape is larger than {limits.tape_bytes:,} bytes decompressed: the rest of it "
            "is not read"
        )
    return None


def tape_lines(path: Path, limits: TapeLimits) -> Iterator[Line]:
    """(line number, bytes, …) per line; (n, None, kind, why) when the stream itself ends badly
    or passes a limit, after which nothing more is read. Lines are read at most
    ``limits.line_bytes`` at a time, so neither a line without an end nor a decompression bomb
    is ever held in memory whole."""
    n = total = 0
    try:
        with gzip.open(path, "rb") if is_gzip(path) else open(path, "rb") as f:
            while raw := f.readline(limits.line_bytes + 1):
                n += 1
                total += len(raw)
                past = _past_limit(raw, total, limits)
                if past is not None:
                    yield n, None, "limit", past
                    return
                yield n, raw, "torn", ""
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        yield n + 1, None, "torn", f"the compressed stream ends early or is damaged ({e})"
        return
    if n == 0:
        yield 1, None, "empty", "the tape is empty: no header and no message to replay"


class TapeScanner:
    """One pass over a tape. Iterate :meth:`items`; ``segments`` fills in as it goes."""

    def __init__(self, path: str | Path, limits: TapeLimits = LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        self.segments: list[Segment] = []
        self.orphan_problems: list[Problem] = []
        self._reported = 0

    @property
    def gave_up(self) -> bool:
        return self._reported > self.limits.problems

    def _problem(
        self, seg: Segment | None, line: int, kind: ProblemKind, text: str, *, bad: bool = True
    ) -> None:
        """Report a problem at ``line``; ``bad``: the line itself is not to be replayed."""
        self._reported += 1
        if self._reported == self.limits.problems + 1:
            kind, text = (
                "limit",
                (f"more than {self.limits.problems:,} bad lines: the rest of the tape is not read"),
            )
        elif self.gave_up:
            return
        p = Problem(str(self.path), line, kind, text)
        if seg is None:
            self.orphan_problems.append(p)
        else:
            seg.problems.append(p)
            if bad:
                seg.bad_lines.add(line)

    @property
    def problems(self) -> list[Problem]:
        out = list(self.orphan_problems)
        for s in self.segments:
            out += s.problems
        return sorted(out, key=lambda p: p.line)

    def items(self) -> Iterator[Item]:
        """(segment, message or end) for every good line, and (segment, None) once per new
        segment right after its header (so a consumer can set up before its messages)."""
        seg: Segment | None = None
        pending: tuple[int, bytes] | None = None  # an unparsable line: torn if last of segment
        for n, raw, kind, why in tape_lines(self.path, self.limits):
            if self.gave_up:
                return
            obj = json_object(raw)
            if pending is not None:
                # Torn only when a new segment's header follows it: a writer that stopped
                # mid-line starts the next session with a header.
                self._bad_json(seg, *pending, last=obj is not None and is_header(obj))
                pending = None
            if raw is None:
                self._problem(seg, n, kind, why)
            elif obj is None:
                pending = (n, raw)
            elif is_header(obj):
                seg = self._header(n, obj)
                self.segments.append(seg)
                if seg.usable:
                    yield seg, None
            else:
                item = self._message(seg, n, obj)
                if item is not None:
                    assert seg is not None  # a message is only read within a segment
                    yield seg, item
        if pending is not None:
            self._bad_json(seg, *pending, last=True)

    def _message(self, seg: Segment | None, n: int, obj: dict[str, Any]) -> Message | End | None:
        if seg is None:
            self._problem(None, n, "no_header", "a message before any tape header")
            return None
        if not seg.usable:
            seg.bad_lines.add(n)  # the header's problem already names the segment
            return None
        return self._record(seg, n, obj)

    def _bad_json(self, seg: Segment | None, n: int, raw: bytes, *, last: bool) -> None:
        if last and seg is not None:  # a line cut short needs a segment it was cut from
            self._problem(
                seg,
                n,
                "torn",
                "the last line of the segment is incomplete (the recorder stopped while "
                f"writing it): {len(raw)} bytes not replayed",
            )
        else:
            self._problem(seg, n, "malformed", "not a JSON object")

    def _header(self, n: int, obj: dict[str, Any]) -> Segment:
        try:
            header = Header.from_json(obj)
        except (KeyError, TypeError, ValueError) as e:
            seg = Segment(None, n)
            self._problem(seg, n, "malformed", f"tape header: {e!r}")
            return seg
        seg = Segment(header, n)
        if header.format not in SUPPORTED_FORMATS:
            self._problem(
                seg,
                n,
                "unsupported",
                f"tape format {header.format}; this ordertrail reads format(s) "
                + ", ".join(map(str, sorted(SUPPORTED_FORMATS))),
            )
            seg.header = None
        elif not MIN_SERVER_VERSION <= header.server_version <= MAX_SERVER_VERSION:
            self._problem(
                seg,
                n,
                "unsupported",
                f"server version {header.server_version}; ib_async's decoder speaks "
                f"{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}",
            )
            seg.header = None
        return seg

    def _record(self, seg: Segment, n: int, obj: dict[str, Any]) -> Message | End | None:
        try:
            seq = int(obj["seq"])
            ts = parse_ts(obj["ts"])
        except (KeyError, TypeError, ValueError) as e:
            self._problem(seg, n, "malformed", f"no valid seq/ts: {e!r}")
            return None
        if seq <= seg.last_seq:
            self._problem(
                seg,
                n,
                "sequence",
                f"sequence number {seq} after {seg.last_seq}: out of order or repeated",
            )
            return None
        if seq != seg.last_seq + 1:
            # A gap: the line itself is good, but messages are missing before it.
            self._problem(
                seg,
                n,
                "sequence",
                f"sequence jumps from {seg.last_seq} to {seq}: "
                f"{seq - seg.last_seq - 1} message(s) missing",
                bad=False,
            )
        if seg.last_ts is not None and ts < seg.last_ts:
            self._problem(seg, n, "sequence", f"time goes back from {seg.last_ts} to {ts}")
            return None
        if "end" in obj:
            seg.last_seq, seg.last_ts = seq, ts
            seg.end = End(seq, ts, str(obj["end"]), n)
            return seg.end
        fields = obj.get("f")
        direction = obj.get("dir")
        if (
            direction not in ("in", "out")
            or not isinstance(fields, list)
            or not all(isinstance(f, str) for f in fields)
        ):
            self._problem(
                seg, n, "malformed", "a message needs dir in/out and f, a list of strings"
            )
            return None
        seg.last_seq, seg.last_ts = seq, ts
        if seg.first_ts is None:
            seg.first_ts = ts
        msg = Message(seq, ts, direction, fields, n, obj.get("kind") == HANDSHAKE)
        seg.messages += 1
        if direction == "in" and not msg.handshake:
            seg.incoming += 1
            assert seg.header is not None
            if not self._check_incoming(seg, n, fields, seg.header.server_version):
                return None
        return msg

    def _check_incoming(self, seg: Segment, n: int, fields: list[str], version: int) -> bool:
        if not fields or not fields[0].lstrip("-").isdigit():
            self._problem(seg, n, "malformed", f"message id {fields[:1]!r} is not a number")
            return False
        msg_id = int(fields[0])
        if msg_id not in KNOWN_IDS:
            self._problem(
                seg,
                n,
                "unknown_message",
                f"incoming message id {msg_id} is unknown to ib_async's decoder",
            )
            return False
        want = expected_length(msg_id, version)
        if want is not None and len(fields) != want:
            self._problem(
                seg,
                n,
                "field_count",
                f"message {msg_id} has {len(fields)} fields; at server version {version} "
                f"ib_async's decoder reads {want}",
            )
            return False
        return True


def json_object(raw: bytes | None) -> dict[str, Any] | None:
    """The line's JSON object, or None (no line, not JSON, or JSON that is not an object)."""
    if raw is None:
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def is_header(obj: dict[str, Any]) -> bool:
    return bool(obj.get("tape") == MAGIC)
