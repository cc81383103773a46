#!/usr/bin/env python3
"""What one inbound handshake costs a ``libp2p serve`` listener (issue #16 item 4), in counts and paired rates.

    .venv/bin/python benchmarks/handshake_profile.py MEASURE [--python PY ...] [options]

Every measure starts ``libp2p serve --perf`` under each ``--python`` (default: this interpreter; another
checkout's venv for a before/after, run from outside that checkout) and dials it with
``suites/handshakes.py``'s dialer: TCP + ``/noise`` (optimistic) + Noise XX with yamux chosen inside the
handshake + one yamux session ping, then close. Measures:

* ``calls``: Python and C calls per accepted connection by function (cProfile, over a window after a
  warm-up); with ``--loop asyncio`` also loop passes, callbacks and tasks per connection.
* ``areas``: the same calls attributed to the innermost area of the path on the stack (accept, admission,
  raw read, add, identify, muxer, close, ...): ``AREAS`` below. ``--detail AREA`` lists an area's calls.
* ``syscalls``: the listener's syscalls per connection (``strace -c -f``).
* ``instructions``: instructions per handshake under valgrind's cachegrind: the difference between two runs
  dialed exactly N1 and N2 times, divided by N2 - N1 (start-up cancels out).
* ``responder``: the Noise responder core alone, in a process of each ``--python``: calls and CPU µs per
  handshake.
* ``ab ROUNDS SECONDS``: handshakes per listener CPU-second with all ``--python`` listeners dialed at the
  same time, each by its own dialer process, per round; the medians and, for two, the paired ratios.

The counts do not move with the machine's load (other work shares it); the profiling hooks slow the
listener down, so only counts mean anything there. Rates are read from ``ab`` alone. Prints JSON lines or
a markdown table; ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DIAL = HERE / "suites" / "handshakes.py"
SERVE = "\nimport sys\nsys.argv = ['libp2p', 'serve', '--perf', '--loop', {loop!r}]\nfrom libp2p.cli import main\nsys.exit(main())\n"

# ---------------------------------------------------------------------------------------------
# one listener, dialed


def start_listener(python: str, prelude: str = "", loop: str = "uvloop", env: dict[str, str] | None = None,
                   wrapper: list[str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """``libp2p serve --perf`` under ``python`` (after ``prelude``, under ``wrapper``): the process and its address."""
    code = prelude + SERVE.format(loop=loop)
    srv = subprocess.Popen([*(wrapper or []), python, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL if wrapper else None, stdin=subprocess.DEVNULL, text=True,
                           cwd=tempfile.gettempdir(), env=env)
    assert srv.stdout is not None
    line = srv.stdout.readline()
    if not line:
        srv.wait()
        raise RuntimeError(f"the listener under {python} exited before it listened")
    return srv, json.loads(line)["multiaddrs"][0]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_dialer(addr: str, start: float, warmup: float, duration: float) -> subprocess.Popen[str]:
    """One process of the suite's dialer, 16 loops, counting completions in [start + warmup, + duration)."""
    return subprocess.Popen([sys.executable, str(DIAL), "_dial", "--to", addr, "--concurrency", "16",
                             "--start", f"{start}", "--warmup", f"{warmup}", "--duration", f"{duration}"],
                            stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def wait_for_file(path: str) -> None:
    """The listener writes its counts on SIGUSR2: wait (bounded) until the file is complete."""
    for _ in range(200):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
        time.sleep(0.05)
    time.sleep(0.2)


def signalled_window(python: str, prelude: str, out: str, seconds: float, loop: str = "uvloop",
                     during: Callable[[int], Callable[[], None]] | None = None) -> None:
    """Dial a listener whose ``prelude`` starts counting on SIGUSR1 and writes ``out`` on SIGUSR2; the
    window is ``seconds`` after a warm-up. ``during(pid)`` starts something just before the window and
    returns how to stop it."""
    srv, addr = start_listener(python, prelude, loop, dict(os.environ, HS_PROFILE_OUT=out))
    try:
        start = time.time() + 1.5
        dialer = start_dialer(addr, start, 1.0, seconds + 1.0)
        sleep_until(start + 1.0)
        finish = during(srv.pid) if during else None
        sleep_until(start + 1.5)
        srv.send_signal(signal.SIGUSR1)
        sleep_until(start + 1.5 + seconds)
        srv.send_signal(signal.SIGUSR2)
        if finish:
            finish()
        dialer.communicate(timeout=seconds + 120)
        wait_for_file(out)
    finally:
        stop(srv)


# ---------------------------------------------------------------------------------------------
# calls by function (cProfile) and syscalls (strace)

CPROFILE = """
import cProfile, os, signal
_prof = cProfile.Profile()
def _on(*_): _prof.enable()
def _off(*_):
    _prof.disable(); _prof.dump_stats(os.environ["HS_PROFILE_OUT"])
signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
"""


def _calls_of(stats: pstats.Stats, name: str, filename_part: str = "") -> int:
    return sum(v[1] for (f, _, fn), v in stats.stats.items()  # type: ignore[attr-defined]
               if fn == name and filename_part in f)


def calls(python: str, cfg: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "listener.prof")
        signalled_window(python, CPROFILE, out, cfg.seconds, cfg.loop)
        stats = pstats.Stats(out)
    per = max(_calls_of(stats, "_on_inbound", "swarm.py"), 1)  # one per accepted TCP connection
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][1], reverse=True)[:cfg.top]  # type: ignore[attr-defined]
    result: dict[str, Any] = {
        "python": python, "loop": cfg.loop, "connections": per,
        "calls_per_conn": round(stats.total_calls / per, 1),  # type: ignore[attr-defined]
        "top_calls_per_conn": [[f"{Path(f).name}:{ln}({fn})", round(v[1] / per, 2)] for (f, ln, fn), v in rows],
    }
    if cfg.loop == "asyncio":
        result["loop_passes_per_conn"] = round(_calls_of(stats, "_run_once", "base_events.py") / per, 2)
        result["callbacks_per_conn"] = round(_calls_of(stats, "_run", "events.py") / per, 2)
        result["tasks_per_conn"] = round(_calls_of(stats, "__init__", "tasks.py") / per, 2)
    return result


def syscalls(python: str, cfg: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        trace, out = os.path.join(tmp, "strace.txt"), os.path.join(tmp, "listener.prof")

        def tracing(pid: int) -> Callable[[], None]:
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", trace, "-p", str(pid)], stderr=subprocess.DEVNULL)

            def finish() -> None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=60)
            return finish

        # cProfile counts the connections accepted in the window; strace starts 0.5 s before it
        signalled_window(python, CPROFILE, out, cfg.seconds, cfg.loop, during=tracing)
        conns = _calls_of(pstats.Stats(out), "_on_inbound", "swarm.py")
        lines = Path(trace).read_text().splitlines()
    counts: dict[str, int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    per = max(conns, 1) * (cfg.seconds + 0.5) / cfg.seconds
    return {"python": python, "loop": cfg.loop, "syscalls_per_conn": round(sum(counts.values()) / per, 2),
            "by_syscall_per_conn": {k: round(v / per, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}}


# ---------------------------------------------------------------------------------------------
# calls by area (sys.setprofile)

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

AREA_HOOK = r'''
import collections, json, os, signal, sys
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
    with open(os.environ["HS_PROFILE_OUT"], "w") as f:
        json.dump(dict(_counts), f)
signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
'''


def areas(python: str, cfg: argparse.Namespace) -> dict[str, Any]:
    """Calls per handshake (one per ``Swarm._add``) by area, and by area and callee (``AREA | name``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "areas.json")
        signalled_window(python, AREA_HOOK.replace("AREAS_HERE", repr(AREAS)), out, cfg.seconds, cfg.loop)
        with open(out) as f:
            counts: dict[str, int] = json.load(f)
    n = counts.pop("#handshakes", 0) or 1
    return {"python": python, "handshakes": n, "per_handshake": {k: v / n for k, v in counts.items()}}


def areas_table(results: list[dict[str, Any]], detail: list[str]) -> str:
    per = [r["per_handshake"] for r in results]
    names = sorted({k for p in per for k in p if " | " not in k}, key=lambda k: -per[0].get(k, 0))
    lines = ["| area | " + " | ".join(r["python"] for r in results) + " |", "|---" * (len(results) + 1) + "|"]
    lines += [f"| {a} | " + " | ".join(f"{p.get(a, 0):.1f}" for p in per) + " |" for a in names]
    lines.append("| total | " + " | ".join(f"{sum(v for k, v in p.items() if ' | ' not in k):.1f}" for p in per) + " |")
    lines.append("handshakes counted: " + ", ".join(str(r["handshakes"]) for r in results))
    for prefix in detail:
        keys = {k for p in per for k in p if " | " in k and k.startswith(prefix)}
        lines += [f"  {k}: " + " / ".join(f"{p.get(k, 0):.2f}" for p in per)
                  for k in sorted(keys, key=lambda k: -per[0].get(k, 0))]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# instructions (cachegrind)


async def dial_exactly(addr: str, count: int, concurrency: int) -> int:
    """Dial ``addr`` exactly ``count`` times from ``concurrency`` loops; returns the failed dials."""
    sys.path.insert(0, str(DIAL.parent))
    from handshakes import _one_dial  # type: ignore[import-not-found]

    from libp2p.identity.keys import generate_key_pair
    from libp2p.multiaddr import Multiaddr
    from libp2p.peerstore import PeerInfo

    info = PeerInfo.from_multiaddr(Multiaddr(addr))
    left, errors = count, 0

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


def _instructions_of_run(python: str, count: int, concurrency: int) -> int:
    """The listener's instruction count: started, dialed ``count`` times, stopped."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cachegrind.out")
        srv, addr = start_listener(python, wrapper=["valgrind", "--tool=cachegrind", "--cache-sim=no",
                                                    f"--cachegrind-out-file={out}"])
        try:
            dial = subprocess.run([sys.executable, __file__, "_dial_exactly", addr, str(count), str(concurrency)],
                                  capture_output=True, text=True, timeout=1800)
            if dial.returncode != 0 or dial.stdout.strip() != "0":
                raise RuntimeError(f"dialer failed ({dial.returncode}, errors {dial.stdout.strip()}): "
                                   f"{dial.stderr[-500:]}")
            time.sleep(1.0)  # the last connections' close path runs
        finally:
            stop(srv)
        found = re.search(r"^summary:\s+(\d+)", Path(out).read_text(), re.M)
    if found is None:
        raise RuntimeError("no instruction count in cachegrind's output")
    return int(found.group(1))


def instructions(python: str, cfg: argparse.Namespace) -> dict[str, Any]:
    low, high = (int(x) for x in cfg.counts.split(","))
    a = _instructions_of_run(python, low, cfg.concurrency)
    b = _instructions_of_run(python, high, cfg.concurrency)
    return {"python": python, "dials": [low, high], "instructions_per_handshake": round((b - a) / (high - low))}


# ---------------------------------------------------------------------------------------------
# the Noise responder core alone


def responder(count: int) -> dict[str, Any]:
    """As ``libp2p serve`` answers the dialers: one reused ``StaticKey``, a fresh dialer identity each,
    yamux offered in the handshake. Calls of the second handshake (the first signs the host's payload),
    CPU µs per handshake of the rest, and µs of it for the received payload's check and peer ID."""
    from libp2p._accel import IMPLEMENTATION
    from libp2p.identity.keys import generate_key_pair
    from libp2p.identity.peer_id import PeerId
    from libp2p.security.noise.config import NoiseConfig
    from libp2p.security.noise.core import NoiseHandshake, StaticKey

    muxers = ("/yamux/1.0.0",)
    identity, static, config = generate_key_pair(), StaticKey(), NoiseConfig()
    dialers = [NoiseHandshake(True, generate_key_pair(), muxers=muxers) for _ in range(count + 1)]
    counted = {"call": 0, "c_call": 0}

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event in counted:
            counted[event] += 1

    spent = 0.0
    payloads: list[tuple[bytes, bytes]] = []
    for n, dialer in enumerate(dialers):
        profiled = n == 1
        msg1 = dialer.data_to_send()
        t0 = time.process_time()
        sys.setprofile(hook if profiled else None)
        hs = NoiseHandshake(False, identity, muxers=muxers, static_key=static, config=config)
        hs.receive_data(msg1)
        msg2 = hs.data_to_send()
        sys.setprofile(None)
        t1 = time.process_time()
        dialer.receive_data(msg2)
        msg3 = dialer.data_to_send()
        t2 = time.process_time()
        sys.setprofile(hook if profiled else None)
        hs.receive_data(msg3)
        assert hs.next_event() is not None
        hs.transport()
        sys.setprofile(None)
        if n > 1:  # the first two are not timed
            spent += (t1 - t0) + (time.process_time() - t2)
        payloads.append((dialer._payload(), dialer.static_public_key))
    t0 = time.process_time()
    for payload, remote_static in payloads:
        key, _ = NoiseHandshake._verify_payload(payload, remote_static)
        PeerId.from_public_key(key)
    return {"implementation": IMPLEMENTATION, "python_calls": counted["call"], "c_calls": counted["c_call"],
            "responder_us": round(spent / (count - 1) * 1e6, 1),
            "payload_us": round((time.process_time() - t0) / len(payloads) * 1e6, 1)}


# ---------------------------------------------------------------------------------------------
# paired rates


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ab(variants: list[tuple[str, str]], rounds: int, seconds: float) -> dict[str, Any]:
    """Handshakes per listener CPU-second, all variants' listeners dialed at once in each round."""
    rates: dict[str, list[float]] = {name: [] for name, _ in variants}
    for r in range(rounds):
        listeners = {name: start_listener(python) for name, python in variants}
        try:
            start = time.time() + 2.0
            dialers = {name: start_dialer(addr, start, 1.0, seconds) for name, (_, addr) in listeners.items()}
            sleep_until(start + 1)
            cpu0 = {name: _cpu_seconds(srv.pid) for name, (srv, _) in listeners.items()}
            sleep_until(start + 1 + seconds)
            cpu1 = {name: _cpu_seconds(srv.pid) for name, (srv, _) in listeners.items()}
            line = [f"round {r}"]
            for name, dialer in dialers.items():
                out = json.loads(dialer.communicate(timeout=seconds + 120)[0].splitlines()[-1])
                rates[name].append(out["count"] / max(cpu1[name] - cpu0[name], 1e-9))
                line.append(f"{name} {rates[name][-1]:7.0f}/cpu-s ({out['count'] / seconds:5.0f}/s wall, "
                            f"errors {out['errors']})")
            print("  ".join(line), file=sys.stderr, flush=True)
        finally:
            for srv, _ in listeners.values():
                stop(srv)
    result: dict[str, Any] = {"rounds": rounds, "seconds": seconds, "load": os.getloadavg(),
                              "per_round": {n: [round(x) for x in v] for n, v in rates.items()},
                              "median": {n: round(statistics.median(v)) for n, v in rates.items()}}
    if len(variants) == 2:
        (a, _), (b, _) = variants
        ratios = [y / x for x, y in zip(rates[a], rates[b])]
        result["paired"] = {"of": f"{b} / {a}", "per_round": [round(x, 3) for x in ratios],
                            "median": round(statistics.median(ratios), 3)}
    return result


# ---------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    if argv[:1] == ["_dial_exactly"]:
        print(asyncio.run(dial_exactly(argv[1], int(argv[2]), int(argv[3]))))
        return 0
    if argv[:1] == ["_responder"]:
        print(json.dumps(responder(int(argv[1]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("measure", choices=["calls", "areas", "syscalls", "instructions", "responder", "ab"])
    ap.add_argument("args", nargs="*", help="ab: ROUNDS SECONDS")
    ap.add_argument("--python", action="append", metavar="[NAME=]PY",
                    help="interpreter whose libp2p listens (repeatable; ab takes NAME=PY)")
    ap.add_argument("--seconds", type=float, default=3.0, help="calls, areas, syscalls: the counted window")
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--top", type=int, default=25, help="calls: the functions listed")
    ap.add_argument("--detail", action="append", default=[], metavar="AREA",
                    help="areas: also list the calls of areas starting with AREA")
    ap.add_argument("--counts", default="100,500", help="instructions: the two dial counts")
    ap.add_argument("--concurrency", type=int, default=8, help="instructions: dials at a time")
    ap.add_argument("--handshakes", type=int, default=300, help="responder: handshakes run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    cfg = ap.parse_args(argv)
    pythons = cfg.python or [sys.executable]
    if cfg.measure in ("syscalls", "instructions"):
        tool = "strace" if cfg.measure == "syscalls" else "valgrind"
        if shutil.which(tool) is None:
            print(f"{tool} is not installed", file=sys.stderr)
            return 2
    results: list[dict[str, Any]]
    if cfg.measure == "responder":  # in each interpreter's own process
        results = [dict(json.loads(subprocess.run([p, __file__, "_responder", str(cfg.handshakes)], check=True,
                                                  capture_output=True, text=True, cwd=tempfile.gettempdir()
                                                  ).stdout), python=p) for p in pythons]
    elif cfg.measure == "ab":
        if len(cfg.args) != 2:
            ap.error("ab takes ROUNDS SECONDS")
        variants = [tuple(p.split("=", 1)) if "=" in p else (p, p) for p in pythons]
        results = [ab(variants, int(cfg.args[0]), float(cfg.args[1]))]
    else:
        measure = {"calls": calls, "areas": areas, "syscalls": syscalls, "instructions": instructions}[cfg.measure]
        results = [measure(p, cfg) for p in pythons]
    if cfg.measure == "areas":
        print(areas_table(results, cfg.detail))
    else:
        for r in results:
            print(json.dumps(r), flush=True)
    if cfg.json is not None:
        cfg.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
