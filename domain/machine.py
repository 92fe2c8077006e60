"""The order state machine, defined once.

``EDGES`` is the definition: every (state, trigger) pair the order knows, where it leads and
whether arriving there is an anomaly. Two things are built from it:

* ``build_machine()`` — a ``transitions`` Machine (the reference: it draws the diagram, and a
  property test proves it agrees with the table on every state, trigger and condition);
* ``TABLE`` — a plain dict compiled once at import, used on the hot path. No Machine is ever
  attached to an aggregate: per-model cost grows with the number of models and it breaks
  snapshots.

Commands (submit, deny, request_cancel, request_modify) have edges only from the states that
allow them; a missing edge is a refusal. Facts from IB have an edge from *every* state, because
the broker is the source of truth: an edge that breaks expectations is marked with an anomaly
kind, and the order still moves where IB says.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ordertrail.domain.status import OrderStatus as S


class Trigger(enum.StrEnum):
    # Commands: ours, may be refused.
    SUBMIT = "submit"
    DENY = "deny"
    REQUEST_CANCEL = "request_cancel"
    REQUEST_MODIFY = "request_modify"
    # Facts: IB's, never refused. One trigger per status IB can report.
    REPORT_PENDING_SUBMIT = "report_PendingSubmit"
    REPORT_API_PENDING = "report_ApiPending"
    REPORT_PRE_SUBMITTED = "report_PreSubmitted"
    REPORT_SUBMITTED = "report_Submitted"
    REPORT_PENDING_CANCEL = "report_PendingCancel"
    REPORT_API_CANCELLED = "report_ApiCancelled"
    REPORT_CANCELLED = "report_Cancelled"
    REPORT_FILLED = "report_Filled"
    REPORT_INACTIVE = "report_Inactive"
    # An execution; condition `completes`: it brings the filled quantity to the order's.
    FILL = "fill"
    # Error 201/200/103 and kin: IB refused the order (it may never send a status afterwards).
    REJECT = "reject"
    # Error 202 "Order Canceled - reason: ...": confirms a cancel; it is not a rejection.
    CONFIRM_CANCEL = "confirm_cancel"

    @property
    def is_command(self) -> bool:
        return self in COMMANDS

    @property
    def command_name(self) -> str:
        """The command as a trader names it (``cancel``, not the trigger's ``request_cancel``):
        what a refusal calls the command refused and the ones allowed instead."""
        return _COMMAND_NAMES.get(self, self.value)

    @staticmethod
    def for_status(status: S) -> Trigger:
        return _REPORT_TRIGGER[status]


COMMANDS = frozenset({Trigger.SUBMIT, Trigger.DENY, Trigger.REQUEST_CANCEL, Trigger.REQUEST_MODIFY})
# A cancel or a modification is only requested of IB (it answers later, or not at all), but the
# trader's command is "cancel" or "modify".
_COMMAND_NAMES = {Trigger.REQUEST_CANCEL: "cancel", Trigger.REQUEST_MODIFY: "modify"}
_REPORT_TRIGGER = {
    S(t.value.removeprefix("report_")): t for t in Trigger if t.value.startswith("report_")
}

ALL_STATES: tuple[S, ...] = tuple(S)
WORKING = (S.PENDING_SUBMIT, S.API_PENDING, S.PRE_SUBMITTED, S.SUBMITTED, S.PENDING_CANCEL)
CANCELLED_STATES = (S.CANCELLED, S.API_CANCELLED)


@dataclass(frozen=True, slots=True)
class Edge:
    trigger: Trigger
    source: S
    dest: S
    # None: unconditional; True: only when the fill completes the order; False: only when not.
    completes: bool | None = None
    anomaly: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    dest: S
    anomaly: str | None


def _edges(
    trigger: Trigger,
    sources: Iterable[S],
    dest: S | None,
    *,
    completes: bool | None = None,
    anomaly: str | None = None,
) -> list[Edge]:
    """Edges from each source; ``dest=None`` means "stay where you are"."""
    return [Edge(trigger, s, s if dest is None else dest, completes, anomaly) for s in sources]


def _status_report(status: S, normal_from: Iterable[S]) -> list[Edge]:
    """IB reported ``status``: normal from ``normal_from``, an anomaly from anywhere else.

    Repeats are normal: IB sends the same orderStatus two or three times.
    """
    trigger = Trigger.for_status(status)
    normal = set(normal_from) | {status}
    edges = _edges(trigger, sorted(normal), status)
    for source in ALL_STATES:
        if source in normal:
            continue
        if source is S.NEW:
            kind = "status_before_submission"
        elif source is S.RISK_DENIED:
            kind = "status_after_risk_denial"
        elif source is S.FILLED:
            kind = "status_after_fill"
        else:
            kind = "unexpected_status"
        edges += _edges(trigger, [source], status, anomaly=kind)
    return edges


def define_edges() -> list[Edge]:
    e: list[Edge] = []
    # --- Commands -----------------------------------------------------------------------------
    # The submission is recorded before the order goes to IB, so IB's first status always finds
    # the order in PendingSubmit.
    e += _edges(Trigger.SUBMIT, [S.NEW], S.PENDING_SUBMIT)
    e += _edges(Trigger.DENY, [S.NEW], S.RISK_DENIED)
    # A cancel request changes nothing until IB answers (PendingCancel, Cancelled, or a fill
    # that won the race). Inactive is included: an order held for a locate (whyHeld="locate")
    # can still work and fill, so it can still be cancelled.
    e += _edges(
        Trigger.REQUEST_CANCEL,
        [S.PENDING_SUBMIT, S.API_PENDING, S.PRE_SUBMITTED, S.SUBMITTED, S.DISCOVERED, S.INACTIVE],
        None,
    )
    e += _edges(
        Trigger.REQUEST_MODIFY,
        [S.PENDING_SUBMIT, S.API_PENDING, S.PRE_SUBMITTED, S.SUBMITTED, S.DISCOVERED],
        None,
    )

    # --- Status reports -----------------------------------------------------------------------
    e += _status_report(S.PENDING_SUBMIT, [S.API_PENDING, S.DISCOVERED])
    e += _status_report(S.API_PENDING, [S.PENDING_SUBMIT, S.DISCOVERED])
    # PreSubmitted is normal for stops, market/FX and outside-hours orders; a modify can go
    # Submitted → PreSubmitted → Submitted; a refused cancel returns PendingCancel to the
    # working status; an Inactive order held for a locate can come back to work.
    e += _status_report(
        S.PRE_SUBMITTED,
        [S.PENDING_SUBMIT, S.API_PENDING, S.SUBMITTED, S.PENDING_CANCEL, S.DISCOVERED, S.INACTIVE],
    )
    e += _status_report(
        S.SUBMITTED,
        [
            S.PENDING_SUBMIT,
            S.API_PENDING,
            S.PRE_SUBMITTED,
            S.PENDING_CANCEL,
            S.DISCOVERED,
            S.INACTIVE,
        ],
    )
    e += _status_report(S.PENDING_CANCEL, [*WORKING, S.DISCOVERED, S.INACTIVE])
    e += _status_report(S.API_CANCELLED, [*WORKING, S.DISCOVERED, S.INACTIVE])
    e += _status_report(S.CANCELLED, [*WORKING, S.DISCOVERED, S.INACTIVE, S.API_CANCELLED])
    # PendingCancel → Filled: the fill won the cancel race. Inactive → Filled: held for a locate,
    # then worked.
    e += _status_report(S.FILLED, [*WORKING, S.DISCOVERED, S.INACTIVE])
    # Cancelled → Inactive: a rejection (error 201) is often followed by Inactive; clients that
    # believed ib_async's local Cancelled see exactly this pair.
    e += _status_report(S.INACTIVE, [*WORKING, S.DISCOVERED, S.CANCELLED])

    # --- Executions -----------------------------------------------------------------------------
    # Fills are logged while the order still says PendingSubmit or PreSubmitted, and execDetails
    # can come after the Filled status: none of that is surprising. An execution that completes
    # the order's quantity fills it even if IB never sends the Filled status (after a reconnect,
    # fills from reqExecutions fire no status at all).
    normal_fill = [*WORKING, S.DISCOVERED, S.INACTIVE, S.FILLED]
    e += _edges(Trigger.FILL, normal_fill, S.FILLED, completes=True)
    e += _edges(Trigger.FILL, normal_fill, None, completes=False)
    # Cancelled and then a late fill: real, and exactly what an auditor must see.
    e += _edges(
        Trigger.FILL, CANCELLED_STATES, S.FILLED, completes=True, anomaly="fill_after_cancel"
    )
    e += _edges(Trigger.FILL, CANCELLED_STATES, None, completes=False, anomaly="fill_after_cancel")
    e += _edges(Trigger.FILL, [S.NEW], S.FILLED, completes=True, anomaly="fill_before_submission")
    e += _edges(Trigger.FILL, [S.NEW], None, completes=False, anomaly="fill_before_submission")
    e += _edges(
        Trigger.FILL, [S.RISK_DENIED], S.FILLED, completes=True, anomaly="fill_after_risk_denial"
    )
    e += _edges(
        Trigger.FILL, [S.RISK_DENIED], None, completes=False, anomaly="fill_after_risk_denial"
    )

    # --- Errors that decide the order's fate ----------------------------------------------------
    # A rejection may come with no orderStatus at all; IB's own later status, if any, is
    # Inactive (or Cancelled, which Inactive may follow). On an order that is already done the
    # error is recorded and changes nothing.
    e += _edges(Trigger.REJECT, [*WORKING, S.DISCOVERED, S.INACTIVE], S.INACTIVE)
    e += _edges(Trigger.REJECT, [S.NEW], S.INACTIVE, anomaly="rejection_before_submission")
    e += _edges(
        Trigger.REJECT,
        [S.FILLED, S.CANCELLED, S.API_CANCELLED, S.RISK_DENIED],
        None,
        anomaly="rejection_of_finished_order",
    )
    # 202 can arrive after the Cancelled status, with localised text; it is a confirmation.
    e += _edges(
        Trigger.CONFIRM_CANCEL,
        [*WORKING, S.DISCOVERED, S.INACTIVE, S.CANCELLED, S.API_CANCELLED],
        S.CANCELLED,
    )
    e += _edges(Trigger.CONFIRM_CANCEL, [S.FILLED], None, anomaly="cancel_confirmed_after_fill")
    e += _edges(
        Trigger.CONFIRM_CANCEL,
        [S.NEW, S.RISK_DENIED],
        S.CANCELLED,
        anomaly="cancel_of_unsent_order",
    )
    return e


EDGES: tuple[Edge, ...] = tuple(define_edges())


def compile_table(edges: Iterable[Edge]) -> dict[tuple[S, Trigger, bool], Outcome]:
    table: dict[tuple[S, Trigger, bool], Outcome] = {}
    for edge in edges:
        outcome = Outcome(edge.dest, edge.anomaly)
        for completes in (False, True) if edge.completes is None else (edge.completes,):
            key = (edge.source, edge.trigger, completes)
            if key in table:
                raise ValueError(f"two edges for {key}")
            table[key] = outcome
    return table


TABLE: dict[tuple[S, Trigger, bool], Outcome] = compile_table(EDGES)


def outcome(state: S, trigger: Trigger, completes: bool = False) -> Outcome | None:
    """Where ``trigger`` leads from ``state``; None when a command is not allowed there."""
    return TABLE.get((state, trigger, completes))


def allowed_commands(state: S) -> list[Trigger]:
    # In the triggers' own order: a refusal's text must not depend on the hash seed, as an
    # iteration over the set of commands would.
    return [t for t in Trigger if t in COMMANDS and (state, t, False) in TABLE]


def expected_facts(state: S) -> list[str]:
    """The facts that would be normal from ``state`` (for an anomaly's "expected")."""
    names: list[str] = []
    for (source, trigger, completes), out in TABLE.items():
        if source is state and not trigger.is_command and out.anomaly is None:
            name = trigger.value + ("(completes)" if trigger is Trigger.FILL and completes else "")
            if name not in names:
                names.append(name)
    return names


class MachineModel:
    """The model a transitions Machine drives in tests and diagrams (never an aggregate)."""

    def __init__(self) -> None:
        self.completes = False
        self.anomalies: list[str] = []
        self.state: str = S.NEW.value

    def on_anomaly(self, *args: Any, **kwargs: Any) -> None:
        self.anomalies.append(self.state)


def machine_transitions(
    edges: Iterable[Edge] = EDGES, *, with_anomalies: bool = True
) -> list[dict[str, Any]]:
    """The definition in the form ``transitions.Machine`` takes."""
    out: list[dict[str, Any]] = []
    for edge in edges:
        if edge.anomaly and not with_anomalies:
            continue
        spec: dict[str, Any] = {
            "trigger": edge.trigger.value,
            "source": edge.source.value,
            "dest": edge.dest.value,
        }
        if edge.completes is True:
            spec["conditions"] = "completes"
        elif edge.completes is False:
            spec["unless"] = "completes"
        if edge.anomaly:
            spec["after"] = "on_anomaly"
        out.append(spec)
    return out


def build_machine(model: MachineModel, *, initial: S = S.NEW) -> Any:
    """A ``transitions`` Machine over ``model`` (the reference implementation of ``TABLE``)."""
    from transitions import Machine

    return Machine(
        model=model,
        states=[s.value for s in S],
        transitions=machine_transitions(),
        initial=initial.value,
        auto_transitions=False,
        send_event=False,
    )


def mermaid(*, with_anomalies: bool = False) -> str:
    """The state diagram as mermaid text, drawn by transitions from the same definition.

    Anomalous edges are left out by default: they go from almost every state to every other,
    and belong in a table (docs/state-machine.md), not a picture.
    """
    from transitions.extensions import GraphMachine

    model = MachineModel()
    GraphMachine(
        model=model,
        states=[s.value for s in S],
        transitions=machine_transitions(with_anomalies=with_anomalies),
        initial=S.NEW.value,
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title="ordertrail order state machine",
    )
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]
    return text
