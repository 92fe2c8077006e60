"""Whatever IB gave us to find the order a fact is about."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from ordertrail.domain.identity import is_client_order_id


class FactKey(NamedTuple):
    """A tuple rather than a frozen dataclass: the recorder makes one for nearly every message
    IB sends, and a tuple is built in one step where a frozen dataclass assigns each field
    through ``object.__setattr__`` (about half the time a key)."""

    order_ref: str | None = None
    perm_id: int | None = None
    client_id: int | None = None
    order_id: int | None = None
    # The order itself, when the caller has already identified it (an importer matching a
    # statement's rows against the store).
    order: UUID | None = None

    @property
    def client_order_id(self) -> str | None:
        return self.order_ref if is_client_order_id(self.order_ref) else None

    @property
    def alias(self) -> tuple[int, int] | None:
        # orderId 0 (orders placed by hand in TWS) and unset ids are not aliases: they collide.
        if self.client_id is None or self.order_id is None or self.order_id == 0:
            return None
        return (self.client_id, self.order_id)


class OrderNotFound(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(f"no order for {what}")
