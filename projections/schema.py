"""The Delta tables' schemas, keys and layout (documented in docs/projections.md).

Money and quantities are ``decimal(38, 10)``: exact, and readable as decimals by polars, Spark,
Trino and DuckDB alike. Times are UTC microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

DEC = pa.decimal128(38, 10)
TS = pa.timestamp("us", tz="UTC")
_QUANTUM = Decimal(1).scaleb(-10)


def dec(value: Decimal | None) -> Decimal | None:
    """A Decimal at the tables' scale (averages can carry 28 digits; the tables keep 10)."""
    return None if value is None else value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


def decimal_array(values: Sequence[Decimal | None]) -> pa.Array:
    """Decimals (or None) as ``decimal(38, 10)``: exactly, or rounded half-even as ``dec``."""
    # Most values (quantities, prices, money) have at most 10 decimals: Arrow takes them as
    # they are, exactly, in C. Arrow refuses a value it would have to round (averages carry 28
    # digits); then the column is rounded here, half-even like ``dec``, and converted again.
    # Arrow refuses only after converting much of the column (it costs as much as the
    # rounding), so a column whose first value already has more decimals is rounded at once.
    first = next((v for v in values if v is not None), None)
    if first is None or _fits_scale(first):
        try:
            return pa.array(values, DEC)
        except pa.ArrowInvalid:
            pass
    q, mode = _QUANTUM, ROUND_HALF_EVEN
    return pa.array([None if v is None else v.quantize(q, mode) for v in values], DEC)


def _fits_scale(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -10


# Where rows left out of a table are named while an update runs (``refusing_rows``).
_REFUSED: ContextVar[dict[str, None] | None] = ContextVar("ordertrail_refused", default=None)


@contextmanager
def refusing_rows() -> Iterator[dict[str, None]]:
    """While this runs, a row holding an integer its int64 column cannot (IB documents no width
    for a permId or conId, and the event log keeps any size) is left out of its table and
    named in the yielded dict (insertion-ordered, each once); every other row is written.
    Outside it, such a row stops the conversion with the same line."""
    refused: dict[str, None] = {}
    token = _REFUSED.set(refused)
    try:
        yield refused
    finally:
        _REFUSED.reset(token)


def _fits(value: Any) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def _misfits(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> dict[int, str]:
    """Each row an int64 column cannot hold, with the line that names it."""
    ints = [i for i, f in enumerate(schema) if pa.types.is_integer(f.type)]
    out: dict[int, str] = {}
    for n, row in enumerate(rows):
        bad = next((i for i in ints if not _fits(row[i])), None)
        if bad is not None:
            out[n] = (
                f"projection refused: {schema.field(bad).name} {row[bad]} of {schema.names[0]} "
                f"{row[0]} does not fit the Delta tables' 64-bit column (the row is left out; "
                "the event log keeps it whole)"
            )
    return out


def arrow_table(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> pa.Table:
    """Rows (tuples in the schema's column order) as an Arrow table, converted column by
    column: several times faster than ``pa.Table.from_pylist`` over dicts."""
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows, strict=True))
    if len(columns) != len(schema):
        raise ValueError(f"rows have {len(columns)} columns, the schema {len(schema)}")
    try:
        arrays = [
            decimal_array(col) if f.type == DEC else pa.array(col, f.type)
            for col, f in zip(columns, schema, strict=True)
        ]
    except OverflowError:
        return _without_misfits(schema, rows)
    return pa.Table.from_arrays(arrays, schema=schema)


def _without_misfits(schema: pa.Schema, rows: Sequence[Sequence[Any]]) -> pa.Table:
    misfits = _misfits(schema, rows)
    refused = _REFUSED.get()
    if refused is None or not misfits:
        raise ValueError(next(iter(misfits.values()), "an integer does not fit int64")) from None
    refused.update(dict.fromkeys(misfits.values()))
    return arrow_table(schema, [r for n, r in enumerate(rows) if n not in misfits])


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    schema: pa.Schema
    # Append-only tables grow by notification; the others are upserted on ``keys``.
    append_only: bool
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    # Columns compaction z-orders an append-only table by, so that file statistics skip what a
    # lookup does not need (the keyed tables are kept sorted by their keys: ``tables.py``).
    z_order: tuple[str, ...] = ()


EVENTS = TableSpec(
    "events",
    pa.schema(
        [
            ("notification_id", pa.int64()),
            ("order_id", pa.string()),
            ("order_key", pa.string()),
            ("version", pa.int64()),
            ("event_type", pa.string()),
            ("ts_event", TS),
            ("ts_recorded", TS),
            ("day", pa.date32()),
            ("status", pa.string()),
            ("filled", DEC),
            ("summary", pa.string()),
            ("payload", pa.string()),
        ]
    ),
    append_only=True,
    partition_by=("day",),
    z_order=("order_id",),
)

ORDERS = TableSpec(
    "orders",
    pa.schema(
        [
            ("order_key", pa.string()),
            ("order_id", pa.string()),
            ("client_order_id", pa.string()),
            ("order_ref", pa.string()),
            ("perm_id", pa.int64()),
            ("origin", pa.string()),
            ("account", pa.string()),
            ("con_id", pa.int64()),
            ("symbol", pa.string()),
            ("sec_type", pa.string()),
            ("currency", pa.string()),
            ("multiplier", DEC),
            ("action", pa.string()),
            ("order_type", pa.string()),
            ("quantity", DEC),
            ("limit_price", DEC),
            ("stop_price", DEC),
            ("reference_price", DEC),
            ("tif", pa.string()),
            ("oca_group", pa.string()),
            ("oca_type", pa.int32()),
            ("parent_key", pa.string()),
            ("group_id", pa.string()),
            ("status", pa.string()),
            ("filled", DEC),
            ("remaining", DEC),
            ("avg_fill_price", DEC),
            # Shares IB reports filled beyond the executions on record (a completed order seen
            # after a restart, before its executions came back).
            ("fills_not_seen", DEC),
            ("commission", DEC),
            ("cancel_requested", pa.bool_()),
            ("errors", pa.int32()),
            ("last_error", pa.string()),
            ("anomalies", pa.string()),
            ("aliases", pa.string()),
            ("created_ib", TS),
            ("created_recorded", TS),
            ("updated_recorded", TS),
            ("first_fill_ib", TS),
            ("first_fill_recorded", TS),
            ("events", pa.int64()),
            ("notification_id", pa.int64()),
        ]
    ),
    append_only=False,
    keys=("order_key",),
)

FILLS = TableSpec(
    "fills",
    pa.schema(
        [
            ("exec_base_id", pa.string()),
            ("exec_id", pa.string()),
            ("replaces_exec_id", pa.string()),
            ("order_id", pa.string()),
            ("order_key", pa.string()),
            ("client_order_id", pa.string()),
            ("order_ref", pa.string()),
            ("origin", pa.string()),
            ("perm_id", pa.int64()),
            ("ib_order_id", pa.int64()),
            ("client_id", pa.int64()),
            ("account", pa.string()),
            ("con_id", pa.int64()),
            ("symbol", pa.string()),
            ("sec_type", pa.string()),
            ("currency", pa.string()),
            ("multiplier", DEC),
            ("exchange", pa.string()),
            ("side", pa.string()),
            ("quantity", DEC),
            ("price", DEC),
            ("ts_event", TS),
            ("ts_ib", TS),
            ("ts_recorded", TS),
            ("first_recorded", TS),
            ("commission", DEC),
            ("commission_currency", pa.string()),
            ("ib_realized_pnl", DEC),
            ("realized_pnl", DEC),
            ("realized_pnl_avg", DEC),
            ("limit_price", DEC),
            ("reference_price", DEC),
            ("slippage_vs_limit", DEC),
            ("slippage_vs_reference", DEC),
            ("position_quantity", DEC),
            ("position_avg_cost", DEC),
            ("position_fifo_cost", DEC),
            ("position_realized_pnl", DEC),
            ("position_realized_pnl_avg", DEC),
            ("notification_id", pa.int64()),
        ]
    ),
    append_only=False,
    keys=("exec_base_id",),
)

_POSITION_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("account", pa.string()),
    ("con_id", pa.int64()),
    # A dry run's (or a Flex import's) position is its own row: it never adds into the live
    # one, and an SQL sum over positions cannot mix them.
    ("origin", pa.string()),
    ("symbol", pa.string()),
    ("sec_type", pa.string()),
    ("currency", pa.string()),
    ("multiplier", DEC),
    ("quantity", DEC),
    ("avg_cost", DEC),
    ("fifo_cost", DEC),
    ("realized_pnl", DEC),
    ("realized_pnl_avg", DEC),
    ("commission", DEC),
    ("foreign_commissions", pa.int32()),
    ("fills", pa.int64()),
    ("last_fill_ib", TS),
]

POSITIONS = TableSpec(
    "positions",
    pa.schema(
        [
            *_POSITION_COLUMNS,
            ("updated_recorded", TS),
            ("notification_id", pa.int64()),
            # Exact quantity, costs, PnL and open FIFO lots (JSON): the next update goes on
            # from here without reading the position's fills.
            ("running_state", pa.string()),
        ]
    ),
    append_only=False,
    keys=("account", "con_id", "origin"),
)

POSITION_HISTORY = TableSpec(
    "position_history",
    pa.schema(
        [
            *_POSITION_COLUMNS,
            ("notification_id", pa.int64()),
            ("cause", pa.string()),
            ("exec_id", pa.string()),
            ("ts_event", TS),
            ("ts_recorded", TS),
            ("day", pa.date32()),
        ]
    ),
    append_only=True,
    partition_by=("day",),
)

BRACKETS = TableSpec(
    "brackets",
    pa.schema(
        [
            ("group_kind", pa.string()),
            ("group_key", pa.string()),
            ("group_state", pa.string()),
            ("anomalies", pa.string()),
            ("role", pa.string()),
            ("order_key", pa.string()),
            ("status", pa.string()),
            ("quantity", DEC),
            ("filled", DEC),
            ("first_fill", TS),
        ]
    ),
    append_only=False,
    keys=("group_kind", "group_key", "order_key"),
)

TABLES: tuple[TableSpec, ...] = (EVENTS, ORDERS, FILLS, POSITIONS, POSITION_HISTORY, BRACKETS)
BY_NAME = {t.name: t for t in TABLES}
