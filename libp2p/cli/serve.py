"""``libp2p serve``: run a node that answers identify, ping and echo (and perf) until stopped."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common
from libp2p.cli import dht as dht_cli
from libp2p.cli import limits as limits_cli
from libp2p.cli import pubsub as pubsub_cli
from libp2p.cli import relay as relay_cli
from libp2p.cli import workers
from libp2p.protocols.kad.wire import PROTOCOL_ID

if TYPE_CHECKING:
    from libp2p.protocols.kad.service import KadDHT

DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"
MDNS_LISTEN = "/ip4/0.0.0.0/tcp/0"  # with --mdns: loopback is never announced, so listen where the LAN reaches

log = logging.getLogger("libp2p.cli")


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "serve",
        help="run a node until SIGINT/SIGTERM",
        parents=[_common.network_options()],
        description="Listen, print one JSON line {\"peer_id\": ..., \"multiaddrs\": [...]} on stdout once "
        "listening (the multiaddrs end in /p2p/<peer id>, ready for `libp2p ping`), then answer identify, "
        "ping and echo (and perf with --perf, the Kademlia DHT with --dht) until SIGINT or SIGTERM; close "
        "gracefully and exit 0. With --dht, the line is printed once the DHT has bootstrapped.",
    )
    p.add_argument("--listen", action="append", metavar="MULTIADDR",
                   help=f"address to listen on; repeatable (default: {DEFAULT_LISTEN}, loopback on a free "
                   f"port, or {MDNS_LISTEN} with --mdns; use /ip4/0.0.0.0/tcp/PORT to accept other machines)")
    p.add_argument("--perf", action="store_true", help="also serve the perf protocol (/perf/1.0.0)")
    p.add_argument("--dht", choices=["server", "client"],
                   help="also run a Kademlia DHT node (/ipfs/kad/1.0.0); a server answers DHT requests")
    p.add_argument("--bootstrap", action="append", metavar="MULTIADDR",
                   help="with --dht: a DHT server to bootstrap from, ending in /p2p/<peer id>; repeatable")
    p.add_argument("--permissive", action="store_true",
                   help="with --dht: accept any value under /test/ (the first one wins), for tests")
    p.add_argument("--dht-protocol", type=dht_cli.protocol_id, default=PROTOCOL_ID, metavar="PROTOCOL",
                   help=f"with --dht: the DHT's protocol ID (default: {PROTOCOL_ID}; a network of its own uses "
                   "<prefix>/kad/1.0.0)")
    p.add_argument("--pubsub", choices=["gossipsub", "floodsub"],
                   help="also run a pubsub router; with --bootstrap, connect to those peers")
    p.add_argument("--subscribe", action="append", metavar="TOPIC",
                   help="with --pubsub: join TOPIC as a mesh member (messages are relayed, not printed); repeatable")
    p.add_argument("--forget-peers-after", type=float, default=60.0, metavar="SECONDS",
                   help="forget a disconnected peer's key, protocols and agent after this long (default: 60, "
                   "as go-libp2p); its addresses stay until their TTLs run out")
    p.add_argument("--gc-growth", type=float, default=0.0, metavar="RATIO",
                   help="freeze what survives each full garbage collection, and walk everything again only once "
                   "the frozen set has grown by RATIO (1.0 is as GOGC=100): no long collector pauses while "
                   "thousands of connections are held, at ~18%% fewer handshakes per CPU-second under connection "
                   "churn (benchmarks/RESULTS.md); default 0: CPython's own collector")
    limits_cli.add_arguments(p)
    relay_cli.add_serve_arguments(p)
    p.add_argument("--mdns", action="store_true",
                   help="find peers on the local network by mDNS (_p2p._udp.local), add them to the peerstore and dial "
                   "them; announces the non-loopback listen addresses")
    p.add_argument("--workers", type=workers.parse_workers, default=1, metavar="N",
                   help="serve from N processes sharing the TCP listen port(s) (SO_REUSEPORT) under one "
                   "identity, to use N cores; 0 or auto: one per CPU (default: 1). TCP listeners only, "
                   "without --dht/--pubsub/--relay*/--autonat/--hole-punch/--mdns")
    p.set_defaults(run=run, worker=None)


def run(args: argparse.Namespace) -> int:
    if args.workers != 1:
        return workers.run(args)
    return _common.run_command("serve", args, lambda: serve_main(args), client=False)


async def serve_main(args: argparse.Namespace) -> int:
    from libp2p.errors import Libp2pError
    from libp2p.host.host import HostConfig
    from libp2p.long_lived_gc import FreezingCollector
    from libp2p.node import new_host
    from libp2p.protocols.echo import EchoService
    from libp2p.protocols.perf.service import PerfService

    from libp2p.host.service import Service
    from libp2p.protocols.kad.service import KadDHT

    listen = args.listen or [MDNS_LISTEN if args.mdns else DEFAULT_LISTEN]
    services: list[Service] = [EchoService()]
    if args.perf:
        services.append(PerfService())
    if args.mdns:
        from libp2p.discovery.mdns import MdnsService

        services.append(MdnsService())
    pubsub = None
    if args.pubsub is not None:
        pubsub = pubsub_cli.make_service(args.pubsub, False)
        services.append(pubsub)
    elif args.subscribe:
        raise _common.CliError("--subscribe needs --pubsub", 2)
    dht = None
    if args.dht is not None:
        dht = KadDHT(args.dht, validator=dht_cli.make_validator(args.permissive), protocol_id=args.dht_protocol)
        services.append(dht)
    services += relay_cli.serve_services(args)
    try:
        config = HostConfig(forget_peers_after=args.forget_peers_after)
        options = relay_cli.serve_options(args, _common.host_options(args))
        options.update(limits_cli.host_limits(args))
        if args.worker is not None:  # one process of `serve --workers N`
            options.update(args.worker.host_options())
        host = new_host(listen_addrs=listen, services=services, config=config, **options)
    except (Libp2pError, ValueError) as exc:
        raise _common.CliError(str(exc), 2) from None
    stop = _common.stop_event()
    try:
        await host.start()
    except (Libp2pError, OSError) as exc:
        raise _common.CliError(f"cannot listen: {_common.describe(exc)}") from None
    collector = FreezingCollector(args.gc_growth) if args.gc_growth > 0 else None
    if collector is not None:
        collector.install()
    try:
        if dht is not None:
            await _bootstrap_dht(dht, args)
        if pubsub is not None:
            subscriptions = [pubsub.subscribe(t) for t in dict.fromkeys(args.subscribe or ())]
            if dht is None:
                await pubsub_cli.connect_bootstrap(host, args.bootstrap, 30.0)
        relayed = await relay_cli.wait_for_reservations(host, args)
        line: dict[str, Any] = {"peer_id": str(host.peer_id), "multiaddrs": [str(a) for a in host.full_addrs()]}
        if args.relay:
            line["relayed_addrs"] = relayed
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        log.info("serving %s on %s", host.peer_id, ", ".join(line["multiaddrs"]))
        relay_cli.print_reachability_changes(host, args)
        await stop.wait()
        log.info("stopping")
        if pubsub is not None:
            for sub in subscriptions:
                sub.cancel()
    finally:
        await host.close()
        if collector is not None:
            collector.uninstall()
    return 0


async def _bootstrap_dht(dht: KadDHT, args: argparse.Namespace) -> None:
    """Bootstrap the DHT from ``--bootstrap`` (within 30 s; failures are logged)."""
    peers = [_common.parse_peer_addr(a) for a in args.bootstrap or ()]
    if peers:
        size = await dht_cli.bootstrap_server(dht, peers, 30.0)
        log.info("DHT %s: %d peers in the routing table", args.dht, size)
