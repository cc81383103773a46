"""The WebSocket transport between our hosts on loopback: /ws, /wss with a self-signed
certificate, TCP and WebSocket on one host, and what a misbehaving WebSocket peer gets."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libp2p.host.host import Host
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.transport.tcp import TcpTransport
from libp2p.transport.ws_certs import write_self_signed
from libp2p.transport.websocket import HandshakeError, WebsocketConfig, WebsocketTransport, ws_endpoint


def make_self_signed(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed P-256 certificate for ``name`` and 127.0.0.1, and its key (PEM files)."""
    return write_self_signed(directory, (name, "127.0.0.1"), days=1)


def ws_addr(host: Host, marker: str = "/ws") -> Multiaddr:
    return next(a for a in host.full_addrs() if marker in str(a))


# --- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/ip4/127.0.0.1/tcp/80/ws", ("127.0.0.1", 80, False, None, "/ws")),
        ("/ip6/::1/tcp/4001/ws", ("::1", 4001, False, None, "/ws")),
        ("/dns4/example.com/tcp/443/wss", ("example.com", 443, True, "example.com", "/wss")),
        ("/dns/example.com/tcp/443/tls/ws", ("example.com", 443, True, "example.com", "/tls/ws")),
        ("/ip4/192.0.2.1/tcp/443/tls/sni/example.com/ws", ("192.0.2.1", 443, True, "example.com",
                                                            "/tls/sni/example.com/ws")),
        ("/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWLhq6icivBU2SdzKSKtnz14WNwj13hRQa7ceA6mWXZipL",
         ("127.0.0.1", 1, False, None, "/ws")),
    ],
)
def test_ws_endpoint_reads_every_websocket_address_shape(text: str, expected: tuple[object, ...]) -> None:
    endpoint = ws_endpoint(Multiaddr(text))
    assert endpoint is not None
    assert (endpoint.host, endpoint.port, endpoint.secure, endpoint.server_name, endpoint.suffix) == expected


@pytest.mark.parametrize(
    "text",
    ["/ip4/127.0.0.1/tcp/80", "/ip4/127.0.0.1/udp/80/ws", "/ip4/127.0.0.1/tcp/80/ws/ws", "/ip4/127.0.0.1/tcp/80/tls"],
)
def test_ws_endpoint_refuses_other_addresses(text: str) -> None:
    assert ws_endpoint(Multiaddr(text)) is None
    assert not WebsocketTransport().can_dial(Multiaddr(text))


def test_tcp_and_websocket_transports_do_not_claim_each_others_addresses() -> None:
    assert not TcpTransport().can_dial(Multiaddr("/ip4/127.0.0.1/tcp/1/ws"))
    assert not WebsocketTransport().can_dial(Multiaddr("/ip4/127.0.0.1/tcp/1"))
    # /wss listening needs a certificate
    assert not WebsocketTransport().can_listen(Multiaddr("/ip4/127.0.0.1/tcp/0/wss"))


# --- hosts over /ws and /wss ---------------------------------------------------------------------


async def test_one_host_listens_on_tcp_and_ws_and_is_reached_on_both() -> None:
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws"]) as a:
        addrs = [str(x) for x in a.full_addrs()]
        assert any(x.endswith(f"/p2p/{a.peer_id}") and "/ws/" in x for x in addrs)
        assert any("/ws" not in x for x in addrs)
        for addr in a.full_addrs():
            async with new_host() as b:
                await b.connect(addr)
                conn = b.swarm.connections(a.peer_id)[0]
                assert conn.remote_addr is not None
                assert ("/ws" in str(conn.remote_addr)) == ("/ws" in str(addr))
                assert len(await b.services["ping"].ping(a.peer_id, 2)) == 2


async def test_identify_over_ws_reports_the_ws_listen_address() -> None:
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0/ws"]) as a, new_host() as b:
        await b.connect(ws_addr(a))
        identified = b.services["identify"]
        async with asyncio.timeout(10):
            while not b.peerstore.protocols(a.peer_id):
                await asyncio.sleep(0.02)
        listen = [str(x) for x in b.peerstore.addrs(a.peer_id)]
        assert any(x.endswith("/ws") for x in listen), listen
        assert identified is not None


@pytest.fixture
async def wss_pair(tmp_path: Path) -> AsyncIterator[tuple[Host, Host]]:
    cert, key = make_self_signed(tmp_path)
    server_ws = WebsocketTransport(WebsocketConfig(tls_cert=str(cert), tls_key=str(key)))
    client_ws = WebsocketTransport(WebsocketConfig(tls_client_context=ssl.create_default_context(cafile=str(cert))))
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0/wss"], transports=[server_ws]) as a:
        async with new_host(transports=[client_ws]) as b:
            yield a, b


async def test_wss_with_a_self_signed_certificate(wss_pair: tuple[Host, Host]) -> None:
    a, b = wss_pair
    addr = ws_addr(a, "/wss")
    await b.connect(addr)
    assert len(await b.services["ping"].ping(a.peer_id, 3)) == 3
    conn = b.swarm.connections(a.peer_id)[0]
    raw_tls = conn.remote_addr
    assert raw_tls is not None and str(raw_tls).endswith("/wss")


async def test_wss_dial_by_sni_name(wss_pair: tuple[Host, Host]) -> None:
    a, b = wss_pair
    port = ws_endpoint(ws_addr(a, "/wss"))
    assert port is not None
    await b.connect(Multiaddr(f"/ip4/127.0.0.1/tcp/{port.port}/tls/sni/localhost/ws/p2p/{a.peer_id}"))
    assert len(await b.services["ping"].ping(a.peer_id, 1)) == 1


async def test_wss_refuses_a_certificate_it_does_not_trust(wss_pair: tuple[Host, Host]) -> None:
    a, _ = wss_pair
    async with new_host() as c:  # trusts only the system's CAs
        with pytest.raises(Exception) as info:
            await c.connect(ws_addr(a, "/wss"))
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate" in str(info.value).lower()
        assert not c.swarm.connections(a.peer_id)


async def test_transport_dial_of_a_closed_port_fails_cleanly() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ConnectionError):
        await WebsocketTransport().dial(Multiaddr(f"/ip4/127.0.0.1/tcp/{port}/ws"), 2.0)


# --- bad input ----------------------------------------------------------------------------------


_UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _masked_frame(opcode: int, payload: bytes, *, claimed_length: int | None = None) -> bytes:
    length = len(payload) if claimed_length is None else claimed_length
    mask = os.urandom(4)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def _upgraded_socket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_UPGRADE)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


async def _close_code(reader: asyncio.StreamReader) -> int | None:
    """The code of the close frame the server sends, or None if it just closed."""
    async with asyncio.timeout(10):
        data = await reader.read()  # until the server closes the TCP connection
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        body = data[2 : 2 + length]
        if opcode == 0x8:
            return int(struct.unpack("!H", body[:2])[0]) if len(body) >= 2 else None
        data = data[2 + length :]
    return None


@pytest.fixture
async def ws_server_and_client() -> AsyncIterator[tuple[Host, Host, int]]:
    config = WebsocketConfig(handshake_timeout=0.5, max_message_size=1 << 20, max_pending_handshakes=4)
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0/ws"], transports=[WebsocketTransport(config)]) as a:
        async with new_host() as b:
            await b.connect(ws_addr(a))  # a good connection that must survive what follows
            endpoint = ws_endpoint(ws_addr(a))
            assert endpoint is not None
            yield a, b, endpoint.port


async def test_text_frame_closes_that_connection_with_1003(ws_server_and_client: tuple[Host, Host, int]) -> None:
    a, b, port = ws_server_and_client
    reader, writer = await _upgraded_socket(port)
    writer.write(_masked_frame(0x1, b"/multistream/1.0.0\n"))
    assert await _close_code(reader) == 1003
    writer.close()
    assert len(await b.services["ping"].ping(a.peer_id, 1)) == 1


async def test_too_large_message_is_refused_from_its_header(ws_server_and_client: tuple[Host, Host, int]) -> None:
    a, b, port = ws_server_and_client
    reader, writer = await _upgraded_socket(port)
    # Claims 64 MiB and sends 16 bytes: refused with 1009 without waiting for (or buffering) the rest.
    writer.write(_masked_frame(0x2, b"x" * 16, claimed_length=64 << 20)[: 2 + 8 + 4 + 16])
    assert await _close_code(reader) == 1009
    writer.close()
    assert len(await b.services["ping"].ping(a.peer_id, 1)) == 1


async def test_upgrade_that_never_completes_is_dropped(ws_server_and_client: tuple[Host, Host, int]) -> None:
    a, b, port = ws_server_and_client
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_UPGRADE[:40])  # half a request line, then silence
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # the server hung up
    writer.close()
    assert len(await b.services["ping"].ping(a.peer_id, 1)) == 1


async def test_silent_connections_cannot_exhaust_pending_upgrades(ws_server_and_client: tuple[Host, Host, int]) -> None:
    a, b, port = ws_server_and_client
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
    # A fifth arrival evicts the oldest silent one; a real client still gets through.
    async with new_host() as c:
        await c.connect(ws_addr(a))
        assert len(await c.services["ping"].ping(a.peer_id, 1)) == 1
    async with asyncio.timeout(10):
        assert await silent[0][0].read() == b""
    for _, writer in silent:
        writer.close()


async def test_not_a_websocket_request_is_refused(ws_server_and_client: tuple[Host, Host, int]) -> None:
    a, b, port = ws_server_and_client
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(10):
        reply = await reader.read()
    assert reply.startswith(b"HTTP/1.1 4")  # an HTTP error, then the server hangs up
    writer.close()
    assert len(await b.services["ping"].ping(a.peer_id, 1)) == 1


async def test_dial_to_a_server_that_never_answers_the_upgrade_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = WebsocketTransport(WebsocketConfig(handshake_timeout=0.3))
    try:
        with pytest.raises((HandshakeError, ConnectionError)):
            await transport.dial(Multiaddr(f"/ip4/127.0.0.1/tcp/{port}/ws"), 5.0)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
