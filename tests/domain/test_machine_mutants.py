"""The state machine's reference (the ``transitions`` Machine) and its diagram, where the
definition-wide checks cannot see: what a model knows before anyone tells it, and which drawing
engine draws the diagram."""

from __future__ import annotations

import logging

import pytest

from ordertrail.domain.machine import MachineModel, Trigger, build_machine, mermaid
from ordertrail.domain.status import OrderStatus as S


@pytest.mark.parametrize("state", [S.SUBMITTED, S.CANCELLED, S.NEW])
def test_a_model_never_told_about_completion_takes_a_fill_as_partial(state: S) -> None:
    # transitions compares a condition's value with True (``conditions``) or False (``unless``):
    # a model whose flag is unset would match neither edge and silently refuse the fill, which
    # the table never does to a fact from IB.
    model = MachineModel()
    build_machine(model, initial=state)
    assert model.trigger(Trigger.FILL.value) is True
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
