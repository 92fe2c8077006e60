"""The Order aggregate: commands may be refused, facts from IB never are.

Every command decides (using the compiled state table) and triggers events that only carry the
decision. Facts arrive as values (``domain.facts``) through one entrance, ``record``, which
dispatches to the fact's handler in ``domain.order_facts``.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from ordertrail.domain import events as ev
from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.facts import OrderFact, OrderObserved
from ordertrail.domain.identity import is_dry_run_id, order_id_for, order_key
from ordertrail.domain.machine import Trigger, allowed_commands, expected_facts, outcome
from ordertrail.domain.order_facts import FACT_HANDLERS
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ContractRef,
    OrderSpec,
)

# Each order event class's constructor arguments, in the order its dataclass ``__init__``
# assigns them: the order of the event's attributes, hence of its stored JSON members. Empty
# for a class that is not an order's event (eventsourcing's own path makes those). A creation's
# fields include ``originator_topic``, which ``trigger_event`` never sets: such a call takes
# eventsourcing's path too.
_INIT_FIELDS: dict[type, tuple[str, ...]] = {}
# The same names as the keys of a dict, each event's attributes a copy of it: filled in place,
# the attributes keep the declared order whatever order the arguments came in.
_TEMPLATES: dict[type, dict[str, Any]] = {}
_IMPOSED = ("originator_id", "originator_version")


def _init_fields(event_class: type) -> tuple[str, ...]:
    names = _INIT_FIELDS.get(event_class)
    if names is None:
        names = _INIT_FIELDS[event_class] = (
            tuple(f.name for f in fields(event_class) if f.init)
            if issubclass(event_class, (ev.OrderEvent, ev.OrderCreated))
            else ()
        )
    return names


def _template(event_class: type) -> dict[str, Any]:
    """The class's template, made: its caller looked it up first (``trigger_event``)."""
    template = _TEMPLATES[event_class] = dict.fromkeys(_init_fields(event_class))
    return template


class Order(Aggregate):
    state: OrderState

    def __init__(self) -> None:
        # State is assigned by OrderCreated.apply; nothing else to initialise.
        pass

    # ---- creation ----------------------------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        client_order_id: str,
        contract: ContractRef,
        spec: OrderSpec,
        ts_recorded: datetime,
        parent_key: str | None = None,
        group_id: str | None = None,
        provenance: dict[str, str] | None = None,
    ) -> Order:
        """Our intent to trade; nothing has been sent to IB yet."""
        key = order_key(client_order_id=client_order_id)
        return cls._create(
            ev.OrderCreated,
            id=order_id_for(key),
            timestamp=ts_recorded,
            ts_event=None,
            order_key=key,
            client_order_id=client_order_id,
            perm_id=None,
            origin="dry_run" if is_dry_run_id(client_order_id) else "placed",
            contract=contract,
            spec=spec,
            status=OrderStatus.NEW,
            parent_key=parent_key,
            group_id=group_id,
            provenance=provenance,
        )

    @classmethod
    def observe(cls, fact: OrderObserved, *, ts_recorded: datetime) -> Order:
        """An order IB told us about that this process did not create (another client, a program
        sharing the connection, TWS by hand, an earlier session, a Flex statement). An order seen
        only as a request leaving the client starts as NEW: the request then submits it."""
        key = order_key(
            client_order_id=fact.client_order_id, perm_id=fact.perm_id, sent_as=fact.sent_as
        )
        return cls._create(
            ev.OrderCreated,
            id=order_id_for(key),
            timestamp=ts_recorded,
            ts_event=fact.ts_event,
            order_key=key,
            client_order_id=fact.client_order_id,
            perm_id=fact.perm_id,
            origin=fact.origin.value,
            contract=fact.contract,
            spec=fact.spec,
            status=OrderStatus.NEW if fact.sent_as else OrderStatus.DISCOVERED,
            parent_key=fact.parent_key,
            group_id=fact.group_id,
            provenance=fact.provenance,
        )

    @classmethod
    def _create(cls, event_class: type[Any], *, id: UUID | None = None, **kwargs: Any) -> Self:
        """eventsourcing's ``_create`` for an order's creation, without its generality (the
        arguments filtered by signature, a frozen dataclass's ``__init__``, ``mutate`` finding
        the aggregate's class from the topic it has just written): the same event, attributes
        in the same order, and the same new order. Anything else takes eventsourcing's path."""
        names = _init_fields(ev.OrderCreated)
        timestamp = kwargs.get("timestamp")
        if (
            cls is not Order
            or event_class is not ev.OrderCreated
            or not isinstance(id, UUID)
            or timestamp is None
            or len(kwargs) + 3 != len(names)
        ):
            return super()._create(event_class, id=id, **kwargs)
        version = cls.INITIAL_VERSION
        imposed = {"originator_topic": get_topic(cls), "originator_id": id}
        imposed["originator_version"] = version
        try:
            attributes = {n: kwargs[n] if n in kwargs else imposed[n] for n in names}
        except KeyError:
            return super()._create(event_class, id=id, **kwargs)
        event = object.__new__(event_class)
        object.__setattr__(event, "__dict__", attributes)
        order: Self = object.__new__(cls)
        order.__base_init__(id, version, timestamp)
        Order.__init__(order)
        event.apply(order)
        order.pending_events.append(event)
        return order

    @staticmethod
    def id_for(*, client_order_id: str | None = None, perm_id: int | None = None) -> UUID:
        return order_id_for(order_key(client_order_id=client_order_id, perm_id=perm_id))

    # ---- commands (may be refused; a refusal records nothing) --------------------------------

    def _command(self, trigger: Trigger) -> OrderStatus:
        out = outcome(self.state.status, trigger)
        if out is None:
            allowed = ", ".join(t.command_name for t in allowed_commands(self.state.status))
            raise CommandRefused(
                trigger.command_name, self.state.status.value, f"allowed here: {allowed or 'none'}"
            )
        return out.dest

    def submit(
        self, *, client_id: int, order_id: int, ts_recorded: datetime, mode: str | None = None
    ) -> None:
        dest = self._command(Trigger.SUBMIT)
        self.trigger_event(
            ev.SubmissionRequested,
            timestamp=ts_recorded,
            ts_event=None,
            client_id=client_id,
            order_id=order_id,
            status=dest,
            mode=mode,
        )

    def deny(self, *, rule: str, reason: str, ts_recorded: datetime) -> None:
        dest = self._command(Trigger.DENY)
        self.trigger_event(
            ev.RiskDenied,
            timestamp=ts_recorded,
            ts_event=None,
            rule=rule,
            reason=reason,
            status=dest,
        )

    def request_cancel(self, *, ts_recorded: datetime) -> None:
        if self.state.cancel_requested and self.state.status is not OrderStatus.INACTIVE:
            raise CommandRefused("cancel", self.state.status.value, "a cancel is already pending")
        self._command(Trigger.REQUEST_CANCEL)
        self.trigger_event(ev.CancelRequested, timestamp=ts_recorded, ts_event=None)

    def request_modify(self, spec: OrderSpec, *, ts_recorded: datetime) -> None:
        self._command(Trigger.REQUEST_MODIFY)
        cur = self.state.spec
        if spec.action is not cur.action or spec.order_type is not cur.order_type:
            raise CommandRefused(
                "modify", self.state.status.value, "IB cannot change an order's action or type"
            )
        if spec.quantity < self.state.filled:
            raise CommandRefused(
                "modify",
                self.state.status.value,
                f"quantity {spec.quantity} is below the {self.state.filled} already filled",
            )
        if spec == cur:
            raise CommandRefused("modify", self.state.status.value, "nothing would change")
        self.trigger_event(
            ev.ModificationRequested, timestamp=ts_recorded, ts_event=None, spec=spec
        )

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """eventsourcing's ``trigger_event`` for an order event, without its generality (a
        copy of the arguments, a frozen dataclass's ``__init__`` assigning each field through
        ``object.__setattr__``, ``mutate`` checking the id and version this method has just
        set, the aggregate's properties around its own attributes): the same event, attributes
        in the same order, folded into the same state. Any other call (another event class, a
        missing or unknown argument, no timestamp) takes eventsourcing's own path and its
        errors."""
        template = _TEMPLATES.get(event_class) or _template(event_class)
        timestamp = kwargs.get("timestamp")
        attributes = template.copy()
        attributes.update(kwargs)
        # Every argument one of the event's fields, and every field given but the two set
        # here: the attributes are the template's names in its order, all of them assigned.
        if (
            timestamp is None
            or len(kwargs) + 2 != len(template)
            or len(attributes) != len(template)
            or _IMPOSED[0] in kwargs
            or _IMPOSED[1] in kwargs
        ):
            kwargs["originator_id"] = self._id
            kwargs["originator_version"] = self._version + 1
            super().trigger_event(event_class, **kwargs)
            return
        version = attributes["originator_version"] = self._version + 1
        attributes["originator_id"] = self._id
        event = object.__new__(event_class)
        object.__setattr__(event, "__dict__", attributes)
        event.fold(self.state)
        # What the ``version`` and ``modified_on`` setters and ``pending_events`` do, without
        # a property call each: this runs for every event an order decides.
        self._version = version
        self._modified_on = timestamp
        self._pending_events.append(event)

    # ---- facts (never refused) -----------------------------------------------------------------

    def record(self, fact: OrderFact, *, ts_recorded: datetime) -> bool:
        """Apply one fact from IB (or a statement, or a request seen leaving the client).
        False when it is a repeat that changes nothing."""
        return FACT_HANDLERS[type(fact)](self, fact, ts_recorded)

    def anomaly(
        self,
        kind: str,
        received: str,
        ts_event: datetime | None,
        ts: datetime,
        *,
        before: OrderStatus,
    ) -> None:
        self.trigger_event(
            ev.AnomalyRecorded,
            timestamp=ts,
            ts_event=ts_event,
            kind=kind,
            expected=f"from {before.value}: " + ", ".join(expected_facts(before)),
            received=received,
        )


__all__ = ["Order"]
