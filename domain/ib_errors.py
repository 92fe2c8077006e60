"""What IB's error codes mean for an order.

ib_async marks a Trade Cancelled on *any* non-warning error for a live order id — including
10349 ("TIF set to DAY"), 404 ("held for locate") and 110 on a modify, none of which cancel
anything. We classify the code ourselves instead.
"""

from __future__ import annotations

import enum

from ordertrail.domain.facts import RequestKind


class ErrorEffect(enum.Enum):
    # IB refused a new order before it ever held it (it may never send a status afterwards).
    REJECTS = "rejects"
    # IB refused a modify: the order keeps working on its old terms.
    REFUSES_MODIFY = "refuses_modify"
    # IB refused a cancel (not found, already filled, not cancellable now): the order carries on.
    REFUSES_CANCEL = "refuses_cancel"
    # Error 202: "Order Canceled - reason: ...", a confirmation, possibly after Cancelled.
    CONFIRMS_CANCEL = "confirms_cancel"
    # Recorded; the order's status does not change (IB's own statuses will move it).
    INFORMS = "informs"


# 103 duplicate order id, 110 price does not conform to the minimum tick, 200 no security
# definition, 201 order rejected (margin, "Exchange is closed", missing account), 203 security
# not available for this account. Answering a new order they reject it; answering a modify they
# refuse only the modify.
REJECTION_CODES = frozenset({103, 110, 200, 201, 203})
CANCEL_CONFIRMATION = 202
# 10147: order to cancel not found; 10148: cannot be cancelled, state Filled (the Filled status
# follows); 161: cancel attempted when not cancellable. They answer a cancel request, not the
# order.
CANCEL_REFUSALS = frozenset({161, 10147, 10148})
# Not about any order: connectivity lost/restored (1100/1101/1102), client id in use (326),
# not connected (502/504), farm status and other notices (2100-2199).
SESSION_CODES = frozenset({326, 502, 504, 1100, 1101, 1102, 1300})


def is_warning(code: int) -> bool:
    """IB's informational codes: 2100-2199 (farm status), 399 (order message), 10349 (TIF
    changed), 404 (held for locate: the order still works), 10167 (delayed market data)."""
    return 2100 <= code < 2200 or code in (399, 404, 10349, 10167)


def is_session_code(code: int) -> bool:
    return code in SESSION_CODES or 2100 <= code < 2200


def effect_of(code: int, *, answers: RequestKind | None, acknowledged: bool) -> ErrorEffect:
    """What error ``code`` does to an order, given the request it answers (the last one sent
    for the order that is still unanswered) and whether IB has shown it holds the order."""
    if code == CANCEL_CONFIRMATION:
        return ErrorEffect.CONFIRMS_CANCEL
    if code in CANCEL_REFUSALS:
        return ErrorEffect.REFUSES_CANCEL
    if is_warning(code) or is_session_code(code):
        return ErrorEffect.INFORMS
    if answers is RequestKind.MODIFY:
        # 110/201/103 answering a modify leave the original order working.
        return ErrorEffect.REFUSES_MODIFY
    if code in REJECTION_CODES and not acknowledged:
        return ErrorEffect.REJECTS
    # A rejection code for an order IB already showed working: IB's own status (Inactive,
    # Cancelled) says whether it stopped; the error alone does not.
    return ErrorEffect.INFORMS


# The table the docs show: (codes, answering, what it does), generated into docs/ib-adapter.md.
CODE_TABLE: tuple[tuple[str, str, ErrorEffect, str], ...] = (
    ("202", "a cancel", ErrorEffect.CONFIRMS_CANCEL,
     "confirms the cancel, possibly after the Cancelled status; not a rejection"),
    ("161, 10147, 10148", "a cancel", ErrorEffect.REFUSES_CANCEL,
     "the cancel did not happen (not cancellable, not found, already filled)"),
    ("103, 110, 200, 201, 203", "a new order IB has not acknowledged", ErrorEffect.REJECTS,
     "IB refused the order at submission, often with no status at all"),
    ("103, 110, 200, 201, 203", "a new order IB already shows working", ErrorEffect.INFORMS,
     "recorded; IB's own status (Inactive, Cancelled) decides whether it stopped"),
    ("any order error but warnings", "a modify", ErrorEffect.REFUSES_MODIFY,
     "the modify is refused; the order keeps working on its old terms"),
    ("399, 404, 10349, 10167, 2100-2199", "anything", ErrorEffect.INFORMS,
     "warnings: the order still works (ib_async wrongly marks it Cancelled)"),
    ("326, 502, 504, 1100, 1101, 1102, 1300, 2100-2199", "no order", ErrorEffect.INFORMS,
     "session messages: recorded in the session log, not on an order"),
)  # fmt: skip


def code_table_markdown() -> str:
    """``CODE_TABLE`` as the markdown table docs/ib-adapter.md shows (a test keeps them equal)."""
    lines = ["| codes | answering | effect | why |", "|---|---|---|---|"]
    for codes, answering, effect, why in CODE_TABLE:
        lines.append(f"| {codes} | {answering} | `{effect.value}` | {why} |")
    return "\n".join(lines)
