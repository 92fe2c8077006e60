"""A Flex file read into what the importer needs, validated whole before anything is recorded.

Sections read: ``Trades``/``TradeConfirms`` (trades.py), ``OpenPositions``, ``CorporateActions``
and ``Transfers`` (quantity moves), the MTM summary's opening quantities, ``OptionEAE`` (checked
against the book entries), and for cash ``FxPositions``, ``CashReport`` and ``CashTransactions``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from ordertrail.adapters.flex.dates import NEW_YORK
from ordertrail.adapters.flex.rows import (
    CashFlow,
    FlexFile,
    QuantityMove,
    RawRow,
    StatedPosition,
    Statement,
)
from ordertrail.adapters.flex.trades import TradeRows
from ordertrail.adapters.flex.xmltree import FlexFileError, Node, read_tree

# Every section IB documents for Activity and Trade Confirmation Flex (ibflex's FlexStatement
# fields). Sections we do not read are ignored silently; any other name gets a warning, since
# it may be data this importer should learn about.
KNOWN_SECTIONS = frozenset(
    """AccountInformation ChangeInNAV CashReport MTDYTDPerformanceSummary
    MTMPerformanceSummaryInBase EquitySummaryInBase FIFOPerformanceSummaryInBase
    FdicInsuredDepositsByBank StmtFunds ChangeInPositionValues OpenPositions
    NetStockPositionSummary ComplexPositions FxPositions Trades HKIPOSubscriptionActivity
    TradeConfirms TransactionTaxes OptionEAE PendingExcercises TradeTransfers FxTransactions
    UnbookedTrades RoutingCommissions IBGNoteTransactions UnsettledTransfers
    UnbundledCommissionDetails Adjustments PriorPeriodPositions CorporateActions ClientFees
    ClientFeesDetail DebitCardActivities SoftDollars CashTransactions SalesTaxes CFDCharges
    InterestAccruals TierInterestDetails HardToBorrowDetails HardToBorrowMarkupDetails
    SLBOpenContracts SLBActivities SLBFees Transfers ChangeInDividendAccruals
    OpenDividendAccruals SecuritiesInfo ConversionRates HKIPOOpenSubscriptions CommissionCredits
    StockGrantActivities SLBCollaterals IncentiveCouponAccrualDetails DepositsOnHold""".split()  # noqa: SIM905
)
# What an OptionEAE row's transactionType says happened to the option itself (its other rows
# are the stock legs, which the Trades section books as fills of their own).
EAE_OPTION_LEGS = frozenset({"Expiration", "Assignment", "Exercise"})
BOOK_NOTES = ("Ep", "A", "Ex")


class _Reader(TradeRows):
    def open_positions(self, section: Node, st: Statement) -> None:
        positions: list[StatedPosition] = []
        for node in section.children:
            if node.attrs.get("levelOfDetail", "SUMMARY").upper() != "SUMMARY":
                continue  # LOT rows split the SUMMARY row's quantity
            con_id = self.integer(node, "conid")
            qty = self.decimal(node, "position")
            if con_id is not None and qty is not None:
                account = node.attrs.get("accountId", "").strip() or st.account
                positions.append(StatedPosition(account, con_id, node.attrs.get("symbol", ""), qty))
        st.positions = (st.positions or []) + positions

    def quantity_moves(self, section: Node, st: Statement) -> None:
        rows = section.children
        if section.tag == "CorporateActions":
            # Each action appears as SUMMARY and DETAIL rows with the same actionID: count the
            # DETAIL rows of an action when it has any, else its SUMMARY rows.
            detailed = {
                n.attrs.get("actionID")
                for n in rows
                if n.attrs.get("levelOfDetail", "").upper() == "DETAIL"
            }
            rows = [
                n
                for n in rows
                if n.attrs.get("levelOfDetail", "").upper() == "DETAIL"
                or n.attrs.get("actionID") not in detailed
            ]
        for node in rows:
            qty = self.decimal(node, "quantity", required=False)
            if not qty:
                continue  # cash-only actions (dividends in cash, fee transfers) move no shares
            con_id = self.integer(node, "conid")
            if con_id is None:
                continue
            if node.attrs.get("direction", "").upper() == "OUT" and qty > 0:
                qty = -qty  # transfers out are written unsigned in some statements
            account = node.attrs.get("accountId", "").strip() or st.account
            row = RawRow(node.tag, dict(node.attrs), node.line)
            st.moves.append(QuantityMove(row, account, con_id, node.attrs.get("symbol", ""), qty))

    def openings(self, section: Node, st: Statement) -> None:
        for node in section.children:
            raw = node.attrs.get("prevCloseQuantity", "").strip()
            con = node.attrs.get("conid", "").strip()
            if not raw or not con.isdigit():
                continue  # per-asset-class totals carry no conid
            qty = self.decimal(node, "prevCloseQuantity")
            if qty is not None:
                account = node.attrs.get("accountId", "").strip() or st.account
                key = (account, int(con))
                st.openings[key] = st.openings.get(key, Decimal(0)) + qty

    def option_eae(self, section: Node, st: Statement) -> None:
        """IB states every exercise, assignment and expiry here too; the Trades section books
        them (BookTrade rows, notes Ex/A/Ep). The two must agree, or the reader is told."""
        for node in section.children:
            if node.attrs.get("transactionType", "").strip() not in EAE_OPTION_LEGS:
                continue
            con_id = self.integer(node, "conid")
            qty = self.decimal(node, "quantity")
            if con_id is not None and qty is not None:
                key = (_account(node, st), con_id)
                st.eae[key] = st.eae.get(key, Decimal(0)) + qty

    def check_eae(self, node: Node, st: Statement) -> None:
        for key, qty in sorted(st.eae.items()):
            booked = _booked(st, key)
            if booked != qty:
                self.warn(
                    node,
                    f"OptionEAE moves conid {key[1]} by {qty} but the Trades section books "
                    f"{booked} for it (BookTrade rows with notes Ex, A or Ep)",
                )

    def cash_section(self, section: Node, st: Statement) -> None:
        for node in section.children:
            a = node.attrs
            level = a.get("levelOfDetail", "").upper()
            if section.tag == "CashTransactions":
                if level == "SUMMARY" or not a.get("currency", "").strip():
                    continue
                amount = self.decimal(node, "amount")
                if amount is not None:
                    flow = CashFlow(_account(node, st), a["currency"].strip(), amount, node.line)
                    st.cash_flows.append(flow)
            elif section.tag == "FxPositions":
                if level not in ("", "SUMMARY"):
                    continue  # FxLot rows split the SUMMARY row
                self.stated_cash(node, st, "fxCurrency", "quantity", "FxPositions")
            else:
                currency = a.get("currency", "").strip()
                if not currency or currency == "BASE_SUMMARY" or level == "BASECURRENCY":
                    continue
                self.stated_cash(node, st, "currency", "endingCash", "CashReport")
                opening = self.decimal(node, "startingCash", required=False)
                if opening is not None:
                    st.cash_opening[(_account(node, st), currency)] = opening

    def stated_cash(self, node: Node, st: Statement, cur: str, qty: str, source: str) -> None:
        currency = node.attrs.get(cur, "").strip()
        amount = self.decimal(node, qty, required=False)
        st.cash_sections.add(source)
        if not currency or amount is None:
            return
        key = (_account(node, st), currency)
        held = st.cash_stated.get(key)
        if held is None or held[1] == source:
            total = amount + (held[0] if held else Decimal(0))
            st.cash_stated[key] = (total, source)
        elif source == "FxPositions":
            # FxPositions states the balance itself; CashReport's endingCash yields to it.
            st.cash_stated[key] = (amount, source)

    def statement(self, node: Node) -> Statement | None:
        from_date = self.day(node, "fromDate")
        to_date = self.day(node, "toDate")
        if from_date is None or to_date is None:
            return None
        tags = {s.tag for s in node.children}
        kind = "trade_confirmation" if "TradeConfirms" in tags else "activity"
        st = Statement(node.attrs.get("accountId", "").strip(), from_date, to_date, kind, node.line)
        for section in node.children:
            if section.tag in ("Trades", "TradeConfirms"):
                self.trades(section, st)
            elif section.tag == "OpenPositions":
                self.open_positions(section, st)
            elif section.tag in ("CorporateActions", "Transfers"):
                self.quantity_moves(section, st)
            elif section.tag == "MTMPerformanceSummaryInBase":
                self.openings(section, st)
            elif section.tag == "OptionEAE":
                self.option_eae(section, st)
            elif section.tag in ("FxPositions", "CashReport", "CashTransactions"):
                self.cash_section(section, st)
            elif section.tag not in KNOWN_SECTIONS:
                self.warn(section, "unknown section ignored")
        self.check_eae(node, st)
        return st


def _account(node: Node, st: Statement) -> str:
    return node.attrs.get("accountId", "").strip() or st.account


def _booked(st: Statement, key: tuple[str, int]) -> Decimal:
    total = Decimal(0)
    for f in st.fills:
        notes = f.row.attrs.get("notes", "").split(";")
        if (f.account, f.contract.con_id) == key and any(n in BOOK_NOTES for n in notes):
            total += f.signed
    return total


def read_flex_file(path: Path, *, zone: ZoneInfo = NEW_YORK) -> FlexFile:
    """Read and validate a whole Flex file; raise ``FlexFileError`` listing every problem."""
    try:
        root = read_tree(path)
    except OSError as e:
        raise FlexFileError(path, [e.strerror or str(e)]) from None
    reader = _Reader(path, zone)
    if root.tag != "FlexQueryResponse":
        raise FlexFileError(path, [f"line {root.line}: <{root.tag}> is not a FlexQueryResponse"])
    statements: list[Statement] = []
    for child in root.children:
        # Some real files put AccountInformation at the top level (ibflex rejects those).
        if child.tag != "FlexStatements":
            reader.warn(child, "unexpected element at the top level ignored")
            continue
        for node in child.children:
            if node.tag != "FlexStatement":
                reader.warn(node, "unexpected element in <FlexStatements> ignored")
                continue
            st = reader.statement(node)
            if st is not None:
                statements.append(st)
    if not statements and not reader.problems:
        reader.problems.append("no FlexStatement in the file")
    if reader.problems:
        raise FlexFileError(path, reader.problems)
    return FlexFile(path, statements, reader.warnings)
