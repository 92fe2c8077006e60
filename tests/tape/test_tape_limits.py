"""Tape input limits: a line, a tape and its bad lines each have a documented maximum, enforced
while reading (a decompression bomb is refused after one line's worth of memory); an empty
tape is an error; replay's summary counts only the events it recorded itself."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.tape import Replayer, check_tape
from ordertrail.adapters.tape.format import LIMITS, TapeLimits
from ordertrail.adapters.tape.reader import TapeScanner
from ordertrail.adapters.trail import OrderTrail
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType

from .sessions import event_log

runner = CliRunner()


def replay(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["replay", *args])
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("name", ["empty.tape", "empty.tape.gz"])
def test_an_empty_tape_is_an_error_even_with_skip_bad(tmp_path: Path, name: str) -> None:
    tape = tmp_path / name
    tape.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
    data = str(tmp_path / "data")
    for extra in ([], ["--skip-bad"]):
        code, out, err = replay(str(tape), "--data", data, *extra)
        assert code == 1
        line = one_error_line(err)
        assert f"{tape}:1: empty" in line
        assert ("0 events recorded" in out) if extra else out == ""
    assert event_log(tmp_path / "data") == []


def nul_bomb(path: Path, gib: int = 1) -> None:
    """A gzip of ``gib`` GiB of NULs, about 1 MB on disk: gzip members concatenate, so one
    compressed 16 MiB member written 64 times per GiB is one stream to a reader."""
    member = gzip.compress(bytes(16 << 20), compresslevel=9)
    with path.open("wb") as f:
        for _ in range(64 * gib):
            f.write(member)


def test_a_gzip_of_a_gib_of_nuls_is_refused_at_its_first_line_in_bounded_memory(
    tmp_path: Path,
) -> None:
    bomb = tmp_path / "bomb.tape.gz"
    nul_bomb(bomb)
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        check = check_tape(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(p.kind, p.line) for p in check.problems] == [("limit", 1)]
    # One line's worth (the limit, plus the buffer it was read into), not the gigabyte.
    assert peak < 3 * LIMITS.line_bytes
    code, _, err = replay(str(bomb), "--data", str(tmp_path / "data"), "--skip-bad")
    assert code == 1
    assert f"{bomb}:1: limit: line longer than 50,331,648 bytes" in one_error_line(
        err.replace("skipped: ", "")
    )
    assert event_log(tmp_path / "data") == []


def message(seq: int, fields: list[str]) -> bytes:
    line = {"seq": seq, "ts": f"2024-03-15T13:30:{seq:02d}.000000Z", "dir": "in", "f": fields}
    return json.dumps(line).encode() + b"\n"


HEADER = (
    json.dumps(
        {"tape": "ordertrail-wire-tape", "format": 1, "session": "s", "server_version": 178,
         "client_id": 1}
    ).encode()
    + b"\n"
)  # fmt: skip


def error_message_of_length(seq: int, length: int) -> bytes:
    """An IB error message (id 4) whose tape line is exactly ``length`` bytes long, newline
    not counted."""
    short = message(seq, ["4", "2", "-1", "2104", "", ""])
    return message(seq, ["4", "2", "-1", "2104", "x" * (length - len(short) + 1), ""])


@pytest.mark.parametrize(("length", "refused"), [(4096, False), (4097, True)])
def test_a_line_at_the_limit_is_read_one_byte_more_is_not(
    tmp_path: Path, length: int, refused: bool
) -> None:
    limits = TapeLimits(line_bytes=4096)
    line = error_message_of_length(2, length)
    assert len(line) == length + 1
    tape = tmp_path / "t.tape"
    tape.write_bytes(HEADER + message(1, ["9", "1", "5"]) + line + message(3, ["9", "1", "6"]))
    problems = check_tape(tape, limits).problems
    if refused:
        assert [(p.kind, p.line) for p in problems] == [("limit", 3)]
        assert "4,096 bytes" in problems[0].message
    else:
        assert problems == []


def test_the_decompressed_size_limit(tmp_path: Path) -> None:
    lines = HEADER + message(1, ["9", "1", "5"]) + message(2, ["9", "1", "6"])
    tape = tmp_path / "t.tape.gz"
    tape.write_bytes(gzip.compress(lines))
    assert check_tape(tape, TapeLimits(tape_bytes=len(lines))).problems == []
    problems = check_tape(tape, TapeLimits(tape_bytes=len(lines) - 1)).problems
    assert [(p.kind, p.line) for p in problems] == [("limit", 3)]
    assert "decompressed" in problems[0].message


def test_after_too_many_bad_lines_the_rest_is_not_read(tmp_path: Path) -> None:
    tape = tmp_path / "junk.tape"
    tape.write_bytes(HEADER + b"not json\n" * 50 + message(1, ["9", "1", "5"]))
    scanner = TapeScanner(tape, TapeLimits(problems=5))
    items = list(scanner.items())
    kinds = [p.kind for p in scanner.problems]
    assert kinds == ["malformed"] * 5 + ["limit"]
    assert scanner.problems[-1].line == 7
    assert [m for _, m in items if m is not None] == []  # the good last line was never reached


def test_replay_counts_only_its_own_events_while_another_process_writes(
    good_tape: Path, tmp_path: Path
) -> None:
    alone = Replayer(StoreConfig.resolve(tmp_path / "alone")).replay(good_tape)
    assert alone.events > 0

    config = StoreConfig.resolve(tmp_path / "shared")
    other = OrderTrail(config)
    placed = iter(range(1_000))

    def another_writer(_n: int) -> None:
        # Another process recording into the same store between the replay's batches.
        spec = OrderSpec(OrderAction.BUY, Decimal(1), OrderType.LIMIT, limit_price=Decimal(1))
        coid = f"OT-other-{next(placed)}"
        other.place(client_order_id=coid, contract=ContractRef(1, "X"), spec=spec)

    shared = Replayer(config, progress=another_writer, batch_size=1).replay(good_tape)
    others = next(placed)
    other.close()
    assert others > 0
    assert shared.events == alone.events
    assert len(event_log(tmp_path / "shared")) > shared.events
