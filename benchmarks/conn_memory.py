"""What an idle connection costs the listener, and whether connecting peers leave anything behind.

Starts ``libp2p serve`` (the host under test, in its own process so its memory is its own),
connects N client hosts (N distinct peers, identify done), reads the server's VmRSS, then (with
``--streams K``) opens K idle streams per connection on ``/echo/1.0.0`` (one byte echoed, so the
listener's handler runs and waits for more) and reads it again; closes them, repeats the cycle,
and reads it again. Prints one JSON line per run; ``--server`` picks another ``libp2p`` executable
(e.g. an older checkout's) for a before/after comparison; ``--listener go`` loads go-libp2p's peer
(``interop/go``, ``peer listen``: no resource or connection manager) with the same clients.
``--count-tasks`` runs the listener in this process instead and counts the asyncio tasks and
timers each idle connection and stream adds.

    .venv/bin/python benchmarks/conn_memory.py --conns 500 --cycles 3
    .venv/bin/python benchmarks/conn_memory.py --conns 200 --streams 8 --cycles 1 --server-arg=--resource-limits=unlimited
    .venv/bin/python benchmarks/conn_memory.py --conns 200 --streams 8 --cycles 1 --listener go
    .venv/bin/python benchmarks/conn_memory.py --conns 100 --streams 4 --count-tasks
    LIBP2P_NO_EXTENSIONS=1 .venv/bin/python benchmarks/conn_memory.py --conns 500

``--save`` also writes the JSON, with the load average before and after, to
``benchmarks/results/conn_memory-<UTC>-<listener>[-pure].json`` (read by ``round2_summary.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _settle(pid: int, rounds: int = 10, pause: float = 0.2) -> int:
    """RSS once it stops moving (bounded: ``rounds`` samples)."""
    last = _rss_kib(pid)
    for _ in range(rounds):
        await asyncio.sleep(pause)
        now = _rss_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


ECHO = "/echo/1.0.0"


async def _connect_all(addr: str, n: int, batch: int = 50) -> list[tuple[object, object]]:
    """N client hosts, each connected and identified: (host, server peer id) pairs."""
    from libp2p import new_host
    from libp2p.protocols.identify.service import IdentifyService

    hosts: list[tuple[object, object]] = []
    for start in range(0, n, batch):
        group = [new_host() for _ in range(min(batch, n - start))]
        for h in group:
            await h.start()
        peers = await asyncio.gather(*(h.connect(addr) for h in group))
        await asyncio.gather(*(h.service(IdentifyService).identify(p) for h, p in zip(group, peers)))  # type: ignore[union-attr]
        hosts.extend(zip(group, peers))
    return hosts


async def _open_idle_streams(hosts: list[tuple[object, object]], k: int, batch: int = 50) -> list[object]:
    """K echo streams per connection, each with one byte echoed (the listener's handler is running
    and waiting for more), left open."""

    async def one(h: object, peer: object) -> object:
        stream = await h.new_stream(peer, [ECHO])  # type: ignore[attr-defined]
        await stream.write(b"x")
        if await stream.read(1) != b"x":
            raise RuntimeError("echo returned something else")
        return stream

    streams: list[object] = []
    pairs = [(h, p) for h, p in hosts for _ in range(k)]
    for start in range(0, len(pairs), batch):
        streams += await asyncio.gather(*(one(h, p) for h, p in pairs[start:start + batch]))
    return streams


def _loop_timers() -> int:
    """Muxer timers (``CoreTimer``) scheduled on the running loop; -1 when the loop hides its heap
    (uvloop). Other timers here are the client hosts' own (their peerstore janitors)."""
    scheduled = getattr(asyncio.get_running_loop(), "_scheduled", None)
    if scheduled is None:
        return -1
    return sum(1 for t in scheduled
               if not t.cancelled() and getattr(t._callback, "__qualname__", "") == "CoreTimer._fire")


async def _count_tasks(args: argparse.Namespace) -> dict[str, object]:
    """The listener in this process: tasks and timers added per idle connection and per idle stream."""
    from collections import Counter

    from libp2p import new_host
    from libp2p.protocols.echo import EchoService
    from libp2p.resources import ResourceLimits

    server = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[EchoService()],
                      resource_limits=ResourceLimits.unlimited())
    await server.start()
    try:
        addr = str(server.full_addrs()[0])
        before = set(asyncio.all_tasks())
        timers0 = _loop_timers()
        hosts = await _connect_all(addr, args.conns)
        await asyncio.sleep(1.0)  # identify's follow-ups finish
        after_conns = set(asyncio.all_tasks()) - before
        client_tasks = len(hosts)  # each client host runs one task (its peerstore janitor)
        timers1 = _loop_timers()
        streams = await _open_idle_streams(hosts, args.streams) if args.streams else []
        after_streams = set(asyncio.all_tasks()) - before
        timers2 = _loop_timers()
        names = Counter(t.get_coro().__qualname__ for t in after_streams - after_conns)  # type: ignore[union-attr]
        result = {
            "mode": "count-tasks",
            "conns": args.conns,
            "streams_per_conn": args.streams,
            "tasks_per_conn": round((len(after_conns) - client_tasks) / args.conns, 3),
            "muxer_timers_per_conn_end": None if timers0 < 0 else round((timers1 - timers0) / args.conns / 2, 3),
            "tasks_per_stream": round(len(after_streams - after_conns) / max(1, len(streams)), 3),
            "muxer_timers_per_stream": None if timers0 < 0 else round((timers2 - timers1) / max(1, len(streams)), 3),
            "stream_task_kinds": dict(names),
            "note": "muxer timers are counted on both ends (client and listener share the loop), halved",
        }
        for h, _ in hosts:
            await h.close()  # type: ignore[attr-defined]
        return result
    finally:
        await server.close()


def _go_peer() -> str:
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run(["bash", str(repo / "ci" / "build_go_peer.sh")], capture_output=True, text=True,
                         timeout=1500, check=False)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"ci/build_go_peer.sh failed: {out.stderr[-500:]}")
    return lines[-1]


async def _run(args: argparse.Namespace) -> dict[str, object]:
    if args.listener == "go":
        server_cmd = [_go_peer(), "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--ignore-stdin"]
    else:
        server_cmd = [args.server, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", *args.server_arg]
    proc = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        addr = next(a for a in json.loads(line)["multiaddrs"] if "/tcp/" in a and "/ws" not in a)
        base = await _settle(proc.pid)
        connected: list[int] = []
        with_streams: list[int] = []
        after: list[int] = []
        for _ in range(args.cycles):
            hosts = await _connect_all(addr, args.conns)
            connected.append(await _settle(proc.pid))
            if args.streams:
                await _open_idle_streams(hosts, args.streams)
                with_streams.append(await _settle(proc.pid))
            await asyncio.gather(*(h.close() for h, _ in hosts))  # type: ignore[attr-defined]
            after.append(await _settle(proc.pid))
        return {
            "listener": args.listener,
            "conns": args.conns,
            "streams_per_conn": args.streams,
            "cycles": args.cycles,
            "server": args.server if args.listener == "ours" else "go peer (interop/go)",
            "server_args": args.server_arg,
            "implementation_env": "python" if os.environ.get("LIBP2P_NO_EXTENSIONS") else "default",
            "rss_base_kib": base,
            "rss_connected_kib": connected,
            "rss_with_streams_kib": with_streams,
            "rss_after_close_kib": after,
            "kib_per_idle_conn_first_cycle": round((connected[0] - base) / args.conns, 1),
            "kib_per_idle_stream_first_cycle": (
                round((with_streams[0] - connected[0]) / (args.conns * args.streams), 2) if args.streams else None
            ),
            "kib_kept_after_last_cycle": after[-1] - base,
            "python": platform.python_version(),
            "load_1m": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conns", type=int, default=300)
    p.add_argument("--cycles", type=int, default=2)
    p.add_argument("--server", default=shutil.which("libp2p", path=str(Path(sys.executable).parent)) or "libp2p")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `serve` (repeatable), e.g. --server-arg=--forget-peers-after=1")
    p.add_argument("--streams", type=int, default=0, metavar="K",
                   help="also open K idle /echo/1.0.0 streams per connection and measure them")
    p.add_argument("--listener", choices=["ours", "go"], default="ours",
                   help="the listener under test: ours (`libp2p serve`, default) or go-libp2p's peer")
    p.add_argument("--count-tasks", action="store_true",
                   help="run our listener in this process and count tasks/timers per idle connection and stream")
    p.add_argument("--save", action="store_true",
                   help="also write the result to benchmarks/results/conn_memory-<UTC>-<listener>[-pure].json")
    args = p.parse_args()
    if args.count_tasks:
        print(json.dumps(asyncio.run(_count_tasks(args))))
        return 0
    started = time.gmtime()
    load_before = os.getloadavg()
    result = asyncio.run(_run(args))
    print(json.dumps(result))
    if args.save:
        label = args.listener + ("-pure" if result["implementation_env"] == "python" else "")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", started)
        out = Path(__file__).resolve().parent / "results" / f"conn_memory-{stamp}-{label}.json"
        saved = {**result, "server": Path(str(result["server"])).name,  # no checkout path in the repo
                 "started_utc": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", started),
                 "load_before": load_before, "load_after": os.getloadavg()}
        out.write_text(json.dumps(saved, indent=1) + "\n")
        print(f"written {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
