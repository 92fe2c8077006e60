"""Positions folded from current executions: signed quantity, average cost and FIFO realized PnL.

FIFO is the headline ``realized_pnl`` because IB's statements (Activity, Flex) realize PnL
first-in-first-out: a FIFO figure reconciles line by line with what the broker reports. The
average-cost figure is kept beside it (``realized_pnl_avg``) because many traders reason in
average cost; the two agree on every round trip that closes the whole position.

A position is the fold of its fills in execution order (IB's time, then execId). Fills usually
arrive in that order and are applied in O(1); a late fill, a correction or a bust changes every
figure after it, so the position is then folded again from a checkpoint before it. Both paths
run the same ``PositionRun.apply``, which is what makes incremental and rebuilt projections
equal.
"""

from __future__ import annotations

import bisect
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial

from ordertrail.projections.position_run import (
    ZERO,
    FillEffect,
    Lot,
    PositionRun,
    Undo,
    book_commission,
)

__all__ = ["ZERO", "FillEffect", "Lot", "MissingStoredFill", "Position", "PositionFill",
           "PositionRun", "SortKey", "Undo"]  # fmt: skip

# (execution time on IB's clock, falling back to the recorded time; execId base)
SortKey = tuple[datetime, str]


def _text(x: Decimal) -> str:
    """One text per value (``10`` and ``10.0000000000`` are one price): a position resumed
    from the tables and one folded from the events store the same running state."""
    return format(x.normalize(), "f") if x else "0"


def running_state(
    run: PositionRun, commission: Decimal, foreign: int, fills: int, last: SortKey | None
) -> str:
    """A position's running state as the ``positions`` row stores it (``Position.resume``)."""
    scalars = (run.quantity, run.avg_cost, run.realized, run.realized_avg, run.lots_notional)
    return json.dumps(
        {
            "run": [_text(v) for v in scalars],
            "lots": [[_text(lot.quantity), _text(lot.price)] for lot in run.lots],
            "commission": _text(commission),
            "foreign": foreign,
            "fills": fills,
            "last": None if last is None else [last[0].isoformat(), last[1]],
        }
    )


class MissingStoredFill(LookupError):
    """A fill a late fact changes is not among the position's stored fills: its row was left
    out of the tables (an identifier past 64 bits) or a table lost it. The tables are then
    recomputed from the log, which has every fill."""


@dataclass(frozen=True, slots=True)
class PositionFill:
    """A current execution as its position sees it."""

    base_id: str
    sort_key: SortKey
    quantity: Decimal  # signed: bought > 0
    price: Decimal


# A fill that lands before the last one refolds the position from the nearest checkpoint at or
# before it, so a correction costs O(CHECKPOINT + fills after it), not O(all fills). Within the
# last block the run steps back over the fills after it instead (``Position.undo``): IB's
# corrections usually follow the fill they correct within seconds, so the common correction
# costs O(fills after it).
CHECKPOINT = 64


def _key(f: PositionFill) -> SortKey:
    return f.sort_key


@dataclass(slots=True)
class PositionName:
    """What names a position (account, conId — symbols change — and the origin of its orders:
    live, dry-run, flex...) and the contract terms its figures are computed with."""

    account: str
    con_id: int
    origin: str
    symbol: str
    sec_type: str
    currency: str
    multiplier: Decimal

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.account, self.con_id, self.origin)


@dataclass(slots=True)
class Position(PositionName):
    """One account's position in one contract from orders of one origin, refolded from its
    fills when a late fill, a correction or a bust lands among them."""

    fills: list[PositionFill] = field(default_factory=list)
    effects: dict[str, FillEffect] = field(default_factory=dict)
    run: PositionRun = field(default_factory=PositionRun)
    # checkpoints[i] is the run before fills[i * CHECKPOINT].
    checkpoints: list[PositionRun] = field(default_factory=list)
    sort_keys: dict[str, SortKey] = field(default_factory=dict)
    # Commissions reported in the position's currency; others are counted, not added.
    commissions: dict[str, Decimal] = field(default_factory=dict)
    commission: Decimal = ZERO
    foreign_commissions: set[str] = field(default_factory=set)
    # How to step back over each fill applied since the last checkpoint (at most CHECKPOINT).
    undo: list[Undo] = field(default_factory=list)
    # A position resumed from its running state (``resume``) holds the run after its stored
    # fills, not the fills themselves: ``fills`` are only those it took since, and the resumed
    # run is its first checkpoint. So a late fill, a correction or a bust among the fills it
    # took since refolds from that run, not from the position's first fill (IB corrects a fill
    # within seconds: usually in the same update). A fact at or before its last stored fill
    # needs the stored fills (``needs_fills``): the fold swaps it for the position refolded
    # from them, replaying ``since`` onto it.
    resumed: bool = False
    prior_fills: int = 0
    prior_foreign: int = 0
    prior_last: SortKey | None = None
    since: list[Callable[[Position], object]] = field(default_factory=list)

    @property
    def fill_count(self) -> int:
        return self.prior_fills + len(self.fills)

    @property
    def foreign_count(self) -> int:
        return self.prior_foreign + len(self.foreign_commissions)

    def _last_key(self) -> SortKey | None:
        return self.fills[-1].sort_key if self.fills else self.prior_last

    def needs_fills(self, sort_key: SortKey | None = None, base_id: str | None = None) -> bool:
        """Whether adding a fill at ``sort_key``, changing fill ``base_id`` (a bust, a
        commission), or both (a correction moving it to ``sort_key``) needs the stored fills: a
        resumed position has the run after them and the fills it took since, nothing before."""
        if not self.resumed:
            return False
        if base_id is not None and base_id not in self.sort_keys:
            return True
        if sort_key is None:
            return base_id is None
        prior = self.prior_last
        return prior is not None and not prior < sort_key

    def add(self, fill: PositionFill) -> list[str]:
        """Add a fill; returns the execIds (base) whose effect changed."""
        fills = self.fills
        if self.resumed:
            if self.needs_fills(fill.sort_key):
                raise ValueError("a fill before the last stored one needs the stored fills")
            self.since.append(partial(Position.add, fill=fill))
        last = self._last_key()
        if last is None or last < fill.sort_key:
            self.sort_keys[fill.base_id] = fill.sort_key
            n = len(fills)
            # A refold after a bust can leave the checkpoint for index n in place already.
            if n % CHECKPOINT == 0 and n // CHECKPOINT == len(self.checkpoints):
                self.checkpoints.append(self.run.copy())
                self.undo.clear()
            fills.append(fill)
            self.effects[fill.base_id] = self.run.apply(
                fill.quantity, fill.price, self.multiplier, self.undo
            )
            return [fill.base_id]
        self.sort_keys[fill.base_id] = fill.sort_key
        at = bisect.bisect_left(self.fills, fill.sort_key, key=_key)
        self.fills.insert(at, fill)
        return self._refold(at)

    def _take(self, base_id: str) -> int:
        key = self.sort_keys.pop(base_id, None)
        if key is None:
            raise MissingStoredFill(base_id)
        at = bisect.bisect_left(self.fills, key, key=_key)
        del self.fills[at]
        self.effects.pop(base_id, None)
        return at

    def remove(self, base_id: str) -> list[str]:
        """Remove a busted fill; returns the execIds whose effect changed."""
        if self.resumed:
            if self.needs_fills(base_id=base_id):
                raise ValueError("a bust of a stored fill needs the position's stored fills")
            self.since.append(partial(Position.remove, base_id=base_id))
        return self._refold(self._take(base_id))

    def replace(self, fill: PositionFill) -> list[str]:
        """A corrected fill replaces the one with the same execId base."""
        if self.resumed:
            if self.needs_fills(fill.sort_key, fill.base_id):
                raise ValueError("a correction of a stored fill needs the position's stored fills")
            self.since.append(partial(Position.replace, fill=fill))
        at = self._take(fill.base_id)
        self.sort_keys[fill.base_id] = fill.sort_key
        new = bisect.bisect_left(self.fills, fill.sort_key, key=_key)
        self.fills.insert(new, fill)
        changed = self._refold(min(at, new))
        return changed if fill.base_id in changed else [*changed, fill.base_id]

    def _refold(self, start: int) -> list[str]:
        """Fold again from ``fills[start]`` (the fills before it are unchanged)."""
        undo = self.undo
        last = (len(self.checkpoints) - 1) * CHECKPOINT
        if start >= last:
            # Step back over the fills applied after ``start`` (undo covers [last, applied)).
            while last + len(undo) > start:
                self.run.revert(undo.pop())
        else:
            block = start // CHECKPOINT
            del self.checkpoints[block + 1 :]
            self.run = self.checkpoints[block].copy()
            undo.clear()
            start = block * CHECKPOINT
        changed: list[str] = []
        run, multiplier, effects = self.run, self.multiplier, self.effects
        for i in range(start, len(self.fills)):
            if i % CHECKPOINT == 0 and i // CHECKPOINT >= len(self.checkpoints):
                self.checkpoints.append(run.copy())
                undo.clear()
            f = self.fills[i]
            effect = run.apply(f.quantity, f.price, multiplier, undo)
            if effects.get(f.base_id) != effect:
                effects[f.base_id] = effect
                changed.append(f.base_id)
        return changed

    def set_commission(self, base_id: str, amount: Decimal | None, currency: str) -> None:
        if self.resumed:
            if base_id not in self.sort_keys:
                raise ValueError("a stored fill's commission needs the position's stored fills")
            self.since.append(
                partial(Position.set_commission, base_id=base_id, amount=amount, currency=currency)
            )
        self.commission = book_commission(
            self.commissions, self.foreign_commissions, self.commission, base_id, amount,
            currency, self.currency,
        )  # fmt: skip

    def rebook(
        self,
        base_id: str,
        was: tuple[Decimal | None, str] | None,
        amount: Decimal | None,
        currency: str,
    ) -> None:
        """A resumed position: the commission of stored fill ``base_id``, booked as ``was``
        (amount, currency; None: none yet), becomes ``amount`` in ``currency``. The total and
        the count of commissions in another currency move as ``set_commission`` would move
        them; the fill's figures do not change, so its stored fills are not needed."""
        booked: dict[str, Decimal] = {}
        foreign: set[str] = set()
        if was is not None:
            # Where the position holds it: in its total, or counted in another currency.
            book_commission(booked, foreign, ZERO, base_id, *was, self.currency)
        counted = len(foreign)
        self.commission = book_commission(
            booked, foreign, self.commission, base_id, amount, currency, self.currency
        )
        self.prior_foreign += len(foreign) - counted
        self.since.append(
            partial(Position.set_commission, base_id=base_id, amount=amount, currency=currency)
        )

    @property
    def quantity(self) -> Decimal:
        return self.run.quantity

    @property
    def avg_cost(self) -> Decimal | None:
        return self.run.avg_cost if self.run.quantity else None

    @property
    def fifo_cost(self) -> Decimal | None:
        q = self.run.quantity
        return self.run.lots_notional / q if q else None

    @property
    def realized_pnl(self) -> Decimal:
        return self.run.realized

    @property
    def realized_pnl_avg(self) -> Decimal:
        return self.run.realized_avg

    @property
    def last_fill_time(self) -> datetime | None:
        last = self._last_key()
        return last[0] if last is not None else None

    # ---- the running state, stored with the position's row -----------------------------------

    def running_state(self) -> str:
        """What a later update needs to go on from here without the fills: exact, as text."""
        return running_state(
            self.run, self.commission, self.foreign_count, self.fill_count, self._last_key()
        )

    def resume(self, state: str) -> None:
        """Take the running state ``running_state`` wrote (this position must be empty)."""
        d = json.loads(state)
        q, avg, realized, realized_avg, notional = (Decimal(v) for v in d["run"])
        lots = deque(Lot(Decimal(lq), Decimal(lp)) for lq, lp in d["lots"])
        self.run = PositionRun(q, avg, realized, realized_avg, lots, notional)
        self.commission = Decimal(d["commission"])
        self.prior_foreign = d["foreign"]
        self.prior_fills = d["fills"]
        last = d["last"]
        self.prior_last = None if last is None else (datetime.fromisoformat(last[0]), last[1])
        self.resumed = True

    def replay_onto(self, full: Position) -> None:
        """Apply what this resumed position took since its stored state to ``full`` (the same
        position refolded from its stored fills)."""
        for step in self.since:
            step(full)
