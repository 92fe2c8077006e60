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
from functools import cache, partial
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


def _converter(hint: Any) -> Convert | None:
    """How to turn the JSON form of a value of type ``hint`` back into that type (None: as is).
    Optional types are handled by the caller (a None stays None)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _converter(args[0]) if len(args) == 1 else None
    if hint is Decimal:
        return Decimal
    if hint is datetime:
        return datetime.fromisoformat
    if hint is UUID:
        return UUID
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        # A dict lookup: calling the enum class costs three times as much.
        return hint._value2member_map_.__getitem__
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _value_decoder(hint)
    return None


def _field_converters(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Convert]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Convert] = {}
    for name, hint in hints.items():
        if name in skip or typing.get_origin(hint) is typing.ClassVar:
            continue
        conv = _converter(hint)
        if conv is not None:
            out[name] = conv
    return out


def _compile(name: str, source: str, namespace: dict[str, Any]) -> Any:
    # Generated once per class: a straight-line function is several times faster than a loop
    # over field descriptors, and the rebuild runs it a million times.
    exec(compile(source, f"<ordertrail codec {name}>", "exec"), namespace)
    return namespace[name]


def _put(obj: Any, value: Any, *, name: str) -> None:
    object.__setattr__(obj, name, value)


@cache
def _value_decoder(cls: type) -> Convert:
    """Rebuild a frozen value object from its JSON dict without running its validation."""
    convs = _field_converters(cls)
    ns: dict[str, Any] = {"new": object.__new__, "cls": cls}
    lines = ["def build(raw):", "    o = new(cls)", "    get = raw.get"]
    for f in dataclasses.fields(cls):
        # The slot's own descriptor: a frozen class refuses setattr, and going through
        # object.__setattr__ costs a type lookup per field.
        setter = getattr(cls.__dict__.get(f.name), "__set__", None)
        ns[f"s_{f.name}"] = setter if setter is not None else partial(_put, name=f.name)
        if f.name in convs:
            ns[f"c_{f.name}"] = convs[f.name]
            lines.append(f"    v = get({f.name!r})")
            lines.append(f"    s_{f.name}(o, None if v is None else c_{f.name}(v))")
        else:
            lines.append(f"    s_{f.name}(o, get({f.name!r}))")
    lines.append("    return o")
    return typing.cast(Convert, _compile("build", "\n".join(lines), ns))


def _optional_fields(cls: type) -> list[str]:
    out = []
    for name, hint in typing.get_type_hints(cls).items():
        if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in (
            typing.get_args(hint)
        ):
            out.append(name)
    return out


@cache
def event_decoder(topic: str) -> Callable[[bytes], tuple[type, dict[str, Any]]]:
    """A function from stored bytes to (event class, attribute dict) for one topic."""
    cls = resolve_topic(topic)
    convs = _field_converters(cls, skip=("originator_id", "originator_version"))
    ns: dict[str, Any] = {"loads": orjson.loads, "cls": cls}
    lines = ["def decode(data):", "    d = loads(data)", "    get = d.get"]
    # An optional field added after an event was stored reads as None (docs/adr/0003).
    for name in _optional_fields(cls):
        lines.append(f"    if {name!r} not in d: d[{name!r}] = None")
    for name, conv in convs.items():
        ns[f"c_{name}"] = conv
        lines.append(f"    v = get({name!r})")
        lines.append(f"    if v is not None: d[{name!r}] = c_{name}(v)")
    lines.append("    return cls, d")
    return typing.cast(
        Callable[[bytes], tuple[type, dict[str, Any]]], _compile("decode", "\n".join(lines), ns)
    )


def make_event(cls: type, state: dict[str, Any], originator_id: UUID, version: int) -> Any:
    state["originator_id"] = originator_id
    state["originator_version"] = version
    event: Any = object.__new__(cls)
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
        return make_event(
            cls,
            state,
            oid if isinstance(oid, UUID) else UUID(str(oid)),
            stored_event.originator_version,
        )


__all__ = ["EventMapper", "OrjsonTranscoder", "event_decoder", "make_event"]
