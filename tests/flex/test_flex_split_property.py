"""Importing a statement in overlapping pieces, in any order, records the same fills as
importing it whole: whatever keys the rows (IB's execId, its tradeID, or a derived key)."""

from __future__ import annotations

import tempfile
from itertools import pairwise
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrail.adapters.flex.importer import FlexImporter
from ordertrail.adapters.flex.statement import read_flex_file
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.trail import OrderTrail

from .builders import statement_xml, stock_trade

DAYS = ["20250804", "20250805", "20250806", "20250807", "20250808"]

row = st.fixed_dictionaries(
    {
        "day": st.sampled_from(["0", "1", "2", "3", "4"]),
        # Few seconds, quantities and prices: identical rows (two fills, one ordinal apart).
        "second": st.sampled_from(["00", "01"]),
        "qty": st.sampled_from(["100", "-100", "5"]),
        "price": st.sampled_from(["10", "10.50"]),
        "conid": st.sampled_from(["265598", "272093"]),
    }
)


@st.composite
def pieces(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Day ranges covering days 0-4, each starting at or before the day after the last ends."""
    cuts = sorted(draw(st.sets(st.integers(1, 4), max_size=3)))
    bounds = [0, *cuts, 5]
    out = []
    for start, end in pairwise(bounds):
        back = draw(st.integers(0, 2))  # overlap with the piece before
        out.append((max(0, start - back), end - 1))
    return draw(st.permutations(out))


def trades(rows: list[dict[str, str]], keys: str) -> list[dict[str, str]]:
    out = []
    for i, r in enumerate(rows):
        ids: dict[str, str] = {}
        if keys == "ibExecID":
            # Orders of one contract each (a combo's order records its first leg's contract).
            order = 1000 + 10 * int(r["conid"] == "272093") + i % 2
            ids = {"ibExecID": f"0000e0d5.{i:04x}.01.01", "ibOrderID": str(order)}
        elif keys == "tradeID":
            ids = {"tradeID": str(500 + i)}
        qty = r["qty"]
        out.append(
            stock_trade(
                dateTime=f"{DAYS[int(r['day'])]};1015{r['second']}",
                tradeDate=DAYS[int(r["day"])],
                quantity=qty,
                buySell="SELL" if qty.startswith("-") else "BUY",
                tradePrice=r["price"],
                conid=r["conid"],
                **ids,
            )
        )
    return out


def fills_after(files: list[str], directory: Path) -> set[tuple[object, ...]]:
    trail = OrderTrail(StoreConfig.resolve(directory / "data"))
    importer = FlexImporter(trail)
    for i, xml in enumerate(files):
        path = directory / f"piece{i}.xml"
        path.write_text(xml)
        importer.import_file(read_flex_file(path))
    return {
        (x.exec_id, x.account, s.contract.con_id, x.side, x.shares, x.price, x.time)
        for s in trail.states().values()
        for x in s.executions.values()
    }


@settings(max_examples=40)
@given(
    rows=st.lists(row, min_size=1, max_size=12),
    keys=st.sampled_from(["ibExecID", "tradeID", "derived"]),
    split=pieces(),
)
def test_any_overlapping_split_records_the_same_fills(
    rows: list[dict[str, str]], keys: str, split: list[tuple[int, int]]
) -> None:
    all_trades = trades(rows, keys)
    whole = statement_xml(all_trades, from_date=DAYS[0], to_date=DAYS[-1])
    parts = [
        statement_xml(
            [t for t, r in zip(all_trades, rows, strict=True) if a <= int(r["day"]) <= b],
            from_date=DAYS[a],
            to_date=DAYS[b],
        )
        for a, b in split
    ]
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        expected = fills_after([whole], Path(one))
        assert len(expected) == len(rows)
        assert fills_after(parts, Path(two)) == expected
