"""Circuit relay v2 with three of our hosts on loopback: A reserves on relay R, B dials A through
R, protocols run over the relayed connection (all of them when R sets no limits; the opted-in
ones on a limited connection), and R enforces its limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from libp2p.host.events import LocalAddressesUpdated
from libp2p.host.host import Host, LimitedConnectionError, is_limited
from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import StreamResetError
from libp2p.negotiate.service import ProtocolNotSupportedError
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.ping.service import PingService
from libp2p.protocols.relay import (
    CircuitClosed,
    Limit,
    RelayClient,
    RelayClientConfig,
    RelayConfig,
    RelayService,
    RelayStatusError,
    ReservationLost,
    ReservationMade,
    Status,
)
from libp2p.transport.tcp import DialError

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
ECHO = "/echo/1.0.0"
TIMEOUT = 30.0


async def eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


def client_of(host: Host) -> RelayClient:
    client = host.service(RelayClient)
    assert client is not None
    return client


def ping_of(host: Host) -> PingService:
    ping = host.service(PingService)
    assert ping is not None
    return ping


async def echo(host: Host, peer: Any, data: bytes, *, allow_limited: bool = False) -> bytes:
    stream = await host.new_stream(peer, [ECHO], allow_limited=allow_limited)

    async def send() -> None:
        await stream.write(data)
        await stream.close()

    sender = asyncio.ensure_future(send())  # read while writing: the echo comes back as it goes
    out = b""
    try:
        while chunk := await stream.read():
            out += chunk
    finally:
        if not sender.done():
            sender.cancel()
    await sender
    return out


@asynccontextmanager
async def trio(
    relay_config: RelayConfig | None = None, *, reserve: bool = True
) -> AsyncIterator[tuple[Host, Host, Host]]:
    """Relay R (public, loopback), A (reserved on R, not listening itself), B (a relay client)."""
    async with AsyncExitStack() as stack:
        relay = await stack.enter_async_context(
            new_host(listen_addrs=[LOOPBACK], services=[RelayService(relay_config)])
        )
        relays = [relay.full_addrs()[0]] if reserve else []
        a = new_host(services=[EchoService(), RelayClient(relays)])
        b = new_host(services=[EchoService(), RelayClient()])
        with a.events.stream(ReservationMade) as made:
            await stack.enter_async_context(a)
            await stack.enter_async_context(b)
            if reserve:
                await made.next(timeout=10)
        yield relay, a, b


def circuit_addr(a: Host) -> Multiaddr:
    (addr,) = [x for x in a.full_addrs() if "/p2p-circuit" in str(x)]
    return addr


async def test_reserve_and_dial_through_an_unlimited_relay() -> None:
    async with asyncio.timeout(TIMEOUT), trio(RelayConfig(limit=None)) as (relay, a, b):
        # A announces its relayed address and identify carries it
        addr = circuit_addr(a)
        assert str(addr) == f"{relay.full_addrs()[0]}/p2p-circuit/p2p/{a.peer_id}"
        reservation = client_of(a).reservations[relay.peer_id]
        assert reservation.voucher is not None and reservation.voucher.peer == a.peer_id
        assert reservation.limit is None
        await b.connect(addr)
        (conn,) = b.connections(a.peer_id)
        assert "/p2p-circuit" in str(conn.remote_addr) and not is_limited(conn)
        await eventually(lambda: len(a.connections(b.peer_id)) == 1)
        # secured end to end, multiplexed: identify, ping and echo both ways
        identify = b.service(IdentifyService)
        assert identify is not None
        info = await identify.identify(a.peer_id)
        assert info.listen_addrs is not None and any("/p2p-circuit" in str(x) for x in info.listen_addrs)
        assert len(await ping_of(b).ping(a.peer_id, 3)) == 3
        assert len(await ping_of(a).ping(b.peer_id, 1)) == 1
        payload = bytes(range(256)) * 4096  # 1 MiB through the relay, windows and backpressure
        assert await echo(b, a.peer_id, payload) == payload
        assert await echo(a, b.peer_id, b"back") == b"back"
        relay_service = relay.service(RelayService)
        assert relay_service is not None and relay_service.state.circuits == 1
        await b.disconnect(a.peer_id)
        await eventually(lambda: not a.connections(b.peer_id))
        await eventually(lambda: relay_service.state.circuits == 0)
        assert relay_service.closed_circuits == {"closed": 1}
        assert relay.connections(a.peer_id) and relay.connections(b.peer_id)


async def test_limited_connection_runs_only_opted_in_protocols() -> None:
    config = RelayConfig(limit=Limit(duration=60, data=1 << 20))
    async with asyncio.timeout(TIMEOUT), trio(config) as (relay, a, b):
        assert client_of(a).reservations[relay.peer_id].limit == Limit(60, 1 << 20)
        await b.connect(circuit_addr(a))
        (conn,) = b.connections(a.peer_id)
        assert is_limited(conn)
        await eventually(lambda: bool(a.connections(b.peer_id)))
        assert is_limited(a.connections(b.peer_id)[0])
        # identify and ping opted in
        assert len(await ping_of(b).ping(a.peer_id, 2)) == 2
        identify = b.service(IdentifyService)
        assert identify is not None and (await identify.identify(a.peer_id)).agent_version
        # echo did not: refused locally, and by the remote when we insist
        with pytest.raises(LimitedConnectionError):
            await b.new_stream(a.peer_id, [ECHO])
        with pytest.raises(ProtocolNotSupportedError):
            await echo(b, a.peer_id, b"x", allow_limited=True)
        # opted in on A's side, it runs
        echo_service = a.service(EchoService)
        assert echo_service is not None
        a.set_stream_handler(ECHO, echo_service._handle, allow_limited=True)  # type: ignore[attr-defined]
        assert await echo(b, a.peer_id, b"now it runs", allow_limited=True) == b"now it runs"


async def test_circuit_is_closed_at_its_data_limit() -> None:
    config = RelayConfig(limit=Limit(duration=60, data=64 * 1024))
    async with asyncio.timeout(TIMEOUT), trio(config) as (relay, a, b):
        echo_service = a.service(EchoService)
        assert echo_service is not None
        a.set_stream_handler(ECHO, echo_service._handle, allow_limited=True)  # type: ignore[attr-defined]
        relay_service = relay.service(RelayService)
        assert relay_service is not None
        with relay.events.stream(CircuitClosed) as closed:
            await b.connect(circuit_addr(a))
            assert await echo(b, a.peer_id, b"small", allow_limited=True) == b"small"
            with pytest.raises(StreamResetError):
                await echo(b, a.peer_id, b"x" * (256 * 1024), allow_limited=True)
            event = await closed.next(timeout=10)
        assert event.reason == "data limit" and max(event.relayed) == 64 * 1024
        assert relay_service.closed_circuits == {"data limit": 1}
        await eventually(lambda: not b.connections(a.peer_id) and not a.connections(b.peer_id))
        assert relay_service.state.circuits == 0
        # the relay and the reservation outlive the circuit: B can come back
        await b.connect(circuit_addr(a))
        assert len(await ping_of(b).ping(a.peer_id)) == 1


async def test_circuit_is_closed_at_its_duration_limit() -> None:
    config = RelayConfig(limit=Limit(duration=1, data=0))
    async with asyncio.timeout(TIMEOUT), trio(config) as (relay, a, b):
        with relay.events.stream(CircuitClosed) as closed:
            await b.connect(circuit_addr(a))
            assert len(await ping_of(b).ping(a.peer_id)) == 1
            event = await closed.next(timeout=10)
        assert event.reason == "duration limit"
        await eventually(lambda: not b.connections(a.peer_id))


async def test_dial_without_reservation_is_refused_with_no_reservation() -> None:
    async with asyncio.timeout(TIMEOUT), trio(reserve=False) as (relay, a, b):
        await a.connect(relay.full_addrs()[0])  # connected, but no reservation
        with pytest.raises(DialError, match="NO_RESERVATION"):
            await b.connect(Multiaddr(f"{relay.full_addrs()[0]}/p2p-circuit/p2p/{a.peer_id}"))
        relay_service = relay.service(RelayService)
        assert relay_service is not None and relay_service.state.refused["no reservation"] == 1


async def test_reservation_limits_total_and_per_ip() -> None:
    config = RelayConfig(max_reservations=2)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayService(config)]) as relay:
        clients = [new_host(services=[RelayClient()]) for _ in range(3)]
        async with AsyncExitStack() as stack:
            for c in clients:
                await stack.enter_async_context(c)
            target = relay.full_addrs()[0]
            await client_of(clients[0]).reserve(target)
            await client_of(clients[1]).reserve(target)
            with pytest.raises(RelayStatusError) as refused:
                await client_of(clients[2]).reserve(target)
            assert refused.value.status == Status.RESOURCE_LIMIT_EXCEEDED
            # a refresh is not a new reservation
            await client_of(clients[0]).reserve(target)
            # a reservation ends with the peer's connection, which frees a slot
            await clients[1].disconnect(relay.peer_id)
            await eventually(lambda: relay.service(RelayService).state.reservations == 1)  # type: ignore[union-attr]
            await client_of(clients[2]).reserve(target)
    per_ip = RelayConfig(max_reservations_per_ip=1)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayService(per_ip)]) as relay, \
            new_host(services=[RelayClient()]) as c1, new_host(services=[RelayClient()]) as c2:
        await client_of(c1).reserve(relay.full_addrs()[0])
        with pytest.raises(RelayStatusError, match="RESOURCE_LIMIT_EXCEEDED"):
            await client_of(c2).reserve(relay.full_addrs()[0])
        assert relay.service(RelayService).state.refused["reservations per ip"] == 1  # type: ignore[union-attr]


async def test_circuits_per_peer_limit() -> None:
    config = RelayConfig(limit=None, max_circuits_per_peer=1)
    async with asyncio.timeout(TIMEOUT), trio(config) as (relay, a, b):
        await b.connect(circuit_addr(a))
        async with new_host(services=[RelayClient()]) as c:
            with pytest.raises(DialError, match="RESOURCE_LIMIT_EXCEEDED"):
                await c.connect(circuit_addr(a))
        relay_service = relay.service(RelayService)
        assert relay_service is not None and relay_service.state.refused["circuits per peer"] == 1
        assert len(await ping_of(b).ping(a.peer_id)) == 1  # the first circuit still serves


async def test_reservation_refreshed_and_lost_with_the_relay() -> None:
    config = RelayConfig(reservation_ttl=2)
    async with asyncio.timeout(TIMEOUT), trio(config) as (relay, a, b):
        first = client_of(a).reservations[relay.peer_id].expire
        with a.events.stream((ReservationMade, ReservationLost, LocalAddressesUpdated)) as events:
            refreshed = await events.next(timeout=10)
            assert isinstance(refreshed, ReservationMade) and refreshed.expire >= first
            await a.disconnect(relay.peer_id)
            got: list[Any] = []
            while not any(isinstance(e, ReservationLost) for e in got):
                got.append(await events.next(timeout=10))
            update = next(e for e in got if isinstance(e, LocalAddressesUpdated))
            assert not any("/p2p-circuit" in str(x) for x in update.current)
            # the client comes back to the relay by itself
            while not isinstance(await events.next(timeout=10), ReservationMade):
                pass
        assert client_of(a).reservations[relay.peer_id]
        assert any("/p2p-circuit" in str(x) for x in a.addrs)


async def test_no_reservation_over_a_relayed_connection() -> None:
    """A relayed connection carries no HOP: a reservation over one is PERMISSION_DENIED."""
    config = RelayConfig(limit=None)
    async with asyncio.timeout(TIMEOUT), trio(config) as (relay, a, b):
        await a.add_service(RelayService(config))
        await b.connect(circuit_addr(a))
        with pytest.raises(RelayStatusError) as refused:
            await client_of(b).reserve(a.peer_id)
        assert refused.value.status == Status.PERMISSION_DENIED


def test_client_config_defaults() -> None:
    assert RelayClientConfig().hop_timeout == 30.0
    assert RelayConfig().limit == Limit(120, 1 << 17) and RelayConfig().max_reservations == 128


async def test_relays_discovered_among_connected_peers() -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[LOOPBACK], services=[RelayService()]) as relay, \
            new_host(listen_addrs=[LOOPBACK]) as plain, \
            new_host(services=[RelayClient(discover_relays=1)]) as a:
        with a.events.stream(ReservationMade) as made:
            await a.connect(plain.full_addrs()[0])
            await a.connect(relay.full_addrs()[0])  # identify says it offers hop
            event = await made.next(timeout=10)
        assert event.relay == relay.peer_id and list(client_of(a).reservations) == [relay.peer_id]
        assert any("/p2p-circuit" in str(x) for x in a.addrs)
        with a.events.stream(ReservationLost) as lost:
            await a.disconnect(relay.peer_id)
            assert (await lost.next(timeout=10)).relay == relay.peer_id
        assert not client_of(a).reservations


async def test_relays_discovered_only_once_private() -> None:
    from libp2p.host.events import LocalReachabilityChanged, Reachability

    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[LOOPBACK], services=[RelayService()]) as relay, \
            new_host(services=[RelayClient(discover_relays=1, when_private=True)]) as a:
        identify = a.service(IdentifyService)
        assert identify is not None
        await a.connect(relay.full_addrs()[0])
        await identify.identify(relay.peer_id)
        assert not client_of(a).reservations  # reachability unknown: no relay needed yet
        with a.events.stream(ReservationMade) as made:
            a.events.emit(LocalReachabilityChanged(Reachability.PRIVATE))  # as AutoNAT would
            assert (await made.next(timeout=10)).relay == relay.peer_id
