"""The peerstore's bounds and its forgetting of departed peers (go's RemovePeer and pstoremanager)."""

from __future__ import annotations

import asyncio

from libp2p.host.host import HostConfig
from libp2p.host.pstoremanager import PeerstoreManager
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.peerstore.memory import MAX_ADDRS_PER_PEER, MAX_PROTOCOLS_PER_PEER, Peerstore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_peer() -> tuple[PeerId, object]:
    key = generate_key_pair().public_key
    return PeerId.from_public_key(key), key


def test_bounds_per_peer() -> None:
    store = Peerstore()
    peer, _ = a_peer()
    store.add_addrs(peer, [Multiaddr(f"/ip4/10.0.0.1/tcp/{1000 + i}") for i in range(MAX_ADDRS_PER_PEER + 10)])
    store.add_protocols(peer, [f"/p/{i}" for i in range(MAX_PROTOCOLS_PER_PEER + 10)])
    assert len(store.addrs(peer)) == MAX_ADDRS_PER_PEER
    assert len(store.protocols(peer)) == MAX_PROTOCOLS_PER_PEER


def test_forget_keeps_addresses_until_they_expire() -> None:
    clock = Clock()
    store = Peerstore(clock)
    peer, key = a_peer()
    addr = Multiaddr("/ip4/10.0.0.1/tcp/4001")
    store.add_addrs(peer, [addr], ttl=100)
    store.add_public_key(peer, key)  # type: ignore[arg-type]
    store.set_protocols(peer, ["/ipfs/id/1.0.0"])
    store.set_agent(peer, "go-libp2p", "ipfs/0.1.0")
    store.put(peer, "latency", 1.5)
    store.forget(peer)
    assert store.protocols(peer) == set()
    assert store.agent_version(peer) is None and store.protocol_version(peer) is None
    assert store.get(peer, "latency") is None
    assert store.addrs(peer) == [addr]  # still dialable
    assert store.prune() == 0 and peer in store.peers()
    clock.now += 101
    assert store.prune() == 1
    assert peer not in store.peers()


def test_forget_without_addresses_drops_the_peer() -> None:
    store = Peerstore()
    peer, key = a_peer()
    store.add_public_key(peer, key)  # type: ignore[arg-type]
    store.set_protocols(peer, ["/x"])
    store.forget(peer)
    assert peer not in store.peers()


def test_prune_keeps_peers_it_still_knows_something_of() -> None:
    clock = Clock()
    store = Peerstore(clock)
    peer, key = a_peer()
    store.add_addrs(peer, [Multiaddr("/ip4/10.0.0.1/tcp/4001")], ttl=10)
    store.add_public_key(peer, key)  # type: ignore[arg-type]
    clock.now += 11
    assert store.prune() == 0  # the address expired, the key stays until the peer is forgotten
    assert store.addrs(peer) == [] and peer in store.peers()


def test_prune_before_any_expiry_still_drops_bare_peers() -> None:
    """prune() skips the peers whose addresses all live on, but not one left with nothing."""
    clock = Clock()
    store = Peerstore(clock)
    kept, _ = a_peer()
    store.add_addrs(kept, [Multiaddr("/ip4/10.0.0.1/tcp/4001")], ttl=100)
    bare, _ = a_peer()
    store.add_addrs(bare, [Multiaddr("/p2p-circuit")][:0])  # an entry with nothing in it
    stripped, _ = a_peer()
    store.add_addrs(stripped, [Multiaddr("/ip4/10.0.0.2/tcp/4001")], ttl=100)
    assert store.prune() == 1 and bare not in store.peers()
    store.set_addrs(stripped, [Multiaddr("/ip4/10.0.0.2/tcp/4001")], ttl=0)
    cleared, _ = a_peer()
    store.add_addrs(cleared, [Multiaddr("/ip4/10.0.0.3/tcp/4001")], ttl=100)
    store.clear_addrs(cleared)
    assert store.prune() == 2
    assert store.peers() == [kept]
    clock.now += 50
    store.add_addrs(kept, [Multiaddr("/ip4/10.0.0.1/tcp/4002")], ttl=10)  # expires first now
    clock.now += 11
    assert store.prune() == 0 and store.addrs(kept) == [Multiaddr("/ip4/10.0.0.1/tcp/4001")]
    clock.now += 40
    assert store.prune() == 1 and store.peers() == []


def test_manager_forgets_after_the_grace_unless_the_peer_came_back() -> None:
    clock = Clock()
    store = Peerstore(clock)
    connected: set[PeerId] = set()
    manager = PeerstoreManager(store, connected.__contains__, grace=60, clock=clock)
    gone, back = a_peer(), a_peer()
    for peer, key in (gone, back):
        store.add_public_key(peer, key)  # type: ignore[arg-type]
        store.set_protocols(peer, ["/ipfs/kad/1.0.0"])
        manager.disconnected(peer)
    clock.now += 30
    manager.connected(back[0])
    connected.add(back[0])
    assert manager.sweep() == 0 and set(store.peers()) >= {gone[0], back[0]}
    clock.now += 31
    assert manager.sweep() == 1
    assert gone[0] not in store.peers()
    assert store.protocols(back[0]) == {"/ipfs/kad/1.0.0"}
    assert manager.pending == 0


async def test_a_host_forgets_a_departed_peer() -> None:
    config = HostConfig(forget_peers_after=0.2)
    async with asyncio.timeout(20), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], config=config) as a, \
            new_host() as b:
        await b.connect(a.full_addrs()[0])
        identify = b.services["identify"]
        await identify.identify(a.peer_id)  # type: ignore[attr-defined]
        async with asyncio.timeout(5):
            while not a.peerstore.protocols(b.peer_id):
                await asyncio.sleep(0.01)
        await b.disconnect(a.peer_id)
        async with asyncio.timeout(5):
            while b.peer_id in a.peerstore.peers():
                await asyncio.sleep(0.05)
        assert a.peerstore.protocols(b.peer_id) == set()
        assert a.peer_id in a.peerstore.peers()  # its own entry is never forgotten
