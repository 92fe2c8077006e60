"""The examples in README.md and docs/ run, so what the docs show is what the code does.

For every page, in document order, in a fresh working directory with ``ORDERTRAIL_DATA``
pointing at ``./ordertrail-data`` inside it (the default the pages assume):

* every ```python block runs, all of a page's blocks in one namespace, so a later block uses
  what an earlier one made. Top-level ``await`` works as in Jupyter or ``python -m asyncio``
  (one event loop per page). ``print(x)  # text`` promises that ``text`` is printed: the printed
  lines must contain each such comment, in order.
* in ```bash and ```console blocks (lines after a ``$ `` prompt), every command of a line, split
  on ``&&``, that starts with ``ordertrail `` or ``.venv/bin/ordertrail `` runs in bash and
  must exit 0. Other commands (creating the virtualenv, installing, ``bash .ci/test``) are the
  set-up this test already runs in; ``.venv`` and ``tests/flex/data`` (the sample Flex
  statements) are linked into the working directory so the pages' relative paths hold.
* ``<!-- no-test: why -->`` on the line right before a block skips it. Keep them few and say why
  (it needs a live TWS, it blocks until Ctrl-C, another test runs it).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FLEX_DATA = ROOT / "tests" / "flex" / "data"

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
NO_TEST = re.compile(r"^\s*<!--\s*no-test\b:?\s*(.*?)\s*-->\s*$")
CLI = re.compile(r"^(\.venv/bin/)?ordertrail\s")
PRINT_PROMISE = re.compile(r"^\s*print\(.*\)\s+#\s*(\S.*?)\s*$")
SHELLS = ("bash", "console", "sh", "shell")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the block's first code line
    lang: str
    code: str
    skip: str | None  # the no-test reason, if any

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for m in FENCE.finditer(text):
        start = text.count("\n", 0, m.start()) + 1
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NO_TEST.search(before)
        found.append(
            Block(page, start + 1, m.group(1), m.group(2), marker.group(1) if marker else None)
        )
    return found


def commands(block: Block) -> list[tuple[int, str]]:
    """The ordertrail commands of a shell block with their page lines: one per `&&` part,
    continuation lines joined."""
    if block.lang not in SHELLS:
        return []
    out = []
    lines = block.code.splitlines()
    i = 0
    while i < len(lines):
        first = i
        line = lines[i].strip()
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        if block.lang == "console":
            if not line.startswith("$ "):
                continue  # output shown after a command
            line = line[2:]
        parts = (part.strip() for part in line.split("&&"))
        out += [(block.line + first, part) for part in parts if CLI.match(part)]
    return out


def runnable(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.skip is None and (b.lang == "python" or commands(b))]


def _promises(code: str) -> list[str]:
    return [m.group(1) for line in code.splitlines() if (m := PRINT_PROMISE.match(line))]


class Page:
    """One page's examples: a namespace, an event loop, a working directory."""

    def __init__(self, page: Path, cwd: Path, env: dict[str, str]) -> None:
        self.page, self.cwd, self.env = page, cwd, env
        self.namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem}"}
        self.loop: asyncio.AbstractEventLoop | None = None

    def run_python(self, block: Block) -> None:
        # Padding keeps tracebacks pointing at the page's own line numbers.
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = eval(code, self.namespace)  # a coroutine when the block awaits
            if asyncio.iscoroutine(result):
                self.loop = self.loop or asyncio.new_event_loop()
                self.loop.run_until_complete(result)
        printed = out.getvalue()
        sys.stdout.write(printed)
        rest = printed
        for promise in _promises(block.code):
            at = rest.find(promise)
            assert at >= 0, f"{block.where}: expected {promise!r} printed, got:\n{printed}"
            rest = rest[at + len(promise) :]

    def run_shell(self, block: Block) -> None:
        for line, command in commands(block):
            proc = subprocess.run(
                ["bash", "-c", command],
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert proc.returncode == 0, (
                f"{block.page.relative_to(ROOT)}:{line}: `{command}` exited {proc.returncode}\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if runnable(p)],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (tmp_path / "tests" / "flex").mkdir(parents=True)
    (tmp_path / "tests" / "flex" / "data").symlink_to(FLEX_DATA, target_is_directory=True)
    data = tmp_path / "ordertrail-data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORDERTRAIL_DATA", str(data))
    monkeypatch.delenv("ORDERTRAIL_STORE", raising=False)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    runner = Page(page, tmp_path, env)
    try:
        for block in runnable(page):
            if block.lang == "python":
                runner.run_python(block)
            else:
                runner.run_shell(block)
    finally:
        runner.close()


def test_every_skip_says_why_and_marks_a_block() -> None:
    for page in PAGES:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            marker = NO_TEST.search(line)
            if marker is None:
                continue
            where = f"{page.relative_to(ROOT)}:{i + 1}"
            assert marker.group(1), f"{where}: say why the block is not run"
            following = lines[i + 1] if i + 1 < len(lines) else ""
            assert following.startswith("```"), (
                f"{where}: a no-test marker must sit on the line right before a block"
            )


def test_the_examples_are_found() -> None:
    """The collector itself can fail: the pages do hold runnable blocks and skipped ones."""
    every = [b for p in PAGES for b in blocks(p)]
    assert sum(b.lang == "python" and b.skip is None for b in every) >= 6
    assert sum(len(commands(b)) for b in every if b.skip is None) >= 15
    kit = [b for b in blocks(ROOT / "docs" / "testing-kit.md") if b.lang == "python"]
    assert kit, "docs/testing-kit.md lost its example"
    assert all(b.skip for b in kit), "tests/testing_kit runs that example: skip it here"


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_relative_links_resolve() -> None:
    """mkdocs --strict checks links between pages; this checks the README and links from the
    docs to files of the repository outside the site."""
    broken = []
    for page in PAGES:
        text = FENCE.sub("", page.read_text())
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def _json_blocks(page: str) -> list[Block]:
    return [b for b in blocks(ROOT / "docs" / page) if b.lang == "json"]


def test_the_scenario_file_shown_loads(tmp_path: Path) -> None:
    from ordertrail.adapters.simulator import load_scenario

    (block,) = _json_blocks("simulator.md")
    path = tmp_path / "my-scenario.json"
    path.write_text(block.code)
    scenario = load_scenario(path)
    assert scenario.accounts == ["DU1234567", "DU7654321"]
    assert len(scenario.behaviours) == 5


def test_the_flex_json_output_shown_is_what_the_import_prints(tmp_path: Path) -> None:
    """docs/flex.md shows `--format json` for the first sample statement (one of its
    reconciliation rows): the counts, warnings and that row are the real output."""
    from typer.testing import CliRunner

    from ordertrail.adapters.cli import app

    (shown_block,) = _json_blocks("flex.md")
    shown = json.loads(shown_block.code)
    result = CliRunner().invoke(
        app,
        [
            "import-flex",
            str(FLEX_DATA / "activity_2025-08-04_08.xml"),
            "--format",
            "json",
            "--data",
            str(tmp_path / "data"),
        ],
    )
    assert result.exit_code == 0, result.output
    actual = json.loads(result.stdout)
    assert shown["imported"] == actual["imported"]
    assert shown["warnings"] == actual["warnings"]
    assert shown["errors"] == actual["errors"]
    for row in shown["reconciliation"]:
        assert row in actual["reconciliation"]
