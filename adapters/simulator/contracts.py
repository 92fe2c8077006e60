"""The instruments a scenario knows, and how a client's contract description resolves to them.

TWS resolves every contract an order or a contract-details request describes: a conId names
one instrument; otherwise symbol, secType, currency, exchange, primaryExchange and localSymbol
narrow the candidates. No candidate is error 200 "No security definition"; for an order, more
than one is error 200 too ("ambiguous"), while reqContractDetails lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

NO_DEFINITION = "No security definition has been found for the request"


class ContractError(ValueError):
    """An instrument in a scenario that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class Instrument:
    con_id: int
    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""
    long_name: str = ""
    min_tick: Decimal = Decimal("0.01")
    time_zone_id: str = "US/Eastern"

    @property
    def valid_exchanges(self) -> str:
        venues = [self.exchange, self.primary_exchange]
        return ",".join(dict.fromkeys(v for v in venues if v))

    def contract_fields(self) -> dict[str, str]:
        """The fields TWS fills in when it echoes a resolved contract (ib_async's names)."""
        return {
            "conId": str(self.con_id),
            "symbol": self.symbol,
            "secType": self.sec_type,
            "primaryExchange": self.primary_exchange,
            "currency": self.currency,
            "localSymbol": self.local_symbol or self.symbol,
            "tradingClass": self.trading_class or self.symbol,
        }

    def matches(self, wanted: Mapping[str, str]) -> bool:
        con_id = wanted.get("conId", "")
        if con_id not in ("", "0"):
            return con_id == str(self.con_id)
        exchange = wanted.get("exchange", "")
        if exchange and exchange not in (self.exchange, self.primary_exchange, "SMART"):
            return False
        checks = (
            ("symbol", self.symbol),
            ("secType", self.sec_type),
            ("currency", self.currency),
            ("primaryExchange", self.primary_exchange),
            ("localSymbol", self.local_symbol or self.symbol),
        )
        return bool(wanted.get("symbol")) and all(
            wanted.get(name, "") in ("", actual) for name, actual in checks
        )


def resolve(instruments: list[Instrument], wanted: Mapping[str, str]) -> list[Instrument]:
    return [i for i in instruments if i.matches(wanted)]


def ambiguous_text(symbol: str) -> str:
    return f"The contract description specified for {symbol} is ambiguous."


_KEYS = {
    "con_id", "symbol", "sec_type", "exchange", "primary_exchange", "currency",
    "local_symbol", "trading_class", "long_name", "min_tick", "time_zone_id",
}  # fmt: skip


def instrument_from_dict(obj: Mapping[str, Any], where: str) -> Instrument:
    """Read one scenario ``contracts`` entry; raise ContractError naming the bad field."""
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise ContractError(f"field '{where}.{unknown[0]}': unknown field")
    con_id = obj.get("con_id")
    if isinstance(con_id, bool) or not isinstance(con_id, int) or con_id <= 0:
        raise ContractError(f"field '{where}.con_id': expected a positive integer, got {con_id!r}")
    texts: dict[str, str] = {}
    for key in _KEYS - {"con_id", "min_tick"}:
        value = obj.get(key, "")
        if not isinstance(value, str):
            raise ContractError(f"field '{where}.{key}': expected a string, got {value!r}")
        if value:
            texts[key] = value
    if "symbol" not in texts:
        raise ContractError(f"field '{where}.symbol': a contract needs a symbol")
    try:
        min_tick = Decimal(str(obj.get("min_tick", "0.01")))
    except InvalidOperation:
        raise ContractError(f"field '{where}.min_tick': expected a number") from None
    return Instrument(con_id=con_id, min_tick=min_tick, **texts)
