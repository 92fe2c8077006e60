"""Values of the trading domain: contracts, order specifications, executions, commissions.

All are frozen, slotted dataclasses with Decimal quantities and prices. Validation names the
field so that a refusal says exactly what was wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from ordertrail.domain.errors import InvalidOrderSpec
from ordertrail.domain.money import MAX_MAGNITUDE


class OrderAction(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> OrderAction:
        return OrderAction.SELL if self is OrderAction.BUY else OrderAction.BUY

    @property
    def sign(self) -> int:
        return 1 if self is OrderAction.BUY else -1


class OrderType(enum.StrEnum):
    """IB's order type codes (``Order.orderType``)."""

    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"
    TRAILING = "TRAIL"
    TRAILING_LIMIT = "TRAIL LIMIT"
    # Types other programs (or people in TWS) use; we record them when IB reports them.
    MARKET_ON_CLOSE = "MOC"
    LIMIT_ON_CLOSE = "LOC"
    MARKET_IF_TOUCHED = "MIT"
    LIMIT_IF_TOUCHED = "LIT"
    RELATIVE = "REL"
    MIDPRICE = "MIDPRICE"
    PEGGED_TO_MIDPOINT = "PEG MID"
    # A type IB reported that this list does not name: the fact is kept, its raw code goes to
    # the order's provenance.
    OTHER = "OTHER"

    @property
    def needs_limit_price(self) -> bool:
        return self in (
            OrderType.LIMIT,
            OrderType.STOP_LIMIT,
            OrderType.LIMIT_ON_CLOSE,
            OrderType.LIMIT_IF_TOUCHED,
        )

    @property
    def needs_stop_price(self) -> bool:
        return self in (
            OrderType.STOP,
            OrderType.STOP_LIMIT,
            OrderType.MARKET_IF_TOUCHED,
            OrderType.LIMIT_IF_TOUCHED,
        )


class TimeInForce(enum.StrEnum):
    DAY = "DAY"
    GTC = "GTC"
    IOC = "IOC"
    OPG = "OPG"
    GTD = "GTD"
    FOK = "FOK"
    # A time in force IB reported that this list does not name (kept, never refused).
    OTHER = "OTHER"


class Side(enum.StrEnum):
    """The side of an execution as IB reports it."""

    BOUGHT = "BOT"
    SOLD = "SLD"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BOUGHT else -1


class ActionTaken(enum.StrEnum):
    PLACED = "PLACED"
    MODIFIED = "MODIFIED"
    CANCELLED = "CANCELLED"
    BRACKET = "BRACKET"
    CLOSED = "CLOSED"
    ROLLED = "ROLLED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    DRY_RUN = "DRY_RUN"


@dataclass(frozen=True, slots=True)
class ContractRef:
    """What an order trades. Positions key on ``con_id``: symbols change under corporate actions."""

    con_id: int
    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    multiplier: Decimal = Decimal(1)
    expiry: str | None = None
    strike: Decimal | None = None
    right: str | None = None
    local_symbol: str | None = None

    def __post_init__(self) -> None:
        if self.con_id < 0:
            raise InvalidOrderSpec("contract.con_id", f"must not be negative, got {self.con_id}")
        if not self.symbol and not self.con_id:
            raise InvalidOrderSpec("contract", "needs a con_id or a symbol")
        if not self.multiplier.is_finite() or self.multiplier <= 0:
            raise InvalidOrderSpec("contract.multiplier", f"must be > 0, got {self.multiplier}")
        _check_magnitude("contract.multiplier", self.multiplier)
        if self.right is not None and self.right not in ("C", "P"):
            raise InvalidOrderSpec("contract.right", f"must be C or P, got {self.right!r}")

    @property
    def allows_negative_prices(self) -> bool:
        # Combo (BAG) orders price the spread, which IB lets go below zero.
        return self.sec_type == "BAG"


def _check_magnitude(name: str, value: Decimal) -> None:
    # A refused order is still recorded (RiskDenied): a 1e30 would overflow the audit tables.
    if abs(value) >= MAX_MAGNITUDE:
        raise InvalidOrderSpec(name, f"must be below {MAX_MAGNITUDE:.0E}, got {value}")


def _check_price(name: str, value: Decimal | None, allow_negative: bool) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise InvalidOrderSpec(name, f"must be a finite number, got {value}")
    if value < 0 and not allow_negative:
        raise InvalidOrderSpec(name, f"must be >= 0, got {value}")
    _check_magnitude(name, value)


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """What we ask IB to do. ``validate`` is called on construction."""

    action: OrderAction
    quantity: Decimal
    order_type: OrderType = OrderType.LIMIT
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.DAY
    account: str = ""
    outside_rth: bool = False
    trailing_percent: Decimal | None = None
    oca_group: str = ""
    oca_type: int = 0
    transmit: bool = True
    good_till: str = ""
    # The price a strategy decided against (mid, last): the fill journal measures slippage on it.
    reference_price: Decimal | None = None
    allow_negative_prices: bool = False
    # Terms as a source reported them, which may be incomplete (a Flex statement carries no
    # limit or stop price). Facts are never refused, so an observed spec is held only to the
    # checks that make it a number: what a command must carry is not asked of it.
    observed: bool = False

    def __post_init__(self) -> None:
        # An observed quantity of 0 means IB gave none (a completedOrder after a restart can
        # carry totalQuantity 0 while its filledQuantity is not; cash-quantity orders): unknown,
        # not refused. A command's quantity must be positive.
        floor_ok = self.quantity >= 0 if self.observed else self.quantity > 0
        if not self.quantity.is_finite() or not floor_ok:
            raise InvalidOrderSpec("quantity", f"must be > 0, got {self.quantity}")
        _check_magnitude("quantity", self.quantity)
        neg = self.allow_negative_prices or self.observed
        _check_price("limit_price", self.limit_price, neg)
        _check_price("stop_price", self.stop_price, neg)
        _check_price("reference_price", self.reference_price, neg)
        if not self.observed:
            self._check_command_terms()

    def _check_command_terms(self) -> None:
        if self.order_type.needs_limit_price and self.limit_price is None:
            raise InvalidOrderSpec("limit_price", f"required for {self.order_type.value} orders")
        if self.order_type.needs_stop_price and self.stop_price is None:
            raise InvalidOrderSpec("stop_price", f"required for {self.order_type.value} orders")
        if self.order_type is OrderType.MARKET and self.limit_price is not None:
            raise InvalidOrderSpec("limit_price", "a market order carries no limit price")
        if self.order_type in (OrderType.TRAILING, OrderType.TRAILING_LIMIT) and (
            self.stop_price is None and self.trailing_percent is None
        ):
            raise InvalidOrderSpec(
                "stop_price", "a trailing order needs a trailing amount or trailing_percent"
            )
        if self.order_type is OrderType.TRAILING_LIMIT and self.limit_price is None:
            raise InvalidOrderSpec("limit_price", "required for TRAIL LIMIT orders (the offset)")
        if self.tif is TimeInForce.GTD and not self.good_till:
            raise InvalidOrderSpec("good_till", "required for GTD orders")
        if self.oca_type not in (0, 1, 2, 3):
            raise InvalidOrderSpec(
                "oca_type", f"must be 1, 2 or 3 (or 0 for none), got {self.oca_type}"
            )
        if self.oca_type and not self.oca_group:
            raise InvalidOrderSpec("oca_group", "an OCA type needs an OCA group")

    def with_changes(
        self,
        *,
        quantity: Decimal | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        transmit: bool | None = None,
        oca_group: str | None = None,
        oca_type: int | None = None,
    ) -> OrderSpec:
        """A modified copy, validated again."""
        return OrderSpec(
            action=self.action,
            quantity=self.quantity if quantity is None else quantity,
            order_type=self.order_type,
            limit_price=self.limit_price if limit_price is None else limit_price,
            stop_price=self.stop_price if stop_price is None else stop_price,
            tif=self.tif,
            account=self.account,
            outside_rth=self.outside_rth,
            trailing_percent=self.trailing_percent,
            oca_group=self.oca_group if oca_group is None else oca_group,
            oca_type=self.oca_type if oca_type is None else oca_type,
            transmit=self.transmit if transmit is None else transmit,
            good_till=self.good_till,
            reference_price=self.reference_price,
            allow_negative_prices=self.allow_negative_prices,
            observed=self.observed,
        )

    def in_account(self, account: str) -> OrderSpec:
        """The same terms in ``account``. Nothing the construction checks depends on the
        account, and these terms passed the checks: the copy is made without them (IB names the
        account of every order sent without one, in its first openOrder, and a fold of that
        runs for each such order)."""
        spec = object.__new__(OrderSpec)
        for set_field, value in zip(_SET_KEPT, _kept_terms(self), strict=True):
            set_field(spec, value)
        _set_account(spec, account)
        return spec


# The slots' own setters, which a frozen dataclass's ``__setattr__`` stands in front of.
_KEPT = tuple(name for name in OrderSpec.__slots__ if name != "account")
_kept_terms = attrgetter(*_KEPT)
_SET_KEPT = tuple(OrderSpec.__dict__[name].__set__ for name in _KEPT)
_set_account = OrderSpec.__dict__["account"].__set__


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill as IB reported it (``execDetails``)."""

    exec_id: str
    time: datetime | None
    account: str
    exchange: str
    side: Side
    shares: Decimal
    price: Decimal
    perm_id: int = 0
    client_id: int = 0
    order_id: int = 0
    cum_qty: Decimal | None = None
    avg_price: Decimal | None = None
    order_ref: str = ""
    liquidity: int = 0

    @property
    def base_id(self) -> str:
        return exec_base_id(self.exec_id)

    @property
    def revision(self) -> str:
        return exec_revision(self.exec_id)


def exec_base_id(exec_id: str) -> str:
    """IB corrects an execution by re-sending its execId with a higher suffix after the last
    dot (``…01.01`` → ``…01.02``): everything before that dot names the fill."""
    head, dot, _ = exec_id.rpartition(".")
    return head if dot else exec_id


def exec_revision(exec_id: str) -> str:
    _, dot, tail = exec_id.rpartition(".")
    return tail if dot else ""


@dataclass(frozen=True, slots=True)
class CommissionReport:
    """IB's ``commissionReport``. It carries no clientId and may come before, after or never."""

    exec_id: str
    commission: Decimal | None
    currency: str
    realized_pnl: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """What an execution-layer call did, for callers that must never see an exception."""

    success: bool
    action: ActionTaken
    order_ids: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None

    @classmethod
    def failed(cls, error: str, order_ids: tuple[str, ...] = ()) -> ExecutionResult:
        return cls(False, ActionTaken.FAILED, order_ids, error)
