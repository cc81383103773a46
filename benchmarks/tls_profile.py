#!/usr/bin/env python3
"""Where the TCP + TLS security channel's time goes: per handshake and per message, no sockets.

    .venv/bin/python benchmarks/tls_profile.py [--handshakes N] [--messages N] [--size B] [--cprofile] [--json]
    .venv/bin/python benchmarks/tls_profile.py --memory 300 [--bulk]   # RSS per connection end
    .venv/bin/python benchmarks/tls_profile.py --ping 3000 [--security noise]   # CPU per ping, two processes

Runs the sans-IO TLS core in memory (``libp2p.security.tls.core``): a dialer and a listener
handshake (as ``tls_handshake`` drives them, with the host-level credentials), then ``--messages``
round trips of ``--size`` bytes through the record layer (encrypt on one side, decrypt on the
other, and back: what a ping over yamux costs in security work). For each phase and side it
prints CPU microseconds per operation (``time.process_time``) and Python function calls per
operation (cProfile's count); with ``--cprofile`` the top functions by own time.

``--memory N``: the process's RSS growth per connection end for N in-memory connection pairs, after
the handshake and a few small messages (``--bulk``: and 256 KiB each way; one figure per process, as
memory freed by a first round would be reused by a second).
``--ping N``: our host pings a ``libp2p perf --run-server`` process N times over TCP + TLS (or
``--security noise``) + yamux; prints client thread CPU and server process CPU per ping, and the RTT.
All run with whichever library the interpreter imports (main's venv for "before"). Used for the
before/after tables in benchmarks/RESULTS.md (issue #16, TCP + TLS follow-up).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import asyncio
import gc
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.security.tls import core

MUXERS = ["/yamux/1.0.0"]


_IDENTITIES: dict[Any, Any] = {}


def _make(is_initiator: bool, key: Any, remote: PeerId | None, now: dt.datetime) -> Any:
    """A handshake as the host starts one: with the host's ``TLSIdentity`` where this version has one."""
    make: Callable[..., Any] = core.TLSHandshake
    kw: dict[str, Any] = {}
    identity_cls = getattr(core, "TLSIdentity", None)
    if identity_cls is not None:
        if key not in _IDENTITIES:
            _IDENTITIES[key] = identity_cls(key)
        kw["identity"] = _IDENTITIES[key]
    return make(is_initiator, key, remote_peer_id=remote, muxers=MUXERS, now=now, **kw)


def _pair(dialer_key: Any, listener_key: Any, listener_id: PeerId) -> tuple[Any, Any]:
    now = dt.datetime.now(dt.timezone.utc)
    return _make(True, dialer_key, listener_id, now), _make(False, listener_key, None, now)


def handshake(dialer_key: Any, listener_key: Any, listener_id: PeerId, side: str, prof: cProfile.Profile | None) -> float:
    """One in-memory handshake; returns the CPU seconds of ``side``'s work (both: all of it)."""
    spent = 0.0

    def timed(who: str, fn: Callable[[], Any]) -> Any:
        nonlocal spent
        if side not in (who, "both"):
            return fn()
        if prof is not None:
            prof.enable()
        t0 = time.process_time()
        try:
            return fn()
        finally:
            spent += time.process_time() - t0
            if prof is not None:
                prof.disable()

    now = dt.datetime.now(dt.timezone.utc)
    dialer = timed("dialer", lambda: _make(True, dialer_key, listener_id, now))
    listener = timed("listener", lambda: _make(False, listener_key, None, now))
    flight = timed("dialer", dialer.data_to_send)
    for _ in range(6):
        if dialer.complete and listener.complete:
            break
        if flight and not listener.complete:
            timed("listener", lambda: listener.receive_data(flight))
        back = timed("listener", listener.data_to_send)
        if back and not dialer.complete:
            timed("dialer", lambda: dialer.receive_data(back))
        flight = timed("dialer", dialer.data_to_send)
    if flight and not listener.complete:
        timed("listener", lambda: listener.receive_data(flight))
    assert dialer.complete and listener.complete
    return spent


def _connect(dialer_key: Any, listener_key: Any, listener_id: PeerId) -> tuple[Any, Any, bytes]:
    """A handshake run to completion in memory: the dialer's and the listener's sessions, and what
    the listener sent after the dialer had completed (for the dialer's session to read)."""
    dialer, listener = _pair(dialer_key, listener_key, listener_id)
    flight = dialer.data_to_send()
    late = b""
    while not (dialer.complete and listener.complete):
        if flight and not listener.complete:
            listener.receive_data(flight)
        back = listener.data_to_send()
        if back and not dialer.complete:
            dialer.receive_data(back)
        else:
            late += back
        flight = dialer.data_to_send()
    if flight and not listener.complete:
        listener.receive_data(flight)
    return dialer.session(), listener.session(), late + listener.data_to_send()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--handshakes", type=int, default=200)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=44, help="plaintext bytes per message (ping 32 B + yamux header 12 B)")
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--memory", type=int, metavar="N", help="RSS per connection end over N connection pairs")
    ap.add_argument("--ping", type=int, metavar="N", help="CPU per ping over N pings against a server process")
    ap.add_argument("--bulk", action="store_true", help="for --memory: each pair also exchanges 256 KiB each way")
    ap.add_argument("--security", choices=["tls", "noise"], default="tls", help="for --ping")
    cfg = ap.parse_args(argv)
    if cfg.memory:
        return _memory(cfg.memory, cfg.bulk)
    if cfg.ping:
        return asyncio.run(_ping(cfg.ping, cfg.security))
    dialer_key, listener_key = generate_key_pair(), generate_key_pair()
    listener_id = PeerId.from_public_key(listener_key.public_key)
    out: dict[str, Any] = {}
    for side in ("dialer", "listener"):
        handshake(dialer_key, listener_key, listener_id, side, None)  # warm: first-use costs
        prof = cProfile.Profile()
        calls_prof = cProfile.Profile()
        spent = sum(handshake(dialer_key, listener_key, listener_id, side, None) for _ in range(cfg.handshakes))
        n_calls = 20
        for _ in range(n_calls):
            handshake(dialer_key, listener_key, listener_id, side, calls_prof)
        calls = pstats.Stats(calls_prof).total_calls  # type: ignore[attr-defined]
        out[f"handshake {side}"] = {"cpu_us": spent / cfg.handshakes * 1e6, "py_calls": calls / n_calls}
        if cfg.cprofile:
            for _ in range(20):
                handshake(dialer_key, listener_key, listener_id, side, prof)
            _print_profile(f"handshake, {side} side (20 handshakes)", prof)

    a, b, late = _connect(dialer_key, listener_key, listener_id)
    assert not a.decrypt(late)  # what the listener sent after its last handshake step
    payload = bytes(cfg.size)

    def round_trip() -> None:
        assert sum(map(len, b.decrypt(memoryview(a.encrypt(payload))))) == cfg.size
        assert sum(map(len, a.decrypt(memoryview(b.encrypt(payload))))) == cfg.size

    for _ in range(200):
        round_trip()
    t0 = time.process_time()
    for _ in range(cfg.messages):
        round_trip()
    spent = time.process_time() - t0
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(1000):
        round_trip()
    prof.disable()
    calls = pstats.Stats(prof).total_calls  # type: ignore[attr-defined]
    # per message = one encrypt on one side + one decrypt on the other (a round trip is two);
    # the harness's own calls (round_trip, memoryview, sum, map) are ~2.5 of the count
    out["message (encrypt + decrypt)"] = {"cpu_us": spent / cfg.messages / 2 * 1e6, "py_calls": (calls / 1000 - 1) / 2}
    if cfg.cprofile:
        _print_profile("record layer, 1000 round trips", prof)
    if cfg.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"| {'operation':32} | CPU µs/op | Python calls/op |")
        print(f"|{'-' * 34}|-----------|-----------------|")
        for name, row in out.items():
            print(f"| {name:32} | {row['cpu_us']:9.1f} | {row['py_calls']:15.1f} |")
    return 0


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _memory(pairs: int, bulk: bool) -> int:
    dialer_key, listener_key = generate_key_pair(), generate_key_pair()
    listener_id = PeerId.from_public_key(listener_key.public_key)

    def connect(bulk: bool) -> tuple[Any, Any]:
        a, b, late = _connect(dialer_key, listener_key, listener_id)
        a.decrypt(late)
        for _ in range(3):
            b.decrypt(a.encrypt(b"x" * 200))
            a.decrypt(b.encrypt(b"y" * 200))
        if bulk:
            big = bytes(256 * 1024)
            b.decrypt(a.encrypt(big))
            a.decrypt(b.encrypt(big))
        return a, b  # the sessions only, as a connection holds them

    keep = [connect(bulk) for _ in range(20)]  # first-use allocations out of the figure
    gc.collect()
    before = _rss_kib()
    keep += [connect(bulk) for _ in range(pairs)]
    gc.collect()
    what = "after a 256 KiB exchange each way" if bulk else "after the handshake and small messages"
    print(f"{(_rss_kib() - before) / pairs / 2:.1f} KiB RSS per connection end, {what} ({pairs} pairs)")
    return 0


async def _ping(count: int, security: str) -> int:
    from libp2p import new_host
    from libp2p.multiaddr import Multiaddr

    sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
    import bench_stack

    server = subprocess.Popen(
        [sys.executable, "-m", "libp2p", "perf", "--loop", "asyncio", "--muxer", "yamux", "--run-server",
         "--server-address", "127.0.0.1:0", "--security", security],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        target = Multiaddr([a for a in info["multiaddrs"] if "/tcp/" in a][0])

        def server_cpu() -> float:
            fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        options: dict[str, Any] = {}
        if security == "tls":
            from libp2p.security.tls import PROTOCOL_ID as TLS_ID

            options["security"] = [TLS_ID]
        async with asyncio.timeout(120), new_host(muxers=["/yamux/1.0.0"], **options) as host:
            peer = await host.connect(target)
            await bench_stack._ping_rtts(host, peer, 300)  # warm-up
            c0, s0 = time.thread_time(), server_cpu()
            rtts = sorted(await bench_stack._ping_rtts(host, peer, count))
            c1, s1 = time.thread_time(), server_cpu()
        print(f"{security}: client CPU {(c1 - c0) / count * 1e6:.1f} µs/ping, server CPU {(s1 - s0) / count * 1e6:.1f} "
              f"µs/ping, RTT p10 {rtts[count // 10] * 1e6:.0f} µs, median {rtts[count // 2] * 1e6:.0f} µs")
    finally:
        server.terminate()
        server.wait(10)
    return 0


def _print_profile(title: str, prof: cProfile.Profile) -> None:
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
    print(f"### {title}")
    print("\n".join(s.getvalue().splitlines()[:45]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
