"""A Flex file read into what the importer needs, validated whole before anything is recorded.

Only execution-level rows become fills: ``<Trades>`` mixes EXECUTION rows with ORDER,
SymbolSummary/AssetSummary and CLOSED_LOT rows, and summing them all counts one fill two to
four times (flex-facts.md). Every kept row carries its raw attributes, because parsers change
and IB's statements do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from ordertrail.adapters.flex.dates import NEW_YORK, BadDate, parse_date, parse_datetime
from ordertrail.adapters.flex.xmltree import FlexFileError, Node, read_tree
from ordertrail.domain.money import MAX_MAGNITUDE
from ordertrail.domain.values import ContractRef, Side

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
# Row elements of <Trades>/<TradeConfirms> that roll fills up: skipped, never summed.
ROLLUP_ROWS = frozenset({"Order", "SymbolSummary", "AssetSummary", "Lot", "WashSale"})
FILL_ROWS = frozenset({"Trade", "TradeConfirm"})
PROVENANCE_KEYS = ("flex_file", "flex_row", "flex_line")


@dataclass(frozen=True, slots=True)
class RawRow:
    """A row as IB wrote it, and where."""

    element: str
    attrs: dict[str, str]
    line: int

    @property
    def kind(self) -> str:
        level = self.attrs.get("levelOfDetail", "")
        return f"{self.element}/{level}" if level else self.element

    def provenance(self, file_name: str) -> dict[str, str]:
        # IB's attribute names are camelCase without underscores: ours cannot collide.
        return {
            **self.attrs,
            "flex_file": file_name,
            "flex_row": self.kind,
            "flex_line": str(self.line),
        }


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (Activity ``Trade`` EXECUTION row or ``TradeConfirm`` row)."""

    row: RawRow
    account: str
    contract: ContractRef
    exec_id: str
    trade_id: str
    ib_order_id: int  # 0 when IB booked it without an order (expiries, some assignments)
    order_ref: str
    order_type: str
    side: Side
    shares: Decimal
    price: Decimal
    time: datetime
    exchange: str
    commission: Decimal | None  # live sign: positive is a cost
    commission_currency: str
    realized_pnl: Decimal | None

    @property
    def signed(self) -> Decimal:
        return self.shares * self.side.sign


@dataclass(frozen=True, slots=True)
class Cancel:
    """A ``TradeCancel`` row: IB busted the fill whose tradeID is ``orig_trade_id``."""

    row: RawRow
    account: str
    con_id: int
    orig_trade_id: str
    time: datetime
    reported_on: date | None
    quantity: Decimal  # signed, opposite to the busted fill's


@dataclass(frozen=True, slots=True)
class QuantityMove:
    """A corporate action or transfer that changes a position without a trade."""

    row: RawRow
    account: str
    con_id: int
    symbol: str
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class StatedPosition:
    account: str
    con_id: int
    symbol: str
    quantity: Decimal


@dataclass(slots=True)
class Statement:
    account: str
    from_date: date
    to_date: date
    kind: str  # "activity" or "trade_confirmation"
    line: int
    fills: list[Fill] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    order_rows: dict[int, RawRow] = field(default_factory=dict)
    moves: list[QuantityMove] = field(default_factory=list)
    # None: the statement has no OpenPositions section (nothing to reconcile against).
    positions: list[StatedPosition] | None = None
    # Opening quantities the statement itself carries (MTM summary prevCloseQuantity).
    openings: dict[tuple[str, int], Decimal] = field(default_factory=dict)
    skipped_rollups: int = 0


@dataclass(slots=True)
class FlexFile:
    path: Path
    statements: list[Statement]
    warnings: list[str]

    @property
    def name(self) -> str:
        return self.path.name


class _Reader:
    """Collects every problem in the file (not only the first) so one run shows them all."""

    def __init__(self, path: Path, zone: ZoneInfo) -> None:
        self.path = path
        self.zone = zone
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(f"line {node.line}: <{node.tag}> {message}")

    def warn(self, node: Node, message: str) -> None:
        self.warnings.append(f"{self.path.name}: line {node.line}: <{node.tag}> {message}")

    # ---- attribute access: each returns None after recording a problem -------------------------

    def text(self, node: Node, *names: str, required: bool = True) -> str | None:
        for name in names:
            value = node.attrs.get(name, "").strip()
            if value:
                return value
        if required:
            self.problem(node, f"is missing required attribute {' or '.join(map(repr, names))}")
        return None

    def _convert(self, node: Node, name: str, raw: str, conv: Callable[[str], object]) -> object:
        try:
            return conv(raw)
        except (InvalidOperation, ValueError, BadDate) as e:
            detail = str(e) if isinstance(e, BadDate) else "not a number"
            self.problem(node, f"attribute {name}={raw!r}: {detail}")
            return None

    def decimal(self, node: Node, name: str, *, required: bool = True) -> Decimal | None:
        raw = self.text(node, name, required=required)
        if raw is None:
            return None
        value = self._convert(node, name, raw.replace(",", ""), Decimal)
        if isinstance(value, Decimal) and not value.is_finite():
            self.problem(node, f"attribute {name}={raw!r}: not a finite number")
            return None
        if isinstance(value, Decimal) and abs(value) >= MAX_MAGNITUDE:
            # IB's unset sentinel (Double.MAX_VALUE) printed as a number, or a corrupt row:
            # recorded, it would overflow the audit tables and break every read after it.
            self.problem(node, f"attribute {name}={raw!r}: not a real amount (IB's unset value?)")
            return None
        return value if isinstance(value, Decimal) else None

    def integer(self, node: Node, name: str, *, required: bool = True) -> int | None:
        raw = self.text(node, name, required=required)
        if raw is None:
            return None
        value = self._convert(node, name, raw, int)
        return value if isinstance(value, int) else None

    def day(self, node: Node, name: str) -> date | None:
        raw = self.text(node, name)
        value = None if raw is None else self._convert(node, name, raw, parse_date)
        return value if isinstance(value, date) else None

    def moment(self, node: Node) -> datetime | None:
        raw = self.text(node, "dateTime", "tradeDate")
        if raw is None:
            return None
        if "dateTime" not in node.attrs and node.attrs.get("tradeTime"):
            raw = f"{raw};{node.attrs['tradeTime']}"
        value = self._convert(node, "dateTime", raw, lambda s: parse_datetime(s, self.zone))
        return value if isinstance(value, datetime) else None

    # ---- rows -----------------------------------------------------------------------------------

    def contract(self, node: Node, con_id: int) -> ContractRef | None:
        a = node.attrs
        sec_type = a.get("assetCategory", "") or "STK"
        multiplier = self.decimal(node, "multiplier", required=False) or Decimal(1)
        if multiplier <= 0:
            multiplier = Decimal(1)
        strike = self.decimal(node, "strike", required=False)
        right = a.get("putCall", "").strip() or None
        expiry_raw = a.get("expiry", "").strip()
        expiry = None
        if expiry_raw:
            parsed = self._convert(node, "expiry", expiry_raw, parse_date)
            expiry = parsed.strftime("%Y%m%d") if isinstance(parsed, date) else None
        symbol = a.get("symbol", "").strip()
        derivative = sec_type in ("OPT", "FOP", "FUT", "WAR")
        return ContractRef(
            con_id=con_id,
            # IB's API names a derivative by its underlying; Flex's symbol is the local symbol.
            symbol=(a.get("underlyingSymbol", "").strip() or symbol) if derivative else symbol,
            sec_type=sec_type,
            exchange=a.get("listingExchange", "").strip() or "SMART",
            currency=a.get("currency", "").strip() or "USD",
            multiplier=multiplier,
            expiry=expiry,
            strike=strike if strike else None,
            right=right if right in ("C", "P") else None,
            local_symbol=symbol if derivative else None,
        )

    def fill_or_cancel(self, node: Node, st: Statement) -> None:
        a = node.attrs
        row = RawRow(node.tag, dict(a), node.line)
        account = a.get("accountId", "").strip() or st.account
        con_id = self.integer(node, "conid")
        quantity = self.decimal(node, "quantity")
        when = self.moment(node)
        buy_sell = self.text(node, "buySell")
        if a.get("transactionType", "").endswith("Cancel"):
            # TradeCancel (and FracShareCancel) rows bust an earlier fill; they are not fills.
            orig = self.text(node, "origTradeID")
            reported = self.day(node, "reportDate") if a.get("reportDate") else None
            if con_id is not None and quantity is not None and when is not None and orig:
                st.cancels.append(Cancel(row, account, con_id, orig, when, reported, quantity))
            return
        price = self.decimal(node, "tradePrice", required="price" not in a)
        if price is None and "price" in a:
            price = self.decimal(node, "price")
        trade_id = a.get("tradeID", "").strip()
        exec_id = self.text(node, "ibExecID", "execID", required=not trade_id)
        order_id = self.integer(node, "ibOrderID", required=False)
        if order_id is None and a.get("orderID", "").strip():
            order_id = self.integer(node, "orderID")
        if not order_id and not trade_id.isdigit():
            # A book entry without an IB order is keyed by its tradeID (see importer.py).
            self.problem(node, "is missing required attribute 'ibOrderID' or a numeric 'tradeID'")
        if buy_sell is not None and quantity is not None and quantity != 0:
            # The signed quantity decides the side; buySell ("BUY", "SELL", "BUY (Ca.)", ...)
            # must agree with it, except on cancelled rows where IB flips the wording.
            word = buy_sell.split(" ", 1)[0].upper()
            if word not in ("BUY", "SELL"):
                self.problem(node, f"attribute buySell={buy_sell!r}: not BUY or SELL")
            elif "(Ca.)" not in buy_sell and (word == "BUY") != (quantity > 0):
                self.problem(node, f"buySell={buy_sell!r} disagrees with quantity={quantity}")
        if quantity == 0:
            self.problem(node, "attribute quantity='0': a fill moves quantity")
        commission = self.decimal(node, "ibCommission", required=False)
        if commission is None:
            commission = self.decimal(node, "commission", required=False)
        realized = self.decimal(node, "fifoPnlRealized", required=False)
        contract = None if con_id is None else self.contract(node, con_id)
        if (
            quantity is None
            or price is None
            or when is None
            or contract is None
            or buy_sell is None
            or not (order_id or trade_id.isdigit())
        ):
            return
        st.fills.append(
            Fill(
                row=row,
                account=account,
                contract=contract,
                # A book entry (expiry) may have no execution id: its tradeID is stable.
                exec_id=exec_id or f"FLEX-T{trade_id}",
                trade_id=trade_id,
                ib_order_id=order_id or 0,
                order_ref=a.get("orderReference", "").strip(),
                order_type=a.get("orderType", "").strip(),
                side=Side.BOUGHT if quantity > 0 else Side.SOLD,
                shares=abs(quantity),
                price=price,
                time=when,
                exchange=a.get("exchange", "").strip(),
                # Flex books a commission as a negative amount; IB's live commissionReport
                # says the same cost as a positive number. Store the live sign, so a fill
                # recorded live and the same fill from a statement agree.
                commission=None if commission is None else -commission,
                commission_currency=(
                    a.get("ibCommissionCurrency", "") or a.get("commissionCurrency", "")
                ).strip()
                or contract.currency,
                # Live reports leave realizedPNL unset on opening fills; Flex writes 0.
                realized_pnl=realized
                if realized and "C" in a.get("openCloseIndicator", "")
                else None,
            )
        )

    def trades(self, section: Node, st: Statement) -> None:
        for node in section.children:
            level = node.attrs.get("levelOfDetail", "EXECUTION").upper()
            if node.tag in FILL_ROWS and level == "EXECUTION":
                self.fill_or_cancel(node, st)
            elif node.tag == "Order" or (node.tag in FILL_ROWS and level == "ORDER"):
                # Kept only as the order's provenance; its quantities repeat the fills'.
                oid = node.attrs.get("ibOrderID", "") or node.attrs.get("orderID", "")
                if oid.strip().isdigit():
                    st.order_rows[int(oid)] = RawRow(node.tag, dict(node.attrs), node.line)
                st.skipped_rollups += 1
            elif node.tag in ROLLUP_ROWS or node.tag in FILL_ROWS:
                st.skipped_rollups += 1
            else:
                self.warn(node, f"unknown row in <{section.tag}> ignored")

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
            elif section.tag not in KNOWN_SECTIONS:
                self.warn(section, "unknown section ignored")
        return st


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
