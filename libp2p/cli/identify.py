"""``libp2p id``: ask a peer who it is (``/ipfs/id/1.0.0``) and print what it said."""

from __future__ import annotations

import argparse
import json
from typing import Any

from libp2p.cli import _common
from libp2p.cli import relay as relay_cli

DEFAULT_TIMEOUT = 15.0


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "id",
        help="print a peer's identify information",
        parents=[_common.network_options(), _common.client_options(DEFAULT_TIMEOUT, "the whole exchange")],
        description="Connect to MULTIADDR (ending in /p2p/<peer id>), run identify, and print the peer ID, "
        "agent and protocol versions, protocols, listen addresses, the address it observed us at, and "
        "whether its signed peer record verified. Exits 1 when the peer cannot be reached or verified.",
    )
    p.add_argument("addr", metavar="MULTIADDR", help="the peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _common.run_command("id", args, lambda: _id(args))


def _strs(items: list[Any] | None) -> list[str]:
    return [str(i) for i in items or ()]


async def _id(args: argparse.Namespace) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.node import new_host

    info = _common.parse_peer_addr(args.addr)
    config = HostConfig(dial_timeout=args.timeout)
    async with new_host(config=config, **relay_cli.dial_services(args.addr), **_common.host_options(args)) as host:
        await _common.connect(host, info, args.timeout)
        try:
            remote = await _common.identify_service(host).identify(info.peer_id, timeout=args.timeout)
        except TimeoutError:
            message = f"{info.peer_id} did not answer identify within {args.timeout:g} s"
            raise _common.CliError(message) from None
        conns = host.connections(info.peer_id)
        muxer = conns[0].muxer_id if conns else None
    out: dict[str, Any] = {
        "peer_id": str(info.peer_id),
        "agent_version": remote.agent_version,
        "protocol_version": remote.protocol_version,
        "protocols": list(remote.protocols or ()),
        "listen_addrs": _strs(remote.listen_addrs),
        "observed_addr": str(remote.observed_addr) if remote.observed_addr is not None else None,
        "signed_peer_record_verified": remote.certified_addrs is not None,
        "certified_addrs": _strs(remote.certified_addrs) if remote.certified_addrs is not None else None,
        "muxer": muxer,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    certified = out["certified_addrs"]
    record = f"verified ({len(certified)} addresses)" if certified is not None else "absent or invalid"
    rows: list[tuple[str, list[str]]] = [
        ("peer ID", [out["peer_id"]]),
        ("agent version", [str(out["agent_version"])]),
        ("protocol version", [str(out["protocol_version"])]),
        ("protocols", out["protocols"] or ["(none)"]),
        ("listen addrs", out["listen_addrs"] or ["(none)"]),
        ("observed addr", [str(out["observed_addr"])]),
        ("signed record", [record]),
        ("muxer", [str(muxer)]),
    ]
    for label, values in rows:
        for i, value in enumerate(values):
            print(f"{label + ':' if i == 0 else '':<18}{value}")
    return 0
