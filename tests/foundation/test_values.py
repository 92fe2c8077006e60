"""Value objects' small rules, in the domain alone: a modified order keeps every term it was
not asked to change, an execId without a revision has none, a failed call says so."""

from __future__ import annotations

from dataclasses import fields, replace
from decimal import Decimal

import pytest

from ordertrail.domain.values import (
    ActionTaken,
    ExecutionResult,
    OrderAction,
    OrderSpec,
    OrderType,
    TimeInForce,
    exec_base_id,
    exec_revision,
)

# Every term set away from its default, so that a term dropped by a copy shows.
GTD_STP_LMT = OrderSpec(
    OrderAction.SELL,
    Decimal(300),
    OrderType.STOP_LIMIT,
    limit_price=Decimal("-1.25"),
    stop_price=Decimal("-1.00"),
    tif=TimeInForce.GTD,
    account="U1234567",
    outside_rth=True,
    oca_group="oca-9",
    oca_type=2,
    transmit=False,
    good_till="20261231 16:00:00 US/Eastern",
    reference_price=Decimal("-1.10"),
    allow_negative_prices=True,
)


def test_the_example_sets_every_term_away_from_its_default() -> None:
    defaults = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.MARKET)
    same = [
        f.name
        for f in fields(OrderSpec)
        if getattr(GTD_STP_LMT, f.name) == getattr(defaults, f.name)
    ]
    # trailing_percent belongs to trailing orders, observed to what a source reported
    assert same == ["trailing_percent", "observed"]


def test_a_modified_copy_with_no_change_is_the_same_order() -> None:
    assert GTD_STP_LMT.with_changes() == GTD_STP_LMT


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": Decimal(200)},
        {"limit_price": Decimal("-1.30")},
        {"stop_price": Decimal("-1.05")},
        {"transmit": True},
        {"oca_group": "oca-10"},
        {"oca_type": 3},
    ],
)
def test_a_modified_copy_changes_only_what_it_is_asked(change: dict[str, object]) -> None:
    assert GTD_STP_LMT.with_changes(**change) == replace(GTD_STP_LMT, **change)  # type: ignore[arg-type]


def test_a_copy_in_another_account_changes_only_the_account() -> None:
    # Every term of the example is away from its default: a term the copy dropped shows.
    moved = GTD_STP_LMT.in_account("U7654321")
    assert moved == replace(GTD_STP_LMT, account="U7654321")
    assert hash(moved) == hash(replace(GTD_STP_LMT, account="U7654321"))
    assert GTD_STP_LMT.account == "U1234567"  # the original is left as it was
    seen = OrderSpec(OrderAction.BUY, Decimal(0), OrderType.LIMIT, observed=True)
    assert seen.in_account("U1") == replace(seen, account="U1")


def test_an_observed_spec_stays_observed_when_modified() -> None:
    seen = OrderSpec(OrderAction.BUY, Decimal(0), OrderType.LIMIT, observed=True)
    assert seen.with_changes(quantity=Decimal(5)).observed is True


@pytest.mark.parametrize(
    ("exec_id", "base", "revision"),
    [
        ("0000e0d5.6558ad1f.01.01", "0000e0d5.6558ad1f.01", "01"),
        ("0000e0d5.6558ad1f.01.02", "0000e0d5.6558ad1f.01", "02"),
        ("F-20260105-17", "F-20260105-17", ""),  # no dot: a statement's own id, no revision
    ],
)
def test_an_exec_id_names_its_fill_and_revision(exec_id: str, base: str, revision: str) -> None:
    assert (exec_base_id(exec_id), exec_revision(exec_id)) == (base, revision)


def test_a_failed_call_says_it_failed() -> None:
    r = ExecutionResult.failed("risk gate: exposure", ("OT-1",))
    assert (r.success, r.action, r.order_ids, r.error) == (
        False,
        ActionTaken.FAILED,
        ("OT-1",),
        "risk gate: exposure",
    )
    assert r.success is False
