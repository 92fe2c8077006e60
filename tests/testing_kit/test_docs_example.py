"""The example in docs/testing-kit.md runs as a user would run it: copied into a fresh test
folder, with ordertrail's pytest plugin loaded from the installed package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-kit.md"


def test_documented_example_passes_in_a_users_project(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, "docs/testing-kit.md lost its example"
    (tmp_path / "test_user_example.py").write_text(blocks[0])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout


def test_a_keeper_that_double_counts_corrections_is_caught(tmp_path: Path) -> None:
    """The kit must be able to fail: the same example with a naive keeper (it sums every fill
    event, so an execution correction counts twice) does not pass."""
    (example,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[:1]
    naive = example.replace(
        'base = fill.execution.execId.rpartition(".")[0]', "base = fill.execution.execId"
    )
    assert naive != example
    naive = naive.replace("max_examples=15", "max_examples=60")
    (tmp_path / "test_naive.py").write_text(naive)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "FAILED test_naive.py::test_position_keeper_matches_the_broker" in proc.stdout
    assert "assert keeper.position ==" in proc.stdout
