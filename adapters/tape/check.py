"""The first pass of a replay: every line of a tape read, every incoming message decoded by
ib_async's own Decoder, every fact the recorder will read converted as it converts it — and,
up to a memory budget, what the decoder handed the recorder kept, so the replay that follows
decodes each message once (docs/adr/0060-replay-decodes-once.md).

Nothing here touches a store: a tape with problems is refused before anything is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from ib_async import CommissionReport, Contract, Execution, Order, OrderState
from ib_async.decoder import Decoder

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.ib.opened import OpenOrder, checked
from ordertrail.adapters.ib.outbound import Sent, read_outbound
from ordertrail.adapters.ib.recorder import HOOKED, SYNC_ENDS
from ordertrail.adapters.store.rebuild import cyclic_gc_paused
from ordertrail.domain.errors import InvalidFact, InvalidOrderSpec
from ordertrail.domain.money import quantity
from ordertrail.domain.values import ContractRef

from .format import LIMITS, End, Message, TapeLimits
from .reader import Item, Problem, Segment, TapeScanner

DECODER_LOGGER = "ib_async.Decoder"
# How much of a tape's decoded messages the first pass keeps for the replay, counted in wire
# fields (an openOrder has about 127, an orderStatus 12; a kept field costs 35-100 bytes, so
# this is at most ~200 MiB). Messages past it are decoded again when they are replayed.
KEEP_FIELDS = 2_000_000
RECORDED = frozenset((*HOOKED, *SYNC_ENDS))  # the wrapper calls the recorder listens to

# One call the recorder gets for a message: (the wrapper method the Decoder called, the
# recorder's ``record_*`` method to call instead with the values converted here, or None for
# the wrapper method itself, the arguments).
Call = tuple[str, str | None, tuple[Any, ...]]
# The recorder's methods a Call may name.
ENTRIES = ("record_status", "record_execution", "record_commission", "record_open_order")
T = TypeVar("T")


class LogTrap(logging.Handler):
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
def trapped_decoder_log() -> Iterator[LogTrap]:
    """ib_async's Decoder logs (``logger.exception``) instead of raising; catch those records
    here, whatever level the user gave that logger, and keep them out of the user's log."""
    logger = logging.getLogger(DECODER_LOGGER)
    trap = LogTrap()
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
    does not document is found before anything is recorded, with its line. The calls the
    recorder listens to are kept (``calls``): with the very objects the Decoder made, or,
    for the messages whose facts are converted here, with what they convert to."""

    defaultTimezone = UTC  # noqa: N815 - attribute names ib_async's Decoder reads

    def __init__(self, keep: bool) -> None:
        # Whether the calls are kept for the replay (else they are checked and dropped).
        self.keep = keep
        self.invalid: list[str] = []
        self.calls: list[Call] = []
        # Zone-less execution times are read in the zone the live run read them in.
        self.ib = SimpleNamespace(TimezoneTWS=None)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name in RECORDED:
            return lambda *args: self.calls.append((name, None, args))
        return ignore

    def take(self) -> str | None:
        found, self.invalid = self.invalid, []
        return "; ".join(found) if found else None

    def take_calls(self) -> tuple[Call, ...]:
        calls = tuple(self.calls)
        self.calls.clear()
        return calls

    def _check(self, what: str, convert: Callable[[], T]) -> T | None:
        try:
            return convert()
        except (InvalidFact, InvalidOrderSpec) as e:  # IB's values, as the recorder reads them
            self.invalid.append(f"{what}: {e}")
            return None

    def _status(self, what: str, status: str) -> None:
        if not mapping.known_status(status):
            self.invalid.append(f"{what}: status={status!r} is not one of IB's order statuses")

    def orderStatus(self, order_id: int, status: str, *args: Any) -> None:  # noqa: N802
        self._status("orderStatus", status)
        filled, remaining, avg, perm, _parent, last, client, held, *cap = args
        n = self._check(
            "orderStatus",
            lambda: mapping.status_numbers(filled, remaining, avg, last, cap[0] if cap else 0.0),
        )
        self.calls.append(
            ("orderStatus", "record_status", (order_id, status, n, perm, client, held))
        )

    def execDetails(self, req_id: int, contract: Contract, execution: Execution) -> None:  # noqa: N802
        x = self._check("execDetails", lambda: mapping.execution(execution))
        # Kept converted: ib_async's Contract is ~1 KB an execution, and held until the
        # replay feeds the message. One that cannot be converted is kept as it came: the
        # recorder converts it only for an order it does not know, as live.
        kept: Contract | ContractRef = contract
        if self.keep:
            with suppress(ValueError):  # InvalidFact, InvalidOrderSpec: as the recorder's guard
                kept = mapping.contract_ref(contract)
        self.calls.append(("execDetails", "record_execution", (kept, x)))

    def commissionReport(self, report: CommissionReport) -> None:  # noqa: N802
        r = self._check("commissionReport", lambda: mapping.commission(report))
        self.calls.append(("commissionReport", "record_commission", (r,)))

    def openOrder(  # noqa: N802
        self, order_id: int, contract: Contract, order: Order, state: OrderState
    ) -> None:
        if not self.keep:
            if not order.whatIf:  # the recorder skips what-if answers
                self._check("openOrder", lambda: checked(contract, order))
            return
        # Kept as the handful of values the recorder reads, not as ib_async's Order (139
        # attributes) and Contract: a tape's openOrders are held until the replay feeds them.
        seen = self._check("openOrder", lambda: OpenOrder.kept(order_id, contract, order))
        if seen is not None:
            self.calls.append(("openOrder", "record_open_order", (seen,)))

    def completedOrder(self, contract: Contract, order: Order, state: OrderState) -> None:  # noqa: N802
        self.calls.append(("completedOrder", None, (contract, order, state)))
        self._status("completedOrder", state.status)
        self._check("completedOrder", lambda: quantity(order.totalQuantity, "order.totalQuantity"))


def ignore(*_args: Any) -> None:
    return None


@dataclass(slots=True)
class TapeCheck:
    """The first pass: every segment with its problems, the lines not to feed, and what the
    decoder made of the good incoming lines it kept (``decoded``: line → the recorder's wrapper
    calls, in order; a line not in it is decoded again when it is replayed)."""

    path: Path
    segments: list[Segment]
    problems: list[Problem]
    incoming: int
    decoded: dict[int, tuple[Call, ...]] = field(default_factory=dict)
    # The good outbound lines read by ``read_outbound`` (None: a message that asks nothing
    # the recorder keeps), kept as ``decoded`` is; a line not in it is read when replayed.
    sent: dict[int, Sent | None] = field(default_factory=dict)
    # Every item the scanner yielded, in order, when the whole tape fit in the budget (the
    # replay then reads the tape once); None: the replay reads it again.
    plan: list[Item] | None = None

    @property
    def bad_lines(self) -> set[int]:
        out: set[int] = set()
        for s in self.segments:
            out |= s.bad_lines
        return out


def check_tape(
    path: str | Path, limits: TapeLimits = LIMITS, *, keep_fields: int = KEEP_FIELDS
) -> TapeCheck:
    """Read and decode-check a whole tape without touching any store. ``keep_fields``: how
    much of what was read and decoded to keep for the replay (0: nothing, the replay reads and
    decodes the tape again)."""
    scanner = TapeScanner(path, limits)
    first = FirstPass(scanner, keep_fields)
    # What the pass keeps only grows, and decoding makes no reference cycles: the cyclic
    # collector would rescan the kept objects again and again for nothing.
    with cyclic_gc_paused(), trapped_decoder_log() as trap:
        for seg, item in scanner.items():
            first.take(seg, item, trap)
    return TapeCheck(
        Path(path),
        scanner.segments,
        scanner.problems,
        first.incoming,
        first.decoded,
        first.sent,
        first.plan,
    )


class FirstPass:
    def __init__(self, scanner: TapeScanner, keep_fields: int) -> None:
        self.scanner = scanner
        self.facts = _StandInWrapper(keep_fields > 0)
        self.decoder: Decoder | None = None
        self.incoming = 0
        self.decoded: dict[int, tuple[Call, ...]] = {}
        self.sent: dict[int, Sent | None] = {}
        self.plan: list[Item] | None = []
        self.budget = keep_fields

    def take(self, seg: Segment, item: Message | End | None, trap: LogTrap) -> None:
        if item is None:
            assert seg.header is not None
            self.decoder = Decoder(self.facts, seg.header.server_version)  # type: ignore[arg-type]
            self.facts.ib.TimezoneTWS = seg.header.tws_timezone
        elif isinstance(item, Message) and item.direction == "in" and not item.handshake:
            item = self._decode(seg, item, trap)
        elif isinstance(item, Message):
            self._read_sent(seg, item)
        if self.plan is not None:
            if self.budget < 0:
                self.plan = None  # past the budget: the replay reads the tape again
            else:
                self.plan.append((seg, item))

    def _decode(self, seg: Segment, item: Message, trap: LogTrap) -> Message:
        self.incoming += 1
        assert self.decoder is not None
        self.decoder.interpret(item.fields)  # type: ignore[no-untyped-call]
        calls = self.facts.take_calls()
        problem = _problem(self.scanner.path, item, trap.take(), self.facts.take())
        if problem is not None:
            seg.problems.append(problem)
            seg.bad_lines.add(item.line)
            return item
        if self.budget < len(item.fields):
            self.budget = -1
            return item
        self.budget -= len(item.fields)
        self.decoded[item.line] = calls
        # Its fields are not needed again: the replay feeds the calls. Emptied in place (the
        # scanner made the list for this line alone) rather than copied into a new Message.
        item.fields.clear()
        return item

    def _read_sent(self, seg: Segment, item: Message) -> None:
        # A placeOrder line is ~114 fields, and the recorder needs what ``read_outbound``
        # makes of them: read here, while the line is at hand, it is read once and its
        # fields are not kept until the replay reaches it. A line that cannot be read is
        # read again when replayed, where it is a problem on record, as live.
        self.budget -= len(item.fields)
        if self.budget < 0 or item.handshake:
            return
        assert seg.header is not None
        try:
            sent = read_outbound(item.fields, seg.header.server_version)
        except Exception:  # the recording pass reads it again, as the live recorder would
            return
        self.sent[item.line] = sent
        item.fields.clear()


def _problem(path: Path, item: Message, failure: str | None, invalid: str | None) -> Problem | None:
    if failure is not None:
        return Problem(
            str(path),
            item.line,
            "decoder",
            f"ib_async's decoder could not parse message {item.fields[0]}: {failure}",
        )
    if invalid is not None:
        return Problem(str(path), item.line, "fact", invalid)
    return None
