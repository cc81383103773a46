#!/usr/bin/env python3
"""Our side of benchmarks/suites/latency.py and streams.py, run as a separate process.

    _peer.py bench --to MA [--loop asyncio|uvloop] [--pings N] [--echo-rtts N]
                   [--streams K --stream-bytes N --conns C] [--open-close N --workers W]
    _peer.py server --server-address IP:PORT [--loop L] [--unlimited]
    _peer.py tcp-echo-server [--loop L]       # prints {"port": P}; echoes until stdin closes
    _peer.py tcp-echo-client --port P [--loop L] --count N

``server`` is ``libp2p perf --run-server`` (the perf contract's identity, /perf and /echo) with,
under ``--unlimited``, no resource limits, as the go and rust peers run (``bench --unlimited`` too).
``bench`` takes the same options and prints the same JSON line as the go peer's ``peer bench``
(interop/go/bench.go): raw samples in seconds. The raw TCP echo pair is the floor a libp2p round
trip over the same event loop cannot beat: two processes, one byte each way, asyncio streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

CLOCK = time.perf_counter  # not loop.time(): uvloop's clock ticks in whole milliseconds


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _run(main: Any, loop: str) -> Any:
    from libp2p.allocator import tune_allocator

    tune_allocator()
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


async def _ping_rtts(host: Any, peer: Any, count: int) -> list[float]:
    from libp2p.protocols.ping.wire import PING_LENGTH, PROTOCOL_ID

    stream = await host.new_stream(peer, [PROTOCOL_ID])
    rtts = []
    for i in range(-10, count):
        payload = os.urandom(PING_LENGTH)
        t0 = CLOCK()
        await stream.write(payload)
        echoed = await stream.readexactly(PING_LENGTH)
        if i >= 0:
            rtts.append(CLOCK() - t0)
        if echoed != payload:
            raise RuntimeError("ping: wrong payload echoed")
    await stream.close()
    return rtts


async def _echo_rtts(host: Any, peer: Any, count: int) -> list[float]:
    from libp2p.protocols.echo import PROTOCOL_ID

    stream = await host.new_stream(peer, [PROTOCOL_ID])
    rtts = []
    for i in range(-10, count):
        t0 = CLOCK()
        await stream.write(b"*")
        got = await stream.readexactly(1)
        if i >= 0:
            rtts.append(CLOCK() - t0)
        if got != b"*":
            raise RuntimeError("echo: wrong byte")
    await stream.close()
    return rtts


async def _download(host: Any, peer: Any, nbytes: int) -> None:
    from libp2p.protocols.perf.service import perf

    await perf(host, peer, 0, nbytes)


async def _open_close_once(host: Any, peer: Any) -> None:
    from libp2p.protocols.echo import PROTOCOL_ID

    stream = await host.new_stream(peer, [PROTOCOL_ID])
    await stream.write(b"*")
    if await stream.readexactly(1) != b"*":
        raise RuntimeError("echo: wrong byte")
    await stream.close()


async def bench_main(args: argparse.Namespace) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    from libp2p import IMPLEMENTATION, new_host
    from libp2p.multiaddr import Multiaddr

    result: dict[str, Any] = {"implementation": f"aiolibp2p ({IMPLEMENTATION})", "loop": args.loop, "errors": []}
    target = Multiaddr(args.to)
    n_hosts = args.conns if args.streams else 1
    options = _host_options(args)
    try:
        async with asyncio.timeout(args.timeout), AsyncExitStack() as stack:
            hosts = [await stack.enter_async_context(new_host(**options)) for _ in range(n_hosts)]
            peers = [await h.connect(target) for h in hosts]
            host, peer = hosts[0], peers[0]
            # process CPU per round trip: what the client spends, less sensitive to a loaded machine
            if args.pings:
                c0 = time.process_time()
                result["ping_rtts"] = await _ping_rtts(host, peer, args.pings)
                result["ping_cpu_seconds"] = time.process_time() - c0
            if args.echo_rtts:
                c0 = time.process_time()
                result["echo_rtts"] = await _echo_rtts(host, peer, args.echo_rtts)
                result["echo_cpu_seconds"] = time.process_time() - c0
            if args.streams:
                async def batch() -> float:
                    t0 = CLOCK()
                    async with asyncio.TaskGroup() as tg:
                        for h, p in zip(hosts, peers, strict=True):
                            for _ in range(args.streams):
                                tg.create_task(_download(h, p, args.stream_bytes))
                    return CLOCK() - t0

                await batch()  # warm-up, as the go client does
                result["streams_seconds"] = await batch()
                result["streams_bytes"] = n_hosts * args.streams * args.stream_bytes
            if args.open_close:
                for _ in range(10):
                    await _open_close_once(host, peer)
                left = args.open_close

                async def worker() -> None:
                    nonlocal left
                    while left > 0:
                        left -= 1
                        await _open_close_once(host, peer)

                t0 = CLOCK()
                async with asyncio.TaskGroup() as tg:
                    for _ in range(args.workers):
                        tg.create_task(worker())
                result["open_close_seconds"] = CLOCK() - t0
                result["open_close_count"] = args.open_close
    except Exception as exc:  # noqa: BLE001 - reported in the JSON: the parent wants the line
        result["errors"].append(f"{type(exc).__name__}: {exc}")
        for sub in getattr(exc, "exceptions", [])[:3]:
            result["errors"].append(f"  {type(sub).__name__}: {sub}")
    return result


def _host_options(args: argparse.Namespace) -> dict[str, Any]:
    if not args.unlimited:
        return {}
    from libp2p.resources import ResourceLimits

    return {"resource_limits": ResourceLimits.unlimited()}


async def server_main(args: argparse.Namespace) -> None:
    from libp2p import new_host
    from libp2p.identity.keys import Ed25519PrivateKey
    from libp2p.protocols.echo import EchoService
    from libp2p.protocols.perf.service import PerfService

    ip, _, port = args.server_address.rpartition(":")
    stop = _stdin_closed(asyncio.get_running_loop())
    async with new_host(key=Ed25519PrivateKey.from_seed(bytes(32)), listen_addrs=[f"/ip4/{ip}/tcp/{port}"],
                        services=[PerfService(), EchoService()], **_host_options(args)) as host:
        _emit({"peer_id": str(host.peer_id), "multiaddrs": [str(a) for a in host.full_addrs()]})
        await stop.wait()


# --- the raw TCP floor ---------------------------------------------------------------------------


def _stdin_closed(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    event = asyncio.Event()

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            loop.call_soon_threadsafe(event.set)

    threading.Thread(target=watch, daemon=True).start()
    return event


async def tcp_echo_server() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    stop = _stdin_closed(asyncio.get_running_loop())
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    _emit({"port": server.sockets[0].getsockname()[1]})
    async with server:
        await stop.wait()


async def tcp_echo_client(port: int, count: int) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rtts = []
    c0 = time.process_time()
    for i in range(-10, count):
        t0 = CLOCK()
        writer.write(b"*")
        await writer.drain()
        await reader.readexactly(1)
        if i >= 0:
            rtts.append(CLOCK() - t0)
    cpu = time.process_time() - c0
    writer.close()
    await writer.wait_closed()
    return {"echo_rtts": rtts, "echo_cpu_seconds": cpu, "errors": []}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", choices=["bench", "server", "tcp-echo-server", "tcp-echo-client"])
    ap.add_argument("--server-address")
    ap.add_argument("--unlimited", action="store_true", help="no resource limits (as the go and rust peers)")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--to")
    ap.add_argument("--port", type=int)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--pings", type=int, default=0)
    ap.add_argument("--echo-rtts", type=int, default=0)
    ap.add_argument("--streams", type=int, default=0)
    ap.add_argument("--stream-bytes", type=int, default=1 << 20)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--open-close", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    if args.role == "bench":
        result = _run(bench_main(args), args.loop)
        _emit(result)
        return 1 if result["errors"] else 0
    if args.role == "server":
        _run(server_main(args), args.loop)
        return 0
    if args.role == "tcp-echo-server":
        _run(tcp_echo_server(), args.loop)
        return 0
    _emit(_run(tcp_echo_client(args.port, args.count), args.loop))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
