"""The columns each event topic is decoded into, derived from the event classes' annotations,
and the exact conversion of one stored event into them (the oracle the fast decoder is held to,
and the route of the rows it cannot parse).

A topic's columns are its event class's declared fields (the originator's id and version are
the log's own columns), in declaration order; a value object's fields are flattened under its
name with "." (``execution.shares``, ``spec.limit_price``). What each kind of value becomes:

========================  ======================================================================
declared type             column
========================  ======================================================================
``int``                   int64 (a value beyond int64 cannot be held: the order falls back)
``str``                   string
``bool``                  bool
``Decimal``               string: the exact text (``str`` of the value, which is what the store
                          wrote)
``datetime``              timestamp[us, UTC] (a time without an offset falls back)
an enum                   string: its value
``dict`` / ``list``       string: its JSON text (orjson's, as the store writes it)
a value object            its fields, flattened; all null when an optional one is absent
========================  ======================================================================

A field absent from the JSON (an event stored before the field existed) reads as the Python
decoder reads it: null for an event's optional field, the value class's default for a value
object's field that has one. Anything else the columns cannot hold exactly (an unknown topic
or key, a null where the class declares no optional value, a value of another JSON type than
its field's, an unknown enum value, a JSON the decoder refuses) makes the row ``None``: its
order falls back to the Python decoder and fold.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from eventsourcing.utils import get_topic

from ordertrail.adapters.store import chain
from ordertrail.adapters.store.projection_decode import projection_decoder
from ordertrail.domain.events import ORDER_EVENT_TYPES
from ordertrail.domain.session import SESSION_EVENT_TYPES

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
TIMESTAMP = pa.timestamp("us", tz="UTC")
# The kinds of column a declared type becomes (see the module docstring).
INT, STR, BOOL, DECIMAL, DATETIME = "int", "str", "bool", "decimal", "datetime"
ENUM, JSON = "enum", "json"
ARROW_TYPES: dict[str, pa.DataType] = {
    INT: pa.int64(),
    STR: pa.string(),
    BOOL: pa.bool_(),
    DECIMAL: pa.string(),
    DATETIME: TIMESTAMP,
    ENUM: pa.string(),
    JSON: pa.string(),
}
NO_DEFAULT: Any = dataclasses.MISSING
_SKIP = ("originator_id", "originator_version")


@dataclass(frozen=True)
class Column:
    """One column of a topic: its dotted name, the path of JSON keys to its value, its kind,
    whether null is a value of its own field (a value object's columns are all null besides
    when the object is absent), its default (a value object's field absent from older JSON)
    and, for an enum, the values it may hold."""

    name: str
    path: tuple[str, ...]
    kind: str
    optional: bool
    default: Any = NO_DEFAULT
    enum_values: frozenset[str] = frozenset()

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.kind]

    @property
    def fills_default(self) -> bool:
        """Whether an absent key reads as something else than null (the class's default)."""
        return self.default is not NO_DEFAULT and self.default is not None


@dataclass(frozen=True)
class Group:
    """A value-object field: its name and class, whether the event may omit it (None)."""

    name: str
    cls: type
    optional: bool
    fields: tuple[str, ...]


@dataclass(frozen=True)
class TopicSchema:
    event_type: str
    cls: type
    columns: tuple[Column, ...]
    groups: tuple[Group, ...]
    keys: frozenset[str]  # the JSON keys an event of this topic may carry

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field("row", pa.int64())] + [pa.field(c.name, c.arrow_type) for c in self.columns]
        )


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """A declared type without its ``| None``, and whether it had one."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _kind(hint: Any) -> str:
    origin = typing.get_origin(hint) or hint
    if hint is bool:
        return BOOL
    if hint is int:
        return INT
    if hint is str:
        return STR
    if hint is Decimal:
        return DECIMAL
    if hint is datetime:
        return DATETIME
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return ENUM
    if origin in (dict, list, tuple):
        return JSON
    raise TypeError(f"no column kind for the declared type {hint!r}")


def _column(name: str, path: tuple[str, ...], hint: Any, optional: bool, default: Any) -> Column:
    kind = _kind(hint)
    values = frozenset(str(m.value) for m in hint) if kind == ENUM else frozenset()
    if default is not NO_DEFAULT:
        default = cell(kind, default)
    return Column(name, path, kind, optional, default, values)


def _value_columns(name: str, cls: type) -> list[Column]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint, own_optional = _unwrap(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else NO_DEFAULT
        out.append(_column(f"{name}.{f.name}", (name, f.name), hint, own_optional, default))
    return out


@cache
def topic_schema(cls: type) -> TopicSchema:
    columns: list[Column] = []
    groups: list[Group] = []
    keys = {chain.KEY}
    for name, declared in typing.get_type_hints(cls).items():
        if name in _SKIP or typing.get_origin(declared) is typing.ClassVar:
            continue
        keys.add(name)
        hint, optional = _unwrap(declared)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            fields = tuple(f.name for f in dataclasses.fields(hint))
            groups.append(Group(name, hint, optional, fields))
            columns.extend(_value_columns(name, hint))
        else:
            columns.append(_column(name, (name,), hint, optional, NO_DEFAULT))
    return TopicSchema(cls.__name__, cls, tuple(columns), tuple(groups), frozenset(keys))


def event_type_of(topic: str) -> str:
    """The class name a stored topic names (``module:Class``), known or not."""
    return topic.rpartition(":")[2]


# ---- one value, one row ---------------------------------------------------------------------


class Refused(Exception):
    """The columns cannot hold this value exactly."""


def cell(kind: str, value: Any) -> Any:
    """A decoded value as its column holds it (``Refused``: it cannot be held exactly)."""
    if value is None:
        return None
    check = _CELLS[kind]
    return check(value)


def _int(v: Any) -> int:
    if type(v) is not int or not INT64_MIN <= v <= INT64_MAX:
        raise Refused
    return v


def _of(t: type) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if type(v) is not t:
            raise Refused
        return v

    return check


def _decimal(v: Any) -> str:
    if not isinstance(v, Decimal):
        raise Refused
    return str(v)


def _datetime(v: Any) -> datetime:
    if not isinstance(v, datetime) or v.utcoffset() is None:
        raise Refused
    return v.astimezone(UTC)


def _enum(v: Any) -> str:
    if not isinstance(v, enum.Enum):
        raise Refused
    return str(v.value)


def _json(v: Any) -> str:
    if not isinstance(v, dict | list):
        raise Refused
    try:
        return orjson.dumps(v).decode()
    except (TypeError, orjson.JSONEncodeError) as e:
        raise Refused from e


_CELLS: dict[str, Callable[[Any], Any]] = {
    INT: _int,
    STR: _of(str),
    BOOL: _of(bool),
    DECIMAL: _decimal,
    DATETIME: _datetime,
    ENUM: _enum,
    JSON: _json,
}
# The JSON type the store writes for each kind: a value of another type is refused even
# when the Python decoder would coerce it (a Decimal from a JSON number).
_RAW_TYPES: dict[str, tuple[type, ...]] = {
    INT: (int,),
    STR: (str,),
    BOOL: (bool,),
    DECIMAL: (str,),
    DATETIME: (str,),
    ENUM: (str,),
    JSON: (dict, list),
}


def _raw_ok(kind: str, raw: Any) -> bool:
    return raw is None or (
        isinstance(raw, _RAW_TYPES[kind]) and not (kind == INT and isinstance(raw, bool))
    )


def _checked_keys(schema: TopicSchema, raw: Any) -> None:
    if not isinstance(raw, dict) or not raw.keys() <= schema.keys:
        raise Refused
    for group in schema.groups:
        inner = raw.get(group.name)
        if inner is None:
            if not group.optional:
                raise Refused
        elif not isinstance(inner, dict) or not inner.keys() <= set(group.fields):
            raise Refused


def _value_at(schema: TopicSchema, col: Column, raw: dict[str, Any], event: dict[str, Any]) -> Any:
    if len(col.path) == 1:
        name = col.path[0]
        if not _raw_ok(col.kind, raw.get(name)):
            raise Refused
        if name not in raw and not col.optional:
            raise Refused  # a field every event of the class carries
        value = event.get(name)
    else:
        outer, name = col.path
        inner = raw.get(outer)
        if inner is None:
            return None
        if not _raw_ok(col.kind, inner.get(name)):
            raise Refused
        if name not in inner:
            # What the decoder reads for a value object's field older JSON lacks.
            if col.default is not NO_DEFAULT:
                return col.default
            if not col.optional:
                raise Refused
        elif inner[name] is None and not col.optional:
            raise Refused
        value = getattr(event[outer], name)
    held = cell(col.kind, value)
    if held is None and not col.optional:
        raise Refused
    if col.kind == ENUM and held is not None and held not in col.enum_values:
        raise Refused
    return held


def row_cells(topic: str, state: bytes) -> tuple[Any, ...] | None:
    """One stored event as its topic's columns (``KNOWN[topic].columns``' order), decoded by
    the Python decoder the fold uses; None: the columns cannot hold it exactly (see the module
    docstring)."""
    schema = KNOWN.get(topic)
    if schema is None:
        return None
    try:
        raw = orjson.loads(state)
        _checked_keys(schema, raw)
        _, event = projection_decoder(topic)(state)
        return tuple(_value_at(schema, c, raw, event) for c in schema.columns)
    except Exception:  # any refusal, the decoder's included: the order falls back
        return None


EVENT_CLASSES: tuple[type, ...] = ORDER_EVENT_TYPES + SESSION_EVENT_TYPES
# The topics the columns know, stored topic -> schema.
KNOWN: dict[str, TopicSchema] = {get_topic(c): topic_schema(c) for c in EVENT_CLASSES}
EVENT_TYPES: tuple[str, ...] = tuple(s.event_type for s in KNOWN.values())


__all__ = [
    "EVENT_TYPES",
    "KNOWN",
    "NO_DEFAULT",
    "TIMESTAMP",
    "Column",
    "TopicSchema",
    "cell",
    "event_type_of",
    "row_cells",
    "topic_schema",
]
