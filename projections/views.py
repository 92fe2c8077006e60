"""The audit views with the CLI's filters: one function per question, reading only the
``Audit``'s public frames.

Which time a window cuts on, per view: an order by when it was created (recorded clock), a fill
by IB's execution time, an error or anomaly by when it was recorded. Positions and brackets
are states, not happenings: ``until`` asks for them as of that time (on the chosen clock) and
``since`` does not apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from ordertrail.projections.filters import Filters

if TYPE_CHECKING:
    from ordertrail.projections.api import Audit, Clock

VIEWS = ("orders", "fills", "positions", "brackets", "errors")
# What a person reads as "something went wrong with this order".
PROBLEM_EVENTS = ("ErrorReported", "AnomalyRecorded", "RiskDenied", "CancelRefused",
                  "ModificationRefused")  # fmt: skip


def errors(audit: Audit, filters: Filters) -> pl.DataFrame:
    """Every IB error, anomaly and refusal, with its order's key, account and symbol — and IB's
    messages about no order (connectivity, farm status, an error for an order id no one can
    know), keyed by their session, unless the filters ask for orders of some kind."""
    if audit.auto_refresh:
        audit.refresh()
    orders = filters.match(audit.scan("orders")).select(
        "order_id", "client_order_id", "perm_id", "account", "symbol", "origin"
    )
    about_orders = bool(filters.symbols or filters.accounts or filters.statuses or filters.origins)
    kinds = PROBLEM_EVENTS if about_orders else (*PROBLEM_EVENTS, "SessionMessageRecorded")
    return (
        filters.window(audit.scan("events"), "ts_recorded")
        .filter(pl.col("event_type").is_in(kinds))
        .join(orders, on="order_id", how="inner" if about_orders else "left")
        .select(
            "ts_recorded",
            "ts_event",
            "order_key",
            "client_order_id",
            "perm_id",
            "account",
            "symbol",
            "origin",
            "event_type",
            "status",
            "summary",
            "notification_id",
        )
        .sort("notification_id")
        .collect()
    )


def view(
    audit: Audit, name: str, filters: Filters, *, as_of: Any = None, clock: Clock | str = "recorded"
) -> pl.DataFrame:
    """One view (``VIEWS``) cut by ``filters``; as of a time where the view has one."""
    if name == "errors":
        return errors(audit, filters)
    if name in ("positions", "brackets"):
        when = as_of if as_of is not None else filters.until
        # The filters below choose the origins: the positions come with every one.
        more = {"origin": "all"} if name == "positions" else {}
        frame = getattr(audit, name)(as_of=when, clock=clock, **more)
        if name == "brackets" and (filters.symbols or filters.accounts or filters.origins):
            mine = filters.match(audit.scan("orders")).select("order_key").collect()
            frame = frame.join(mine, on="order_key", how="semi")
        return filters.match(frame.lazy()).collect()
    if name == "orders":
        frame = audit.orders(as_of=as_of, clock=clock)
        return filters.match(frame.lazy(), time_column="created_recorded").collect()
    if name == "fills":
        frame = audit.fills(as_of=as_of, clock=clock)
        cut = filters.match(frame.lazy(), time_column="ts_ib")
        if filters.statuses or filters.origins:
            keys = filters.match(audit.scan("orders")).select("order_id")
            cut = cut.join(keys, on="order_id", how="semi")
        return cut.collect()
    raise ValueError(f"no view {name!r} (one of {', '.join(VIEWS)})")
