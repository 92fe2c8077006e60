"""Attribute access on Flex rows that collects every problem (not only the first), so one run
shows them all, each naming its line, element and attribute."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from ordertrail.adapters.flex.dates import BadDate, parse_date, parse_datetime, parse_moment
from ordertrail.adapters.flex.xmltree import Node
from ordertrail.domain.money import MAX_MAGNITUDE


class RowReader:
    """Each accessor returns None after recording a problem."""

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

    def when(self, node: Node) -> tuple[datetime | None, date, str] | None:
        """A fill's time (None when the row gives a date alone), its trade date, and the raw
        text both came from."""
        raw = self.text(node, "dateTime", "tradeDate")
        if raw is None:
            return None
        if not node.attrs.get("dateTime", "").strip() and node.attrs.get("tradeTime"):
            raw = f"{raw};{node.attrs['tradeTime']}"
        value = self._convert(node, "dateTime", raw, lambda s: parse_moment(s, self.zone))
        return (*value, raw) if isinstance(value, tuple) else None
