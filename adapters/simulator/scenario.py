"""Scenario: the market and broker set-up a simulator session starts from.

A scenario file is JSON; its schema is documented in docs/simulator.md. ``load_scenario`` names
the file and the offending field on any bad input, because users write these by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from .contracts import ContractError, Instrument, instrument_from_dict
from .tws_time import TwsTimeZone, UnknownTimeZone

MIN_SERVER_VERSION = 157
E = TypeVar("E", bound=StrEnum)
MAX_SERVER_VERSION = 178


class ScenarioError(ValueError):
    """A scenario file or value that cannot be used; the message names file and field."""


class BehaviourKind(StrEnum):
    ACCEPT = "accept"  # acknowledge and fill like any order (the other keys still apply)
    REJECT = "reject"  # error (201/200/103...) instead of an acknowledgement
    FILLS = "fills"  # acknowledge, then the listed (partial) fills
    STUCK = "stuck"  # PendingSubmit forever: no status is ever sent
    REST = "rest"  # acknowledge and never fill automatically
    INACTIVE = "inactive"  # acknowledge as Inactive with whyHeld; can still be filled


class CommissionTiming(StrEnum):
    WITH = "with"  # right after its execDetails (TWS's usual order)
    EARLY = "early"  # before its execDetails: ib_async cannot match it and drops it
    LATE = "late"  # after the order's status and openOrder that follow the execution
    HELD = "held"  # only when the control API releases it
    NEVER = "never"


class CancelError(StrEnum):
    """Where error 202 goes when a cancel request is confirmed."""

    AFTER = "after"  # Cancelled status, then 202
    BEFORE = "before"  # 202, then the Cancelled status
    NONE = "none"  # the Cancelled status only


@dataclass(frozen=True, slots=True)
class ScriptedFill:
    qty: Decimal
    price: Decimal | None = None  # None: the market price, or the limit if there is none


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the broker does with an order whose orderRef matches."""

    order_ref: str
    kind: BehaviourKind = BehaviourKind.ACCEPT
    code: int = 201
    text: str = ""
    inactive: bool = False  # reject: follow the error with an Inactive status
    why_held: str = ""
    fills: tuple[ScriptedFill, ...] = ()
    commission_timing: CommissionTiming = CommissionTiming.WITH
    # An error code (201, 110, ...) refusing every modification; the order keeps its terms.
    refuse_modify: int | None = None
    refuse_modify_text: str = ""
    # Cancel requests get PendingCancel only, until the control API confirms them.
    defer_cancel: bool = False
    # completedOrder reports this totalQuantity (IB's snapshot quirk: 0 with filled 26).
    completed_total_quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SessionMessage:
    """An error message not answering any request of the client: farm status, connectivity."""

    code: int
    text: str = ""
    req_id: int = -1


def _fresh_perm_base() -> int:
    import secrets

    # Below 2**31 (IB's permId is a Java int), leaving room for a million orders.
    return 100_000_000 + secrets.randbelow(2_000_000_000 - 100_000_000)


@dataclass(slots=True)
class Scenario:
    accounts: list[str] = field(default_factory=lambda: ["DU1234567"])
    server_version: int = MAX_SERVER_VERSION
    next_order_id: int = 1
    # IB's permIds (and the execIds built from them) are unique for the account forever; a
    # fresh base per simulator keeps runs that share one event store from colliding.
    first_perm_id: int = field(default_factory=lambda: _fresh_perm_base())
    cash: Decimal = Decimal(1_000_000)
    currency: str = "USD"
    commission_per_share: Decimal = Decimal("0.005")
    commission_minimum: Decimal = Decimal("1.00")
    auto_fill: bool = True
    prices: dict[str, Decimal] = field(default_factory=dict)
    prices_by_con_id: dict[int, Decimal] = field(default_factory=dict)
    behaviours: list[Behaviour] = field(default_factory=list)
    # Run "as a TWS in" this IANA zone: local connection time, zone-less execution times.
    time_zone: str | None = None
    time_zone_name: str = ""
    cancel_error: CancelError = CancelError.AFTER
    # Sent to every client right after it connects, as TWS sends its farm status (2104...).
    connect_messages: list[SessionMessage] = field(default_factory=list)
    # Known instruments; when any are listed, an order for another contract gets error 200.
    contracts: list[Instrument] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not MIN_SERVER_VERSION <= self.server_version <= MAX_SERVER_VERSION:
            raise ScenarioError(
                f"server_version {self.server_version} is outside "
                f"{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION}"
            )
        if not self.accounts:
            raise ScenarioError("accounts: at least one account is needed")
        try:
            self.tws_time_zone  # noqa: B018 - validates the zone name
        except UnknownTimeZone as exc:
            raise ScenarioError(f"time_zone: {exc}") from None

    @property
    def tws_time_zone(self) -> TwsTimeZone:
        return TwsTimeZone(self.time_zone, self.time_zone_name)

    def price_for(self, con_id: int, symbol: str) -> Decimal | None:
        if con_id and con_id in self.prices_by_con_id:
            return self.prices_by_con_id[con_id]
        return self.prices.get(symbol)

    def behaviour_for(self, order_ref: str) -> Behaviour | None:
        if not order_ref:
            return None
        return next((b for b in reversed(self.behaviours) if b.order_ref == order_ref), None)

    def commission_for(self, qty: Decimal) -> Decimal:
        return max(self.commission_per_share * qty, self.commission_minimum)


def load_scenario(path: Path | str) -> Scenario:
    """Read a scenario JSON file; raise ScenarioError naming the file and field on bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror}") from exc
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{path}: not valid JSON: {exc}") from exc
    try:
        return scenario_from_dict(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


_TOP_LEVEL = frozenset(
    {"accounts", "server_version", "next_order_id", "first_perm_id", "cash", "currency",
     "commission", "auto_fill", "prices", "prices_by_con_id", "behaviours", "time_zone",
     "time_zone_name", "cancel_error", "connect_messages", "contracts"}
)  # fmt: skip


def scenario_from_dict(data: object) -> Scenario:
    obj = _mapping(data, "(top level)")
    _no_unknown(obj, _TOP_LEVEL, "")
    scenario = Scenario()
    if "accounts" in obj:
        accounts = obj["accounts"]
        if not isinstance(accounts, list) or not all(isinstance(a, str) and a for a in accounts):
            raise ScenarioError("field 'accounts': expected a list of account ids")
        scenario.accounts = list(accounts)
    for name, read in _SCALARS.items():
        if name in obj:
            setattr(scenario, name, read(obj[name], name))
    if "commission" in obj:
        _commission(_mapping(obj["commission"], "commission"), scenario)
    _prices(obj, scenario)
    behaviours = obj.get("behaviours", [])
    if not isinstance(behaviours, list):
        raise ScenarioError("field 'behaviours': expected a list")
    scenario.behaviours = [_behaviour(b, f"behaviours[{i}]") for i, b in enumerate(behaviours)]
    _session_options(obj, scenario)
    scenario.__post_init__()
    return scenario


def _commission(com: Mapping[str, Any], scenario: Scenario) -> None:
    _no_unknown(com, frozenset({"per_share", "minimum"}), "commission.")
    if "per_share" in com:
        scenario.commission_per_share = _decimal(com["per_share"], "commission.per_share")
    if "minimum" in com:
        scenario.commission_minimum = _decimal(com["minimum"], "commission.minimum")


def _prices(obj: Mapping[str, Any], scenario: Scenario) -> None:
    for symbol, price in _mapping(obj.get("prices", {}), "prices").items():
        scenario.prices[symbol] = _decimal(price, f"prices.{symbol}")
    for key, price in _mapping(obj.get("prices_by_con_id", {}), "prices_by_con_id").items():
        con_id = _int(key, f"prices_by_con_id.{key} (key)")
        scenario.prices_by_con_id[con_id] = _decimal(price, f"prices_by_con_id.{key}")


def _session_options(obj: Mapping[str, Any], scenario: Scenario) -> None:
    if "time_zone" in obj:
        scenario.time_zone = _str(obj["time_zone"], "time_zone")
    if "time_zone_name" in obj:
        scenario.time_zone_name = _str(obj["time_zone_name"], "time_zone_name")
    if "cancel_error" in obj:
        scenario.cancel_error = _choice(CancelError, obj["cancel_error"], "cancel_error")
    messages = _list(obj.get("connect_messages", []), "connect_messages")
    scenario.connect_messages = [
        _session_message(m, f"connect_messages[{i}]") for i, m in enumerate(messages)
    ]
    contracts = _list(obj.get("contracts", []), "contracts")
    try:
        scenario.contracts = [
            instrument_from_dict(_mapping(c, f"contracts[{i}]"), f"contracts[{i}]")
            for i, c in enumerate(contracts)
        ]
    except ContractError as exc:
        raise ScenarioError(str(exc)) from None


def _session_message(data: object, where: str) -> SessionMessage:
    obj = _mapping(data, where)
    _no_unknown(obj, frozenset({"code", "text", "req_id"}), f"{where}.")
    return SessionMessage(
        code=_int(obj.get("code"), f"{where}.code"),
        text=_str(obj.get("text", ""), f"{where}.text"),
        req_id=_int(obj.get("req_id", -1), f"{where}.req_id"),
    )


_BEHAVIOUR_KEYS = frozenset(
    {"order_ref", "kind", "code", "text", "inactive", "why_held", "fills", "commission",
     "refuse_modify", "refuse_modify_text", "defer_cancel", "completed_total_quantity"}
)  # fmt: skip


def _behaviour(data: object, where: str) -> Behaviour:
    obj = _mapping(data, where)
    _no_unknown(obj, _BEHAVIOUR_KEYS, f"{where}.")
    kind = _choice(BehaviourKind, obj.get("kind", "accept"), f"{where}.kind")
    raw_fills = _list(obj.get("fills", []), f"{where}.fills")
    fills = []
    for i, item in enumerate(raw_fills):
        fill = _mapping(item, f"{where}.fills[{i}]")
        _no_unknown(fill, frozenset({"qty", "price"}), f"{where}.fills[{i}].")
        price = fill.get("price")
        fills.append(
            ScriptedFill(
                qty=_decimal(fill.get("qty"), f"{where}.fills[{i}].qty"),
                price=None if price is None else _decimal(price, f"{where}.fills[{i}].price"),
            )
        )
    if kind is BehaviourKind.FILLS and not fills:
        raise ScenarioError(f"field '{where}.fills': a 'fills' behaviour needs a list of fills")
    timing = _choice(CommissionTiming, obj.get("commission", "with"), f"{where}.commission")
    refuse = obj.get("refuse_modify")
    completed_qty = obj.get("completed_total_quantity")
    return Behaviour(
        order_ref=_str(obj.get("order_ref"), f"{where}.order_ref"),
        kind=kind,
        code=_int(obj.get("code", 201), f"{where}.code"),
        text=_str(obj.get("text", ""), f"{where}.text"),
        inactive=_bool(obj.get("inactive", False), f"{where}.inactive"),
        why_held=_str(obj.get("why_held", ""), f"{where}.why_held"),
        fills=tuple(fills),
        commission_timing=timing,
        refuse_modify=None if refuse is None else _int(refuse, f"{where}.refuse_modify"),
        refuse_modify_text=_str(obj.get("refuse_modify_text", ""), f"{where}.refuse_modify_text"),
        defer_cancel=_bool(obj.get("defer_cancel", False), f"{where}.defer_cancel"),
        completed_total_quantity=None
        if completed_qty is None
        else _decimal(completed_qty, f"{where}.completed_total_quantity"),
    )


def _choice(enum: type[E], value: object, where: str) -> E:
    text = _str(value, where)
    try:
        return enum(text)
    except ValueError:
        choices = ", ".join(member.value for member in enum)
        raise ScenarioError(f"field '{where}': {text!r} is not one of {choices}") from None


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ScenarioError(f"field '{where}': expected a list")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"field '{where}': expected an object")
    return value


def _no_unknown(obj: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ScenarioError(f"field '{prefix}{unknown[0]}': unknown field")


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"field '{where}': expected a string, got {value!r}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"field '{where}': expected true or false, got {value!r}")
    return value


def _int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise ScenarioError(f"field '{where}': expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ScenarioError(f"field '{where}': expected an integer, got {value!r}")


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str | float):
        raise ScenarioError(f"field '{where}': expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ScenarioError(f"field '{where}': expected a number, got {value!r}") from None
    if not number.is_finite():
        raise ScenarioError(f"field '{where}': expected a finite number, got {value!r}")
    return number


# The top-level fields that are one value each, named as the scenario's attributes.
_SCALARS: dict[str, Callable[[object, str], Any]] = {
    "server_version": _int,
    "next_order_id": _int,
    "first_perm_id": _int,
    "cash": _decimal,
    "currency": _str,
    "auto_fill": _bool,
}
