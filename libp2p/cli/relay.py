"""Circuit relay in the CLI: ``serve --relay-service`` and ``serve --relay MULTIADDR``, and the
relay client that ``ping`` and ``id`` add to reach ``/…/p2p/RELAY/p2p-circuit/p2p/TARGET``."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.host.service import Service

__all__ = ["add_serve_arguments", "serve_services", "serve_options", "wait_for_reservations", "dial_services"]

log = logging.getLogger("libp2p.cli")

RESERVATION_TIMEOUT = 30.0


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--relay-service", action="store_true",
                   help="also act as a circuit relay v2 (hop): grant reservations and relay circuits, with "
                   "go-libp2p's limits (128 reservations, 2 min and 128 KiB per circuit direction)")
    p.add_argument("--relay-unlimited", action="store_true",
                   help="with --relay-service: relay circuits without duration or data limits (the relayed "
                   "connections are then not limited, so every protocol runs over them)")
    p.add_argument("--relay", action="append", metavar="MULTIADDR",
                   help="reserve a slot on this relay (ending in /p2p/<relay id>) and accept circuits through "
                   "it; repeatable. The JSON line is printed once every reservation is made, and its "
                   "multiaddrs include the relayed addresses /…/p2p/<relay>/p2p-circuit/p2p/<us>")
    p.add_argument("--autonat", action="store_true",
                   help="run AutoNAT v1 and v2 (answer dial-back requests; with v1 ask peers whether we are "
                   "reachable); "
                   'print a JSON line {"reachability": "public"|"private"} whenever that changes')
    p.add_argument("--autonat-threshold", type=int, default=3, metavar="N",
                   help="with --autonat: servers that must agree before reachability changes (default: 3)")
    p.add_argument("--hole-punch", action="store_true",
                   help="upgrade relayed connections to direct ones (DCUtR, TCP simultaneous open); TCP then "
                   "listens and dials on the same port (SO_REUSEPORT) so NATs map both alike")


def serve_services(args: argparse.Namespace) -> list[Service]:
    from libp2p.protocols.relay import RelayClient, RelayConfig, RelayService

    services: list[Service] = []
    if args.relay_service:
        services.append(RelayService(RelayConfig(limit=None) if args.relay_unlimited else None))
    relays = list(args.relay or ())
    for addr in relays:
        _common.parse_peer_addr(addr)  # a relay is named by its peer ID (exit 2 otherwise)
    if relays:
        services.append(RelayClient(relays))
    if args.hole_punch:
        from libp2p.protocols.dcutr import DcutrService

        services.append(DcutrService())
    if args.autonat:
        from libp2p.protocols.autonat import AutonatConfig, AutonatService

        from libp2p.protocols.autonatv2 import AutonatV2Service

        services.append(AutonatService(AutonatConfig(threshold=args.autonat_threshold)))
        services.append(AutonatV2Service())
    return services


def print_reachability_changes(host: Host, args: argparse.Namespace) -> None:
    """With --autonat: one JSON line on stdout per reachability change."""
    if not args.autonat:
        return
    import json
    import sys

    from libp2p.host.events import LocalReachabilityChanged, Reachability

    def show(reachability: Reachability) -> None:
        sys.stdout.write(json.dumps({"reachability": reachability.value}) + "\n")
        sys.stdout.flush()

    if host.reachability != Reachability.UNKNOWN:  # concluded before the first line went out
        show(host.reachability)
    host.events.subscribe(LocalReachabilityChanged, lambda e: show(e.reachability))


def serve_options(args: argparse.Namespace) -> dict[str, Any]:
    """``new_host`` keyword arguments for the relay/hole-punch options (TCP with port reuse)."""
    if not args.hole_punch:
        return {}
    from libp2p.transport.tcp import TcpConfig, TcpTransport

    return {"transports": [TcpTransport(TcpConfig(reuse_port=True))]}


async def wait_for_reservations(host: Host, args: argparse.Namespace) -> list[str]:
    """Wait until every ``--relay`` holds our reservation; our relayed addresses."""
    from libp2p.protocols.relay import RelayClient, ReservationMade

    client = host.service(RelayClient)
    if client is None or not args.relay:
        return []
    wanted = {_common.parse_peer_addr(a).peer_id for a in args.relay}
    try:
        with host.events.stream(ReservationMade) as made:
            async with asyncio.timeout(RESERVATION_TIMEOUT):
                while not wanted <= set(client.reservations):
                    await made.next()
    except (TimeoutError, EOFError):
        missing = ", ".join(str(p) for p in wanted - set(client.reservations))
        raise _common.CliError(f"no reservation on {missing} within {RESERVATION_TIMEOUT:g} s") from None
    suffix = f"/p2p/{host.peer_id}"
    return [f"{a}{suffix}" for a in client.relayed_addrs]


def dial_services(addr: str) -> dict[str, Any]:
    """``new_host`` keyword arguments that let a client dial ``addr`` (a relay client for circuits)."""
    if "/p2p-circuit" not in addr:
        return {}
    from libp2p.protocols.relay import RelayClient

    return {"services": [RelayClient()]}
