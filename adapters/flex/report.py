"""The reconciliation report of an import: positions, cash balances moved by conversions, and
live fills against the statement's, each with its verdict; and whether a scheduled job should
fail on it (``--fail-on mismatch|unknown``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ordertrail.adapters.flex.cash import CashCheck, reconcile_cash
from ordertrail.adapters.flex.livecheck import FillComparison, FillVerdict, compare_fills
from ordertrail.adapters.flex.reconcile import PositionCheck, Verdict, reconcile
from ordertrail.adapters.flex.recorded import RecordedFills
from ordertrail.adapters.flex.rows import FlexFile


class FailOn(enum.StrEnum):
    mismatch = "mismatch"  # something is missing or wrong
    unknown = "unknown"  # ... or cannot be proved right (an opening not stated, an ambiguity)


_MISMATCH = {
    Verdict.MISMATCH.value,
    FillVerdict.MISSING_LIVE.value,
    FillVerdict.MISSING_IN_STATEMENT.value,
    FillVerdict.DIFFERS.value,
}
_UNKNOWN = {Verdict.OPENING_BALANCE_UNKNOWN.value, FillVerdict.AMBIGUOUS.value}


@dataclass(slots=True)
class Report:
    positions: list[PositionCheck] = field(default_factory=list)
    cash: list[CashCheck] = field(default_factory=list)
    fills: list[FillComparison] = field(default_factory=list)

    def verdicts(self) -> list[str]:
        out = [c.verdict.value for c in self.positions]
        out += [c.verdict.value for c in self.cash]
        return out + [c.verdict.value for cmp in self.fills for c in cmp.checks]

    def fails(self, on: FailOn | None) -> bool:
        if on is None:
            return False
        failing = _MISMATCH | (_UNKNOWN if on is FailOn.unknown else set())
        return any(v in failing for v in self.verdicts())

    def as_dict(self) -> dict[str, Any]:
        return {
            "reconciliation": [c.as_dict() for c in self.positions],
            "cash": [c.as_dict() for c in self.cash],
            "live_fills": [c.as_dict() for c in self.fills],
        }


def build_report(files: list[FlexFile], known: RecordedFills, zone: ZoneInfo) -> Report:
    report = Report()
    for flex in files:
        report.positions += reconcile(flex, known, zone=zone)
        report.cash += reconcile_cash(flex)
        report.fills += compare_fills(flex, known)
    return report
