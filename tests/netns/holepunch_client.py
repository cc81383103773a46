"""Our side of libp2p/test-plans' hole-punch-interop contract, the same roles that the go and rust
peer programs offer (``peer hole-punch``), run by the tests as ``python -m tests.netns.holepunch_client``
and configured by environment variables:

* ``MODE``: ``relay`` | ``listen`` | ``dial``; ``TRANSPORT``: ``tcp``; ``REDIS_ADDR``: ``host:port``.
* ``relay``: hop service (``RELAY_UNLIMITED=true``: no per-circuit limits), identify, ping, AutoNAT
  v1 and v2 servers, listening on ``RELAY_LISTEN_IP``; pushes its address twice to ``RELAY_TCP_ADDRESS``.
* ``listen``: pops the relay address, reserves on it (from its listen port, so identify there tells
  it its NAT mapping), pushes its peer ID to ``LISTEN_CLIENT_PEER_ID`` and serves until stopped.
* ``dial``: pops both, dials ``<relay>/p2p-circuit/p2p/<id>``, waits for DCUtR's direct connection
  and prints ``{"rtt_to_holepunched_peer_millis": N, ...}`` (``tests/netns/holepunch_peer.py``).

stdout carries JSON lines only; logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys

from libp2p.cli.interop import RedisClient
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.protocols.autonat import AutonatService
from libp2p.protocols.autonatv2 import AutonatV2Service
from libp2p.protocols.dcutr import DcutrService
from libp2p.protocols.relay import RelayClient, RelayConfig, RelayService, ReservationMade
from libp2p.transport.tcp import TcpConfig, TcpTransport
from tests.netns import holepunch_peer

RELAY_ADDR_KEY = "RELAY_TCP_ADDRESS"
LISTENER_ID_KEY = "LISTEN_CLIENT_PEER_ID"
TIME_LIMIT = 90.0

log = logging.getLogger("tests.netns.holepunch_client")


def _print(line: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def _until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()


async def _redis() -> RedisClient:
    host, _, port = os.environ.get("REDIS_ADDR", "redis:6379").rpartition(":")
    return await RedisClient.connect_when_ready(host, int(port), asyncio.get_running_loop().time() + 20)


async def _pop(redis: RedisClient, key: str) -> str:
    value = await redis.blpop(key, TIME_LIMIT)
    if value is None:
        raise TimeoutError(f"nothing in redis list {key} within {TIME_LIMIT:g} s")
    return value.decode()


async def relay() -> int:
    ip = os.environ.get("RELAY_LISTEN_IP", "0.0.0.0")
    config = RelayConfig(limit=None) if os.environ.get("RELAY_UNLIMITED") == "true" else RelayConfig()
    redis = await _redis()
    async with new_host(listen_addrs=[f"/ip4/{ip}/tcp/0"],
                        services=[RelayService(config), AutonatService(), AutonatV2Service()]) as host:
        # the address on RELAY_LISTEN_IP, or (on 0.0.0.0) the first non-loopback one
        addr = next((str(a) for a in host.listen_addrs
                    if str(a).startswith(f"/ip4/{ip}/") or ip == "0.0.0.0" and not str(a).startswith("/ip4/127.")), None)
        if addr is None:
            raise RuntimeError(f"no listen address to publish among {host.listen_addrs}")
        full = f"{addr}/p2p/{host.peer_id}"
        await redis.rpush(RELAY_ADDR_KEY, full, full)
        _print({"peer_id": str(host.peer_id), "multiaddrs": [full]})
        await _until_stopped()
    await redis.close()
    return 0


async def listen() -> int:
    redis = await _redis()
    relay_addr = await _pop(redis, RELAY_ADDR_KEY)
    async with new_host(listen_addrs=["/ip4/0.0.0.0/tcp/0"], transports=[TcpTransport(TcpConfig(reuse_port=True))],
                        services=[RelayClient([relay_addr]), DcutrService()]) as host:
        client = host.service(RelayClient)
        assert client is not None
        with host.events.stream(ReservationMade) as made:
            async with asyncio.timeout(TIME_LIMIT):
                while not client.reservations:
                    await made.next()
        await redis.rpush(LISTENER_ID_KEY, str(host.peer_id))
        await redis.close()
        _print({"peer_id": str(host.peer_id),
                "relayed_addrs": [f"{a}/p2p/{host.peer_id}" for a in client.relayed_addrs]})
        await _until_stopped()
    return 0


async def dial() -> int:
    redis = await _redis()
    relay_addr = await _pop(redis, RELAY_ADDR_KEY)
    target = await _pop(redis, LISTENER_ID_KEY)
    await redis.close()
    circuit = str(Multiaddr(relay_addr)) + f"/p2p-circuit/p2p/{target}"
    return await holepunch_peer.main("/ip4/0.0.0.0/tcp/0", relay_addr, circuit)


def main() -> int:
    logging.basicConfig(level=logging.DEBUG if os.environ.get("HOLEPUNCH_DEBUG") else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ.get("TRANSPORT", "tcp") != "tcp":
        print("TRANSPORT must be tcp", file=sys.stderr)
        return 2
    roles = {"relay": relay, "listen": listen, "dial": dial}
    mode = os.environ.get("MODE", "")
    if mode not in roles:
        print(f"MODE must be relay, listen or dial, not {mode!r}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(roles[mode]())
    except TimeoutError as exc:
        print(f"{mode}: timed out: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
