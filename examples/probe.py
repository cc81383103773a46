"""Probe a peer: who it is (identify) and how far away (ping).

    python examples/probe.py ADDRESS            # any libp2p node: go, rust, js, `libp2p serve`, ...
    python examples/probe.py                    # starts a local node and probes it
"""

from __future__ import annotations

import argparse
import asyncio

from libp2p import Host, Multiaddr, new_host
from libp2p.protocols.identify.service import IdentifyService


async def probe(host: Host, address: str | Multiaddr, count: int) -> None:
    peer = await host.connect(address)
    identify = host.service(IdentifyService)
    assert identify is not None  # new_host runs identify and ping unless told otherwise
    info = await identify.identify(peer)
    print(f"peer:        {peer}")
    print(f"agent:       {info.agent_version}")
    print(f"protocols:   {', '.join(sorted(info.protocols or ()))}")
    for addr in info.listen_addrs or ():
        print(f"listens on:  {addr}")
    print(f"sees us at:  {info.observed_addr}")
    rtts = [await host.ping(peer) for _ in range(count)]
    print(f"ping:        {', '.join(f'{rtt * 1000:.2f} ms' for rtt in rtts)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", nargs="?", help="the peer's /…/p2p/<peer id> address")
    parser.add_argument("--count", type=int, default=3, help="pings to send (default: 3)")
    args = parser.parse_args()
    async with new_host() as host:
        if args.address:
            await probe(host, args.address, args.count)
        else:
            async with new_host(listen_addrs="/ip4/127.0.0.1/tcp/0") as target:
                await probe(host, target.full_addrs()[0], args.count)


if __name__ == "__main__":
    asyncio.run(main())
