#!/usr/bin/env python3
"""Listener instructions per handshake (issue #16 item 4), counted by valgrind.

    _instructions_handshakes.py [--python EXE ...] [--counts 100,500] [--concurrency 8] [--rounds 1]

Runs ``libp2p serve --perf`` of each ``--python`` (default: this interpreter; give another
checkout's venv for an A/B, e.g. main's) under ``valgrind --tool=cachegrind --cache-sim=no``,
dials it exactly N times with ``handshakes.py``'s dialer (TCP + /noise + Noise XX with yamux in
the handshake + one yamux ping, then the socket is aborted), stops it, and prints the difference
of the listener's instruction counts for the two dial counts divided by the difference of the
counts: what one more handshake costs the listener, start-up excluded. Unlike handshakes per
listener CPU-second this does not move with the machine's load (other agents share it), so it
decides small changes; it counts instructions, not cycles (libsodium's curve arithmetic runs at a
much higher IPC than the interpreter, so crypto weighs more here than in CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVE = "import sys; sys.argv = ['libp2p', 'serve', '--perf']; from libp2p.cli import main; sys.exit(main())"


async def _dial_n(addr: str, count: int, concurrency: int) -> int:
    sys.path.insert(0, str(HERE))
    from handshakes import _one_dial

    from libp2p.identity.keys import generate_key_pair
    from libp2p.multiaddr import Multiaddr
    from libp2p.peerstore import PeerInfo

    info = PeerInfo.from_multiaddr(Multiaddr(addr))
    left = count
    errors = 0

    async def slot() -> None:
        nonlocal left, errors
        key = generate_key_pair()
        while left > 0:
            left -= 1
            try:
                await _one_dial(info.addrs[0], info.peer_id, key, 120.0)  # a listener under valgrind is slow
            except Exception:  # noqa: BLE001 - counted
                errors += 1

    await asyncio.gather(*(slot() for _ in range(concurrency)))
    return errors


def instructions(python: str, count: int, concurrency: int) -> int:
    """The listener's instruction count: started, dialed ``count`` times, stopped."""
    fd, out = tempfile.mkstemp(prefix="cachegrind.", suffix=".out")
    os.close(fd)
    server = subprocess.Popen(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", python, "-c", SERVE],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
        cwd=tempfile.gettempdir(),
    )
    try:
        assert server.stdout is not None
        addr = json.loads(server.stdout.readline())["multiaddrs"][0]
        dial = subprocess.run([sys.executable, __file__, "_dial", addr, str(count), str(concurrency)],
                              capture_output=True, text=True, timeout=1800)
        if dial.returncode != 0 or dial.stdout.strip() != "0":
            raise RuntimeError(f"dialer failed ({dial.returncode}, errors {dial.stdout.strip()}): {dial.stderr[-500:]}")
        time.sleep(1.0)  # the last connections' close path runs
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=600)
        found = re.search(r"^summary:\s+(\d+)", Path(out).read_text(), re.M)
        if found is None:
            raise RuntimeError("no instruction count in cachegrind's output")
        return int(found.group(1))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        os.unlink(out)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_dial"]:
        print(asyncio.run(_dial_n(argv[1], int(argv[2]), int(argv[3]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter whose libp2p listens (repeatable: interleaved)")
    ap.add_argument("--counts", default="100,500", help="the two dial counts")
    ap.add_argument("--concurrency", type=int, default=8, help="dials at a time")
    ap.add_argument("--rounds", type=int, default=1, help="measurements of each interpreter, interleaved")
    cfg = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed", file=sys.stderr)
        return 2
    low, high = (int(x) for x in cfg.counts.split(","))
    pythons = cfg.python or [sys.executable]
    for _ in range(cfg.rounds):
        for python in pythons:
            a = instructions(python, low, cfg.concurrency)
            b = instructions(python, high, cfg.concurrency)
            print(f"{(b - a) / (high - low):,.0f} listener instructions per handshake ({python})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
