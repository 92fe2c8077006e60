"""One API client connection as the broker sees it: identity, subscriptions, an outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from .wire import Field, encode_field, encode_message

Direction = Literal["in", "out"]


class MessageTap(Protocol):
    """Observer of every message in both directions, as the list of string fields on the wire.

    ``client_id`` is None until the client has sent startApi (handshake messages).
    """

    def __call__(self, direction: Direction, client_id: int | None, fields: list[str]) -> None: ...


@dataclass(eq=False)
class Session:
    server_version: int
    write: Callable[[bytes], None]
    tap: MessageTap | None = None
    client_id: int | None = None
    ready: bool = False
    closed: bool = False
    auto_bind: bool = False
    positions_subscribed: bool = False
    account_subscription: str | None = None
    # permIds whose openOrder this connection has received: ib_async logs an error for an
    # orderStatus of an order it has never heard of, so those always get an openOrder first.
    known_perm_ids: set[int] = field(default_factory=set)

    def send(self, fields: list[Field]) -> None:
        if self.closed:
            return
        if self.tap is not None:
            self.tap("out", self.client_id, [encode_field(f) for f in fields])
        self.write(encode_message(fields))
