"""Events on their way into the store, encoded and sealed in one loop per batch
(docs/adr/0144-writing-events-per-event-cost.md).

The bytes are those ``codec.encode`` and ``chain.seal`` give; what changes is the work per
event. Two things dominate it when done the obvious way:

* orjson writes a slotted dataclass (every value object of the domain) through its fallback: it
  asks the object for a ``__dict__`` (an AttributeError raised and cleared each time), then reads
  ``_field_type`` off every ``Field`` before each value. A value object handed to it as a dict of
  the same fields, in the same order, is written to the same bytes for a fraction of the work;
* a Python call per step (the link lookup, the hash, ``UUID.bytes``, the seal, the object made)
  and per Decimal (orjson's ``default``): the loop below makes two calls an event.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from eventsourcing.utils import get_topic

from ordertrail.adapters.store import chain
from ordertrail.adapters.store.sealed import SealedEvent

AsMap = Callable[[Any], dict[str, Any]]
# orjson calls ``default`` only for a type it cannot write; of ours that is Decimal alone. The
# method itself is called (no Python frame); anything else raises TypeError there and the event
# is encoded again by ``codec.encode``, which says what could not be stored.
_DECIMAL_TEXT = Decimal.__str__


def _is_slotted_dataclass(cls: type) -> bool:
    # What orjson writes field by field rather than from the instance's ``__dict__``.
    own = cls.__dict__
    return "__dataclass_fields__" in own and "__slots__" in own


@cache
def as_map(cls: type) -> AsMap | None:
    """A function from a slotted dataclass of type ``cls`` to the dict orjson would write it as
    (its fields in order, none whose name starts with "_"); None for any other type."""
    if not _is_slotted_dataclass(cls):
        return None
    names = [f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    # Generated once per class: one dict display instead of a loop over the fields.
    items = ", ".join(f"{n!r}: o.{n}" for n in names)
    namespace: dict[str, Any] = {}
    source = f"def as_map(o):\n    return {{{items}}}"
    exec(compile(source, f"<as_map {cls.__name__}>", "exec"), namespace)
    return typing.cast(AsMap, namespace["as_map"])


def _value_fields(cls: type) -> tuple[str, ...]:
    """The fields of event class ``cls`` that can hold a slotted dataclass (read from its
    type hints once per class)."""
    out = []
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint) or (hint,)
        if any(isinstance(a, type) and _is_slotted_dataclass(a) for a in args):
            out.append(name)
    return tuple(out)


@dataclasses.dataclass(frozen=True, slots=True)
class _Kind:
    topic: str
    topic_bytes: bytes
    class_version: int
    value_fields: tuple[str, ...]


def _kind(cls: type) -> _Kind:
    topic = get_topic(cls)
    return _Kind(topic, topic.encode(), getattr(cls, "class_version", 1), _value_fields(cls))


def plain_state(domain_event: Any, class_version: int) -> dict[str, Any]:
    """The attributes an event is stored with (eventsourcing's mapper's own steps)."""
    state: dict[str, Any] = domain_event.__dict__.copy()
    del state["originator_id"], state["originator_version"]
    if class_version > 1:
        state["class_version"] = class_version
    return state


class Sealer:
    """Encodes events and seals each with its link in the log's hash chain (``chain.Links``
    remembers each order's last link). ``encode`` is ``codec.encode``: an event orjson cannot
    write as is (an integer beyond 64 bits, a type it does not know) goes through it whole."""

    def __init__(self, links: chain.Links, encode: Callable[[Any], bytes]) -> None:
        self.links = links
        self._encode = encode
        self._kinds: dict[type, _Kind] = {}

    def seal_all(self, domain_events: Iterable[Any]) -> list[SealedEvent]:
        kinds, link_of, seal = self._kinds, self.links.link, chain.seal
        dumps, text, new, put = orjson.dumps, _DECIMAL_TEXT, object.__new__, object.__setattr__
        out: list[SealedEvent] = []
        for event in domain_events:
            cls = type(event)
            kind = kinds.get(cls)
            if kind is None:
                kind = kinds[cls] = _kind(cls)
            # ``plain_state``, inline: this loop runs once per event written.
            state = event.__dict__.copy()
            oid, version = state["originator_id"], state["originator_version"]
            del state["originator_id"], state["originator_version"]
            if kind.class_version > 1:
                state["class_version"] = kind.class_version
            for name in kind.value_fields:
                value = state.get(name)
                if value is not None and (convert := as_map(value.__class__)) is not None:
                    state[name] = convert(value)
            try:
                encoded = dumps(state, default=text)
            except orjson.JSONEncodeError:
                encoded = self._encode(plain_state(event, kind.class_version))
            body = encoded[:-1] + b"," if encoded != b"{}" else b"{"  # ``chain.body_of``
            link = link_of(oid, version, kind.topic_bytes, body)
            # Its attributes in one assignment, in the order its dataclass ``__init__`` gives
            # them (an equal object, as ``sealed.py`` makes eventsourcing's).
            sealed: SealedEvent = new(SealedEvent)
            put(
                sealed,
                "__dict__",
                {
                    "originator_id": oid,
                    "originator_version": version,
                    "topic": kind.topic,
                    "state": seal(body, version, link),
                    "digest": link,
                },
            )
            out.append(sealed)
        return out


__all__ = ["Sealer", "as_map", "plain_state"]
