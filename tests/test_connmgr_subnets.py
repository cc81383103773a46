"""Per-address inbound limits of the connection manager, with its remembered subnets."""

from __future__ import annotations

import dataclasses

from libp2p.host.connmgr import ConnectionManager, ConnManagerConfig
from libp2p.multiaddr import Multiaddr


def test_per_ip_limit_holds_across_remembered_subnets() -> None:
    mgr = ConnectionManager(ConnManagerConfig(max_inbound_per_ip4=2))
    addr = Multiaddr("/ip4/192.0.2.7/tcp/4001")
    same_ip = Multiaddr("/ip4/192.0.2.7/tcp/5555")
    assert mgr.admit_inbound(addr) and mgr.admit_inbound(same_ip)
    assert not mgr.admit_inbound(addr)  # the third from one IP is refused
    assert mgr.admit_inbound(Multiaddr("/ip4/192.0.2.8/tcp/4001"))  # another IP in the /24 is not
    mgr.release_inbound(addr)
    assert mgr.admit_inbound(same_ip)
    for a in (addr, same_ip, Multiaddr("/ip4/192.0.2.8/tcp/4001")):
        mgr.release_inbound(a)
    assert not mgr._inbound_by_subnet  # every slot given back


def test_a_new_config_takes_effect_and_loopback_is_exempt() -> None:
    mgr = ConnectionManager(ConnManagerConfig(max_inbound_per_ip4=1))
    addr = Multiaddr("/ip6/2001:db8::1/tcp/1")
    loop = Multiaddr("/ip4/127.0.0.1/tcp/1")
    assert all(mgr.admit_inbound(loop) for _ in range(5))
    assert mgr.admit_inbound(addr)
    mgr.release_inbound(addr)
    mgr.config = dataclasses.replace(mgr.config, max_inbound_per_ip6_56=1)
    assert mgr.admit_inbound(addr) and not mgr.admit_inbound(addr)
    mgr.config = dataclasses.replace(mgr.config, limit_loopback=True, max_inbound_per_ip4=1)
    assert mgr.admit_inbound(loop) and not mgr.admit_inbound(loop)
