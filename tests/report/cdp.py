"""A headless Chromium driven over the DevTools protocol: opens a page, records every console
message, uncaught exception and network request, evaluates JavaScript and takes screenshots.

Debian's ``chromium`` is the browser (.ci/test installs it); the protocol is spoken with the
``websockets`` package, so nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    """``async with Browser() as b: log = await b.open(url)``."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        self.width, self.height = width, height
        self.log = PageLog()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._loaded = asyncio.Event()

    async def __aenter__(self) -> Browser:
        exe = chromium()
        if exe is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self._profile = tempfile.TemporaryDirectory(prefix="ordertrail-chromium-")
        self._proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        for _ in range(600):
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}")
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self._ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
            session=False,
        )  # fmt: skip
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
             "mobile": False},
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for _ in range(50):
            try:
                self._profile.cleanup()
                return
            except OSError:
                # Chromium's helper processes can go on writing its profile for a moment
                # after the browser itself has exited ("Directory not empty").
                await asyncio.sleep(0.1)
        shutil.rmtree(self._profile.name, ignore_errors=True)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> dict[str, Any]:
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self._session
        future = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = future
        await self._ws.send(json.dumps(msg))
        return await asyncio.wait_for(future, 120)

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = json.loads(raw)
            if "id" in msg:
                future = self._waiting.pop(msg["id"])
                if "error" in msg:
                    future.set_exception(RuntimeError(f"{msg['error']}"))
                else:
                    future.set_result(msg.get("result", {}))
            else:
                self._event(msg["method"], msg.get("params", {}))

    def _event(self, method: str, p: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            self.log.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            self.log.exceptions.append(
                details.get("exception", {}).get("description", details.get("text", ""))
            )
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            self.log.console_errors.append(f"{p['entry']['source']}: {p['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            self.log.requests.append(p["request"]["url"])
        elif method == "Page.loadEventFired":
            self._loaded.set()

    async def open(self, url: str) -> PageLog:
        self._loaded.clear()
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._loaded.wait(), 120)
        return self.log

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("text", "evaluation failed"))
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
