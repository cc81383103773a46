"""What an idle connection costs the listener, and whether connecting peers leave anything behind.

Starts ``libp2p serve`` (the host under test, in its own process so its memory is its own),
connects N client hosts (N distinct peers, identify done), reads the server's VmRSS, closes
them, repeats the cycle, and reads it again. Prints one JSON line per run; ``--server`` picks
another ``libp2p`` executable (e.g. an older checkout's) for a before/after comparison.

    .venv/bin/python benchmarks/conn_memory.py --conns 500 --cycles 3
    LIBP2P_NO_EXTENSIONS=1 .venv/bin/python benchmarks/conn_memory.py --conns 500
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


async def _connect_all(addr: str, n: int, batch: int = 50) -> list[object]:
    from libp2p import new_host
    from libp2p.protocols.identify.service import IdentifyService

    hosts = []
    for start in range(0, n, batch):
        group = [new_host() for _ in range(min(batch, n - start))]
        for h in group:
            await h.start()
        peers = await asyncio.gather(*(h.connect(addr) for h in group))
        await asyncio.gather(*(h.service(IdentifyService).identify(p) for h, p in zip(group, peers)))  # type: ignore[union-attr]
        hosts.extend(group)
    return hosts


async def _run(args: argparse.Namespace) -> dict[str, object]:
    server_cmd = [args.server, "serve", "--listen", "/ip4/127.0.0.1/tcp/0", *args.server_arg]
    proc = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        addr = json.loads(line)["multiaddrs"][0]
        base = await _settle(proc.pid)
        connected: list[int] = []
        after: list[int] = []
        for _ in range(args.cycles):
            hosts = await _connect_all(addr, args.conns)
            connected.append(await _settle(proc.pid))
            await asyncio.gather(*(h.close() for h in hosts))  # type: ignore[attr-defined]
            after.append(await _settle(proc.pid))
        return {
            "conns": args.conns,
            "cycles": args.cycles,
            "server": args.server,
            "server_args": args.server_arg,
            "implementation_env": "python" if os.environ.get("LIBP2P_NO_EXTENSIONS") else "default",
            "rss_base_kib": base,
            "rss_connected_kib": connected,
            "rss_after_close_kib": after,
            "kib_per_idle_conn_first_cycle": round((connected[0] - base) / args.conns, 1),
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
    args = p.parse_args()
    print(json.dumps(asyncio.run(_run(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
