"""``libp2p ping``: measure round trips to a peer with ``/ipfs/ping/1.0.0``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId

DEFAULT_COUNT = 4
DEFAULT_TIMEOUT = 10.0


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "ping",
        help="ping a peer",
        parents=[
            _common.network_options(),
            _common.client_options(DEFAULT_TIMEOUT, "the dial and each round trip"),
        ],
        description="Connect to MULTIADDR (which must end in /p2p/<peer id>; the peer must prove that "
        "identity), ping it COUNT times over one stream, and print one line per pong and a summary, or "
        'with --json one line {"peer_id": ..., "rtt_ms": [...], "median_ms": ...}. Exits 1 when the peer '
        "cannot be reached or verified, or does not answer in time.",
    )
    p.add_argument("addr", metavar="MULTIADDR", help="the peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...")
    p.add_argument("-c", "--count", type=int, default=DEFAULT_COUNT,
                   help=f"number of pings; 0 = until interrupted (default: {DEFAULT_COUNT})")
    p.add_argument("-i", "--interval", type=float, default=1.0, metavar="S",
                   help="seconds between pings (default: 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.count < 0 or args.interval < 0 or (args.timeout is not None and args.timeout <= 0):
        print("libp2p ping: --count and --interval must be >= 0 and --timeout > 0", file=sys.stderr)
        return 2
    return _common.run_command("ping", args, lambda: _ping(args))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


async def _ping(args: argparse.Namespace) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.node import new_host

    info = _common.parse_peer_addr(args.addr)
    config = HostConfig(dial_timeout=args.timeout)
    async with new_host(config=config, **_common.host_options(args)) as host:
        stop = _common.stop_event()
        await _common.connect(host, info, args.timeout)
        if not args.json:
            print(f"PING {args.addr}", flush=True)
        rtts = await _rounds(host, info.peer_id, args, stop)
    if args.json:
        print(json.dumps({
            "peer_id": str(info.peer_id),
            "rtt_ms": [_ms(r) for r in rtts],
            "median_ms": _ms(statistics.median(rtts)) if rtts else None,
        }))
    else:
        print(f"--- {info.peer_id} ping statistics ---")
        if rtts:
            print(f"{len(rtts)} pongs, rtt min/median/max = {_ms(min(rtts)):.3f}/"
                  f"{_ms(statistics.median(rtts)):.3f}/{_ms(max(rtts)):.3f} ms")
        else:
            print("0 pongs")
    return 0


async def _rounds(host: Host, peer: PeerId, args: argparse.Namespace, stop: asyncio.Event) -> list[float]:
    """Ping over one stream, one round trip at a time, ``args.interval`` apart, until done or stopped."""
    from libp2p.protocols.ping.core import PingClient
    from libp2p.protocols.ping.events import PongReceived
    from libp2p.protocols.ping.wire import PING_LENGTH, PROTOCOL_ID

    async with asyncio.timeout(args.timeout):
        stream = await host.new_stream(peer, [PROTOCOL_ID])
    client = PingClient()
    rtts: list[float] = []
    try:
        seq = 0
        while not stop.is_set() and (args.count == 0 or seq < args.count):
            if seq and args.interval:
                try:
                    async with asyncio.timeout(args.interval):
                        await stop.wait()
                    break
                except TimeoutError:
                    pass
            seq += 1
            client.send_ping(os.urandom(PING_LENGTH), time.perf_counter())
            await stream.write(client.data_to_send())
            try:
                async with asyncio.timeout(args.timeout):
                    while client.outstanding:
                        data = await stream.read(PING_LENGTH)
                        if not data:
                            raise EOFError("the peer closed the ping stream")
                        client.receive_data(data, time.perf_counter())
            except TimeoutError:
                raise _common.CliError(f"no pong for ping {seq} within {args.timeout:g} s") from None
            event = client.next_event()
            assert isinstance(event, PongReceived)
            rtts.append(event.rtt)
            if not args.json:
                print(f"pong from {peer}: seq={seq} time={_ms(event.rtt):.3f} ms", flush=True)
    except BaseException:
        await stream.reset()
        raise
    await stream.close()
    return rtts
