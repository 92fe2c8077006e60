"""An order's stored event rows (the ``events`` table) read back: folded into its state as of a
time, and where an imported fact came from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import polars as pl

from ordertrail.domain.events import ORDER_EVENT_TYPES, OrderCreated
from ordertrail.domain.state import OrderState

_EVENT_CLASSES = {cls.__name__: cls for cls in ORDER_EVENT_TYPES}


def event_of(row: dict[str, Any]) -> Any:
    """The domain event one ``events`` row holds (its payload is the stored JSON)."""
    from ordertrail.adapters.store.codec import UnreadableEvent, event_decoder, make_event

    cls = _EVENT_CLASSES[row["event_type"]]
    try:
        _, d = event_decoder(f"{cls.__module__}:{cls.__qualname__}")(row["payload"].encode())
    except UnreadableEvent as e:
        raise e.at(row["order_id"], row["version"], row.get("notification_id")) from e.__cause__
    return make_event(cls, d, UUID(row["order_id"]), row["version"])


def fold(rows: Iterable[dict[str, Any]]) -> OrderState | None:
    """One order's rows, in version order, folded by the domain's own functions (None before
    the order existed)."""
    state: OrderState | None = None
    for row in rows:
        event = event_of(row)
        if type(event) is OrderCreated:
            state = event.new_state()
        elif state is not None:
            event.fold(state)
    return state


def event_clock(ib: bool) -> pl.Expr:
    if ib:
        # IB gives no time for most of what it says about an order (orderStatus, openOrder) and
        # none for our commands: those sit at the time we recorded them.
        return pl.coalesce(pl.col("ts_event"), pl.col("ts_recorded"))
    return pl.col("ts_recorded")


def provenance() -> pl.Expr:
    """Where an imported fact came from, e.g. ``flex activity.xml:31 Trade/EXECUTION``, read from
    the provenance its event carries (Flex rows keep their file, line and row kind)."""
    path = pl.col("payload").str.json_path_match
    flex = pl.concat_str(
        [
            pl.lit("flex "),
            path("$.provenance.flex_file"),
            pl.lit(":"),
            path("$.provenance.flex_line"),
            pl.lit(" "),
            path("$.provenance.flex_row"),
        ],
        ignore_nulls=True,
    )
    inferred = pl.concat_str([pl.lit("inferred: "), path("$.provenance.inferred")])
    return (
        pl.when(path("$.provenance.flex_file").is_not_null())
        .then(flex)
        .when(path("$.provenance.inferred").is_not_null())
        .then(inferred)
        .otherwise(pl.lit(None, dtype=pl.String))
    )
