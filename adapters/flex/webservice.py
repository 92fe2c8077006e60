"""IB's Flex Web Service (version 3): fetch a statement with a token and a query id.

The protocol has two steps. ``SendRequest?t=TOKEN&q=QUERY&v=3`` answers a
``FlexStatementResponse`` with ``Status`` Success, a ``ReferenceCode`` and the ``Url`` of the
second step; or Fail/Warn with an ``ErrorCode`` and ``ErrorMessage``. ``GetStatement?t=TOKEN&
q=REFERENCE&v=3`` answers the statement (``FlexQueryResponse``) once IB has generated it, and
until then another ``FlexStatementResponse`` with an error code.

Codes that say "try again shortly" (statement still being generated, server busy, too many
requests from this token) are retried with a growing wait; every other code ends the fetch
with IB's own message. The token never appears in an error, a log line or a saved file name:
the URLs that carry it are never printed.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

from ordertrail.adapters.flex.xmltree import MAX_FILE_BYTES
from ordertrail.domain.errors import OrdertrailError

SERVICE_URL = "https://ndcdyn.interactivebrokers.com/AccountManagement/FlexWebService"
# IB refuses programmatic requests without a User-Agent.
USER_AGENT = "ordertrail-flex/1"
# IB's "please try again shortly" codes: 1001 statement could not be generated, 1004-1008 data
# (settlement, FIFO or MTM P/L) not ready, 1009 server under heavy load, 1018 too many requests
# from this token, 1019 statement generation in progress, 1021 could not be retrieved now.
RETRY_CODES = frozenset(
    {"1001", "1004", "1005", "1006", "1007", "1008", "1009", "1018", "1019", "1021"}
)
# Too many requests: the token is throttled, so wait longer than for a statement in progress.
THROTTLED = frozenset({"1018"})
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*)")
_PROLOG = re.compile(rb"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)\s*", re.S)


class FlexServiceError(OrdertrailError):
    """The Flex Web Service refused or failed; the message is IB's, never the token."""


@dataclass(frozen=True, slots=True)
class StatementAccess:
    reference: str
    url: str


@dataclass(slots=True)
class Patience:
    """How long to keep asking: attempts per step, and the wait before each retry (doubling
    from ``first_wait`` up to ``max_wait`` seconds; throttling doubles it once more)."""

    attempts: int = 10
    first_wait: float = 5.0
    max_wait: float = 60.0

    def wait(self, attempt: int, code: str) -> float:
        wait: float = min(self.first_wait * 2.0**attempt, self.max_wait)
        return wait * 2 if code in THROTTLED else wait


def _root(body: bytes) -> str:
    head = body[:4096]
    while m := _PROLOG.match(head):
        head = head[m.end() :]
    m = _ROOT.match(head)
    return m.group(1).decode() if m else ""


def _answer(body: bytes) -> dict[str, str]:
    """A FlexStatementResponse as its child elements' text."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise FlexServiceError(f"the Flex Web Service answered malformed XML ({e})") from None
    return {child.tag: (child.text or "").strip() for child in root}


class FlexWebService:
    def __init__(
        self,
        base_url: str = SERVICE_URL,
        *,
        patience: Patience | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.patience = patience or Patience()
        self.sleep = sleep
        self.timeout = timeout
        self.max_bytes = max_bytes

    def _get(self, url: str, token: str, q: str) -> bytes:
        query = urllib.parse.urlencode({"t": token, "q": q, "v": "3"})
        request = urllib.request.Request(f"{url}?{query}", headers={"User-Agent": USER_AGENT})
        where = urllib.parse.urlsplit(url).netloc or url
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as e:
            raise FlexServiceError(
                f"the Flex Web Service at {where} answered HTTP {e.code}"
            ) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FlexServiceError(
                f"cannot reach the Flex Web Service at {where}: {reason}"
            ) from None
        if len(body) > self.max_bytes:
            raise FlexServiceError(f"the statement is above the {self.max_bytes}-byte limit")
        return body

    def _ask(self, step: str, url: str, token: str, q: str) -> bytes | dict[str, str]:
        """The statement's bytes, or the FlexStatementResponse of a success; retries IB's
        "try again shortly" answers."""
        for attempt in range(self.patience.attempts):
            body = self._get(url, token, q)
            if _root(body) == "FlexQueryResponse":
                return body
            if _root(body) != "FlexStatementResponse":
                raise FlexServiceError(f"{step}: the answer is neither a statement nor a response")
            answer = _answer(body)
            if answer.get("Status") == "Success":
                return answer
            code, message = answer.get("ErrorCode", "?"), answer.get("ErrorMessage", "")
            if code not in RETRY_CODES:
                raise FlexServiceError(f"{step}: IB error {code}: {message}")
            if attempt + 1 < self.patience.attempts:
                self.sleep(self.patience.wait(attempt, code))
        raise FlexServiceError(
            f"{step}: IB error {code}: {message} (still after {self.patience.attempts} attempts)"
        )

    def request(self, token: str, query: str) -> StatementAccess:
        answer = self._ask("SendRequest", f"{self.base_url}/SendRequest", token, query)
        if not isinstance(answer, dict) or not answer.get("ReferenceCode"):
            raise FlexServiceError("SendRequest: no ReferenceCode in IB's answer")
        url = answer.get("Url") or f"{self.base_url}/GetStatement"
        return StatementAccess(answer["ReferenceCode"], url)

    def statement(self, token: str, access: StatementAccess) -> bytes:
        body = self._ask("GetStatement", access.url, token, access.reference)
        if not isinstance(body, bytes):
            raise FlexServiceError("GetStatement: IB answered Success without a statement")
        return body

    def fetch(self, token: str, query: str) -> tuple[StatementAccess, bytes]:
        access = self.request(token, query)
        return access, self.statement(token, access)
