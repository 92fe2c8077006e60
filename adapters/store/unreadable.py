"""A stored event that cannot be read back: the error every reader of the log raises, naming
the event and what is wrong with it.

The general codec (``codec.event_decoder``) is the one judge of a stored event: the typed
routes (msgspec's structs, Arrow's columns) hand every row they refuse to it. So it is the one
place that works out *what* is wrong (damaged JSON, a field whose text is no number or time, a
topic no class answers to), once a decode has failed; each reader that knows *which* event it
was reading (its order, version and notification) adds that (``UnreadableEvent.at``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from decimal import InvalidOperation
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import resolve_topic

from ordertrail.domain.errors import OrdertrailError

# A class's fields that need converting, by name (``codec._field_converters``).
Converters = Callable[[type], dict[str, Callable[[Any], Any]]]


class UnreadableEvent(OrdertrailError, ValueError):
    """A stored event that cannot be read back as its event class: damaged JSON, a field whose
    text is no number or time, a topic no class answers to. The message names the topic and
    what is wrong, and which stored event once a reader that knows it adds that (``at``)."""

    def __init__(self, topic: str, reason: str, where: str = "") -> None:
        self.topic = topic
        self.reason = reason
        self.where = where
        named = f" {where}" if where else ""
        super().__init__(f"the stored event{named} ({topic}) cannot be read: {reason}")

    def at(self, originator_id: Any, version: int, nid: int | None = None) -> UnreadableEvent:
        """The same error naming the stored event: its order, version and notification."""
        where = f"of order {_order_text(originator_id)} version {version}"
        if nid is not None:
            where = f"{where} (notification {nid})"
        located = UnreadableEvent(self.topic, self.reason, where)
        located.__cause__ = self.__cause__
        return located


def _order_text(originator_id: Any) -> str:
    """An order's id as UUID text, however the store held it (SQLite: hex without dashes)."""
    try:
        return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))
    except ValueError:
        return repr(originator_id)


def event_class(topic: str) -> Any:
    """The class a stored topic names; ``UnreadableEvent`` when none answers to it (a store
    written by a later version, or edited by hand)."""
    try:
        return resolve_topic(topic)
    except Exception as e:
        raise UnreadableEvent(topic, f"no event class answers to its topic ({e})") from e


def reason(data: Any, cls: type, error: Exception, converters: Converters) -> str:
    """What is wrong with one stored event's bytes (worked out only once its decode failed)."""
    try:
        state = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        return f"its JSON is damaged ({e})"
    if not isinstance(state, dict):
        return f"its JSON is {type(state).__name__}, not an object"
    return _bad_field(cls, state, "", converters) or f"{type(error).__name__}: {error}"


def _bad_field(cls: type, state: dict[str, Any], prefix: str, converters: Converters) -> str | None:
    """The first field of ``state`` that does not convert to ``cls``'s type, inside value
    objects too: ``field execution.price holds 'ten', which is no decimal number``."""
    hints = typing.get_type_hints(cls)
    for name, conv in converters(cls).items():
        value = state.get(name)
        if value is None:
            continue
        try:
            conv(value)
        except Exception as e:
            inner = _dataclass_of(hints[name])
            if inner is not None and isinstance(value, dict):
                found = _bad_field(inner, value, f"{prefix}{name}.", converters)
                if found is not None:
                    return found
            held = f"field {prefix}{name} holds {value!r}"
            if isinstance(e, InvalidOperation):
                return f"{held}, which is no decimal number"
            return f"{held}: {type(e).__name__}: {e}"
    return None


def _dataclass_of(hint: Any) -> type | None:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


__all__ = ["UnreadableEvent", "event_class", "reason"]
