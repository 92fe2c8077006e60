"""``<Trades>``/``<TradeConfirms>`` rows: executions, cancels, and the roll-ups never summed.

Only execution-level rows become fills: ``<Trades>`` mixes EXECUTION rows with ORDER,
SymbolSummary/AssetSummary and CLOSED_LOT rows, and summing them all counts one fill two to
four times. Book entries (expiry ``Ep``, assignment ``A``, exercise ``Ex``) are
EXECUTION rows at price 0 or at the strike: they move positions like any fill.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ordertrail.adapters.flex.dates import parse_date
from ordertrail.adapters.flex.identity import with_derived_keys
from ordertrail.adapters.flex.plausible import flags
from ordertrail.adapters.flex.reader import RowReader
from ordertrail.adapters.flex.rows import Cancel, CashFlow, Fill, Identity, RawRow, Statement
from ordertrail.adapters.flex.xmltree import Node
from ordertrail.domain.values import ContractRef, Side

# Row elements of <Trades>/<TradeConfirms> that roll fills up: skipped, never summed.
ROLLUP_ROWS = frozenset({"Order", "SymbolSummary", "AssetSummary", "Lot", "WashSale"})
FILL_ROWS = frozenset({"Trade", "TradeConfirm"})


class TradeRows(RowReader):
    def contract(self, node: Node, con_id: int) -> ContractRef | None:
        a = node.attrs
        sec_type = a.get("assetCategory", "") or "STK"
        multiplier = self.decimal(node, "multiplier", required=False) or Decimal(1)
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
            # A multiplier of 0 or less is flagged (plausible.py); a contract cannot hold it.
            multiplier=multiplier if multiplier > 0 else Decimal(1),
            expiry=expiry,
            strike=strike if strike else None,
            right=right if right in ("C", "P") else None,
            local_symbol=symbol if derivative else None,
        )

    def cancel(self, node: Node, st: Statement) -> None:
        # TradeCancel (and FracShareCancel) rows bust an earlier fill; they are not fills.
        a = node.attrs
        row = RawRow(node.tag, dict(a), node.line)
        con_id = self.integer(node, "conid")
        quantity = self.decimal(node, "quantity")
        when = self.moment(node)
        self.text(node, "buySell")
        orig = self.text(node, "origTradeID")
        reported = self.day(node, "reportDate") if a.get("reportDate") else None
        account = a.get("accountId", "").strip() or st.account
        if con_id is not None and quantity is not None and when is not None and orig:
            st.cancels.append(Cancel(row, account, con_id, orig, when, reported, quantity))

    def side(self, node: Node, quantity: Decimal | None) -> Side | None:
        buy_sell = self.text(node, "buySell")
        if quantity == 0:
            self.problem(node, "attribute quantity='0': a fill moves quantity")
        if buy_sell is None or quantity is None or quantity == 0:
            return None
        # The signed quantity decides the side; buySell ("BUY", "SELL", "BUY (Ca.)", ...) must
        # agree with it, except on cancelled rows where IB flips the wording.
        word = buy_sell.split(" ", 1)[0].upper()
        if word not in ("BUY", "SELL"):
            self.problem(node, f"attribute buySell={buy_sell!r}: not BUY or SELL")
            return None
        if "(Ca.)" not in buy_sell and (word == "BUY") != (quantity > 0):
            self.problem(node, f"buySell={buy_sell!r} disagrees with quantity={quantity}")
            return None
        return Side.BOUGHT if quantity > 0 else Side.SOLD

    def identity(self, node: Node) -> tuple[str, Identity]:
        exec_id = self.text(node, "ibExecID", "execID", required=False)
        if exec_id:
            return exec_id, Identity.EXEC_ID
        trade_id = node.attrs.get("tradeID", "").strip()
        if trade_id:
            return f"FLEX-T{trade_id}", Identity.TRADE_ID
        return "", Identity.DERIVED  # keyed once the statement is read (identity.py)

    def order_id(self, node: Node) -> int:
        order_id = self.integer(node, "ibOrderID", required=False)
        if order_id is None and node.attrs.get("orderID", "").strip():
            order_id = self.integer(node, "orderID")
        return order_id or 0

    def fill(self, node: Node, st: Statement) -> None:
        a = node.attrs
        account = a.get("accountId", "").strip() or st.account
        con_id = self.integer(node, "conid")
        quantity = self.decimal(node, "quantity")
        when = self.when(node)
        side = self.side(node, quantity)
        price = self.decimal(node, "tradePrice", required="price" not in a)
        if price is None and "price" in a:
            price = self.decimal(node, "price")
        exec_id, identity = self.identity(node)
        order_id = self.order_id(node)
        commission = self.decimal(node, "ibCommission", required=False)
        if commission is None:
            commission = self.decimal(node, "commission", required=False)
        realized = self.decimal(node, "fifoPnlRealized", required=False)
        raw_multiplier = self.decimal(node, "multiplier", required=False)
        contract = None if con_id is None else self.contract(node, con_id)
        if quantity is None or price is None or when is None or contract is None or side is None:
            return
        time, day, raw_time = when
        fill = Fill(
            row=RawRow(node.tag, dict(a), node.line),
            account=account,
            contract=contract,
            exec_id=exec_id,
            identity=identity,
            trade_id=a.get("tradeID", "").strip(),
            ib_order_id=order_id,
            order_ref=a.get("orderReference", "").strip(),
            order_type=a.get("orderType", "").strip(),
            side=side,
            shares=abs(quantity),
            price=price,
            time=time,
            day=day,
            exchange=a.get("exchange", "").strip(),
            # Flex books a commission as a negative amount; IB's live commissionReport says
            # the same cost as a positive number. Store the live sign, so a fill recorded live
            # and the same fill from a statement agree.
            commission=None if commission is None else -commission,
            commission_currency=(
                a.get("ibCommissionCurrency", "") or a.get("commissionCurrency", "")
            ).strip()
            or contract.currency,
            # Live reports leave realizedPNL unset on opening fills; Flex writes 0.
            realized_pnl=realized if realized and "C" in a.get("openCloseIndicator", "") else None,
            flags=flags(
                raw_time=raw_time,
                time=time,
                day=day,
                sec_type=contract.sec_type,
                price=price,
                raw_multiplier=raw_multiplier,
            ),
        )
        for _kind, message in fill.flags:
            self.warn(node, message)
        st.fills.append(fill)
        self.cash(node, fill, st)

    def cash(self, node: Node, fill: Fill, st: Statement) -> None:
        """What the trade moves in cash, per currency: the trade currency's net cash, and for a
        conversion (USD.CHF) also the base currency's quantity."""
        net = self.decimal(node, "netCash", required=False)
        if net is None:
            proceeds = self.decimal(node, "proceeds", required=False)
            value = fill.signed * fill.price * fill.contract.multiplier
            net = -value if proceeds is None else proceeds
            if fill.commission:
                net -= fill.commission if fill.commission_currency == fill.contract.currency else 0
        st.cash_flows.append(CashFlow(fill.account, fill.contract.currency, net, node.line))
        if fill.commission and fill.commission_currency != fill.contract.currency:
            st.cash_flows.append(
                CashFlow(fill.account, fill.commission_currency, -fill.commission, node.line)
            )
        if fill.is_fx:
            base = fill.contract.symbol.split(".", 1)[0]
            st.cash_flows.append(CashFlow(fill.account, base, fill.signed, node.line))

    def trades(self, section: Node, st: Statement) -> None:
        for node in section.children:
            level = node.attrs.get("levelOfDetail", "EXECUTION").upper()
            if node.tag in FILL_ROWS and level == "EXECUTION":
                if node.attrs.get("transactionType", "").endswith("Cancel"):
                    self.cancel(node, st)
                else:
                    self.fill(node, st)
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
        st.fills = with_derived_keys(st.fills)
