"""The docs' notebook runs top to bottom in a real Jupyter kernel (the one this test's Python
provides), in a scratch directory: every cell without an error, and the answers it shows are
the ones it claims."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "ordertrail.ipynb"


def _text(cell: nbformat.NotebookNode) -> str:
    out = []
    for o in cell.get("outputs", []):
        out.append(o.get("text", "") or o.get("data", {}).get("text/plain", ""))
    return "".join(out)


def test_notebook_runs_and_shows_the_recorded_fill(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {**os.environ, "ORDERTRAIL_DATA": str(tmp_path / "unused")}
    client = NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "True PLACED" in _text(code[1])
    assert "Filled" in _text(code[3])
    assert "187.24" in _text(code[4])
    assert "AAPL" in _text(code[7])
    assert "100" in _text(code[7])
    assert _text(code[8]).endswith("True\n")
    assert (tmp_path / "notebook-data" / "events.sqlite").exists()
    assert not (tmp_path / "unused").exists()


if not NOTEBOOK.exists():  # pragma: no cover - the docs ship it
    pytest.fail(f"{NOTEBOOK} is missing")
