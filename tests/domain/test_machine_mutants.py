"""The state machine where the definition-wide checks cannot see: what an edge means when it is
written without a condition, the names a refusal gives the commands, what the reference model
(the ``transitions`` Machine) knows before anyone tells it, and which engine draws the
diagram."""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from ordertrail.domain.errors import CommandRefused
from ordertrail.domain.events import AnomalyRecorded
from ordertrail.domain.facts import StatusReport
from ordertrail.domain.machine import (
    Edge,
    MachineModel,
    Outcome,
    Trigger,
    build_machine,
    compile_table,
    mermaid,
)
from ordertrail.domain.order import Order
from ordertrail.domain.status import OrderStatus as S
from tests.domain.orders import AAPL, LMT, T0, submitted


def test_an_edge_written_without_a_condition_is_a_normal_move_for_any_fill() -> None:
    # Commands and status reports are written as bare edges: they must hold whether or not a
    # fill would complete the order, and they are not anomalies unless marked as one.
    table = compile_table([Edge(Trigger.SUBMIT, S.NEW, S.PENDING_SUBMIT)])
    assert table == {
        (S.NEW, Trigger.SUBMIT, False): Outcome(S.PENDING_SUBMIT, None),
        (S.NEW, Trigger.SUBMIT, True): Outcome(S.PENDING_SUBMIT, None),
    }


def _allowed_here(command: Callable[[], None]) -> str:
    with pytest.raises(CommandRefused) as caught:
        command()
    assert caught.value.reason.startswith("allowed here: ")
    return caught.value.reason.removeprefix("allowed here: ")


def test_a_refused_command_names_the_commands_the_orders_state_allows() -> None:
    # The names are the trader's (cancel, not the trigger's request_cancel), in the triggers'
    # order.
    new = Order.place(client_order_id="OT-machine-1", contract=AAPL, spec=LMT, ts_recorded=T0)
    allowed = _allowed_here(lambda: new.request_cancel(ts_recorded=T0))
    assert allowed == "submit, deny"
    working = submitted("OT-machine-2")
    allowed = _allowed_here(lambda: working.submit(client_id=1, order_id=8, ts_recorded=T0))
    assert allowed == "cancel, modify"
    working.record(
        StatusReport("Cancelled", Decimal(0), LMT.quantity), ts_recorded=T0 + timedelta(seconds=1)
    )
    assert _allowed_here(lambda: working.request_cancel(ts_recorded=T0)) == "none"


@pytest.mark.parametrize("state", [S.SUBMITTED, S.CANCELLED, S.NEW])
def test_a_model_never_told_about_completion_takes_a_fill_as_partial(state: S) -> None:
    # transitions compares a condition's value with True (``conditions``) or False (``unless``):
    # a model whose flag is unset would match neither edge and silently refuse the fill, which
    # the table never does to a fact from IB.
    model = MachineModel()
    build_machine(model, initial=state)
    assert model.trigger(Trigger.FILL.value) is True  # type: ignore[attr-defined]
    assert model.state == state.value


def test_the_diagram_is_drawn_as_mermaid_without_looking_for_graphviz(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # transitions' default engine is pygraphviz, then graphviz, and only then mermaid: where
    # either is installed the documentation would get a graphviz drawing instead of mermaid text.
    with caplog.at_level(logging.DEBUG, logger="transitions"):
        text = mermaid()
    assert text.startswith("---\nordertrail order state machine\n---\nstateDiagram-v2\n")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_anomaly_on_a_working_order_names_every_fact_ib_could_have_sent_instead() -> None:
    # The names are written into the recorded anomaly for the auditor: an error that rejects
    # the order (201) and one that confirms a cancel (202) are facts a working order expects.
    o = submitted("OT-machine-3")
    o.record(StatusReport("Submitted"), ts_recorded=T0 + timedelta(seconds=1))
    o.collect_events()
    o.record(StatusReport("PendingSubmit"), ts_recorded=T0 + timedelta(seconds=2))
    (anomaly,) = [e for e in o.collect_events() if isinstance(e, AnomalyRecorded)]
    assert anomaly.kind == "unexpected_status"
    prefix, listed = anomaly.expected.split(": ", 1)
    assert prefix == "from Submitted"
    assert set(listed.split(", ")) == {
        "report_PreSubmitted",
        "report_Submitted",
        "report_PendingCancel",
        "report_ApiCancelled",
        "report_Cancelled",
        "report_Filled",
        "report_Inactive",
        "fill",
        "fill(completes)",
        "reject",
        "confirm_cancel",
    }


_ALLOWED = """
from ordertrail.domain.machine import S, allowed_commands
print([[t.value for t in allowed_commands(s)] for s in S])
"""


def test_the_commands_a_state_allows_come_in_one_order_whatever_the_hash_seed() -> None:
    # Strings hash differently in every process: a refusal's text read from a set of string
    # enums would change from one run to the next.
    seen = {
        subprocess.run(
            [sys.executable, "-c", _ALLOWED],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(1, 7)
    }
    assert len(seen) == 1
    per_state: list[list[str]] = ast.literal_eval(seen.pop())
    order = [t.value for t in Trigger]
    assert any(len(names) > 1 for names in per_state)
    for names in per_state:
        assert names == sorted(names, key=order.index)
