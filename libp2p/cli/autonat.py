"""``libp2p autonat MULTIADDR``: ask a peer (an AutoNAT v1 server) whether it can dial us back."""

from __future__ import annotations

import argparse
import json
from typing import Any

from libp2p.cli import _common

DEFAULT_TIMEOUT = 60.0


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "autonat",
        help="ask a peer whether we are reachable (AutoNAT v1)",
        parents=[_common.network_options(), _common.client_options(DEFAULT_TIMEOUT, "the whole exchange")],
        description="Listen (on --listen, TCP with port reuse so the peer observes our listen port), connect "
        "to MULTIADDR (ending in /p2p/<peer id>), ask it to dial us back (/libp2p/autonat/1.0.0) and print its "
        'answer, or with --json one line {"peer_id", "status", "reachable", "addr", "text"}. Exit 0 when the '
        "peer answered (whatever the answer), 1 when it could not be asked.",
    )
    p.add_argument("addr", metavar="MULTIADDR", help="the AutoNAT server, e.g. /ip4/1.2.3.4/tcp/4001/p2p/12D3Koo...")
    p.add_argument("--listen", action="append", metavar="MULTIADDR",
                   help="where to listen for the dial back; repeatable (default: /ip4/0.0.0.0/tcp/0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _common.run_command("autonat", args, lambda: _autonat(args))


async def _autonat(args: argparse.Namespace) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.node import new_host
    from libp2p.protocols.autonat import AutonatConfig, AutonatService, ResponseStatus
    from libp2p.transport.tcp import TcpConfig, TcpTransport

    info = _common.parse_peer_addr(args.addr)
    service = AutonatService(AutonatConfig(serve=False, probe=False))
    async with new_host(
        listen_addrs=args.listen or ["/ip4/0.0.0.0/tcp/0"],
        transports=[TcpTransport(TcpConfig(reuse_port=True))],
        services=[service],
        config=HostConfig(dial_timeout=args.timeout),
        **_common.host_options(args),
    ) as host:
        await _common.connect(host, info, args.timeout)
        try:
            response = await service.probe(info.peer_id)
        except TimeoutError:
            raise _common.CliError(f"{info.peer_id} did not answer within {args.timeout:g} s") from None
    try:
        status = ResponseStatus(response.status).name
    except ValueError:
        status = str(response.status)
    out: dict[str, Any] = {
        "peer_id": str(info.peer_id),
        "status": status,
        "reachable": response.status == ResponseStatus.OK,
        "addr": str(response.addr) if response.addr is not None else None,
        "text": response.text,
    }
    if args.json:
        print(json.dumps(out))
    else:
        verdict = "reachable" if out["reachable"] else "not reachable"
        print(f"{info.peer_id}: {status} ({verdict}){' at ' + out['addr'] if out['addr'] else ''}")
    return 0
