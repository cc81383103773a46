"""What a connection costs the listener outside its upgrade, and what must survive the cuts
(issue #16, item 4): events built only for subscribers still reach every subscriber, identify
still runs on every new connection under one shared deadline timer, a TCP listener's accepted
connections know both their addresses, and closing releases the connection's resources once."""

from __future__ import annotations

import asyncio

import pytest

from libp2p.host.events import (
    ConnectionClosed,
    ConnectionOpened,
    EventBus,
    HostEvent,
    PeerConnected,
    PeerDisconnected,
)
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.protocols.identify import service as identify_service
from libp2p.protocols.identify.events import PeerIdentified
from libp2p.protocols.identify.wire import PROTOCOL_ID
from libp2p.transport.connection import RawConnection
from libp2p.transport.tcp import TcpTransport, _sockaddr_to_multiaddr

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TIMEOUT = 10.0


async def _until(predicate: object, timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def _no_identify_deadlines(service: object) -> bool:
    """No identify waits for its deadline, and no timer is left armed for one."""
    deadlines = service._deadlines  # type: ignore[attr-defined]
    return deadlines is None or (len(deadlines) == 0 and deadlines.timers == 0)


# --- events: built only when someone listens, delivered to everyone who does ---------------------


def test_wants_follows_callbacks_and_streams() -> None:
    bus = EventBus()
    assert not bus.wants(PeerConnected)
    unsubscribe = bus.subscribe(PeerConnected, lambda e: None)
    assert bus.wants(PeerConnected)
    assert not bus.wants(PeerDisconnected)
    unsubscribe()
    assert not bus.wants(PeerConnected)
    with bus.stream(PeerDisconnected):
        assert bus.wants(PeerDisconnected)
        assert not bus.wants(PeerConnected)
    assert not bus.wants(PeerDisconnected)
    with bus.stream():  # every event
        assert bus.wants(PeerConnected)
    bus.subscribe(HostEvent, lambda e: None)  # a base class takes its subclasses
    assert bus.wants(PeerConnected)


async def test_late_subscribers_get_peer_events_of_later_connections() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener:
        # Connections come and go with nobody listening for peer events...
        async with new_host() as early:
            await early.connect(listener.full_addrs()[0])
            await _until(lambda: listener.connected_peers() == [early.peer_id])
        await _until(lambda: not listener.connected_peers())
        # ...then a callback and a stream subscribe, and see every peer event from then on.
        seen: list[HostEvent] = []
        listener.events.subscribe((PeerConnected, PeerDisconnected), seen.append)
        with listener.events.stream(PeerConnected, PeerDisconnected, ConnectionOpened, ConnectionClosed) as stream:
            async with new_host() as late:
                await late.connect(listener.full_addrs()[0])
                await _until(lambda: listener.connected_peers() == [late.peer_id])
            await _until(lambda: len(seen) == 2)
            assert seen == [PeerConnected(late.peer_id), PeerDisconnected(late.peer_id)]
            kinds = [type(await stream.next(TIMEOUT)) for _ in range(4)]
        assert kinds == [ConnectionOpened, PeerConnected, ConnectionClosed, PeerDisconnected]


async def test_peer_connected_once_per_peer_with_two_connections() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener, new_host() as dialer:
        seen: list[HostEvent] = []
        listener.events.subscribe((PeerConnected, PeerDisconnected, ConnectionOpened), seen.append)
        await dialer.connect(listener.full_addrs()[0])
        await _until(lambda: len(listener.connections(dialer.peer_id)) == 1)
        # a second connection from the same peer (made outside the swarm's reuse)
        raw = await TcpTransport().dial(listener.listen_addrs[0], TIMEOUT)
        conn = await dialer.adopt_connection(raw, listener.peer_id)
        await _until(lambda: sum(isinstance(e, ConnectionOpened) for e in seen) == 2)
        assert [e for e in seen if isinstance(e, PeerConnected)] == [PeerConnected(dialer.peer_id)]
        await conn.close()
        await _until(lambda: len(listener.connections(dialer.peer_id)) == 1)
        assert not any(isinstance(e, PeerDisconnected) for e in seen)  # one connection is left


# --- identify on every connection, under one deadline timer -------------------------------------


async def test_identify_runs_on_every_new_connection() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener:
        identified: list[PeerId] = []
        listener.events.subscribe(PeerIdentified, lambda e: identified.append(e.peer_id))
        dialers = [new_host() for _ in range(4)]
        try:
            for d in dialers:
                await d.start()
                await d.connect(listener.full_addrs()[0])
            await _until(lambda: len(identified) == len(dialers))
            assert sorted(identified) == sorted(d.peer_id for d in dialers)
            for d in dialers:  # the listener asked each one: it knows their agents
                assert listener.peerstore.agent_version(d.peer_id) is not None
        finally:
            for d in dialers:
                await d.close()
        service = listener.services["identify"]
        await _until(lambda: not service._results)  # type: ignore[attr-defined]
        assert _no_identify_deadlines(service)  # an idle host keeps no timer


async def test_identify_of_a_silent_peer_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identify_service, "TIMEOUT", 0.3)
    hold = asyncio.Event()
    streams = []

    async def silent(stream: object) -> None:  # takes the identify stream and never answers
        streams.append(stream)
        await hold.wait()

    async with new_host(listen_addrs=[LOOPBACK]) as listener, new_host() as silent_peer:
        silent_peer.set_stream_handler(PROTOCOL_ID, silent)
        await silent_peer.connect(listener.full_addrs()[0])
        await _until(lambda: listener.connections(silent_peer.peer_id))
        service = listener.services["identify"]
        with pytest.raises(TimeoutError):
            await service.identify(silent_peer.peer_id, timeout=TIMEOUT)  # type: ignore[attr-defined]
        # the answer stays with the connection: asked again, the same error, at once
        with pytest.raises(TimeoutError):
            await service.identify(silent_peer.peer_id, timeout=0.01)  # type: ignore[attr-defined]
        assert _no_identify_deadlines(service)
        assert listener.connections(silent_peer.peer_id)  # the connection itself stays
        await _until(lambda: streams and streams[0].is_reset)  # type: ignore[attr-defined]  # our stream was reset
        hold.set()


async def test_identify_waiter_sees_an_error_when_the_connection_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = asyncio.Event()

    async def silent(stream: object) -> None:
        await hold.wait()

    async with new_host(listen_addrs=[LOOPBACK]) as listener, new_host() as silent_peer:
        silent_peer.set_stream_handler(PROTOCOL_ID, silent)
        await silent_peer.connect(listener.full_addrs()[0])
        await _until(lambda: listener.connections(silent_peer.peer_id))
        service = listener.services["identify"]
        waiter = asyncio.ensure_future(service.identify(silent_peer.peer_id))  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        await listener.disconnect(silent_peer.peer_id)
        with pytest.raises(Exception) as info:
            async with asyncio.timeout(TIMEOUT):
                await waiter
        assert not isinstance(info.value, (asyncio.CancelledError, TimeoutError))
        hold.set()
        assert not service._results  # type: ignore[attr-defined]


async def test_observed_address_forgotten_with_the_peers_last_connection() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener:
        async with new_host(listen_addrs=[LOOPBACK]) as dialer:
            await dialer.connect(listener.full_addrs()[0])
            await _until(lambda: listener.connections(dialer.peer_id))
            service = listener.services["identify"]
            await service.identify(dialer.peer_id)  # type: ignore[attr-defined]
            assert dialer.peer_id in service.observed_addrs  # type: ignore[attr-defined]
        await _until(lambda: not listener.connected_peers())
        assert dialer.peer_id not in service.observed_addrs  # type: ignore[attr-defined]


# --- accept ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_accepted_connections_know_both_addresses(host: str) -> None:
    family = "ip6" if ":" in host else "ip4"
    accepted: list[RawConnection] = []
    transport = TcpTransport()
    try:
        listener = await transport.listen(Multiaddr(f"/{family}/{host}/tcp/0"), accepted.append)
    except OSError:
        pytest.skip(f"no {family} loopback here")
    try:
        dialed = [await transport.dial(listener.addrs[0], TIMEOUT) for _ in range(3)]
        await _until(lambda: len(accepted) == 3)
        for raw in accepted:
            assert not raw.is_initiator
            assert raw.local_addr == listener.addrs[0]
        assert sorted(str(r.remote_addr) for r in accepted) == sorted(str(d.local_addr) for d in dialed)
        assert all(str(r.remote_addr).startswith(f"/{family}/{host}/tcp/") for r in accepted)
        for d in dialed:
            d.abort()
    finally:
        for raw in accepted:
            raw.abort()
        await listener.close()


def test_sockaddr_to_multiaddr() -> None:
    assert _sockaddr_to_multiaddr(("10.1.2.3", 4001)) == Multiaddr("/ip4/10.1.2.3/tcp/4001")
    assert _sockaddr_to_multiaddr(("10.1.2.3", 4002)) == Multiaddr("/ip4/10.1.2.3/tcp/4002")  # the prefix, reused
    assert _sockaddr_to_multiaddr(("::1", 5, 0, 0)) == Multiaddr("/ip6/::1/tcp/5")


# --- close --------------------------------------------------------------------------------------


async def test_close_releases_the_connection_scope_once() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener:
        system = listener.resources._system  # type: ignore[attr-defined]
        transient = listener.resources._transient  # type: ignore[attr-defined]
        before = (system.conns_in, system.fd, transient.conns_in)
        closed: list[HostEvent] = []
        listener.events.subscribe(ConnectionClosed, closed.append)
        for _ in range(3):
            async with new_host() as dialer:
                await dialer.connect(listener.full_addrs()[0])
                await _until(lambda: listener.connected_peers() == [dialer.peer_id])
                conn = listener.connections(dialer.peer_id)[0]
                assert system.conns_in == before[0] + 1
            await _until(lambda: not listener.connected_peers())
            await _until(lambda: system.conns_in == before[0])
            conn.scope.done()  # type: ignore[attr-defined]  # again: nothing more is released
            assert (system.conns_in, system.fd, transient.conns_in) == before
            assert not listener.resources._peers  # type: ignore[attr-defined]
        assert len(closed) == 3


async def test_tcp_close_arms_the_grace_timer_only_with_bytes_queued() -> None:
    accepted: list[RawConnection] = []
    transport = TcpTransport()
    listener = await transport.listen(Multiaddr(LOOPBACK), accepted.append)
    try:
        drained = await transport.dial(listener.addrs[0], TIMEOUT)
        await _until(lambda: len(accepted) == 1)
        drained.close()  # nothing queued: the socket closes at once, no timer
        assert drained._abort_timer is None
        await asyncio.wait_for(drained.wait_closed(), TIMEOUT)
        assert await asyncio.wait_for(accepted[0].read(), TIMEOUT) == b""

        stuck = await transport.dial(listener.addrs[0], TIMEOUT)
        await _until(lambda: len(accepted) == 2)
        accepted[1].pause_reading()  # the peer stops reading: our bytes stay queued
        async with asyncio.timeout(TIMEOUT):
            while stuck.transport.get_write_buffer_size() == 0:  # type: ignore[union-attr]
                stuck.write(b"x" * 65536)
                await asyncio.sleep(0)
        stuck.close()
        assert stuck._abort_timer is not None  # aborted after the grace if the peer never reads
        stuck.abort()
        await asyncio.wait_for(stuck.wait_closed(), TIMEOUT)
    finally:
        for raw in accepted:
            raw.abort()
        await listener.close()


async def test_connection_wait_closed_wakes_on_close_and_returns_after() -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener, new_host() as dialer:
        await dialer.connect(listener.full_addrs()[0])
        conn = dialer.connections(listener.peer_id)[0]
        waiters = [asyncio.ensure_future(conn.wait_closed()) for _ in range(2)]
        cancelled = asyncio.ensure_future(conn.wait_closed())
        await asyncio.sleep(0)
        cancelled.cancel()
        assert not any(w.done() for w in waiters)
        await conn.close()
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*waiters)
            await conn.wait_closed()  # closed already: at once
        assert cancelled.cancelled()


async def test_identify_of_a_peer_that_never_answers_times_out_with_no_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identify_service, "TIMEOUT", 0.3)
    async with new_host(listen_addrs=[LOOPBACK]) as listener, new_host() as mute:
        mute.swarm._on_stream = lambda stream: None  # takes no inbound stream: not even multistream answers
        identifies: list[object] = []
        spawn = listener.spawn

        def counting_spawn(coro: object, name: str) -> asyncio.Task[object]:
            if name == "identify":
                identifies.append(coro)
            return spawn(coro, name)  # type: ignore[arg-type]

        monkeypatch.setattr(listener, "spawn", counting_spawn)
        await mute.connect(listener.full_addrs()[0])
        await _until(lambda: listener.connections(mute.peer_id))
        service = listener.services["identify"]
        with pytest.raises(TimeoutError):
            await service.identify(mute.peer_id, timeout=TIMEOUT)  # type: ignore[attr-defined]
        assert identifies == []  # the request went out and timed out with no task of its own
        assert _no_identify_deadlines(service)
        assert listener.connections(mute.peer_id)  # the connection stays


async def test_connection_closed_before_identify_answers_ends_it_with_no_task(monkeypatch: pytest.MonkeyPatch) -> None:
    async with new_host(listen_addrs=[LOOPBACK]) as listener:
        identifies: list[str] = []
        spawn = listener.spawn

        def counting_spawn(coro: object, name: str) -> asyncio.Task[object]:
            if name == "identify":
                identifies.append(name)
            return spawn(coro, name)  # type: ignore[arg-type]

        monkeypatch.setattr(listener, "spawn", counting_spawn)
        async with new_host() as mute:
            mute.swarm._on_stream = lambda stream: None
            await mute.connect(listener.full_addrs()[0])
            await _until(lambda: listener.connections(mute.peer_id))
            service = listener.services["identify"]
            waiter = asyncio.ensure_future(service.identify(mute.peer_id))  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
        with pytest.raises(EOFError):
            await asyncio.wait_for(waiter, TIMEOUT)
        assert identifies == []
        await _until(lambda: _no_identify_deadlines(service))
        assert not service._results  # type: ignore[attr-defined]


async def test_identify_on_streams_that_cannot_say_when_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    from libp2p.muxer.connection import MuxedStream

    monkeypatch.delattr(MuxedStream, "when_readable")  # as a transport's own streams (QUIC) may lack it
    async with new_host(listen_addrs=[LOOPBACK]) as listener, new_host() as dialer:
        await dialer.connect(listener.full_addrs()[0])
        info = await dialer.services["identify"].identify(listener.peer_id)  # type: ignore[attr-defined]
        assert info.agent_version == listener.config.agent_version
        await _until(lambda: listener.connections(dialer.peer_id))
        info = await listener.services["identify"].identify(dialer.peer_id)  # type: ignore[attr-defined]
        assert info.agent_version == dialer.config.agent_version
