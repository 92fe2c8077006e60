"""Implausible values are recorded as the statement says and flagged; sizes past the limits are
refused before parsing cost explodes, naming the file and the line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ordertrail.adapters.flex.statement import read_flex_file
from ordertrail.adapters.flex.xmltree import MAX_TOKEN_BYTES, FlexFileError, read_tree
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.events import AnomalyRecorded

from .builders import statement_xml, stock_trade, write
from .conftest import event_count, import_path


def flagged(trail: OrderTrail) -> dict[str, str]:
    return {
        e.kind: e.received
        for oid in trail.order_ids()
        for e in trail.history(oid)
        if isinstance(e, AnomalyRecorded) and e.kind.startswith("flex_")
    }


@pytest.mark.parametrize(
    ("attrs", "kind", "says"),
    [
        (
            {"dateTime": "00010101;000000", "tradeDate": "00010101"},
            "flex_implausible_date",
            "trade date 0001-01-01 is before 1970-01-01",
        ),
        ({"tradePrice": "-3.50"}, "flex_negative_price", "price -3.50 is negative for a STK"),
        ({"multiplier": "0"}, "flex_invalid_multiplier", "multiplier=0 is no multiplier"),
        ({"dateTime": ""}, "flex_time_missing", "dateTime='20250805' gives no time of day"),
    ],
)
def test_an_implausible_value_is_recorded_as_said_and_flagged(
    trail: OrderTrail, tmp_path: Path, attrs: dict[str, str], kind: str, says: str
) -> None:
    path = write(tmp_path, "odd.xml", statement_xml([stock_trade(ibExecID="E1.01", **attrs)]))
    result = import_path(trail, path)
    assert result.counts.executions_recorded == 1
    assert result.counts.implausible_values == 1
    assert any(says in w and "line 6" in w for w in result.warnings)
    received = flagged(trail)
    assert list(received) == [kind]
    assert "odd.xml line 6: execution E1.01" in received[kind]
    (state,) = trail.states().values()
    x = state.executions["E1"]
    if kind == "flex_negative_price":
        assert x.price == Decimal("-3.50")
    if kind == "flex_time_missing":
        # No midnight invented: the time is unknown, the trade date stays in the provenance.
        assert x.time is None


def test_a_fill_without_a_time_still_counts_on_its_trade_date(tmp_path: Path) -> None:
    from ordertrail.adapters.flex.recorded import RecordedFills
    from ordertrail.adapters.store.config import StoreConfig

    trail = OrderTrail(StoreConfig.resolve(tmp_path / "data"))
    path = write(tmp_path, "d.xml", statement_xml([stock_trade(ibExecID="E1.01", dateTime="")]))
    import_path(trail, path)
    known = RecordedFills.read(trail.recorder)
    from datetime import date

    from ordertrail.adapters.flex.dates import NEW_YORK

    inside = known.position(
        "U1234567",
        265598,
        since=date(2025, 8, 5),
        until=date(2025, 8, 5),
        known_at=date(2025, 8, 8),
        zone=NEW_YORK,
    )
    before = known.position(
        "U1234567",
        265598,
        since=None,
        until=date(2025, 8, 4),
        known_at=date(2025, 8, 8),
        zone=NEW_YORK,
    )
    assert inside == (Decimal(100), True)
    assert before == (Decimal(0), False)


def _with_attribute(tmp_path: Path, length: int) -> Path:
    row = stock_trade(ibExecID="E1.01", description="x" * length)
    return write(tmp_path, "big.xml", statement_xml([row]))


def test_an_attribute_at_the_limit_is_read(tmp_path: Path) -> None:
    # The whole start tag must fit: leave room for the row's other attributes.
    flex = read_flex_file(_with_attribute(tmp_path, MAX_TOKEN_BYTES - 1024))
    assert len(flex.statements[0].fills) == 1


def test_an_attribute_past_the_limit_is_refused_naming_file_and_line(
    trail: OrderTrail, tmp_path: Path
) -> None:
    path = _with_attribute(tmp_path, MAX_TOKEN_BYTES + 1)
    with pytest.raises(FlexFileError) as err:
        read_flex_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: line 6: an element, attribute or comment runs past")
    assert "nothing from this file was recorded" in message
    assert event_count(trail) == 0


def test_a_huge_comment_is_refused_too(tmp_path: Path) -> None:
    xml = statement_xml([stock_trade(ibExecID="E1.01")])
    xml = xml.replace("<Trades>", "<!--" + "c" * (MAX_TOKEN_BYTES * 2) + "-->\n<Trades>")
    with pytest.raises(FlexFileError, match="line 5: an element, attribute or comment"):
        read_flex_file(write(tmp_path, "c.xml", xml))


def test_a_file_past_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "f.xml", statement_xml([stock_trade(ibExecID="E1.01")]))
    size = path.stat().st_size
    assert read_tree(path, max_file=size).tag == "FlexQueryResponse"
    with pytest.raises(FlexFileError, match=f"file is {size} bytes, above the {size - 1}-byte"):
        read_tree(path, max_file=size - 1)


def test_long_text_content_is_not_a_token_that_grows(tmp_path: Path) -> None:
    # Expat hands text over in pieces as it arrives: only one unfinished token is bounded.
    xml = statement_xml([stock_trade(ibExecID="E1.01")])
    xml = xml.replace("<Trades>", "<Trades>" + "t" * (MAX_TOKEN_BYTES * 2))
    flex = read_flex_file(write(tmp_path, "t.xml", xml))
    assert len(flex.statements[0].fills) == 1
