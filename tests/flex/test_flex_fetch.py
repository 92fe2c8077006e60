"""``ordertrail fetch-flex`` against a local Flex Web Service that follows IB's protocol."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordertrail.adapters.cli.main import app
from ordertrail.adapters.flex.webservice import FlexServiceError, FlexWebService, Patience

from .conftest import WEEK1
from .flexservice import FlexService, serving

TOKEN = "s3cr3t-flex-t0ken-123456"
runner = CliRunner()


def fetch(service: FlexService, tmp_path: Path, *args: str, token: str | None = TOKEN):
    env = {"ORDERTRAIL_FLEX_TOKEN": token} if token else {}
    return runner.invoke(
        app,
        [
            "fetch-flex",
            "--query",
            "912345",
            "--service-url",
            service.url,
            "--poll-wait",
            "0",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
            *args,
        ],
        env=env,
    )


def service(**kwargs: object) -> FlexService:
    return FlexService(TOKEN, "912345", WEEK1.read_bytes(), **kwargs)  # type: ignore[arg-type]


def no_token_in(*texts: str) -> bool:
    return all(TOKEN not in t for t in texts)


def test_request_poll_save_and_import(tmp_path: Path) -> None:
    with serving(service(get_first=["1019", "1019"])) as svc:
        result = fetch(svc, tmp_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    steps = [(path.rsplit("/", 1)[1], params["q"]) for path, params, _ in svc.requests]
    assert steps == [
        ("SendRequest", "912345"),
        ("GetStatement", "4672968268"),  # 1019: generation in progress
        ("GetStatement", "4672968268"),  # 1019 again
        ("GetStatement", "4672968268"),  # the statement
    ]
    assert all(params["v"] == "3" and agent for _, params, agent in svc.requests)
    (saved,) = (tmp_path / "out").iterdir()
    assert saved.name == "flex_912345_4672968268.xml"
    assert saved.read_bytes() == WEEK1.read_bytes()
    doc = json.loads(result.stdout)
    assert doc["imported"]["executions_recorded"] == 5
    assert no_token_in(result.stdout, result.stderr, saved.name)


def test_a_throttled_token_is_retried(tmp_path: Path) -> None:
    with serving(service(send_first=["1018"])) as svc:
        result = fetch(svc, tmp_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert [p.rsplit("/", 1)[1] for p, _, _ in svc.requests][:2] == ["SendRequest"] * 2


@pytest.mark.parametrize(
    ("kwargs", "token", "expected"),
    [
        ({}, "wrong-token", "SendRequest: IB error 1015: Token is invalid."),
        ({"send_first": ["1012"]}, TOKEN, "SendRequest: IB error 1012: Token has expired."),
        (
            {"get_first": ["1019"] * 5},
            TOKEN,
            "GetStatement: IB error 1019: Statement generation in progress. Please try again "
            "shortly. (still after 3 attempts)",
        ),
    ],
)
def test_ib_errors_end_the_fetch_with_one_line(
    tmp_path: Path, kwargs: dict[str, object], token: str, expected: str
) -> None:
    with serving(service(**kwargs)) as svc:
        result = fetch(svc, tmp_path, "--attempts", "3", token=token)
    assert result.exit_code == 1
    assert expected in " ".join(result.stderr.split())
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    assert no_token_in(result.stdout, result.stderr)
    assert "wrong-token" not in result.stderr


def test_the_token_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    with serving(service()) as svc:
        result = fetch(svc, tmp_path, "--token-file", str(secret), "--format", "json", token=None)
    assert result.exit_code == 0, result.stderr
    assert svc.requests[0][1]["t"] == TOKEN


def test_no_token_is_one_clear_error(tmp_path: Path) -> None:
    with serving(service()) as svc:
        result = fetch(svc, tmp_path, token=None)
    assert result.exit_code == 1
    assert "no Flex token" in result.stderr
    assert svc.requests == []


def test_an_unreachable_service_never_shows_the_token(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = service()
    svc.url = f"http://127.0.0.1:{port}/FlexWebService"
    result = fetch(svc, tmp_path)
    assert result.exit_code == 1
    assert "cannot reach the Flex Web Service at 127.0.0.1:" in result.stderr
    assert no_token_in(result.stdout, result.stderr)


def test_waits_grow_and_throttling_waits_longer() -> None:
    waits: list[float] = []
    svc = service(send_first=["1019", "1018"], get_first=["1019"])
    with serving(svc):
        ws = FlexWebService(
            svc.url, patience=Patience(first_wait=1, max_wait=60), sleep=waits.append
        )
        access, body = ws.fetch(TOKEN, "912345")
    assert (access.reference, body[:5]) == ("4672968268", b"<?xml")
    assert waits == [1, 4, 1]  # 1 s, then 2 s doubled for 1018; GetStatement starts over


def test_an_answer_that_is_no_flex_response_is_refused() -> None:
    svc = service()
    svc.statement = b"<html><body>maintenance</body></html>"
    with serving(svc), pytest.raises(FlexServiceError, match="neither a statement nor"):
        FlexWebService(svc.url, sleep=lambda _s: None).fetch(TOKEN, "912345")
