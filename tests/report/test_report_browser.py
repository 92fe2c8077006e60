"""The demo session's report in a real headless Chromium: it loads with no console error and
no request leaving the file, every chart has data points drawn, and every link to an order's
timeline lands on that order.

``ORDERTRAIL_DOCS_SCREENSHOT=docs/img/report.png`` also saves the screenshot the docs show.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.report.cdp import Browser, chromium

pytestmark = pytest.mark.skipif(
    chromium() is None and not os.environ.get("CI"),
    reason="chromium is not installed (.ci/test installs it)",
)

CHARTS = """
Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => ({
  id: g.id,
  points: g.data.reduce((n, t) => n + (t.x || []).filter(v => v !== null).length, 0),
  drawn: g.querySelectorAll('.point, .scatterlayer path.js-line').length,
}))
"""
LINKS = """
Array.from(document.querySelectorAll('a[href^="#"]')).map(a => a.getAttribute('href').slice(1))
  .filter(id => !document.getElementById(id))
"""


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo") / "data"
    # In its own process, as a user runs it: the demo quiets ib_async's logger for good.
    result = subprocess.run(
        [sys.executable, "-c", "from ordertrail.adapters.cli import main; main()",
         "demo", "--data", str(data), "--quiet"],
        capture_output=True, text=True, timeout=240,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    said = re.search(r"report of this session written to (\S+)", " ".join(result.stdout.split()))
    assert said, result.stdout
    path = Path(said.group(1))
    assert path == data / "report.html"
    return path


async def _inspect(page: Path, shot: Path) -> dict[str, Any]:
    async with Browser(height=1600) as browser:
        log = await browser.open(page.as_uri())
        charts = await browser.evaluate(CHARTS)
        dangling = await browser.evaluate(LINKS)
        problems = await browser.evaluate(
            "Array.from(document.querySelectorAll('td a')).map(a => a.textContent)"
        )
        await browser.screenshot(shot)
        target = await browser.evaluate(
            "(() => { const a = document.querySelector('td a'); a.click();"
            " return [location.hash, document.querySelector(':target')?.id]; })()"
        )
        return {"log": log, "charts": charts, "dangling": dangling, "links": problems,
                "target": target}  # fmt: skip


def test_demo_report_loads_offline_with_charts_full_of_data(
    demo_report: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    seen = asyncio.run(_inspect(demo_report, shot))
    log = seen["log"]
    assert log.console_errors == []
    assert log.exceptions == []
    assert log.requests == [demo_report.as_uri()], "the page fetched something besides itself"
    ids = {c["id"].split("_")[0] for c in seen["charts"]}
    assert ids == {"chart-pnl", "chart-slippage", "chart-life", "chart-latency"}
    for chart in seen["charts"]:
        assert chart["points"] > 0, chart
        assert chart["drawn"] > 0, chart
    assert seen["dangling"] == []
    assert seen["links"], "no table links to an order's timeline"
    hash_, target = seen["target"]
    assert hash_ == f"#{target}"
    assert target.startswith("order-")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1400, 1600)
    docs = os.environ.get("ORDERTRAIL_DOCS_SCREENSHOT")
    if docs:
        Path(docs).write_bytes(png)
