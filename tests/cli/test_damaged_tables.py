"""Damaged projection tables, built with real Delta tables: every read that meets one says so
in one line naming the table and ``ordertrail rebuild`` (exit 1, no traceback, no Rust panic
text); ``rebuild`` moves the damaged table aside and recomputes it from the event log; a
read-only folder is one clear line.

The commands run in a child process: a Rust panic prints to the process's own stderr before
Python sees it, which an in-process runner would not capture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.projections.helpers import Desk, at

CLI = "from ordertrail.adapters.cli import main; main()"
READS = (
    ("fills", "--format", "json"),
    ("timeline", "OT-1", "--format", "json"),
    ("sql", "SELECT count(*) AS n FROM orders"),
)


def ordertrail(data: Path, *args: str, prefix: Sequence[str] = ()) -> tuple[int, str, str]:
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", CLI, *args, "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TTY_INTERACTIVE": "0", "COLUMNS": "200"},
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_clear_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert "panicked" not in stderr
    return lines[0]


def desk(data: Path) -> Desk:
    d = Desk(data)
    d.place("OT-1", quantity=100, limit="10")
    d.fill("OT-1", "a.01", 60, "10", at=at(1), commission="1")
    d.place("OT-2", quantity=5, limit="10", account="U2")
    d.audit().refresh()
    return d


def corrupt_log(table: Path) -> None:
    entry = sorted((table / "_delta_log").glob("*.json"))[-1]
    entry.write_text('{"commitInfo": {"timestamp": ' + entry.read_text()[:40])


def truncated_parquet(table: Path) -> None:
    part = sorted(table.rglob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])


def missing_parquet(table: Path) -> None:
    sorted(table.rglob("*.parquet"))[0].unlink()


DAMAGES: list[tuple[Callable[[Path], None], str]] = [
    (corrupt_log, "fills"),
    (truncated_parquet, "orders"),
    (missing_parquet, "orders"),
]


@pytest.mark.parametrize(
    ("damage", "table"), DAMAGES, ids=[f"{d.__name__}-{t}" for d, t in DAMAGES]
)
def test_reads_name_the_damaged_table_and_rebuild_recomputes_it(
    tmp_path: Path, damage: Callable[[Path], None], table: str
) -> None:
    data = tmp_path / "data"
    desk(data).trail.close()
    sound = {args: ordertrail(data, *args)[1] for args in READS}
    damage(data / "delta" / table)

    for args in READS:
        code, out, err = ordertrail(data, *args)
        assert code == 1, (args, out, err)
        line = one_clear_line(err)
        assert f"damaged: {table} (" in line
        assert "`ordertrail rebuild`" in line
        assert out == ""

    code, _, err = ordertrail(data, "rebuild")
    assert code == 0, err
    assert f"{table}: damaged" in err
    kept = list((data / "delta").glob(f"{table}.damaged-*"))
    assert len(kept) == 1
    assert (kept[0] / "_delta_log").is_dir()  # set aside, not deleted
    for args in READS:
        code, out, err = ordertrail(data, *args)
        assert (code, err) == (0, ""), args
        assert out == sound[args]


def read_only(folder: Path) -> list[str]:
    """A command prefix under which ``folder`` cannot be written. The superuser writes
    through permission bits, so for it the folder is bind-mounted read-only in a private mount
    namespace (a real read-only file system, EROFS); anyone else gets its write bits removed."""
    if os.geteuid() != 0:
        for path in (folder, *folder.rglob("*")):
            if path.is_dir():
                path.chmod(0o555)
        return []
    remount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && shift && exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", remount, str(folder), "--"]


def test_a_read_only_projection_folder_is_one_clear_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    d = desk(data)
    prefix = read_only(data / "delta")

    code, out, err = ordertrail(data, "orders", "--format", "json", prefix=prefix)
    assert code == 0, err  # up to date: reading needs no write
    assert [o["client_order_id"] for o in json.loads(out)] == ["OT-1", "OT-2"]

    code, _, err = ordertrail(data, "rebuild", prefix=prefix)
    assert code == 1
    assert "cannot write the projection tables in" in one_clear_line(err)

    d.place("OT-3", quantity=1, limit="10")  # the log moves on: a read must update first
    d.trail.close()
    code, out, err = ordertrail(data, "fills", prefix=prefix)
    assert code == 1
    assert "needs write access" in one_clear_line(err)
    assert out == ""
