"""Observed addresses through real hosts: identify's observedAddr feeds the address manager, a
confirmed address is announced (LocalAddressesUpdated, identify push), and listening on
0.0.0.0 announces the interface addresses."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from libp2p.abc import Connection
from libp2p.host.events import LocalAddressesUpdated
from libp2p.host.host import HostConfig
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.identify.wire import IdentifyInfo

TIMEOUT = 30.0
EXTERNAL = "/ip4/203.0.113.7/tcp/"


class NattedView(IdentifyService):
    """Identify that reports the address a NAT in front of the remote would show: the remote's
    port at a public IP (what a real observer behind the internet would see)."""

    def local_info(self, conn: Connection | None) -> IdentifyInfo:
        info = super().local_info(conn)
        if conn is not None and conn.remote_addr is not None:
            port = conn.remote_addr.value_for_protocol("tcp")
            info.observed_addr = Multiaddr(f"{EXTERNAL}{port}")
        return info


async def test_unspecified_listen_address_expands_to_interfaces() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/0.0.0.0/tcp/0"]) as host:
        (bound,) = host.listen_addrs
        port = bound.value_for_protocol("tcp")
        assert str(bound).startswith("/ip4/0.0.0.0/")
        announced = [str(a) for a in host.addrs]
        assert f"/ip4/127.0.0.1/tcp/{port}" in announced
        assert not any("0.0.0.0" in a for a in announced)
        # dialable: a peer reaches us at the first announced address
        async with new_host() as other:
            await other.connect(host.full_addrs()[0])


async def test_observed_address_confirmed_and_announced() -> None:
    config = HostConfig(observed_addr_activation=1)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], config=config) as a, \
            new_host(services=[NattedView()]) as observer, new_host() as bystander:
        port = a.addrs[0].value_for_protocol("tcp")
        await bystander.connect(a.full_addrs()[0])
        identify = bystander.service(IdentifyService)
        assert identify is not None
        await identify.identify(a.peer_id)
        with a.events.stream(LocalAddressesUpdated) as updates:
            await observer.connect(a.full_addrs()[0])  # inbound at A: its local address is A's listen address
            update = await updates.next(timeout=10)
        assert Multiaddr(f"{EXTERNAL}{port}") in update.current
        assert Multiaddr(f"{EXTERNAL}{port}") in a.addrs
        # A pushes its new address to the peers it is connected to
        async with asyncio.timeout(10):
            while Multiaddr(f"{EXTERNAL}{port}") not in bystander.peerstore.addrs(a.peer_id):
                await asyncio.sleep(0.02)
        # the observation ends with the observer's connection
        with a.events.stream(LocalAddressesUpdated) as updates:
            await observer.disconnect(a.peer_id)
            update = await updates.next(timeout=10)
        assert Multiaddr(f"{EXTERNAL}{port}") in update.removed and Multiaddr(f"{EXTERNAL}{port}") not in a.addrs


async def test_one_host_is_one_observer() -> None:
    """Four observers on one IP (loopback here) do not confirm an address under go's threshold."""
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as a:
        async with AsyncExitStack() as stack:
            observers: list[Any] = [await stack.enter_async_context(new_host(services=[NattedView()])) for _ in range(4)]
            for o in observers:
                await o.connect(a.full_addrs()[0])
            # A identifies each observer on its own (inbound) connection
            async with asyncio.timeout(10):
                while a.addr_manager.observations < 4:
                    await asyncio.sleep(0.02)
            assert not any(str(x).startswith(EXTERNAL) for x in a.addrs)
