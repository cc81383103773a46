"""A js-libp2p page in headless Chromium chats over gossipsub with a Python ``libp2p chat`` process.

Builds ``examples/browser-chat`` (npm + esbuild), runs ``libp2p chat TOPIC --listen …/ws``, serves
the page over HTTP on loopback and opens it in Debian's Chromium, driven over the DevTools
protocol: the page dials the chat's /ws address, identifies and pings it and joins the topic; a
line typed into the page's form (key events) reaches the chat's stdout, and a line written to the
chat's stdin appears in the page. Saves a screenshot (``browser-chat.png`` in the test's directory,
and in ``$LIBP2P_ARTIFACTS`` when set). Skipped locally without npm or chromium, failed under
CI=true. Every process is stopped by its own handle.
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
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.interop.peer_program import in_ci
from tests.processes import read_line, stop
from tests.test_cli_node import START_TIMEOUT

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


@contextmanager
def _chromium(url: str, tmp_path: Path) -> Iterator[DevTools]:
    """Headless Chromium showing ``url``, driven through DevTools; stopped by its own handle."""
    chromium = _need("chromium", "apt-get install chromium")
    port = _free_port()
    profile = tempfile.mkdtemp(prefix="chromium-")
    browser_err = open(tmp_path / "chromium.err", "w")  # closed in the finally below
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
         "--window-size=1000,700", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=browser_err)
    try:
        with DevTools(_page_target(port, time.monotonic() + WAIT)) as tools:
            yield tools
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(timeout=10)
        browser_err.close()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def _chat(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """A ``libp2p chat`` process with stdin and stdout piped; yields it and its address line."""
    with open(tmp_path / "chat.err", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "libp2p", "chat", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = read_line(proc, START_TIMEOUT)
        assert line, f"chat exited ({proc.poll()}): {(tmp_path / 'chat.err').read_text()}"
        yield proc, json.loads(line)
    finally:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        stop(proc)


def _page_result(tools: DevTools) -> dict[str, Any]:
    raw = tools.evaluate("JSON.stringify(window.result ?? null)")
    value = json.loads(raw) if isinstance(raw, str) else None
    return value if isinstance(value, dict) else {}


def _until(tools: DevTools, what: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the page's ``window.result`` (every 0.2 s, bounded by WAIT) until ``done`` or an error."""
    deadline = time.monotonic() + WAIT
    result: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = _page_result(tools)
        if result.get("error"):
            raise AssertionError(f"page error while waiting for {what}: {result['error']}")
        if done(result):
            return result
        time.sleep(0.2)
    raise AssertionError(f"page: no {what} within {WAIT} s: {result}")


def _type_into_page(tools: DevTools, text: str) -> None:
    """Type ``text`` into the page's message box and press Enter, as a user would."""
    tools.evaluate("document.getElementById('text').focus()")
    tools.call("Input.insertText", text=text)
    for kind in ("keyDown", "keyUp"):
        tools.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                   nativeVirtualKeyCode=13, **({"text": "\r"} if kind == "keyDown" else {}))


def _screenshot(tools: DevTools, tmp_path: Path) -> bytes:
    shot = base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "browser-chat.png").write_bytes(shot)
    artifacts = os.environ.get("LIBP2P_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        (Path(artifacts) / "browser-chat.png").write_bytes(shot)
    return shot


def test_browser_page_chats_with_a_python_chat_process(http_server: str, tmp_path: Path) -> None:
    topic = "browser-chat-test"
    with _chat(tmp_path, topic, "--listen", "/ip4/127.0.0.1/tcp/0/ws", "--nick", "python") as (chat, info):
        peer_id = info["peer_id"]
        ws_addr = next(a for a in info["multiaddrs"] if "/ws/" in a)
        url = f"{http_server}/index.html?peer={ws_addr}&topic={topic}&nick=chromium"
        with _chromium(url, tmp_path) as tools:
            # the page dialled the Python node over /ws, identified and pinged it and saw it on the topic
            result = _until(tools, "chat ready", lambda r: bool(r.get("chatReady")))
            assert result["dialed"] == peer_id
            identified = result["identified"]
            assert identified["peerId"] == peer_id
            assert str(identified["agentVersion"]).startswith("aiolibp2p")
            assert "/ipfs/ping/1.0.0" in identified["protocols"]
            assert "/meshsub/1.1.0" in identified["protocols"] or "/meshsub/1.2.0" in identified["protocols"]
            assert isinstance(result["pingMs"], (int, float)) and result["pingMs"] >= 0

            # typed in the page -> the Python chat's stdout (signed by the page: StrictSign on both sides)
            _type_into_page(tools, "hello from chromium")
            sent = _until(tools, "the sent line", lambda r: bool(r.get("sent")))["sent"][0]
            assert sent == {"text": "hello from chromium", "recipients": [peer_id]}
            assert read_line(chat, WAIT) == "chromium: hello from chromium\n"

            # the Python chat's stdin -> the page
            assert chat.stdin is not None
            chat.stdin.write("hello from python\n")
            chat.stdin.flush()
            received = _until(tools, "the Python line", lambda r: bool(r.get("received")))["received"]
            assert received == [{"from": peer_id, "nick": "python", "text": "hello from python"}]
            shot = _screenshot(tools, tmp_path)
            assert shot.startswith(b"\x89PNG")
        chat.stdin.close()
        assert chat.wait(timeout=20) == 0
