#!/usr/bin/env python3
"""Where a stream's open + close time goes (issue #16 item 5): both sides in one process.

    _profile_streams.py [--count N] [--workers W] [--unlimited] [--top K] [--no-profile]

Two hosts (TCP loopback + Noise + yamux) in this process; the client opens ``N`` streams to
``/echo/1.0.0`` (``W`` at a time), writes 1 byte, half-closes, reads the byte back and the end of
stream; the server is our ``EchoService``. Prints streams/s and CPU time per stream (in-process figures: both sides share
one core) and, unless ``--no-profile``, cProfile's top functions by own time and by cumulative
time over the measured streams (a warm-up of 50 streams first). Used for the before/after figures
in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from libp2p.node import new_host  # noqa: E402
from libp2p.protocols.echo import PROTOCOL_ID, EchoService  # noqa: E402
from libp2p.resources import ResourceLimits  # noqa: E402


async def run(count: int, workers: int, unlimited: bool, profile: cProfile.Profile | None) -> tuple[float, float]:
    limits = ResourceLimits.unlimited() if unlimited else None
    kw = {"resource_limits": limits} if limits is not None else {}
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[EchoService()], **kw) as server, \
            new_host(muxers=["/yamux/1.0.0"], **kw) as client:
        await client.connect(server.full_addrs()[0])

        async def one() -> None:
            stream = await client.new_stream(server.peer_id, [PROTOCOL_ID])
            await stream.write(b"x")
            await stream.close()
            if await stream.readexactly(1) != b"x" or await stream.read() != b"":
                raise RuntimeError("echo mismatch")

        async def worker(n: int) -> None:
            for _ in range(n):
                await one()

        async def batch(n: int) -> None:
            await asyncio.gather(*(worker(n // workers + (i < n % workers)) for i in range(workers)))

        await batch(50)
        if profile is not None:
            profile.enable()
        start, cpu = time.perf_counter(), time.process_time()
        await batch(count)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if profile is not None:
            profile.disable()
        return count / elapsed, cpu / count


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--unlimited", action="store_true", help="ResourceLimits.unlimited() on both hosts")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-profile", action="store_true")
    cfg = ap.parse_args(argv)
    profile = None if cfg.no_profile else cProfile.Profile()
    rate, cpu = asyncio.run(run(cfg.count, cfg.workers, cfg.unlimited, profile))
    print(f"{rate:,.0f} streams/s, {cpu * 1e6:,.0f} µs CPU per stream (open + 1 B echo + close, both sides in "
          f"one process, {cfg.workers} at a time)")
    if profile is not None:
        total = pstats.Stats(profile)
        sends = sum(v[1] for k, v in total.stats.items() if k[2] in ("<method 'send' of '_socket.socket' objects>",))  # type: ignore[attr-defined]
        loops = sum(v[1] for k, v in total.stats.items() if k[2] == "_run_once")  # type: ignore[attr-defined]
        print(f"per stream: {total.total_calls / cfg.count:,.0f} function calls, "  # type: ignore[attr-defined]
              f"{loops / cfg.count:.1f} event-loop iterations, {sends / cfg.count:.1f} socket sends")
        for key in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats(key).print_stats(cfg.top)
            text = out.getvalue()
            print(text[text.find("   ncalls"):])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
