"""The docs say what the code does: generated blocks match the code, and the pages exist in the
site's navigation."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ordertrail.adapters.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_state_machine_page_shows_the_diagrams_drawn_from_the_definition() -> None:
    page = (DOCS / "state-machine.md").read_text()
    for view in ("main", "surprises"):
        image = f"img/state-machine-{view}.svg"
        assert f"]({image})" in page
        assert (DOCS / image).read_text().strip() == _cli("diagram", "--svg", view)
    # Rendered offline: no diagram left for a script fetched from a CDN to draw.
    assert "```mermaid" not in page


def test_state_machine_page_lists_every_anomalous_edge() -> None:
    page = (DOCS / "state-machine.md").read_text()
    assert _cli("diagram", "--anomaly-table") in page


def test_every_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / ".mkdocs.yml").read_text()
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    missing = [p for p in pages if p not in nav]
    assert missing == []


def test_readme_first_screen_has_the_two_setup_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert ".venv/bin/ordertrail demo" in first_screen
    assert "bash .ci/test" in first_screen
    assert "bash .ci/test" in (ROOT / ".ci" / "run").read_text()


def test_ib_adapter_page_shows_the_error_code_table_from_the_code() -> None:
    from ordertrail.domain.ib_errors import code_table_markdown

    page = (DOCS / "ib-adapter.md").read_text()
    assert code_table_markdown() in page
