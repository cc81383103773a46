"""Every way a connection ends gives back what it held: resource scopes, the connection manager's
counts and per-address slots, the swarm's table; and the host's events come once each.

Connections end normally, by a reset of the socket, by a failure in the middle of the upgrade and
by a refusal at a limit (per address, per peer); afterwards the listener holds nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from libp2p.host.connmgr import ConnManagerConfig
from libp2p.host.events import ConnectionClosed, ConnectionOpened, PeerConnected, PeerDisconnected
from libp2p.host.host import Host
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.node import new_host
from libp2p.resources import ResourceLimits, ScopeLimit

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TIMEOUT = 30.0


async def eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


class Events:
    """The listener's connection events, counted per connection (keyed by the object itself, which
    keeps it alive: an id() could be reused by a later connection) and per peer."""

    def __init__(self, host: Host) -> None:
        self.opened: Counter[object] = Counter()
        self.closed: Counter[object] = Counter()
        self.peer_up: Counter[PeerId] = Counter()
        self.peer_down: Counter[PeerId] = Counter()
        host.events.subscribe(ConnectionOpened, lambda e: self.opened.update([e.connection]))
        host.events.subscribe(ConnectionClosed, lambda e: self.closed.update([e.connection]))
        host.events.subscribe(PeerConnected, lambda e: self.peer_up.update([e.peer_id]))
        host.events.subscribe(PeerDisconnected, lambda e: self.peer_down.update([e.peer_id]))

    def check_once_each(self) -> None:
        assert set(self.opened.values()) <= {1}, self.opened
        assert self.closed == self.opened
        assert set(self.peer_up.values()) == set(self.peer_down.values()) or not self.peer_up
        assert self.peer_up == self.peer_down


def _all_released(host: Host) -> bool:
    stat = host.resources.stat()
    keys = ("conns_inbound", "conns_outbound", "fd", "memory", "streams_inbound", "streams_outbound")
    return (
        not host.connections()
        and host.swarm.pending_inbound == 0
        and host.connmgr.connection_count == 0
        and not host.connmgr._inbound_by_subnet
        and all(stat[scope][k] == 0 for scope in ("system", "transient") for k in keys)
        and not [k for k in stat if k.startswith("peer:")]
        and not host.resources._peers
    )


def _connection_events_done(host: Host, events: Events) -> bool:
    return sum(events.closed.values()) == sum(events.opened.values())


async def _settle(host: Host, events: Events) -> None:
    await eventually(lambda: _all_released(host) and _connection_events_done(host, events))
    events.check_once_each()


def _config() -> ConnManagerConfig:
    # Loopback counted per address too, so its slots are checked as well.
    return ConnManagerConfig(limit_loopback=True, max_inbound_per_ip4=64, max_inbound_per_ip4_24=64)


async def test_connections_closed_normally_and_by_reset_release_everything() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], connection_manager=_config()) as server:
        events = Events(server)
        target = server.full_addrs()[0]
        for round_ in range(4):
            clients = [new_host() for _ in range(4)]
            for c in clients:
                await c.start()
            await asyncio.gather(*(c.connect(target) for c in clients))
            await eventually(lambda: len(server.connections()) == 4)
            assert server.connmgr.connection_count == 4
            assert server.resources.stat()["system"]["conns_inbound"] == 4
            assert sum(server.connmgr._inbound_by_subnet.values()) == 8  # /32 and /24, each
            if round_ % 2:
                # A reset: the client's socket is aborted, no goodbye on the muxer.
                for c in clients:
                    for conn in c.connections():
                        conn.raw.abort()  # type: ignore[attr-defined]
            for c in clients:
                await c.close()
            await _settle(server, events)
        assert sum(events.opened.values()) == 16
        assert len(events.peer_up) == 16


async def test_failures_in_the_middle_of_the_upgrade_release_everything() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], connection_manager=_config()) as server:
        events = Events(server)
        addr = server.listen_addrs[0]
        host, port = addr.value_for_protocol("ip4"), int(addr.value_for_protocol("tcp") or 0)
        payloads = [
            b"",  # closed before a byte
            b"\x13/multistream/1.0.0\n",  # closed after the header
            b"\x13/multistream/1.0.0\n\x07/noise\n\x00\x20" + b"\x00" * 8,  # a cut Noise message
            b"\xff" * 64,  # garbage
        ]
        for payload in payloads * 3:
            reader, writer = await asyncio.open_connection(host, port)
            if payload:
                writer.write(payload)
                await writer.drain()
            await eventually(lambda: server.swarm.pending_inbound >= 1 or not payload, timeout=5)
            writer.close()
            await writer.wait_closed()
        await _settle(server, events)
        assert sum(events.opened.values()) == 0


async def test_refusals_at_the_per_address_limit_release_everything() -> None:
    config = ConnManagerConfig(limit_loopback=True, max_inbound_per_ip4=2)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], connection_manager=config) as server:
        events = Events(server)
        target = server.full_addrs()[0]
        clients = [new_host() for _ in range(5)]
        for c in clients:
            await c.start()
        try:
            results = await asyncio.gather(*(c.connect(target) for c in clients), return_exceptions=True)
            assert sum(not isinstance(r, BaseException) for r in results) == 2
            assert server.connmgr.refused_per_address == 3
            assert server.connmgr._inbound_by_subnet[f"{server.listen_addrs[0].value_for_protocol('ip4')}/32"] == 2
        finally:
            for c in clients:
                await c.close()
        await _settle(server, events)
        assert sum(events.opened.values()) == 2


async def test_refusals_at_the_peer_limit_release_everything() -> None:
    limits = ResourceLimits.scaled().with_overrides(peer=ScopeLimit(conns_inbound=1, conns=1))
    async with asyncio.timeout(TIMEOUT), new_host(
        listen_addrs=[LOOPBACK], resource_limits=limits, connection_manager=_config()
    ) as server:
        events = Events(server)
        target = server.full_addrs()[0]
        key = generate_key_pair()
        twins: list[Any] = [new_host(key) for _ in range(3)]
        for c in twins:
            await c.start()
        try:
            await asyncio.gather(*(c.connect(target) for c in twins), return_exceptions=True)
            peer = PeerId.from_public_key(key.public_key)
            await eventually(lambda: len(server.connections(peer)) == 1)
            assert server.resources.refusals["peer:conns_inbound"] + server.resources.refusals["peer:conns"] >= 1
        finally:
            for c in twins:
                await c.close()
        await _settle(server, events)
        assert sum(events.opened.values()) == 1
        assert events.peer_up == events.peer_down == Counter({PeerId.from_public_key(key.public_key): 1})


@pytest.mark.parametrize("allowlisted", [False, True])
async def test_allowlisted_connections_release_their_own_scopes(allowlisted: bool) -> None:
    from libp2p.resources import ResourceManager

    manager = ResourceManager(allowlist=["127.0.0.0/8"] if allowlisted else ())
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], resource_manager=manager) as server:
        events = Events(server)
        async with new_host() as client:
            await client.connect(server.full_addrs()[0])
            await eventually(lambda: len(server.connections()) == 1)
            used = manager._allowlisted_system if allowlisted else manager._system
            assert used.conns_in == 1
        await _settle(server, events)
        for scope in (manager._allowlisted_system, manager._allowlisted_transient):
            assert (scope.conns_in, scope.conns_out, scope.fd, scope.memory) == (0, 0, 0, 0)
