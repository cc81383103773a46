"""Counts per inbound handshake on a listener: Python calls, loop passes and callbacks, syscalls.

    .venv/bin/python benchmarks/handshake_counts.py [--python PY] [--duration 3] [--loop uvloop|asyncio]
                                                     [--strace] [--top 25]

Starts ``libp2p serve --perf`` with ``--python`` (default: this interpreter; run from outside the checkout
to measure another one, e.g. the main branch's), dials it with one process of
``benchmarks/suites/handshakes.py``'s ``_dial`` (16 loops: TCP + /noise + Noise XX with yamux inside the
handshake + one yamux ping, then close) and, over a window after a warm-up, counts on the listener:

* Python function calls (``cProfile``, C functions included) per accepted connection
  (``Swarm._on_inbound`` calls: one per accepted TCP connection);
* with ``--loop asyncio``: event-loop passes (``BaseEventLoop._run_once``) and callbacks run
  (``Handle._run``) per connection (uvloop runs both in C, where a profiler cannot see them);
* with ``--strace``: syscalls per connection of the listener (``strace -c -f``, a separate window,
  as strace slows the process down);
* with ``--callgrind N``: instructions the listener's event loop executes per handshake (valgrind's
  callgrind, counting only inside ``uv_run``), from two runs of N/2 and N dials (the difference
  removes what does not depend on the number of handshakes). Deterministic enough to compare
  two builds on a loaded machine, where CPU time per handshake is not.

Counts, not times, so a loaded machine changes them little. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIAL = HERE / "suites" / "handshakes.py"

# Run in the listener before the CLI: SIGUSR1 starts the profiler, SIGUSR2 stops it and writes
# its stats to $HS_COUNTS_OUT.
PRELUDE = """
import cProfile, os, signal
_prof = cProfile.Profile()
def _on(*_): _prof.enable()
def _off(*_):
    _prof.disable(); _prof.dump_stats(os.environ["HS_COUNTS_OUT"])
signal.signal(signal.SIGUSR1, _on)
signal.signal(signal.SIGUSR2, _off)
"""


def _start_listener(python: str, loop: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    code = (PRELUDE + "\nimport sys\nsys.argv=['libp2p','serve','--perf','--loop',%r]\n"
            "from libp2p.cli import main\nsys.exit(main())\n") % loop
    srv = subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                           env=env)
    assert srv.stdout is not None
    addr = json.loads(srv.stdout.readline())["multiaddrs"][0]
    return srv, addr


def _start_dialer(addr: str, start: float, warmup: float, duration: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(DIAL), "_dial", "--to", addr, "--concurrency", "16",
                             "--start", f"{start}", "--warmup", f"{warmup}", "--duration", f"{duration}"],
                            stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def _calls(stats: pstats.Stats, name: str, filename_part: str = "") -> int:
    total = 0
    for (filename, _, func), (_, ncalls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and filename_part in filename:
            total += ncalls
    return total


def profile_counts(python: str, loop: str, duration: float, top: int, save: str | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "listener.prof")
        env = dict(os.environ, HS_COUNTS_OUT=out)
        srv, addr = _start_listener(python, loop, env)
        try:
            start = time.time() + 1.5
            dialer = _start_dialer(addr, start, 1.0, duration + 1.0)
            _sleep_until(start + 1.5)
            srv.send_signal(signal.SIGUSR1)
            _sleep_until(start + 1.5 + duration)
            srv.send_signal(signal.SIGUSR2)
            dialed = json.loads(dialer.communicate()[0].splitlines()[-1])
            _wait_for_profile(out)
        finally:
            srv.terminate()
            srv.wait()
        stats = pstats.Stats(out)
        if save:
            stats.dump_stats(save)
    conns = _calls(stats, "_on_inbound", "swarm.py")
    total = stats.total_calls  # type: ignore[attr-defined]
    per = max(conns, 1)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][1], reverse=True)[:top]  # type: ignore[attr-defined]
    result: dict[str, object] = {
        "loop": loop,
        "connections": conns,
        "dialer_errors": dialed.get("errors"),
        "python_calls_per_conn": round(total / per, 1),
        "top_calls_per_conn": [
            [f"{Path(f).name}:{ln}({fn})", round(v[1] / per, 2), round(1e6 * v[2] / per, 1)] for (f, ln, fn), v in rows
        ],
    }
    if loop == "asyncio":
        result["loop_passes_per_conn"] = round(_calls(stats, "_run_once", "base_events.py") / per, 2)
        result["callbacks_per_conn"] = round(_calls(stats, "_run", "events.py") / per, 2)
        result["tasks_per_conn"] = round(_calls(stats, "__init__", "tasks.py") / per, 2)
    return result


def _wait_for_profile(path: str) -> None:
    """The listener writes its profile on SIGUSR2: wait (bounded) until the file is there."""
    for _ in range(100):
        if os.path.exists(path) and os.path.getsize(path) > 0:
            break
        time.sleep(0.05)
    time.sleep(0.2)


def strace_counts(python: str, loop: str, duration: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "strace.txt")
        out = os.path.join(tmp, "listener.prof")
        srv, addr = _start_listener(python, loop, dict(os.environ, HS_COUNTS_OUT=out))
        try:
            start = time.time() + 1.5
            dialer = _start_dialer(addr, start, 1.0, duration + 1.0)
            _sleep_until(start + 1.0)
            tracer = subprocess.Popen(["strace", "-c", "-f", "-o", trace, "-p", str(srv.pid)],
                                      stderr=subprocess.DEVNULL)
            # the profiler counts the connections accepted in the same window (its cost is the
            # same in both runs compared; syscalls are what is counted here)
            _sleep_until(start + 1.5)
            srv.send_signal(signal.SIGUSR1)
            _sleep_until(start + 1.5 + duration)
            srv.send_signal(signal.SIGUSR2)
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
            dialer.communicate()
            _wait_for_profile(out)
        finally:
            srv.terminate()
            srv.wait()
        conns = _calls(pstats.Stats(out), "_on_inbound", "swarm.py")
        lines = Path(trace).read_text().splitlines()
    calls: dict[str, int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    # the strace window is half a second longer than the profiled one: scale the connections
    per = max(conns, 1) * (duration + 0.5) / duration
    return {
        "syscalls_per_conn": round(sum(calls.values()) / per, 2),
        "by_syscall_per_conn": {k: round(v / per, 2) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])},
    }


# Dials the address exactly N times from C loops at once (handshakes.py's _one_dial).
_COUNTED_DIALS = """
import asyncio, sys
sys.path.insert(0, sys.argv[4])
from handshakes import _one_dial
async def main(addr, n, c):
    from libp2p.identity.keys import generate_key_pair
    from libp2p.multiaddr import Multiaddr
    from libp2p.peerstore import PeerInfo
    info = PeerInfo.from_multiaddr(Multiaddr(addr))
    left = [n]; errors = [0]
    async def slot():
        key = generate_key_pair()
        while left[0] > 0:
            left[0] -= 1
            try:
                await _one_dial(info.addrs[0], info.peer_id, key, 120.0)
            except Exception:
                errors[0] += 1
    await asyncio.gather(*(slot() for _ in range(c)))
    print(errors[0])
asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def _callgrind_run(python: str, dials: int) -> int:
    """Instructions executed inside the listener's ``uv_run`` while it accepts ``dials`` handshakes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        code = "import sys; sys.argv=['libp2p','serve','--perf','--loop','uvloop']; from libp2p.cli import main; sys.exit(main())"
        srv = subprocess.Popen(["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=uv_run",
                                f"--callgrind-out-file={out}", python, "-c", code],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp)
        try:
            assert srv.stdout is not None
            addr = json.loads(srv.stdout.readline())["multiaddrs"][0]
            errors = subprocess.run([sys.executable, "-c", _COUNTED_DIALS, addr, str(dials), "8", str(DIAL.parent)],
                                    capture_output=True, text=True, cwd=tmp, check=True).stdout.strip()
            if errors != "0":
                raise RuntimeError(f"{errors} of {dials} dials failed")
            time.sleep(1.0)
        finally:
            srv.send_signal(signal.SIGTERM)
            srv.wait()
        if os.environ.get("HS_COUNTS_KEEP"):
            shutil.copy(out, os.environ["HS_COUNTS_KEEP"] + f".{dials}")
        for line in Path(out).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in the callgrind output")


def callgrind_counts(python: str, dials: int) -> dict[str, object]:
    half = _callgrind_run(python, dials // 2)
    full = _callgrind_run(python, dials)
    return {"callgrind_dials": dials, "instructions_per_handshake": round((full - half) / (dials - dials // 2)),
            "instructions_total_full_run": full}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="handshake_counts.py")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--save-profile", help="also write the listener's cProfile stats here")
    ap.add_argument("--callgrind", type=int, metavar="N", help="only: instructions per handshake over N dials")
    cfg = ap.parse_args(argv)
    if cfg.callgrind:
        print(json.dumps(callgrind_counts(cfg.python, cfg.callgrind)), flush=True)
        return 0
    result = profile_counts(cfg.python, cfg.loop, cfg.duration, cfg.top, cfg.save_profile)
    if cfg.strace:
        result.update(strace_counts(cfg.python, cfg.loop, cfg.duration))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
