"""What the event store already knows about fills, kept by a follower of the log.

The importer needs more than ``OrderTrail.states()`` gives: which execIds were ever recorded
(cancelled ones included, so a re-imported statement does not bring a busted fill back), which
Flex tradeID named which execution (a ``TradeCancel`` names its fill only by ``origTradeID``),
which fills already have a commission, and when each cancel was reported (trade time and report
time are two axes: a statement knows only the cancels reported by its end).
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import copy
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from uuid import UUID
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from eventsourcing.persistence import ApplicationRecorder

from ordertrail.adapters.flex.dates import NEW_YORK, BadDate, parse_date, parse_moment
from ordertrail.adapters.flex.rows import Identity
from ordertrail.adapters.store.eventlog import EventLog, LogEntry
from ordertrail.adapters.store.follower import Follower
from ordertrail.domain.events import (
    CommissionReported,
    ExecutionCancelled,
    ExecutionCorrected,
    ExecutionRecorded,
    IdentifiersBound,
    OrderCreated,
    StatusReported,
)
from ordertrail.domain.values import Execution, exec_base_id


@dataclass(frozen=True, slots=True)
class RecordedFill:
    order_id: UUID
    execution: Execution
    con_id: int
    account: str
    identity: Identity
    # The trade date: the time's date in New York, or the row's tradeDate when it gave no time.
    day: date
    # The day a statement first reported the fill (None: live, known when it happened).
    reported_on: date | None = None
    live: bool = False  # recorded from IB's live callbacks, not from a statement
    # None: in force; a date: cancelled by a report of that day; date.min: cancelled, day unknown.
    cancelled_on: date | None = None


@dataclass(slots=True)
class RecordedFills:
    fills: dict[str, RecordedFill] = field(default_factory=dict)  # by exec base id
    by_trade_id: dict[str, str] = field(default_factory=dict)  # Flex tradeID -> execId
    commissioned: set[str] = field(default_factory=set)  # exec base ids
    commissions: dict[str, Decimal | None] = field(default_factory=dict)  # by exec base id
    fx_con_ids: set[int] = field(default_factory=set)  # currency pairs (USD.CHF)
    orders: set[UUID] = field(default_factory=set)
    by_perm_id: dict[int, UUID] = field(default_factory=dict)
    symbols: dict[int, str] = field(default_factory=dict)  # conId -> symbol

    @classmethod
    def read(cls, recorder: ApplicationRecorder) -> RecordedFills:
        """What the store knows now, for the caller to decide in (and change) freely. One
        follower per recorder keeps the index: each read costs the events recorded since the
        last read, plus a copy of the index's containers (an import adds to its copy as it
        decides, and a file that is not saved must leave nothing behind); the fills
        themselves are shared, never changed in place."""
        return follower_of(recorder).read()

    def copy(self) -> RecordedFills:
        """A copy to change freely: each container copied, the fills shared (a fill is never
        changed in place; ``cancelled`` replaces it), so a copy costs a dictionary entry a
        fill, not a fill."""
        return RecordedFills(**{f.name: copy(getattr(self, f.name)) for f in fields(self)})

    def cancelled(self, base_id: str, on: date) -> None:
        """The fill ``base_id`` cancelled by a report of ``on`` (``date.min``: day unknown)."""
        fill = self.fills.get(base_id)
        if fill is not None:
            self.fills[base_id] = replace(fill, cancelled_on=on)

    def add(
        self,
        order_id: UUID,
        execution: Execution,
        provenance: dict[str, str] | None,
        con_id: int,
        account: str,
    ) -> None:
        prov = provenance or {}
        # A combo order's fills are its legs: the row's own conid says which leg moved.
        raw_con = prov.get("conid", "")
        self.fills[execution.base_id] = RecordedFill(
            order_id,
            execution,
            int(raw_con) if raw_con.isdigit() else con_id,
            execution.account or account,
            _identity(execution.exec_id, prov),
            _day(execution, prov),
            reported_on=_reported_on(prov),
            live="flex_file" not in prov,
        )
        if prov.get("tradeID"):
            self.by_trade_id[prov["tradeID"]] = execution.exec_id

    def in_force(self, *, as_reported_by: date) -> Iterable[RecordedFill]:
        """Fills a statement ending on ``as_reported_by`` would still show."""
        for fill in self.fills.values():
            # A replacement booked later (reportDate after the statement's end) is not yet in
            # that statement; a fill busted later still is.
            if fill.reported_on is not None and fill.reported_on > as_reported_by:
                continue
            if fill.cancelled_on is None or fill.cancelled_on > as_reported_by:
                yield fill

    def position(
        self,
        account: str,
        con_id: int,
        *,
        since: date | None,
        until: date,
        known_at: date,
        zone: ZoneInfo,
    ) -> tuple[Decimal, bool]:
        """Signed quantity of the fills dated from ``since`` (None: the beginning) to ``until``,
        both inclusive, as a statement ending on ``known_at`` shows them; and whether any was
        found."""
        total, found = Decimal(0), False
        for fill in self.in_force(as_reported_by=known_at):
            if fill.account != account or fill.con_id != con_id:
                continue
            x = fill.execution
            day = x.time.astimezone(zone).date() if x.time is not None else fill.day
            if (since is None or since <= day) and day <= until:
                total += x.shares * x.side.sign
                found = True
        return total, found

    def keys(self, *, known_at: date) -> set[tuple[str, int]]:
        return {
            (f.account, f.con_id)
            for f in self.in_force(as_reported_by=known_at)
            if f.con_id not in self.fx_con_ids
        }


def _identity(exec_id: str, provenance: dict[str, str]) -> Identity:
    said = provenance.get("flex_identity")
    if said in {i.value for i in Identity}:
        return Identity(said)
    # Recorded before statements said which key they used: the key's own shape tells.
    if exec_id.startswith("FLEX-T"):
        return Identity.TRADE_ID
    return Identity.DERIVED if exec_id.startswith("FLEX-D") else Identity.EXEC_ID


def _day(execution: Execution, provenance: dict[str, str]) -> date:
    if execution.time is not None:
        return execution.time.astimezone(NEW_YORK).date()
    for name in ("tradeDate", "dateTime"):
        raw = provenance.get(name, "").strip()
        if raw:
            try:
                return parse_moment(raw)[1]
            except BadDate:
                continue
    # A live fill without IB's time cannot be placed in a period: count it as early.
    return date.min


class RecordedFillsFollower(Follower):
    """Keeps a ``RecordedFills`` up to date with the log, reading only what is new."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(log)
        self.known = RecordedFills()
        # Each order's contract and account, for the fills that name neither.
        self.contracts: dict[UUID, tuple[int, str]] = {}

    def reset(self) -> None:
        self.known = RecordedFills()
        self.contracts.clear()

    def read(self) -> RecordedFills:
        self.catch_up()
        return self.known.copy()

    def apply(self, entry: LogEntry) -> None:
        event, oid, known = entry.event, entry.originator_id, self.known
        if isinstance(event, OrderCreated):
            known.orders.add(oid)
            self.contracts[oid] = (event.contract.con_id, event.spec.account)
            known.symbols.setdefault(event.contract.con_id, event.contract.symbol)
            if event.contract.sec_type == "CASH":
                known.fx_con_ids.add(event.contract.con_id)
        if isinstance(event, OrderCreated | IdentifiersBound | StatusReported) and (event.perm_id):
            known.by_perm_id.setdefault(event.perm_id, oid)
        if isinstance(event, ExecutionRecorded | ExecutionCorrected):
            con_id, account = self.contracts.get(oid, (0, ""))
            known.add(oid, event.execution, event.provenance, con_id, account)
        elif isinstance(event, ExecutionCancelled):
            known.cancelled(exec_base_id(event.exec_id), _reported_on(event.provenance) or date.min)
        elif isinstance(event, CommissionReported):
            known.commissioned.add(exec_base_id(event.report.exec_id))
            known.commissions[exec_base_id(event.report.exec_id)] = event.report.commission


# The follower of each recorder that was read, for as long as that recorder lives.
_FOLLOWERS: WeakKeyDictionary[ApplicationRecorder, RecordedFillsFollower] = WeakKeyDictionary()


def follower_of(recorder: ApplicationRecorder) -> RecordedFillsFollower:
    follower = _FOLLOWERS.get(recorder)
    if follower is None:
        follower = _FOLLOWERS[recorder] = RecordedFillsFollower(EventLog.on(recorder))
    return follower


def _reported_on(provenance: dict[str, str] | None) -> date | None:
    raw = (provenance or {}).get("reportDate", "")
    try:
        return parse_date(raw) if raw else None
    except BadDate:
        return None
