"""OrderExecutionEngine: place, cancel, bracket, close and roll on the event-sourced design.

Every call records our intent first (status New), passes the RiskGate (a refusal is recorded
as RiskDenied), then hands the approved order to the gateway, which records the submission
before it sends. Every call returns an ``ExecutionResult``; nothing raises to the caller:
broker errors, rejections and a lost connection come back as ``success=False`` with the error,
and the store keeps what was recorded up to that point.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ordertrail.adapters.execution.exposure import PositionSource, TrailExposure
from ordertrail.adapters.execution.gated import GatedGateway
from ordertrail.adapters.trail import OrderNotFound, OrderTrail
from ordertrail.domain.bracket import BracketOrder
from ordertrail.domain.identity import new_client_order_id, order_key, order_uuid
from ordertrail.domain.planning import (
    MARKETABLE_OFFSET,
    PositionLeg,
    closing_action,
    leg_order,
    open_legs,
    opening_action,
)
from ordertrail.domain.ports import BrokerGateway, OrderTicket
from ordertrail.domain.risk import Refusal, RiskGate, RiskPolicy
from ordertrail.domain.state import OrderState
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import (
    ActionTaken,
    ContractRef,
    ExecutionResult,
    OrderSpec,
)

# Statuses that, reached without our cancel, mean the broker did not take the order.
NOT_TAKEN = frozenset({OrderStatus.INACTIVE, OrderStatus.CANCELLED, OrderStatus.API_CANCELLED})


def random_token() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    # How far through the mark a marketable limit goes (close and roll without market orders).
    marketable_offset: Decimal = MARKETABLE_OFFSET
    tick: Decimal = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class _Sent:
    """One order's outcome inside a multi-order call."""

    client_order_id: str
    error: str | None = None


def _describe(e: Exception) -> str:
    text = str(e)
    return text if text else type(e).__name__


class OrderExecutionEngine:
    """place / cancel / bracket / close / roll; the RiskGate in front of every order."""

    def __init__(
        self,
        trail: OrderTrail,
        gateway: BrokerGateway,
        *,
        policy: RiskPolicy | None = None,
        gate: RiskGate | None = None,
        new_token: Callable[[], str] = random_token,
        positions: PositionSource | None = None,
        settings: ExecutionSettings | None = None,
    ) -> None:
        self.trail = trail
        exposure = TrailExposure(trail, dry_run=gateway.dry_run, positions=positions)
        # The engine keeps no reference to the raw gateway: the gated one is its only way out.
        self._out = GatedGateway(gate or RiskGate(policy), gateway, trail, exposure)
        self._new_token = new_token
        self.settings = settings or ExecutionSettings()

    # ---- policy ---------------------------------------------------------------------------

    @property
    def dry_run(self) -> bool:
        return self._out.dry_run

    @property
    def policy(self) -> RiskPolicy:
        return self._out.policy

    def engage_kill_switch(self) -> None:
        self._out.set_policy(self.policy.with_kill_switch(True))

    def release_kill_switch(self) -> None:
        self._out.set_policy(self.policy.with_kill_switch(False))

    # ---- helpers --------------------------------------------------------------------------

    def new_client_order_id(self) -> str:
        return new_client_order_id(self._new_token(), dry_run=self.dry_run)

    def new_group_id(self, kind: str) -> str:
        return f"{kind}:{self._new_token()}"

    def done_action(self, action: ActionTaken) -> ActionTaken:
        return ActionTaken.DRY_RUN if self.dry_run else action

    def state(self, order_id: str | UUID) -> OrderState:
        try:
            return self.trail.get(self._resolve(order_id)).state
        except AggregateNotFoundError:
            raise OrderNotFound(f"{order_id} in {self.trail.config.describe()}") from None

    async def position(self, contract: ContractRef) -> Decimal:
        """The position the RiskGate holds for this instrument (the broker's figure when the
        engine was given one, else the recorded fills of this venue: live or dry run)."""
        qualified = await self._out.qualify(contract)
        return self._out.position(qualified)

    def _resolve(self, order_id: str | UUID) -> UUID:
        if isinstance(order_id, UUID):
            return order_id
        return order_uuid(client_order_id=order_id)

    def _record(
        self,
        contract: ContractRef,
        spec: OrderSpec,
        *,
        group_id: str | None = None,
        parent: str | None = None,
        reduce_only: bool = False,
    ) -> OrderTicket:
        coid = self.new_client_order_id()
        self.trail.place(
            client_order_id=coid,
            contract=contract,
            spec=spec,
            group_id=group_id,
            parent_key=order_key(client_order_id=parent) if parent else None,
        )
        return OrderTicket(coid, contract, spec, parent, reduce_only)

    def _broker_verdict(self, coids: Sequence[str]) -> str | None:
        """The broker's refusal of any of these orders, as text, or None."""
        states = [self.state(c) for c in coids]
        filled_groups = {
            s.spec.oca_group for s in states if s.status is OrderStatus.FILLED and s.spec.oca_group
        }
        for coid, s in zip(coids, states, strict=True):
            if s.status is OrderStatus.CANCELLED and s.spec.oca_group in filled_groups:
                continue  # its OCA group did that: a sibling filled
            if s.status in NOT_TAKEN and not s.cancel_requested:
                err = f"IB error {s.last_error[0]}: {s.last_error[1]}" if s.last_error else ""
                return f"{coid} {s.status.value}" + (f" ({err})" if err else "")
        return None

    @staticmethod
    def _refused(refusal: Refusal) -> str:
        return f"refused by the RiskGate, rule {refusal.rule}: {refusal.reason}"

    async def _send_one(
        self,
        contract: ContractRef,
        spec: OrderSpec,
        group_id: str | None,
        *,
        reduce_only: bool = False,
    ) -> _Sent:
        try:
            # Qualified before anything is recorded: the order carries IB's conId, so one
            # instrument is one position however it was typed, and an ambiguous one sends
            # nothing.
            contract = await self._out.qualify(contract)
        except Exception as e:
            return _Sent("", f"could not qualify the contract: {_describe(e)}")
        try:
            ticket = self._record(contract, spec, group_id=group_id, reduce_only=reduce_only)
        except Exception as e:
            return _Sent("", f"could not record the order: {_describe(e)}")
        coid = ticket.client_order_id
        try:
            refusal = self._out.place(ticket)
            if refusal is not None:
                return _Sent(coid, self._refused(refusal))
            await self._out.acknowledged([coid])
        except Exception as e:
            return _Sent(coid, _describe(e))
        return _Sent(coid, self._broker_verdict([coid]))

    # ---- the engine's calls ----------------------------------------------------------------

    async def place_order(
        self, contract: ContractRef, spec: OrderSpec, *, group_id: str | None = None
    ) -> ExecutionResult:
        sent = await self._send_one(contract, spec, group_id)
        ids = (sent.client_order_id,) if sent.client_order_id else ()
        if sent.error is not None:
            return ExecutionResult.failed(sent.error, ids)
        return ExecutionResult(True, self.done_action(ActionTaken.PLACED), ids)

    async def modify_order(self, order_id: str | UUID, spec: OrderSpec) -> ExecutionResult:
        """New terms for a working order, through the RiskGate; a refusal records nothing."""
        try:
            state = self.state(order_id)
            coid = state.client_order_id
            if coid is None:
                return ExecutionResult.failed(f"{order_id}: not an order ordertrail placed")
            if state.status.is_done:
                return ExecutionResult.failed(f"{coid} is {state.status.value}", (coid,))
            ticket = OrderTicket(coid, state.contract, spec)
            refusal = self._out.modify(ticket)
            if refusal is not None:
                return ExecutionResult.failed(self._refused(refusal), (coid,))
            await self._out.acknowledged([coid])
            refused = self._modify_refused(coid, state.modifications_refused)
        except Exception as e:
            return ExecutionResult.failed(_describe(e), (str(order_id),))
        if refused is not None:
            return ExecutionResult.failed(refused, (coid,))
        return ExecutionResult(True, self.done_action(ActionTaken.MODIFIED), (coid,))

    def _modify_refused(self, coid: str, refused_before: int) -> str | None:
        """IB's refusal of the modify just sent, as text (201 or 110 answer a modify without
        ending the order: it keeps working on its old terms)."""
        after = self.state(coid)
        if after.modifications_refused == refused_before:
            return None
        code, message = after.last_error or (0, "")
        return f"IB refused the modify of {coid}: error {code}: {message} (old terms kept)"

    async def cancel_order(self, order_id: str | UUID) -> ExecutionResult:
        try:
            coid = self.state(order_id).client_order_id
            if coid is None:
                return ExecutionResult.failed(f"{order_id}: not an order ordertrail placed")
            self._out.cancel(coid)
            await self._out.acknowledged([coid])
            state = self.state(coid)
        except Exception as e:
            return ExecutionResult.failed(_describe(e), (str(order_id),))
        if state.status is OrderStatus.FILLED:
            return ExecutionResult.failed(f"{coid} filled before the cancel", (coid,))
        return ExecutionResult(True, self.done_action(ActionTaken.CANCELLED), (coid,))

    async def place_bracket_order(
        self, contract: ContractRef, bracket: BracketOrder
    ) -> ExecutionResult:
        ids: tuple[str, ...] = ()
        try:
            contract = await self._out.qualify(contract)
        except Exception as e:
            return ExecutionResult.failed(f"could not qualify the contract: {_describe(e)}")
        try:
            group = self.new_group_id("bracket")
            parent = self._record(contract, bracket.parent, group_id=group)
            take = self._record(
                contract, bracket.take_profit, group_id=group, parent=parent.client_order_id
            )
            stop = self._record(
                contract, bracket.stop_loss, group_id=group, parent=parent.client_order_id
            )
            ids = (parent.client_order_id, take.client_order_id, stop.client_order_id)
            refusal = self._out.bracket((parent, take, stop))
            if refusal is not None:
                return ExecutionResult.failed(self._refused(refusal), ids)
            await self._out.acknowledged(ids)
        except Exception as e:
            return ExecutionResult.failed(_describe(e), ids)
        verdict = self._broker_verdict(ids)
        if verdict is not None:
            return ExecutionResult.failed(verdict, ids)
        return ExecutionResult(True, self.done_action(ActionTaken.BRACKET), ids)

    def _leg_spec(self, leg: PositionLeg, opening: bool) -> OrderSpec:
        return leg_order(
            leg,
            opening_action(leg) if opening else closing_action(leg),
            market_allowed=self.policy.allow_market_orders,
            offset=self.settings.marketable_offset,
            tick=self.settings.tick,
        )

    async def _legs(
        self, legs: Sequence[PositionLeg], *, opening: bool, group_id: str
    ) -> list[_Sent]:
        out = []
        for leg in legs:
            try:
                spec = self._leg_spec(leg, opening)
            except Exception as e:
                out.append(_Sent("", _describe(e)))
                continue
            sent = await self._send_one(leg.contract, spec, group_id, reduce_only=not opening)
            out.append(sent)
        return out

    def _combine(self, sent: Sequence[_Sent], done: ActionTaken) -> ExecutionResult:
        ids = tuple(s.client_order_id for s in sent if s.client_order_id)
        errors = [s.error for s in sent if s.error is not None]
        if not errors:
            return ExecutionResult(True, self.done_action(done), ids)
        text = "; ".join(errors)
        if len(errors) == len(sent):
            return ExecutionResult.failed(text, ids)
        return ExecutionResult(False, ActionTaken.PARTIAL, ids, text)

    async def close_position(
        self, position: PositionLeg | Sequence[PositionLeg]
    ) -> ExecutionResult:
        """An opposite order for every open leg: market orders if the policy allows them,
        else marketable limits from each leg's mark. The legs share one group id."""
        legs = open_legs([position] if isinstance(position, PositionLeg) else position)
        if not legs:
            return ExecutionResult(True, self.done_action(ActionTaken.CLOSED))
        sent = await self._legs(legs, opening=False, group_id=self.new_group_id("close"))
        return self._combine(sent, ActionTaken.CLOSED)

    async def roll_position(
        self, legs: Sequence[PositionLeg], new_legs: Sequence[PositionLeg]
    ) -> ExecutionResult:
        """Close ``legs``, then open ``new_legs`` (see ``planning.rolled_legs`` for the same
        legs in a new expiry). One group id links every order, so the audit trail shows the
        roll as one action. New legs are opened only when every close was sent: a failed
        close must not double the exposure."""
        group = self.new_group_id("roll")
        closes = await self._legs(open_legs(legs), opening=False, group_id=group)
        if any(s.error is not None for s in closes):
            result = self._combine(closes, ActionTaken.ROLLED)
            if result.action is ActionTaken.FAILED:
                return result
            return ExecutionResult(
                False,
                ActionTaken.PARTIAL,
                result.order_ids,
                f"{result.error}; the new legs were not opened",
            )
        opens = await self._legs(open_legs(new_legs), opening=True, group_id=group)
        return self._combine([*closes, *opens], ActionTaken.ROLLED)
