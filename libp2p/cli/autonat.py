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
    p.add_argument("--v2", action="store_true",
                   help="use AutoNAT v2 (/libp2p/autonat/2/dial-request): the answer is about one of our addresses "
                   "(--check-addr, or those we listen on and peers observed, public first) and counts only when the "
                   "dial-back carries our nonce")
    p.add_argument("--check-addr", action="append", metavar="MULTIADDR",
                   help="with --v2: an address of ours to check; repeatable, in order of priority")
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
    if args.v2:
        return await _autonat_v2(args, info)
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


async def _autonat_v2(args: argparse.Namespace, info: Any) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.multiaddr import Multiaddr
    from libp2p.node import new_host
    from libp2p.protocols.autonatv2 import AutonatV2Config, AutonatV2Service, DialStatus, ResponseStatus
    from libp2p.protocols.identify.service import IdentifyService
    from libp2p.transport.tcp import TcpConfig, TcpTransport

    service = AutonatV2Service(AutonatV2Config(serve=False))
    async with new_host(
        listen_addrs=args.listen or ["/ip4/0.0.0.0/tcp/0"],
        transports=[TcpTransport(TcpConfig(reuse_port=True))],
        services=[service],
        config=HostConfig(dial_timeout=args.timeout),
        **_common.host_options(args),
    ) as host:
        await _common.connect(host, info, args.timeout)
        identify = host.service(IdentifyService)
        if args.check_addr:
            addrs = [Multiaddr(a) for a in args.check_addr]
        else:
            if identify is not None:
                await identify.identify(info.peer_id, timeout=args.timeout)
            observed = list(identify.observed_addrs.values()) if identify is not None else []
            addrs = list(dict.fromkeys(observed + [a for a in host.addrs if "/p2p-circuit" not in str(a)]))
        try:
            result = await service.check(info.peer_id, addrs)
        except TimeoutError:
            raise _common.CliError(f"{info.peer_id} did not answer within {args.timeout:g} s") from None

    def name(enum: Any, value: int) -> str:
        try:
            return str(enum(value).name)
        except ValueError:
            return str(value)

    out: dict[str, Any] = {
        "peer_id": str(info.peer_id),
        "status": name(ResponseStatus, result.status),
        "dial_status": name(DialStatus, result.dial_status),
        "reachable": result.reachable,
        "addr": str(result.addr) if result.addr is not None else None,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{info.peer_id}: {out['addr']}: {out['status']}/{out['dial_status']} (reachable: {out['reachable']})")
    return 0
