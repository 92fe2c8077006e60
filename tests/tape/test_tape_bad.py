"""Bad tapes: each problem named with its file and line; a bad tape records nothing unless
skip_bad, which replays the good lines and reports what it skipped."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.tape import Replayer, TapeFile, TapeFileError, check_tape

from .sessions import event_log

Edit = Callable[[list[str]], list[str]]


def lines_of(tape: Path) -> list[str]:
    return tape.read_text().splitlines(keepends=True)


def message_line(lines: list[str], msg_id: str) -> int:
    """Index of the first incoming message with this id."""
    for i, line in enumerate(lines):
        d = json.loads(line)
        if d.get("dir") == "in" and d["f"] and d["f"][0] == msg_id and "kind" not in d:
            return i
    raise AssertionError(f"no message {msg_id}")


def with_fields(line: str, change: Callable[[list[str]], list[str]]) -> str:
    d = json.loads(line)
    d["f"] = change(d["f"])
    return json.dumps(d) + "\n"


def torn(lines: list[str]) -> list[str]:
    return [*lines[:-1], lines[-1][: len(lines[-1]) // 2]]


def reordered(lines: list[str]) -> list[str]:
    i = message_line(lines, "3")
    return [*lines[:i], lines[i + 1], lines[i], *lines[i + 2 :]]


def unknown_id(lines: list[str]) -> list[str]:
    i = message_line(lines, "3")
    return [*lines[:i], with_fields(lines[i], lambda f: ["999", *f[1:]]), *lines[i + 1 :]]


def status_too_long(lines: list[str]) -> list[str]:
    i = message_line(lines, "3")
    return [*lines[:i], with_fields(lines[i], lambda f: [*f, "x"]), *lines[i + 1 :]]


def open_order_too_short(lines: list[str]) -> list[str]:
    # Caught only by ib_async's decoder failing (and logging) on it.
    i = message_line(lines, "5")
    return [*lines[:i], with_fields(lines[i], lambda f: f[:40]), *lines[i + 1 :]]


def old_server(lines: list[str]) -> list[str]:
    d = json.loads(lines[0])
    d["server_version"] = 150
    return [json.dumps(d) + "\n", *lines[1:]]


def future_format(lines: list[str]) -> list[str]:
    d = json.loads(lines[0])
    d["format"] = 2
    return [json.dumps(d) + "\n", *lines[1:]]


CASES: list[tuple[Edit, str, Callable[[list[str]], int]]] = [
    (reordered, "sequence", lambda ls: message_line(ls, "3") + 1),
    (unknown_id, "unknown_message", lambda ls: message_line(ls, "3") + 1),
    (status_too_long, "field_count", lambda ls: message_line(ls, "3") + 1),
    (open_order_too_short, "decoder", lambda ls: message_line(ls, "5") + 1),
    (old_server, "unsupported", lambda _ls: 1),
    (future_format, "unsupported", lambda _ls: 1),
]


@pytest.mark.parametrize(("edit", "kind", "line"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_tape_is_refused_then_skipped(
    good_tape: Path, tmp_path: Path, edit: Edit, kind: str, line: Callable[[list[str]], int]
) -> None:
    good = lines_of(good_tape)
    bad = tmp_path / "bad.tape"
    bad.write_text("".join(edit(good)))
    problems = check_tape(bad).problems
    assert [p.kind for p in problems if p.kind == kind], problems
    assert any(p.line == line(good) and p.kind == kind for p in problems), problems
    assert str(bad) in str(problems[0])

    refused = Replayer(StoreConfig.resolve(tmp_path / "data")).replay(bad)
    assert refused.refused
    assert refused.events == 0
    assert event_log(tmp_path / "data") == []

    skipped = Replayer(StoreConfig.resolve(tmp_path / "data"), skip_bad=True).replay(bad)
    assert not skipped.refused
    assert skipped.problems
    if kind != "unsupported":  # a segment with an unusable header has nothing to replay
        assert skipped.events > 0


def test_torn_last_line_is_reported_and_the_rest_replayed(good_tape: Path, tmp_path: Path) -> None:
    good = lines_of(good_tape)
    bad = tmp_path / "torn.tape"
    bad.write_text("".join(torn(good)))
    report = Replayer(StoreConfig.resolve(tmp_path / "data")).replay(bad)
    assert [(p.kind, p.line) for p in report.problems] == [("torn", len(good))]
    assert not report.refused
    assert report.events > 0
    whole = Replayer(StoreConfig.resolve(tmp_path / "whole")).replay(good_tape)
    # The torn line is the end line: every message was replayed.
    assert event_log(tmp_path / "data") == event_log(tmp_path / "whole")
    assert whole.ok


def test_appending_after_a_crash_keeps_the_torn_line_apart(good_tape: Path, tmp_path: Path) -> None:
    good = lines_of(good_tape)
    tape = tmp_path / "appended.tape"
    tape.write_text("".join(torn(good)))
    f = TapeFile(tape)  # a new recording appends a segment
    f.write(json.loads(good[0]) | {"session": "second"})
    f.close()
    check = check_tape(tape)
    assert len(check.segments) == 2
    assert [(p.kind, p.line) for p in check.problems] == [("torn", len(good))]


def test_truncated_gzip_tape(good_tape: Path, tmp_path: Path) -> None:
    data = gzip.compress(good_tape.read_bytes())
    cut = tmp_path / "cut.tape.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    check = check_tape(cut)
    assert [p.kind for p in check.problems] == ["torn"]
    report = Replayer(StoreConfig.resolve(tmp_path / "data")).replay(cut)
    assert not report.refused
    with pytest.raises(TapeFileError, match="truncated"):
        TapeFile(cut)


def test_gzip_tapes_append_members(good_tape: Path, tmp_path: Path) -> None:
    tape = tmp_path / "two.tape.gz"
    for session in ("a", "b"):
        f = TapeFile(tape)
        for line in lines_of(good_tape):
            d = json.loads(line)
            f.write(d | {"session": session} if "tape" in d else d)
        f.close()
    check = check_tape(tape)
    assert [s.header.session for s in check.segments if s.header] == ["a", "b"]
    assert check.problems == []
