"""Timeline of one perf-contract client (new process, 1 byte up, 1 byte down): what happens between
the start of the dial and the byte back, with times.

    .venv/bin/python benchmarks/fresh_conn_timeline.py --server-address 127.0.0.1:PORT

Runs the contract client in this process (the ``libp2p perf --server-address ...`` code path) with
probes on the socket (every send and every receive), the Noise handshake, the protocol selections,
identify's processing, the perf stream's writes and reads, and every loop callback over 50 us; prints
each event's time in ms from the client's clock start (just after the host exists, as the contract's
``timeSeconds``) and the loop pass it ran in. Probes cost a few microseconds each: read the times as a
timeline, not as the figure. A perf server must be listening (``libp2p perf --run-server ...``).

Both ends on one timeline (the monotonic clock is shared by the processes):

    ... fresh_conn_timeline.py --server-address 127.0.0.1:PORT --serve server.txt &   # probed server
    ... fresh_conn_timeline.py --server-address 127.0.0.1:PORT --events-out client.txt
    kill -INT %1; ... fresh_conn_timeline.py --merge client.txt server.txt

``--cpu``: no probes; the client thread's CPU time and ``timeSeconds`` of one run, clock start to byte back.
``--segments``: the client's CPU and wall time between its sends and receives (its share of the critical path).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from typing import Any

_events: list[tuple[float, str]] = []
_start = [0.0]
_modules_at_start: set[str] = set()
_busy: list[tuple[float, float]] = []  # (start, duration) of every loop callback


_pass = [0]  # loop passes (_run_once calls) so far


def mark(what: str) -> None:
    _events.append((time.perf_counter(), f"{what}  (pass {_pass[0]})"))


def _wrap(owner: Any, name: str, label: Any, *, after: bool = False) -> None:
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):
        @functools.wraps(original)
        async def async_probe(*args: Any, **kwargs: Any) -> Any:
            mark(label(*args, **kwargs) if callable(label) else label)
            result = await original(*args, **kwargs)
            if after:
                mark((label(*args, **kwargs) if callable(label) else label) + " done")
            return result
        setattr(owner, name, async_probe)
    else:
        @functools.wraps(original)
        def probe(*args: Any, **kwargs: Any) -> Any:
            mark(label(*args, **kwargs) if callable(label) else label)
            result = original(*args, **kwargs)
            if after:
                mark((label(*args, **kwargs) if callable(label) else label) + " done")
            return result
        setattr(owner, name, probe)


def _describe(handle: asyncio.events.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return getattr(coro, "__qualname__", repr(coro))
    return getattr(callback, "__qualname__", repr(callback))


def _from_client_clock() -> bool:
    """Whether the caller of ``perf_counter`` is the contract client itself (its clock), not the
    progress reporter (which may start before the clock)."""
    return sys._getframe(2).f_code.co_name == "_contract_client"


def install() -> None:
    import asyncio.selector_events as se

    from libp2p.cli import perf as cli_perf
    from libp2p.host import host as host_mod
    from libp2p.host import swarm, upgrader
    from libp2p.transport.tcp import TcpTransport
    from libp2p.muxer import connection as mc
    from libp2p.protocols.identify import service as ident
    from libp2p.security.noise import service as noise
    from libp2p.transport.connection import RawConnection

    original_run = asyncio.events.Handle._run

    def run_probe(handle: asyncio.events.Handle) -> None:
        began = time.perf_counter()
        original_run(handle)
        took = time.perf_counter() - began
        _busy.append((began, took))
        if took > 50e-6:  # a loop callback (a task step) that held the loop for over 50 us
            _events.append((began, f"[loop callback {took * 1e3:.3f} ms: {_describe(handle)}]"))

    asyncio.events.Handle._run = run_probe  # type: ignore[method-assign]
    original_run_once = asyncio.base_events.BaseEventLoop._run_once

    def run_once_probe(loop: asyncio.base_events.BaseEventLoop) -> None:
        _pass[0] += 1
        original_run_once(loop)

    asyncio.base_events.BaseEventLoop._run_once = run_once_probe  # type: ignore[method-assign]
    _wrap(se._SelectorSocketTransport, "write", lambda self, data: f"send {len(data)} B")
    _wrap(se._SelectorSocketTransport, "writelines", lambda self, bufs: f"send {sum(map(len, bufs))} B (lines)")
    _wrap(RawConnection, "buffer_updated", lambda self, n: f"recv {n} B")
    _wrap(noise, "noise_handshake", "noise handshake", after=True)
    _wrap(ident.IdentifyService, "_apply", "identify: apply (parse done, record check, peerstore)", after=True)
    _wrap(ident, "consume_peer_record", "identify: signed record verify", after=True)
    _wrap(mc.MuxedConnection, "start", "muxer start", after=True)
    _wrap(mc.MuxedConnection, "open_stream", "open stream")
    _wrap(mc.MuxedStream, "write", lambda self, data: f"stream {self.stream_id} write {len(data)} B")
    _wrap(mc.MuxedStream, "write_soon", lambda self, data: f"stream {self.stream_id} write_soon {len(data)} B")
    _wrap(mc.MuxedStream, "close", lambda self: f"stream {self.stream_id} close")
    _wrap(mc.MuxedStream, "_feed", lambda self, data: f"stream {self.stream_id} data {len(data)} B in")
    _wrap(mc.MuxedStream, "_feed_eof", lambda self: f"stream {self.stream_id} EOF in")
    _wrap(host_mod.Host, "connect", "host.connect", after=True)
    _wrap(swarm.Swarm, "_dial_one", "swarm: dial one address", after=True)
    _wrap(TcpTransport, "dial", "tcp: connect", after=True)
    _wrap(upgrader.Upgrader, "upgrade", "upgrader", after=True)
    _wrap(host_mod.Host, "new_stream", "host.new_stream", after=True)
    _wrap(cli_perf, "_exchange", "perf exchange", after=True)
    original_perf_counter = cli_perf.time.perf_counter

    class _Clock:
        """The contract client's clock: its first reading (the start) is recorded."""

        first = True

        def perf_counter(self) -> float:
            t = original_perf_counter()
            if _Clock.first and _from_client_clock():
                _Clock.first = False
                _start[0] = t
                _events.append((t, "clock start (before the dial)"))
                _modules_at_start.update(sys.modules)
            return t

    cli_perf.time = _Clock()  # type: ignore[assignment]


def _serve(address: str, out: str) -> int:
    """A probed perf server: at exit (SIGINT/SIGTERM) its events go to ``out`` (monotonic clock
    times, the same clock as the client's ``perf_counter`` on Linux)."""
    from libp2p.cli import main as cli_main

    try:
        return int(cli_main(["perf", "--loop", "asyncio", "--muxer", "yamux", "--run-server",
                             "--server-address", address]) or 0)
    finally:
        with open(out, "w") as f:
            for t, what in _events:
                f.write(f"{t!r} {what}\n")


def client_cpu(address: str) -> tuple[float, float]:
    """One contract client with no probes: (its thread's CPU seconds, its ``timeSeconds``), both
    from the clock start to the byte back."""
    import contextlib
    import io

    from libp2p.cli import main as cli_main
    from libp2p.cli import perf as cli_perf

    perf_counter = time.perf_counter
    cpu: list[float] = []
    wall: list[float] = []

    class _Clock:
        def perf_counter(self) -> float:
            if not cpu and _from_client_clock():
                cpu.append(time.thread_time())
            return perf_counter()

    emit = cli_perf._emit

    def recording_emit(obj: dict[str, Any]) -> None:
        if obj.get("type") == "final":
            cpu.append(time.thread_time())
            wall.append(obj["timeSeconds"])
        emit(obj)

    cli_perf.time = _Clock()  # type: ignore[assignment]
    cli_perf._emit = recording_emit
    with contextlib.redirect_stdout(io.StringIO()):
        cli_main(["perf", "--loop", "asyncio", "--muxer", "yamux", "--server-address", address, "--transport", "tcp",
                  "--upload-bytes", "1", "--download-bytes", "1"])
    return cpu[1] - cpu[0], wall[0]


def client_segments(address: str) -> list[tuple[str, float, float]]:
    """One contract client with two light probes (socket sends, receives): for each send/receive
    from the clock start to the byte back, (what, client thread CPU ms since the previous one, wall
    ms since the previous one). CPU between a receive and the next send is the client's own share
    of the critical path; wall beyond CPU is waiting (for the server, or for this CPU)."""
    import asyncio.selector_events as se
    import contextlib
    import io

    from libp2p.cli import main as cli_main
    from libp2p.cli import perf as cli_perf
    from libp2p.transport.connection import RawConnection

    marks: list[tuple[str, float, float]] = []
    recording = [False]

    def mark_now(what: str) -> None:
        if recording[0]:
            marks.append((what, time.thread_time(), time.perf_counter()))

    write = se._SelectorSocketTransport.write
    received = RawConnection.buffer_updated

    def probed_write(self: Any, data: Any) -> None:
        mark_now(f"send {len(data)} B")
        write(self, data)

    def probed_received(self: RawConnection, n: int) -> None:
        mark_now(f"recv {n} B")
        received(self, n)

    perf_counter = time.perf_counter

    class _Clock:
        def perf_counter(self) -> float:
            if not recording[0] and not marks and _from_client_clock():
                recording[0] = True
                mark_now("clock start")
            return perf_counter()

    emit = cli_perf._emit

    def recording_emit(obj: dict[str, Any]) -> None:
        if obj.get("type") == "final":
            mark_now("byte back (clock stop)")
            recording[0] = False
        emit(obj)

    se._SelectorSocketTransport.write = probed_write  # type: ignore[method-assign]
    RawConnection.buffer_updated = probed_received  # type: ignore[method-assign]
    cli_perf.time = _Clock()  # type: ignore[assignment]
    cli_perf._emit = recording_emit
    with contextlib.redirect_stdout(io.StringIO()):
        cli_main(["perf", "--loop", "asyncio", "--muxer", "yamux", "--server-address", address, "--transport", "tcp",
                  "--upload-bytes", "1", "--download-bytes", "1"])
    return [(what, (cpu - marks[i - 1][1]) * 1e3, (wall - marks[i - 1][2]) * 1e3)
            for i, (what, cpu, wall) in enumerate(marks) if i > 0]


def _read_events(path: str) -> list[tuple[float, str]]:
    with open(path) as f:
        return [(float(stamp), what) for stamp, what in (line.rstrip("\n").split(" ", 1) for line in f)]


def print_timeline(client: list[tuple[float, str]], server: list[tuple[float, str]], t0: float) -> None:
    """Client events on the left, server events (those in the client's time span) indented."""
    t1 = max(t for t, _ in client)
    merged = [(t, 0, what) for t, what in client if t >= t0]
    merged += [(t, 1, what) for t, what in server if t0 <= t <= t1]
    for t, side, what in sorted(merged):
        print(f"{(t - t0) * 1e3:8.3f} ms  {' ' * 40 * side}{what}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server-address", help="the perf server to dial (or to serve on, with --serve)")
    ap.add_argument("--serve", metavar="EVENTS_FILE",
                    help="run a probed perf server instead; its events go to EVENTS_FILE at exit")
    ap.add_argument("--events-out", metavar="EVENTS_FILE", help="client: also save the raw events")
    ap.add_argument("--merge", nargs=2, metavar=("CLIENT_EVENTS", "SERVER_EVENTS"),
                    help="print one client's timeline with the probed server's events beside it")
    ap.add_argument("--cpu", action="store_true",
                    help="no probes: print the client thread's CPU ms and its timeSeconds in ms")
    ap.add_argument("--segments", action="store_true",
                    help="probes on sends/receives only: client CPU and wall ms between them, clock to byte")
    cfg = ap.parse_args(argv)
    if cfg.segments:
        print(" | ".join(f"{what}: cpu +{cpu:.3f} wall +{wall:.3f}" for what, cpu, wall in client_segments(cfg.server_address)))
        return 0
    if cfg.cpu:
        cpu, wall = client_cpu(cfg.server_address)
        print(f"client thread CPU {cpu * 1e3:.3f} ms, timeSeconds {wall * 1e3:.3f} ms")
        return 0
    if cfg.merge:
        client = _read_events(cfg.merge[0])
        start = next(t for t, what in client if what.startswith("clock start"))
        print_timeline(client, _read_events(cfg.merge[1]), start)
        return 0
    if not cfg.server_address:
        ap.error("--server-address is required")
    install()
    if cfg.serve:
        return _serve(cfg.server_address, cfg.serve)
    from libp2p.cli import main as cli_main

    rc = cli_main(["perf", "--loop", "asyncio", "--muxer", "yamux", "--server-address", cfg.server_address,
                   "--transport", "tcp", "--upload-bytes", "1", "--download-bytes", "1"])
    if cfg.events_out:
        with open(cfg.events_out, "w") as f:
            for t, what in _events:
                f.write(f"{t!r} {what}\n")
    print_timeline(_events, [], _start[0])
    done = next((t for t, what in _events if what.startswith("perf exchange done")), None)
    if done is not None:
        busy = sum(d for b, d in _busy if _start[0] <= b <= done)
        total = done - _start[0]
        print(f"client loop busy {busy * 1e3:.3f} ms of {total * 1e3:.3f} ms (waiting {(total - busy) * 1e3:.3f} ms)")
    late = sorted(set(sys.modules) - _modules_at_start)
    if late:
        print(f"modules imported after the clock started: {', '.join(late)}")
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
