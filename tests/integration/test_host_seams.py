"""The host's seams: services, the event stream, both kinds of transport, resources, the
connection manager, and that nothing a connection left behind outlives it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import pytest

from libp2p.abc import Connection
from libp2p.errors import PeerIdMismatchError
from libp2p.host.connmgr import ConnManagerConfig
from libp2p.host.events import (
    ConnectionClosed,
    ConnectionOpened,
    HostEvent,
    LocalAddressesUpdated,
    LocalProtocolsUpdated,
    PeerConnected,
    PeerDisconnected,
    PeerProtocolsUpdated,
)
from libp2p.host.host import Host
from libp2p.host.service import Service
from libp2p.host.upgrader import Upgrader
from libp2p.identity.keys import PrivateKey, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import MuxedConnection
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.protocols.identify.events import PeerIdentified
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.ping.service import PingService
from libp2p.resources import ResourceLimits, ScopeLimit
from libp2p.transport.memory import MemoryListener, MemoryNetwork, MemoryTransport
from libp2p.transport.tcp import DialError, TcpTransport

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
ECHO = "/echo/1.0.0"
TIMEOUT = 20.0


async def eventually(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def echo(host: Host, peer: PeerId, data: bytes) -> bytes:
    stream = await host.new_stream(peer, [ECHO])

    async def send() -> None:
        await stream.write(data)
        await stream.close()

    # Read while writing: an echo holds what it cannot send back, so a writer that reads only
    # afterwards stalls once the payload exceeds every window and buffer on the path.
    sending = asyncio.ensure_future(send())
    out = bytearray()
    try:
        while chunk := await stream.read():
            out += chunk
        await sending
    finally:
        sending.cancel()
    return bytes(out)


def identify_of(host: Host) -> IdentifyService:
    service = host.service(IdentifyService)
    assert service is not None
    return service


# --- services -------------------------------------------------------------------------------------


class Recorder(Service):
    """A service that records its lifecycle and serves one protocol."""

    name = "recorder"

    def __init__(self, log: list[str], protocol: str = "/test/recorder/1.0.0") -> None:
        super().__init__()
        self.log = log
        self.protocol = protocol
        self.seen: list[PeerId] = []

    @property
    def protocols(self) -> tuple[str, ...]:
        return (self.protocol,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        self.log.append(f"start {host.peer_id == self.host.peer_id}")
        host.set_stream_handler(self.protocol, self._handle)
        host.events.subscribe(PeerConnected, lambda e: self.seen.append(e.peer_id))

    async def stop(self) -> None:
        self.log.append("stop")

    async def _handle(self, stream: Any) -> None:
        await stream.write(b"recorded")


async def test_default_services_and_composition() -> None:
    log: list[str] = []
    async with new_host() as plain:
        assert set(plain.services) == {"identify", "ping"}
        assert {"/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0"} <= set(plain.protocols)
    async with new_host(default_services=False) as bare:
        assert dict(bare.services) == {} and bare.protocols == []
    mine = IdentifyService()
    async with new_host(services=[mine, Recorder(log)]) as host:
        assert host.services["identify"] is mine  # a service named like a default replaces it
        assert list(host.services) == ["ping", "identify", "recorder"]
        assert "/test/recorder/1.0.0" in host.protocols
        assert log == ["start True"]
    assert log == ["start True", "stop"]


async def test_service_added_and_removed_at_run_time() -> None:
    log: list[str] = []
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        recorder = await a.add_service(Recorder(log))
        assert log == ["start True"]
        await b.connect(a.full_addrs()[0])
        stream = await b.new_stream(a.peer_id, ["/test/recorder/1.0.0"])
        assert await stream.read() == b"recorded"
        await eventually(lambda: recorder.seen == [b.peer_id])
        with pytest.raises(Exception, match="already"):
            await a.add_service(Recorder(log))
        await a.remove_service(recorder)
        assert log == ["start True", "stop"] and "recorder" not in a.services
        assert "/test/recorder/1.0.0" not in a.protocols
        # The removal was pushed: b learns that a no longer speaks it.
        await eventually(lambda: "/test/recorder/1.0.0" not in b.peerstore.protocols(a.peer_id))


# --- events ---------------------------------------------------------------------------------------


async def test_event_stream_and_callbacks() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        seen: list[HostEvent] = []
        a.events.subscribe((PeerConnected, PeerDisconnected), seen.append)
        with a.events.stream() as events:
            await b.connect(a.full_addrs()[0])
            got: list[HostEvent] = []
            while not any(isinstance(e, PeerIdentified) for e in got):
                got.append(await events.next(timeout=5))
            kinds = [type(e) for e in got]
            assert kinds.index(ConnectionOpened) < kinds.index(PeerConnected) < kinds.index(PeerIdentified)
            identified = next(e for e in got if isinstance(e, PeerIdentified))
            assert identified.peer_id == b.peer_id and not identified.pushed
            assert "/ipfs/ping/1.0.0" in (identified.info.protocols or [])
            # a's own protocols and addresses changing are events too
            a.set_stream_handler("/test/new/1.0.0", lambda s: asyncio.sleep(0))
            event = await events.next(timeout=5)
            while not isinstance(event, LocalProtocolsUpdated):
                event = await events.next(timeout=5)
            assert event.added == frozenset({"/test/new/1.0.0"})
            await a.listen("/ip4/127.0.0.1/tcp/0")
            event = await events.next(timeout=5)
            while not isinstance(event, LocalAddressesUpdated):
                event = await events.next(timeout=5)
            assert len(event.current) == 2
        # b hears of the new protocol by identify/push
        with b.events.stream(PeerProtocolsUpdated) as updates:
            a.set_stream_handler("/test/newer/1.0.0", lambda s: asyncio.sleep(0))
            update = await updates.next(timeout=5)
            assert update.peer_id == a.peer_id and "/test/newer/1.0.0" in update.added
        await b.disconnect(a.peer_id)
        await eventually(lambda: len(seen) == 2)
        assert seen == [PeerConnected(b.peer_id), PeerDisconnected(b.peer_id)]


async def test_slow_subscriber_loses_the_oldest_events_not_memory() -> None:
    async with new_host() as host:
        with host.events.stream(LocalProtocolsUpdated, maxsize=4) as events:
            for i in range(10):
                host.set_stream_handler(f"/test/{i}", lambda s: asyncio.sleep(0))
            assert events.dropped == 6
            first = await events.next(timeout=1)
            assert first.added == frozenset({"/test/6"})
    # the host closed: the iterator gives what it still holds, then ends
    assert [e.added for e in [x async for x in events]] == [frozenset({f"/test/{i}"}) for i in (7, 8, 9)]
    with pytest.raises(EOFError):
        await events.next(timeout=1)


# --- nothing outlives its connection -------------------------------------------------------------


async def test_connection_cycles_leave_nothing_behind() -> None:
    """connect, identify, disconnect from several clients, many times: the listener keeps no
    per-connection state afterwards (it used to keep ~270 KiB per peer that ever connected)."""
    async with asyncio.timeout(60), new_host(listen_addrs=[LOOPBACK]) as server:
        target = server.full_addrs()[0]
        for _ in range(10):
            clients = [new_host() for _ in range(5)]
            for c in clients:
                await c.start()
            await asyncio.gather(*(c.connect(target) for c in clients))
            await asyncio.gather(*(identify_of(c).identify(server.peer_id) for c in clients))
            for c in clients:
                await c.close()
        await eventually(lambda: not server.connections())
        identify = identify_of(server)
        await eventually(lambda: not identify._results and not identify.observed_addrs)
        stat = server.resources.stat()
        assert stat["system"]["conns_inbound"] == 0 and stat["system"]["streams_inbound"] == 0
        assert stat["system"]["memory"] == 0 and stat["transient"]["conns_inbound"] == 0
        assert not [k for k in stat if k.startswith("peer:")]
        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, MuxedConnection) and o.local_peer_id == server.peer_id]
        assert alive == [], alive


# --- resources through a real host --------------------------------------------------------------


async def test_streams_reserve_what_they_buffer_not_their_window() -> None:
    """An idle stream reserves no receive window (256 streams fit the default limits); unread
    data is reserved as it arrives and given back once read; a closed stream holds nothing."""
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[EchoService()]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        await b.connect(a.full_addrs()[0])
        streams = [await b.new_stream(a.peer_id, [ECHO]) for _ in range(8)]
        for s in streams:
            await s.write(b"x")
            assert await s.read(1) == b"x"
        usage = b.resources.peer_usage(a.peer_id)
        assert usage["streams_outbound"] >= 8
        assert usage["memory"] <= 8 * 4096  # at most a 4 KiB slab each, not a 256 KiB window
        unread = 200 * 1024
        await streams[0].write(b"y" * unread)  # echoed back, not read yet
        await eventually(lambda: b.resources.peer_usage(a.peer_id)["memory"] >= unread)
        assert streams[0].scope is not None and streams[0].scope.memory >= unread
        assert await streams[0].readexactly(unread) == b"y" * unread
        # what is left: its window's growth (auto-tuning doubled it, promising that much more)
        assert streams[0].scope.memory <= max(4096, streams[0]._window_reserved) < unread + 256 * 1024
        for s in streams:
            await s.close()
            assert await s.read() == b""
        await eventually(lambda: b.resources.peer_usage(a.peer_id)["streams_outbound"] == 0)
        assert b.resources.peer_usage(a.peer_id)["memory"] == 0


async def test_a_stream_reset_by_the_remote_counts_until_its_handler_lets_go() -> None:
    """A reset inbound stream keeps its place in the stream limits while its handler still holds
    it: otherwise SYN|RST floods spawn handlers that no limit counts."""
    seen_reset = asyncio.Event()
    release = asyncio.Event()

    async def holder(stream: Any) -> None:
        try:
            while await stream.read():
                pass
        except Exception:
            seen_reset.set()
            await release.wait()
            raise

    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK]) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        a.set_stream_handler("/test/hold/1.0.0", holder)
        await b.connect(a.full_addrs()[0])
        await identify_of(b).identify(a.peer_id)
        await eventually(lambda: a.resources.peer_usage(b.peer_id)["streams_inbound"] == 0)
        stream = await b.new_stream(a.peer_id, ["/test/hold/1.0.0"])
        await stream.write(b"x")
        await eventually(lambda: a.resources.peer_usage(b.peer_id)["streams_inbound"] == 1)
        await stream.reset()
        await seen_reset.wait()
        assert a.resources.peer_usage(b.peer_id)["streams_inbound"] == 1
        assert a.resources.peer_usage(b.peer_id)["memory"] == 0  # its window is given back at once
        release.set()
        await eventually(lambda: a.resources.peer_usage(b.peer_id)["streams_inbound"] == 0)


async def test_a_peer_sending_to_streams_nobody_reads_cannot_pass_the_memory_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """16 streams each sent a whole 256 KiB window (4 MiB) that no handler reads, against a
    1 MiB connection memory limit: the listener reserves what it buffers, stops reading the
    socket at the limit (buffering at most one more socket read), and once the handlers read,
    every byte arrives and the memory is given back."""
    from libp2p.muxer import connection as muxer_connection

    monkeypatch.setattr(muxer_connection, "_BACKLOG_TIMEOUT", 60.0)  # no stalled-reader resets here
    limit = 1 << 20
    window = 256 * 1024
    limits = ResourceLimits.scaled().with_overrides(conn=ScopeLimit(memory=limit, conns=1, conns_inbound=1,
                                                                    conns_outbound=1))
    read_now = asyncio.Event()
    received: list[int] = []

    async def sink(stream: Any) -> None:
        await read_now.wait()
        n = 0
        while data := await stream.read():
            n += len(data)
        received.append(n)
        await stream.close()

    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], resource_limits=limits) as a, \
            new_host(muxers=["/yamux/1.0.0"]) as b:
        a.set_stream_handler("/test/sink/1.0.0", sink)
        await b.connect(a.full_addrs()[0])
        await identify_of(b).identify(a.peer_id)
        conn = a.connections(b.peer_id)[0]
        assert isinstance(conn, MuxedConnection)
        await eventually(lambda: not conn.streams)

        async def send() -> None:
            stream = await b.new_stream(a.peer_id, ["/test/sink/1.0.0"])
            await stream.write(b"z" * (window - 100))  # within the initial window: no update needed
            await stream.close()

        senders = [asyncio.create_task(send()) for _ in range(16)]
        await eventually(lambda: a.resources.refusals["conn:memory"] >= 1 and bool(conn._backlogged))
        assert conn.raw._read_paused
        buffered = sum(s._buffered for s in conn.streams)
        assert conn.scope is not None and conn.scope.memory <= limit
        assert buffered <= limit + 256 * 1024  # the limit, and at most the socket read that passed it
        read_now.set()
        await asyncio.gather(*senders)
        await eventually(lambda: len(received) == 16)
        assert received == [window - 100] * 16
        await eventually(lambda: a.resources.peer_usage(b.peer_id)["memory"] == 0)


async def test_many_streams_on_one_connection_under_the_default_limits() -> None:
    """320 streams at once on one connection with the default limits, each carrying data both
    ways while all are open: 256 the dialer opened (128 per protocol, the default per-protocol
    per-peer inbound limit) and 64 the listener opened back."""
    hold = asyncio.Event()
    opened = 0

    async def holder(stream: Any) -> None:
        nonlocal opened
        data = await stream.readexactly(1000)
        opened += 1
        await hold.wait()
        await stream.write(data)
        await stream.close()

    async with asyncio.timeout(60), new_host(listen_addrs=[LOOPBACK]) as a, \
            new_host(listen_addrs=[LOOPBACK], muxers=["/yamux/1.0.0"]) as b:
        for h in (a, b):
            h.set_stream_handler("/test/hold/1.0.0", holder)
            h.set_stream_handler("/test/hold/2.0.0", holder)
        await b.connect(a.full_addrs()[0])
        await identify_of(b).identify(a.peer_id)
        conn = a.connections(b.peer_id)[0]
        await eventually(lambda: not conn.streams)

        async def one(src: Host, dst: Host, protocol: str, i: int) -> None:
            stream = await src.new_stream(dst.peer_id, [protocol])
            payload = i.to_bytes(4, "big") * 250
            await stream.write(payload)
            assert await stream.readexactly(1000) == payload
            assert await stream.read() == b""
            await stream.close()

        tasks = [asyncio.create_task(one(b, a, f"/test/hold/{1 + i % 2}.0.0", i)) for i in range(256)]
        tasks += [asyncio.create_task(one(a, b, "/test/hold/1.0.0", i)) for i in range(64)]
        await eventually(lambda: opened == 320, timeout=40)
        assert len(conn.streams) == 320
        assert a.resources.refusals.total() == 0 and b.resources.refusals.total() == 0
        hold.set()
        await asyncio.gather(*tasks)


async def test_peer_connection_limit() -> None:
    limits = ResourceLimits.scaled().with_overrides(peer=ScopeLimit(conns_inbound=1, conns=1))
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], resource_limits=limits) as a:
        key = generate_key_pair()
        async with new_host(key) as b1, new_host(key) as b2:
            await b1.connect(a.full_addrs()[0])
            # The same peer's second connection is closed once its handshake names it.
            with pytest.raises(Exception):
                await b2.connect(a.full_addrs()[0])
                await b2.services["ping"].ping(a.peer_id)  # type: ignore[attr-defined]
            await eventually(lambda: len(a.connections(key_peer(key))) == 1)
            assert a.resources.refusals["peer:conns_inbound"] + a.resources.refusals["peer:conns"] >= 1
            assert len(await b1.services["ping"].ping(a.peer_id, 2)) == 2  # type: ignore[attr-defined]


def key_peer(key: PrivateKey) -> PeerId:
    return PeerId.from_public_key(key.public_key)


# --- the connection manager ------------------------------------------------------------------------


async def test_watermarks_trim_the_least_valuable_and_spare_the_protected() -> None:
    # The fifth connection passes the high water mark: all five are open when the trim runs.
    config = ConnManagerConfig(low_water=2, high_water=4, grace_period=0.0, silence_period=60.0)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], connection_manager=config) as hub:
        clients = [new_host() for _ in range(5)]
        for c in clients:
            await c.start()
        try:
            valued, protected = clients[0], clients[1]
            hub.connmgr.tag_peer(valued.peer_id, "test", 100)
            hub.connmgr.protect(protected.peer_id, "test")
            for c in clients:
                await c.connect(hub.full_addrs()[0])
            # 5 > high water 4: trimmed down to low water 2, keeping the valued and the protected
            await eventually(lambda: len(hub.connections()) == 2, timeout=10)
            assert set(hub.connected_peers()) == {valued.peer_id, protected.peer_id}
            # counted once every close finished, which is after the table dropped them
            await eventually(lambda: hub.connmgr.trimmed == 3)
            assert hub.connmgr.unprotect(protected.peer_id, "test") is False
        finally:
            for c in clients:
                await c.close()


async def test_inbound_limit_per_address() -> None:
    config = ConnManagerConfig(max_inbound_per_ip4=2, limit_loopback=True)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], connection_manager=config) as hub:
        clients = [new_host() for _ in range(3)]
        for c in clients:
            await c.start()
        try:
            await clients[0].connect(hub.full_addrs()[0])
            await clients[1].connect(hub.full_addrs()[0])
            with pytest.raises(DialError):
                await clients[2].connect(hub.full_addrs()[0])
            assert hub.connmgr.refused_per_address == 1
            # a client from another loopback address is not counted with them
            other = hub.full_addrs()[0]
            assert other is not None
            await clients[0].close()
            await eventually(lambda: len(hub.connections()) == 1)
            await clients[2].connect(hub.full_addrs()[0])
        finally:
            for c in clients:
                await c.close()


# --- transports of the second kind: secured and multiplexed by themselves --------------------------


class SelfUpgradingTransport:
    """A stand-in for QUIC: it dials and listens on ``/memory/...`` and secures and multiplexes
    each connection itself (with its own upgrader: yamux over Noise), so the host gets a finished
    ``Connection`` from the transport and never runs its own upgrader on it."""

    upgraded = True

    def __init__(self, network: MemoryNetwork) -> None:
        self._raw = MemoryTransport(network)
        self._upgrader: Upgrader | None = None
        self.dialed: list[Connection] = []
        self.accepted: list[Connection] = []

    def bind(self, identity_key: PrivateKey) -> None:
        self._upgrader = Upgrader(identity_key, muxers=["/yamux/1.0.0"])

    def can_dial(self, addr: Multiaddr) -> bool:
        return self._raw.can_dial(addr)

    def can_listen(self, addr: Multiaddr) -> bool:
        return self._raw.can_listen(addr)

    async def dial(self, addr: Multiaddr, peer_id: PeerId | None, timeout: float | None = None) -> Connection:
        assert self._upgrader is not None
        raw = await self._raw.dial(addr, timeout)
        conn = await self._upgrader.upgrade(raw, peer_id)
        self.dialed.append(conn)
        return conn

    async def listen(self, addr: Multiaddr, handler: Callable[[Connection], None]) -> MemoryListener:
        assert self._upgrader is not None
        upgrader = self._upgrader
        tasks: set[asyncio.Task[None]] = set()

        def on_raw(raw: Any) -> None:
            async def upgrade() -> None:
                conn = await upgrader.upgrade(raw)
                self.accepted.append(conn)
                handler(conn)

            task = asyncio.ensure_future(upgrade())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        return await self._raw.listen(addr, on_raw)


async def test_an_upgraded_transport_is_used_like_any_other() -> None:
    net = MemoryNetwork()
    ta, tb = SelfUpgradingTransport(net), SelfUpgradingTransport(net)
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=["/memory/0"], transports=[ta], services=[EchoService()]) as a, \
            new_host(listen_addrs=["/memory/0"], transports=[tb], services=[EchoService()]) as b:
        opened: list[Connection] = []
        a.events.subscribe(ConnectionOpened, lambda e: opened.append(e.connection))
        await b.connect(a.full_addrs()[0])
        assert len(tb.dialed) == 1 and b.connections(a.peer_id) == tb.dialed
        await eventually(lambda: len(opened) == 1)
        assert opened == ta.accepted
        # identify, ping and echo both ways, as over TCP
        info = await identify_of(b).identify(a.peer_id)
        assert ECHO in (info.protocols or [])
        assert len(await a.services["ping"].ping(b.peer_id, 2)) == 2  # type: ignore[attr-defined]
        assert await echo(b, a.peer_id, b"over a self-upgrading transport") == b"over a self-upgrading transport"
        assert await echo(a, b.peer_id, b"and back") == b"and back"
        assert a.resources.stat()["system"]["conns_inbound"] == 1
        # the dial still checks the peer id
        c_key = generate_key_pair()
        with pytest.raises(PeerIdMismatchError):
            await b.connect(Multiaddr(f"{a.addrs[0]}/p2p/{key_peer(c_key)}"))
        closed: list[Connection] = []
        a.events.subscribe(ConnectionClosed, lambda e: closed.append(e.connection))
        await b.disconnect(a.peer_id)
        await eventually(lambda: closed == opened)
        await eventually(lambda: a.resources.stat()["system"]["conns_inbound"] == 0)


async def test_dial_reaching_another_peer_fails_with_the_typed_error() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        impostor = key_peer(generate_key_pair())
        with pytest.raises(PeerIdMismatchError):
            await b.connect(Multiaddr(f"{a.addrs[0]}/p2p/{impostor}"))
        assert not b.connections()


def test_ping_service_type() -> None:
    assert PingService.name == "ping" and IdentifyService.name == "identify"


# --- relayed connections: a raw pipe made from a stream of another connection -------------------

RELAY_HOP = "/test/relay-hop/1.0.0"
RELAY_STOP = "/test/relay-stop/1.0.0"


async def _splice(src: Any, dst: Any) -> None:
    try:
        while data := await src.read(65536):
            await dst.write(data)
        await dst.close()
    except Exception:  # noqa: BLE001 - either side went away: end both
        await src.reset()
        await dst.reset()


async def _read_peer(stream: Any) -> PeerId:
    n = (await stream.readexactly(1))[0]
    return PeerId.from_bytes(await stream.readexactly(n))


def _peer_line(peer: PeerId) -> bytes:
    raw = peer.to_bytes()
    return bytes([len(raw)]) + raw


class SpliceRelay(Service):
    """A minimal relay for the test (not circuit relay v2): it reads the target's peer ID from a
    hop stream, opens a stop stream to the target, and copies bytes both ways."""

    name = "test-relay"

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.set_stream_handler(RELAY_HOP, self._hop)

    async def _hop(self, stream: Any) -> None:
        target = await _read_peer(stream)
        out = await self.host.new_stream(target, [RELAY_STOP])
        await out.write(_peer_line(stream.remote_peer_id))
        await asyncio.gather(_splice(stream, out), _splice(out, stream))


class _CircuitListener:
    def __init__(self, host: Host) -> None:
        self._host = host
        self.addrs: list[Multiaddr] = []

    async def close(self) -> None:
        self._host.remove_stream_handler(RELAY_STOP)


class SpliceTransport:
    """Dials ``<relay addr>/p2p/<relay>/p2p-circuit`` through ``SpliceRelay``: the host upgrades
    the relayed stream like a TCP socket (Noise end to end, then yamux)."""

    upgraded = False

    def __init__(self) -> None:
        self.host: Host | None = None

    def can_dial(self, addr: Multiaddr) -> bool:
        return "/p2p-circuit" in str(addr)

    def can_listen(self, addr: Multiaddr) -> bool:
        return str(addr) == "/p2p-circuit"

    async def dial(self, addr: Multiaddr, timeout: float | None = None, *, peer_id: PeerId | None = None) -> Any:
        from libp2p.transport.stream_pipe import raw_connection_over

        assert self.host is not None and peer_id is not None
        relay = addr.decapsulate_code("p2p-circuit").peer_id
        assert relay is not None
        stream = await self.host.new_stream(relay, [RELAY_HOP])
        await stream.write(_peer_line(peer_id))
        return raw_connection_over(stream, is_initiator=True, remote_addr=addr)

    async def listen(self, addr: Multiaddr, handler: Callable[[Any], None]) -> _CircuitListener:
        from libp2p.transport.stream_pipe import raw_connection_over

        host = self.host
        assert host is not None

        async def stop(stream: Any) -> None:
            source = await _read_peer(stream)
            raw = raw_connection_over(stream, is_initiator=False, remote_addr=Multiaddr(f"/p2p/{source}/p2p-circuit"))
            handler(raw)
            await raw.wait_closed()  # the stream lives as long as the relayed connection

        host.set_stream_handler(RELAY_STOP, stop)
        return _CircuitListener(host)


async def test_a_relayed_connection_is_a_raw_pipe_over_a_stream() -> None:
    ta, tb = SpliceTransport(), SpliceTransport()
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[LOOPBACK], services=[SpliceRelay()]) as relay, \
            new_host(transports=[TcpTransport(), ta], services=[EchoService()]) as a, \
            new_host(listen_addrs=[LOOPBACK], transports=[TcpTransport(), tb], services=[EchoService()]) as b:
        ta.host, tb.host = a, b
        await b.listen("/p2p-circuit")
        await b.connect(relay.full_addrs()[0])
        await a.connect(relay.full_addrs()[0])
        circuit = Multiaddr(f"{relay.full_addrs()[0]}/p2p-circuit/p2p/{b.peer_id}")
        await a.connect(circuit)
        (conn,) = a.connections(b.peer_id)
        assert "/p2p-circuit" in str(conn.remote_addr)
        await eventually(lambda: len(b.connections(a.peer_id)) == 1)
        assert "/p2p-circuit" in str(b.connections(a.peer_id)[0].remote_addr)
        # The connection is secured end to end and multiplexed: identify, ping and echo cross it.
        info = await identify_of(a).identify(b.peer_id)
        assert ECHO in (info.protocols or [])
        assert len(await b.services["ping"].ping(a.peer_id, 2)) == 2  # type: ignore[attr-defined]
        payload = bytes(range(256)) * 2048  # 512 KiB: windows and backpressure through the relay
        assert await echo(a, b.peer_id, payload) == payload
        assert not [c for c in relay.connections(a.peer_id) if "/p2p-circuit" in str(c.remote_addr)]
        await a.disconnect(b.peer_id)
        await eventually(lambda: not b.connections(a.peer_id))
        # the relay's own connections stay
        assert relay.connections(a.peer_id) and relay.connections(b.peer_id)
