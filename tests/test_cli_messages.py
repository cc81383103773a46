"""The CLI's error messages as a new user meets them (issue 17): each says what went wrong,
once, with the exit status the README gives (1: the peer could not be reached; 2: bad input)."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress

import pytest

from libp2p.cli import pure_python_notice
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.node import new_host
from tests.test_cli import _cli

PEER = str(PeerId.from_public_key(generate_key_pair().public_key))


def test_bad_peer_id_in_a_multiaddr() -> None:
    proc = _cli("ping", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWbadbadbad")
    assert proc.returncode == 2
    assert "invalid peer ID" in proc.stderr and "multihash length" not in proc.stderr


def test_dns_name_that_does_not_resolve() -> None:
    proc = _cli("ping", f"/dns4/no-such-host.invalid/tcp/4001/p2p/{PEER}", "--timeout", "20")
    assert proc.returncode == 1
    assert "no usable address" not in proc.stderr
    assert "no-such-host.invalid" in proc.stderr and "lookup" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_dial_names_the_address_once() -> None:
    port = _free_port()
    proc = _cli("ping", f"/ip4/127.0.0.1/tcp/{port}/p2p/{PEER}")
    assert proc.returncode == 1
    assert proc.stderr.count(f"/tcp/{port}") == 1, proc.stderr


@pytest.fixture(params=[b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"])
def foreign_server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A TCP server that is no libp2p peer: it answers with a banner and closes."""
    banner: bytes = request.param
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(30)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(banner)
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = int(server.getsockname()[1])
    try:
        yield port
    finally:
        stop.set()
        # close() from this thread does not wake the blocked accept(): one last connection does
        with suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        thread.join(timeout=10)
        server.close()
        assert not thread.is_alive()


def test_a_server_that_is_no_libp2p_peer(foreign_server: int) -> None:
    proc = _cli("ping", f"/ip4/127.0.0.1/tcp/{foreign_server}/p2p/{PEER}")
    assert proc.returncode == 1
    assert "not a libp2p peer (no multistream-select)" in proc.stderr, proc.stderr


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
@pytest.mark.parametrize("upload", ["1000", "1MiB"])
async def test_perf_against_a_node_without_perf_says_so(muxer: str, upload: str) -> None:
    async with new_host(listen_addrs="/ip4/127.0.0.1/tcp/0") as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "libp2p", "perf", str(server.full_addrs()[0]), "--muxer", muxer,
            "--upload-bytes", upload, "--download-bytes", "0", "--timeout", "30",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(60):
                _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 1
    assert "does not serve /perf/1.0.0" in err.decode() and "--perf" in err.decode(), err.decode()


def test_version_says_when_the_compiled_twins_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from libp2p import _accel

    monkeypatch.setattr(_accel, "IMPLEMENTATION", "python")
    monkeypatch.setattr(_accel, "NO_EXTENSIONS", False)
    monkeypatch.setattr(_accel, "NATIVE_BUILT", False)
    notice = pure_python_notice()
    assert notice is not None and "compiler" in notice
    monkeypatch.setattr(_accel, "NO_EXTENSIONS", True)  # asked for: nothing to say
    assert pure_python_notice() is None
    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("aiolibp2p ")
