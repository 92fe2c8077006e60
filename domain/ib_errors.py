"""What IB's error codes mean for an order.

ib_async marks a Trade Cancelled on *any* non-warning error for a live order id — including
10349 ("TIF set to DAY"), 404 ("held for locate") and 110 on a modify, none of which cancel
anything. We classify the code ourselves instead.
"""

from __future__ import annotations

import enum


class ErrorEffect(enum.Enum):
    # The order was refused by IB (it may never get a status afterwards).
    REJECTS = "rejects"
    # Error 202: "Order Canceled - reason: ...", a confirmation, possibly after Cancelled.
    CONFIRMS_CANCEL = "confirms_cancel"
    # Recorded; the order's status does not change.
    INFORMS = "informs"


# 103 duplicate order id, 110 price does not conform to the minimum tick (on a new order),
# 200 no security definition, 201 order rejected (margin, "Exchange is closed", missing account),
# 203 security not available for this account.
REJECTION_CODES = frozenset({103, 110, 200, 201, 203})
CANCEL_CONFIRMATION = 202
# 10147: order to cancel not found; 10148: cannot be cancelled, state Filled (the Filled status
# follows); 161: cancel attempted when not cancellable. They tell about a cancel request, not
# the order.
CANCEL_REFUSALS = frozenset({161, 10147, 10148})


def is_warning(code: int) -> bool:
    """IB's informational codes: 2100-2199 (farm status), 399 (order message), 10349 (TIF
    changed), 404 (held for locate: the order still works)."""
    return 2100 <= code < 2200 or code in (399, 404, 10349, 10167, 2109)


def effect_of(code: int, *, modification_pending: bool) -> ErrorEffect:
    if code == CANCEL_CONFIRMATION:
        return ErrorEffect.CONFIRMS_CANCEL
    # An error that answers a modify refuses the modification, not the order (110 on a modify
    # leaves the original order working).
    if code in REJECTION_CODES and not modification_pending:
        return ErrorEffect.REJECTS
    return ErrorEffect.INFORMS
