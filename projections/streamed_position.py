"""The rebuild's route for a position whose fills came in execution order: the same
``PositionRun.apply`` as ``Position``, without the fills, checkpoints and per-fill objects a
refold needs (docs/adr/0094-streamed-positions.md).

IB almost always reports a position's executions in the order it executed them, and corrects an
execution right after it (a new execId suffix, seconds later). A rebuild knows each position's
operations in advance, in log order: as long as each fill comes after the last one (IB's time,
then execId) and each correction replaces the last fill without moving it before the one
before, the fold never looks back further than the last fill, and stepping back over that one
(``PositionRun.revert``) is all a correction needs. Anything else — a late fill, a correction of
an earlier fill or one that moves it, a bust — raises ``OutOfOrder``, and the position is folded
again by ``Position``, from its first operation (``position_pass``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ordertrail.projections.history_batch import EMPTY, HistoryBatch, State
from ordertrail.projections.position_run import (
    ZERO,
    FillEffect,
    PositionRun,
    Undo,
    book_commission,
)
from ordertrail.projections.positions import PositionName, SortKey, running_state
from ordertrail.projections.records import Row

ADD, REPLACE, REMOVE, COMMISSION = range(4)


class OutOfOrder(Exception):
    """An operation only a refold can take (see the module docstring)."""


@dataclass(slots=True)
class StreamedPosition(PositionName):
    """One position folded from operations in log order, fills in execution order."""

    run: PositionRun = field(default_factory=PositionRun)
    undo: list[Undo] = field(default_factory=list)  # how to step back over the last fill
    last: SortKey | None = None
    last_base: str = ""
    before_last: SortKey | None = None
    fills: int = 0
    commissions: dict[str, Decimal] = field(default_factory=dict)
    commission: Decimal = ZERO
    foreign: set[str] = field(default_factory=set)
    key_columns: Row = ()  # the columns that name the position, once

    def add(self, base: str, key: SortKey, qty: Decimal, price: Decimal) -> FillEffect:
        last = self.last
        if last is not None and not last < key:
            raise OutOfOrder(base)
        self.undo.clear()
        effect = self.run.apply(qty, price, self.multiplier, self.undo)
        self.before_last, self.last, self.last_base = last, key, base
        self.fills += 1
        return effect

    def replace(self, base: str, key: SortKey, qty: Decimal, price: Decimal) -> FillEffect:
        before = self.before_last
        if base != self.last_base or not self.undo or (before is not None and not before < key):
            raise OutOfOrder(base)
        self.run.revert(self.undo.pop())
        effect = self.run.apply(qty, price, self.multiplier, self.undo)
        self.last = key
        return effect

    def set_commission(self, base: str, amount: Decimal | None, currency: str) -> None:
        self.commission = book_commission(
            self.commissions, self.foreign, self.commission, base, amount, currency,
            self.currency,
        )  # fmt: skip

    def __post_init__(self) -> None:
        self.key_columns = (self.account, self.con_id, self.origin, self.symbol, self.sec_type,
                            self.currency, self.multiplier)  # fmt: skip

    def running_state(self) -> str:
        return running_state(self.run, self.commission, len(self.foreign), self.fills, self.last)


# Where a streamed fold's output goes: a fill's effect (notification id, execId base, effect),
# and history rows, a batch at a time.
EffectOut = Callable[[int, str, FillEffect], None]
HistoryOut = Callable[[HistoryBatch], None]


@dataclass(slots=True)
class StreamedFold:
    """One position's operations folded by ``StreamedPosition``; ``done`` counts the
    operations whose history row and effects went out (all of them unless ``OutOfOrder``)."""

    position: StreamedPosition
    effect_out: EffectOut
    history_out: HistoryOut
    batch: int
    done: int = 0
    state: State = (*EMPTY, 0, None)
    nid: int = 0
    ts: Any = None

    def run(self, ops: Iterable[Any]) -> None:
        history = HistoryBatch(self.position.key_columns, self.state)
        try:
            for op in ops:
                self._step(op, history)
                if len(history.at) >= self.batch:
                    self._out(history)
                    history = HistoryBatch(self.position.key_columns, self.state)
        finally:
            self._out(history)

    def _out(self, history: HistoryBatch) -> None:
        if history.at:
            self.history_out(history)
            self.done += len(history.at)

    def _step(self, op: Any, history: HistoryBatch) -> None:
        nid, kind = op[0], op[1]
        base, ts_ib, qty, price, has_c, amount, ccy, cause, exec_id, ts_event, ts = op[9:]
        pos = self.position
        if kind == COMMISSION:
            pos.set_commission(base, amount, ccy)
        elif kind == REMOVE:
            raise OutOfOrder(base)
        else:
            key = (ts_ib, base)
            effect = (pos.add if kind == ADD else pos.replace)(base, key, qty, price)
            if has_c:
                pos.set_commission(base, amount, ccy)
            self.effect_out(nid, base, effect)
            # FillEffect's fields from quantity on are the position's figures.
            self.state = (*effect[2:], pos.fills, ts_ib)
            history.states.append(self.state)
        self.nid, self.ts = nid, ts
        history.at.append(len(history.states) - 1)
        history.rest.append(
            (pos.commission, len(pos.foreign), nid, cause, exec_id, ts_event, ts, ts.date())
        )

    def row(self) -> Row:
        """The ``positions`` row after the last operation."""
        pos, state = self.position, self.state
        return (
            *pos.key_columns, *state[:5], pos.commission, len(pos.foreign), *state[5:],
            self.ts, self.nid, pos.running_state(),
        )  # fmt: skip
