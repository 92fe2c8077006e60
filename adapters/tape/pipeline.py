"""A replay on two processes (docs/adr/0156-replay-pipelined-on-two-processes.md): a child
process runs the checking pass (read, decode, check, keep) and streams what it kept, chunk by
chunk; this process records it as it arrives, speculatively. Until the child's verdict (the
whole tape checked) everything recorded is held in one open batch, and nothing is written to
the ledger; a verdict with problems, a child that dies, or more held than the budget discards
all of it (nothing was saved), and the replay runs as before, in this process alone.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import sys
from collections.abc import Iterator
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .check import FirstPass, TapeCheck, trapped_decoder_log
from .collector import ReplayCollector
from .format import HANDSHAKE, End, Header, Message, TapeLimits, parse_ts
from .reader import Item, Problem, Segment, TapeScanner, is_header, json_object, tape_lines
from .wire import Chunk, dumps, loads

if TYPE_CHECKING:
    from .replay import Recording, Replayer, ReplayReport

PIPE_BYTES = 1 << 20
CHUNK_ITEMS = 1000  # tape lines the child sends at a time
# Messages recorded and not yet decided (held, and read ahead while waiting for the verdict)
# past which the replay gives up the speculation: an open batch keeps every event it made and
# every order it loaded, ~1-2 KB a message.
HELD_MESSAGES = 100_000


class Discarded(Exception):
    """What was recorded speculatively is not to be saved."""


def available() -> bool:
    # The child is a fork: it starts in a moment, with every module already imported.
    return "fork" in multiprocessing.get_all_start_methods()


def two_processes(processes: int) -> bool:
    """Whether a replay runs on two processes: ``processes`` 1 never, 2 whenever the platform
    can fork, 0 (auto) only when a core is to spare. The two together use a third more CPU
    than one process does alone, so the child pays only on a core nobody else is using: with
    both cores busy the pipelined replay measured slower than one process (ADR 0156)."""
    if processes == 1 or not available():
        return False
    if processes == 2:
        return True
    cores = os.cpu_count() or 1
    return cores >= 2 and os.getloadavg()[0] < cores - 0.5


def replay_pipelined(
    replayer: Replayer, path: str | Path, collector: ReplayCollector
) -> ReplayReport | None:
    """The replay, if the child's verdict let it be saved; None when nothing was saved and the
    replay is to run in this process alone."""
    ctx = multiprocessing.get_context("fork")
    receiving, sending = ctx.Pipe(duplex=False)
    _widen(sending)
    child = ctx.Process(target=_check_and_send, args=(path, replayer.limits, sending), daemon=True)
    child.start()
    sending.close()
    try:
        return _record(replayer, str(path), receiving, collector)
    finally:
        receiving.close()
        if child.is_alive():
            child.terminate()  # a budget passed, or this process was interrupted
        child.join()


def _widen(pipe: Connection) -> None:
    """A pipe holds 64 KiB, about one chunk: the child would wait for each chunk to be taken,
    and each process for the other whenever one is briefly the slower. Linux lets a pipe
    hold up to ``pipe-max-size`` (1 MiB by default) without privileges."""
    with suppress(ImportError, AttributeError, OSError):  # another platform, a lower limit
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _record(
    replayer: Replayer, path: str, receiving: Connection, collector: ReplayCollector
) -> ReplayReport | None:
    from .replay import Recording, ReplayReport

    report = ReplayReport(path, pipelined=True)
    recording = Recording(replayer, path, TapeCheck(Path(path), [], [], 0), collector, report)
    stream = _Stream(receiving, recording, path, replayer.limits)
    recording.hold(stream.settle)
    try:
        return replayer.record(recording, stream.items())
    except Discarded:
        if replayer.progress is not None and report.messages:
            replayer.progress(-report.messages)  # the replay in one process feeds them again
        return None


class _Stream:
    """The tape read again here, each line fed once the child's chunk for it is in; the
    child's verdict decides what was held."""

    def __init__(
        self, receiving: Connection, recording: Recording, path: str, limits: TapeLimits
    ) -> None:
        self.receiving, self.recording, self.path, self.limits = receiving, recording, path, limits
        self.upto = 0  # the last line the chunks received cover
        self.read_ahead = 0  # lines received while waiting for the verdict
        self.decided = False

    def items(self) -> Iterator[Item]:
        recording = self.recording
        for seg, item in self._read():
            if item is not None:
                while item.line > self.upto and not self.decided:
                    chunk = self._receive()
                    if chunk is not None:
                        self.upto, recording.decoded = chunk
            yield seg, item
            if not self.decided and recording.report.messages >= HELD_MESSAGES:
                self.settle()
        self.settle()

    def _read(self) -> Iterator[Item]:
        """The items the scanner yields for a tape without problems, read without its checks
        (the child makes them: a third of what reading costs); anything it would not read
        waits for the verdict, which cannot then let what was held be saved."""
        seg: Segment | None = None
        for n, raw, _kind, _why in tape_lines(Path(self.path), self.limits):
            obj = json_object(raw)
            if obj is None:
                continue  # the end of the stream, or a torn line: the verdict names them
            try:
                if is_header(obj):
                    seg = Segment(Header.from_json(obj), n)
                    yield seg, None
                    continue
                if seg is None:
                    raise ValueError("a message before any header")
                yield seg, _item(obj, n)
            except (KeyError, TypeError, ValueError) as e:
                self.settle()
                raise Discarded(f"line {n} is not what the checking process read") from e

    def settle(self) -> None:
        """Read on to the verdict (what comes before it kept for the lines to come) and act
        on it."""
        decoded = self.recording.decoded
        while not self.decided:
            chunk = self._receive()
            if chunk is not None:
                upto, more = chunk
                self.read_ahead += upto - self.upto
                self.upto = upto
                decoded.update(more)
                if self.read_ahead + self.recording.report.messages > HELD_MESSAGES:
                    raise Discarded("more held than the budget")

    def _receive(self) -> Chunk | None:
        try:
            data = self.receiving.recv_bytes()
        except (EOFError, OSError) as e:
            raise Discarded(f"the checking process ended without a verdict ({e})") from e
        if data[:1] != b"V":
            return loads(data)
        segments, problems = pickle.loads(data[1:])  # our own child's verdict
        self.decided = True
        if _refused(problems):
            raise Discarded("the tape has problems")
        report = self.recording.report
        # The recorder's problems found while holding stay; the sort at the end orders them.
        report.segments, report.problems = segments, [*problems, *report.problems]
        self.recording.release()
        return None


def _item(obj: dict[str, Any], n: int) -> Message | End:
    seq, ts = int(obj["seq"]), parse_ts(obj["ts"])
    if "end" in obj:
        return End(seq, ts, str(obj["end"]), n)
    return Message(seq, ts, obj["dir"], obj["f"], n, obj.get("kind") == HANDSHAKE)


def _refused(problems: list[Problem]) -> bool:
    return any(p.kind != "torn" for p in problems)


class _ChildPass(FirstPass):
    """The checking pass keeping what was decoded. Outbound lines are not read here: the
    recording reads each as it comes, as when the pass kept nothing for it, and the checking
    process, which the whole replay waits for, does less."""

    def _read_sent(self, seg: Segment, item: Message) -> None:
        return None


def _check_and_send(path: str | Path, limits: TapeLimits, sending: Connection) -> None:
    """The child: the checking pass, keeping what was decoded (what it keeps leaves with each
    chunk); it stops at the first problem that refuses the tape."""
    gc.disable()  # what it makes is sent and dropped: no cycles to find
    scanner = TapeScanner(path, limits)
    first = _ChildPass(scanner, sys.maxsize)
    first.plan = None
    taken = 0
    with trapped_decoder_log() as trap:
        for seg, item in scanner.items():
            first.take(seg, item, trap)
            taken += 1
            if taken >= CHUNK_ITEMS and item is not None:
                sending.send_bytes(dumps((item.line, first.decoded)))
                taken, first.decoded = 0, {}
                if _refused(scanner.problems):
                    break
    sending.send_bytes(dumps((sys.maxsize, first.decoded)))
    verdict = (len(scanner.segments), scanner.problems)
    sending.send_bytes(b"V" + pickle.dumps(verdict, pickle.HIGHEST_PROTOCOL))
    sending.close()
