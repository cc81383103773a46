"""The resource manager's scopes, limits, priorities and allowlist, without sockets."""

from __future__ import annotations

import pytest

from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.resources import (
    PRIORITY_ALWAYS,
    PRIORITY_LOW,
    Direction,
    ResourceLimitExceededError,
    ResourceLimits,
    ResourceManager,
    ScopeLimit,
)

IN, OUT = Direction.INBOUND, Direction.OUTBOUND
ADDR = Multiaddr("/ip4/192.0.2.7/tcp/4001")


def peer() -> PeerId:
    return PeerId.from_public_key(generate_key_pair().public_key)


def limits(**changes: ScopeLimit) -> ResourceLimits:
    return ResourceLimits.unlimited().with_overrides(**changes)


def test_defaults_scale_with_memory() -> None:
    small, large = ResourceLimits.scaled(memory=1 << 30), ResourceLimits.scaled(memory=8 << 30)
    assert small.system.conns_inbound < large.system.conns_inbound
    assert small.system.memory == 1 << 30 and large.system.memory == 8 << 30
    # go's per-peer stream limits: 256 inbound + 128 per GiB above 128 MiB (of an eighth of the memory)
    assert small.peer.streams_inbound == 256 + 112 and large.peer.streams_inbound == 256 + 1008
    assert ResourceLimits.scaled(memory=128 << 20).peer.streams_inbound == 256


def test_transient_holds_connections_until_the_peer_is_known() -> None:
    rm = ResourceManager(limits(transient=ScopeLimit(conns_inbound=2)))
    a = rm.open_connection(IN, ADDR)
    b = rm.open_connection(IN, ADDR)
    with pytest.raises(ResourceLimitExceededError) as exc:
        rm.open_connection(IN, ADDR)
    assert exc.value.scope == "transient" and exc.value.resource == "conns_inbound"
    assert rm.refusals["transient:conns_inbound"] == 1
    a.set_peer(peer())  # leaves the transient scope
    c = rm.open_connection(IN, ADDR)
    assert rm.stat()["transient"]["conns_inbound"] == 2 and rm.stat()["system"]["conns_inbound"] == 3
    for scope in (a, b, c):
        scope.done()
        scope.done()  # idempotent
    assert rm.stat()["system"]["conns_inbound"] == 0 and rm.stat()["transient"]["conns_inbound"] == 0
    assert [k for k in rm.stat() if k.startswith("peer:")] == []


def test_per_peer_connection_limit() -> None:
    rm = ResourceManager(limits(peer=ScopeLimit(conns_inbound=1)))
    p = peer()
    first = rm.open_connection(IN, ADDR)
    first.set_peer(p)
    second = rm.open_connection(IN, ADDR)
    with pytest.raises(ResourceLimitExceededError):
        second.set_peer(p)
    second.done()
    other = rm.open_connection(IN, ADDR)
    other.set_peer(peer())  # another peer is not affected
    assert rm.peer_usage(p)["conns_inbound"] == 1


def test_streams_move_from_transient_to_their_protocol() -> None:
    rm = ResourceManager(limits(transient=ScopeLimit(streams_inbound=1), protocol_peer=ScopeLimit(streams_inbound=1)))
    conn = rm.open_connection(IN, ADDR)
    p = peer()
    conn.set_peer(p)
    s1 = conn.open_stream(IN)
    with pytest.raises(ResourceLimitExceededError):
        conn.open_stream(IN)  # one stream may negotiate at a time
    s1.set_protocol("/echo/1.0.0")
    s2 = conn.open_stream(IN)  # the transient slot is free again
    with pytest.raises(ResourceLimitExceededError) as exc:
        s2.set_protocol("/echo/1.0.0")  # but echo allows one inbound stream per peer
    assert exc.value.scope == "protocol-peer"
    s2.set_protocol("/ipfs/ping/1.0.0")
    assert rm.peer_usage(p)["streams_inbound"] == 2
    s1.done()
    s2.done()
    assert rm.peer_usage(p)["streams_inbound"] == 0
    assert not [k for k in rm.stat() if k.startswith("protocol")]


def test_memory_is_reserved_up_the_chain_with_priorities() -> None:
    rm = ResourceManager(limits(conn=ScopeLimit(memory=1000)))
    conn = rm.open_connection(OUT, ADDR)
    conn.set_peer(peer())
    stream = conn.open_stream(OUT)
    # low priority may take only up to (101 + 1) / 256 of the limit: 398 bytes of 1000
    assert stream.try_reserve_memory(398, PRIORITY_LOW)
    assert not stream.try_reserve_memory(1, PRIORITY_LOW)
    assert rm.refusals["conn:memory"] == 1
    stream.reserve_memory(602, PRIORITY_ALWAYS)
    with pytest.raises(ResourceLimitExceededError):
        stream.reserve_memory(1, PRIORITY_ALWAYS)
    assert rm.stat()["system"]["memory"] == 1000
    stream.release_memory(500)
    assert conn.memory == 0 and stream.memory == 500  # the stream holds it, charged to its connection
    stream.done()
    assert rm.stat()["system"]["memory"] == 0


def test_a_service_reserves_memory_of_its_own() -> None:
    rm = ResourceManager(limits(service=ScopeLimit(memory=100)))
    cache = rm.service_scope("pubsub")
    cache.reserve_memory(100, PRIORITY_ALWAYS)
    with pytest.raises(ResourceLimitExceededError) as exc:
        cache.reserve_memory(1, PRIORITY_ALWAYS)
    assert exc.value.scope == "service"
    assert rm.stat()["system"]["memory"] == 100
    cache.release_memory(100)
    assert rm.stat()["system"]["memory"] == 0


def test_allowlisted_addresses_bypass_system_and_transient_limits() -> None:
    rm = ResourceManager(limits(transient=ScopeLimit(conns_inbound=0), peer=ScopeLimit(conns_inbound=0)),
                         allowlist=["192.0.2.0/24"])
    assert rm.is_allowlisted(ADDR) and not rm.is_allowlisted(Multiaddr("/ip4/198.51.100.1/tcp/1"))
    trusted = rm.open_connection(IN, ADDR)
    trusted.set_peer(peer())
    with pytest.raises(ResourceLimitExceededError):
        rm.open_connection(IN, Multiaddr("/ip4/198.51.100.1/tcp/1"))
    trusted.done()


def test_peer_overrides() -> None:
    vip = peer()
    rm = ResourceManager(limits(peer=ScopeLimit(conns_inbound=0), peers={vip: ScopeLimit()}))
    conn = rm.open_connection(IN, ADDR)
    conn.set_peer(vip)
    other = rm.open_connection(IN, ADDR)
    with pytest.raises(ResourceLimitExceededError):
        other.set_peer(peer())


def test_per_protocol_per_peer_overrides() -> None:
    rm = ResourceManager(limits(protocol_peer=ScopeLimit(streams_inbound=1),
                                protocol_peers={"/bulk/1": ScopeLimit(streams_inbound=2)}))
    conn = rm.open_connection(IN, ADDR)
    conn.set_peer(peer())
    a, b = conn.open_stream(IN), conn.open_stream(IN)
    a.set_protocol("/bulk/1")
    b.set_protocol("/bulk/1")
    with pytest.raises(ResourceLimitExceededError) as exc:
        conn.open_stream(IN).set_protocol("/bulk/1")
    assert exc.value.scope == "protocol-peer"
    conn.open_stream(IN).set_protocol("/echo/1.0.0")  # the general limit: one
    with pytest.raises(ResourceLimitExceededError):
        conn.open_stream(IN).set_protocol("/echo/1.0.0")


def test_a_service_declares_limits_for_its_own_protocol() -> None:
    """As go-libp2p's SetDefaultServiceLimits: declared per-peer limits replace the general ones
    for that protocol, also in scopes already open; limits the manager was given for that
    protocol, and resources the general limits leave unlimited, are kept."""
    rm = ResourceManager(limits(protocol_peer=ScopeLimit(streams_inbound=1)))
    conn = rm.open_connection(IN, ADDR)
    conn.set_peer(peer())
    conn.open_stream(IN).set_protocol("/bulk/1")
    with pytest.raises(ResourceLimitExceededError):
        conn.open_stream(IN).set_protocol("/bulk/1")
    rm.declare_protocol_limits("/bulk/1", peer_limit=ScopeLimit(streams_inbound=3, streams_outbound=3))
    conn.open_stream(IN).set_protocol("/bulk/1")
    conn.open_stream(IN).set_protocol("/bulk/1")
    with pytest.raises(ResourceLimitExceededError):
        conn.open_stream(IN).set_protocol("/bulk/1")
    assert rm.limits.protocol_peers["/bulk/1"].streams_outbound == ResourceLimits.unlimited().protocol_peer.streams
    conn.open_stream(IN).set_protocol("/echo/1.0.0")
    with pytest.raises(ResourceLimitExceededError):
        conn.open_stream(IN).set_protocol("/echo/1.0.0")  # other protocols: the general limit

    given = ResourceManager(limits(protocol_peers={"/bulk/1": ScopeLimit(streams_inbound=1)}))
    given.declare_protocol_limits("/bulk/1", peer_limit=ScopeLimit(streams_inbound=100))
    assert given.limits.protocol_peers["/bulk/1"].streams_inbound == 1
    free = ResourceManager(ResourceLimits.unlimited())
    free.declare_protocol_limits("/bulk/1", limit=ScopeLimit(streams_inbound=5), peer_limit=ScopeLimit(streams=5))
    assert free.limits.protocols["/bulk/1"] == free.limits.protocol_peers["/bulk/1"] == ScopeLimit()


def test_idle_protocol_scopes_are_reused_while_the_peer_is_connected_and_dropped_with_it() -> None:
    rm = ResourceManager(limits(protocol_peer=ScopeLimit(streams_inbound=1), stream=ScopeLimit(memory=100)))
    conn = rm.open_connection(IN, ADDR)
    p = peer()
    conn.set_peer(p)
    for _ in range(3):  # one at a time: the per-peer limit of 1 holds each time, the scopes are reused
        s = conn.open_stream(IN)
        s.set_protocol("/echo/1.0.0")
        with pytest.raises(ResourceLimitExceededError) as exc:
            conn.open_stream(IN).set_protocol("/echo/1.0.0")
        assert exc.value.scope == "protocol-peer"
        assert rm.stat()[f"protocol:/echo/1.0.0:{p}"]["streams_inbound"] == 1
        s.done()
        assert not [k for k in rm.stat() if k.startswith("protocol")]  # idle: held, not reported
    assert len([key for key in rm._named if key[2] == p]) == 1
    conn.done()
    assert not [key for key in rm._named if key[2] is not None]  # gone with the peer's scope


def test_a_stream_reserves_against_its_own_limit_with_priorities() -> None:
    rm = ResourceManager(limits(stream=ScopeLimit(memory=1000)))
    conn = rm.open_connection(IN, ADDR)
    conn.set_peer(peer())
    stream = conn.open_stream(IN)
    assert stream.try_reserve_memory(398, PRIORITY_LOW)
    assert not stream.try_reserve_memory(1, PRIORITY_LOW)
    assert rm.refusals["stream:memory"] == 1
    stream.reserve_memory(602, PRIORITY_ALWAYS)
    with pytest.raises(ResourceLimitExceededError) as exc:
        stream.reserve_memory(1, PRIORITY_ALWAYS)
    assert exc.value.scope == "stream"
    assert rm.stat()["system"]["memory"] == 1000 and rm.peer_usage(conn.peer)["memory"] == 1000  # type: ignore[arg-type]
    stream.release_memory(400)
    assert stream.memory == 600 and rm.stat()["system"]["memory"] == 600
    stream.done()
    assert rm.stat()["system"]["memory"] == 0 and rm.stat()["transient"]["memory"] == 0
