"""Stored form of ordertrail's events: compact JSON (orjson), decoded by the event's own types.

eventsourcing's default JSONTranscoder wraps every Decimal and datetime in a tagged object and
decodes with a Python object hook; at a million events that dominates a rebuild. Here the
event class's type hints (read once per class) say which fields need Decimal, datetime, enum or
a value object back, and nothing else is touched. Value objects are rebuilt without running
their validation, so tightening a rule later cannot make stored history unreadable.

Integers outside orjson's 64-bit range (a Flex ibOrderID, a conid or a permId IB can send at
any size) are stored as ``{"~int": "<digits>"}`` and the state is marked ``"~ints"``; the
decoder turns them back into the same int (docs/adr/0026-integers-of-any-size.md). Every event
also ends with its link in the log's hash chain (``chain.py``).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from functools import cache, partial
from typing import Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent, Transcoder

from ordertrail.adapters.store import chain
from ordertrail.adapters.store.sealed import SealedEvent
from ordertrail.adapters.store.sealing import Sealer
from ordertrail.adapters.store.unreadable import UnreadableEvent, event_class, reason

Convert = Callable[[Any], Any]


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__}")


_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson writes as a JSON number
BIG = "~int"
HAS_BIG = "~ints"


def _tagged(obj: Any) -> Any:
    """``obj`` with every int orjson cannot write replaced by its tagged text form."""
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return obj if _INT_MIN <= obj <= _INT_MAX else {BIG: str(obj)}
    if isinstance(obj, dict):
        return {k: _tagged(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_tagged(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _tagged(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return obj


def _untagged(obj: Any) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 1 and BIG in obj:
            return int(obj[BIG])
        return {k: _untagged(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_untagged(v) for v in obj]
    return obj


def restore_big_ints(state: dict[str, Any]) -> dict[str, Any]:
    """The decode hook: a state marked ``"~ints"`` gets its tagged integers back."""
    del state[HAS_BIG]
    out: dict[str, Any] = _untagged(state)
    return out


def encode(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, default=_default)
    except orjson.JSONEncodeError as e:
        # Only the integer range is worth a second pass; anything else is a bug to surface.
        if "64-bit" not in str(e):
            raise
    tagged = _tagged(obj)
    if isinstance(tagged, dict):
        tagged[HAS_BIG] = True
    return orjson.dumps(tagged, default=_default)


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return encode(obj)

    def decode(self, data: bytes) -> Any:
        obj = orjson.loads(data)
        if isinstance(obj, dict):
            obj.pop(chain.KEY, None)
            if HAS_BIG in obj:
                obj = restore_big_ints(obj)
        return obj


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


def _unreadable(topic: str, cls: type) -> Callable[[Any, Exception], Exception]:
    def unreadable(data: Any, error: Exception) -> Exception:
        return UnreadableEvent(topic, reason(data, cls, error, _field_converters))

    return unreadable


# What a decode of damaged bytes raises (orjson's error is a ValueError, a Decimal's text that
# is no number an ArithmeticError, an enum value no member has a KeyError, a value object
# stored as something else a TypeError or AttributeError); anything else (a MemoryError)
# is not the event's fault and goes on as it is.
_BAD_DATA = "(ValueError, TypeError, KeyError, AttributeError, ArithmeticError, IndexError)"


@cache
def event_decoder(topic: str) -> Callable[[bytes], tuple[type, dict[str, Any]]]:
    """A function from stored bytes to (event class, attribute dict) for one topic. Bytes it
    cannot read, or a topic no class answers to, raise ``UnreadableEvent``."""
    cls = event_class(topic)
    convs = _field_converters(cls, skip=("originator_id", "originator_version"))
    ns: dict[str, Any] = {
        "loads": orjson.loads,
        "cls": cls,
        "restore": restore_big_ints,
        "unreadable": _unreadable(topic, cls),
    }
    body = [
        "d = loads(data)",
        f"d.pop({chain.KEY!r}, None)",
        f"if {HAS_BIG!r} in d: d = restore(d)",
        "get = d.get",
    ]
    # An optional field added after an event was stored reads as None (docs/adr/0003).
    for name in _optional_fields(cls):
        body.append(f"if {name!r} not in d: d[{name!r}] = None")
    for name, conv in convs.items():
        ns[f"c_{name}"] = conv
        body.append(f"v = get({name!r})")
        body.append(f"if v is not None: d[{name!r}] = c_{name}(v)")
    body.append("return cls, d")
    # The try costs nothing until an event fails; then the reason is worked out once.
    lines = ["def decode(data):", "    try:", *(f"        {line}" for line in body)]
    lines += [f"    except {_BAD_DATA} as e:", "        raise unreadable(data, e) from e"]
    return typing.cast(
        Callable[[bytes], tuple[type, dict[str, Any]]], _compile("decode", "\n".join(lines), ns)
    )


def make_event(cls: type, state: dict[str, Any], originator_id: UUID, version: int) -> Any:
    state["originator_id"] = originator_id
    state["originator_version"] = version
    event: Any = object.__new__(cls)
    object.__setattr__(event, "__dict__", state)
    return event


class EventRead(Protocol):
    """One stored row (topic, bytes, originator id, version) to its domain event; an event it
    cannot read raises ``UnreadableEvent`` naming the order, the version and, given
    ``nid``, the notification."""

    def __call__(
        self, topic: str, state: bytes, originator_id: UUID, version: int, nid: int | None = None
    ) -> Any: ...


def event_reader() -> EventRead:
    """An ``EventRead``, each topic's decoder looked up once per reader rather than per row."""
    decoders: dict[str, Callable[[bytes], tuple[type, dict[str, Any]]]] = {}
    new = object.__new__
    put = object.__setattr__

    def read(
        topic: str, state: bytes, originator_id: UUID, version: int, nid: int | None = None
    ) -> Any:
        try:
            decode = decoders.get(topic) or decoders.setdefault(topic, event_decoder(topic))
            cls, d = decode(state)
        except UnreadableEvent as e:
            raise e.at(originator_id, version, nid) from e.__cause__
        d["originator_id"] = originator_id
        d["originator_version"] = version
        event: Any = new(cls)
        put(event, "__dict__", d)
        return event

    return read


class EventMapper(Mapper[UUID]):
    """eventsourcing's Mapper with class-driven decoding (see the module docstring), and the
    one place every event written passes through, so it seals each with its chain link."""

    def __init__(self) -> None:
        super().__init__(transcoder=OrjsonTranscoder())
        self._sealer = Sealer(chain.Links(), encode)

    @property
    def links(self) -> chain.Links:
        """The last link seen of each order: read when sealing, learned when decoding."""
        return self._sealer.links

    @links.setter
    def links(self, links: chain.Links) -> None:
        self._sealer.links = links

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return self.to_stored_events((domain_event,))[0]

    def to_stored_events(self, domain_events: Iterable[Any]) -> list[SealedEvent]:
        """eventsourcing's own steps for each event (no compressor or cipher here), then the
        seal: one stored event made per event, carrying its link for the recorder's
        checkpoint (``sealed.py``), in one loop for a batch (``sealing.py``)."""
        return self._sealer.seal_all(domain_events)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        self._saw_stored(stored_event)
        try:
            cls, state = event_decoder(stored_event.topic)(stored_event.state)
        except UnreadableEvent as e:
            located = e.at(stored_event.originator_id, stored_event.originator_version)
            raise MapperDeserialisationError(str(located)) from e.__cause__
        oid = stored_event.originator_id
        return make_event(
            cls,
            state,
            oid if isinstance(oid, UUID) else UUID(str(oid)),
            stored_event.originator_version,
        )

    def _saw_stored(self, stored: StoredEvent) -> None:
        oid = stored.originator_id
        oid = oid if isinstance(oid, UUID) else UUID(str(oid))
        version = stored.originator_version
        sealed = chain.unseal(stored.state)
        if sealed is not None and sealed.digest is not None:
            self.links.saw(oid, version, sealed.digest)
            return
        prev = self.links.previous(oid, version)
        link = (
            None if prev is None else chain.link_of(prev, oid, version, stored.topic, stored.state)
        )
        self.links.saw(oid, version, link)


__all__ = [
    "EventMapper",
    "EventRead",
    "OrjsonTranscoder",
    "UnreadableEvent",
    "event_class",
    "event_decoder",
    "event_reader",
    "make_event",
]
