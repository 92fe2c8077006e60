"""The recorder's incoming side: each message ib_async's decoder hands the wrapper (openOrder,
completedOrder, orderStatus, execDetails, commissionReport, error) as the fact it is.

The ``record_*`` methods take a message's values converted already: live, the hooks convert
them; a replay converted them while checking its tape, and does not again."""

from __future__ import annotations

from decimal import Decimal

from ib_async import CommissionReport as IbCommissionReport
from ib_async import Contract
from ib_async import Execution as IbExecution
from ib_async import Order as IbOrder
from ib_async import OrderState as IbOrderState

from ordertrail.adapters.ib import mapping
from ordertrail.adapters.ib.learning import OrderLearning
from ordertrail.adapters.ib.opened import OpenOrder
from ordertrail.adapters.trail import FactKey
from ordertrail.domain.facts import (
    CommissionReported,
    ErrorReport,
    ExecutionReport,
    OpenOrderReport,
    Origin,
    SessionError,
    StatusReport,
)
from ordertrail.domain.ib_errors import is_session_code
from ordertrail.domain.money import is_unset, quantity
from ordertrail.domain.values import CommissionReport, ContractRef, Execution, OrderSpec


class IncomingRecorder(OrderLearning):
    def _on_openOrder(  # noqa: N802 - ib_async's callback name
        self, order_id: int, contract: Contract, order: IbOrder, state: IbOrderState
    ) -> None:
        self.record_open_order(OpenOrder.live(order_id, contract, order))

    def record_open_order(self, seen: OpenOrder) -> None:
        if seen.what_if:
            return

        def report(_cref: ContractRef, spec: OrderSpec) -> OpenOrderReport:
            return OpenOrderReport(spec, seen.perm_id, seen.client_id, seen.order_id)

        # An order seen first here is saved with what this openOrder says of it, in one
        # transaction: a kill between the two would leave it without its identifiers.
        key, oid, recorded = self._learn_order(seen, then=report)
        if not recorded:
            # A known order: ``oid`` is what resolving ``key`` again would find.
            cref = self.trail.get(oid).state.contract
            fact = report(cref, seen.spec_for(cref))
            recorded = bool(self.trail.record(key, fact))
        if recorded:
            self._notify("open order")

    def _on_completedOrder(  # noqa: N802
        self, contract: Contract, order: IbOrder, state: IbOrderState
    ) -> None:
        # Completed orders come back after a restart with orderId 0 and no history: the
        # orderRef or permId finds the order, and its final status is recorded unless known.
        # IB may report totalQuantity 0 with a non-zero filledQuantity: the filled figure is
        # recorded as IB reported it, and the order shows the fills not yet seen.
        # completedOrder carries no clientId (neither IB's message nor ib_async's decoder has
        # one): who placed such an order is unknown, never assumed to be a person in TWS.
        key, _, _ = self._learn_order(OpenOrder.live(0, contract, order, 0), Origin.DISCOVERED)
        current = self.trail.get(self.trail.require(key)).state
        if current.status.value == state.status:
            self.stats.repeats += 1
            return
        filled = (
            None
            if is_unset(order.filledQuantity)
            else quantity(order.filledQuantity, "order.filledQuantity")
        )
        total = None if is_unset(order.totalQuantity) else Decimal(str(order.totalQuantity))
        remaining = None if filled is None or not total else max(total - filled, Decimal(0))
        fact = StatusReport(raw_status=state.status, filled=filled, remaining=remaining)
        self._counted(self.trail.record(key, fact), "statuses", f"status {state.status}")
        self._check_status("completedOrder", state.status, "permId", order.permId)

    def _check_status(self, message: str, status: str, id_name: str, id_value: int) -> None:
        # Runs for every orderStatus: the warning's text is made only for a status IB's API
        # does not list.
        if not mapping.known_status(status):
            self._warn(
                f"{message}: status={status!r} of {id_name} {id_value} is not one of IB's order "
                "statuses; recorded with an unknown_status anomaly"
            )

    def _on_orderStatus(  # noqa: N802
        self,
        order_id: int,
        status: str,
        filled: float,
        remaining: float,
        avg_fill_price: float,
        perm_id: int,
        parent_id: int,
        last_fill_price: float,
        client_id: int,
        why_held: str,
        mkt_cap_price: float = 0.0,
    ) -> None:
        n = mapping.status_numbers(
            filled, remaining, avg_fill_price, last_fill_price, mkt_cap_price
        )
        self.record_status(order_id, status, n, perm_id, client_id, why_held)

    def record_status(
        self,
        order_id: int,
        status: str,
        n: mapping.StatusNumbers,
        perm_id: int,
        client_id: int,
        why_held: str,
    ) -> None:
        perm = int(perm_id) or None
        key = FactKey(None, perm, int(client_id), order_id)
        # Positional, in the fact's field order (raw_status, filled, remaining, avg_fill_price,
        # last_fill_price, why_held, perm_id, mkt_cap_price): a frozen dataclass matches
        # keywords one by one, and this runs for every orderStatus.
        fact = StatusReport(
            status,
            n.filled,
            n.remaining,
            n.avg_fill_price,
            n.last_fill_price,
            why_held or "",
            perm,
            n.mkt_cap_price,
        )
        self._counted(self.trail.record(key, fact), "statuses", f"status {status}")
        self._check_status("orderStatus", status, "orderId", order_id)

    def _on_execDetails(  # noqa: N802
        self, req_id: int, contract: Contract, execution: IbExecution
    ) -> None:
        self.record_execution(contract, mapping.execution(execution))

    def record_execution(self, contract: Contract | ContractRef, x: Execution) -> None:
        """``contract``: as ib_async decoded it, or converted already (a replay converts it
        while checking the tape)."""
        key = FactKey(x.order_ref or None, x.perm_id or None, x.client_id, x.order_id)
        result = self.trail.record(key, ExecutionReport(x))
        if result is None:
            # Its order is not known yet: the contract observes the order should it never
            # show up (``discover_orphans``).
            self._contracts[x.base_id] = (
                contract if isinstance(contract, ContractRef) else mapping.contract_ref(contract)
            )
        self._counted(result, "executions", f"execution {x.exec_id}")

    def _on_commissionReport(self, report: IbCommissionReport) -> None:  # noqa: N802
        self.record_commission(mapping.commission(report))

    def record_commission(self, report: CommissionReport) -> None:
        result = self.trail.record(None, CommissionReported(report))
        if result is not None:
            self._counted(result, "commissions", "commission")

    def _on_error(self, req_id: int, code: int, message: str, advanced_reject: str = "") -> None:
        code = int(code)
        if req_id is None or req_id <= 0 or is_session_code(code) or req_id in self._unknown_ids:
            fact = SessionError(
                code=code,
                message=message,
                req_id=int(req_id if req_id is not None else -1),
                client_id=self.client_id,
                advanced_reject=advanced_reject or None,
            )
            self._counted(self.trail.record(None, fact), "session", f"session {code}")
            return
        # Errors are routed by (clientId, reqId) only: the reqId is the order id of the request
        # it answers, or the id of another request (reqExecutions, contract details).
        key = FactKey(client_id=self.client_id, order_id=req_id)
        error = ErrorReport(code=code, message=message, advanced_reject=advanced_reject or None)
        self._counted(self.trail.record(key, error), "errors", f"error {code}")

    # ---- end of a sync: what is still waiting ----

    def _on_openOrderEnd(self) -> None:  # noqa: N802
        pass

    def _on_completedOrdersEnd(self) -> None:  # noqa: N802
        pass

    def _on_execDetailsEnd(self, req_id: int) -> None:  # noqa: N802
        self.discover_orphans()
