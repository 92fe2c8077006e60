"""The one waiting room for early facts.

IB's messages come in any order: an execution or a status before the openOrder that names the
order, an error before anything else about an order IB rejected at submission, a commission
report before its execution. A fact whose order (or execution) is not known yet waits here and
is recorded as soon as it is; what never finds its order is handed back to the caller at the end
of a sync (an execution then makes its own order; an error goes to the session log).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ordertrail.adapters.trail.keys import FactKey
from ordertrail.domain.facts import OrderFact


@dataclass(frozen=True, slots=True)
class Waiting:
    key: FactKey
    fact: OrderFact
    # When it arrived: a fact that never finds its order is filed (the session log) as of
    # then, so a replay files it at the same time as the live run did.
    arrived: datetime | None = None


@dataclass(slots=True)
class WaitingRoom:
    facts: list[Waiting] = field(default_factory=list)

    def add(self, waiting: Waiting) -> None:
        self.facts.append(waiting)

    def __len__(self) -> int:
        return len(self.facts)

    def __iter__(self) -> Iterator[Waiting]:
        return iter(list(self.facts))

    def remove(self, waiting: Waiting) -> None:
        self.facts.remove(waiting)

    def copy(self) -> WaitingRoom:
        return WaitingRoom(list(self.facts))
