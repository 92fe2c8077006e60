"""Replay: each tape's incoming messages through ib_async's own decoder and the same
``IbRecorder`` as live, with no socket.

A real ``IB()`` whose client never connects gets the segment's negotiated server version on its
decoder (ib_async parses per version) and the segment's client id (the recorder routes errors by
``(clientId, reqId)``); the recorder's ``OrderTrail`` reads a :class:`TapeClock` set to each
message's tape timestamp, so a replay records exactly the events the live run recorded,
``ts_recorded`` included.

Two passes per tape. The first (:mod:`.check`) reads every line and decodes every incoming
message with a stand-in wrapper (ib_async's Decoder swallows a malformed message and only logs
it, so the log is how it is caught); a tape with problems records nothing unless ``skip_bad``,
except a torn last line, which is reported while the complete lines before it are replayed. The
second pass feeds the good lines to the recorder: the wrapper calls the first pass kept for a
line (the recorder's hooks, on the objects the Decoder made), or the line decoded again when
the first pass kept nothing for it (past its memory budget). Segments already in the store
(see :mod:`.ledger`) are skipped; a segment whose live recording stopped half way resumes at
its last recorded message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ib_async import IB

from ordertrail.adapters.ib.recorder import HOOKED, SYNC_ENDS, IbRecorder
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_events
from ordertrail.adapters.trail import BatchNotSaved, OrderTrail

from .check import (
    DECODER_LOGGER,
    KEEP_FIELDS,
    Call,
    TapeCheck,
    check_tape,
    ignore,
    trapped_decoder_log,
)
from .clock import TapeClock
from .collector import ReplayCollector, collector_paused
from .counting import CountingTrail
from .format import LIMITS, End, Header, Message, TapeLimits
from .ledger import TapeLedger
from .reader import UNFINISHED_KINDS, Item, Problem, TapeScanner

BATCH_SIZE = 2000  # incoming messages whose facts are saved in one transaction
_decoder_log = logging.getLogger(DECODER_LOGGER)


@dataclass(slots=True)
class ReplayReport:
    path: str
    segments: int = 0
    replayed: int = 0
    already: int = 0
    resumed: int = 0
    messages: int = 0
    events: int = 0
    refused: bool = False
    problems: list[Problem] = field(default_factory=list)
    recorder_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.refused

    @property
    def unfinished(self) -> bool:
        """The tape was not read to its end (empty, or past a limit): never a clean replay,
        whatever was skipped."""
        return any(p.kind in UNFINISHED_KINDS for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tape": self.path,
            "segments": self.segments,
            "replayed": self.replayed,
            "already_in_store": self.already,
            "resumed": self.resumed,
            "messages": self.messages,
            "events": self.events,
            "refused": self.refused,
            "problems": [str(p) for p in self.problems],
            "recorder_problems": self.recorder_problems,
        }


class _Run:
    """One live recording process: its IB, recorder and OrderTrail live across reconnects
    (the recorder holds facts for orders not yet seen, the trail holds early commission
    reports), so a replay keeps them across the segments of one run, and only those."""

    def __init__(self, config: StoreConfig, header: Header) -> None:
        self.run = str(header.extra.get("run", header.session))
        self.clock = TapeClock()
        self.trail = CountingTrail(config, clock=self.clock)
        self.ib = IB()
        # ib_async's own bookkeeping behind the recorder's hooks files answers under the
        # requests that asked for them (reqCompletedOrders, reqExecutions: a KeyError without
        # one). Replay sends no requests and the recorder reads only the decoded arguments, so
        # that bookkeeping is left out; the decoder, and every other wrapper method, is ib_async's.
        for name in (*HOOKED, *SYNC_ENDS):
            setattr(self.ib.wrapper, name, ignore)
        self.recorder = IbRecorder(self.ib, self.trail).attach()

    def feed(self, fields: list[str], calls: tuple[Call, ...] | None) -> None:
        """One incoming message: the wrapper calls the first pass kept for it, made on the same
        objects ib_async's Decoder made then, or (not kept) the message decoded again."""
        if calls is None:
            self.ib.client.decoder.interpret(fields)  # type: ignore[no-untyped-call]
            return
        wrapper, recorder = self.ib.wrapper, self.recorder
        for name, entry, args in calls:
            try:
                if entry is None:
                    getattr(wrapper, name)(*args)
                else:
                    recorder.record_converted(name, entry, *args)
            except Exception:
                # What ib_async's Decoder does with an exception from a wrapper method: log
                # it (the replay's trap makes it a problem on this line) and go on.
                _decoder_log.exception(f"Error for {name}({list(args)}):")

    def begin(self, header: Header) -> None:
        client = self.ib.client
        v = header.server_version
        client._serverVersion = v
        client.decoder.serverVersion = v
        client.clientId = header.client_id
        client._accounts = list(header.accounts)
        self.ib.wrapper.clientId = header.client_id
        # Zone-less execution times are read in the zone the live run read them in.
        self.ib.TimezoneTWS = header.tws_timezone

    def disconnected(self) -> None:
        # What ib_async does when a ready connection ends: disconnectedEvent (the recorder
        # forgets its session aliases), then the wrapper drops all session state.
        self.ib.disconnectedEvent.emit()
        self.ib.wrapper.reset()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.recorder.detach()
        self.trail.close()


class Replayer:
    """Replays tapes into one store. ``progress(n)`` is told of every n messages fed. The facts
    of ``batch_size`` incoming messages are saved in one transaction (``OrderTrail.batch``).
    ``keep_fields``: how much of a tape the checking pass keeps decoded for the replay
    (:data:`.check.KEEP_FIELDS`; 0 reads and decodes the tape a second time)."""

    def __init__(
        self,
        config: StoreConfig,
        *,
        skip_bad: bool = False,
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
        limits: TapeLimits = LIMITS,
        keep_fields: int = KEEP_FIELDS,
    ) -> None:
        self.config = config
        self.keep_fields = keep_fields
        self.skip_bad = skip_bad
        self.progress = progress
        self.batch_size = batch_size
        self.limits = limits
        self.ledger = TapeLedger(config)

    def close(self) -> None:
        self.ledger.close()

    def replay(self, path: str | Path, check: TapeCheck | None = None) -> ReplayReport:
        with collector_paused() as collector:
            check = check or check_tape(path, self.limits, keep_fields=self.keep_fields)
            collector.kept()
            return self._replay(path, check, collector)

    def _replay(
        self, path: str | Path, check: TapeCheck, collector: ReplayCollector
    ) -> ReplayReport:
        report = ReplayReport(str(path), segments=len(check.segments), problems=check.problems)
        refused = [p for p in check.problems if p.kind != "torn"]
        if refused and not self.skip_bad:
            report.refused = True
            return report
        bad = check.bad_lines
        run: _Run | None = None
        seg_state: dict[str, Any] = {}
        # The open batch (OrderTrail.batch) and how many messages it holds. It is committed
        # every ``batch_size`` messages and before anything the ledger or a new run reads or
        # writes, so the ledger never gets ahead of the events (see _start_segment).
        batch = ExitStack()
        batched = 0
        line = 0

        def commit() -> None:
            nonlocal batched
            batch.close()
            if batched:
                collector.batch_saved()
            batched = 0

        def finish_segment() -> None:
            header: Header | None = seg_state.get("header")
            if header is None or seg_state.get("skip"):
                return
            self.ledger.finish(header.session, seg_state.get("last_seq", 0))

        decoded, sent = check.decoded, check.sent
        progress, batch_size = self.progress, self.batch_size
        try:
            with trapped_decoder_log() as trap, batch:
                items = check.plan if check.plan is not None else self._scan(path)
                # What each message asks is read into locals once per segment: the loop below
                # runs once per message of the tape. (A segment's header comes first: ``clock``
                # is its run's from then on.)
                skip, resume_at, clock, records = False, 0, TapeClock(), trap.records
                for seg, item in items:
                    if item is None:
                        commit()
                        finish_segment()
                        header = seg.header
                        assert header is not None
                        run = self._run_for(run, header, report)
                        seg_state = self._start_segment(run, header, str(path), report)
                        skip = bool(seg_state.get("skip"))
                        resume_at, clock = seg_state.get("resume_at", 0), run.clock
                        continue
                    if skip or item.line in bad:
                        continue
                    assert run is not None
                    seg_state["last_seq"] = item.seq
                    line = item.line
                    if isinstance(item, End):
                        seg_state["ended"] = item.reason
                        if item.reason == "disconnected":
                            run.disconnected()
                        continue
                    if item.handshake or item.seq < resume_at:
                        continue
                    if batched == 0:
                        batch.enter_context(run.trail.batch())
                    batched += 1
                    clock.current = item.ts
                    if item.direction == "in":
                        run.feed(item.fields, decoded.get(line))
                    elif line in sent:
                        # What the client asked, read (as the live recorder reads it) while
                        # the tape was checked.
                        request = sent[line]
                        if request is not None:
                            run.recorder.on_sent(request)
                    else:
                        run.recorder.on_outbound(item.fields)
                    clock.current = None
                    report.messages += 1
                    if records:
                        report.problems.append(
                            Problem(str(path), line, "recorder", f"while recording: {trap.take()}")
                        )
                    if progress is not None:
                        progress(1)
                    if batched >= batch_size:
                        commit()
                commit()
                finish_segment()
        except BatchNotSaved as e:
            # Nothing of the failed batch was recorded and its segment stays unfinished in the
            # ledger: replaying the tape again resumes after the last batch saved.
            report.problems.append(
                Problem(str(path), line, "store", f"{e}; replay the tape again to resume")
            )
        finally:
            if run is not None:
                report.recorder_problems += run.recorder.stats.problems
                report.events += run.trail.appended
                run.close()
        report.problems.sort(key=lambda p: p.line)
        return report

    def _run_for(self, run: _Run | None, header: Header, report: ReplayReport) -> _Run:
        """The run a segment belongs to: the current one, or a new one (the current closed)."""
        if run is None or run.run != str(header.extra.get("run", header.session)):
            if run is not None:
                report.recorder_problems += run.recorder.stats.problems
                report.events += run.trail.appended
                run.close()
            run = _Run(self.config, header)
        run.begin(header)
        return run

    def _scan(self, path: str | Path) -> Iterator[Item]:
        return TapeScanner(path, self.limits).items()

    def _start_segment(
        self, run: _Run, header: Header, tape: str, report: ReplayReport
    ) -> dict[str, Any]:
        entry = self.ledger.get(header.session)
        state: dict[str, Any] = {"header": header}
        if entry is not None and entry.finished:
            report.already += 1
            state["skip"] = True
            return state
        if entry is None:
            self.ledger.start(header, tape=tape, position=_position(run.trail), how="replay")
            report.replayed += 1
            return state
        # Begun but never finished (the live recorder or an earlier replay stopped half way):
        # resume at the last message whose events reached the store. Re-feeding that one
        # message is harmless (the domain drops a repeat of an order's latest fact).
        state["resume_at"] = _resume_point(
            run.trail, entry.position, Path(tape), header, self.limits
        )
        report.resumed += 1
        return state


def _position(trail: OrderTrail) -> int:
    return int(trail.recorder.max_notification_id() or 0)


def _resume_point(
    trail: OrderTrail, position: int, path: Path, header: Header, limits: TapeLimits
) -> int:
    stamps: set[datetime] = {e.timestamp for _nid, e in stored_events(trail.recorder, position)}
    last = 0
    current: Header | None = None
    for seg, item in TapeScanner(path, limits).items():
        if item is None:
            current = seg.header
        elif (
            current is not None
            and current.session == header.session
            and isinstance(item, Message)
            and item.ts in stamps
        ):
            last = item.seq
    return last


# ``check_tape`` and ``TapeCheck`` live in .check; importers of this module find them here too.
__all__ = ["BATCH_SIZE", "ReplayReport", "Replayer", "TapeCheck", "check_tape"]
