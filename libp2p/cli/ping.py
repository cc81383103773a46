"""``libp2p ping``: measure round trips to a peer with ``/ipfs/ping/1.0.0``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common
from libp2p.cli import relay as relay_cli
from libp2p.protocols.ping.core import PingClient
from libp2p.protocols.ping.wire import PROTOCOL_ID

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.abc import Stream

_log = logging.getLogger("libp2p.cli.ping")

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
        "identity), ping it COUNT times (over one stream while the peer keeps it open, then over a new "
        "one), and print one line per pong and a summary, or "
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


def _median(values: list[float]) -> float:
    """``statistics.median`` (the mean of the middle two for an even count), without importing
    ``statistics``: it loads ``fractions``, ``decimal`` and ``random``, ~3.5 ms of a one-shot ping."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


async def _ping(args: argparse.Namespace) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.node import new_host

    info = _common.parse_peer_addr(args.addr)
    config = HostConfig(dial_timeout=args.timeout)
    async with new_host(config=config, **relay_cli.dial_services(args.addr), **_common.host_options(args)) as host:
        stop = _common.stop_event()
        await _common.connect(host, info, args.timeout)
        if not args.json:
            print(f"PING {args.addr}", flush=True)
        rtts = await _rounds(host, info.peer_id, args, stop)
    if args.json:
        import json  # only for --json (~1.5 ms at start-up)

        print(json.dumps({
            "peer_id": str(info.peer_id),
            "rtt_ms": [_ms(r) for r in rtts],
            "median_ms": _ms(_median(rtts)) if rtts else None,
        }))
    else:
        print(f"--- {info.peer_id} ping statistics ---")
        if rtts:
            print(f"{len(rtts)} pongs, rtt min/median/max = {_ms(min(rtts)):.3f}/"
                  f"{_ms(_median(rtts)):.3f}/{_ms(max(rtts)):.3f} ms")
        else:
            print("0 pongs")
    return 0


async def _rounds(host: Host, peer: PeerId, args: argparse.Namespace, stop: asyncio.Event) -> list[float]:
    """Ping one round trip at a time, ``args.interval`` apart, until done or stopped.

    The pings share one stream while it lasts. A peer may end an inbound ping stream whenever it
    likes (js-libp2p aborts one after 10 s), so when a stream that has already carried pings is
    reset or closed by the remote, the same ping is sent again over a new stream (said at debug
    level). A ping that fails on a fresh stream is a real failure, as is a stream that cannot be
    opened or a pong that does not come in time.
    """
    from libp2p.muxer.connection import StreamResetError

    rtts: list[float] = []
    stream: Stream | None = None
    client = PingClient()
    pings_on_stream = 0
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
            if stream is None:
                stream = await _open(host, peer, args.timeout)
                client = PingClient()
                pings_on_stream = 0
            try:
                rtt = await _round(stream, client, seq, args.timeout)
            except (StreamResetError, EOFError) as exc:
                await stream.reset()
                stream = None
                if not pings_on_stream:
                    raise
                _log.debug("ping %d: the stream that carried pings %d to %d ended (%s); going on over a new "
                           "stream", seq, seq - pings_on_stream, seq - 1, exc)
                stream = await _open(host, peer, args.timeout)
                client = PingClient()
                pings_on_stream = 0
                # a fresh stream that fails is a real failure
                rtt = await _round(stream, client, seq, args.timeout)
            pings_on_stream += 1
            rtts.append(rtt)
            if not args.json:
                print(f"pong from {peer}: seq={seq} time={_ms(rtt):.3f} ms", flush=True)
    except BaseException:
        if stream is not None:
            await stream.reset()
        raise
    if stream is not None:
        await stream.close()
    return rtts


async def _open(host: Host, peer: PeerId, timeout: float | None) -> Stream:
    async with asyncio.timeout(timeout):
        return await host.new_stream(peer, [PROTOCOL_ID], allow_limited=True)  # ping runs on relayed conns


async def _round(stream: Stream, client: PingClient, seq: int, timeout: float | None) -> float:
    """One ping and its pong over ``stream``; the round-trip time in seconds."""
    from libp2p.protocols.ping.service import ping_round

    try:
        return await ping_round(stream, client, timeout)
    except TimeoutError:
        raise _common.CliError(f"no pong for ping {seq} within {timeout:g} s") from None
