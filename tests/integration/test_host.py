"""Hosts on loopback TCP and on the in-memory transport."""

from __future__ import annotations

import asyncio
import logging
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from libp2p.dns import DNSResolver
from libp2p.host.host import Host, HostConfig
from libp2p.node import new_host
from libp2p.host.events import ConnectionClosed, ConnectionOpened
from libp2p.protocols.echo import EchoService
from libp2p.identity.keys import KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import MuxedStream, StreamResetError
from libp2p.negotiate.service import ProtocolNotSupportedError
from libp2p.peerstore import PeerInfo
from libp2p.transport.memory import MemoryNetwork, MemoryTransport
from libp2p.transport.tcp import DialError

YAMUX = "/yamux/1.0.0"
MPLEX = "/mplex/6.7.0"
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@pytest.fixture(params=[YAMUX, MPLEX])
def muxer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def pair(muxer: str) -> AsyncIterator[tuple[Host, Host]]:
    async with new_host(listen_addrs=[LOOPBACK], muxers=[muxer], services=[EchoService()]) as a:
        async with new_host(muxers=[muxer]) as b:
            yield a, b


async def _echo(host: Host, peer: PeerId, data: bytes) -> bytes:
    stream = await host.new_stream(peer, ["/echo/1.0.0"])
    reader = asyncio.ensure_future(stream.readexactly(len(data)))
    await stream.write(data)
    await stream.close()
    async with asyncio.timeout(30):
        return await reader


async def test_connect_ping_echo_identify(pair: tuple[Host, Host], muxer: str) -> None:
    a, b = pair
    assert a.addrs and a.addrs[0].value_for_protocol("tcp") != "0"  # /tcp/0 reports the bound port
    peer = await b.connect(a.full_addrs()[0])
    assert peer == a.peer_id
    assert b.connections(a.peer_id)[0].muxer_id == muxer
    rtts = await b.services["ping"].ping(a.peer_id, 5)
    assert len(rtts) == 5 and all(r > 0 for r in rtts)
    data = os.urandom(1 << 20)
    assert await _echo(b, a.peer_id, data) == data
    info = await b.services["identify"].identify(a.peer_id)
    assert info.agent_version and "/echo/1.0.0" in (info.protocols or [])
    assert info.certified_addrs == a.addrs  # from the verified signed peer record
    assert info.observed_addr is not None and info.observed_addr.value_for_protocol("ip4") == "127.0.0.1"
    assert set(b.peerstore.addrs(a.peer_id)) >= set(a.addrs)
    assert "/echo/1.0.0" in b.peerstore.protocols(a.peer_id)
    # the other side identified us too
    async with asyncio.timeout(5):
        while "/ipfs/ping/1.0.0" not in a.peerstore.protocols(b.peer_id):
            await asyncio.sleep(0.01)
    assert a.peerstore.public_key(b.peer_id) == b.key.public_key


async def test_connection_reused_and_concurrent_dials_deduplicated(pair: tuple[Host, Host]) -> None:
    a, b = pair
    addr = a.full_addrs()[0]
    await asyncio.gather(*(b.connect(addr) for _ in range(10)))
    assert len(b.connections(a.peer_id)) == 1
    await b.connect(addr)
    streams = await asyncio.gather(*(b.new_stream(a.peer_id, ["/echo/1.0.0"]) for _ in range(20)))
    assert len(b.connections(a.peer_id)) == 1
    for s in streams:
        await s.reset()


async def test_many_concurrent_streams_hashed(pair: tuple[Host, Host]) -> None:
    a, b = pair
    await b.connect(a.full_addrs()[0])
    payloads = [os.urandom(256 * 1024) for _ in range(16)]
    results = await asyncio.gather(*(_echo(b, a.peer_id, p) for p in payloads))
    assert [hashlib.sha256(r).digest() for r in results] == [hashlib.sha256(p).digest() for p in payloads]


async def test_unsupported_protocol_and_handler_removal(pair: tuple[Host, Host]) -> None:
    a, b = pair
    await b.connect(a.full_addrs()[0])
    with pytest.raises(ProtocolNotSupportedError):
        await b.new_stream(a.peer_id, ["/nope/1.0.0", "/nope/2.0.0"])

    async def hello(stream: MuxedStream) -> None:
        await stream.write(b"hello " + stream.protocol.encode())  # type: ignore[union-attr]

    a.set_stream_handler("/hello/1.0.0", hello)
    s = await b.new_stream(a.peer_id, ["/nope/1.0.0", "/hello/1.0.0"])
    assert s.protocol == "/hello/1.0.0"
    assert await s.read() == b"hello /hello/1.0.0"
    assert await s.read() == b""  # the handler returned: the host half-closed for it
    lazy = await b.new_stream(a.peer_id, ["/hello/1.0.0"])  # one protocol: proposed optimistically
    assert await lazy.read() == b"hello /hello/1.0.0"
    a.remove_stream_handler("/hello/1.0.0")
    # Optimistic selection reports the refusal on the first read, and resets the stream.
    lazy = await b.new_stream(a.peer_id, ["/hello/1.0.0"])
    await lazy.write(b"ignored")
    with pytest.raises(ProtocolNotSupportedError):
        await lazy.read()
    assert lazy.is_reset
    with pytest.raises(ProtocolNotSupportedError):
        await b.new_stream(a.peer_id, ["/hello/1.0.0", "/hello/2.0.0"])


async def test_optimistic_data_that_is_no_multistream_message_still_gets_a_refusal(
    pair: tuple[Host, Host], caplog: pytest.LogCaptureFixture
) -> None:
    """The listener answers "na" before it gives up on the bytes after the refused proposal (a
    length-prefixed message, as a DHT request), so the dialer learns "not supported", not "reset"."""
    a, b = pair
    await b.connect(a.full_addrs()[0])
    with caplog.at_level(logging.DEBUG, logger="libp2p"):
        for _ in range(3):
            lazy = await b.new_stream(a.peer_id, ["/not-here/1.0.0"])
            await lazy.write(b"\x02ab")  # a 2-byte message without its newline
            with pytest.raises(ProtocolNotSupportedError):
                async with asyncio.timeout(5):
                    await lazy.read()
    refusals = [r for r in caplog.records if "stream negotiation" in r.getMessage()]
    assert refusals and all(r.levelno == logging.DEBUG for r in refusals)
    assert "DataAfterRefusalError" in refusals[0].getMessage()
    assert await _echo(b, a.peer_id, b"still serving") == b"still serving"


async def test_optimistic_selection_saves_a_round_trip(pair: tuple[Host, Host]) -> None:
    """The first write of a single-protocol stream travels with the proposal."""
    a, b = pair
    await b.connect(a.full_addrs()[0])
    stream = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
    assert stream.protocol == "/echo/1.0.0"
    await stream.write(b"early data")
    await stream.close()
    async with asyncio.timeout(5):
        assert await stream.readexactly(10) == b"early data"
        assert await stream.read() == b""


async def test_handler_exception_resets_only_that_stream(pair: tuple[Host, Host]) -> None:
    a, b = pair

    async def broken(stream: MuxedStream) -> None:
        raise RuntimeError("handler bug")

    a.set_stream_handler("/broken/1.0.0", broken)
    await b.connect(a.full_addrs()[0])
    s = await b.new_stream(a.peer_id, ["/broken/1.0.0"])
    with pytest.raises(StreamResetError):
        async with asyncio.timeout(5):
            while await s.read():
                pass
    assert await _echo(b, a.peer_id, b"still serving") == b"still serving"


async def test_notifications_and_disconnect(pair: tuple[Host, Host]) -> None:
    a, b = pair
    events: list[tuple[str, PeerId]] = []
    b.events.subscribe(ConnectionOpened, lambda e: events.append(("up", e.connection.remote_peer_id)))
    b.events.subscribe(ConnectionClosed, lambda e: events.append(("down", e.connection.remote_peer_id)))
    a_events: list[str] = []
    a.events.subscribe(ConnectionClosed, lambda e: a_events.append("down"))
    await b.connect(a.full_addrs()[0])
    assert events == [("up", a.peer_id)]
    await b.disconnect(a.peer_id)
    assert events == [("up", a.peer_id), ("down", a.peer_id)]
    assert b.connections(a.peer_id) == []
    async with asyncio.timeout(5):
        while not a_events:
            await asyncio.sleep(0.01)
    # a new dial after a disconnect works
    await b.connect(a.full_addrs()[0])
    assert len(b.connections(a.peer_id)) == 1


async def test_simultaneous_dials_settle_on_one_connection(muxer: str) -> None:
    async with new_host(listen_addrs=[LOOPBACK], muxers=[muxer]) as a, new_host(listen_addrs=[LOOPBACK], muxers=[muxer]) as b:
        await asyncio.gather(a.connect(b.full_addrs()[0]), b.connect(a.full_addrs()[0]))
        async with asyncio.timeout(10):
            # settled: no handshake still in progress (a dialer's last Noise message may wait a few
            # loop passes for its first frames), one connection each
            while (len(a.connections(b.peer_id)) != 1 or len(b.connections(a.peer_id)) != 1
                   or a.swarm.pending_inbound or b.swarm.pending_inbound):
                await asyncio.sleep(0.05)
        ca, cb = a.connections(b.peer_id)[0], b.connections(a.peer_id)[0]
        # the same TCP connection, seen from both ends
        assert ca.local_addr == cb.remote_addr and ca.remote_addr == cb.local_addr
        assert (await a.services["ping"].ping(b.peer_id, 1)) and (await b.services["ping"].ping(a.peer_id, 1))


async def test_several_listen_addresses() -> None:
    async with new_host(listen_addrs=[LOOPBACK, "/ip4/127.0.0.2/tcp/0", "/ip6/::1/tcp/0"], services=[EchoService()]) as a:
        assert len(a.addrs) == 3
        for full in a.full_addrs():
            async with new_host() as b:
                await b.connect(full)
                assert await _echo(b, a.peer_id, b"x") == b"x"
                conn = b.connections(a.peer_id)[0]
                assert conn.remote_addr == full.decapsulate_code("p2p")


async def test_dial_failures_are_typed_and_bounded() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as a, new_host(config=HostConfig(dial_timeout=2.0)) as b:
        port = a.addrs[0].value_for_protocol("tcp")
        await a.close()
        with pytest.raises(DialError):
            async with asyncio.timeout(10):
                await b.connect(f"/ip4/127.0.0.1/tcp/{port}/p2p/{a.peer_id}")
        with pytest.raises(DialError):
            await b.connect(PeerInfo(a.peer_id, ()))  # no address known
        assert b.connections() == []


async def test_dns_addresses_resolved_before_dialing() -> None:
    async def fake_ip_lookup(host: str, family: int) -> list[str]:
        assert host == "node.example"
        return ["127.0.0.1"]

    async with new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a:
        port = a.addrs[0].value_for_protocol("tcp")
        resolver = DNSResolver(ip_lookup=fake_ip_lookup)
        async with new_host(resolver=resolver) as b:
            await b.connect(f"/dns4/node.example/tcp/{port}/p2p/{a.peer_id}")
            assert await _echo(b, a.peer_id, b"dns") == b"dns"


@pytest.mark.parametrize("key_type", [KeyType.Ed25519, KeyType.Secp256k1, KeyType.ECDSA, KeyType.RSA])
async def test_identities_of_every_key_type(key_type: KeyType) -> None:
    key = generate_key_pair(key_type)
    async with new_host(key=key, listen_addrs=[LOOPBACK]) as a, new_host(key=generate_key_pair(KeyType.Secp256k1)) as b:
        await b.connect(a.full_addrs()[0])
        assert b.connections(a.peer_id)[0].secure.remote_public_key == key.public_key
        info = await b.services["identify"].identify(a.peer_id)
        assert info.public_key == key.public_key
        assert info.certified_addrs == a.addrs


async def test_identify_push_on_new_protocol(pair: tuple[Host, Host]) -> None:
    a, b = pair
    await b.connect(a.full_addrs()[0])
    await b.services["identify"].identify(a.peer_id)

    async def noop(stream: MuxedStream) -> None:
        return None

    a.set_stream_handler("/late/1.0.0", noop)
    async with asyncio.timeout(5):
        while "/late/1.0.0" not in b.peerstore.protocols(a.peer_id):
            await asyncio.sleep(0.01)


async def test_graceful_close_ends_remote_streams(pair: tuple[Host, Host]) -> None:
    a, b = pair
    await b.connect(a.full_addrs()[0])
    s = await b.new_stream(a.peer_id, ["/echo/1.0.0"])
    await a.close()
    async with asyncio.timeout(5):
        with pytest.raises((ConnectionResetError, ConnectionError)):
            while True:
                if not await s.read():
                    raise ConnectionError("ended")
    async with asyncio.timeout(5):
        while b.connections(a.peer_id):
            await asyncio.sleep(0.01)


async def test_memory_transport_hosts(muxer: str) -> None:
    net = MemoryNetwork()
    async with new_host(listen_addrs=["/memory/0"], muxers=[muxer], transports=[MemoryTransport(net)], services=[EchoService()]) as a:
        async with new_host(muxers=[muxer], transports=[MemoryTransport(net)]) as b:
            assert a.addrs[0].value_for_protocol("memory") != "0"
            await b.connect(a.full_addrs()[0])
            data = os.urandom(3 << 20)
            assert await _echo(b, a.peer_id, data) == data
            assert len(await b.services["ping"].ping(a.peer_id, 3)) == 3


async def test_slow_reader_bounds_the_writer(muxer: str) -> None:
    """A reader that stops reading makes the writer wait: nothing buffers without bound (yamux)."""
    if muxer == MPLEX:
        pytest.skip("mplex has no flow control: TCP backpressure instead (tests/integration/test_mplex_backpressure.py)")
    gate = asyncio.Event()
    received = 0

    async def sink(stream: MuxedStream) -> None:
        nonlocal received
        await gate.wait()
        while data := await stream.read(1 << 16):
            received += len(data)

    async with new_host(listen_addrs=[LOOPBACK], muxers=[muxer]) as a, new_host(muxers=[muxer]) as b:
        a.set_stream_handler("/sink/1.0.0", sink)
        await b.connect(a.full_addrs()[0])
        s = await b.new_stream(a.peer_id, ["/sink/1.0.0"])
        writer = asyncio.ensure_future(s.write(bytes(8 << 20)))
        session = b.connections(a.peer_id)[0].session  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            while session.send_window(s.stream_id) != 0:
                await asyncio.sleep(0.01)
        assert not writer.done()  # blocked on the 256 KiB window
        gate.set()
        async with asyncio.timeout(30):
            await writer
        await s.close()
        async with asyncio.timeout(30):
            while received < 8 << 20:
                await asyncio.sleep(0.01)
