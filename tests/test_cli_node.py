"""``libp2p serve`` / ``ping`` / ``id`` / ``perf`` as a user runs them: real processes on loopback.

Every process is stopped through its own handle in ``finally`` (terminate, wait, kill) and every
wait is bounded.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from libp2p.cli._common import parse_size
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId

from tests.processes import read_line, stop

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
CLIENT_TIMEOUT = 60.0
START_TIMEOUT = 30.0


def _cli(*args: str, timeout: float = CLIENT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "libp2p", *args], check=False, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


class Node:
    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any], stderr: Path) -> None:
        self.proc = proc
        self.info = info
        self.stderr = stderr
        self.peer_id: str = info["peer_id"]
        self.addr: str = info["multiaddrs"][0]
        self.transport_addr = self.addr.rsplit("/p2p/", 1)[0]


@contextmanager
def serve(tmp: Path, *args: str) -> Iterator[Node]:
    stderr = tmp / f"serve-{time.monotonic_ns()}.err"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "libp2p", "serve", "--listen", LOOPBACK, *args],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
        )
    try:
        line = read_line(proc, START_TIMEOUT)
        assert line, f"serve exited ({proc.poll()}): {stderr.read_text()}"
        yield Node(proc, json.loads(line), stderr)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with serve(tmp_path_factory.mktemp("node"), "--perf") as n:
        yield n


def _json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def _other_peer_id() -> str:
    return str(PeerId.from_public_key(generate_key_pair().public_key))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- serve's announcement ------------------------------------------------------------------------


def test_serve_prints_one_json_line_with_full_addresses(node: Node) -> None:
    assert set(node.info) == {"peer_id", "multiaddrs"}
    PeerId.from_string(node.peer_id)
    assert node.info["multiaddrs"]
    for addr in node.info["multiaddrs"]:
        assert addr.startswith("/ip4/127.0.0.1/tcp/") and addr.endswith(f"/p2p/{node.peer_id}")
        assert not addr.startswith("/ip4/127.0.0.1/tcp/0/")


# --- ping ----------------------------------------------------------------------------------------


def test_ping_json(node: Node) -> None:
    out = _json(_cli("ping", node.addr, "-c", "3", "--json"))
    assert set(out) == {"peer_id", "rtt_ms", "median_ms"}
    assert out["peer_id"] == node.peer_id
    assert len(out["rtt_ms"]) == 3
    assert all(isinstance(r, float) and 0 <= r < 10_000 for r in out["rtt_ms"])
    assert out["median_ms"] == sorted(out["rtt_ms"])[1]


def test_ping_human(node: Node) -> None:
    proc = _cli("ping", node.addr, "-c", "2", "-i", "0")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"PING {node.addr}"
    assert [line.split(":")[0] for line in lines[1:3]] == [f"pong from {node.peer_id}"] * 2
    assert "seq=1 time=" in lines[1] and "seq=2 time=" in lines[2]
    assert lines[3] == f"--- {node.peer_id} ping statistics ---"
    assert lines[4].startswith("2 pongs, rtt min/median/max = ")
    assert proc.stderr == ""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_ping_on_each_loop(node: Node, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    out = _json(_cli("ping", node.addr, "-c", "2", "-i", "0", "--json", "--loop", loop))
    assert len(out["rtt_ms"]) == 2
    # A real clock: not uvloop's millisecond loop.time(), on which loopback RTTs read 0.
    assert any(0 < r for r in out["rtt_ms"]), out


def test_ping_wrong_peer_id_fails(node: Node) -> None:
    wrong = f"{node.transport_addr}/p2p/{_other_peer_id()}"
    proc = _cli("ping", wrong, "-c", "1", "--timeout", "30")
    assert proc.returncode == 1
    assert proc.stdout == ""
    # the handshake's verdict, not the client's --timeout ("could not connect ... within 30 s")
    assert "authenticated as" in proc.stderr and node.peer_id in proc.stderr
    assert "within" not in proc.stderr


def test_ping_closed_port_is_refused() -> None:
    addr = f"/ip4/127.0.0.1/tcp/{_closed_port()}/p2p/{_other_peer_id()}"
    proc = _cli("ping", addr, "-c", "1", "--json", "--timeout", "30")
    assert proc.returncode == 1
    assert proc.stdout == ""
    # the refusal itself, not the client's --timeout running out
    assert proc.stderr.startswith("libp2p ping: ") and "refused" in proc.stderr.lower()
    assert "within" not in proc.stderr


def test_ping_silent_peer_times_out() -> None:
    with socket.socket() as silent:  # accepts TCP, never speaks multistream
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        addr = f"/ip4/127.0.0.1/tcp/{silent.getsockname()[1]}/p2p/{_other_peer_id()}"
        proc = _cli("ping", addr, "-c", "1", "--timeout", "1")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "could not connect" in proc.stderr and "within 1 s" in proc.stderr


NEW_STREAM_LOG = "going on over a new stream"


class _EndingPingHandler:
    """A ping handler that answers ``per_stream`` pings on each stream, then closes or resets it;
    ``streams_answered`` bounds how many streams get any answer at all (later ones end at once)."""

    def __init__(self, per_stream: int, end: str, streams_answered: int = 1_000) -> None:
        self.per_stream = per_stream
        self.end = end
        self.streams_answered = streams_answered
        self.streams = 0

    async def __call__(self, stream: Any) -> None:
        from libp2p.protocols.ping.wire import PING_LENGTH

        self.streams += 1
        if self.streams <= self.streams_answered:
            for _ in range(self.per_stream):
                await stream.write(await stream.readexactly(PING_LENGTH))
        if self.end == "reset":
            await stream.reset()
        else:
            await stream.close()


async def _ping_own_host(handler: _EndingPingHandler, *args: str) -> tuple[int | None, str, str]:
    """``libp2p ping`` (a subprocess, killed when it overruns) against a host of ours whose ping
    handler is ``handler``."""
    from libp2p.node import new_host
    from libp2p.protocols.ping.wire import PROTOCOL_ID
    from tests.interop.peer_program import run_async

    async with new_host(listen_addrs=[LOOPBACK]) as host:
        host.set_stream_handler(PROTOCOL_ID, handler)
        return await run_async([sys.executable, "-m", "libp2p", "ping", str(host.full_addrs()[0]), *args],
                               timeout=CLIENT_TIMEOUT)


@pytest.mark.parametrize("end", ["close", "reset"])
async def test_ping_goes_on_over_a_new_stream_when_the_peer_ends_one(end: str) -> None:
    # as js-libp2p does after 10 s: the peer ends the stream between two pings
    handler = _EndingPingHandler(per_stream=3, end=end)
    code, out, err = await _ping_own_host(handler, "-c", "8", "-i", "0", "--json", "--log-level", "DEBUG")
    assert code == 0, err
    assert len(json.loads(out)["rtt_ms"]) == 8
    assert handler.streams == 3  # pings 1-3, 4-6, 7-8
    assert err.count(NEW_STREAM_LOG) == 2, err


@pytest.mark.parametrize("end", ["close", "reset"])
async def test_ping_fails_when_a_new_stream_fails_too(end: str) -> None:
    # the first stream carries 2 pings; every later one ends before its first pong
    handler = _EndingPingHandler(per_stream=2, end=end, streams_answered=1)
    code, out, err = await _ping_own_host(handler, "-c", "5", "-i", "0")
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()[1:]] == [f"pong from {_pinged_peer(out)}"] * 2
    assert handler.streams == 2  # one new stream, no more
    assert err.startswith("libp2p ping: ") and "Traceback" not in err


def _pinged_peer(out: str) -> str:
    """The peer id from ``PING /.../p2p/<id>``."""
    return out.splitlines()[0].rsplit("/p2p/", 1)[1]


@pytest.mark.parametrize("addr", ["/ip4/127.0.0.1/tcp/4001", "not-a-multiaddr"])
def test_ping_bad_address_is_a_usage_error(addr: str) -> None:
    proc = _cli("ping", addr)
    assert proc.returncode == 2
    assert proc.stderr.startswith("libp2p ping: ")


# --- id ------------------------------------------------------------------------------------------


def test_id_json(node: Node) -> None:
    out = _json(_cli("id", node.addr, "--json"))
    assert out["peer_id"] == node.peer_id
    assert out["agent_version"].startswith("aiolibp2p/")
    assert out["protocol_version"] == "ipfs/0.1.0"
    for protocol in ("/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/echo/1.0.0", "/perf/1.0.0"):
        assert protocol in out["protocols"]
    assert out["listen_addrs"] == [node.transport_addr]
    assert out["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
    assert out["signed_peer_record_verified"] is True
    assert out["certified_addrs"] == [node.transport_addr]
    assert out["muxer"] == "/yamux/1.0.0"


def test_id_human(node: Node) -> None:
    proc = _cli("id", node.addr)
    assert proc.returncode == 0, proc.stderr
    fields = {line[:18].strip(): line[18:] for line in proc.stdout.splitlines() if line[:18].strip()}
    assert fields["peer ID:"] == node.peer_id
    assert fields["signed record:"].startswith("verified")
    assert "/ipfs/ping/1.0.0" in proc.stdout


# --- perf ----------------------------------------------------------------------------------------


def test_perf_json(node: Node) -> None:
    out = _json(_cli("perf", node.addr, "--upload-bytes", "1MiB", "--download-bytes", "2000000", "--json"))
    assert out["peer_id"] == node.peer_id
    assert out["upload_bytes"] == 1 << 20 and out["download_bytes"] == 2_000_000
    assert out["upload_mb_s"] > 0 and out["download_mb_s"] > 0
    assert out["total_seconds"] >= out["download_seconds"] > 0
    assert out["upload_seconds"] > 0


def test_perf_human(node: Node) -> None:
    proc = _cli("perf", node.addr, "--upload-bytes", "100000", "--download-bytes", "0")
    assert proc.returncode == 0, proc.stderr
    up, down = proc.stdout.splitlines()
    assert up.startswith("upload:   100000 bytes in ") and up.endswith(" MB/s")
    assert down.startswith("download: 0 bytes in ")


def test_perf_needs_a_perf_server(tmp_path: Path) -> None:
    with serve(tmp_path) as plain:
        proc = _cli("perf", plain.addr, "--upload-bytes", "10", "--download-bytes", "10", "--timeout", "20")
    assert proc.returncode == 1
    assert proc.stderr.startswith("libp2p perf: ")


def test_perf_rejects_bad_size(node: Node) -> None:
    proc = _cli("perf", node.addr, "--upload-bytes", "lots", "--download-bytes", "1")
    assert proc.returncode == 2 and "invalid size" in proc.stderr


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("1048576", 1 << 20), ("1MiB", 1 << 20), ("1mib", 1 << 20), ("10MB", 10**7), ("64k", 64_000),
     ("64KiB", 65536), ("1.5GiB", 3 << 29), ("2G", 2 * 10**9), ("1_000", 1000), ("7B", 7)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1XB", "MiB", "1 2"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(Exception, match="invalid size"):
        parse_size(text)


# --- serve's options and lifecycle ---------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_gracefully_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    with serve(tmp_path, "-v") as n:
        _json(_cli("ping", n.addr, "-c", "1", "--json"))
        n.proc.send_signal(sig)
        assert n.proc.wait(timeout=10) == 0
        log = n.stderr.read_text()
        assert "stopping" in log and "Traceback" not in log
        # The client half-closes its ping stream, then closes the connection: a clean end for the handler.
        assert "WARNING" not in log, log
        assert n.proc.stdout is not None and n.proc.stdout.read() == ""  # nothing after the JSON line


def test_serve_with_key_file_has_its_peer_id(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    made = _json(_cli("keygen", "--out", str(key), "--json"))
    with serve(tmp_path, "--key", str(key)) as n:
        assert n.peer_id == made["peer_id"]
        assert _json(_cli("ping", n.addr, "-c", "1", "--json"))["peer_id"] == made["peer_id"]


def test_serve_bad_key_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    proc = _cli("serve", "--key", str(bad), timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "not a libp2p private key" in proc.stderr
    assert _cli("serve", "--key", str(tmp_path / "missing.key"), timeout=30).returncode == 2


def test_serve_mplex_only(tmp_path: Path) -> None:
    with serve(tmp_path, "--muxer", "mplex", "--loop", "asyncio") as n:
        out = _json(_cli("id", n.addr, "--json"))
        assert out["muxer"] == "/mplex/6.7.0"
        assert len(_json(_cli("ping", n.addr, "-c", "3", "-i", "0", "--json"))["rtt_ms"]) == 3
        # A client that offers only yamux cannot agree on a muxer with it.
        proc = _cli("ping", n.addr, "-c", "1", "--muxer", "yamux", "--timeout", "10")
        assert proc.returncode == 1


def test_serve_muxer_preference_order(tmp_path: Path) -> None:
    with serve(tmp_path, "--muxer", "mplex", "--muxer", "yamux") as n:
        # The dialer's preference wins in multistream-select: yamux first by default.
        assert _json(_cli("id", n.addr, "--json"))["muxer"] == "/yamux/1.0.0"
        out = _json(_cli("id", n.addr, "--json", "--muxer", "mplex", "--muxer", "yamux"))
        assert out["muxer"] == "/mplex/6.7.0"


def test_serve_cannot_listen_on_a_taken_port(node: Node) -> None:
    proc = _cli("serve", "--listen", node.transport_addr, timeout=30)
    assert proc.returncode == 1
    assert proc.stdout == "" and "cannot listen" in proc.stderr
