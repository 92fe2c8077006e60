"""The projections rebuild's decoder: msgspec parses a stored event's JSON, with every field's
type, in one pass in C, and the result is the very domain event the general codec
(``codec.py``) would build.

The order-state rebuild's structs (``typed_decode.py``) keep only what the fold reads; the
projection reads more (``ts_event``, the summary's terms, every execution field the fill
journal shows), and its code dispatches on the event's class. So each class gets a struct of
*all* its declared fields, and a decoded struct is turned into an instance of the event class
itself (its attribute dict, as eventsourcing's mapper makes one): everything downstream sees
the same event, whichever decoder made it. Value objects are built as ``typed_decode`` builds
them: without their ``__post_init__`` checks (a rule tightened later cannot make stored
history unreadable), contracts decoded once per distinct text and shared.

A row msgspec refuses (an integer past 64 bits stored tagged, a field in another shape than
its type says) is decoded by the general codec; both give equal events.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any
from uuid import UUID

import msgspec

from ordertrail.adapters.store.codec import UnreadableEvent, event_class, event_decoder
from ordertrail.adapters.store.eventlog import Row
from ordertrail.adapters.store.typed_decode import _field_type, _finishing, _optional

Decode = Callable[[bytes], tuple[type, dict[str, Any]]]
_SKIP = ("originator_id", "originator_version")


@cache
def _struct_decoder(topic: str) -> Decode | None:
    """Stored bytes of ``topic`` to (event class, attribute dict), through a struct of every
    declared field (None: msgspec cannot type the class's fields)."""
    cls = event_class(topic)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    steps: dict[str, tuple[str, Any]] = {}
    for name, hint in typing.get_type_hints(cls).items():
        if name in _SKIP or typing.get_origin(hint) is typing.ClassVar:
            continue
        typed, step, arg = _field_type(hint)
        if step:
            steps[name] = (step, arg)
        # An optional field added after an event was stored reads as None (docs/adr/0003).
        fields.append((name, typed, None) if _optional(hint) else (name, typed))
    fields.sort(key=len)  # msgspec wants the fields with defaults after those without
    try:
        struct = msgspec.defstruct(f"Projected{cls.__name__}", fields, gc=False)
        parse = msgspec.json.Decoder(struct).decode
    except (TypeError, ValueError):
        return None
    typed_parse = _finishing(parse, steps) if steps else parse
    as_dict = msgspec.structs.asdict

    def decode(data: bytes) -> tuple[type, dict[str, Any]]:
        return cls, as_dict(typed_parse(data))

    return decode


def projection_decoder(topic: str) -> Decode:
    """Stored bytes of ``topic`` to (event class, attribute dict without the originator's id
    and version): msgspec's, falling back row by row to the general codec's."""
    typed = _struct_decoder(topic)
    general = event_decoder(topic)
    if typed is None:
        return general

    def decode(data: bytes) -> tuple[type, dict[str, Any]]:
        try:
            return typed(data)
        except (msgspec.ValidationError, msgspec.DecodeError, TypeError, ValueError):
            return general(data)

    return decode


def decode_rows_for_projection(rows: Iterable[Row]) -> Iterator[tuple[int, Any, bytes]]:
    """Stored rows (``EventLog.rows``' shape) as (notification id, domain event, stored bytes):
    ``rebuild.decode_rows``' events, decoded by msgspec, with the stored bytes as they are."""
    decoders: dict[str, Decode] = {}
    # An order's events share one id: parse its UUID once (SQLite stores the hex text).
    last_oid: Any = None
    uid: UUID | None = None
    new = object.__new__
    put = object.__setattr__
    for nid, oid, version, topic, state in rows:
        try:
            decode = decoders.get(topic) or decoders.setdefault(topic, projection_decoder(topic))
            cls, d = decode(state)
        except UnreadableEvent as e:
            raise e.at(oid, version, nid) from e.__cause__
        if oid != last_oid:
            last_oid = oid
            uid = oid if isinstance(oid, UUID) else UUID(oid)
        d["originator_id"] = uid
        d["originator_version"] = version
        event: Any = new(cls)
        put(event, "__dict__", d)
        yield nid, event, state


__all__ = ["decode_rows_for_projection", "projection_decoder"]
