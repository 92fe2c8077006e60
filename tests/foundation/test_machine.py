"""The order state machine: the compiled TABLE (hot path) and the transitions Machine built from
the same definition (the reference) must agree everywhere, including on refusals and anomalies.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transitions import MachineError

from ordertrail.domain.machine import (
    ALL_STATES,
    COMMANDS,
    TABLE,
    WORKING,
    Edge,
    MachineModel,
    Outcome,
    Trigger,
    allowed_commands,
    build_machine,
    compile_table,
    define_edges,
    expected_facts,
    machine_transitions,
    mermaid,
    outcome,
)
from ordertrail.domain.status import IB_STATUSES, OrderStatus

S = OrderStatus
FACTS = [t for t in Trigger if not t.is_command]
ALL_KEYS = [(s, t, c) for s in ALL_STATES for t in Trigger for c in (False, True)]

# Where our own commands are allowed: a command is checked against the state, a fact never is;
# cancelling a filled order, modifying a cancelled one and a second submission are refused.
# Written out here, not derived from the definition, so that a changed edge has to change this
# table too.
ALLOWED_COMMANDS: dict[Trigger, set[OrderStatus]] = {
    Trigger.SUBMIT: {S.NEW},
    Trigger.DENY: {S.NEW},
    Trigger.REQUEST_CANCEL: {
        S.DISCOVERED,
        S.PENDING_SUBMIT,
        S.API_PENDING,
        S.PRE_SUBMITTED,
        S.SUBMITTED,
        # Held for a locate (whyHeld="locate"): still works, so it can still be cancelled.
        S.INACTIVE,
    },
    Trigger.REQUEST_MODIFY: {
        S.DISCOVERED,
        S.PENDING_SUBMIT,
        S.API_PENDING,
        S.PRE_SUBMITTED,
        S.SUBMITTED,
    },
}


class Reference:
    """One transitions Machine over one model, moved to any state before each question."""

    def __init__(self) -> None:
        self.model = MachineModel()
        self.machine = build_machine(self.model)

    def ask(self, state: OrderStatus, trigger: Trigger, completes: bool) -> tuple[Any, ...]:
        """("refused",) | ("stays", state, anomaly?) | ("moves", dest, anomaly?)"""
        self.machine.set_state(state.value, model=self.model)
        self.model.completes = completes
        self.model.anomalies.clear()
        try:
            moved = self.model.trigger(trigger.value)
        except MachineError:
            return ("refused",)
        if not moved:
            # No edge whose condition held: for the table that is a missing key, too.
            return ("refused",)
        return ("moved", S(self.model.state), bool(self.model.anomalies))


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference()


Table = dict[tuple[OrderStatus, Trigger, bool], Outcome]


@pytest.fixture
def edges() -> tuple[Edge, ...]:
    """The definition as ``define_edges`` gives it now. ``EDGES`` and ``TABLE`` were built when
    the module was imported; the checks of what the definition says run on a fresh copy, so
    that they judge the definition itself (a mutation tester swaps functions after import)."""
    return tuple(define_edges())


@pytest.fixture
def table(edges: tuple[Edge, ...]) -> Table:
    return compile_table(edges)


def table_answer(state: OrderStatus, trigger: Trigger, completes: bool) -> tuple[Any, ...]:
    out = TABLE.get((state, trigger, completes))
    if out is None:
        return ("refused",)
    return ("moved", out.dest, out.anomaly is not None)


def test_table_and_machine_agree_on_every_state_trigger_and_condition(
    reference: Reference,
) -> None:
    disagreements = [
        (key, table_answer(*key), reference.ask(*key))
        for key in ALL_KEYS
        if table_answer(*key) != reference.ask(*key)
    ]
    assert disagreements == []
    # The walk above really covered refusals, moves and anomalies (a vacuous pass is a fail).
    answers = {table_answer(*key)[0] for key in ALL_KEYS}
    assert answers == {"refused", "moved"}
    assert any(table_answer(*k)[-1] is True for k in ALL_KEYS if table_answer(*k)[0] == "moved")


@given(st.sampled_from(ALL_STATES), st.sampled_from(list(Trigger)), st.booleans())
def test_table_and_machine_agree_property(
    state: OrderStatus, trigger: Trigger, completes: bool
) -> None:
    ref = Reference.__new__(Reference)
    ref.model = MachineModel()
    ref.machine = build_machine(ref.model, initial=state)
    assert table_answer(state, trigger, completes) == ref.ask(state, trigger, completes)


@given(st.lists(st.tuples(st.sampled_from(list(Trigger)), st.booleans()), max_size=40))
def test_table_and_machine_walk_together(steps: list[tuple[Trigger, bool]]) -> None:
    """Driving both from New with the same triggers keeps them in the same state, with the same
    anomalies, and refusing the same commands."""
    model = MachineModel()
    build_machine(model)
    state = S.NEW
    anomalies = 0
    for trigger, completes in steps:
        model.completes = completes
        out = outcome(state, trigger, completes)
        try:
            moved = model.trigger(trigger.value)
        except MachineError:
            moved = False
        assert moved == (out is not None)
        if out is not None:
            state = out.dest
            anomalies += out.anomaly is not None
        assert S(model.state) is state
        assert len(model.anomalies) == anomalies


@pytest.mark.parametrize("trigger", FACTS, ids=str)
def test_every_fact_has_an_edge_from_every_state(trigger: Trigger, table: Table) -> None:
    # Facts from IB are never refused: whatever the order's state and whether or not a fill
    # completes the order, the table says where IB's fact leads.
    missing = [(s, c) for s in ALL_STATES for c in (False, True) if (s, trigger, c) not in table]
    assert missing == []


@pytest.mark.parametrize("trigger", sorted(COMMANDS), ids=str)
def test_commands_have_edges_only_where_documented(trigger: Trigger, table: Table) -> None:
    allowed = {s for s in ALL_STATES if (s, trigger, False) in table}
    assert allowed == ALLOWED_COMMANDS[trigger]
    for state in ALL_STATES:
        # A command's outcome never depends on fills, and it is never an anomaly.
        assert table.get((state, trigger, False)) == table.get((state, trigger, True))
        out = table.get((state, trigger, False))
        assert out is None or out.anomaly is None
        assert (trigger in allowed_commands(state)) == (state in allowed)


def test_commands_never_cancel_or_fill_by_themselves(table: Table) -> None:
    # A cancel or modify request changes nothing until IB answers.
    for state in ALLOWED_COMMANDS[Trigger.REQUEST_CANCEL]:
        assert table[(state, Trigger.REQUEST_CANCEL, False)].dest is state
    for state in ALLOWED_COMMANDS[Trigger.REQUEST_MODIFY]:
        assert table[(state, Trigger.REQUEST_MODIFY, False)].dest is state
    assert table[(S.NEW, Trigger.SUBMIT, False)].dest is S.PENDING_SUBMIT
    assert table[(S.NEW, Trigger.DENY, False)].dest is S.RISK_DENIED


@pytest.mark.parametrize("status", sorted(IB_STATUSES))
def test_a_status_report_always_moves_to_what_ib_said(status: str, table: Table) -> None:
    trigger = Trigger.for_status(S(status))
    for state in ALL_STATES:
        assert table[(state, trigger, False)].dest is S(status)
        # IB repeats the same orderStatus two or three times: never an anomaly.
        if state is S(status):
            assert table[(state, trigger, False)].anomaly is None


def test_fill_that_completes_the_order_fills_it_from_everywhere(table: Table) -> None:
    for state in ALL_STATES:
        assert table[(state, Trigger.FILL, True)].dest is S.FILLED
        partial = table[(state, Trigger.FILL, False)]
        assert partial.dest is state
        assert table[(state, Trigger.FILL, True)].anomaly == partial.anomaly


def test_anomalous_edges_are_exactly_the_surprising_ones(
    edges: tuple[Edge, ...], table: Table
) -> None:
    kinds = {e.anomaly for e in edges if e.anomaly}
    assert kinds == {
        "status_before_submission",
        "status_after_risk_denial",
        "status_after_fill",
        "unexpected_status",
        "fill_after_cancel",
        "fill_before_submission",
        "fill_after_risk_denial",
        "rejection_before_submission",
        "rejection_of_finished_order",
        "cancel_confirmed_after_fill",
        "cancel_of_unsent_order",
    }
    # What real IB sessions do (a fill that wins a cancel race, Cancelled then Inactive after a
    # rejection) is normal, not an anomaly.
    normal = [
        (S.PENDING_CANCEL, Trigger.REPORT_FILLED),  # the fill won the cancel race
        (S.CANCELLED, Trigger.REPORT_INACTIVE),  # 201 rejection, then Inactive
        (S.INACTIVE, Trigger.REPORT_SUBMITTED),  # held for a locate, then worked
        (S.INACTIVE, Trigger.REPORT_FILLED),
        (S.SUBMITTED, Trigger.REPORT_PRE_SUBMITTED),  # a modify: Submitted→PreSubmitted→…
        (S.PENDING_CANCEL, Trigger.REPORT_SUBMITTED),  # a refused cancel
        (S.CANCELLED, Trigger.CONFIRM_CANCEL),  # 202 after the Cancelled status
        (S.PENDING_SUBMIT, Trigger.REJECT),  # 201 with no status at all
    ]
    for state, trigger in normal:
        assert table[(state, trigger, False)].anomaly is None, (state, trigger)
    assert table[(S.CANCELLED, Trigger.FILL, False)].anomaly == "fill_after_cancel"
    assert table[(S.FILLED, Trigger.REPORT_SUBMITTED, False)].anomaly == "status_after_fill"


def test_expected_facts_lists_only_normal_facts(table: Table) -> None:
    for state in ALL_STATES:
        names = expected_facts(state)
        assert len(names) == len(set(names))
        for name in names:
            trigger = Trigger(name.removesuffix("(completes)"))
            completes = name.endswith("(completes)")
            assert not trigger.is_command
            assert table[(state, trigger, completes)].anomaly is None


def test_definition_has_no_duplicate_edges(edges: tuple[Edge, ...], table: Table) -> None:
    seen = set()
    for e in edges:
        for c in (False, True) if e.completes is None else (e.completes,):
            assert (e.source, e.trigger, c) not in seen
            seen.add((e.source, e.trigger, c))
    assert seen == set(table)


ARROW = re.compile(r"^\s*(\w+) --> (\w+): (.+)$")


def _drawn_edges(text: str) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for line in text.splitlines():
        m = ARROW.match(line)
        if m:
            for label in m.group(3).split(" | "):
                out.add((m.group(1), m.group(2), label.strip()))
    return out


def _defined_edges(with_anomalies: bool) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for spec in machine_transitions(with_anomalies=with_anomalies):
        label = spec["trigger"]
        if "conditions" in spec:
            label += " [completes]"
        elif "unless" in spec:
            label += " [!completes]"
        out.add((spec["source"], spec["dest"], label))
    return out


@pytest.mark.parametrize("with_anomalies", [False, True])
def test_mermaid_diagram_is_drawn_from_the_definition(with_anomalies: bool) -> None:
    text = mermaid(with_anomalies=with_anomalies)
    assert (
        text.lstrip("-\n ").startswith("ordertrail order state machine") or "stateDiagram" in text
    )
    for state in ALL_STATES:
        assert re.search(rf'state "{state.value}" as {state.value}\b', text), state
    assert _drawn_edges(text) == _defined_edges(with_anomalies)
    pairs = {(s, d) for s, d, _ in _defined_edges(with_anomalies)}
    assert sum(1 for line in text.splitlines() if ARROW.match(line)) == len(pairs)


def test_errors_that_decide_an_orders_fate_lead_where_ib_leaves_it(table: Table) -> None:
    # A rejection (201 and kin) may come with no orderStatus at all: IB's own later status, if
    # any, is Inactive. On an order already done it changes nothing, and the auditor is told.
    for state in [*WORKING, S.DISCOVERED, S.INACTIVE, S.NEW]:
        assert table[(state, Trigger.REJECT, False)].dest is S.INACTIVE, state
    assert table[(S.NEW, Trigger.REJECT, False)].anomaly == "rejection_before_submission"
    for state in (S.FILLED, S.CANCELLED, S.API_CANCELLED, S.RISK_DENIED):
        out = table[(state, Trigger.REJECT, False)]
        assert (out.dest, out.anomaly) == (state, "rejection_of_finished_order")
    # 202 confirms a cancel, even after the Cancelled status or an ApiCancelled; on an order
    # never sent it still cancels it, as an anomaly; after a fill it changes nothing.
    for state in [*WORKING, S.DISCOVERED, S.INACTIVE, S.CANCELLED, S.API_CANCELLED]:
        out = table[(state, Trigger.CONFIRM_CANCEL, False)]
        assert (out.dest, out.anomaly) == (S.CANCELLED, None), state
    for state in (S.NEW, S.RISK_DENIED):
        out = table[(state, Trigger.CONFIRM_CANCEL, False)]
        assert (out.dest, out.anomaly) == (S.CANCELLED, "cancel_of_unsent_order")
    out = table[(S.FILLED, Trigger.CONFIRM_CANCEL, False)]
    assert (out.dest, out.anomaly) == (S.FILLED, "cancel_confirmed_after_fill")
