#!/usr/bin/env python3
"""Exact Python and C calls per handshake on a ``libp2p serve`` listener, by area (issue #16 item 4).

    _profile_handshakes.py [--python EXE ...] [--seconds 5] [--detail AREA ...]

Starts ``libp2p serve --perf`` of each ``--python`` (default: this interpreter; another checkout's
venv for a before/after) with a ``sys.setprofile`` hook installed between two signals, dials it
for ``--seconds`` with 16 loops of ``handshakes.py``'s dialer, and prints every call (Python
function calls and C calls) per handshake, attributed to the innermost area on the stack: accept
(the TCP listener's protocol), admission (connection manager, resource manager), upgrade
(multistream, Noise, muxer selection), add (Swarm._add), host events, identify, muxer start and
flush, the close path (EOF -> MuxedConnection shutdown -> Swarm._closed -> Host._connection_closed)
and task bookkeeping. Handshakes are counted as calls of ``Swarm._add``. The hook makes the
listener ~10x slower, so only the counts mean anything, and they do not move with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (file name, qualified name) -> area; the innermost match on the stack wins.
AREAS = {
    ("tcp.py", "TcpTransport.listen.<locals>.factory"): "accept",
    ("tcp.py", "TcpTransport.listen.<locals>.factory.<locals>.made"): "accept",
    ("tcp.py", "_AcceptedTcpConnection.connection_made"): "accept",
    ("tcp.py", "_fill_addrs"): "accept",
    ("connection.py", "RawConnection.__init__"): "accept",
    ("swarm.py", "Swarm._on_inbound"): "accept (Swarm._on_inbound)",
    ("swarm.py", "Swarm._admit_pending"): "admission",
    ("connmgr.py", "ConnectionManager.admit_inbound"): "admission",
    ("resources.py", "ResourceManager.open_connection"): "admission",
    ("swarm.py", "Swarm._admit_again"): "admission",
    ("swarm.py", "Swarm._handle_inbound"): "upgrade",
    ("upgrader.py", "Upgrader.upgrade"): "upgrade",
    ("upgrader.py", "Upgrader._upgrade"): "upgrade",
    ("connection.py", "RawConnection.buffer_updated"): "raw read (handshake)",
    ("swarm.py", "Swarm._add"): "add: Swarm._add",
    ("host.py", "Host._connection_opened"): "add: Host._connection_opened",
    ("events.py", "EventBus.emit"): "events (emit, callbacks)",
    ("service.py", "IdentifyService._on_opened"): "identify",
    ("service.py", "IdentifyService._connected"): "identify",
    ("service.py", "IdentifyService._identify"): "identify",
    ("service.py", "IdentifyService._disconnected"): "identify (close)",
    ("service.py", "IdentifyService._peer_gone"): "identify (close)",
    ("service.py", "IdentifyService._on_closed"): "identify (close)",
    ("connection.py", "MuxedConnection.__init__"): "muxer objects",
    ("options.py", "MuxerOption.new_session"): "muxer objects",
    ("connection.py", "MuxedConnection.start"): "muxer start",
    ("connection.py", "MuxedConnection._first_flush"): "muxer flush",
    ("connection.py", "MuxedConnection._flush"): "muxer flush",
    ("connection.py", "MuxedConnection._on_raw"): "yamux ping in",
    ("connection.py", "RawConnection.eof_received"): "close: EOF, muxer shutdown",
    ("connection.py", "RawConnection.connection_lost"): "close: EOF, muxer shutdown",
    ("connection.py", "MuxedConnection._shutdown"): "close: EOF, muxer shutdown",
    ("swarm.py", "Swarm._closed"): "close: Swarm._closed",
    ("host.py", "Host._connection_closed"): "close: Host._connection_closed",
    ("driver.py", "TaskSet.spawn"): "tasks (spawn, done)",
    ("driver.py", "TaskSet._done"): "tasks (spawn, done)",
}

PRELUDE = r'''
import collections, json, signal, sys
_AREAS = AREAS_HERE
_counts = collections.Counter()
_cache = {}
def _area(frame):
    f = frame
    while f is not None:
        co = f.f_code
        a = _cache.get(co)
        if a is None:
            a = _cache[co] = _AREAS.get((co.co_filename.rsplit("/", 1)[-1], co.co_qualname), "")
        if a:
            return a
        f = f.f_back
    return "other"
def _hook(frame, event, arg):
    if event == "call" or event == "c_call":
        a = _area(frame)
        _counts[a] += 1
        name = frame.f_code.co_qualname if event == "call" else "C:" + getattr(arg, "__qualname__", "?")
        _counts[a + " | " + name] += 1
        if event == "call" and name == "Swarm._add":
            _counts["#handshakes"] += 1
def _on(*_):
    sys.setprofile(_hook)
def _off(*_):
    sys.setprofile(None)
    with open(OUT_HERE, "w") as f:
        json.dump(dict(_counts), f)
signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
'''


def profile(python: str, seconds: float) -> dict[str, int]:
    fd, out = tempfile.mkstemp(prefix="hs-calls.", suffix=".json")
    os.close(fd)
    code = (PRELUDE.replace("AREAS_HERE", repr(AREAS)).replace("OUT_HERE", repr(out))
            + "\nsys.argv = ['libp2p', 'serve', '--perf']\nfrom libp2p.cli import main\nsys.exit(main())\n")
    server = subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                              cwd=tempfile.gettempdir())
    try:
        assert server.stdout is not None
        addr = json.loads(server.stdout.readline())["multiaddrs"][0]
        start = time.time() + 2.0
        dialer = subprocess.Popen([sys.executable, str(HERE / "handshakes.py"), "_dial", "--to", addr,
                                   "--concurrency", "16", "--start", f"{start}", "--warmup", "1",
                                   "--duration", str(seconds)], stdout=subprocess.DEVNULL)
        time.sleep(max(0.0, start + 1 - time.time()))
        os.kill(server.pid, signal.SIGUSR1)
        time.sleep(max(0.0, start + 1 + seconds - time.time()))
        os.kill(server.pid, signal.SIGUSR2)
        dialer.wait(timeout=seconds + 60)
        time.sleep(0.5)
        with open(out) as f:
            return json.load(f)  # type: ignore[no-any-return]
    finally:
        server.terminate()
        server.wait(timeout=30)
        os.unlink(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", action="append", help="interpreter whose libp2p listens (repeatable)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--detail", action="append", default=[], metavar="AREA", help="also list the calls of areas "
                    "starting with AREA")
    ap.add_argument("--json", type=Path, help="write the per-handshake counts here")
    cfg = ap.parse_args(argv)
    pythons = cfg.python or [sys.executable]
    runs = [profile(p, cfg.seconds) for p in pythons]
    per = [{k: v / r["#handshakes"] for k, v in r.items() if k != "#handshakes"} for r in runs]
    areas = sorted({k for p in per for k in p if " | " not in k}, key=lambda k: -per[0].get(k, 0))
    print("| area | " + " | ".join(pythons) + " |")
    print("|---" * (len(pythons) + 1) + "|")
    for area in areas:
        print(f"| {area} | " + " | ".join(f"{p.get(area, 0):.1f}" for p in per) + " |")
    print("| total | " + " | ".join(f"{sum(v for k, v in p.items() if ' | ' not in k):.1f}" for p in per) + " |")
    print("handshakes counted: " + ", ".join(str(r["#handshakes"]) for r in runs))
    for prefix in cfg.detail:
        for key in sorted({k for p in per for k in p if " | " in k and k.startswith(prefix)},
                          key=lambda k: -per[0].get(k, 0)):
            print(f"  {key}: " + " / ".join(f"{p.get(key, 0):.2f}" for p in per))
    if cfg.json is not None:
        cfg.json.write_text(json.dumps({"pythons": pythons, "per_handshake": per}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
