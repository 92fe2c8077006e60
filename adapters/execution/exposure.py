"""What the RiskGate needs to know, read from the recorded orders: the position per contract,
the working orders on each side, and how many orders are open. Kept by a follower of the event
log (``Exposure``): a check reads only what was recorded since the last one, and memory holds
the open orders and one figure per contract, not the history.

A process starts from the state an earlier one saved in the store, when there is one that fits
the log (``Follower``'s checkpoints): the positions and the open orders as (order, version)
pairs. Each open order is folded again from its own events, so what is saved is small and holds
nothing of the domain's objects.

Live and dry-run orders never mix: a dry run's fills are not a position anyone holds, and a
real position must not make a dry run refuse. Positions held before the store began recording
are not in it: pass ``positions`` (e.g. from ``ib.positions()``) to use the broker's figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from ordertrail.adapters.store.checkpoints import Checkpoints, checkpoints_on
from ordertrail.adapters.store.codec import event_reader
from ordertrail.adapters.store.eventlog import EventLog, LogEntry, uuid_reader
from ordertrail.adapters.store.follower import Follower
from ordertrail.adapters.store.rebuild import order_state
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.events import (
    ExecutionCancelled,
    ExecutionCorrected,
    ExecutionRecorded,
    OrderCreated,
    OrderEvent,
)
from ordertrail.domain.risk import RiskContext
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, Execution, OrderAction, exec_base_id

ZERO = Decimal(0)
ContractKey = tuple[object, ...]
PositionSource = Callable[[ContractRef], Decimal | None]


def contract_key(c: ContractRef) -> ContractKey:
    if c.con_id:
        return ("con", c.con_id)
    return ("sym", c.symbol, c.sec_type, c.currency, c.expiry, c.strike, c.right)


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """What the gate needs of an order a broker may be working."""

    client_order_id: str | None
    contract: ContractKey
    action: OrderAction
    remaining: Decimal


@dataclass(frozen=True, slots=True)
class ExposureSnapshot:
    working: tuple[WorkingOrder, ...]
    held: Mapping[ContractKey, Decimal]  # signed quantity of the recorded fills
    positions: PositionSource | None = None

    def position(self, contract: ContractRef) -> Decimal:
        if self.positions is not None:
            known = self.positions(contract)
            if known is not None:
                return known
        return self.held.get(contract_key(contract), ZERO)

    def context(
        self, contract: ContractRef, action: OrderAction, *, exclude: str | None = None
    ) -> RiskContext:
        key = contract_key(contract)
        working = [w for w in self.working if exclude is None or w.client_order_id != exclude]
        same_side = sum(
            (w.remaining for w in working if w.contract == key and w.action is action), ZERO
        )
        return RiskContext(
            position=self.position(contract),
            working_same_side=same_side,
            open_orders=len(working),
        )


def _signed(x: Execution | None) -> Decimal:
    return ZERO if x is None else x.shares * x.side.sign


def _exec_base(event: Any) -> str | None:
    """The execution an event adds, replaces or busts (None: it touches no execution)."""
    if isinstance(event, ExecutionRecorded | ExecutionCorrected):
        return event.execution.base_id
    if isinstance(event, ExecutionCancelled):
        return exec_base_id(event.exec_id)
    return None


def _moves_a_done_order(event: Any) -> bool:
    """Whether an event of a done order can change what the gate reads: a fill added,
    replaced or busted (the position), or a status that is not done (the order working again,
    however IB came to say so). A commission, identifiers, an anomaly or a repeated final
    status cannot: IB sends the last fill's commission report after the order is Filled, and
    folding the order again for each would cost a read of its events per order at start-up.
    A later fold reads every event of the order, these included."""
    if _exec_base(event) is not None:
        return True
    status = getattr(event, "status", None)
    return isinstance(status, OrderStatus) and not status.is_done


def _key_data(key: ContractKey) -> list[Any]:
    # A strike is a Decimal: as text, so that it comes back as the same Decimal.
    return [{"decimal": str(k)} if isinstance(k, Decimal) else k for k in key]


def _key_from(data: list[Any]) -> ContractKey:
    out: list[object] = []
    for k in data:
        if isinstance(k, dict):
            out.append(Decimal(k["decimal"]))
        elif k is None or type(k) in (int, str):
            out.append(k)
        else:
            raise ValueError(f"not part of a contract key: {k!r}")
    return tuple(out)


class Exposure(Follower):
    """The orders that are not done, and the position per contract from every recorded fill,
    live and dry run apart: a follower of the log, so each check reads only the events
    appended since the last. A done order's state leaves memory (its fills stay in the
    positions); if IB says more about it later that the gate reads (a late fill, a correction, a
    bust, a status that is not done) its state is folded again from its own events."""

    name = "exposure"
    state_version = 1

    def __init__(self, log: EventLog, checkpoints: Checkpoints | None = None) -> None:
        super().__init__(log, checkpoints)
        self.open: dict[UUID, OrderState] = {}
        self.versions: dict[int, int] = {}  # each open order's last version, by its id's int
        self.held: dict[tuple[bool, ContractKey], Decimal] = {}

    def reset(self) -> None:
        self.open.clear()
        self.versions.clear()
        self.held.clear()

    def state(self) -> dict[str, Any]:
        return {
            "held": [[dry, _key_data(key), str(qty)] for (dry, key), qty in self.held.items()],
            "open": [[oid.hex, self.versions[oid.int]] for oid in self.open],
        }

    def restore(self, data: Any, position: int) -> None:
        held: dict[tuple[bool, ContractKey], Decimal] = {}
        for dry, key, qty in data["held"]:
            if type(dry) is not bool or type(qty) is not str:
                raise ValueError(f"not a position: {dry!r}, {qty!r}")
            held[(dry, _key_from(key))] = Decimal(qty)
        versions = {UUID(hex=oid): int(version) for oid, version in data["open"]}
        open_ = self._fold_open(versions, position)
        self.held, self.open = held, open_
        self.versions = {oid.int: version for oid, version in versions.items()}

    def _fold_open(self, versions: Mapping[UUID, int], position: int) -> dict[UUID, OrderState]:
        """The open orders' states at ``position``, each folded from its own events (read a
        few hundred orders a query); each must end at its saved version and not be done."""
        read, uuid_of = event_reader(), uuid_reader()
        states: dict[UUID, OrderState] = {}
        last: dict[UUID, int] = {}
        for _, raw_id, version, topic, stored in self.log.orders_rows(versions, position):
            oid = uuid_of(raw_id)
            event = read(topic, bytes(stored), oid, version)
            if version == 1:
                if not isinstance(event, OrderCreated):
                    raise ValueError(f"order {oid} does not begin with its creation")
                states[oid] = event.new_state()
            elif last.get(oid) != version - 1:
                raise ValueError(f"order {oid}: version {version} out of turn")
            else:
                event.fold(states[oid])
            last[oid] = version
        for oid, version in versions.items():
            if last.get(oid) != version or states[oid].status.is_done:
                raise ValueError(f"order {oid} is not open at version {version}")
        return states

    def apply(self, entry: LogEntry) -> None:
        event, oid = entry.event, entry.originator_id
        state: OrderState | None
        if isinstance(event, OrderCreated):
            state, kept = event.new_state(), False
        elif not isinstance(event, OrderEvent):
            return  # another aggregate's event (the session log's messages)
        else:
            state = self.open.get(oid)
            kept = state is not None
            if state is None:
                if not _moves_a_done_order(event):
                    return
                state = order_state(self.log, oid, entry.originator_version)
                if state is None:
                    return
            base = _exec_base(event)
            before = _signed(state.executions.get(base)) if base else ZERO
            event.fold(state)
            if base:
                moved = _signed(state.executions.get(base)) - before
                if moved:
                    key = (state.is_dry_run, contract_key(state.contract))
                    self.held[key] = self.held.get(key, ZERO) + moved
        # Versions keyed by the id's int, and an open order's state not stored again: hashing a
        # UUID runs Python code, once an event for each dict it is looked up in.
        if state.status.is_done:
            self.open.pop(oid, None)
            self.versions.pop(oid.int, None)
        else:
            if not kept:
                self.open[oid] = state
            self.versions[oid.int] = entry.originator_version

    def snapshot(self, *, dry_run: bool, positions: PositionSource | None) -> ExposureSnapshot:
        self.catch_up()
        # New orders are intents not (yet) sent: the one being checked, or one whose sending
        # failed. Only what a broker may be working counts.
        working = tuple(
            WorkingOrder(s.client_order_id, contract_key(s.contract), s.spec.action, s.remaining)
            for s in self.open.values()
            if s.is_dry_run == dry_run and s.status.is_working and s.status is not OrderStatus.NEW
        )
        held = {key: qty for (dry, key), qty in self.held.items() if dry == dry_run}
        return ExposureSnapshot(working, held, positions)


class TrailExposure:
    """The RiskGate's view of one trail's store, live or dry run."""

    def __init__(
        self, trail: OrderTrail, *, dry_run: bool, positions: PositionSource | None = None
    ) -> None:
        self.trail = trail
        self.dry_run = dry_run
        self.positions = positions
        # The trail is the writing side: its store takes the follower's saved state.
        self.follower = Exposure(EventLog.on(trail.recorder), checkpoints_on(trail.recorder))

    def snapshot(self) -> ExposureSnapshot:
        return self.follower.snapshot(dry_run=self.dry_run, positions=self.positions)
