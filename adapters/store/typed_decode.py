"""The rebuild's decoder: msgspec parses a stored event's JSON straight into a lean struct.

The general codec (``codec.py``) parses with orjson and then converts each Decimal, datetime,
enum and value object in Python; at a million events the conversions cost more than reading
and parsing the rows. msgspec does parse and conversion in one pass in C, into a struct type
made once per event class:

* its fields are the class's declared fields that the class's own code names (``fold``,
  ``new_state``, properties): what no apply function reads (``ts_event``, provenance, the
  extra numbers of an orderStatus) is skipped by the parser without building a value;
* its methods are the class's own, so the fold runs the very functions the aggregate applies;
* value objects come back as their own classes *without* running their ``__post_init__``
  checks, as the general codec rebuilds them (docs/adr/0003-event-topics-and-codec.md): a rule
  tightened later cannot make stored history unreadable, and the checks were most of the cost
  of decoding a creation;
* Decimals are parsed as their text and shared, one per distinct text (``Decimals``;
  docs/adr/0121-shared-decimals-in-the-rebuild.md).

A row msgspec still refuses (a field not in the shape its type says) is decoded by the general
codec instead; both paths give equal states. Only the fold uses these structs: the
``EventLog`` and every other reader keep the general codec's complete events.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.utils import get_topic

from ordertrail.adapters.store.codec import UnreadableEvent, event_class, event_reader
from ordertrail.domain.events import OrderCreated
from ordertrail.domain.values import ContractRef

Read = Callable[[str, bytes, UUID, int], Any]
Decode = Callable[[bytes], Any]
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


def _codes(value: Any) -> Iterator[types.CodeType]:
    parts = (value.fget, value.fset) if isinstance(value, property) else (value,)
    for part in parts:
        code = getattr(getattr(part, "__func__", part), "__code__", None)
        stack = [code] if code is not None else []
        while stack:
            code = stack.pop()
            yield code
            stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))


def _names_read(behaviour: dict[str, Any]) -> frozenset[str]:
    """Every attribute name the class's own functions mention: a superset of the fields they
    read. A field read any other way (``getattr`` with a computed name) is missing from the
    struct and fails loudly with AttributeError, which the rebuild's tests would show."""
    return frozenset(name for v in behaviour.values() for c in _codes(v) for name in c.co_names)


@cache
def _unchecked(cls: type, text_decimals: bool = False) -> type | None:
    """A twin of value class ``cls`` that msgspec can decode without running its checks (None:
    ``cls`` has none to skip nor Decimals to share, or the twin could not stand in for it).
    The twin adds no slots, so a decoded value is relabelled ``cls`` in place
    (``_finishing``) and is then exactly the value the general codec rebuilds.
    ``text_decimals``: its Decimal fields are parsed as their text, for ``_finishing`` to
    turn into shared Decimals (``Decimals``)."""
    if not dataclasses.is_dataclass(cls):
        return None
    if getattr(cls, "__post_init__", None) is None and not (text_decimals and _decimal_fields(cls)):
        return None
    hints = typing.get_type_hints(cls)
    if "__slots__" not in vars(cls) or any(_value_class(h) is not None for h in hints.values()):
        return None  # a nested value would be decoded with its checks: keep them all
    # msgspec calls no __post_init__ that is None (a no-op function would cost a call per
    # value); were that to change, calling None fails and the general codec reads the row.
    namespace: dict[str, Any] = {"__slots__": (), "__post_init__": None, "__module__": __name__}
    if text_decimals:
        # msgspec reads a subclass's annotation before its base's.
        namespace["__annotations__"] = {n: _as_text(hints[n]) for n in _decimal_fields(cls)}
    return type(f"Unchecked{cls.__name__}", (cls,), namespace)


def _is_decimal(hint: Any) -> bool:
    """Whether a field holds a Decimal (alone or optional)."""
    if _optional(hint):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else None
    return hint is Decimal


def _as_text(hint: Any) -> Any:
    return str | None if _optional(hint) else str


@cache
def _decimal_fields(cls: type) -> tuple[str, ...]:
    return tuple(n for n, h in typing.get_type_hints(cls).items() if _is_decimal(h))


class Decimals:
    """Decimals decoded once per distinct stored text and then shared. msgspec builds a new
    Decimal for every one it parses (ten an order: quantities, prices, IB's filled and
    remaining), which was an eighth of the rebuild's fold and a fifth of the memory of every
    order's state; a trader's quantities and prices repeat from order to order. A Decimal is
    immutable and keeps its text's exponent, so a shared one is the very value
    ``Decimal(text)`` makes."""

    LIMIT = 10_000  # distinct texts kept; past it the memo starts again

    def __init__(self) -> None:
        self.seen: dict[str, Decimal] = {}

    def make(self, text: str) -> Decimal:
        """The Decimal of a text not in ``seen`` yet (a text that is no number: ValueError,
        msgspec's refusal, so the general codec reads the row)."""
        seen = self.seen
        if len(seen) >= self.LIMIT:
            seen.clear()
        try:
            value = seen[text] = Decimal(text)
        except InvalidOperation as e:
            raise ValueError(f"not a decimal: {text!r}") from e
        return value


DECIMALS = Decimals()


def _value_class(hint: Any) -> type | None:
    """The value class a field holds (alone or optional), if it is one."""
    if _optional(hint):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


class _Shared:
    """The values of one class that repeat from order to order (a contract: an account trades
    a limited set of them), decoded once per distinct stored text and then shared. Sharing an
    equal frozen value changes nothing a state compares or shows, and saves both the decode
    and the memory of a copy per order."""

    LIMIT = 10_000  # distinct texts kept; past it the memo starts again

    def __init__(self, cls: type) -> None:
        twin = _unchecked(cls)
        decode: Decode = msgspec.json.Decoder(twin or cls).decode
        self.decode = decode if twin is None else _relabelled(decode, cls)
        self.seen: dict[bytes, Any] = {}

    def __call__(self, raw: msgspec.Raw) -> Any:
        key = bytes(raw)
        value = self.seen.get(key)
        if value is None:
            if len(self.seen) >= self.LIMIT:
                self.seen.clear()
            value = self.seen[key] = self.decode(key)
        return value


def _relabelled(decode: Decode, cls: type) -> Decode:
    def relabel(data: bytes) -> Any:
        value = decode(data)
        object.__setattr__(value, "__class__", cls)
        return value

    return relabel


# Value classes whose values repeat across orders (see _Shared).
SHARED: tuple[type, ...] = (ContractRef,)


@cache
def _shared(cls: type) -> _Shared:
    return _Shared(cls)


def _field_type(hint: Any) -> tuple[Any, str, Any]:
    """The type msgspec decodes a field as, and what is done to the decoded value: nothing
    (""), relabelled as its own class ("relabel", the class), looked up ("shared", the memo
    of its class) or its text made a shared Decimal ("decimal", ``DECIMALS``)."""
    if _is_decimal(hint):
        return _as_text(hint), "decimal", DECIMALS
    value = _value_class(hint)
    if value in SHARED:
        return (msgspec.Raw | None if _optional(hint) else msgspec.Raw), "shared", _shared(value)
    twin = None if value is None else _unchecked(value, True)
    if value is None or twin is None:
        return hint, "", None
    return (twin | None if _optional(hint) else twin), "relabel", value


def _slot(cls: type, name: str) -> Any:
    """The slot descriptor of field ``name`` (the class's own, or a base's)."""
    return next(vars(k)[name] for k in cls.__mro__ if name in vars(k))


def _finishing(decode: Decode, steps: dict[str, tuple[str, Any]]) -> Decode:
    """``decode`` followed by each field's step (``_field_type``). Generated once per event
    class: a straight-line function costs a fraction of a loop over the fields."""
    ns: dict[str, Any] = {"base": decode}
    lines = ["def decode(data):", "    e = base(data)", *finish_lines(steps, ns), "    return e"]
    exec(compile("\n".join(lines), "<ordertrail typed decode>", "exec"), ns)
    return typing.cast(Decode, ns["decode"])


def finish_lines(steps: dict[str, tuple[str, Any]], ns: dict[str, Any]) -> list[str]:
    """The statements (indented for a function body) that apply each field's step
    (``_field_type``) to the decoded struct ``e``; the names they use are added to ``ns``."""
    ns.update(put=object.__setattr__, seen=DECIMALS.seen, make=DECIMALS.make)
    lines = []
    for name, (step, arg) in steps.items():
        ns[f"a_{name}"] = arg
        lines.append(f"    v = e.{name}")
        if step == "relabel":
            lines.append("    if v is not None:")
            lines.append(f"        put(v, '__class__', a_{name})")
            for field in _decimal_fields(arg):
                # The slot's own setter (the twin has only its class's slots), not
                # ``object.__setattr__``, which looks the name up first: half the cost.
                ns[f"set_{name}_{field}"] = _slot(arg, field).__set__
                # Not ``or``: Decimal("0") is false.
                lines.append(f"        w = v.{field}")
                lines.append("        if w is not None:")
                lines.append("            d = seen.get(w)")
                lines.append(f"            set_{name}_{field}(v, make(w) if d is None else d)")
        elif step == "decimal":
            lines.append("    if v is not None:")
            lines.append("        d = seen.get(v)")
            lines.append(f"        e.{name} = make(v) if d is None else d")
        else:
            # The memo's lookup inline (the memo's own call only on a miss): a call per
            # creation was a tenth of decoding one.
            ns[f"s_{name}"] = arg.seen
            lines.append("    if v is not None:")
            lines.append(f"        w = s_{name}.get(bytes(v))")
            lines.append(f"        e.{name} = a_{name}(v) if w is None else w")
    return lines


Fields = list[tuple[str, Any] | tuple[str, Any, Any]]


@cache
def struct_shape(topic: str) -> tuple[type, dict[str, Any], Fields, dict[str, tuple[str, Any]]]:
    """What the fold's struct of ``topic`` is made of: the event class, its behaviour (methods
    and properties), the fields its own code reads as msgspec types them (those without a
    default first), and each field's step after decoding (``_field_type``)."""
    cls = event_class(topic)
    behaviour = _behaviour(cls)
    read = _names_read(behaviour)
    fields: Fields = []
    steps: dict[str, tuple[str, Any]] = {}
    for name, hint in typing.get_type_hints(cls).items():
        if name in _SKIP or name not in read or typing.get_origin(hint) is typing.ClassVar:
            continue
        typed, step, arg = _field_type(hint)
        if step:
            steps[name] = (step, arg)
        # An optional field added after an event was stored reads as None (docs/adr/0003).
        fields.append((name, typed, None) if _optional(hint) else (name, typed))
    # msgspec wants the fields with defaults after those without.
    fields.sort(key=len)
    return cls, behaviour, fields, steps


@cache
def _struct(topic: str) -> tuple[type, Decode] | None:
    """A struct type with the fields the event's own code reads and its methods and
    properties, and a decoder from one topic's JSON to it (None when msgspec cannot type its
    fields). The struct has no originator id or version: the fold reads neither."""
    cls, behaviour, fields, steps = struct_shape(topic)
    try:
        # Not tracked by the cyclic collector: a struct holds no cycles and lives one fold.
        struct = msgspec.defstruct(f"Stored{cls.__name__}", fields, namespace=behaviour, gc=False)
        decode: Decode = msgspec.json.Decoder(struct).decode
    except (TypeError, ValueError):
        return None
    return struct, (_finishing(decode, steps) if steps else decode)


def struct_decoder(topic: str) -> Decode | None:
    """Stored bytes of ``topic`` to its lean struct (None: msgspec cannot type the class)."""
    found = _struct(topic)
    return None if found is None else found[1]


def foldable_reader() -> Read:
    """(topic, bytes, originator id, version) to what the fold applies: the typed struct, or
    the general codec's event for a row msgspec refuses. Either answers ``fold``/``new_state``;
    ``created_types()`` tells the creations apart."""
    known: dict[str, Decode | None] = {}
    general = event_reader()

    def read(topic: str, state: bytes, originator_id: UUID, version: int) -> Any:
        try:
            decode = known[topic]
        except KeyError:
            try:
                decode = struct_decoder(topic)
            except UnreadableEvent:  # no class answers: the general codec names the row
                decode = None
            known[topic] = decode
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


__all__ = ["created_types", "finish_lines", "foldable_reader", "struct_decoder", "struct_shape"]
