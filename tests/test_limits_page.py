"""docs/limits.md proves each promise with a test: every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r"`(tests/[\w/]+\.py)?::(\w+)`")


def cited_tests(page: str) -> list[tuple[str, str]]:
    """(file, test) for every `file::name` and every `::name` that follows one in its cell."""
    out: list[tuple[str, str]] = []
    for line in page.splitlines():
        current = ""
        for file, name in CELL.findall(line):
            current = file or current
            assert current, f"{line}: `::{name}` names no file before it"
            out.append((current, name))
    return out


def test_every_test_the_limits_page_cites_exists() -> None:
    cited = cited_tests((ROOT / "docs" / "limits.md").read_text())
    assert len(cited) >= 20
    missing = [
        f"{file}::{name}"
        for file, name in cited
        if not re.search(rf"^def {name}\(", (ROOT / file).read_text(), flags=re.M)
    ]
    assert missing == []
