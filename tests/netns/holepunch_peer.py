"""The dialing peer of the hole-punch scenario, run in a namespace by the test
(``python -m tests.netns.holepunch_peer LISTEN RELAY TARGET_RELAYED_ADDR``), keeping
test-plans' hole-punch-interop contract: it dials ``<relay>/p2p-circuit/p2p/<target>``, waits for
DCUtR to give it a direct connection, pings over it and prints one JSON line
``{"rtt_to_holepunched_peer_millis": N, "relayed_to_direct_millis": M, ...}``; exit 1 (with the reason on stderr) if no direct
connection came within the time limit."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time

from libp2p.host.events import ConnectionOpened
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.protocols.dcutr import DcutrService
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.ping.service import PingService
from libp2p.protocols.relay import RelayClient
from libp2p.transport.tcp import TcpConfig, TcpTransport

TIME_LIMIT = 90.0


async def main(listen: str, relay: str, target: str) -> int:
    target_addr = Multiaddr(target)
    peer = target_addr.peer_id
    assert peer is not None
    async with asyncio.timeout(TIME_LIMIT), new_host(
        listen_addrs=[listen],
        transports=[TcpTransport(TcpConfig(reuse_port=True))],
        services=[RelayClient(), DcutrService()],
    ) as host:
        relay_id = await host.connect(relay)  # from our listen port: the relay sees our NAT mapping
        identify = host.service(IdentifyService)
        assert identify is not None
        await identify.identify(relay_id)
        with host.events.stream(ConnectionOpened) as opened:
            await host.connect(target_addr)
            relayed_at = time.monotonic()
            relayed = host.connections(peer)
            while True:
                event = await opened.next()
                conn = event.connection
                if conn.remote_peer_id == peer and "/p2p-circuit" not in str(conn.remote_addr):
                    break
        upgrade_ms = (time.monotonic() - relayed_at) * 1000
        ping = host.service(PingService)
        assert ping is not None
        rtts = await ping.ping(peer, 3)
        preferred = await host.connection_to(peer)
        print(json.dumps({
            "rtt_to_holepunched_peer_millis": round(min(rtts) * 1000, 3),
            "relayed_to_direct_millis": round(upgrade_ms, 3),
            "direct_addr": str(conn.remote_addr),
            "ping_over": str(preferred.remote_addr),
            "relayed_addr": str(relayed[0].remote_addr) if relayed else None,
        }), flush=True)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG if os.environ.get("HOLEPUNCH_DEBUG") else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(asyncio.run(main(*sys.argv[1:4])))
    except TimeoutError:
        print(f"no direct connection within {TIME_LIMIT} s", file=sys.stderr)
        sys.exit(1)
