"""A small trading desk over a real SQLite event store, for the projection tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionBust,
    ExecutionReport,
    OrderObserved,
    Origin,
    StatusReport,
)
from ordertrail.domain.values import (
    CommissionReport,
    ContractRef,
    Execution,
    OrderAction,
    OrderSpec,
    OrderType,
    Side,
)
from ordertrail.projections.api import Audit
from tests.conftest import EPOCH, Clock

AAPL = ContractRef(265598, "AAPL")
ES = ContractRef(495512563, "ES", sec_type="FUT", exchange="CME", multiplier=Decimal(50))
SAP = ContractRef(14204, "SAP", exchange="IBIS", currency="EUR")

D = Decimal


class Desk:
    """Places orders and reports IB's facts about them, one second apart on the recorded
    clock; executions carry IB times chosen by the test."""

    def __init__(self, data: Path, account: str = "U1") -> None:
        self.config = StoreConfig.resolve(data)
        self.clock = Clock(step=timedelta(seconds=1))
        self.trail = OrderTrail(self.config, clock=self.clock)
        self.account = account
        self._ids = itertools.count(1)
        self._perm = itertools.count(1000)
        self.keys: dict[str, FactKey] = {}

    def audit(self, **kw: Any) -> Audit:
        return Audit(self.config, **kw)

    @property
    def now(self) -> datetime:
        return self.clock.now

    def place(
        self,
        coid: str,
        action: OrderAction = OrderAction.BUY,
        quantity: int | str = 100,
        *,
        contract: ContractRef = AAPL,
        order_type: OrderType = OrderType.LIMIT,
        limit: str | None = "10",
        stop: str | None = None,
        parent: str | None = None,
        oca: str = "",
        oca_type: int = 0,
        reference: str | None = None,
        account: str | None = None,
        submit: bool = True,
    ) -> UUID:
        spec = OrderSpec(
            action,
            D(quantity),
            order_type,
            limit_price=D(limit) if limit is not None and order_type.needs_limit_price else None,
            stop_price=D(stop) if stop is not None else None,
            account=account or self.account,
            oca_group=oca,
            oca_type=oca_type,
            reference_price=D(reference) if reference is not None else None,
        )
        oid = self.trail.place(
            client_order_id=coid,
            contract=contract,
            spec=spec,
            parent_key=f"coid:{parent}" if parent else None,
        )
        order_id = next(self._ids)
        self.keys[coid] = FactKey(
            order_ref=coid, perm_id=next(self._perm), client_id=1, order_id=order_id
        )
        if submit:
            self.trail.submit(oid, client_id=1, order_id=order_id)
        return oid

    def entered_by_hand(self, name: str, action: OrderAction, quantity: int, limit: str) -> UUID:
        """An order someone typed into TWS: IB shows it with clientId 0 and a permId only."""
        perm = next(self._perm)
        spec = OrderSpec(
            action, D(quantity), OrderType.LIMIT, limit_price=D(limit), account=self.account
        )
        oid = self.trail.observe(
            OrderObserved(contract=AAPL, spec=spec, origin=Origin.MANUAL, perm_id=perm)
        )
        self.keys[name] = FactKey(perm_id=perm)
        return oid

    def status(self, coid: str, raw: str, filled: int | str = 0, remaining: int | str = 0) -> None:
        self.trail.record(
            self.keys[coid],
            StatusReport(
                raw_status=raw,
                filled=D(filled),
                remaining=D(remaining),
                avg_fill_price=None,
                perm_id=self.keys[coid].perm_id,
            ),
        )

    def fill(
        self,
        coid: str,
        exec_id: str,
        shares: int | str,
        price: str,
        *,
        at: datetime | None = None,
        side: Side | None = None,
        account: str | None = None,
        commission: str | None = None,
        currency: str = "USD",
    ) -> None:
        key = self.keys[coid]
        state = self.trail.get(self.trail.require(key)).state
        if side is None:
            side = Side.BOUGHT if state.spec.action is OrderAction.BUY else Side.SOLD
        self.trail.record(
            key,
            ExecutionReport(
                Execution(
                    exec_id=exec_id,
                    time=at,
                    account=account or state.spec.account,
                    exchange="ISLAND",
                    side=side,
                    shares=D(shares),
                    price=D(price),
                    perm_id=key.perm_id or 0,
                    client_id=1,
                    order_id=key.order_id or 0,
                    order_ref=coid,
                )
            ),
        )
        if commission is not None:
            self.trail.record(
                None, CommissionReported(CommissionReport(exec_id, D(commission), currency))
            )

    def bust(self, coid: str, exec_id: str) -> None:
        self.trail.record(self.keys[coid], ExecutionBust(exec_id, reason="TradeCancel"))

    def error(self, coid: str, code: int, message: str) -> None:
        self.trail.record(self.keys[coid], ErrorReport(code=code, message=message))


def at(seconds: float) -> datetime:
    """An IB time, ``seconds`` after the tests' epoch."""
    return EPOCH + timedelta(seconds=seconds)


def one(frame: pl.DataFrame, **match: Any) -> dict[str, Any]:
    rows = frame.filter(*(pl.col(k) == v for k, v in match.items())).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


def dec(value: Any) -> Decimal:
    return Decimal(str(value)).normalize()
