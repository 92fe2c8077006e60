"""The RiskGate: pre-trade checks every order passes before any broker can see it.

Each rule is a named, pure function of the policy, the request and what we know right now (the
position, the working orders, a reference price); it returns a refusal reason or None. The gate
runs them in order and either refuses (the first rule that objects, by name) or issues an
``Approval``: the token a gateway demands before it sends anything. Only this module can make
one (see ``Approval``), so an order that did not pass the gate cannot reach a broker.

Defaults are conservative on purpose: market orders are refused (thin futures markets have
filled market orders many ticks away; ``close_position`` then uses marketable limits), and a
limit price more than 5 % away from the reference price is refused as a probable typo.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from ordertrail.domain.errors import InvalidPolicy, OrdertrailError
from ordertrail.domain.values import ContractRef, OrderSpec, OrderType

ZERO = Decimal(0)

# The order types that carry no price limit when they reach the exchange.
MARKET_TYPES = frozenset({OrderType.MARKET, OrderType.MARKET_ON_CLOSE})


class UnapprovedOrder(OrdertrailError):
    """An order or modification reached a gateway without the RiskGate's approval for it."""

    def __init__(self, client_order_id: str, reason: str) -> None:
        super().__init__(f"{client_order_id}: refused at the gateway: {reason}")
        self.client_order_id = client_order_id


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """What the gate allows. ``None`` switches a limit off."""

    max_order_quantity: Decimal | None = Decimal(10_000)
    max_order_notional: Decimal | None = Decimal(1_000_000)
    # Absolute position per contract (shares or contracts) after this order and the working
    # orders on the same side have filled.
    max_position: Decimal | None = Decimal(50_000)
    max_open_orders: int | None = 100
    allowed_order_types: frozenset[OrderType] = frozenset(
        {OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT}
    )
    # The no-market-orders policy, on by default (see ADR 0006).
    allow_market_orders: bool = False
    # Largest distance of a limit price from the reference price, as a fraction (0.05 = 5 %).
    price_band: Decimal | None = Decimal("0.05")
    kill_switch: bool = False

    def __post_init__(self) -> None:
        # Decimal refuses to compare with NaN (InvalidOperation): the gate would fail half way,
        # after the order was recorded, instead of refusing the policy up front.
        for name in ("max_order_quantity", "max_order_notional", "max_position", "price_band"):
            value: Decimal | None = getattr(self, name)
            if value is not None and (not value.is_finite() or value < 0):
                raise InvalidPolicy(name, f"must be a number >= 0, got {value}")
        if self.max_open_orders is not None and self.max_open_orders < 0:
            raise InvalidPolicy("max_open_orders", f"must be >= 0, got {self.max_open_orders}")

    def with_kill_switch(self, engaged: bool) -> RiskPolicy:
        return replace(self, kill_switch=engaged)


class RequestKind(enum.StrEnum):
    PLACE = "place"
    MODIFY = "modify"


@dataclass(frozen=True, slots=True)
class RiskRequest:
    """One order (or a modification of one) the gate is asked about."""

    client_order_id: str
    contract: ContractRef
    spec: OrderSpec
    kind: RequestKind = RequestKind.PLACE
    # A bracket's children close the parent's position: position limits apply to the parent.
    contingent: bool = False
    # Orders this request adds to the open ones (a bracket counts its three on the parent).
    adds_open_orders: int = 1
    # A close (or a roll's close): it must make the position smaller, never larger or flipped.
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What we know when the request is made. For a modification, the working quantity and the
    open-order count leave out the order being modified."""

    position: Decimal = ZERO
    working_same_side: Decimal = ZERO
    open_orders: int = 0
    reference_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.reason}"


_SEAL = object()


@dataclass(frozen=True, slots=True)
class Approval:
    """The gate's approval of exactly one order's terms. Gateways refuse anything else.

    Only ``RiskGate`` can make one: the constructor demands a seal private to this module, so
    an approval cannot be made up elsewhere by accident.
    """

    client_order_id: str
    contract: ContractRef
    spec: OrderSpec
    kind: RequestKind
    seal: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.seal is not _SEAL:
            raise UnapprovedOrder(self.client_order_id, "approvals come only from the RiskGate")

    def covers(self, client_order_id: str, contract: ContractRef, spec: OrderSpec) -> bool:
        return (
            self.client_order_id == client_order_id
            and self.contract == contract
            and self.spec == spec
        )


def require_approval(
    approval: object, client_order_id: str, contract: ContractRef, spec: OrderSpec
) -> Approval:
    """What every gateway calls, once, before it sends an order or a modification: the
    approval must be the gate's, for exactly the contract and terms about to be sent."""
    if not isinstance(approval, Approval) or approval.seal is not _SEAL:
        raise UnapprovedOrder(client_order_id, "no RiskGate approval")
    if not approval.covers(client_order_id, contract, spec):
        raise UnapprovedOrder(client_order_id, "the approval is for other terms")
    return approval


Decision = Approval | Refusal
RuleCheck = Callable[[RiskPolicy, RiskRequest, RiskContext], str | None]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    check: RuleCheck


def reference_price(request: RiskRequest, context: RiskContext) -> Decimal | None:
    """The price the order is judged against: the one its strategy decided on, else the
    market's."""
    spec = request.spec
    return spec.reference_price if spec.reference_price is not None else context.reference_price


def _kill_switch(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    return "the kill switch is engaged: no new orders or modifications" if p.kill_switch else None


def _order_type_allowed(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    kind = r.spec.order_type
    if kind in p.allowed_order_types:
        return None
    allowed = ", ".join(sorted(t.value for t in p.allowed_order_types)) or "none"
    return f"order type {kind.value} is not allowed (allowed: {allowed})"


def _no_market_orders(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    if p.allow_market_orders or r.spec.order_type not in MARKET_TYPES:
        return None
    return (
        f"{r.spec.order_type.value} orders are disallowed by policy; use a (marketable) limit order"
    )


def _max_order_quantity(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    limit = p.max_order_quantity
    if limit is None or r.spec.quantity <= limit:
        return None
    return f"quantity {r.spec.quantity} exceeds the maximum {limit}"


def order_price(request: RiskRequest, context: RiskContext) -> Decimal | None:
    spec = request.spec
    if spec.limit_price is not None:
        return spec.limit_price
    if spec.stop_price is not None and spec.order_type is not OrderType.TRAILING:
        return spec.stop_price
    return reference_price(request, context)


def _max_order_notional(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    limit = p.max_order_notional
    if limit is None:
        return None
    price = order_price(r, c)
    if price is None:
        return "no price to value the order (give a limit or a reference price)"
    notional = abs(price) * r.spec.quantity * r.contract.multiplier
    if notional <= limit:
        return None
    return f"notional {notional} exceeds the maximum {limit}"


def _price_band(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    band = p.price_band
    ref = reference_price(r, c)
    if band is None or ref is None or ref == 0:
        # Without a reference there is nothing to measure against (documented in
        # docs/execution.md): market orders and stops are judged by the other rules.
        return None
    for name, price in (("limit", r.spec.limit_price), ("stop", r.spec.stop_price)):
        if price is None:
            continue
        distance = abs(price - ref) / abs(ref)
        if distance > band:
            return (
                f"{name} price {price} is {distance:.2%} from the reference {ref} (band {band:.2%})"
            )
    return None


def _max_position(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    limit = p.max_position
    if limit is None or r.contingent:
        return None
    sign = r.spec.action.sign
    projected = c.position + sign * (c.working_same_side + r.spec.quantity)
    # An order that leaves the position smaller than it is now is always allowed: it is how a
    # position over the limit gets back under it.
    if abs(projected) <= limit or abs(projected) <= abs(c.position):
        return None
    return (
        f"position in {r.contract.symbol or r.contract.con_id} would reach {projected} "
        f"(now {c.position}, working {sign * c.working_same_side}); the maximum is {limit}"
    )


def _max_open_orders(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    limit = p.max_open_orders
    if limit is None or r.kind is RequestKind.MODIFY:
        return None
    if c.open_orders + r.adds_open_orders <= limit:
        return None
    return f"{c.open_orders} orders are open; {r.adds_open_orders} more would exceed {limit}"


def _reduces_position(p: RiskPolicy, r: RiskRequest, c: RiskContext) -> str | None:
    if not r.reduce_only:
        return None
    after = c.position + r.spec.action.sign * r.spec.quantity
    # Judged against the position the gate knows (recorded fills or the broker's figure), not
    # the one the caller typed: a close sized on a wrong figure must not grow the exposure.
    if c.position != 0 and abs(after) < abs(c.position) and (after == 0 or after * c.position > 0):
        return None
    return (
        f"a close must reduce the position: {r.spec.action.value} {r.spec.quantity} "
        f"would take {r.contract.symbol or r.contract.con_id} from {c.position} to {after}"
    )


KILL_SWITCH = Rule("kill_switch", _kill_switch)
ORDER_TYPE_ALLOWED = Rule("order_type_allowed", _order_type_allowed)
NO_MARKET_ORDERS = Rule("no_market_orders", _no_market_orders)
MAX_ORDER_QUANTITY = Rule("max_order_quantity", _max_order_quantity)
MAX_ORDER_NOTIONAL = Rule("max_order_notional", _max_order_notional)
PRICE_BAND = Rule("price_band", _price_band)
MAX_POSITION = Rule("max_position", _max_position)
REDUCES_POSITION = Rule("reduces_position", _reduces_position)
MAX_OPEN_ORDERS = Rule("max_open_orders", _max_open_orders)

DEFAULT_RULES: tuple[Rule, ...] = (
    KILL_SWITCH,
    ORDER_TYPE_ALLOWED,
    NO_MARKET_ORDERS,
    MAX_ORDER_QUANTITY,
    MAX_ORDER_NOTIONAL,
    PRICE_BAND,
    MAX_POSITION,
    REDUCES_POSITION,
    MAX_OPEN_ORDERS,
)


class RiskGate:
    """Runs the rules; the first objection refuses. Pure: everything it needs comes in."""

    def __init__(
        self, policy: RiskPolicy | None = None, rules: Sequence[Rule] = DEFAULT_RULES
    ) -> None:
        self.policy = policy if policy is not None else RiskPolicy()
        self.rules = tuple(rules)

    def with_policy(self, policy: RiskPolicy) -> RiskGate:
        return type(self)(policy, self.rules)

    def refusal(self, request: RiskRequest, context: RiskContext) -> Refusal | None:
        for rule in self.rules:
            reason = rule.check(self.policy, request, context)
            if reason is not None:
                return Refusal(rule.name, reason)
        return None

    def check(self, request: RiskRequest, context: RiskContext) -> Decision:
        refused = self.refusal(request, context)
        if refused is not None:
            return refused
        return Approval(
            request.client_order_id, request.contract, request.spec, request.kind, _SEAL
        )

    def check_all(
        self, requests: Sequence[tuple[RiskRequest, RiskContext]]
    ) -> tuple[Approval, ...] | Refusal:
        """All or nothing (a bracket's legs): the first refusal, naming the leg, refuses all."""
        approvals: list[Approval] = []
        for request, context in requests:
            decision = self.check(request, context)
            if isinstance(decision, Refusal):
                if len(requests) == 1:
                    return decision
                return Refusal(decision.rule, f"{request.client_order_id}: {decision.reason}")
            approvals.append(decision)
        return tuple(approvals)


__all__ = [
    "DEFAULT_RULES",
    "MARKET_TYPES",
    "Approval",
    "Decision",
    "Refusal",
    "RequestKind",
    "RiskContext",
    "RiskGate",
    "RiskPolicy",
    "RiskRequest",
    "Rule",
    "UnapprovedOrder",
    "require_approval",
]
