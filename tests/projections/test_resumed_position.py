"""A position resumed from its stored running state, as an update holds it: late fills,
corrections and busts among the fills it took since refold from the resumed run; a fact at or
before its last stored fill swaps it for the position refolded from its stored fills, with what
it took since replayed onto that. Either way every figure is the Decimal a fresh fold of the
current fills gives."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.projections.positions import CHECKPOINT, Position, PositionFill
from tests.projections.helpers import at

D = Decimal


def _empty(multiplier: Decimal) -> Position:
    return Position("U1", 1, "live", "X", "STK", "USD", multiplier)


Commissions = dict[str, tuple[Decimal, str]]


def _fresh(fills: dict[str, PositionFill], multiplier: Decimal, paid: Commissions) -> Position:
    p = _empty(multiplier)
    for f in sorted(fills.values(), key=lambda f: f.sort_key):
        p.add(f)
        if f.base_id in paid:
            p.set_commission(f.base_id, *paid[f.base_id])
    return p


class Update:
    """The fold's protocol (``fold.py``): ask ``needs_fills`` before each fact, swap in the
    refold of the stored fills when it says so."""

    def __init__(
        self, stored: dict[str, PositionFill], multiplier: Decimal, paid: Commissions
    ) -> None:
        self.stored = dict(stored)
        self.paid = dict(paid)
        self.multiplier = multiplier
        self.pos = _empty(multiplier)
        self.pos.resume(_fresh(stored, multiplier, paid).running_state())
        self.refolds = 0

    def _full(self) -> Position:
        full = _fresh(self.stored, self.multiplier, self.paid)
        self.pos.replay_onto(full)
        self.refolds += 1
        self.pos = full
        return full

    def add(self, fill: PositionFill) -> None:
        pos = self._full() if self.pos.needs_fills(fill.sort_key) else self.pos
        pos.add(fill)

    def replace(self, fill: PositionFill) -> None:
        needs = self.pos.needs_fills(fill.sort_key, fill.base_id)
        pos = self._full() if needs else self.pos
        pos.replace(fill)

    def remove(self, base: str) -> None:
        pos = self._full() if self.pos.needs_fills(base_id=base) else self.pos
        pos.set_commission(base, None, "")
        pos.remove(base)

    def commission(
        self, base: str, was: tuple[Decimal, str] | None, amount: Decimal, currency: str
    ) -> None:
        if self.pos.needs_fills(base_id=base):
            self.pos.rebook(base, was, amount, currency)
        else:
            self.pos.set_commission(base, amount, currency)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_facts_at_random_depth_after_a_resume_equal_a_fresh_fold(data: st.DataObject) -> None:
    """A long stored position (across checkpoint blocks, flips, a multiplier), resumed; then
    new fills, late fills, corrections and busts at random depth (among the new fills or the
    stored ones) and commissions in two currencies."""
    multiplier = data.draw(st.sampled_from([D(1), D(50), D("0.01")]), label="multiplier")
    qty = st.integers(-40, 40).filter(bool).map(D)
    price = st.integers(9_500, 10_500).map(lambda p: D(p) / 100)
    n_stored = data.draw(st.integers(0, 2 * CHECKPOINT + 5), label="stored fills")
    current = {
        f"s{n}": PositionFill(f"s{n}", (at(n), f"s{n}"), data.draw(qty), data.draw(price))
        for n in range(n_stored)
    }
    commissions: Commissions = {}
    for base in current:
        if data.draw(st.booleans(), label="stored commission"):
            commissions[base] = (D(35) / 100, data.draw(st.sampled_from(["USD", "EUR"])))
    update = Update(current, multiplier, commissions)
    t = n_stored
    only_new = True  # no fact so far reached a stored fill
    for k in range(data.draw(st.integers(1, 30), label="facts")):
        op = data.draw(st.sampled_from(["fill", "fill", "late", "correct", "bust", "commission"]))
        bases = sorted(current, key=lambda b: current[b].sort_key)
        if op == "fill" or not bases:
            fill = PositionFill(f"n{k}", (at(t), f"n{k}"), data.draw(qty), data.draw(price))
            t += 1
            update.add(fill)
            current[fill.base_id] = fill
            continue
        # Half the facts land among the last few fills, the others anywhere.
        base = data.draw(st.sampled_from(bases[-4:]) | st.sampled_from(bases), label="fill")
        when = current[base].sort_key[0].timestamp() - at(0).timestamp() + 0.5
        only_new = only_new and (base.startswith("n") or op == "commission")
        if op == "late":
            fill = PositionFill(f"l{k}", (at(when), f"l{k}"), data.draw(qty), data.draw(price))
            update.add(fill)
            current[fill.base_id] = fill
        elif op == "correct":
            fill = PositionFill(base, (at(when - 0.25), base), data.draw(qty), data.draw(price))
            update.replace(fill)
            current[base] = fill
        elif op == "bust":
            update.remove(base)
            del current[base]
            commissions.pop(base, None)
        else:
            amount = D(data.draw(st.integers(1, 500))) / 100
            currency = data.draw(st.sampled_from(["USD", "USD", "EUR"]))
            update.commission(base, commissions.get(base), amount, currency)
            commissions[base] = (amount, currency)
    fresh = _fresh(current, multiplier, commissions)
    pos = update.pos
    for base, effect in pos.effects.items():
        assert effect == fresh.effects[base], base
    assert set(pos.effects) >= {b for b in current if not b.startswith("s")}
    assert pos.running_state() == fresh.running_state()
    if only_new:
        # Nothing but commissions reached a stored fill: the update never read them.
        assert update.refolds == 0
