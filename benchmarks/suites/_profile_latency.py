#!/usr/bin/env python3
"""Where a small message's time goes: the per-message path of 1-byte echo round trips.

    _profile_latency.py [--side client|server] [--protocol echo|ping] [--count N] [--loop asyncio|uvloop]
                        [--cprofile] [--no-counters]

The profiled side runs in this process (``client``: our bench client doing N echo round trips
against a ``libp2p perf`` server in a subprocess; ``server``: our host serving a subprocess client).
Per message it counts event-loop iterations (selector polls), callbacks run by the loop, tasks
created, socket writes (``transport.write`` calls) and their bytes, muxer frames sent, Noise
encrypt and decrypt calls; with ``--cprofile`` it prints the top functions by own time
(``PROF_SORT=ncalls PROF_N=80`` in the environment: by call count, 80 rows) and the Python
calls per message (exact with ``--no-counters``). ``--protocol ping`` does 32-byte
``/ipfs/ping/1.0.0`` round trips instead of 1-byte echoes. ``--loop`` is the profiled side's loop
(and the other side's); selector polls and loop callbacks are counted on asyncio's loop only.
Used to find and check the fixes recorded in benchmarks/RESULTS.md (issue #16, item 3).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import selectors
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PERF_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"

counts: Counter[str] = Counter()


def instrument() -> None:
    """Wrap the few functions on the message path with counters (this process only)."""
    from libp2p.muxer import connection as mc
    from libp2p.security.noise import service as ns
    from libp2p.transport import connection as tc

    def wrap(cls: Any, name: str, key: str, size: bool = False) -> None:
        orig = getattr(cls, name)

        def counted(self: Any, *a: Any, **kw: Any) -> Any:
            counts[key] += 1
            if size and a:
                counts[key + " bytes"] += len(a[0])
            return orig(self, *a, **kw)

        setattr(cls, name, counted)

    wrap(tc.RawConnection, "write", "socket writes", size=True)
    wrap(tc.RawConnection, "buffer_updated", "socket reads")
    # NoiseSession's encrypt/decrypt are the ciphers' bound methods, set per instance.
    orig_init = ns.NoiseSession.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        orig_init(self, *a, **kw)
        for name in ("encrypt", "decrypt"):
            method = getattr(self, name)

            def counted(data: Any, _method: Any = method, _key: str = f"noise {name} calls") -> Any:
                counts[_key] += 1
                return _method(data)

            setattr(self, name, counted)

    ns.NoiseSession.__init__ = init  # type: ignore[method-assign]
    wrap(mc.MuxedConnection, "_write_out", "muxer flushes (writes out)")
    wrap(mc.MuxedConnection, "_schedule_flush", "flushes scheduled")
    wrap(mc.MuxedConnection, "_carry_output", "window updates granted by reads")
    wrap(mc.MuxedConnection, "_process_events", "event batches")
    wrap(mc.MuxedStream, "_feed", "payloads handed to streams")

    orig_select = selectors.EpollSelector.select

    def select(self: Any, timeout: float | None = None) -> Any:
        counts["loop iterations (selector polls)"] += 1
        return orig_select(self, timeout)

    selectors.EpollSelector.select = select  # type: ignore[method-assign]

    orig_run = asyncio.events.Handle._run

    def run(self: Any) -> None:
        counts["loop callbacks run"] += 1
        orig_run(self)

    asyncio.events.Handle._run = run  # type: ignore[method-assign]


def task_counter(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
    counts["tasks created"] += 1
    return asyncio.Task(coro, loop=loop, **kw)


def _frames_sent() -> int:
    return 0


async def client(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import _peer  # noqa: PLC0415
    from libp2p import new_host
    from libp2p.multiaddr import Multiaddr
    from libp2p.protocols.echo import PROTOCOL_ID as ECHO
    from libp2p.protocols.ping.wire import PROTOCOL_ID as PING

    message = b"*" if args.protocol == "echo" else os.urandom(32)
    py = sys.executable
    port = args.port
    server = subprocess.Popen([py, "-m", "libp2p", "perf", "--loop", args.loop, "--run-server",
                               "--server-address", f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
    try:
        assert server.stdout is not None
        await asyncio.to_thread(server.stdout.readline)
        async with new_host() as host:
            peer = await host.connect(Multiaddr(f"/ip4/127.0.0.1/tcp/{port}/p2p/{PERF_PEER_ID}"))
            stream = await host.new_stream(peer, [ECHO if args.protocol == "echo" else PING])
            size = len(message)
            for _ in range(50):
                await stream.write(message)
                await stream.readexactly(size)
            asyncio.get_running_loop().set_task_factory(task_counter)
            prof = cProfile.Profile() if args.cprofile else None
            counts.clear()
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            for _ in range(args.count):
                await stream.write(message)
                await stream.readexactly(size)
            if prof:
                prof.disable()
            dt = time.perf_counter() - t0
            snapshot = dict(counts)
            await stream.close()
        del _peer
    finally:
        server.terminate()
        server.wait(10)
    out: dict[str, Any] = {"rtt_ms": dt / args.count * 1e3,
                           "per_message": {k: round(v / args.count, 2) for k, v in sorted(snapshot.items())}}
    if prof:
        _add_profile(out, prof, args.count)
    return out


def _add_profile(out: dict[str, Any], prof: cProfile.Profile, n: int) -> None:
    s = io.StringIO()
    stats = pstats.Stats(prof, stream=s)
    out["python calls per message"] = round(stats.total_calls / n, 1)  # type: ignore[attr-defined]
    stats.sort_stats(os.environ.get("PROF_SORT", "tottime")).print_stats(int(os.environ.get("PROF_N", "25")))
    out["profile"] = s.getvalue()


async def server(args: argparse.Namespace) -> dict[str, Any]:
    from libp2p import new_host
    from libp2p.protocols.echo import EchoService

    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[EchoService()]) as host:
        addr = str(host.full_addrs()[0])
        asyncio.get_running_loop().set_task_factory(task_counter)
        prof = cProfile.Profile() if args.cprofile else None
        counts.clear()
        if prof:
            prof.enable()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "_peer.py"), "bench", "--loop", args.loop, "--to", addr,
            "--echo-rtts" if args.protocol == "echo" else "--pings", str(args.count), stdout=subprocess.PIPE)
        line, _ = await proc.communicate()
        if prof:
            prof.disable()
        snapshot = dict(counts)
    res = json.loads(line)
    rtts = res["echo_rtts" if args.protocol == "echo" else "ping_rtts"]
    n = args.count + 10
    out: dict[str, Any] = {"rtt_ms (client-measured)": sum(rtts) / len(rtts) * 1e3,
                           "per_message (includes connection set-up)": {
                               k: round(v / n, 2) for k, v in sorted(snapshot.items())}}
    if prof:
        _add_profile(out, prof, n)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--side", choices=["client", "server"], default="client")
    ap.add_argument("--protocol", choices=["echo", "ping"], default="echo")
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--port", type=int, help="for the client side's server (default: a free one)")
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--no-counters", action="store_true",
                    help="no wrappers (exact cProfile call counts per message; the counters then read 0)")
    args = ap.parse_args()
    if args.port is None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.port = s.getsockname()[1]
    if args.loop == "uvloop":
        import uvloop

        run: Any = uvloop.run
    else:
        run = asyncio.run
    if not args.no_counters:
        instrument()
    out = run(client(args) if args.side == "client" else server(args))
    prof = out.pop("profile", None)
    print(json.dumps(out, indent=1))
    if prof:
        print(prof)
    return 0


if __name__ == "__main__":
    sys.exit(main())
