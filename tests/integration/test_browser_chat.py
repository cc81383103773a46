"""A js-libp2p page in headless Chromium dials a Python node's /ws address, identifies and pings it.

Builds ``examples/browser-chat`` (npm + esbuild), runs ``libp2p serve --listen …/ws``, serves the
page over HTTP on loopback, opens it in Debian's Chromium and reads ``window.result`` over the
DevTools protocol; saves a screenshot (``browser-chat.png`` in the test's directory, and in
``$LIBP2P_ARTIFACTS`` when set). Skipped locally without npm or chromium, failed under CI=true.
Every process is stopped by its own handle.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.peer_program import in_ci
from tests.test_cli_node import serve

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "browser-chat"
WAIT = 60.0


def _need(tool: str, why: str) -> str:
    names = (tool, "chromium-browser") if tool == "chromium" else (tool,)
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    if in_ci():
        pytest.fail(f"{tool} not found under CI=true ({why})")
    pytest.skip(f"{tool} not found ({why})")


@pytest.fixture(scope="module")
def page_dir() -> Path:
    _need("npm", "builds examples/browser-chat")
    proc = subprocess.run(["bash", str(EXAMPLE / "build.sh")], capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        pytest.fail(f"examples/browser-chat/build.sh failed: {proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def http_server(page_dir: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(page_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevTools:
    """Just enough of the Chrome DevTools protocol: evaluate and screenshot one page."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self._connection = connect(ws_url, max_size=64 << 20, open_timeout=20)
        self._next = 0

    def __enter__(self) -> DevTools:
        self._ws = self._connection.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._connection.__exit__(*exc_info)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        mid = self._next
        self._ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = json.loads(self._ws.recv(timeout=30))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]  # type: ignore[no-any-return]
        raise TimeoutError(method)

    def evaluate(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply["result"].get("value")


def _page_target(port: int, deadline: float) -> str:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                targets = json.loads(resp.read())
            pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("Chromium's DevTools endpoint did not list the page")


def test_browser_page_pings_and_identifies_a_python_node(http_server: str, tmp_path: Path) -> None:
    chromium = _need("chromium", "apt-get install chromium")
    with serve(tmp_path, "--listen", "/ip4/127.0.0.1/tcp/0/ws") as node:
        ws_addr = next(a for a in node.info["multiaddrs"] if "/ws/" in a)
        url = f"{http_server}/index.html?peer={ws_addr}"
        port = _free_port()
        profile = tempfile.mkdtemp(prefix="chromium-")
        browser_err = open(tmp_path / "chromium.err", "w")  # closed in the finally below
        browser = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-dev-shm-usage", f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
             "--window-size=1000,700", url],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=browser_err)
        try:
            deadline = time.monotonic() + WAIT
            with DevTools(_page_target(port, deadline)) as tools:
                result: dict[str, Any] = {}
                while time.monotonic() < deadline:
                    result = tools.evaluate("JSON.stringify(window.result ?? null)")
                    result = json.loads(result) if isinstance(result, str) else {}
                    if result and (result.get("error") or result.get("pingMs") is not None):
                        break
                    time.sleep(0.2)
                shot = base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"])
                (tmp_path / "browser-chat.png").write_bytes(shot)
                artifacts = os.environ.get("LIBP2P_ARTIFACTS")
                if artifacts:
                    Path(artifacts).mkdir(parents=True, exist_ok=True)
                    (Path(artifacts) / "browser-chat.png").write_bytes(shot)
            assert not result.get("error"), result.get("error")
            assert result.get("dialed") == node.peer_id
            identified = result.get("identified") or {}
            assert identified.get("peerId") == node.peer_id
            assert str(identified.get("agentVersion", "")).startswith("aiolibp2p")
            assert "/ipfs/ping/1.0.0" in identified.get("protocols", [])
            assert isinstance(result.get("pingMs"), (int, float)) and result["pingMs"] >= 0
            assert shot.startswith(b"\x89PNG")
        finally:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait(timeout=10)
            browser_err.close()
            shutil.rmtree(profile, ignore_errors=True)
