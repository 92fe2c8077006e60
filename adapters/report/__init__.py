"""``ordertrail report``: a self-contained HTML report of a session or a date range, per
account — PnL and commissions, slippage, each order's life, outcomes by symbol, latency, and
every IB error and anomaly linked to its order's timeline (docs/report.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ordertrail.adapters.report.data import ReportData, collect
from ordertrail.adapters.report.page import render
from ordertrail.projections.api import Audit
from ordertrail.projections.filters import Filters

__all__ = ["ReportData", "collect", "render", "write_report"]


def write_report(
    audit: Audit, out: str | Path, filters: Filters | None = None, *, source: str = ""
) -> Path:
    """Write the report for ``filters`` (default: everything, in the local zone) to ``out``."""
    data = collect(audit, filters or Filters.build(), source or audit.config.describe())
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(data, datetime.now(UTC)), encoding="utf-8")
    tmp.replace(path)
    return path
