"""``libp2p perf``: one ``/perf/1.0.0`` exchange (upload N bytes, then download M) and its throughput.

Two forms:

* ``libp2p perf MULTIADDR --upload-bytes N --download-bytes M [--json]``: against any perf server
  (e.g. ``libp2p serve --perf``); prints both rates.
* the libp2p test-plans **perf contract** (the same as go-libp2p's and rust-libp2p's perf programs):
  ``libp2p perf --run-server --server-address IP:PORT`` listens on TCP with the fixed Ed25519 identity of
  the all-zero seed (``12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN``) and serves until SIGINT or
  SIGTERM; ``libp2p perf --server-address IP:PORT --transport tcp --upload-bytes N --download-bytes M``
  dials it and prints JSON lines ``{"type": "intermediary"|"final", "timeSeconds", "uploadBytes",
  "downloadBytes"}``: an intermediary line every second with the bytes moved in that interval, then the
  final line with the totals and the time from the start of the dial to the end of the download.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common

if TYPE_CHECKING:
    from libp2p.abc import Stream

# The test-plans perf server's identity: Ed25519 from the all-zero seed.
PERF_SERVER_SEED = bytes(32)
PERF_SERVER_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
TRANSPORTS = ("tcp", "ws", "quic-v1")


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "perf",
        help="measure throughput against a perf server, or run the test-plans perf contract",
        parents=[_common.network_options(), _common.client_options(None, "the dial and the exchange")],
        description="Connect to MULTIADDR (ending in /p2p/<peer id>; the peer must serve /perf/1.0.0, e.g. "
        "`libp2p serve --perf`), upload N bytes, then download M bytes on one stream, and print both rates "
        "in MB/s (10^6 bytes per second). Sizes are integers with an optional unit: 64KiB, 10MB, 1GiB. "
        "With --run-server/--server-address instead of MULTIADDR: the libp2p test-plans perf contract "
        f"(server identity {PERF_SERVER_PEER_ID}, JSON lines of type intermediary/final).",
    )
    p.add_argument("addr", metavar="MULTIADDR", nargs="?",
                   help="the peer, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...")
    p.add_argument("--upload-bytes", type=_common.parse_size, metavar="N", help="bytes to send")
    p.add_argument("--download-bytes", type=_common.parse_size, metavar="M", help="bytes to receive")
    p.add_argument("--run-server", action="store_true",
                   help="perf contract: serve /perf/1.0.0 on --server-address until SIGINT/SIGTERM")
    p.add_argument("--server-address", metavar="IP:PORT",
                   help="perf contract: the address to listen on (--run-server) or to dial")
    p.add_argument("--transport", default="tcp", help="perf contract: the transport, tcp (default), ws or quic-v1")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.run_server or args.server_address is not None:
        return _run_contract(args)
    if args.addr is None:
        return _usage("perf: give MULTIADDR, or --server-address IP:PORT (with --run-server for the server)")
    if args.upload_bytes is None or args.download_bytes is None:
        return _usage("perf: --upload-bytes and --download-bytes are required")
    return _common.run_command("perf", args, lambda: _perf(args))


def _usage(message: str) -> int:
    print(f"libp2p {message}", file=sys.stderr)
    return 2


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds / 1e6, 3) if seconds > 0 else 0.0


async def _perf(args: argparse.Namespace) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.node import new_host
    from libp2p.protocols.echo import EchoService
    from libp2p.protocols.perf.service import PerfService
    from libp2p.negotiate.service import ProtocolNotSupportedError
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
        except ProtocolNotSupportedError:
            raise _common.CliError(f"{info.peer_id} does not serve /perf/1.0.0 (start it with "
                                   "`libp2p serve --perf`)") from None
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


# --- the test-plans perf contract ---------------------------------------------------------------


def _tcp_multiaddr(host_port: str) -> str:
    """``IP:PORT`` (``[IPv6]:PORT`` too) as ``/ip4|ip6/IP/tcp/PORT``; ValueError if it is not one."""
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--server-address must be IP:PORT, not {host_port!r}")
    ip = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    return f"/ip{ip.version}/{ip}/tcp/{int(port)}"


def _contract_multiaddr(host_port: str, transport: str) -> str:
    tcp = _tcp_multiaddr(host_port)
    if transport == "quic-v1":
        return tcp.replace("/tcp/", "/udp/") + "/quic-v1"
    return tcp + ("/ws" if transport == "ws" else "")


def _contract_options(args: argparse.Namespace, addr: str) -> dict[str, Any]:
    options = _common.host_options(args)
    if addr.endswith("/quic-v1"):  # QUIC alone: --transport is not an address _common looks at
        from libp2p.transport.quic import QuicTransport

        options["transports"] = [QuicTransport()]
    elif addr.endswith("/ws"):  # load the library before the clock starts, as QUIC's is above
        from libp2p.transport.websocket import preload_library

        preload_library()
    return options


def _run_contract(args: argparse.Namespace) -> int:
    if args.addr is not None:
        return _usage("perf: MULTIADDR cannot be combined with --run-server/--server-address")
    if args.server_address is None:
        return _usage("perf: --run-server needs --server-address IP:PORT")
    if args.transport not in TRANSPORTS:
        return _usage(f"perf: --transport {args.transport!r} is not supported (tcp, ws or quic-v1)")
    try:
        addr = _contract_multiaddr(args.server_address, args.transport)
    except ValueError as exc:
        return _usage(f"perf: {exc}")
    if args.run_server:
        return _common.run_command("perf", args, lambda: _contract_server(args, addr), client=False)
    if args.upload_bytes is None or args.download_bytes is None:
        return _usage("perf: --upload-bytes and --download-bytes are required")
    return _common.run_command("perf", args, lambda: _contract_client(args, addr))


async def _contract_server(args: argparse.Namespace, addr: str) -> int:
    from libp2p.errors import Libp2pError
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.node import new_host
    from libp2p.protocols.echo import EchoService
    from libp2p.protocols.perf.service import PerfService

    options = _contract_options(args, addr)
    options["key"] = Ed25519PrivateKey.from_seed(PERF_SERVER_SEED)
    host = new_host(listen_addrs=[addr], services=[PerfService(), EchoService()], **options)
    stop = _common.stop_event()
    try:
        await host.start()
    except (Libp2pError, OSError) as exc:
        raise _common.CliError(f"cannot listen on {args.server_address}: {_common.describe(exc)}") from None
    try:
        line = {"peer_id": str(host.peer_id), "multiaddrs": [str(a) for a in host.full_addrs()]}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await host.close()
    return 0


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class _Progress:
    """Byte counters and the once-a-second ``intermediary`` lines."""

    def __init__(self) -> None:
        self.up = 0
        self.down = 0

    async def report(self) -> None:
        last = time.perf_counter()
        last_up = last_down = 0
        while True:
            await asyncio.sleep(max(0.0, last + 1.0 - time.perf_counter()))
            now = time.perf_counter()
            up, down = self.up, self.down
            _emit({"type": "intermediary", "timeSeconds": now - last, "uploadBytes": up - last_up,
                   "downloadBytes": down - last_down})
            last, last_up, last_down = now, up, down


async def _exchange(stream: Stream, upload: int, download: int, progress: _Progress) -> None:
    from libp2p.protocols.perf.wire import BLOCK_SIZE, encode_download_size

    zeros = bytes(BLOCK_SIZE)
    # The size leaves with the first block (and the protocol proposal before it): one send.
    await stream.write_soon(encode_download_size(download))
    left = upload
    while left > 0:
        chunk = zeros if left >= BLOCK_SIZE else zeros[:left]
        await stream.write(chunk)
        left -= len(chunk)
        progress.up += len(chunk)
    await stream.close()
    received = 0
    while True:
        data = await stream.read(1 << 20)
        if not data:
            break
        received += len(data)
        progress.down += len(data)
    if received != download:
        raise _common.CliError(f"expected {download} bytes, received {received}")


async def _contract_client(args: argparse.Namespace, addr: str) -> int:
    from libp2p.host.host import HostConfig
    from libp2p.node import new_host
    from libp2p.protocols.perf.wire import PROTOCOL_ID

    info = _common.parse_peer_addr(f"{addr}/p2p/{PERF_SERVER_PEER_ID}")
    config = HostConfig() if args.timeout is None else HostConfig(dial_timeout=args.timeout)
    progress = _Progress()
    async with new_host(config=config, **_contract_options(args, addr)) as host:
        reporter = asyncio.create_task(progress.report())
        await asyncio.sleep(0)  # its first step (it starts waiting) is set-up too
        # As go-libp2p's perf client: the clock starts after the host exists, before the dial.
        start = time.perf_counter()
        try:
            async with asyncio.timeout(args.timeout):
                await host.connect(info)
                stream = await host.new_stream(info.peer_id, [PROTOCOL_ID])
                try:
                    await _exchange(stream, args.upload_bytes, args.download_bytes, progress)
                except BaseException:
                    await stream.reset()
                    raise
            elapsed = time.perf_counter() - start
        except TimeoutError:
            raise _common.CliError(f"the perf run did not finish within {args.timeout:g} s") from None
        finally:
            reporter.cancel()
        _emit({"type": "final", "timeSeconds": elapsed, "uploadBytes": args.upload_bytes,
               "downloadBytes": args.download_bytes})
    return 0
