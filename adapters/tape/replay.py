"""Replay: each tape's incoming messages through ib_async's own decoder and the same
``IbRecorder`` as live, with no socket.

A real ``IB()`` whose client never connects gets the segment's negotiated server version on its
decoder (ib_async parses per version) and the segment's client id (the recorder routes errors by
``(clientId, reqId)``); the recorder's ``OrderTrail`` reads a :class:`TapeClock` set to each
message's tape timestamp, so a replay records exactly the events the live run recorded,
``ts_recorded`` included.

Two passes per tape. The first reads every line and decodes every incoming message with a
stand-in wrapper (ib_async's Decoder swallows a malformed message and only logs it, so the log
is how it is caught); a tape with problems records nothing unless ``skip_bad``, except a torn
last line, which is reported while the complete lines before it are replayed. The second pass
feeds the good lines to the recorder. Segments already in the store (see :mod:`.ledger`) are
skipped; a segment whose live recording stopped half way resumes at its last recorded message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ib_async import IB, CommissionReport, Contract, Execution, Order, OrderState
from ib_async.decoder import Decoder

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.ib.recorder import HOOKED, SYNC_ENDS, IbRecorder
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.store.rebuild import stored_events
from ordertrail.adapters.trail import BatchNotSaved, OrderTrail
from ordertrail.domain.errors import InvalidFact
from ordertrail.domain.money import quantity

from .clock import TapeClock
from .counting import CountingTrail
from .format import LIMITS, End, Header, Message, TapeLimits
from .ledger import TapeLedger
from .reader import UNFINISHED_KINDS, Problem, Segment, TapeScanner

DECODER_LOGGER = "ib_async.Decoder"
BATCH_SIZE = 2000  # incoming messages whose facts are saved in one transaction


class _LogTrap(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> str | None:
        if not self.records:
            return None
        r = self.records[-1]
        text = r.getMessage()
        if r.exc_info and r.exc_info[1] is not None:
            text = f"{type(r.exc_info[1]).__name__}: {r.exc_info[1]} ({text[:160]})"
        self.records.clear()
        return text


@contextmanager
def trapped_decoder_log() -> Iterator[_LogTrap]:
    """ib_async's Decoder logs (``logger.exception``) instead of raising; catch those records
    here, whatever level the user gave that logger, and keep them out of the user's log."""
    logger = logging.getLogger(DECODER_LOGGER)
    trap = _LogTrap()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(trap)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        yield trap
    finally:
        logger.removeHandler(trap)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


class _StandInWrapper:
    """Takes any wrapper call the Decoder makes, for checking that messages parse; the facts
    the recorder reads are also converted as it converts them, so a value it could not record
    (NaN, a negative quantity, IB's unset sentinel where a quantity must be) or a status IB
    does not document is found before anything is recorded, with its line."""

    defaultTimezone = UTC  # noqa: N815 - attribute names ib_async's Decoder reads
    ib = SimpleNamespace(TimezoneTWS=None)

    def __init__(self) -> None:
        self.invalid: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return _ignore

    def take(self) -> str | None:
        found, self.invalid = self.invalid, []
        return "; ".join(found) if found else None

    def _check(self, what: str, convert: Callable[[], object]) -> None:
        try:
            convert()
        except InvalidFact as e:
            self.invalid.append(f"{what}: {e}")

    def _status(self, what: str, status: str) -> None:
        if not mapping.known_status(status):
            self.invalid.append(f"{what}: status={status!r} is not one of IB's order statuses")

    def orderStatus(self, order_id: int, status: str, *args: Any) -> None:  # noqa: N802
        self._status("orderStatus", status)
        filled, remaining, avg, _perm, _parent, last, _client, _held, *cap = args
        self._check(
            "orderStatus",
            lambda: mapping.status_numbers(filled, remaining, avg, last, cap[0] if cap else 0.0),
        )

    def execDetails(self, req_id: int, contract: Contract, execution: Execution) -> None:  # noqa: N802
        self._check("execDetails", lambda: mapping.execution(execution))

    def commissionReport(self, report: CommissionReport) -> None:  # noqa: N802
        self._check("commissionReport", lambda: mapping.commission(report))

    def openOrder(  # noqa: N802
        self, order_id: int, contract: Contract, order: Order, state: OrderState
    ) -> None:
        if not order.whatIf:  # the recorder skips what-if answers
            self._check(
                "openOrder", lambda: mapping.order_spec(order, mapping.contract_ref(contract))
            )

    def completedOrder(self, contract: Contract, order: Order, state: OrderState) -> None:  # noqa: N802
        self._status("completedOrder", state.status)
        self._check("completedOrder", lambda: quantity(order.totalQuantity, "order.totalQuantity"))


def _ignore(*_args: Any) -> None:
    return None


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


@dataclass(slots=True)
class TapeCheck:
    """The first pass: every segment with its problems and the lines not to feed."""

    path: Path
    segments: list[Segment]
    problems: list[Problem]
    incoming: int

    @property
    def bad_lines(self) -> set[int]:
        out: set[int] = set()
        for s in self.segments:
            out |= s.bad_lines
        return out


def check_tape(path: str | Path, limits: TapeLimits = LIMITS) -> TapeCheck:
    """Read and decode-check a whole tape without touching any store."""
    scanner = TapeScanner(path, limits)
    decoder: Decoder | None = None
    incoming = 0
    facts = _StandInWrapper()
    with trapped_decoder_log() as trap:
        for seg, item in scanner.items():
            if item is None:
                assert seg.header is not None
                decoder = Decoder(facts, seg.header.server_version)  # type: ignore[arg-type]
                continue
            if not isinstance(item, Message) or item.direction != "in" or item.handshake:
                continue
            incoming += 1
            assert decoder is not None
            decoder.interpret(item.fields)  # type: ignore[no-untyped-call]
            failure = trap.take()
            if failure is not None:
                seg.problems.append(
                    Problem(
                        str(scanner.path),
                        item.line,
                        "decoder",
                        f"ib_async's decoder could not parse message {item.fields[0]}: {failure}",
                    )
                )
                seg.bad_lines.add(item.line)
                facts.take()
                continue
            invalid = facts.take()
            if invalid is not None:
                seg.problems.append(Problem(str(scanner.path), item.line, "fact", invalid))
                seg.bad_lines.add(item.line)
    return TapeCheck(Path(path), scanner.segments, scanner.problems, incoming)


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
            setattr(self.ib.wrapper, name, _ignore)
        self.recorder = IbRecorder(self.ib, self.trail).attach()

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
    of ``batch_size`` incoming messages are saved in one transaction (``OrderTrail.batch``)."""

    def __init__(
        self,
        config: StoreConfig,
        *,
        skip_bad: bool = False,
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
        limits: TapeLimits = LIMITS,
    ) -> None:
        self.config = config
        self.skip_bad = skip_bad
        self.progress = progress
        self.batch_size = batch_size
        self.limits = limits
        self.ledger = TapeLedger(config)

    def close(self) -> None:
        self.ledger.close()

    def replay(self, path: str | Path, check: TapeCheck | None = None) -> ReplayReport:
        check = check or check_tape(path, self.limits)
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
            batched = 0

        def finish_segment() -> None:
            header: Header | None = seg_state.get("header")
            if header is None or seg_state.get("skip"):
                return
            self.ledger.finish(header.session, seg_state.get("last_seq", 0))

        try:
            with trapped_decoder_log() as trap, batch:
                for seg, item in TapeScanner(path, self.limits).items():
                    if item is None:
                        commit()
                        finish_segment()
                        header = seg.header
                        assert header is not None
                        if run is None or run.run != str(header.extra.get("run", header.session)):
                            if run is not None:
                                report.recorder_problems += run.recorder.stats.problems
                                report.events += run.trail.appended
                                run.close()
                            run = _Run(self.config, header)
                        run.begin(header)
                        seg_state = self._start_segment(run, header, str(path), report)
                        continue
                    assert run is not None
                    if seg_state.get("skip") or item.line in bad:
                        continue
                    seg_state["last_seq"] = item.seq
                    line = item.line
                    if isinstance(item, End):
                        seg_state["ended"] = item.reason
                        if item.reason == "disconnected":
                            run.disconnected()
                        continue
                    if item.handshake:
                        continue
                    if item.seq < seg_state.get("resume_at", 0):
                        continue
                    if batched == 0:
                        batch.enter_context(run.trail.batch())
                    batched += 1
                    run.clock.current = item.ts
                    if item.direction == "in":
                        decoder = run.ib.client.decoder
                        decoder.interpret(item.fields)  # type: ignore[no-untyped-call]
                    else:
                        # What the client asked, read as the live recorder read it.
                        run.recorder.on_outbound(item.fields)
                    run.clock.current = None
                    report.messages += 1
                    failure = trap.take()
                    if failure is not None:
                        report.problems.append(
                            Problem(str(path), item.line, "recorder", f"while recording: {failure}")
                        )
                    if self.progress is not None:
                        self.progress(1)
                    if batched >= self.batch_size:
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
