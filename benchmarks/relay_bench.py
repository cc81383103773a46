"""Relayed vs direct: ping latency and one-stream throughput through our circuit relay v2, on
loopback, three hosts in one process (relay R, target A reserved on R, dialer B).

Prints one JSON line with the machine, the implementation (cython/python), the load average
before and after, and per path (direct B->A, relayed B->R->A): median ping RTT (ms) and
throughput (MB/s, 10^6 bytes/s) of ``--mib`` MiB pushed over one echo-free sink stream.

    .venv/bin/python benchmarks/relay_bench.py --mib 64 --pings 50
    LIBP2P_NO_EXTENSIONS=1 .venv/bin/python benchmarks/relay_bench.py --mib 64

The relay here is ours on both sides of the comparison; go-libp2p's relay as R needs the relay
role in interop/go (issue 14, item 6), and belongs in benchmarks/compare.py then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from typing import Any

from suites.relay import SINK, push, sink  # the sink protocol of the relay suite (benchmarks/suites/relay.py)

RELAY_BUFFER = 16384  # RelayConfig().buffer_size


async def _measure(b: Any, a: Any, pings: int, size: int) -> dict[str, float]:
    from libp2p.protocols.ping.service import PingService

    ping = b.service(PingService)
    rtts = await ping.ping(a.peer_id, pings)
    return {"ping_median_ms": round(statistics.median(rtts) * 1000, 3), "throughput_MBps": round(await push(b, a.peer_id, size), 1)}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    import libp2p
    from libp2p.node import new_host
    from libp2p.protocols.relay import RelayClient, RelayConfig, RelayService, ReservationMade

    load_before = os.getloadavg()
    loop = "127.0.0.1"
    async with new_host(listen_addrs=[f"/ip4/{loop}/tcp/0"], services=[RelayService(RelayConfig(limit=None, buffer_size=args.relay_buffer))]) as relay, \
            new_host(listen_addrs=[f"/ip4/{loop}/tcp/0"], services=[RelayClient([relay.full_addrs()[0]])]) as a, \
            new_host(services=[RelayClient()]) as b:
        a.set_stream_handler(SINK, sink, allow_limited=True)
        if not a.service(RelayClient).reservations:  # type: ignore[union-attr]
            with a.events.stream(ReservationMade) as made:
                if not a.service(RelayClient).reservations:  # type: ignore[union-attr]
                    await made.next(timeout=10)
        relayed_addr = next(x for x in a.full_addrs() if "/p2p-circuit" in str(x))
        await b.connect(relayed_addr)
        relayed = await _measure(b, a, args.pings, args.mib << 20)
        await b.disconnect(a.peer_id)
        await b.connect(next(x for x in a.full_addrs() if "/p2p-circuit" not in str(x)))
        direct = await _measure(b, a, args.pings, args.mib << 20)
    return {
        "benchmark": "relay_bench",
        "implementation": libp2p.IMPLEMENTATION,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "mib": args.mib,
        "relay_buffer": args.relay_buffer,
        "direct": direct,
        "relayed": relayed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--pings", type=int, default=50)
    parser.add_argument("--relay-buffer", type=int, default=RELAY_BUFFER, help="the relay's copy buffer (bytes)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args))))


if __name__ == "__main__":
    main()
