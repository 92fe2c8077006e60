"""How the checking pass's child process hands the replay what it decoded and kept, chunk by
chunk (docs/adr/0156-replay-pipelined-on-two-processes.md).

A chunk is one pickle: the last line read, and the wrapper calls kept for the incoming lines
up to it (``TapeCheck.decoded``). Our own
frozen values are pickled as their field values and made again without their constructor's
checks: the child made each of them with those checks, from the same tape, in a fork of this
very process, so they hold already (generic pickling sets each slot through the frozen
``__setattr__``, which cost as much again as the checking pass kept them).
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from ordertrail.adapters.ib.mapping import StatusNumbers
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec

from .check import Call

# The last line the pass had read, and what it kept of the incoming lines up to it (the
# lines after the previous chunk's): line -> the recorder's wrapper calls.
Chunk = tuple[int, dict[int, tuple[Call, ...]]]

_VALUES = (ContractRef, OrderSpec, Execution, CommissionReport, StatusNumbers)
_SLOTS: dict[type, tuple[str, ...]] = {cls: cls.__slots__ for cls in _VALUES}
_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...]] = {
    cls: tuple(cls.__dict__[name].__set__ for name in names) for cls, names in _SLOTS.items()
}


def _restore(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    for set_field, value in zip(_SETTERS[cls], values, strict=True):
        set_field(obj, value)
    return obj


def _reducer(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    get = attrgetter(*_SLOTS[cls])
    return lambda obj: (_restore, (cls, get(obj)))


_TABLE = copyreg.dispatch_table.copy()
for _cls in _VALUES:
    _TABLE[_cls] = _reducer(_cls)


def dumps(chunk: Chunk) -> bytes:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _TABLE
    pickler.dump(chunk)
    return out.getvalue()


def loads(data: bytes) -> Chunk:
    chunk: Chunk = pickle.loads(data)
    return chunk
