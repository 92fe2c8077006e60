"""The rebuild's decoder: msgspec parses a stored event's JSON straight into its typed fields.

The general codec (``codec.py``) parses with orjson and then converts each Decimal, datetime,
enum and value object in Python; at a million events the conversions cost more than reading
and parsing the rows. msgspec does parse and conversion in one pass in C, from a struct type
made once per event class out of the class's own type hints.

It is stricter than the general codec (it runs value objects' ``__post_init__`` checks, and
wants every field in the shape its type says), so any row it refuses is decoded by the general
codec instead: stored history stays readable whatever a later rule says, and both paths give
equal events. Keys the event class does not declare are dropped, which is why only the fold
uses this reader: it reads declared fields only, and the ``EventLog`` keeps the general codec.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic, resolve_topic

from ordertrail.adapters.store.codec import event_reader
from ordertrail.domain.events import OrderCreated

Read = Callable[[str, bytes, UUID, int], Any]
_SKIP = ("originator_id", "originator_version")


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and (
        type(None) in typing.get_args(hint)
    )


def _behaviour(cls: type) -> dict[str, Any]:
    """The event class's own methods and properties (``fold``, ``new_state``, ...), so that a
    decoded struct answers them as the event would: the fold runs the very same functions."""
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("ordertrail."):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("__") and (callable(value) or isinstance(value, property)):
                out[name] = value
    return out


@cache
def _struct(topic: str) -> tuple[type, Callable[[bytes], Any]] | None:
    """A struct type with the event's fields, methods and properties, and a msgspec decoder
    from one topic's JSON to it (None when msgspec cannot type its fields). The struct has no
    originator id or version: what the fold reads is the event's own fields."""
    cls = resolve_topic(topic)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, hint in typing.get_type_hints(cls).items():
        if name in _SKIP or typing.get_origin(hint) is typing.ClassVar:
            continue
        # An optional field added after an event was stored reads as None (docs/adr/0003).
        fields.append((name, hint, None) if _optional(hint) else (name, hint))
    # msgspec wants the fields with defaults after those without.
    fields.sort(key=len)
    try:
        # Not tracked by the cyclic collector: a struct holds no cycles and lives one fold.
        struct = msgspec.defstruct(
            f"Stored{cls.__name__}", fields, namespace=_behaviour(cls), gc=False
        )
        return struct, msgspec.json.Decoder(struct).decode
    except (TypeError, ValueError):
        return None


def struct_decoder(topic: str) -> Callable[[bytes], Any] | None:
    found = _struct(topic)
    return None if found is None else found[1]


def foldable_reader() -> Read:
    """(topic, bytes, originator id, version) to what the fold applies: the typed struct, or
    the general codec's event for a row msgspec refuses. Either answers ``fold``/``new_state``;
    ``created_types()`` tells the creations apart."""
    known: dict[str, Callable[[bytes], Any] | None] = {}
    general = event_reader()

    def read(topic: str, state: bytes, originator_id: UUID, version: int) -> Any:
        try:
            decode = known[topic]
        except KeyError:
            decode = known[topic] = struct_decoder(topic)
        if decode is not None:
            try:
                return decode(state)
            except Exception:  # any refusal: the general codec decides
                pass
        return general(topic, state, originator_id, version)

    return read


def created_types() -> frozenset[type]:
    """The types a creation is read as: the event class and its struct."""
    found = _struct(get_topic(OrderCreated))
    return frozenset({OrderCreated} if found is None else {OrderCreated, found[0]})


__all__ = ["created_types", "foldable_reader", "struct_decoder"]
