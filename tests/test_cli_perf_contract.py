"""The libp2p test-plans perf contract of ``libp2p perf``: real server and client processes on loopback.

``libp2p perf --run-server --server-address IP:PORT`` and ``libp2p perf --server-address IP:PORT
--transport tcp --upload-bytes N --download-bytes M``, against each other and against go-libp2p's perf
program (``interop/go``). Every process is stopped through its own handle in ``finally`` (SIGTERM, wait,
SIGKILL) and every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.processes import read_line, stop

PERF_SERVER_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
START_TIMEOUT = 30.0
CLIENT_TIMEOUT = 120.0
OURS = [sys.executable, "-m", "libp2p", "perf", "--loop", "asyncio"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def perf_server(argv: list[str], tmp: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], str]]:
    """Start a contract server on a free port; yield (process, its ready line, IP:PORT)."""
    address = f"127.0.0.1:{_free_port()}"
    err = tmp / "server.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen([*argv, "--run-server", "--server-address", address], stdout=subprocess.PIPE,
                                stderr=stderr, stdin=subprocess.DEVNULL, text=True)
    try:
        line = read_line(proc, START_TIMEOUT, "the server")
        assert line, f"the server exited ({proc.poll()}): {err.read_text()}"
        yield proc, json.loads(line), address
    finally:
        stop(proc)


def _client(argv: list[str], address: str, upload: int, download: int,
            *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*argv, "--server-address", address, "--transport", "tcp", "--upload-bytes", str(upload),
         "--download-bytes", str(download), *extra],
        check=False, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL,
    )


def _lines(proc: subprocess.CompletedProcess[str], upload: int, download: int) -> list[dict[str, Any]]:
    """Check the contract's output: intermediary lines, then one final line with the totals."""
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines, "no output"
    *progress, final = lines
    assert final["type"] == "final"
    assert final["uploadBytes"] == upload and final["downloadBytes"] == download
    assert 0 < final["timeSeconds"] < CLIENT_TIMEOUT
    for line in progress:
        assert set(line) == {"type", "timeSeconds", "uploadBytes", "downloadBytes"}
        assert line["type"] == "intermediary"
        assert 0.9 < line["timeSeconds"] < 5.0  # one a second (more when the machine is busy)
        assert line["uploadBytes"] >= 0 and line["downloadBytes"] >= 0
    assert sum(x["uploadBytes"] for x in progress) <= upload
    assert sum(x["downloadBytes"] for x in progress) <= download
    return lines


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any], str]]:
    with perf_server(OURS, tmp_path_factory.mktemp("perf-server")) as server:
        yield server


def test_server_has_the_fixed_identity(ours: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    _proc, info, address = ours
    assert info["peer_id"] == PERF_SERVER_PEER_ID
    ip, port = address.split(":")
    assert info["multiaddrs"] == [f"/ip4/{ip}/tcp/{port}/p2p/{PERF_SERVER_PEER_ID}"]


def test_small_exchange(ours: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    proc, _info, address = ours
    _lines(_client(OURS, address, 1, 1), 1, 1)
    _lines(_client(OURS, address, 100_000, 0), 100_000, 0)
    _lines(_client(OURS, address, 0, 3_000_000), 0, 3_000_000)
    assert proc.poll() is None, "the server must keep running after its clients"


def test_intermediary_lines_every_second(ours: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    # long enough for at least one intermediary line even on a fast machine (~1 s per GiB)
    upload, download = 2 << 30, 1 << 30
    lines = _lines(_client(OURS, ours[2], upload, download), upload, download)
    assert len(lines) >= 2, lines


def test_quic_v1_exchange(tmp_path: Path) -> None:
    """``--transport quic-v1``: the server listens on /udp/PORT/quic-v1, the client dials it there."""
    with perf_server([*OURS, "--transport", "quic-v1"], tmp_path) as (proc, info, address):
        ip, port = address.split(":")
        assert info["multiaddrs"] == [f"/ip4/{ip}/udp/{port}/quic-v1/p2p/{PERF_SERVER_PEER_ID}"]
        client = _client(OURS, address, 100_000, 200_000)
        assert client.returncode == 1 and "tcp" in client.stderr, "a TCP client finds no TCP server there"
        quic = subprocess.run(
            [*OURS, "--server-address", address, "--transport", "quic-v1", "--upload-bytes", "100000",
             "--download-bytes", "200000"],
            check=False, capture_output=True, text=True, timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL,
        )
        _lines(quic, 100_000, 200_000)
        assert proc.poll() is None


def test_server_stops_on_sigterm(tmp_path: Path) -> None:
    with perf_server(OURS, tmp_path) as (proc, _info, _address):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_client_without_a_server_fails() -> None:
    proc = _client(OURS, f"127.0.0.1:{_free_port()}", 10, 10, "--timeout", "20")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("libp2p perf: ")


@pytest.mark.parametrize(
    "args",
    [
        ["--run-server"],  # no address
        ["--server-address", "127.0.0.1:1", "--transport", "webrtc", "--upload-bytes", "1", "--download-bytes", "1"],
        ["--server-address", "localhost:1", "--upload-bytes", "1", "--download-bytes", "1"],
        ["--server-address", "127.0.0.1", "--upload-bytes", "1", "--download-bytes", "1"],
        ["--server-address", "127.0.0.1:1"],  # no sizes
        ["/ip4/127.0.0.1/tcp/1/p2p/" + PERF_SERVER_PEER_ID, "--server-address", "127.0.0.1:1"],
        [],  # neither form
    ],
)
def test_usage_errors(args: list[str]) -> None:
    proc = subprocess.run([*OURS, *args], check=False, capture_output=True, text=True, timeout=CLIENT_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""


# --- against go-libp2p's perf program -------------------------------------------------------------


@pytest.fixture(scope="module")
def go_peer() -> Path:
    from tests.interop.go_peer import require_go_peer

    return require_go_peer()


def test_our_client_against_the_go_server(go_peer: Path, tmp_path: Path) -> None:
    with perf_server([str(go_peer), "perf"], tmp_path) as (proc, info, address):
        assert info["peer_id"] == PERF_SERVER_PEER_ID
        _lines(_client(OURS, address, 1, 1), 1, 1)
        _lines(_client(OURS, address, 5_000_000, 7_000_000), 5_000_000, 7_000_000)
        assert proc.poll() is None


def test_go_client_against_our_server(go_peer: Path, ours: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    go = [str(go_peer), "perf"]
    _lines(_client(go, ours[2], 1, 1), 1, 1)
    _lines(_client(go, ours[2], 5_000_000, 7_000_000), 5_000_000, 7_000_000)
    assert ours[0].poll() is None


# --- against js-libp2p's peer program -----------------------------------------------------------------


@pytest.fixture(scope="module")
def js_peer() -> list[str]:
    import shutil

    from tests.interop.js_peer import require_js_peer

    directory = require_js_peer()
    node = shutil.which("node")
    assert node is not None
    return [node, str(directory / "peer.mjs"), "perf"]


def test_our_client_against_the_js_server(js_peer: list[str], tmp_path: Path) -> None:
    with perf_server(js_peer, tmp_path) as (proc, info, address):
        assert info["peer_id"] == PERF_SERVER_PEER_ID
        _lines(_client(OURS, address, 1, 1), 1, 1)
        _lines(_client(OURS, address, 5_000_000, 7_000_000), 5_000_000, 7_000_000)
        assert proc.poll() is None


def test_js_client_against_our_server(js_peer: list[str], ours: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    _lines(_client(js_peer, ours[2], 1, 1), 1, 1)
    _lines(_client(js_peer, ours[2], 5_000_000, 7_000_000), 5_000_000, 7_000_000)
    assert ours[0].poll() is None


def test_js_intermediary_lines(js_peer: list[str], ours: tuple[subprocess.Popen[str], dict[str, Any], str]) -> None:
    # big enough to take over a second even on a quiet machine (js moves ~400 MB/s here)
    lines = _lines(_client(js_peer, ours[2], 1_500_000_000, 0), 1_500_000_000, 0)
    assert len(lines) >= 2
