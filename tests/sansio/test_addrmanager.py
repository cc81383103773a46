"""The address manager: listen addresses expanded to interfaces, observed addresses confirmed by
distinct observers on live connections, as go-libp2p's ObservedAddrManager."""

from __future__ import annotations

import ipaddress

from libp2p.host.addrmanager import AddressManager, AddrManagerConfig, expand_unspecified, thin_waist
from libp2p.multiaddr import Multiaddr

IFACES = [ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "192.0.2.2", "fd00::2")]
BOUND = [Multiaddr("/ip4/0.0.0.0/tcp/4001"), Multiaddr("/ip6/::/tcp/4002")]
LOCAL = Multiaddr("/ip4/192.0.2.2/tcp/4001")
PUBLIC = Multiaddr("/ip4/203.0.113.5/tcp/31000")


def manager(threshold: int = 4) -> AddressManager:
    return AddressManager(AddrManagerConfig(activation_threshold=threshold), interfaces=lambda: IFACES)


def observe(m: AddressManager, conn: object, observer: str, observed: Multiaddr = PUBLIC,
            local: Multiaddr = LOCAL) -> bool:
    return m.record(conn, local=local, observer=Multiaddr(observer), observed=observed, bound=BOUND)


def test_unspecified_listen_addresses_expand_to_interfaces() -> None:
    assert [str(a) for a in expand_unspecified(BOUND, IFACES)] == [
        "/ip4/127.0.0.1/tcp/4001", "/ip4/192.0.2.2/tcp/4001", "/ip6/::1/tcp/4002", "/ip6/fd00::2/tcp/4002"]
    ws = Multiaddr("/ip4/0.0.0.0/tcp/80/ws")
    assert [str(a) for a in expand_unspecified([ws], IFACES)] == ["/ip4/127.0.0.1/tcp/80/ws", "/ip4/192.0.2.2/tcp/80/ws"]
    specific = [Multiaddr("/ip4/127.0.0.1/tcp/1"), Multiaddr("/p2p-circuit")]
    assert manager().announced(specific) == specific
    assert str(thin_waist(Multiaddr("/ip4/1.2.3.4/udp/5/quic-v1"))) == "/ip4/1.2.3.4/udp/5"


def test_an_observed_address_is_announced_after_four_distinct_observers() -> None:
    m = manager()
    for i, observer in enumerate(["/ip4/198.51.100.1/tcp/1", "/ip4/198.51.100.2/tcp/1", "/ip4/198.51.100.3/tcp/1"]):
        assert observe(m, f"conn{i}", observer)
    assert m.observed() == []
    # the same observer again, from another connection and port, is still one observer
    observe(m, "conn-again", "/ip4/198.51.100.3/tcp/2")
    assert m.observed() == []
    # IPv6 observers in one /56 are one observer
    v6 = Multiaddr("/ip6/2001:db8::5/tcp/1")
    m6 = manager(2)
    observe(m6, "a", "/ip6/2001:db8:0:1::1/tcp/1", observed=v6, local=Multiaddr("/ip6/fd00::2/tcp/4002"))
    observe(m6, "b", "/ip6/2001:db8:0:2::1/tcp/1", observed=v6, local=Multiaddr("/ip6/fd00::2/tcp/4002"))
    assert m6.observed() == []
    observe(m6, "c", "/ip6/2001:db9::1/tcp/1", observed=v6, local=Multiaddr("/ip6/fd00::2/tcp/4002"))
    assert m6.observed() == [v6]
    observe(m, "conn3", "/ip4/198.51.100.4/tcp/1")
    assert m.observed() == [PUBLIC]
    assert m.announced(BOUND)[-1] == PUBLIC and Multiaddr("/ip4/0.0.0.0/tcp/4001") not in m.announced(BOUND)
    # observations end with their connections
    assert m.remove("conn2") and m.observed() == [PUBLIC]  # .3 still observes on conn-again
    assert m.remove("conn0")
    assert m.observed() == []  # .2, .3 and .4 left: three observers
    assert not m.remove("conn0")


def test_observations_that_do_not_count() -> None:
    m = manager(1)
    relayed = Multiaddr("/ip4/198.51.100.1/tcp/1/p2p/12D3KooWAPZMuJm1Q3sAUezGd9EfM4mWr8A3vko9bxBmm1WNn5J1/p2p-circuit")
    assert not m.record("c", local=LOCAL, observer=relayed, observed=PUBLIC, bound=BOUND)
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1", observed=Multiaddr("/ip4/127.0.0.1/tcp/4001"))
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1", observed=Multiaddr("/ip4/0.0.0.0/tcp/4001"))
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1", observed=Multiaddr("/ip6/2001:db8::1/tcp/4001"))  # NAT64
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1", observed=Multiaddr("/ip4/203.0.113.5/udp/1"))
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1", observed=Multiaddr("/dns4/example.com/tcp/1"))
    # an outbound connection from an ephemeral port: not a listen address, so no use
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1", local=Multiaddr("/ip4/192.0.2.2/tcp/50123"))
    assert not m.record("c", local=None, observer=Multiaddr("/ip4/198.51.100.1/tcp/1"), observed=PUBLIC, bound=BOUND)
    assert m.observed() == []
    # the same observation twice changes nothing
    assert observe(m, "c", "/ip4/198.51.100.1/tcp/1")
    assert not observe(m, "c", "/ip4/198.51.100.1/tcp/1")


def test_at_most_three_observed_addresses_per_listen_address() -> None:
    m = manager(1)
    for i in range(5):
        observe(m, f"c{i}", f"/ip4/198.51.100.{i + 1}/tcp/1", observed=Multiaddr(f"/ip4/203.0.113.{i + 1}/tcp/1"))
    observe(m, "extra", "/ip4/198.51.100.99/tcp/1", observed=Multiaddr("/ip4/203.0.113.5/tcp/1"))
    observed = m.observed()
    assert len(observed) == 3 and observed[0] == Multiaddr("/ip4/203.0.113.5/tcp/1")  # most observers first


def test_observer_counts_follow_changed_and_closed_observations() -> None:
    other = Multiaddr("/ip4/203.0.113.9/tcp/31000")
    m = manager()
    for i in range(4):
        assert observe(m, f"conn{i}", f"/ip4/198.51.100.{i + 1}/tcp/1")
    # a second connection from an observer already counted adds no observer
    assert observe(m, "conn-dup", "/ip4/198.51.100.1/tcp/2")
    assert m.observed() == [PUBLIC]
    assert m.remove("conn-dup")
    assert m.observed() == [PUBLIC]  # observer .1 still reports it on conn0
    # conn3 now reports another address: PUBLIC falls to three observers, `other` has one
    assert observe(m, "conn3", "/ip4/198.51.100.4/tcp/1", observed=other)
    assert m.observed() == []
    for i in range(3):
        assert observe(m, f"conn{i}", f"/ip4/198.51.100.{i + 1}/tcp/1", observed=other)
    assert m.observed() == [other]
    for i in range(4):
        assert m.remove(f"conn{i}")
    assert not m.remove("conn0")
    assert m.observed() == [] and m.observations == 0


def test_many_observations_stay_cheap_to_announce() -> None:
    # 10 000 connections: announcing walks the distinct addresses, not every connection (a walk of
    # every observation made each identify O(connections), the whole node O(connections²))
    m = manager()
    for i in range(10_000):
        observe(m, i, f"/ip4/198.{i // 250 % 250}.{i % 250}.1/tcp/1")
    assert m.observations == 10_000
    assert m.observed() == [PUBLIC]
    assert len(m._groups) == 1 and len(m._groups[(thin_waist(LOCAL), PUBLIC)]) == 10_000
