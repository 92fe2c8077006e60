"""Answers to the snapshot requests: open and completed orders, positions, account, executions.

Each function writes its whole answer, *End message included, to the asking connection only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import messages as msg
from .executions import ExecutionFilter
from .order_messages import completed_order, open_order
from .positions import Position
from .scenario import Scenario
from .session import Session
from .wire import Field

if TYPE_CHECKING:
    from .broker import Broker


def open_orders(broker: Broker, session: Session, everyone: bool) -> None:
    for order in broker.book:
        visible = everyone or order.client_id == session.client_id
        if order.manual and session.client_id == 0:
            visible = True
        if visible and order.announced and not order.closed:
            session.send(open_order(session.server_version, order))
            session.send(msg.order_status(order))
            session.known_perm_ids.add(order.perm_id)
    session.send(msg.open_order_end())


def completed_orders(broker: Broker, session: Session, api_only: bool) -> None:
    tz = broker.scenario.tws_time_zone
    for order in broker.book:
        if order.completed_at is None or (api_only and order.manual):
            continue
        parent = broker.book.parent_of(order)
        parent_perm = parent.perm_id if parent is not None else 0
        session.send(completed_order(session.server_version, order, parent_perm, tz))
    session.send(msg.completed_orders_end())


def positions(broker: Broker, session: Session) -> None:
    session.positions_subscribed = True
    for pos in broker.positions.all():
        session.send(msg.position(pos.account, pos.contract, pos.quantity, pos.avg_cost))
    session.send(msg.position_end())


def account_updates(broker: Broker, session: Session, subscribe: bool, account: str) -> None:
    if not subscribe:
        session.account_subscription = None
        return
    scenario = broker.scenario
    account = account or scenario.accounts[0]
    session.account_subscription = account
    for key, value, currency in account_values(scenario, account):
        session.send(msg.account_value(key, value, currency, account))
    for pos in broker.positions.for_account(account):
        session.send(portfolio_message(scenario, pos))
    session.send(msg.account_time(broker.clock(), scenario.tws_time_zone))
    session.send(msg.account_download_end(account))


def account_updates_multi(broker: Broker, session: Session, req_id: int, account: str) -> None:
    scenario = broker.scenario
    for acct in [account] if account else scenario.accounts:
        for key, value, currency in account_values(scenario, acct):
            session.send(msg.account_update_multi(req_id, acct, key, value, currency))
    session.send(msg.account_update_multi_end(req_id))


def account_summary(broker: Broker, session: Session, req_id: int, tags: str) -> None:
    # ib_async asks for the summary again whenever TWS says connectivity is back (1102).
    wanted = set(tags.split(","))
    for account in broker.scenario.accounts:
        for key, value, currency in account_values(broker.scenario, account):
            if key in wanted:
                session.send(msg.account_summary(req_id, account, key, value, currency))
    session.send(msg.account_summary_end(req_id))


def account_values(scenario: Scenario, account: str) -> list[tuple[str, str, str]]:
    cash = str(scenario.cash)
    cur = scenario.currency
    return [
        ("AccountCode", account, ""),
        ("AccountType", "INDIVIDUAL", ""),
        ("NetLiquidation", cash, cur),
        ("TotalCashValue", cash, cur),
        ("AvailableFunds", cash, cur),
        ("BuyingPower", str(scenario.cash * 4), cur),
    ]


def executions(broker: Broker, session: Session, req_id: int, filt: ExecutionFilter) -> None:
    tz = broker.scenario.tws_time_zone
    # Only the latest revision of a corrected execution, and only reports that exist.
    matching = [e for e in broker.executions if e.corrected_by is None and filt.matches(e, tz)]
    for ex in matching:
        session.send(msg.exec_details(session.server_version, req_id, ex, tz))
    for ex in matching:
        if ex.exec_id not in broker.held_reports and ex.exec_id not in broker.silent_reports:
            session.send(msg.commission_report(ex))
    session.send(msg.exec_details_end(req_id))


def portfolio_message(scenario: Scenario, pos: Position) -> list[Field]:
    market = scenario.price_for(pos.con_id, pos.contract.get("symbol", ""))
    return msg.portfolio_value(
        pos.account,
        pos.contract,
        pos.quantity,
        pos.avg_cost if market is None else market,
        pos.avg_cost,
        pos.realized_pnl,
    )
