"""``libp2p perf``: one ``/perf/1.0.0`` exchange (upload N bytes, then download M) and its throughput."""

from __future__ import annotations

import argparse
import json
from typing import Any

from libp2p.cli import _common


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "perf",
        help="measure throughput against a `serve --perf` node",
        parents=[_common.network_options(), _common.client_options(None, "the dial and the exchange")],
        description="Connect to MULTIADDR (ending in /p2p/<peer id>; the peer must serve /perf/1.0.0, e.g. "
        "`libp2p serve --perf`), upload N bytes, then download M bytes on one stream, and print both rates "
        "in MB/s (10^6 bytes per second). Sizes are integers with an optional unit: 64KiB, 10MB, 1GiB.",
    )
    p.add_argument("addr", metavar="MULTIADDR", help="the peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...")
    p.add_argument("--upload-bytes", type=_common.parse_size, required=True, metavar="N",
                   help="bytes to send")
    p.add_argument("--download-bytes", type=_common.parse_size, required=True, metavar="M",
                   help="bytes to receive")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return _common.run_command("perf", args, lambda: _perf(args))


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds / 1e6, 3) if seconds > 0 else 0.0


async def _perf(args: argparse.Namespace) -> int:
    from libp2p.host.host import HostConfig, new_host
    from libp2p.protocols.perf.service import perf

    info = _common.parse_peer_addr(args.addr)
    config = HostConfig() if args.timeout is None else HostConfig(dial_timeout=args.timeout)
    async with new_host(config=config, **_common.host_options(args)) as host:
        await _common.connect(host, info, args.timeout)
        try:
            result = await perf(
                host, info.peer_id, args.upload_bytes, args.download_bytes, timeout=args.timeout
            )
        except TimeoutError:
            raise _common.CliError(f"the perf exchange did not finish within {args.timeout:g} s") from None
    out = {
        "peer_id": str(info.peer_id),
        "upload_bytes": result.upload_bytes,
        "download_bytes": result.download_bytes,
        "upload_seconds": round(result.upload_seconds, 6),
        "download_seconds": round(result.download_seconds, 6),
        "total_seconds": round(result.total_seconds, 6),
        "upload_mb_s": _rate(result.upload_bytes, result.upload_seconds),
        "download_mb_s": _rate(result.download_bytes, result.download_seconds),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for d in ("upload", "download"):
            print(f"{d + ':':<10}{out[d + '_bytes']} bytes in {out[d + '_seconds']:.3f} s = "
                  f"{out[d + '_mb_s']:.1f} MB/s")
    return 0
