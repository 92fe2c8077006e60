"""Hostile input to every command: each gets a clear ``error:`` naming what was wrong and where,
a non-zero exit code, no traceback, and leaves what the store already held intact."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from ib_async import IB
from typer.testing import CliRunner

from ordertrail.adapters.cli import app
from ordertrail.adapters.ib.recorder import IbRecorder
from ordertrail.adapters.store.config import StoreConfig
from ordertrail.adapters.testing.harness import Harness, IbErrorLog, run_with_simulator
from ordertrail.adapters.trail import FactKey, OrderTrail
from ordertrail.domain.facts import StatusReport
from ordertrail.domain.status import OrderStatus
from ordertrail.domain.values import ContractRef, OrderAction, OrderSpec, OrderType
from tests.execution.gated_orders import GatedOrders
from tests.tape.sessions import Live, quiet_market, recorded_tape
from tests.tape.test_tape_cli import ThreadedSimulator

runner = CliRunner()
FLEX = Path(__file__).parent.parent / "flex" / "data"
GOOD_FLEX = FLEX / "activity_2025-08-04_08.xml"
AAPL = ContractRef(265598, "AAPL")
SENTINEL = "1.7976931348623157E308"  # IB's unset double (Double.MAX_VALUE)


# ---- helpers ------------------------------------------------------------------------------------


def events(data: Path) -> int:
    """Events in the SQLite store (read with sqlite3, not ordertrail, so a bug cannot hide)."""
    with sqlite3.connect(data / "events.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM stored_events").fetchone()[0])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_refused(result: Result, *needles: str) -> None:
    """Exit code non-zero, one clear error naming each needle, no traceback."""
    text = result.output  # stdout and stderr, as a user sees them
    assert result.exit_code != 0, text
    # An exception typer did not turn into an exit is what the user would see as a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in text, text
    assert "error" in text.lower(), text
    for needle in needles:
        assert needle in text, (needle, text)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A store holding one order (placed, submitted, Submitted by IB)."""
    root = tmp_path / "data"
    trail = OrderTrail(StoreConfig.resolve(root))
    oid = trail.place(
        client_order_id="OT-held-1",
        contract=AAPL,
        spec=OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal(150)),
    )
    trail.submit(oid, client_id=1, order_id=7)
    trail.record(
        FactKey(client_id=1, order_id=7, perm_id=90001),
        StatusReport(
            raw_status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(100),
            avg_fill_price=None,
            perm_id=FactKey(client_id=1, order_id=7, perm_id=90001).perm_id,
        ),
    )
    trail.close()
    assert events(root) >= 3
    return root


# ---- audit views: options, order ids -----------------------------------------------------------

AUDIT_CASES = [
    (["orders", "--as-of", "garbage"], ["--as-of", "garbage", "ISO 8601"]),
    (["fills", "--as-of", "2024-13-45"], ["--as-of", "2024-13-45"]),
    # Year 1 with an offset is a valid ISO time with no UTC equivalent (OverflowError).
    (["positions", "--as-of", "0001-01-01T00:00:00+01:00"], ["--as-of", "out of range"]),
    (["brackets", "--as-of", "9999-12-31T23:59:59-05:00"], ["--as-of", "out of range"]),
    (["orders", "--clock", "wall"], ["--clock", "'wall'"]),
    (["orders", "--format", "xml"], ["--format", "xml"]),
    (["timeline", "OT-nope"], ["OT-nope"]),
    (["timeline", "0"], ["'0'"]),
]


@pytest.mark.parametrize(
    ("args", "needles"), AUDIT_CASES, ids=[" ".join(c[0]) for c in AUDIT_CASES]
)
def test_audit_option_errors(data: Path, args: list[str], needles: list[str]) -> None:
    before = events(data)
    assert_refused(invoke(*args, "--data", str(data)), *needles)
    assert events(data) == before


# ---- where the store is --------------------------------------------------------------------------

STORE_COMMANDS = [
    ["orders"],
    ["rebuild"],
    ["timeline", "OT-held-1"],
    ["replay", "{tape}"],
    ["import-flex", str(GOOD_FLEX)],
    ["place", "AAPL", "--action", "BUY", "--qty", "1", "--limit", "150", "--dry-run"],
    ["cancel", "DRY_OT-x"],
]


def _args(command: list[str], tape: Path) -> list[str]:
    return [a.format(tape=tape) for a in command]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=[c[0] for c in STORE_COMMANDS])
def test_data_is_a_file(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a directory\n")
    result = invoke(*_args(command, tmp_path / "x.tape"), "--data", str(target))
    assert_refused(result, f"--data {target}", "not a directory")
    assert target.read_text() == "not a directory\n"


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=[c[0] for c in STORE_COMMANDS])
@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda b: b"this is a text file, not SQLite " * 8, "file is not a database"),
        (lambda b: b[:8192], "malformed"),
    ],
    ids=["not_sqlite", "truncated"],
)
def test_corrupt_event_store_is_named_and_left_alone(
    data: Path,
    good_tape: Path,
    command: list[str],
    damage: Callable[[bytes], bytes],
    reason: str,
) -> None:
    db = data / "events.sqlite"
    db.write_bytes(damage(db.read_bytes()))
    before = digest(db)
    result = invoke(*_args(command, good_tape), "--data", str(data))
    assert_refused(result, "cannot open the event store", str(db), reason)
    assert digest(db) == before


@pytest.mark.parametrize(
    ("store", "needles"),
    [
        ("mysql://localhost/db", ["--store", "postgresql://", "mysql://localhost/db"]),
        ("postgresql://u:p@127.0.0.1:99999/db", ["--store", "Port out of range"]),
        ("postgresql://u:p@[::1/db", ["--store", "IPv6"]),
    ],
)
def test_store_url_errors(data: Path, store: str, needles: list[str]) -> None:
    before = events(data)
    assert_refused(invoke("orders", "--data", str(data), "--store", store), *needles)
    assert events(data) == before


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_store_on_a_closed_port(data: Path, good_tape: Path) -> None:
    # replay opens the tape ledger first with one direct connection: refused at once.
    url = f"postgresql://u:secret@127.0.0.1:{_closed_port()}/db"
    result = invoke("replay", str(good_tape), "--data", str(data), "--store", url)
    assert_refused(result, "cannot open the event store", "postgresql://127.0.0.1:", "refused")
    assert "secret" not in result.output + result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_unwritable_data_directory(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        result = invoke("place", "AAPL", "--action", "BUY", "--qty", "1", "--limit", "150",
                        "--dry-run", "--data", str(root))  # fmt: skip
        assert_refused(result, str(root))
    finally:
        root.chmod(0o700)


# ---- wire tapes ---------------------------------------------------------------------------------


async def _small_session(s: Live) -> None:
    trade = await s.place(10)
    s.h.sim.fill(trade.order.orderId, 4, 150)
    s.h.sim.fill(trade.order.orderId, 6, 150)


@pytest.fixture(scope="module")
def good_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_tape(tmp_path_factory.mktemp("tape"), "good.tape", _small_session)


def _index(lines: list[str], msg_id: str) -> int:
    for i, line in enumerate(lines):
        d = json.loads(line)
        if d.get("dir") == "in" and "kind" not in d and d["f"] and d["f"][0] == msg_id:
            return i
    raise AssertionError(f"no message {msg_id} on the tape")


def _fields(msg_id: str, change: Callable[[list[str]], list[str]]) -> Callable[[list[str]], Any]:
    def edit(lines: list[str]) -> tuple[list[str], int]:
        i = _index(lines, msg_id)
        d = json.loads(lines[i])
        d["f"] = change(d["f"])
        return [*lines[:i], json.dumps(d) + "\n", *lines[i + 1 :]], i + 1

    return edit


def _insert(text: str) -> Callable[[list[str]], Any]:
    def edit(lines: list[str]) -> tuple[list[str], int]:
        i = _index(lines, "3")
        return [*lines[:i], text, *lines[i:]], i + 1

    return edit


def _header(key: str, value: object) -> Callable[[list[str]], Any]:
    def edit(lines: list[str]) -> tuple[list[str], int]:
        d = json.loads(lines[0])
        d[key] = value
        return [json.dumps(d) + "\n", *lines[1:]], 1

    return edit


# orderStatus fields: 3, orderId, status, filled, remaining, avgFillPrice, permId, parentId,
# lastFillPrice, clientId, whyHeld, mktCapPrice. execDetails: shares at 19, price at 20.
TAPE_CASES: list[tuple[str, Callable[[list[str]], Any], str, str]] = [
    ("garbage_json", _insert("{this is not json\n"), "malformed", "not a JSON object"),
    ("json_array", _insert("[1, 2, 3]\n"), "malformed", "not a JSON object"),
    ("missing_keys", _insert('{"seq": 5}\n'), "malformed", "seq/ts"),
    ("too_few_fields", _fields("3", lambda f: f[:-2]), "field_count", "has 10 fields"),
    ("too_many_fields", _fields("3", lambda f: [*f, "x"]), "field_count", "has 13 fields"),
    ("unknown_message", _fields("3", lambda f: ["999", *f[1:]]), "unknown_message", "999"),
    ("format_version", _header("format", 99), "unsupported", "tape format 99"),
    ("server_version", _header("server_version", 150), "unsupported", "150"),
    ("status_foo", _fields("3", lambda f: [*f[:2], "Foo", *f[3:]]), "fact", "status='Foo'"),
    ("filled_nan", _fields("3", lambda f: [*f[:3], "nan", *f[4:]]), "fact", "filled=nan"),
    ("filled_sentinel", _fields("3", lambda f: [*f[:3], SENTINEL, *f[4:]]), "fact", "unset"),
    ("filled_negative", _fields("3", lambda f: [*f[:3], "-5", *f[4:]]), "fact", "negative"),
    ("remaining_inf", _fields("3", lambda f: [*f[:4], "inf", *f[5:]]), "fact", "not a finite"),
    ("shares_nan", _fields("11", lambda f: [*f[:19], "nan", *f[20:]]), "fact", "shares=nan"),
    ("price_nan", _fields("11", lambda f: [*f[:20], "nan", *f[21:]]), "fact", "price=nan"),
]


@pytest.mark.parametrize(
    ("edit", "kind", "message"), [c[1:] for c in TAPE_CASES], ids=[c[0] for c in TAPE_CASES]
)
def test_bad_tape_records_nothing(
    data: Path, good_tape: Path, tmp_path: Path, edit: Any, kind: str, message: str
) -> None:
    lines, line = edit(good_tape.read_text().splitlines(keepends=True))
    bad = tmp_path / "bad.tape"
    bad.write_text("".join(lines))
    before = events(data)
    result = invoke("replay", str(bad), "--data", str(data))
    assert_refused(result, f"{bad}:{line}: {kind}:", message, "not replayed")
    assert events(data) == before


def test_torn_last_line_is_an_error_but_keeps_the_complete_lines(
    data: Path, good_tape: Path, tmp_path: Path
) -> None:
    lines = good_tape.read_text().splitlines(keepends=True)
    bad = tmp_path / "torn.tape"
    bad.write_text("".join([*lines[:-1], lines[-1][: len(lines[-1]) // 2]]))
    before = events(data)
    result = invoke("replay", str(bad), "--data", str(data))
    assert_refused(result, f"{bad}:{len(lines)}: torn:")
    assert events(data) > before  # the complete lines were replayed, nothing was lost


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda p: p.mkdir(), ["a directory, not a tape"]),
        (lambda p: None, ["no such file"]),
        (lambda p: p.write_bytes(b"\x00\xff\xfe binary \x80\n"), ["malformed"]),
        (lambda p: p.write_text("{}\n"), ["no_header"]),
    ],
    ids=["directory", "missing", "binary", "no_header"],
)
def test_not_a_tape(
    data: Path, tmp_path: Path, make: Callable[[Path], None], needles: list[str]
) -> None:
    path = tmp_path / "x.tape"
    make(path)
    before = events(data)
    assert_refused(invoke("replay", str(path), "--data", str(data)), str(path), *needles)
    assert events(data) == before


def test_not_gzip_under_a_gz_name(data: Path, good_tape: Path, tmp_path: Path) -> None:
    path = tmp_path / "plain.tape.gz"
    path.write_bytes(good_tape.read_bytes())
    before = events(data)
    assert_refused(invoke("replay", str(path), "--data", str(data)), str(path), "compressed")
    assert events(data) == before


def test_skip_bad_replays_the_rest_and_names_the_skipped_line(
    data: Path, good_tape: Path, tmp_path: Path
) -> None:
    edit = _fields("3", lambda f: [*f[:2], "Foo", *f[3:]])
    lines, line = edit(good_tape.read_text().splitlines(keepends=True))
    bad = tmp_path / "bad.tape"
    bad.write_text("".join(lines))
    before = events(data)
    result = invoke("replay", str(bad), "--data", str(data), "--skip-bad")
    assert result.exit_code == 0, result.output
    assert f"{bad}:{line}: fact:" in result.stderr
    assert events(data) > before


# ---- Flex statements ----------------------------------------------------------------------------


def _flex(attribute: str, value: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        text = GOOD_FLEX.read_text()
        head, rest = text.split(f'{attribute}="', 1)
        _old, tail = rest.split('"', 1)
        path.write_text(f'{head}{attribute}="{value}"{tail}')

    return write


FLEX_CASES: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("empty", lambda p: p.write_text(""), ["malformed XML"]),
    ("binary", lambda p: p.write_bytes(b"\x00\x01\x02"), ["malformed XML"]),
    ("html", lambda p: p.write_text("<html><body/></html>"), ["not a FlexQueryResponse"]),
    ("truncated", lambda p: p.write_text(GOOD_FLEX.read_text()[:900]), ["malformed XML"]),
    ("quantity_nan", _flex("quantity", "nan"), ["line 14", "quantity='nan'"]),
    ("price_inf", _flex("tradePrice", "inf"), ["line 14", "tradePrice='inf'"]),
    # Recorded, IB's unset double would overflow the audit tables and break every later read.
    ("quantity_sentinel", _flex("quantity", SENTINEL), ["line 14", f"quantity='{SENTINEL}'"]),
    ("quantity_huge", _flex("quantity", "1e30"), ["line 14", "quantity='1e30'"]),
    ("directory", lambda p: p.mkdir(), ["Is a directory"]),
    ("missing", lambda p: None, ["No such file"]),
]


@pytest.mark.parametrize(
    ("make", "needles"), [c[1:] for c in FLEX_CASES], ids=[c[0] for c in FLEX_CASES]
)
def test_bad_flex_records_nothing(
    data: Path, tmp_path: Path, make: Callable[[Path], None], needles: list[str]
) -> None:
    path = tmp_path / "statement.xml"
    make(path)
    before = events(data)
    assert_refused(invoke("import-flex", str(path), "--data", str(data)), str(path), *needles)
    assert events(data) == before
    # What was recorded can still be read (no poisoned value reached the tables).
    assert invoke("positions", "--data", str(data), "--format", "csv").exit_code == 0


def test_a_bad_flex_file_does_not_undo_a_good_one(data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    _flex("quantity", SENTINEL)(bad)
    before = events(data)
    result = invoke("import-flex", str(GOOD_FLEX), str(bad), "--data", str(data))
    assert_refused(result, str(bad))
    assert events(data) > before


# ---- read-only SQL ------------------------------------------------------------------------------

SQL_CASES = [
    ("DELETE FROM orders", "not DELETE"),
    ("INSERT INTO orders SELECT * FROM orders", "not INSERT"),
    ("CREATE TABLE x AS SELECT 1", "not CREATE"),
    ("COPY orders TO '/tmp/x.csv'", "not COPY"),
    ("SELECT 1; DROP TABLE orders", "only one statement"),
    ("SELECT 1; SELECT 2", "only one statement"),
    ("", "empty query"),
    ("SELECT * FROM no_such_table", "SQL"),
]


@pytest.mark.parametrize(("query", "needle"), SQL_CASES, ids=[c[0] or "empty" for c in SQL_CASES])
def test_sql_refuses_writes_and_two_statements(data: Path, query: str, needle: str) -> None:
    before = events(data)
    assert_refused(invoke("sql", query, "--data", str(data)), needle)
    assert events(data) == before
    ok = invoke("sql", "SELECT count(*) AS n FROM orders", "--data", str(data), "--format", "csv")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.splitlines() == ["n", "1"]


# ---- order entry (--dry-run) --------------------------------------------------------------------

PLACE = ["place", "AAPL", "--action", "BUY", "--dry-run"]
BRACKET = ["bracket", "AAPL", "--action", "BUY", "--dry-run"]
TWAP = ["twap", "AAPL", "--action", "BUY", "--dry-run", "--duration", "0.05"]
ORDER_CASES: list[tuple[str, list[str], list[str]]] = [
    ("qty_negative", [*PLACE, "--qty", "-5", "--limit", "10"], ["quantity", "-5"]),
    ("qty_zero", [*PLACE, "--qty", "0", "--limit", "10"], ["quantity", "must be > 0"]),
    ("qty_nan", [*PLACE, "--qty", "nan", "--limit", "10"], ["--qty", "'nan'"]),
    ("qty_inf", [*PLACE, "--qty", "inf", "--limit", "10"], ["--qty", "'inf'"]),
    ("qty_text", [*PLACE, "--qty", "ten", "--limit", "10"], ["--qty", "'ten'"]),
    # Refused by the RiskGate, a 1e30 order would still be recorded and poison the tables.
    ("qty_huge", [*PLACE, "--qty", "1e30", "--limit", "10"], ["quantity", "1E+30"]),
    ("qty_sentinel", [*PLACE, "--qty", SENTINEL, "--limit", "10"], ["quantity", "must be below"]),
    ("limit_nan", [*PLACE, "--qty", "1", "--limit", "nan"], ["--limit", "'nan'"]),
    ("limit_negative", [*PLACE, "--qty", "1", "--limit", "-1"], ["limit_price", "-1"]),
    ("limit_huge", [*PLACE, "--qty", "1", "--limit", "1e30"], ["limit_price", "1E+30"]),
    ("stop_nan", [*PLACE, "--qty", "1", "--type", "STP", "--stop", "nan"], ["--stop", "'nan'"]),
    ("multiplier_nan", [*PLACE, "--qty", "1", "--limit", "10", "--multiplier", "nan"],
     ["--multiplier", "'nan'"]),
    ("multiplier_zero", [*PLACE, "--qty", "1", "--limit", "10", "--multiplier", "0"],
     ["contract.multiplier", "must be > 0"]),
    ("max_quantity_nan", [*PLACE, "--qty", "1", "--limit", "10", "--max-quantity", "nan"],
     ["--max-quantity", "'nan'"]),
    ("price_band_negative", [*PLACE, "--qty", "1", "--limit", "10", "--price-band", "-1"],
     ["--price-band", "negative"]),
    ("bracket_qty_nan", [*BRACKET, "--qty", "nan", "--entry", "10", "--take-profit", "11",
                         "--stop-loss", "9"], ["--qty", "'nan'"]),
    ("bracket_qty_zero", [*BRACKET, "--qty", "0", "--entry", "10", "--take-profit", "11",
                          "--stop-loss", "9"], ["quantity", "must be > 0"]),
    ("bracket_entry_negative", [*BRACKET, "--qty", "1", "--entry", "-10", "--take-profit", "11",
                                "--stop-loss", "9"], ["limit_price", "-10"]),
    ("bracket_inverted", [*BRACKET, "--qty", "1", "--entry", "10", "--take-profit", "9",
                          "--stop-loss", "11"], ["take_profit.limit_price", "above"]),
    ("twap_qty_nan", [*TWAP, "--qty", "nan", "--limit", "10"], ["--qty", "'nan'"]),
    ("twap_qty_negative", [*TWAP, "--qty", "-3", "--limit", "10"], ["quantity", "-3"]),
    ("twap_qty_zero", [*TWAP, "--qty", "0", "--limit", "10"], ["quantity", "must be > 0"]),
    ("twap_slices_zero", [*TWAP, "--qty", "10", "--limit", "10", "--slices", "0"],
     ["slices", "got 0"]),
    ("twap_duration_nan", [*TWAP, "--qty", "10", "--limit", "10", "--duration", "nan"],
     ["--duration", "nan"]),
    ("close_position_nan", ["close", "AAPL", "--position", "nan", "--dry-run"],
     ["--position", "'nan'"]),
    ("close_mark_nan", ["close", "AAPL", "--position", "5", "--mark", "nan", "--dry-run"],
     ["--mark", "'nan'"]),
    ("cancel_unknown_dry", ["cancel", "DRY_OT-nope", "--dry-run"], ["no order DRY_OT-nope"]),
    # Unknown to the store: refused before any connection to IB is attempted.
    ("cancel_unknown_live", ["cancel", "OT-nope", "--port", "1"], ["no order OT-nope"]),
    ("cancel_not_ours", ["cancel", "12345"], ["not an ordertrail client order id"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needles"), [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES]
)
def test_order_entry_refuses_bad_numbers(data: Path, args: list[str], needles: list[str]) -> None:
    before = events(data)
    assert_refused(invoke(*args, "--data", str(data)), *needles)
    assert events(data) == before
    # Nothing unreadable was recorded: the audit views still work.
    assert invoke("orders", "--data", str(data), "--format", "csv").exit_code == 0


# ---- what IB itself sends: unknown statuses, NaN, sentinels --------------------------------------


def _status(order_id: int, perm_id: int, status: str, filled: str, remaining: str) -> list[Any]:
    return ["3", order_id, status, filled, remaining, "0", perm_id, "0", "0", "1", "", "0"]


def test_recorder_keeps_unknown_statuses_and_refuses_nan_and_sentinels(tmp_path: Path) -> None:
    """Through the real ib_async client: "Foo" is recorded with an ``unknown_status`` anomaly
    and reported; NaN, infinity, a negative quantity and IB's unset sentinel where a quantity
    must be are reported by field and recorded as nothing; what was recorded stays."""

    async def body(h: Harness) -> None:
        trail = OrderTrail(StoreConfig.resolve(tmp_path / "data"))
        ib = IB()
        recorder = IbRecorder(ib, trail).attach()
        h.clients.append(ib)
        await ib.connectAsync("127.0.0.1", h.sim.port, clientId=1)
        broker = GatedOrders(ib, trail, lambda: "t1")
        spec = OrderSpec(OrderAction.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal(150))
        oid = broker.place(AAPL, spec)
        await h.wait_until(lambda: trail.get(oid).state.status is OrderStatus.SUBMITTED)
        st = trail.get(oid).state
        order_id, perm = st.aliases[-1][1], st.perm_id
        assert perm is not None
        history = list(trail.history(oid))

        h.sim.send_raw(1, _status(order_id, perm, "Foo", "0", "100"))
        await h.wait_until(lambda: recorder.stats.warnings)
        assert "status='Foo'" in recorder.stats.warnings[0]
        assert f"of orderId {order_id} " in recorder.stats.warnings[0]
        assert "unknown_status" in trail.get(oid).state.anomalies
        assert trail.get(oid).state.status is OrderStatus.SUBMITTED  # stays where it was
        kept = list(trail.history(oid))
        assert kept[: len(history)] == history

        bad = [
            ("nan", "100", "orderStatus.filled=nan: not a finite number"),
            (SENTINEL, "100", "orderStatus.filled=1.7976931348623157e+308: quantity is unset"),
            ("-3", "103", "orderStatus.filled=-3.0: quantity is negative"),
            ("0", "inf", "orderStatus.remaining=inf: not a finite number"),
        ]
        for n, (filled, remaining, message) in enumerate(bad, start=1):
            h.sim.send_raw(1, _status(order_id, perm, "Submitted", filled, remaining))
            await h.wait_until(lambda n=n: len(recorder.stats.problems) == n)  # type: ignore[misc]
            assert message in recorder.stats.problems[-1]
        assert list(trail.history(oid)) == kept

    asyncio.run(run_with_simulator(body, IbErrorLog(), quiet_market()))


def _wait(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def threaded_sim() -> Iterator[ThreadedSimulator]:
    sim = ThreadedSimulator()
    try:
        yield sim
    finally:
        sim.close()


def test_record_exits_non_zero_after_ib_sent_what_it_could_not_record(
    threaded_sim: ThreadedSimulator, tmp_path: Path
) -> None:
    cmd = [
        sys.executable, "-c", "from ordertrail.adapters.cli import main; main()",
        "record", "--port", str(threaded_sim.sim.port), "--client-id", "0",
        "--data", str(tmp_path / "live"), "--tape", str(tmp_path / "rec.tape.gz"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        _wait(lambda: any(s.ready for s in threaded_sim.sim.broker.sessions))
        manual: Any = threaded_sim.do(threaded_sim.sim.place_manual, "AAPL", "BUY", 10, "LMT", 150)
        time.sleep(0.3)
        for status, filled in (("Foo", "0"), ("Submitted", "nan")):
            fields = ["3", 0, status, filled, "10", "0", manual.perm_id, "0", "0", "0", "", "0"]
            threaded_sim.do(threaded_sim.sim.send_raw, 0, fields)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
    text = err.decode()
    assert proc.returncode == 1, text
    assert "Traceback" not in text
    assert "error: could not record orderStatus: orderStatus.filled=nan" in text
    assert "warning: orderStatus: status='Foo'" in text
    with gzip.open(tmp_path / "rec.tape.gz", "rt") as tape:
        assert '"Foo"' in tape.read()  # the tape keeps what IB sent, for a later look
    assert events(tmp_path / "live") >= 2  # the manual order and its statuses are kept
