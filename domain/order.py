"""The Order aggregate: commands may be refused, facts from IB never are.

Every public method decides (using the compiled state table) and triggers events that only
carry the decision. Fact methods return False when the fact is a repeat that changes nothing
(IB sends the same orderStatus two or three times, re-sends openOrder after partial fills, and
the same execution or commission report can come more than once).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ordertrail.domain import events as ev
from ordertrail.domain.errors import CommandRefused, UnknownIbStatus
from ordertrail.domain.ib_errors import CANCEL_REFUSALS, ErrorEffect, effect_of, is_warning
from ordertrail.domain.identity import is_dry_run_id, order_id_for, order_key
from ordertrail.domain.machine import Trigger, allowed_commands, expected_facts, outcome
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import IB_STATUSES, OrderStatus
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderSpec,
    exec_base_id,
    exec_revision,
)


def _revision_rank(revision: str) -> tuple[int, str]:
    return (int(revision), "") if revision.isdigit() else (-1, revision)


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
    def discover(
        cls,
        *,
        contract: ContractRef,
        spec: OrderSpec,
        ts_recorded: datetime,
        ts_event: datetime | None = None,
        perm_id: int | None = None,
        client_order_id: str | None = None,
        origin: str = "discovered",
        parent_key: str | None = None,
        group_id: str | None = None,
        provenance: dict[str, str] | None = None,
    ) -> Order:
        """An order IB told us about that this process did not create (another client, TWS by
        hand, an earlier session, a Flex statement)."""
        key = order_key(client_order_id=client_order_id, perm_id=perm_id)
        return cls._create(
            ev.OrderCreated,
            id=order_id_for(key),
            timestamp=ts_recorded,
            ts_event=ts_event,
            order_key=key,
            client_order_id=client_order_id,
            perm_id=perm_id,
            origin=origin,
            contract=contract,
            spec=spec,
            status=OrderStatus.DISCOVERED,
            parent_key=parent_key,
            group_id=group_id,
            provenance=provenance,
        )

    @staticmethod
    def id_for(*, client_order_id: str | None = None, perm_id: int | None = None) -> UUID:
        return order_id_for(order_key(client_order_id=client_order_id, perm_id=perm_id))

    # ---- commands (may be refused; a refusal records nothing) --------------------------------

    def _command(self, trigger: Trigger, name: str) -> OrderStatus:
        out = outcome(self.state.status, trigger)
        if out is None:
            allowed = ", ".join(t.value for t in allowed_commands(self.state.status)) or "none"
            raise CommandRefused(name, self.state.status.value, f"allowed here: {allowed}")
        return out.dest

    def submit(self, *, client_id: int, order_id: int, ts_recorded: datetime) -> None:
        dest = self._command(Trigger.SUBMIT, "submit")
        self.trigger_event(
            ev.SubmissionRequested,
            timestamp=ts_recorded,
            ts_event=None,
            client_id=client_id,
            order_id=order_id,
            status=dest,
        )

    def deny(self, *, rule: str, reason: str, ts_recorded: datetime) -> None:
        dest = self._command(Trigger.DENY, "deny")
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
        self._command(Trigger.REQUEST_CANCEL, "cancel")
        self.trigger_event(ev.CancelRequested, timestamp=ts_recorded, ts_event=None)

    def request_modify(self, spec: OrderSpec, *, ts_recorded: datetime) -> None:
        self._command(Trigger.REQUEST_MODIFY, "modify")
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

    # ---- facts (never refused) -----------------------------------------------------------------

    def _anomaly(
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

    def record_status(
        self,
        *,
        raw_status: str,
        filled: Decimal | None,
        remaining: Decimal | None,
        avg_fill_price: Decimal | None,
        ts_recorded: datetime,
        ts_event: datetime | None = None,
        last_fill_price: Decimal | None = None,
        why_held: str = "",
        perm_id: int | None = None,
        mkt_cap_price: Decimal | None = None,
    ) -> bool:
        key = (raw_status, filled, remaining, avg_fill_price, why_held)
        if key == self.state.last_report:
            return False
        before = self.state.status
        if raw_status in IB_STATUSES:
            out = outcome(before, Trigger.for_status(OrderStatus(raw_status)))
            assert out is not None  # facts have an edge from every state
            dest, anomaly = out.dest, out.anomaly
        else:
            # Not a status IB documents: keep it, say so, and leave the status where it was.
            dest, anomaly = before, "unknown_status"
        self.trigger_event(
            ev.StatusReported,
            timestamp=ts_recorded,
            ts_event=ts_event,
            raw_status=raw_status,
            status=dest,
            filled=filled,
            remaining=remaining,
            avg_fill_price=avg_fill_price,
            last_fill_price=last_fill_price,
            why_held=why_held,
            perm_id=perm_id if perm_id and perm_id != self.state.perm_id else None,
            mkt_cap_price=mkt_cap_price,
        )
        if anomaly:
            self._anomaly(anomaly, f"status {raw_status}", ts_event, ts_recorded, before=before)
        if (
            before is OrderStatus.PENDING_CANCEL
            and dest in (OrderStatus.SUBMITTED, OrderStatus.PRE_SUBMITTED)
            and self.state.cancel_requested
        ):
            # IB took the order back to work without an error: the cancel did not happen.
            self.trigger_event(ev.CancelRefused, timestamp=ts_recorded, ts_event=ts_event, code=0)
        return True

    def record_execution(
        self,
        execution: Execution,
        *,
        ts_recorded: datetime,
        provenance: dict[str, str] | None = None,
    ) -> bool:
        s = self.state
        base = execution.base_id
        current = s.executions.get(base)
        if current is not None:
            if current.exec_id == execution.exec_id:
                return False
            if _revision_rank(exec_revision(execution.exec_id)) <= _revision_rank(
                exec_revision(current.exec_id)
            ):
                # An older revision of a fill we already hold corrected: it changes nothing.
                return False
        new_filled = s.filled + execution.shares - (current.shares if current else 0)
        completes = new_filled >= s.spec.quantity
        before = s.status
        out = outcome(before, Trigger.FILL, completes)
        assert out is not None
        if current is None:
            self.trigger_event(
                ev.ExecutionRecorded,
                timestamp=ts_recorded,
                ts_event=execution.time,
                execution=execution,
                status=out.dest,
                provenance=provenance,
            )
        else:
            self.trigger_event(
                ev.ExecutionCorrected,
                timestamp=ts_recorded,
                ts_event=execution.time,
                execution=execution,
                replaces_exec_id=current.exec_id,
                status=out.dest,
                provenance=provenance,
            )
        received = f"execution {execution.exec_id} {execution.shares}@{execution.price}"
        if out.anomaly:
            self._anomaly(out.anomaly, received, execution.time, ts_recorded, before=before)
        if new_filled > s.spec.quantity:
            self.trigger_event(
                ev.AnomalyRecorded,
                timestamp=ts_recorded,
                ts_event=execution.time,
                kind="overfill",
                expected=f"filled <= order quantity {s.spec.quantity}",
                received=f"{received} brings filled to {new_filled}",
            )
        if current is not None and before is OrderStatus.FILLED and new_filled < s.spec.quantity:
            # A correction took shares off an order IB had filled: it stays Filled (IB said
            # so), and the auditor is told, as for a busted fill.
            self._anomaly(
                "filled_order_lost_a_fill",
                f"{received} brings filled to {new_filled}",
                execution.time,
                ts_recorded,
                before=before,
            )
        return True

    def record_execution_cancel(
        self,
        exec_id: str,
        *,
        reason: str,
        ts_recorded: datetime,
        ts_event: datetime | None = None,
        provenance: dict[str, str] | None = None,
    ) -> bool:
        """IB busted an execution (Flex ``TradeCancel``). Unknown or already cancelled: nothing."""
        current = self.state.executions.get(exec_base_id(exec_id))
        if current is None:
            return False
        status = self.state.status
        lost_the_fill = (
            status is OrderStatus.FILLED
            and self.state.filled - current.shares < self.state.spec.quantity
        )
        self.trigger_event(
            ev.ExecutionCancelled,
            timestamp=ts_recorded,
            ts_event=ts_event,
            exec_id=current.exec_id,
            reason=reason,
            status=status,
            provenance=provenance,
        )
        if lost_the_fill:
            # The fill that completed the order is gone; IB's statement says nothing of the
            # order's status, so it stays Filled and the auditor is told.
            self._anomaly(
                "filled_order_lost_a_fill",
                f"cancel of execution {exec_id}",
                ts_event,
                ts_recorded,
                before=status,
            )
        return True

    def record_commission(self, report: CommissionReport, *, ts_recorded: datetime) -> bool:
        held = self.state.commissions.get(exec_base_id(report.exec_id))
        if held == report:
            return False
        if held is not None and _revision_rank(exec_revision(report.exec_id)) < _revision_rank(
            exec_revision(held.exec_id)
        ):
            # The report of a revision already corrected (IB re-sends every report with
            # reqExecutions after a reconnect): like its execution, it changes nothing.
            return False
        self.trigger_event(
            ev.CommissionReported, timestamp=ts_recorded, ts_event=None, report=report
        )
        return True

    def record_error(
        self,
        *,
        code: int,
        message: str,
        ts_recorded: datetime,
        advanced_reject: str | None = None,
        ts_event: datetime | None = None,
    ) -> bool:
        s = self.state
        if s.last_error == (code, message):
            return False
        modifying = s.pending_modification is not None
        effect = effect_of(code, modification_pending=modifying)
        before = s.status
        dest, anomaly = before, None
        if effect is not ErrorEffect.INFORMS:
            trigger = Trigger.REJECT if effect is ErrorEffect.REJECTS else Trigger.CONFIRM_CANCEL
            out = outcome(before, trigger)
            assert out is not None
            dest, anomaly = out.dest, out.anomaly
        self.trigger_event(
            ev.ErrorReported,
            timestamp=ts_recorded,
            ts_event=ts_event,
            code=code,
            message=message,
            advanced_reject=advanced_reject,
            status=dest,
        )
        # Warnings (399 order message, 404 held for locate) and the answers to a cancel do not
        # answer the modify: the modification is still pending.
        if (
            modifying
            and effect is ErrorEffect.INFORMS
            and code < 2100
            and not is_warning(code)
            and code not in CANCEL_REFUSALS
        ):
            self.trigger_event(
                ev.ModificationRefused, timestamp=ts_recorded, ts_event=ts_event, code=code
            )
        if s.cancel_requested and code in CANCEL_REFUSALS:
            # IB refused our cancel (161 not cancellable now, 10147 not found, 10148 already
            # filled): the order carries on as IB reports it, and a later cancel must be possible.
            self.trigger_event(
                ev.CancelRefused, timestamp=ts_recorded, ts_event=ts_event, code=code
            )
        if anomaly:
            self._anomaly(anomaly, f"error {code}: {message}", ts_event, ts_recorded, before=before)
        return True

    def record_open_order(
        self,
        *,
        spec: OrderSpec,
        ts_recorded: datetime,
        perm_id: int | None = None,
        client_id: int | None = None,
        order_id: int | None = None,
    ) -> bool:
        """IB's openOrder: binds identifiers we had not seen and acknowledges new terms."""
        s = self.state
        recorded = False
        new_perm = perm_id if perm_id and perm_id != s.perm_id else None
        new_alias = (
            client_id is not None
            and order_id is not None
            and order_id != 0
            and (client_id, order_id) not in s.aliases
        )
        new_account = spec.account if spec.account and not s.spec.account else None
        if new_perm or new_alias or new_account:
            self.trigger_event(
                ev.IdentifiersBound,
                timestamp=ts_recorded,
                ts_event=None,
                perm_id=new_perm,
                client_id=client_id if new_alias else None,
                order_id=order_id if new_alias else None,
                account=new_account,
            )
            recorded = True
        if _terms(spec) != _terms(s.spec):
            pending = s.pending_modification
            self.trigger_event(
                ev.ModificationAcknowledged,
                timestamp=ts_recorded,
                ts_event=None,
                spec=s.spec.with_changes(
                    quantity=spec.quantity,
                    limit_price=spec.limit_price,
                    stop_price=spec.stop_price,
                ),
                requested=pending is not None and _terms(pending) == _terms(spec),
            )
            if s.filled > s.spec.quantity:
                # Fills raced the modify (or TWS cut the quantity by hand): the order is now
                # overfilled, and that is never silent.
                self.trigger_event(
                    ev.AnomalyRecorded,
                    timestamp=ts_recorded,
                    ts_event=None,
                    kind="overfill",
                    expected=f"filled <= order quantity {s.spec.quantity}",
                    received=f"openOrder quantity {s.spec.quantity} below {s.filled} filled",
                )
            recorded = True
        return recorded


def _terms(spec: OrderSpec) -> tuple[Any, ...]:
    """What a modify can change and openOrder reports back."""
    return (spec.quantity, spec.limit_price, spec.stop_price)


__all__ = ["Order", "UnknownIbStatus"]
