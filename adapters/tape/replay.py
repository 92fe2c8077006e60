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
line (the recorder's hooks, on the objects the Decoder made or on what the first pass
converted of them), or the line decoded again when the first pass kept nothing for it (past its
memory budget); :mod:`.run` is the live run a segment belongs to. Where the platform can fork,
the two passes run side by side (:mod:`.pipeline`): a child process checks and streams what it
kept while this one records, speculatively, until the child's verdict. Segments already in the
store (see :mod:`.ledger`) are skipped; a segment whose live recording stopped half way resumes
at its last recorded message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_events
from ordertrail.adapters.trail import BatchNotSaved, OrderTrail

from . import pipeline
from .check import KEEP_FIELDS, LogTrap, TapeCheck, check_tape, trapped_decoder_log
from .clock import TapeClock
from .collector import ReplayCollector, collector_paused
from .format import LIMITS, End, Header, Message, TapeLimits
from .ledger import TapeLedger
from .reader import UNFINISHED_KINDS, Item, Problem, Segment, TapeScanner
from .run import Run

BATCH_SIZE = 2000  # incoming messages whose facts are saved in one transaction


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
    # Checked by a child process while this one recorded (see .pipeline).
    pipelined: bool = False

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


class Replayer:
    """Replays tapes into one store. ``progress(n)`` is told of every n messages fed. The facts
    of ``batch_size`` incoming messages are saved in one transaction (``OrderTrail.batch``).
    ``keep_fields``: how much of a tape the checking pass keeps decoded for the replay
    (:data:`.check.KEEP_FIELDS`; 0 reads and decodes the tape a second time). ``processes``:
    1 checks and records in this process; 2 checks in a child process while this one records
    (:mod:`.pipeline`), where the platform can fork; 0 does so only when a core is to spare
    (``ordertrail replay``'s default). ``progress(-n)`` takes back n messages a speculative
    recording fed before it was dropped (the replay then feeds them again)."""

    def __init__(
        self,
        config: StoreConfig,
        *,
        skip_bad: bool = False,
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
        limits: TapeLimits = LIMITS,
        keep_fields: int = KEEP_FIELDS,
        processes: int = 1,
    ) -> None:
        self.config = config
        self.keep_fields = keep_fields
        self.processes = processes
        self.skip_bad = skip_bad
        self.progress = progress
        self.batch_size = batch_size
        self.limits = limits
        self.ledger = TapeLedger(config)

    def close(self) -> None:
        self.ledger.close()

    def replay(self, path: str | Path, check: TapeCheck | None = None) -> ReplayReport:
        with collector_paused() as collector:
            if check is None and self.keep_fields > 0 and pipeline.two_processes(self.processes):
                report = pipeline.replay_pipelined(self, path, collector)
                if report is not None:
                    return report
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
        recording = Recording(self, str(path), check, collector, report)
        return self.record(recording, check.plan if check.plan is not None else self._scan(path))

    def record(self, recording: Recording, items: Iterable[Item]) -> ReplayReport:
        """The recording pass over ``items``; its report."""
        report = recording.report
        try:
            with trapped_decoder_log() as trap, recording.batch:
                recording.play(items, trap)
        except BatchNotSaved as e:
            # Nothing of the failed batch was recorded and its segment stays unfinished in the
            # ledger: replaying the tape again resumes after the last batch saved.
            report.problems.append(
                Problem(
                    recording.path, recording.line, "store", f"{e}; replay the tape again to resume"
                )
            )
        finally:
            if recording.run is not None:
                _close_run(recording.run, report)
        report.problems.sort(key=lambda p: p.line)
        return report

    def _scan(self, path: str | Path) -> Iterator[Item]:
        return TapeScanner(path, self.limits).items()


class Recording:
    """The recording pass of one replay: the good lines fed, segment by segment, to their run.

    The open batch (OrderTrail.batch) is committed every ``batch_size`` messages and before
    anything the ledger or a new run reads or writes, so the ledger never gets ahead of the
    events (see ``_start_segment``)."""

    def __init__(
        self,
        replayer: Replayer,
        path: str,
        check: TapeCheck,
        collector: ReplayCollector,
        report: ReplayReport,
    ) -> None:
        self.replayer, self.path, self.collector, self.report = replayer, path, collector, report
        self.decoded, self.sent, self.bad = check.decoded, check.sent, check.bad_lines
        self.progress, self.batch_size = replayer.progress, replayer.batch_size
        self.run: Run | None = None
        self.seg_state: dict[str, Any] = {}
        self.batch = ExitStack()
        self.batched = 0  # messages in the open batch
        self.since = 0  # messages since the last commit, or the last seal ahead while held
        self.line = 0  # the last line fed
        # What the segment asks of each of its messages, read once per segment.
        self.skip, self.resume_at, self.clock = False, 0, TapeClock()
        # Recording speculatively (see .pipeline): nothing committed, the ledger's writes
        # deferred, until ``release``; ``settle`` waits for that verdict.
        self.held = False
        self.settle: Callable[[], None] | None = None
        self.deferred: list[Callable[[], None]] = []

    def hold(self, settle: Callable[[], None]) -> None:
        self.held, self.settle = True, settle

    def release(self) -> None:
        """The verdict let what is held be saved: the ledger first, as when a segment
        begins, then the open batch at its next commit."""
        self.held = False
        for write in self.deferred:
            write()
        self.deferred.clear()

    def _ledger_write(self, write: Callable[[], None]) -> None:
        if self.held:
            self.deferred.append(write)
        else:
            write()

    def play(self, items: Iterable[Item], trap: LogTrap) -> None:
        bad, message = self.bad, self.message
        for seg, item in items:
            if item is None:
                self.begin(seg)
            elif self.skip or item.line in bad:
                continue
            elif isinstance(item, End):
                self.end(item)
            else:
                self.seg_state["last_seq"] = item.seq
                self.line = item.line
                if not item.handshake and item.seq >= self.resume_at:
                    message(item, trap)
        self.commit()
        self.finish_segment()

    def begin(self, seg: Segment) -> None:
        """A segment's header: its run (a new one if the live run changed) and where in the
        ledger it stands."""
        if self.held and self.run is not None:
            # A new segment may begin a new run, and the ledger is written when a segment
            # ends: what is held is decided first.
            assert self.settle is not None
            self.settle()
        self.commit()
        self.finish_segment()
        header = seg.header
        assert header is not None
        run = self.run = self._run_for(header)
        self.seg_state = self._start_segment(run, header)
        self.skip = bool(self.seg_state.get("skip"))
        self.resume_at, self.clock = self.seg_state.get("resume_at", 0), run.clock

    def _run_for(self, header: Header) -> Run:
        """The run a segment belongs to: the current one, or a new one (the current closed)."""
        run = self.run
        if run is None or run.run != str(header.extra.get("run", header.session)):
            if run is not None:
                _close_run(run, self.report)
            run = Run(self.replayer.config, header)
        run.begin(header)
        return run

    def _start_segment(self, run: Run, header: Header) -> dict[str, Any]:
        """Where the segment stands in the ledger: new, finished (skipped), or to resume."""
        ledger, report = self.replayer.ledger, self.report
        entry = ledger.get(header.session)
        state: dict[str, Any] = {"header": header}
        if entry is not None and entry.finished:
            report.already += 1
            state["skip"] = True
            return state
        if entry is None:
            position = _position(run.trail)
            self._ledger_write(
                lambda: ledger.start(header, tape=self.path, position=position, how="replay")
            )
            report.replayed += 1
            return state
        # Begun but never finished (the live recorder or an earlier replay stopped half way):
        # resume at the last message whose events reached the store. Re-feeding that one
        # message is harmless (the domain drops a repeat of an order's latest fact).
        state["resume_at"] = _resume_point(
            run.trail, entry.position, Path(self.path), header, self.replayer.limits
        )
        report.resumed += 1
        return state

    def end(self, item: End) -> None:
        self.seg_state["last_seq"] = item.seq
        self.line = item.line
        self.seg_state["ended"] = item.reason
        if item.reason == "disconnected":
            assert self.run is not None
            self.run.disconnected()

    def message(self, item: Message, trap: LogTrap) -> None:
        run = self.run
        assert run is not None
        line = item.line
        if self.batched == 0:
            self.batch.enter_context(run.trail.batch())
        self.batched += 1
        self.clock.current = item.ts
        if item.direction == "in":
            calls = self.decoded.get(line)
            if calls is None:
                run.decode(item.fields)
            else:
                run.feed(calls)
        elif line in self.sent:
            # What the client asked, read (as the live recorder reads it) while the tape was
            # checked.
            request = self.sent[line]
            if request is not None:
                run.recorder.on_sent(request)
        else:
            run.recorder.on_outbound(item.fields)
        self.clock.current = None
        self.report.messages += 1
        if trap.records:
            self.report.problems.append(
                Problem(self.path, line, "recorder", f"while recording: {trap.take()}")
            )
        if self.progress is not None:
            self.progress(1)
        self.since += 1
        if self.since >= self.batch_size:
            self.commit()

    def commit(self) -> None:
        self.since = 0
        if self.held:
            if self.run is not None:
                self.run.trail.seal_ahead()
            return
        self.batch.close()
        if self.batched:
            self.collector.batch_saved()
        self.batched = 0

    def finish_segment(self) -> None:
        header: Header | None = self.seg_state.get("header")
        if header is None or self.seg_state.get("skip"):
            return
        finish, last_seq = self.replayer.ledger.finish, self.seg_state.get("last_seq", 0)
        self._ledger_write(lambda: finish(header.session, last_seq))


def _close_run(run: Run, report: ReplayReport) -> None:
    report.recorder_problems += run.recorder.stats.problems
    report.events += run.trail.appended
    run.close()


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
