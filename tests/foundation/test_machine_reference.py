"""The state machine's reference forms (the ``transitions`` Machine, the diagram, the list of
facts an anomaly names as expected) say exactly what the definition says: each is checked
against a definition built afresh, field by field, not against another output of the same
function."""

from __future__ import annotations

import pytest

from ordertrail.domain.machine import (
    Edge,
    MachineModel,
    Trigger,
    build_machine,
    compile_table,
    define_edges,
    expected_facts,
    machine_transitions,
    mermaid,
)
from ordertrail.domain.status import OrderStatus as S


@pytest.mark.parametrize("with_anomalies", [False, True])
def test_each_transition_carries_its_edges_condition_and_anomaly_callback(
    with_anomalies: bool,
) -> None:
    edges = [e for e in define_edges() if with_anomalies or e.anomaly is None]
    specs = machine_transitions(with_anomalies=with_anomalies)
    assert len(specs) == len(edges)
    for edge, spec in zip(edges, specs, strict=True):
        assert (spec["trigger"], spec["source"], spec["dest"]) == (
            edge.trigger.value,
            edge.source.value,
            edge.dest.value,
        )
        assert spec.get("conditions") == ("completes" if edge.completes is True else None)
        assert spec.get("unless") == ("completes" if edge.completes is False else None)
        assert spec.get("after") == ("on_anomaly" if edge.anomaly else None)


def test_a_partial_fill_leaves_a_working_order_where_it_is() -> None:
    # A fresh model has not completed: an execution that leaves quantity open keeps the order
    # Submitted (IB sends the next orderStatus, still Submitted, with the filled count).
    model = MachineModel()
    build_machine(model, initial=S.SUBMITTED)
    model.fill()  # type: ignore[attr-defined]
    assert model.state == S.SUBMITTED.value
    assert model.anomalies == []
    model.completes = True
    model.fill()  # type: ignore[attr-defined]
    assert model.state == S.FILLED.value


def test_an_anomalous_move_is_noted_with_the_state_ib_moved_the_order_to() -> None:
    model = MachineModel()
    build_machine(model, initial=S.FILLED)
    model.report_Submitted()  # type: ignore[attr-defined]
    assert (model.state, model.anomalies) == (S.SUBMITTED.value, [S.SUBMITTED.value])


def test_the_machine_has_no_moves_the_definition_lacks() -> None:
    # transitions adds a ``to_<state>`` trigger for every state unless told not to: those
    # would let a test move an order where no fact or command leads.
    model = MachineModel()
    build_machine(model)
    assert model.state == S.NEW.value
    assert not any(hasattr(model, f"to_{s.value}") for s in S)


def test_two_edges_for_one_key_are_refused_naming_the_key() -> None:
    edge = Edge(Trigger.SUBMIT, S.NEW, S.PENDING_SUBMIT)
    with pytest.raises(ValueError, match=r"^two edges for \(<OrderStatus\.NEW"):
        compile_table([edge, edge])


@pytest.mark.parametrize("state", [S.SUBMITTED, S.CANCELLED, S.FILLED])
def test_expected_facts_are_every_normal_fact_once(state: S) -> None:
    table = compile_table(define_edges())
    wanted = {
        trigger.value + ("(completes)" if trigger is Trigger.FILL and completes else "")
        for (source, trigger, completes), out in table.items()
        if source is state and not trigger.is_command and out.anomaly is None
    }
    names = expected_facts(state)
    assert sorted(names) == sorted(wanted)
    assert wanted  # a sent order has facts IB may normally report next


def test_an_order_not_yet_sent_expects_nothing_from_ib() -> None:
    assert expected_facts(S.NEW) == []


def test_a_working_order_expects_both_a_partial_and_a_completing_fill() -> None:
    names = expected_facts(S.SUBMITTED)
    assert {"fill", "fill(completes)", "report_Submitted", "report_Cancelled"} <= set(names)
    assert "report_Submitted(completes)" not in names
    assert "submit" not in names  # a command is never a fact IB reports


def test_the_diagram_is_titled_and_starts_at_new() -> None:
    text = mermaid()
    assert text.startswith("---\nordertrail order state machine\n---\nstateDiagram-v2\n")
    assert "[*] --> New" in text
    # A fill after a cancel is drawn only when the anomalies are asked for.
    assert "Cancelled --> Filled" not in text
    assert "Cancelled --> Filled" in mermaid(with_anomalies=True)
