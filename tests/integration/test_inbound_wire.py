"""A listener's side of one inbound connection on real loopback sockets (issue #16, item 4).

The dialer does what ``benchmarks/suites/handshakes.py`` does: TCP, ``/noise`` in the flight of
Noise message 1, Noise XX with yamux chosen inside the handshake, one yamux ping, then it closes.
The listener answers in two socket writes: Noise message 2, then one write with the ping's ACK,
its own RTT ping and identify's stream open and request; it writes nothing after the dialer
closed, and its connection is closed and forgotten. Its addresses are the socket's; identify still
completes against a dialer that answers it.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from libp2p._accel import yamux_pack_header, yamux_unpack_header
from libp2p.identity.keys import generate_key_pair
from libp2p.multiaddr import Multiaddr
from libp2p.negotiate.core import MultistreamDialer
from libp2p.node import new_host
from libp2p.protocols.identify.wire import PROTOCOL_ID as IDENTIFY
from libp2p.security.noise.service import NoiseSession, noise_handshake
from libp2p.transport.connection import RawConnection
from libp2p.transport.tcp import TcpTransport

from .transport_writes import plaintexts, record_transport_writes  # noqa: F401 - plaintexts: a fixture

TIMEOUT = 20.0
YAMUX_DATA, YAMUX_PING = 0, 2
FLAG_SYN, FLAG_ACK = 1, 2
OPAQUE = 7


def _frames(plaintext: bytes) -> list[tuple[int, int, int, int, bytes]]:
    """(type, flags, stream id, length, payload) of each yamux frame in ``plaintext``."""
    frames = []
    offset = 0
    while offset + 12 <= len(plaintext):
        _, kind, flags, stream_id, length = yamux_unpack_header(plaintext, offset)
        size = length if kind == YAMUX_DATA else 0
        frames.append((kind, flags, stream_id, length, plaintext[offset + 12:offset + 12 + size]))
        offset += 12 + size
    assert offset == len(plaintext), plaintext
    return frames


async def _dial_and_ping(addr: Multiaddr) -> tuple[RawConnection, Any]:
    """The benchmark's dial up to the ping's ACK; returns the open raw connection and its session."""
    target = Multiaddr(str(addr).split("/p2p/")[0])
    peer_id = addr.peer_id
    raw = await TcpTransport().dial(target, TIMEOUT)
    session = await noise_handshake(raw, generate_key_pair(), remote_peer_id=peer_id, muxers=("/yamux/1.0.0",),
                                    negotiation=MultistreamDialer(("/noise",), optimistic=True))
    assert session.early_muxer == "/yamux/1.0.0"
    pending = bytearray(b"".join(session.pending_plaintext))
    raw.write(session.encrypt(yamux_pack_header(YAMUX_PING, FLAG_SYN, 0, OPAQUE)))
    for _ in range(100):  # bounded: a few reads at most
        frames = _frames(bytes(pending)) if len(pending) % 12 == 0 else []
        if any(k == YAMUX_PING and f & FLAG_ACK and n == OPAQUE for k, f, _, n, _ in frames):
            return raw, session
        data = await raw.read()
        assert data, "the listener closed before the ping came back"
        pending += b"".join(session.decrypt(data))
    raise AssertionError("no ping ACK")


async def _eventually(predicate: Any, what: str) -> None:
    for _ in range(500):  # bounded: 5 s
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} did not happen")


async def test_listener_answers_a_handshake_in_two_writes_and_closes_after_the_dialer(
    monkeypatch: pytest.MonkeyPatch, plaintexts: list[tuple[NoiseSession, bytes]],
) -> None:
    writes = record_transport_writes(monkeypatch)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as server:
        raw, session = await _dial_and_ping(server.full_addrs()[0])
        listener = [(c, b) for c, b in writes if not c.is_initiator]
        assert len(listener) == 2, listener  # Noise message 2, then everything after the handshake
        accepted = listener[0][0]
        assert accepted.loop is asyncio.get_running_loop()
        # the listener's one secured write so far: the ping's ACK, its own RTT ping and identify's
        # stream (SYN) with its request
        ours = [p for s, p in plaintexts if s is not session]
        assert len(ours) == 1, ours
        frames = _frames(ours[0])
        assert any(k == YAMUX_PING and f == FLAG_ACK and n == OPAQUE for k, f, _, n, _ in frames), frames
        assert any(k == YAMUX_PING and f == FLAG_SYN for k, f, _, _, _ in frames), frames
        request = [p for k, f, i, _, p in frames if k == YAMUX_DATA and f & FLAG_SYN and i == 2]
        assert request == [MultistreamDialer([IDENTIFY], optimistic=False).data_to_send()], frames
        # the accepted connection's addresses are the socket's, both ways
        assert accepted.remote_addr == raw.local_addr and accepted.local_addr == raw.remote_addr
        closed = asyncio.ensure_future(accepted.wait_closed())  # awaited before the close
        await asyncio.sleep(0)
        assert not closed.done() and not accepted.closed
        raw.abort()
        await closed
        assert accepted.closed
        await accepted.wait_closed()  # and after it: returns at once
        await _eventually(lambda: not server.connections(), "the listener forgetting the connection")
        # nothing written after the dialer left (no GoAway into a closed socket)
        assert len([c for c, _ in writes if c is accepted]) == 2


@pytest.mark.parametrize("family", ["ip4", "ip6"])
async def test_accepted_addresses_are_the_sockets(family: str) -> None:
    host_text = "127.0.0.1" if family == "ip4" else "::1"
    if family == "ip6":
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback")
    accepted: list[RawConnection] = []
    async with asyncio.timeout(TIMEOUT):
        listener = await TcpTransport().listen(Multiaddr(f"/{family}/{host_text}/tcp/0"), accepted.append)
        try:
            raw = await TcpTransport().dial(listener.addrs[0], TIMEOUT)
            await _eventually(lambda: bool(accepted), "the accept")
            (conn,) = accepted
            sockname = raw.transport.get_extra_info("sockname")  # type: ignore[union-attr]
            expected = Multiaddr(f"/{family}/{host_text}/tcp/{sockname[1]}")
            assert conn.remote_addr == expected and str(conn.remote_addr) == str(expected)
            assert conn.remote_addr is not None
            assert [c.protocol.name for c in conn.remote_addr.components()] == [family, "tcp"]
            assert conn.local_addr == listener.addrs[0]
            raw.close()
            conn.close()
            await conn.wait_closed()
        finally:
            await listener.close()


async def test_identify_completes_both_ways_with_a_dialer_that_answers() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as server, \
            new_host() as client:
        await client.connect(server.full_addrs()[0])
        await _eventually(lambda: bool(server.connections(client.peer_id)), "the listener's connection")
        # the listener asked on connect with no dialer of its own until the answer came
        theirs = await server.services["identify"].identify(client.peer_id)  # type: ignore[attr-defined]
        assert theirs.protocols is not None and IDENTIFY in theirs.protocols
        assert theirs.public_key == client.key.public_key
        ours = await client.services["identify"].identify(server.peer_id)  # type: ignore[attr-defined]
        assert ours.protocols is not None and IDENTIFY in ours.protocols
