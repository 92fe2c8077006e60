"""Durable identity of orders.

Orders we place carry our client order id in IB's ``orderRef``; IB echoes it in openOrder,
executions and Flex statements. Orders we did not place are keyed by ``permId``. The
(clientId, orderId) pair is only a session-local alias: IB reuses orderIds across sessions.
Aggregate ids are uuid5 of the durable key, so importing the same history twice is idempotent.
"""

from __future__ import annotations

import re
from functools import lru_cache
from uuid import UUID, uuid5

# Fixed forever: changing it would give every stored order a new id.
NAMESPACE = UUID("6f1b7d2e-4c0a-5e8b-9a3d-2f7c1e0b5a41")

CLIENT_ORDER_ID_PREFIX = "OT-"
DRY_RUN_PREFIX = "DRY_"
_CLIENT_ORDER_ID = re.compile(r"^(DRY_)?OT-[0-9A-Za-z][0-9A-Za-z._:-]{0,60}$")


@lru_cache(maxsize=4096)  # asked of the same orderRef by every message about its order
def is_client_order_id(order_ref: str | None) -> bool:
    """True when ``order_ref`` is one of ours. Other programs (and people) set orderRef too, so
    an arbitrary orderRef is never taken as an identity: many orders may share it."""
    return bool(order_ref) and _CLIENT_ORDER_ID.match(order_ref or "") is not None


def is_dry_run_id(client_order_id: str) -> bool:
    return client_order_id.startswith(DRY_RUN_PREFIX)


def order_key(
    *,
    client_order_id: str | None = None,
    perm_id: int | None = None,
    sent_as: str | None = None,
) -> str:
    """``sent_as`` names an order seen leaving the client (a program sharing ordertrail's IB
    connection placed it) before IB gave it a permId — IB may reject it before it ever has one."""
    if client_order_id:
        if not is_client_order_id(client_order_id):
            raise ValueError(f"not an ordertrail client order id: {client_order_id!r}")
        return f"coid:{client_order_id}"
    if perm_id:
        return f"perm:{perm_id}"
    if sent_as:
        return f"sent:{sent_as}"
    raise ValueError("an order needs a client order id, a permId or the request that sent it")


# An order's id is asked for several times while its first message is recorded (is it known?
# then created); uuid5 hashes and builds a UUID in Python each time.
@lru_cache(maxsize=4096)
def order_id_for(key: str) -> UUID:
    return uuid5(NAMESPACE, key)


def order_uuid(*, client_order_id: str | None = None, perm_id: int | None = None) -> UUID:
    """The aggregate id of the order with this durable identity."""
    return order_id_for(order_key(client_order_id=client_order_id, perm_id=perm_id))


def new_client_order_id(token: str, *, dry_run: bool = False) -> str:
    """Our client order id from an injected unique token (the adapters make it; the domain has
    no randomness and no clock)."""
    ident = f"{CLIENT_ORDER_ID_PREFIX}{token}"
    return f"{DRY_RUN_PREFIX}{ident}" if dry_run else ident
