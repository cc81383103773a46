"""aiolibp2p ↔ go-libp2p and rust-libp2p over QUIC v1, and over TLS 1.3 on TCP.

Both directions: we dial their listener (identify, pings, a 1 MiB echo round trip) and their dialer
dials ours (pings, concurrent streams checked by sha256 on their side, identify of us). The peer
programs are ``interop/go`` and ``interop/rust`` (QUIC is in their transports; both take
``--security tls``). Skipped when a toolchain is missing (failed under ``CI=true``); every process is
stopped by its own handle.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest

from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.transport.quic import MUXER_ID, QuicTransport
from tests.interop.go_peer import GoPeer, require_go_peer, run_go_dialer_async
from tests.interop.rust_peer import RustPeer, require_rust_peer, run_rust_dialer_async

QUIC = "/ip4/127.0.0.1/udp/0/quic-v1"
TCP = "/ip4/127.0.0.1/tcp/0"
ECHO = "/echo/1.0.0"
TIMEOUT = 90.0

PEERS: dict[str, tuple[Any, Callable[[], Any], Any, str]] = {
    "go": (GoPeer, require_go_peer, run_go_dialer_async, "go-libp2p/"),
    "rust": (RustPeer, require_rust_peer, run_rust_dialer_async, "rust-libp2p/"),
}


@pytest.fixture(params=list(PEERS))
def foreign(request: pytest.FixtureRequest) -> tuple[Any, Any, str]:
    peer_class, require, dial, agent = PEERS[request.param]
    require()
    return peer_class, dial, agent


async def _echo(host: Any, peer: PeerId, data: bytes) -> bytes:
    stream = await host.new_stream(peer, [ECHO])
    reader = asyncio.ensure_future(stream.readexactly(len(data)))
    await stream.write(data)
    await stream.close()
    async with asyncio.timeout(30):
        return bytes(await reader)


async def test_we_dial_their_quic_listener(foreign: tuple[Any, Any, str]) -> None:
    peer_class, _, agent = foreign
    with peer_class.listen(listen_addr=QUIC) as peer:
        addr = next(a for a in peer.multiaddrs if "/quic-v1/" in a)
        async with asyncio.timeout(TIMEOUT), new_host(transports=[QuicTransport()]) as host:
            peer_id = await host.connect(Multiaddr(addr))
            assert str(peer_id) == peer.peer_id
            assert host.connections(peer_id)[0].muxer_id == MUXER_ID
            info = await host.services["identify"].identify(peer_id)
            assert info.agent_version is not None and info.agent_version.startswith(agent)
            assert ECHO in (info.protocols or [])
            # One ping per stream: rust-libp2p (quinn) answers only the first ping of a QUIC stream
            # opened right after earlier ping streams (seen here; over TCP it answers them all).
            for _ in range(3):
                assert len(await host.services["ping"].ping(peer_id, 1)) == 1
            data = os.urandom(1 << 20)
            assert await _echo(host, peer_id, data) == data


async def test_they_dial_our_quic_listener(foreign: tuple[Any, Any, str]) -> None:
    _, dial, _ = foreign
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[QUIC], transports=[QuicTransport()], services=[EchoService()]) as host:
        result = await dial(str(host.full_addrs()[0]), pings=3, streams=4, stream_bytes=256 * 1024, timeout=60)
        assert result["errors"] == [], result["stderr"][-3000:]
        assert result["exit_code"] == 0 and result["connected"] is True
        assert result["remote_peer"] == str(host.peer_id)
        assert len(result["ping_rtts_ms"]) == 3 and result["streams_ok"] is True
        assert result["observed_addr"] is not None and result["observed_addr"].endswith("/quic-v1")


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
@pytest.mark.parametrize("name", list(PEERS))
async def test_tls_both_ways(name: str, muxer: str) -> None:
    """TCP + /tls/1.0.0 with go and rust: we dial their listener, their dialer dials ours."""
    peer_class, require, dial, agent = PEERS[name]
    require()
    muxer_id = {"yamux": "/yamux/1.0.0", "mplex": "/mplex/6.7.0"}[muxer]
    tls = ["--security", "tls"]
    with peer_class.listen(muxer, extra_args=tls) as peer:
        async with asyncio.timeout(TIMEOUT), new_host(muxers=[muxer_id], security=["/tls/1.0.0"]) as host:
            peer_id = await host.connect(Multiaddr(peer.multiaddr))
            conn = host.connections(peer_id)[0]
            assert conn.muxer_id == muxer_id and type(conn.secure).__name__ == "TLSSession"  # type: ignore[attr-defined]
            info = await host.services["identify"].identify(peer_id)
            assert info.agent_version is not None and info.agent_version.startswith(agent)
            data = os.urandom(1 << 20)
            assert await _echo(host, peer_id, data) == data
            opened = await peer.await_event("connection_open", peer=str(host.peer_id), timeout=15)
            assert opened["encryption"] == "/tls/1.0.0" and opened["muxer"] == muxer_id
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[TCP], muxers=[muxer_id], security=["/tls/1.0.0"],
                                                  services=[EchoService()]) as host:
        result = await dial(str(host.full_addrs()[0]), muxer, pings=3, streams=4, stream_bytes=256 * 1024,
                            extra_args=tls, timeout=60)
        assert result["errors"] == [], result["stderr"][-3000:]
        assert result["encryption"] == "/tls/1.0.0" and result["muxer"] == muxer_id
        assert result["remote_peer"] == str(host.peer_id) and result["streams_ok"] is True
