"""A local Flex Web Service of ours that follows IB's version 3 protocol, error answers
included: the boundary fake for ``fetch-flex``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MESSAGES = {
    "1012": "Token has expired.",
    "1014": "Query is invalid.",
    "1015": "Token is invalid.",
    "1017": "Reference code is invalid.",
    "1018": "Too many requests have been made from this token. Please try again shortly.",
    "1019": "Statement generation in progress. Please try again shortly.",
}
STAMP = 'timestamp="20 September, 2025 08:15 AM EDT"'


def failure(code: str) -> bytes:
    return (
        f"<FlexStatementResponse {STAMP}>\n<Status>Warn</Status>\n<ErrorCode>{code}</ErrorCode>\n"
        f"<ErrorMessage>{MESSAGES[code]}</ErrorMessage>\n</FlexStatementResponse>\n"
    ).encode()


@dataclass
class FlexService:
    token: str
    query: str
    statement: bytes
    reference: str = "4672968268"
    # Answers before the real one: codes IB sends while it is not ready or throttling.
    send_first: list[str] = field(default_factory=list)
    get_first: list[str] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, params: dict[str, str]) -> bytes:
        if params.get("v") != "3":
            return failure("1014")
        if params.get("t") != self.token:
            return failure("1015")
        if path.endswith("/SendRequest"):
            if self.send_first:
                return failure(self.send_first.pop(0))
            if params.get("q") != self.query:
                return failure("1014")
            return (
                f"<FlexStatementResponse {STAMP}>\n<Status>Success</Status>\n"
                f"<ReferenceCode>{self.reference}</ReferenceCode>\n"
                f"<Url>{self.url}/GetStatement</Url>\n</FlexStatementResponse>\n"
            ).encode()
        if params.get("q") != self.reference:
            return failure("1017")
        if self.get_first:
            return failure(self.get_first.pop(0))
        return self.statement


@contextmanager
def serving(service: FlexService) -> Iterator[FlexService]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            agent = self.headers.get("User-Agent", "")
            service.requests.append((parts.path, params, agent))
            body = service.answer(parts.path, params)
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}/FlexWebService"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()
