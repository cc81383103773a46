#!/usr/bin/env python3
"""End-to-end benchmark of the connection stack: TCP loopback + Noise + yamux/mplex.

One invocation measures, in the same run and on the same machine:

* ours (aiolibp2p) host to host, server and client in two processes, for each twin (Cython,
  and pure Python via ``LIBP2P_NO_EXTENSIONS=1``) and each event loop (asyncio, uvloop):
  one-stream bulk throughput with the perf protocol (``/perf/1.0.0``: upload N, then download
  N, each on a new stream of one warm connection; median of K runs), ping RTT on one stream
  (median/min/max of P round trips), and dial → first ping (new connection each time, warm
  process; median of D) with the sequential handshake rate;
* js-libp2p (``interop/js/peer.mjs``: ``listen --perf`` and ``perf``) doing the same work,
  js↔js, and ours↔js in both directions;
* baselines: raw TCP loopback throughput (Python sockets, big ``sendall``/``recv_into``, two
  processes) and ChaCha20-Poly1305 throughput on one core (cryptography, 64 KiB messages).

It writes JSON (machine, load, versions, raw samples and summaries) to
``benchmarks/results/stack-<UTC date-time>.json`` and prints a markdown table.

    .venv/bin/python benchmarks/e2e/bench_stack.py            # full run (a few minutes)
    .venv/bin/python benchmarks/e2e/bench_stack.py --smoke    # CI smoke: tiny sizes, seconds

Every subprocess is started and stopped by its own handle, every wait is bounded. The same
file is the server (``_server``), the client (``_client``) and the raw TCP sink
(``_tcp_sink``) when run with those internal sub-commands.

MB/s here means 10**6 bytes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import queue
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Self

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
INSTALL_JS = REPO / "ci" / "install_js_peer.sh"
MIB = 1 << 20

# ---------------------------------------------------------------------------------------------
# helpers shared by every role


def _run_loop(main: Any, loop_name: str) -> Any:
    # as the `libp2p` command does (libp2p/allocator.py): without it, which process receives at
    # full speed depends on glibc's heap history (it was yamux on uvloop at half speed)
    from libp2p.allocator import tune_allocator

    tune_allocator()
    if loop_name == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def _rusage() -> dict[str, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"user": ru.ru_utime, "system": ru.ru_stime}


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _stdin_closed_event(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    """An event set when stdin reaches EOF (the parent closed it or died)."""
    event = asyncio.Event()

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            loop.call_soon_threadsafe(event.set)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    return event


# ---------------------------------------------------------------------------------------------
# role: our server


async def _server_main(args: argparse.Namespace) -> None:
    from libp2p import IMPLEMENTATION, new_host
    from libp2p.protocols.perf.service import PerfService

    stop = _stdin_closed_event(asyncio.get_running_loop())
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[PerfService()]) as host:
        _emit({
            "peer_id": str(host.peer_id),
            "multiaddrs": [str(a) for a in host.full_addrs()],
            "implementation": IMPLEMENTATION,
            "loop": args.loop,
        })
        await stop.wait()
    _emit({"rusage": _rusage()})


# ---------------------------------------------------------------------------------------------
# role: our client


async def _ping_rtts(host: Any, peer: Any, count: int) -> list[float]:
    """``count`` ping round trips on one ``/ipfs/ping/1.0.0`` stream, timed with ``perf_counter``.

    The same exchange as ``host.services["ping"].ping(peer, count)``, which times with ``loop.time()``:
    uvloop's clock ticks in whole milliseconds, too coarse for loopback round trips.
    """
    from libp2p.protocols.ping.wire import PING_LENGTH, PROTOCOL_ID

    stream = await host.new_stream(peer, [PROTOCOL_ID])
    rtts = []
    try:
        for _ in range(count):
            payload = os.urandom(PING_LENGTH)
            t0 = time.perf_counter()
            await stream.write(payload)
            echoed = await stream.readexactly(PING_LENGTH)
            rtts.append(time.perf_counter() - t0)
            if echoed != payload:
                raise RuntimeError("ping: wrong payload echoed")
    except BaseException:
        await stream.reset()
        raise
    await stream.close()
    return rtts


async def _client_main(args: argparse.Namespace) -> dict[str, Any]:
    from libp2p import IMPLEMENTATION, new_host
    from libp2p.host.upgrader import MPLEX, YAMUX
    from libp2p.multiaddr import Multiaddr
    from libp2p.protocols.perf.service import perf

    muxer_id = {"yamux": YAMUX, "mplex": MPLEX}[args.muxer]
    target = Multiaddr(args.to)
    result: dict[str, Any] = {
        "implementation": IMPLEMENTATION, "loop": args.loop, "muxer": None,
        "upload_bytes": args.upload_bytes, "download_bytes": args.download_bytes,
        "upload_seconds": [], "download_seconds": [], "upload_cpu_seconds": [], "download_cpu_seconds": [],
        "ping_rtts": [],
        "dial_seconds": [], "dial_ping_seconds": [], "errors": [],
    }
    clock = time.perf_counter
    try:
        async with asyncio.timeout(args.timeout):
            options: dict[str, Any] = {}
            if "/quic-v1" in args.to:
                from libp2p.transport.quic import QuicTransport

                options["transports"] = [QuicTransport()]
            if args.security == "tls":
                from libp2p.security.tls import PROTOCOL_ID as TLS

                options["security"] = [TLS]
            async with new_host(muxers=[muxer_id], **options) as host:
                peer = await host.connect(target)
                result["muxer"] = host.connections(peer)[0].muxer_id
                up, down = args.upload_bytes, args.download_bytes
                if up or down:  # warm-up on each path
                    await perf(host, peer, min(up, 16 * MIB), min(down, 16 * MIB))
                for _ in range(args.iterations if up else 0):
                    c0 = time.process_time()
                    result["upload_seconds"].append((await perf(host, peer, up, 0)).total_seconds)
                    result["upload_cpu_seconds"].append(time.process_time() - c0)
                for _ in range(args.iterations if down else 0):
                    c0 = time.process_time()
                    result["download_seconds"].append((await perf(host, peer, 0, down)).total_seconds)
                    result["download_cpu_seconds"].append(time.process_time() - c0)
                if args.pings:
                    await _ping_rtts(host, peer, min(10, args.pings))  # warm-up
                    result["ping_rtts"] = await _ping_rtts(host, peer, args.pings)
                await host.disconnect(peer)
                for i in range(args.dials + 1 if args.dials else 0):
                    t0 = clock()
                    await host.connect(target)
                    t1 = clock()
                    await host.services["ping"].ping(peer, 1)
                    t2 = clock()
                    if i:  # the first one is a warm-up
                        result["dial_seconds"].append(t1 - t0)
                        result["dial_ping_seconds"].append(t2 - t0)
                    await host.disconnect(peer)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the parent wants the JSON
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    result["rusage"] = _rusage()
    return result


# ---------------------------------------------------------------------------------------------
# role: raw TCP sink (baseline)


def _tcp_sink_main(args: argparse.Namespace) -> None:
    """Accept connections one after another; read each to EOF, answer the byte count."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(args.timeout)
    _emit({"port": srv.getsockname()[1]})
    buf = bytearray(4 * MIB)
    view = memoryview(buf)
    for _ in range(args.connections):
        conn, _addr = srv.accept()
        conn.settimeout(args.timeout)
        total = 0
        while True:
            n = conn.recv_into(view)
            if not n:
                break
            total += n
        conn.sendall(total.to_bytes(8, "big"))
        conn.close()
    srv.close()


# ---------------------------------------------------------------------------------------------
# the orchestrator: process handles


class Proc:
    """A child process whose stdout lines are collected by a thread; stopped by its handle."""

    def __init__(self, argv: list[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
                 keep_stdin: bool = True) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if keep_stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd, text=True, bufsize=1,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail.append(line)
            del self.stderr_tail[:-40]

    def json_line(self, timeout: float) -> dict[str, Any]:
        """The next stdout line that is a JSON object (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.argv[:3]}: no JSON line within {timeout:.0f} s; stderr: {self.err()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=5)
                raise RuntimeError(f"{self.argv[:3]} exited ({self.proc.returncode}) without JSON; stderr: {self.err()}")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def err(self) -> str:
        return "".join(self.stderr_tail)[-2000:]

    def stop(self, timeout: float = 5.0) -> None:
        """Close stdin (the child's signal to exit), then SIGTERM, then SIGKILL, each bounded."""
        p = self.proc
        if p.stdin is not None and not p.stdin.closed:
            try:
                p.stdin.close()
            except OSError:
                pass
        for step in (None, p.terminate, p.kill):
            if step is not None and p.poll() is None:
                step()
            try:
                p.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _py_env(impl: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LIBP2P_NO_EXTENSIONS", None)
    if impl == "python":
        env["LIBP2P_NO_EXTENSIONS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _self_argv(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


# ---------------------------------------------------------------------------------------------
# the orchestrator: endpoints


class OurServer:
    def __init__(self, impl: str, loop: str, timeout: float) -> None:
        self.label = f"ours/{impl}/{loop}"
        self.proc = Proc(_self_argv("_server", "--loop", loop), env=_py_env(impl))
        self.info = self.proc.json_line(timeout)
        self.addr = self.info["multiaddrs"][0]

    def close(self) -> dict[str, Any]:
        self.proc.stop()
        tail = {}
        while True:
            try:
                line = self.proc.lines.get_nowait()
            except queue.Empty:
                break
            if line and line.strip().startswith("{"):
                tail = json.loads(line)
        return tail


class JsServer:
    def __init__(self, js_dir: Path, muxer: str, timeout: float) -> None:
        self.label = "js"
        self.proc = Proc(["node", "peer.mjs", "listen", "--perf", "--no-connection-monitor", "--muxer", muxer],
                         cwd=js_dir)
        self.info = self.proc.json_line(timeout)
        self.addr = self.info["multiaddrs"][0]

    def close(self) -> dict[str, Any]:
        self.proc.stop()
        return {}


def run_our_client(impl: str, loop: str, to: str, muxer: str, cfg: argparse.Namespace) -> dict[str, Any]:
    argv = _self_argv(
        "_client", "--loop", loop, "--to", to, "--muxer", muxer,
        "--upload-bytes", str(cfg.bytes), "--download-bytes", str(cfg.bytes),
        "--iterations", str(cfg.iterations), "--pings", str(cfg.pings), "--dials", str(cfg.dials),
        "--timeout", str(cfg.client_timeout),
    )
    with Proc(argv, env=_py_env(impl), keep_stdin=False) as p:
        return p.json_line(cfg.client_timeout + 30)


def run_js_client(js_dir: Path, to: str, muxer: str, cfg: argparse.Namespace) -> dict[str, Any]:
    argv = ["node", "peer.mjs", "perf", "--to", to, "--muxer", muxer, "--no-connection-monitor",
            "--upload-bytes", str(cfg.bytes), "--download-bytes", str(cfg.bytes),
            "--iterations", str(cfg.iterations), "--pings", str(cfg.pings), "--dials", str(cfg.dials),
            "--timeout-ms", str(int(cfg.client_timeout * 1000))]
    with Proc(argv, cwd=js_dir, keep_stdin=False) as p:
        return p.json_line(cfg.client_timeout + 30)


# ---------------------------------------------------------------------------------------------
# baselines


def bench_raw_tcp(nbytes: int, iterations: int, timeout: float) -> dict[str, Any]:
    """Python sockets over loopback: sendall of 1 MiB views here, recv_into 4 MiB in a child."""
    chunk = memoryview(bytes(MIB))
    seconds = []
    with Proc(_self_argv("_tcp_sink", "--connections", str(iterations + 1), "--timeout", str(timeout)),
              keep_stdin=False) as sink:
        port = sink.json_line(timeout)["port"]
        for i in range(iterations + 1):
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                t0 = time.perf_counter()
                left = nbytes
                while left > 0:
                    part = chunk if left >= MIB else chunk[:left]
                    s.sendall(part)
                    left -= len(part)
                s.shutdown(socket.SHUT_WR)
                got = b""
                while len(got) < 8:
                    more = s.recv(8 - len(got))
                    if not more:
                        break
                    got += more
                dt = time.perf_counter() - t0
            if int.from_bytes(got, "big") != nbytes:
                raise RuntimeError(f"raw TCP sink got {got!r}, expected {nbytes}")
            if i:
                seconds.append(dt)
    return {"bytes": nbytes, "seconds": seconds, "mb_s": _mbs(nbytes, seconds)}


def bench_chacha(msg_len: int, min_seconds: float) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    aead = ChaCha20Poly1305(bytes(32))
    msg = bytes(msg_len)
    nonce = bytes(12)
    ct = aead.encrypt(nonce, msg, None)
    out = {}
    for name, fn, arg in (("encrypt", aead.encrypt, msg), ("decrypt", aead.decrypt, ct)):
        n = 0
        t0 = time.perf_counter()
        while True:
            for _ in range(64):
                fn(nonce, arg, None)
            n += 64
            dt = time.perf_counter() - t0
            if dt >= min_seconds:
                break
        out[name + "_mb_s"] = n * msg_len / dt / 1e6
    out["message_bytes"] = msg_len
    return out


# ---------------------------------------------------------------------------------------------
# summaries


def _mbs(nbytes: int, seconds: list[float]) -> float | None:
    return nbytes / statistics.median(seconds) / 1e6 if seconds else None


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {"errors": raw.get("errors", [])}
    s["upload_mb_s"] = _mbs(raw["upload_bytes"], raw["upload_seconds"])
    s["download_mb_s"] = _mbs(raw["download_bytes"], raw["download_seconds"])
    # The client's own CPU time per transfer (user + system): sending when uploading, receiving
    # when downloading. Far less sensitive to other load on the machine than wall-clock rates.
    s["send_mb_per_cpu_s"] = _mbs(raw["upload_bytes"], raw.get("upload_cpu_seconds", []))
    s["recv_mb_per_cpu_s"] = _mbs(raw["download_bytes"], raw.get("download_cpu_seconds", []))
    all_runs = [raw["upload_bytes"] / x / 1e6 for x in raw["upload_seconds"]] + \
               [raw["download_bytes"] / x / 1e6 for x in raw["download_seconds"]]
    s["throughput_runs_mb_s"] = [round(x, 1) for x in all_runs]
    rtts = raw["ping_rtts"]
    if rtts:
        s["ping_ms"] = {"median": statistics.median(rtts) * 1e3, "min": min(rtts) * 1e3, "max": max(rtts) * 1e3,
                        "n": len(rtts)}
    dials, dial_pings = raw["dial_seconds"], raw["dial_ping_seconds"]
    if dials:
        s["dial_ms"] = {"median": statistics.median(dials) * 1e3, "min": min(dials) * 1e3, "max": max(dials) * 1e3,
                        "n": len(dials)}
        s["dial_ping_ms"] = {"median": statistics.median(dial_pings) * 1e3, "min": min(dial_pings) * 1e3,
                             "max": max(dial_pings) * 1e3}
        # sequential: one dial at a time from one client (TCP connect + multistream + Noise XX + muxer)
        s["handshakes_per_s"] = len(dials) / sum(dials)
    return s


# ---------------------------------------------------------------------------------------------
# environment


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions(js_dir: Path | None) -> dict[str, Any]:
    v: dict[str, Any] = {"python": platform.python_version(), "python_impl": platform.python_implementation()}
    for mod in ("Cython", "cryptography", "uvloop", "nacl"):
        try:
            m = __import__(mod)
            v[mod.lower()] = getattr(m, "__version__", None)
        except ImportError:
            v[mod.lower()] = None
    for impl in ("cython", "python"):
        out = subprocess.run([sys.executable, "-c", "import libp2p; print(libp2p.IMPLEMENTATION, libp2p.__version__)"],
                             env=_py_env(impl), capture_output=True, text=True, timeout=60, check=False)
        v[f"libp2p_{impl}"] = out.stdout.strip() or out.stderr.strip()[-300:]
    try:
        v["git_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                         text=True, timeout=10, check=False).stdout.strip()
        v["git_dirty"] = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "libp2p"],
                                             capture_output=True, text=True, timeout=10, check=False).stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    if js_dir is not None:
        v["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10,
                                   check=False).stdout.strip()
        for pkg in ("libp2p", "@chainsafe/libp2p-noise", "@chainsafe/libp2p-yamux", "@libp2p/mplex", "@libp2p/tcp"):
            try:
                v[f"js:{pkg}"] = json.loads((js_dir / "node_modules" / pkg / "package.json").read_text())["version"]
            except (OSError, ValueError, KeyError):
                v[f"js:{pkg}"] = None
    return v


def _machine() -> dict[str, Any]:
    return {"cpu": _cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()}


def _install_js() -> Path | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    proc = subprocess.run(["bash", str(INSTALL_JS)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=900, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"install_js_peer.sh failed: {proc.stderr[-2000:]}")
    return Path(lines[-1])


# ---------------------------------------------------------------------------------------------
# the orchestrator


def _pair(results: list[dict[str, Any]], *, server: str, client: str, muxer: str, raw: dict[str, Any]) -> None:
    """Record one client run; a repeated (client, server, muxer) pools its samples with the earlier ones."""
    entry = next((e for e in results if (e["client"], e["server"], e["muxer"]) == (client, server, muxer)), None)
    if entry is None:
        entry = {"server": server, "client": client, "muxer": muxer, "raw": raw, "rounds": 1}
        results.append(entry)
    else:
        pooled = entry["raw"]
        for key, value in raw.items():
            if isinstance(value, list) and isinstance(pooled.get(key), list):
                pooled[key].extend(value)
        entry["rounds"] += 1
    entry["summary"] = summarize(entry["raw"])
    sm = summarize(raw)
    up, down = sm.get("upload_mb_s"), sm.get("download_mb_s")
    ping = sm.get("ping_ms", {}).get("median")
    dial = sm.get("dial_ping_ms", {}).get("median")
    print(f"  {client:>20} -> {server:<20} {muxer:5}  up {_f(up)} MB/s  down {_f(down)} MB/s  "
          f"ping {_f(ping, 3)} ms  dial+ping {_f(dial, 2)} ms  {'ERR ' + str(sm['errors']) if sm['errors'] else ''}",
          file=sys.stderr, flush=True)


def _f(x: float | None, nd: int = 0) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _failed(client: str, server: str, exc: BaseException) -> dict[str, Any]:
    return {"implementation": client, "upload_bytes": 0, "download_bytes": 0, "upload_seconds": [],
            "download_seconds": [], "ping_rtts": [], "dial_seconds": [], "dial_ping_seconds": [],
            "errors": [f"{type(exc).__name__}: {exc}"]}


def orchestrate(cfg: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    load_before = os.getloadavg()
    js_dir = None if cfg.no_js else _install_js()
    if js_dir is None and not cfg.no_js:
        print("node/npm not found: skipping js-libp2p", file=sys.stderr)
    impls = ["cython"] + ([] if cfg.no_pure else ["python"])
    loops = ["asyncio"] + ([] if cfg.no_uvloop else ["uvloop"])
    muxers = cfg.muxers
    out: dict[str, Any] = {
        "benchmark": "connection stack (TCP loopback + Noise + yamux/mplex)",
        "started_utc": _dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {"bytes": cfg.bytes, "iterations": cfg.iterations, "pings": cfg.pings, "dials": cfg.dials,
                     "muxers": muxers, "repeat": cfg.repeat, "smoke": cfg.smoke},
        "machine": _machine(),
        "versions": _versions(js_dir),
        "load_before": load_before,
        "baselines": {},
        "pairs": [],
    }
    print("baselines ...", file=sys.stderr, flush=True)
    out["baselines"]["raw_tcp"] = bench_raw_tcp(cfg.bytes, cfg.iterations, cfg.client_timeout)
    out["baselines"]["chacha20poly1305"] = bench_chacha(64 * 1024, 0.2 if cfg.smoke else 1.0)
    print(f"  raw TCP {_f(out['baselines']['raw_tcp']['mb_s'])} MB/s, ChaCha20-Poly1305 "
          f"{_f(out['baselines']['chacha20poly1305']['encrypt_mb_s'])} MB/s", file=sys.stderr, flush=True)

    pairs: list[dict[str, Any]] = out["pairs"]
    for rnd in range(cfg.repeat):
        if cfg.repeat > 1:
            print(f"round {rnd + 1} of {cfg.repeat}, load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
        _round(cfg, pairs, impls, loops, muxers, js_dir)
    out["load_after"] = os.getloadavg()
    out["duration_seconds"] = time.time() - started
    return out


def _round(cfg: argparse.Namespace, pairs: list[dict[str, Any]], impls: list[str], loops: list[str],
           muxers: list[str], js_dir: Path | None) -> None:
    # ours <-> ours, each twin on each loop (server and client alike)
    for impl in impls:
        for loop in loops:
            label = f"ours/{impl}/{loop}"
            server = OurServer(impl, loop, 60)
            try:
                for muxer in muxers:
                    try:
                        raw = run_our_client(impl, loop, server.addr, muxer, cfg)
                    except (RuntimeError, TimeoutError) as exc:
                        raw = _failed(label, label, exc)
                    _pair(pairs, server=label, client=label, muxer=muxer, raw=raw)
            finally:
                server.close()
    if js_dir is not None:
        cross_impl, cross_loop = "cython", "asyncio"
        ours = f"ours/{cross_impl}/{cross_loop}"
        for muxer in muxers:
            # js <-> js
            server_js = JsServer(js_dir, muxer, 60)
            try:
                try:
                    raw = run_js_client(js_dir, server_js.addr, muxer, cfg)
                except (RuntimeError, TimeoutError) as exc:
                    raw = _failed("js", "js", exc)
                _pair(pairs, server="js", client="js", muxer=muxer, raw=raw)
                if not cfg.no_cross:
                    # ours -> js
                    try:
                        raw = run_our_client(cross_impl, cross_loop, server_js.addr, muxer, cfg)
                    except (RuntimeError, TimeoutError) as exc:
                        raw = _failed(ours, "js", exc)
                    _pair(pairs, server="js", client=ours, muxer=muxer, raw=raw)
            finally:
                server_js.close()
            if not cfg.no_cross:
                # js -> ours
                server = OurServer(cross_impl, cross_loop, 60)
                try:
                    try:
                        raw = run_js_client(js_dir, server.addr, muxer, cfg)
                    except (RuntimeError, TimeoutError) as exc:
                        raw = _failed("js", ours, exc)
                    _pair(pairs, server=ours, client="js", muxer=muxer, raw=raw)
                finally:
                    server.close()


def markdown(out: dict[str, Any]) -> str:
    b = out["baselines"]
    st = out["settings"]
    head = (
        f"Run {out['started_utc']}, {st['bytes'] // MIB} MiB per transfer, median of "
        f"{st['iterations'] * st['repeat']}; ping: {st['pings']} round trips on one stream; "
        f"dial: {st['dials']} new connections (after one warm-up). Load average before "
        f"{'/'.join(f'{x:.2f}' for x in out['load_before'])}, after "
        f"{'/'.join(f'{x:.2f}' for x in out['load_after'])}; {out['machine']['cpus']} × {out['machine']['cpu']}."
    )
    columns = (
        "| client → server | muxer | upload MB/s | download MB/s | send MB/CPU·s | recv MB/CPU·s "
        "| ping median (min–max) ms | dial ms | dial → first ping ms | handshakes/s |"
    )
    lines = [head, "", columns, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in out["pairs"]:
        s = p["summary"]
        ping = s.get("ping_ms")
        ping_s = f"{ping['median']:.3f} ({ping['min']:.3f}–{ping['max']:.3f})" if ping else "-"
        dial = s.get("dial_ms", {}).get("median")
        dp = s.get("dial_ping_ms", {}).get("median")
        hs = s.get("handshakes_per_s")
        name = p["client"] if p["client"] == p["server"] else f"{p['client']} → {p['server']}"
        err = " (errors: " + "; ".join(s["errors"])[:200] + ")" if s["errors"] else ""
        lines.append(f"| {name}{err} | {p['muxer']} | {_f(s.get('upload_mb_s'))} | {_f(s.get('download_mb_s'))} | "
                     f"{_f(s.get('send_mb_per_cpu_s'))} | {_f(s.get('recv_mb_per_cpu_s'))} | "
                     f"{ping_s} | {_f(dial, 2)} | {_f(dp, 2)} | {_f(hs)} |")
    aead = b["chacha20poly1305"]
    baselines = (
        f"Baselines: raw TCP loopback (Python sockets, 2 processes) {_f(b['raw_tcp']['mb_s'])} MB/s; "
        f"ChaCha20-Poly1305 one core, 64 KiB messages: encrypt {_f(aead['encrypt_mb_s'])} MB/s, "
        f"decrypt {_f(aead['decrypt_mb_s'])} MB/s."
    )
    note = (
        "send/recv MB/CPU·s: bytes moved per second of the client process's CPU time (user + system) while "
        "uploading (it sends) and downloading (it receives): the rate one side would reach with a core to itself."
    )
    lines += ["", baselines, "", note]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    role = argv[0] if argv and argv[0].startswith("_") else None
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if role == "_server":
        ap.add_argument("role")
        ap.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
        a = ap.parse_args(argv)
        _run_loop(_server_main(a), a.loop)
        return 0
    if role == "_client":
        ap.add_argument("role")
        ap.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
        ap.add_argument("--to", required=True)
        ap.add_argument("--muxer", default="yamux", choices=["yamux", "mplex"])
        ap.add_argument("--security", default="noise", choices=["noise", "tls"])
        ap.add_argument("--upload-bytes", type=int, default=0)
        ap.add_argument("--download-bytes", type=int, default=0)
        ap.add_argument("--iterations", type=int, default=1)
        ap.add_argument("--pings", type=int, default=0)
        ap.add_argument("--dials", type=int, default=0)
        ap.add_argument("--timeout", type=float, default=600)
        a = ap.parse_args(argv)
        res = _run_loop(_client_main(a), a.loop)
        _emit(res)
        return 0 if not res["errors"] else 1
    if role == "_tcp_sink":
        ap.add_argument("role")
        ap.add_argument("--connections", type=int, default=1)
        ap.add_argument("--timeout", type=float, default=60)
        _tcp_sink_main(ap.parse_args(argv))
        return 0

    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one iteration: seconds, for CI")
    ap.add_argument("--bytes", type=int, help="bytes per transfer (default 256 MiB; smoke 4 MiB)")
    ap.add_argument("--iterations", type=int, help="transfers per direction (default 3; smoke 1)")
    ap.add_argument("--pings", type=int, help="ping round trips (default 200; smoke 10)")
    ap.add_argument("--dials", type=int, help="dials (default 50; smoke 3)")
    ap.add_argument("--muxers", default="yamux,mplex", help="comma-separated (default yamux,mplex)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the whole matrix this many times, interleaved, pooling samples (default 1)")
    ap.add_argument("--no-js", action="store_true", help="skip js-libp2p")
    ap.add_argument("--no-pure", action="store_true", help="skip the pure-Python twin")
    ap.add_argument("--no-uvloop", action="store_true", help="skip uvloop")
    ap.add_argument("--no-cross", action="store_true", help="skip ours <-> js")
    ap.add_argument("--client-timeout", type=float, help="seconds per client run (default 600; smoke 60)")
    ap.add_argument("--out", type=Path, help="JSON output path (default benchmarks/results/stack-<date>.json)")
    ap.add_argument("--no-write", action="store_true", help="print only, write no JSON file")
    cfg = ap.parse_args(argv)
    smoke = cfg.smoke
    cfg.bytes = cfg.bytes or (4 * MIB if smoke else 256 * MIB)
    cfg.iterations = cfg.iterations or (1 if smoke else 3)
    cfg.pings = cfg.pings if cfg.pings is not None else (10 if smoke else 200)
    cfg.dials = cfg.dials if cfg.dials is not None else (3 if smoke else 50)
    cfg.client_timeout = cfg.client_timeout or (60.0 if smoke else 600.0)
    cfg.muxers = [m for m in cfg.muxers.split(",") if m]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if not cfg.no_uvloop:
            print("uvloop not installed: skipping it", file=sys.stderr)
        cfg.no_uvloop = True

    out = orchestrate(cfg)
    md = markdown(out)
    print(md)
    if not cfg.no_write:
        path = cfg.out or RESULTS_DIR / f"stack-{_dt.datetime.now(_dt.UTC).strftime('%Y%m%d-%H%M%S')}" \
            f"{'-smoke' if smoke else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        out["markdown"] = md
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"\nwrote {path}", file=sys.stderr)
    bad = [p for p in out["pairs"] if p["summary"]["errors"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
