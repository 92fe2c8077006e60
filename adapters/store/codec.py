"""Stored form of ordertrail's events: compact JSON (orjson), decoded by the event's own types.

eventsourcing's default JSONTranscoder wraps every Decimal and datetime in a tagged object and
decodes with a Python object hook; at a million events that dominates a rebuild. Here the
event class's type hints (read once per class) say which fields need Decimal, datetime, enum or
a value object back, and nothing else is touched. Value objects are rebuilt without running
their validation, so tightening a rule later cannot make stored history unreadable.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder
from eventsourcing.utils import resolve_topic

Convert = Callable[[Any], Any]


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__}")


def encode(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return encode(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _optional(conv: Convert) -> Convert:
    return lambda v: None if v is None else conv(v)


def _converter(hint: Any) -> Convert | None:
    """How to turn the JSON form of a value of type ``hint`` back into that type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            inner = _converter(args[0])
            return None if inner is None else _optional(inner)
        return None
    if hint is Decimal:
        return Decimal
    if hint is datetime:
        return datetime.fromisoformat
    if hint is UUID:
        return UUID
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _value_decoder(hint)
    return None


@lru_cache(maxsize=None)
def _value_decoder(cls: type) -> Convert:
    fields = _field_converters(cls)
    names = [f.name for f in dataclasses.fields(cls)]

    def build(raw: dict[str, Any]) -> Any:
        obj = object.__new__(cls)
        for name in names:
            value = raw.get(name)
            conv = fields.get(name)
            if conv is not None and value is not None:
                value = conv(value)
            object.__setattr__(obj, name, value)
        return obj

    return build


@lru_cache(maxsize=None)
def _field_converters(cls: type) -> dict[str, Convert]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Convert] = {}
    for name, hint in hints.items():
        if typing.get_origin(hint) is typing.ClassVar:
            continue
        conv = _converter(hint)
        if conv is not None:
            out[name] = conv
    return out


@lru_cache(maxsize=None)
def event_decoder(topic: str) -> Callable[[bytes], tuple[type, dict[str, Any]]]:
    """A function from stored bytes to (event class, attribute dict) for one topic."""
    cls = resolve_topic(topic)
    convs = [(n, c) for n, c in _field_converters(cls).items()
             if n not in ("originator_id", "originator_version")]
    loads = orjson.loads

    def decode(data: bytes) -> tuple[type, dict[str, Any]]:
        d: dict[str, Any] = loads(data)
        for name, conv in convs:
            value = d.get(name)
            if value is not None:
                d[name] = conv(value)
        return cls, d

    return decode


def make_event(cls: type, state: dict[str, Any], originator_id: UUID, version: int) -> Any:
    state["originator_id"] = originator_id
    state["originator_version"] = version
    event = object.__new__(cls)
    object.__setattr__(event, "__dict__", state)
    return event


class EventMapper(Mapper[UUID]):
    """eventsourcing's Mapper with class-driven decoding (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(transcoder=OrjsonTranscoder())

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        try:
            cls, state = event_decoder(stored_event.topic)(stored_event.state)
        except Exception as e:
            raise MapperDeserialisationError(
                f"cannot read stored event {stored_event.topic} of "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {e}"
            ) from e
        oid = stored_event.originator_id
        return make_event(cls, state, oid if isinstance(oid, UUID) else UUID(str(oid)),
                          stored_event.originator_version)


__all__ = ["EventMapper", "OrjsonTranscoder", "event_decoder", "make_event"]
