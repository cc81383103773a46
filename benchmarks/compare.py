#!/usr/bin/env python3
"""Side by side on loopback: aiolibp2p against go-libp2p, rust-libp2p, js-libp2p and py-libp2p.

One invocation runs, for each implementation X in {ours (Cython), ours (pure), go, rust, js,
py-libp2p}, the pair X ↔ X, and ours (Cython) ↔ X in both directions, all over TCP + Noise + yamux:

* **throughput**: upload and download on ``/perf/1.0.0``, each transfer 1 GiB or 10 s, whichever
  comes first (a probe transfer measures the pair's rate first and sizes the transfers), several
  iterations per direction. Besides the wall-clock rate, the CPU time of both processes is taken
  (the client's own per-transfer CPU, the server's from ``/proc/PID/stat``), giving a
  load-normalised rate: bytes / max(client CPU, server CPU), what the pair would reach with a
  core for each side;
* **connection establishment + a 1-byte round trip**, two ways: "fresh" is the libp2p test-plans
  perf metric: a new client process per iteration runs the perf contract with 1 byte up and 1 byte
  down, and its ``final.timeSeconds`` is the time from the start of the dial to the end of the
  download; "warm" is a dial + one ping on a new stream from a warm process (the ``perf --to``
  benchmark mode), hanging up after each;
* **ping RTT**: round trips of 32 bytes on one ``/ipfs/ping/1.0.0`` stream;
* **baselines** in the same run: raw TCP on loopback (Python sockets, two processes) and
  ChaCha20-Poly1305 on one core (cryptography, 64 KiB messages).

Each implementation is driven by its own program and benchmark mode: ours through
``libp2p perf --run-server`` (the perf contract) as server and ``benchmarks/e2e/bench_stack.py
_client`` (the Python API) as client; go, js and py-libp2p with their peer programs' ``perf --to``
mode; rust (which has no ``--to``) with the perf contract for throughput and ``dial --pings`` for
ping. Every server runs with the perf contract's fixed identity (Ed25519 of the all-zero seed) on
a known port, so every client can dial every server.

It prints a markdown table (medians with min–max), the ratios ours/X, and writes JSON (versions,
CPU, load average, raw samples) and a PNG chart to ``benchmarks/results/compare-<UTC>.{json,png}``.
A progress line on stderr tells what is running.

    .venv/bin/python benchmarks/compare.py              # the full run (~15-25 min on 2 cores)
    .venv/bin/python benchmarks/compare.py --smoke      # small sizes, one iteration: for CI
    .venv/bin/python benchmarks/compare.py --list-suites        # the other side-by-side benchmarks
    .venv/bin/python benchmarks/compare.py --suite NAME [ARGS]  # run one (benchmarks/suites/NAME.py)
    .venv/bin/python benchmarks/round2_summary.py         # issue #16's one table + chart from the suites' JSON

Implementations that are not installed (no go, cargo, node, or py-libp2p peer) are skipped with a
message. Every subprocess is started and stopped through its own handle; every wait is bounded.
MB/s means 10**6 bytes per second.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS_DIR = HERE / "results"
BENCH_STACK = HERE / "e2e" / "bench_stack.py"
MIB = 1 << 20
GIB = 1 << 30
PERF_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
ZERO_SEED = "00" * 32
OURS = "ours-cython"
ORDER = ["ours-cython", "ours-pure", "go", "rust", "js", "py-libp2p"]
FOREIGN = ["go", "rust", "js", "py-libp2p"]


def _load_bench_stack() -> Any:
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    spec = importlib.util.spec_from_file_location("bench_stack", BENCH_STACK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_stack"] = module
    spec.loader.exec_module(module)
    return module


bs = _load_bench_stack()


def progress(text: str) -> None:
    load = os.getloadavg()[0]
    print(f"[{time.strftime('%H:%M:%S')} load {load:4.2f}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# processes


def _cpu_of(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) of a running process, from /proc (10 ms ticks)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class Run:
    """One finished client process."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    cpu: float  # the process's CPU seconds (user + system), startup included
    wall: float
    timed_out: bool

    def error(self) -> str | None:
        command = portable(" ".join(self.argv[:4]))
        if self.timed_out:
            return f"timed out: {command} ...; stderr: {portable(self.stderr[-500:])}"
        if self.returncode != 0:
            return f"exit {self.returncode}: {command} ...; stderr: {portable(self.stderr[-500:])}"
        return None

    def json_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


def run_client(argv: list[str], *, cwd: Path | None, env: dict[str, str] | None, timeout: float) -> Run:
    """Run a client to its end (bounded: killed through its handle after ``timeout``)."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, env=env, text=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate(timeout=30)
    return Run(argv, proc.returncode, out, err, _children_cpu() - c0, time.perf_counter() - t0, timed_out)


def portable(text: str) -> str:
    """``text`` without this machine's paths (the checkout as ``.``, the home directory as ``~``):
    error messages end up in the committed results."""
    return text.replace(str(REPO) + "/", "").replace(str(Path.home()), "~")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (for QUIC servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Server:
    """A perf server with the fixed identity on 127.0.0.1:PORT; stopped by its handle."""

    def __init__(self, impl: Impl, timeout: float, transport: str = "tcp") -> None:
        self.impl = impl
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        ws = "/ws" if transport == "ws" else ""
        self.multiaddr = f"/ip4/127.0.0.1/tcp/{self.port}{ws}/p2p/{PERF_PEER_ID}"
        argv, cwd, env = impl.server_cmd(self.address)
        if transport != "tcp":
            if "--listen" in argv:  # a `listen` server (js): its listen address gets the /ws
                i = argv.index("--listen") + 1
                argv = [*argv[:i], argv[i] + ws, *argv[i + 1:]]
            else:  # a perf-contract server
                argv = [*argv, "--transport", transport]
        self.proc = bs.Proc(argv, env=env, cwd=cwd)
        try:
            if impl.ready_line:
                info = self.proc.json_line(timeout)
                if info.get("peer_id") != PERF_PEER_ID:
                    raise RuntimeError(f"{impl.name} server has peer id {info.get('peer_id')}, not {PERF_PEER_ID}")
            else:
                deadline = time.monotonic() + timeout
                while not _port_open(self.port):
                    if self.proc.proc.poll() is not None:
                        raise RuntimeError(f"{impl.name} server exited ({self.proc.proc.returncode}): "
                                           f"{self.proc.err()}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{impl.name} server not listening within {timeout:.0f} s")
                    time.sleep(0.05)
        except BaseException:
            self.proc.stop()
            raise

    def cpu(self) -> float | None:
        return _cpu_of(self.proc.proc.pid)

    def alive(self) -> bool:
        return self.proc.proc.poll() is None

    def stop(self) -> None:
        self.proc.stop()


# ---------------------------------------------------------------------------------------------
# implementations


@dataclass
class Impl:
    name: str
    version: str
    server_cmd: Callable[[str], tuple[list[str], Path | None, dict[str, str] | None]]
    ready_line: bool  # the server prints a JSON line once listening (else: wait for the port)
    # client modes; None when the program lacks it
    bench_cmd: Callable[[str, int, int, int, int, int, float], tuple[list[str], Path | None,
                                                                      dict[str, str] | None]] | None = None
    contract_cmd: Callable[[str, int, int], tuple[list[str], Path | None, dict[str, str] | None]] | None = None
    ping_cmd: Callable[[str, int, float], tuple[list[str], Path | None, dict[str, str] | None]] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: its perf server and clients also speak the perf contract over /ws (``--transport ws``)
    websocket: bool = False


def _ours(build: str) -> Impl:
    env = bs._py_env("python" if build == "pure" else "cython")
    py = sys.executable
    cli = [py, "-m", "libp2p", "perf", "--loop", "asyncio", "--muxer", "yamux"]
    out = subprocess.run([py, "-c", "import libp2p; print(libp2p.IMPLEMENTATION, libp2p.__version__)"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    implementation, _, version = out.stdout.strip().partition(" ")
    expected = "python" if build == "pure" else "cython"
    if implementation != expected:
        raise RuntimeError(f"ours ({build}): libp2p.IMPLEMENTATION is {implementation!r}, not {expected!r}: "
                           f"{out.stderr[-500:]}")
    return Impl(
        name=f"ours-{build}",
        version=f"aiolibp2p {version} ({implementation}), CPython {platform.python_version()}, asyncio loop",
        server_cmd=lambda addr: ([*cli, "--run-server", "--server-address", addr], REPO, env),
        ready_line=True,
        bench_cmd=lambda to, up, down, it, pings, dials, timeout: (
            [py, str(BENCH_STACK), "_client", "--loop", "asyncio", "--to", to, "--muxer", "yamux",
             "--upload-bytes", str(up), "--download-bytes", str(down), "--iterations", str(it),
             "--pings", str(pings), "--dials", str(dials), "--timeout", str(timeout)], REPO, env),
        contract_cmd=lambda addr, up, down: (
            [*cli, "--server-address", addr, "--transport", "tcp", "--upload-bytes", str(up),
             "--download-bytes", str(down)], REPO, env),
        websocket=True,
    )


def _peer_bench(prefix: list[str], cwd: Path | None, extra: Sequence[str] = ()) -> Callable[..., Any]:
    def cmd(to: str, up: int, down: int, it: int, pings: int, dials: int,
            timeout: float) -> tuple[list[str], Path | None, None]:
        return ([*prefix, "perf", "--to", to, "--muxer", "yamux", *extra, "--upload-bytes", str(up),
                 "--download-bytes", str(down), "--iterations", str(it), "--pings", str(pings),
                 "--dials", str(dials), "--timeout-ms", str(int(timeout * 1000))], cwd, None)
    return cmd


def _peer_contract(prefix: list[str], cwd: Path | None) -> Callable[..., Any]:
    def cmd(addr: str, up: int, down: int) -> tuple[list[str], Path | None, None]:
        return ([*prefix, "perf", "--server-address", addr, "--transport", "tcp", "--muxer", "yamux",
                 "--upload-bytes", str(up), "--download-bytes", str(down)], cwd, None)
    return cmd


def _script_path(script: str, timeout: float) -> Path:
    """Run a ci/ build or install script; its last stdout line is a path."""
    proc = subprocess.run(["bash", str(REPO / "ci" / script)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"ci/{script} failed (exit {proc.returncode}): {portable(proc.stderr.strip()[-600:])}")
    return Path(lines[-1])


def _text(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=cwd)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def _go() -> Impl:
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        raise RuntimeError("go not found (Go >= 1.26 builds interop/go)")
    peer = str(_script_path("build_go_peer.sh", 1500))
    return Impl(
        name="go", version=_text([peer, "version"]),
        server_cmd=lambda addr: ([peer, "perf", "--run-server", "--server-address", addr], None, None),
        ready_line=True,
        bench_cmd=_peer_bench([peer], None),
        contract_cmd=_peer_contract([peer], None),
        websocket=True,
    )


def _rust() -> Impl:
    peer_path = None
    try:
        peer_path = _script_path("build_rust_peer.sh", 3600)
    except RuntimeError:
        if shutil.which("cargo") is None:
            raise RuntimeError("cargo not found and no cached rust peer (interop/rust)") from None
        raise
    peer = str(peer_path)
    version = "?"
    for line in (REPO / "interop" / "rust" / "Cargo.toml").read_text().splitlines():
        if line.startswith("libp2p = "):
            version = "rust-libp2p " + line.split('"')[1].lstrip("=")
    version += ", " + _text(["rustc", "--version"])

    def ping_cmd(to: str, pings: int, timeout: float) -> tuple[list[str], Path | None, None]:
        return ([peer, "dial", "--to", to, "--muxer", "yamux", "--pings", str(pings),
                 "--timeout-ms", str(int(timeout * 1000))], None, None)

    return Impl(
        name="rust", version=version,
        server_cmd=lambda addr: ([peer, "perf", "--run-server", "--server-address", addr], None, None),
        ready_line=False,  # the rust perf server prints nothing on stdout
        contract_cmd=_peer_contract([peer], None),
        ping_cmd=ping_cmd,
    )


def _js() -> Impl:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node/npm not found")
    js_dir = _script_path("install_js_peer.sh", 900)
    versions = {}
    for pkg in ("libp2p", "@chainsafe/libp2p-noise", "@chainsafe/libp2p-yamux", "@libp2p/tcp"):
        try:
            versions[pkg] = json.loads((js_dir / "node_modules" / pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            versions[pkg] = "?"
    node = _text(["node", "--version"])
    prefix = ["node", "peer.mjs"]
    return Impl(
        name="js",
        version=f"js-libp2p {versions['libp2p']} (noise {versions['@chainsafe/libp2p-noise']}, yamux "
                f"{versions['@chainsafe/libp2p-yamux']}, tcp {versions['@libp2p/tcp']}), Node {node}",
        # js's peer has no perf contract: `listen --perf` with the contract's identity and port
        server_cmd=lambda addr: ([*prefix, "listen", "--perf", "--no-connection-monitor", "--muxer", "yamux",
                                  "--key-seed", ZERO_SEED, "--listen",
                                  f"/ip4/{addr.rsplit(':', 1)[0]}/tcp/{addr.rsplit(':', 1)[1]}"], js_dir, None),
        ready_line=True,
        bench_cmd=_peer_bench(prefix, js_dir, ["--no-connection-monitor"]),
        websocket=True,
    )


def _py_libp2p(wait: float) -> Impl:
    script = REPO / "ci" / "install_py_libp2p_peer.sh"
    deadline = time.monotonic() + wait
    while not script.exists() and time.monotonic() < deadline:
        time.sleep(5)
    if not script.exists():
        raise RuntimeError("ci/install_py_libp2p_peer.sh not found (the py-libp2p peer is not in this tree)")
    peer_dir = _script_path("install_py_libp2p_peer.sh", 1200)
    py = str(peer_dir / "venv" / "bin" / "python")
    prefix = [py, str(peer_dir / "peer.py")]
    # from the peer's directory: with -c the current directory comes first on sys.path, and from
    # this repository `import libp2p` would find aiolibp2p instead of py-libp2p
    version = _text([py, "-c", ("import libp2p, trio, sys; print(f'py-libp2p {libp2p.__version__} (trio "
                              "{trio.__version__}), CPython {sys.version.split()[0]}')")], cwd=peer_dir)
    return Impl(
        name="py-libp2p", version=version,
        server_cmd=lambda addr: ([*prefix, "perf", "--run-server", "--server-address", addr], None, None),
        ready_line=True,
        bench_cmd=_peer_bench(prefix, None),
        contract_cmd=_peer_contract(prefix, None),
    )


def discover(cfg: argparse.Namespace) -> tuple[dict[str, Impl], dict[str, str]]:
    impls: dict[str, Impl] = {}
    skipped: dict[str, str] = {}
    makers: dict[str, Callable[[], Impl]] = {
        "ours-cython": lambda: _ours("cython"),
        "ours-pure": lambda: _ours("pure"),
        "go": _go, "rust": _rust, "js": _js,
        "py-libp2p": lambda: _py_libp2p(cfg.wait_py_libp2p),
    }
    for name in ORDER:
        if name not in cfg.only:
            continue
        progress(f"preparing {name}")
        try:
            impl = makers[name]()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            skipped[name] = str(exc)
            progress(f"SKIPPING {name}: {exc}")
            continue
        if cfg.transport == "ws" and not impl.websocket:
            skipped[name] = "its perf server has no --transport ws"
            progress(f"SKIPPING {name}: {skipped[name]}")
            continue
        impls[name] = impl
    return impls, skipped


# ---------------------------------------------------------------------------------------------
# one pair


def _rate(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


class PairRunner:
    def __init__(self, cfg: argparse.Namespace, client: Impl, server_impl: Impl, tag: str) -> None:
        self.cfg = cfg
        self.client = client
        self.server_impl = server_impl
        self.tag = tag
        self.result: dict[str, Any] = {
            "client": client.name, "server": server_impl.name, "errors": [], "load_start": os.getloadavg(),
            "raw": {},
        }
        self.server: Server | None = None

    def _step(self, what: str) -> None:
        progress(f"{self.tag} {self.client.name} → {self.server_impl.name}: {what}")

    def _err(self, what: str, message: str) -> None:
        self.result["errors"].append(f"{what}: {message}")
        progress(f"  ERROR in {what}: {message[:300]}")

    def _ensure_server(self) -> Server:
        if self.server is not None and self.server.alive():
            return self.server
        if self.server is not None:
            self._err("server", f"the {self.server_impl.name} server died: {self.server.proc.err()[-300:]}")
            self.server.stop()
        self.server = Server(self.server_impl, self.cfg.start_timeout, self.cfg.transport)
        return self.server

    def run(self) -> dict[str, Any]:
        try:
            self._ensure_server()
        except (RuntimeError, TimeoutError, OSError) as exc:
            self._err("server start", str(exc))
            return self.result
        try:
            for what, fn in (("throughput", self.throughput), ("latency", self.latency),
                             ("fresh connections", self.fresh)):
                try:
                    fn()
                except (RuntimeError, TimeoutError, OSError, ValueError, KeyError) as exc:
                    self._err(what, f"{type(exc).__name__}: {exc}")
        finally:
            if self.server is not None:
                self.server.stop()
        self.result["load_end"] = os.getloadavg()
        return self.result

    # --- throughput

    def _bench(self, up: int, down: int, iterations: int, pings: int, dials: int, timeout: float,
               ) -> tuple[dict[str, Any], float | None]:
        """One run of the client's benchmark mode; returns its JSON and the server's CPU during it."""
        assert self.client.bench_cmd is not None
        server = self._ensure_server()
        argv, cwd, env = self.client.bench_cmd(server.multiaddr, up, down, iterations, pings, dials, timeout)
        s0 = server.cpu()
        run = run_client(argv, cwd=cwd, env=env, timeout=timeout + 60)
        s1 = server.cpu()
        lines = [x for x in run.json_lines() if "upload_seconds" in x]
        if not lines:
            raise RuntimeError(run.error() or f"no result line: {run.stdout[-300:]}")
        res = lines[-1]
        if res.get("errors"):
            raise RuntimeError("; ".join(map(str, res["errors"]))[:600])
        return res, (s1 - s0 if s0 is not None and s1 is not None else None)

    def _contract(self, up: int, down: int, timeout: float) -> tuple[float, float, float | None]:
        """One perf-contract client process: (final timeSeconds, the process's CPU, server CPU)."""
        assert self.client.contract_cmd is not None
        server = self._ensure_server()
        argv, cwd, env = self.client.contract_cmd(server.address, up, down)
        if self.cfg.transport != "tcp":  # the contract's --transport, given as tcp by every contract_cmd
            argv = [self.cfg.transport if a == "tcp" and argv[i - 1] == "--transport" else a
                    for i, a in enumerate(argv)]
        s0 = server.cpu()
        run = run_client(argv, cwd=cwd, env=env, timeout=timeout)
        s1 = server.cpu()
        finals = [x for x in run.json_lines() if x.get("type") == "final"]
        if run.error() or not finals:
            raise RuntimeError(run.error() or f"no final line: {run.stdout[-300:]}")
        final = finals[-1]
        if final.get("uploadBytes") != up or final.get("downloadBytes") != down:
            raise RuntimeError(f"final line with the wrong sizes: {final}")
        return float(final["timeSeconds"]), run.cpu, (s1 - s0 if s0 is not None and s1 is not None else None)

    def _transfer_size(self) -> int:
        cfg = self.cfg
        if cfg.smoke:
            return cfg.bytes
        probe = cfg.probe_bytes
        self._step(f"probe ({probe // MIB} MiB each way)")
        if self.client.bench_cmd is not None:
            res, _ = self._bench(probe, probe, 1, 0, 0, cfg.transfer_timeout)
            rate = min(_rate(probe, res["upload_seconds"][0]), _rate(probe, res["download_seconds"][0]))
        else:
            t_up, _, _ = self._contract(probe, 0, cfg.transfer_timeout)
            t_down, _, _ = self._contract(0, probe, cfg.transfer_timeout)
            rate = min(_rate(probe, t_up), _rate(probe, t_down))
        n = int(min(cfg.bytes, rate * 1e6 * cfg.max_seconds)) // MIB * MIB
        n = max(n, MIB)
        self.result["probe_mb_s"] = rate
        return n

    def throughput(self) -> None:
        cfg = self.cfg
        n = self._transfer_size()
        self.result["transfer_bytes"] = n
        k = cfg.iterations
        timeout = cfg.transfer_timeout * k
        raw = self.result["raw"]
        for direction, up, down in (("upload", n, 0), ("download", 0, n)):
            self._step(f"{direction} {k} × {n / MIB:.0f} MiB")
            if self.client.bench_cmd is not None:
                res, server_cpu = self._bench(up, down, k, 0, 0, timeout)
                warmup = min(n, 16 * MIB)
                raw[direction] = {
                    "seconds": res[f"{direction}_seconds"],
                    "client_cpu": res[f"{direction}_cpu_seconds"],
                    # the server's CPU for the whole client run (connection, warm-up and k transfers),
                    # spread over the bytes it moved
                    "server_cpu_per_byte": (server_cpu / (k * n + warmup)) if server_cpu is not None else None,
                    "client_cpu_includes_startup": False,
                }
            else:
                secs, client_cpu, server_cpu = [], [], []
                for _ in range(k):
                    t, c, s = self._contract(up, down, cfg.transfer_timeout)
                    secs.append(t)
                    client_cpu.append(c)
                    if s is not None:
                        server_cpu.append(s)
                raw[direction] = {
                    "seconds": secs,  # includes the dial (milliseconds)
                    "client_cpu": client_cpu,  # whole processes: start-up is subtracted in the summary
                    "server_cpu_per_byte": (sum(server_cpu) / (k * n)) if server_cpu else None,
                    "client_cpu_includes_startup": True,
                }

    # --- latency

    def latency(self) -> None:
        cfg = self.cfg
        raw = self.result["raw"]
        if self.client.bench_cmd is not None:
            self._step(f"{cfg.pings} pings, {cfg.dials} dials + ping (warm process)")
            res, _ = self._bench(0, 0, 1, cfg.pings, cfg.dials, cfg.latency_timeout)
            raw["ping_rtts"] = res["ping_rtts"]
            raw["warm_dial_seconds"] = res["dial_seconds"]
            raw["warm_dial_ping_seconds"] = res["dial_ping_seconds"]
        elif self.client.ping_cmd is not None:
            self._step(f"{cfg.pings} pings (dial --pings)")
            server = self._ensure_server()
            argv, cwd, env = self.client.ping_cmd(server.multiaddr, cfg.pings, cfg.latency_timeout)
            run = run_client(argv, cwd=cwd, env=env, timeout=cfg.latency_timeout + 30)
            lines = [x for x in run.json_lines() if "ping_rtts_ms" in x]
            if not lines or lines[-1].get("errors"):
                raise RuntimeError(run.error() or str(lines[-1]["errors"] if lines else run.stdout[-300:]))
            raw["ping_rtts"] = [ms / 1e3 for ms in lines[-1]["ping_rtts_ms"]]

    def fresh(self) -> None:
        if self.client.contract_cmd is None:
            return
        cfg = self.cfg
        self._step(f"{cfg.fresh} × connection + 1-byte round trip in a new process (perf contract)")
        times, cpus = [], []
        for _ in range(cfg.fresh):
            t, c, _s = self._contract(1, 1, cfg.latency_timeout)
            times.append(t)
            cpus.append(c)
        self.result["raw"]["fresh_seconds"] = times
        self.result["raw"]["fresh_process_cpu"] = cpus


# ---------------------------------------------------------------------------------------------
# summaries


def summarize(pair: dict[str, Any], startup_cpu: dict[str, float]) -> dict[str, Any]:
    raw = pair["raw"]
    n = pair.get("transfer_bytes")
    s: dict[str, Any] = {}
    for direction in ("upload", "download"):
        d = raw.get(direction)
        if not d or not n or not d["seconds"]:
            continue
        s[f"{direction}_mb_s"] = _stats([_rate(n, x) for x in d["seconds"]])
        client_cpu = list(d["client_cpu"])
        if d.get("client_cpu_includes_startup"):
            base = startup_cpu.get(pair["client"], 0.0)
            client_cpu = [max(c - base, 1e-9) for c in client_cpu]
        client_per_byte = statistics.median(client_cpu) / n if client_cpu else None
        server_per_byte = d.get("server_cpu_per_byte")
        s[f"{direction}_client_cpu_mb_s"] = 1 / client_per_byte / 1e6 if client_per_byte else None
        s[f"{direction}_server_cpu_mb_s"] = 1 / server_per_byte / 1e6 if server_per_byte else None
        busiest = max(x for x in (client_per_byte, server_per_byte, 1e-15) if x is not None)
        s[f"{direction}_cpu_norm_mb_s"] = 1 / busiest / 1e6 if (client_per_byte or server_per_byte) else None
    to_ms = lambda xs: [x * 1e3 for x in xs]
    s["ping_ms"] = _stats(to_ms(raw.get("ping_rtts", [])))
    s["warm_dial_ms"] = _stats(to_ms(raw.get("warm_dial_seconds", [])))
    s["warm_conn_rtt_ms"] = _stats(to_ms(raw.get("warm_dial_ping_seconds", [])))
    s["fresh_conn_rtt_ms"] = _stats(to_ms(raw.get("fresh_seconds", [])))
    return s


METRICS = [
    # key, label, unit, higher is better
    ("upload_mb_s", "upload", "MB/s", True),
    ("download_mb_s", "download", "MB/s", True),
    ("upload_cpu_norm_mb_s", "upload, CPU-normalised", "MB/s", True),
    ("download_cpu_norm_mb_s", "download, CPU-normalised", "MB/s", True),
    ("fresh_conn_rtt_ms", "connection + 1 B round trip, new process (perf contract)", "ms", False),
    ("warm_conn_rtt_ms", "dial + ping, warm process", "ms", False),
    ("ping_ms", "ping RTT", "ms", False),
]


def _median(summary: dict[str, Any], key: str) -> float | None:
    v = summary.get(key)
    if isinstance(v, dict):
        return float(v["median"])
    return float(v) if isinstance(v, (int, float)) else None


def _self_pair(out: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((p for p in out["pairs"] if p["client"] == name and p["server"] == name), None)


def ratios(out: dict[str, Any]) -> list[dict[str, Any]]:
    """ours/X per metric from the X ↔ X pairs (Cython build; the pure build against py-libp2p too)."""
    rows = []
    for key, label, unit, higher in METRICS:
        row: dict[str, Any] = {"metric": key, "label": label, "unit": unit, "higher_is_better": higher}
        for ours in ("ours-cython", "ours-pure"):
            mine = _self_pair(out, ours)
            for other in FOREIGN:
                theirs = _self_pair(out, other)
                a = _median(mine["summary"], key) if mine else None
                b = _median(theirs["summary"], key) if theirs else None
                row[f"{ours}/{other}"] = a / b if a is not None and b else None
        rows.append(row)
    return rows


def _ratio_of(rows: list[dict[str, Any]], key: str, col: str) -> float | None:
    row = next(r for r in rows if r["metric"] == key)
    value = row.get(col)
    return float(value) if value is not None else None


def targets(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}×"

    def verdict(ok: list[bool | None]) -> str:
        if any(v is None for v in ok) or not ok:
            return "not measured" if all(v is None for v in ok) else "partly measured"
        return "met" if all(ok) else "missed"

    out = []
    up_go, down_go = (_ratio_of(rows, k, "ours-cython/go") for k in ("upload_mb_s", "download_mb_s"))
    out.append({"target": "Cython throughput ≥ go-libp2p's",
                "result": f"upload {fmt(up_go)}, download {fmt(down_go)}",
                "verdict": verdict([None if x is None else x >= 1 for x in (up_go, down_go)])})
    up_js, down_js = (_ratio_of(rows, k, "ours-cython/js") for k in ("upload_mb_s", "download_mb_s"))
    out.append({"target": "Cython throughput ≥ 2× js-libp2p's",
                "result": f"upload {fmt(up_js)}, download {fmt(down_js)}",
                "verdict": verdict([None if x is None else x >= 2 for x in (up_js, down_js)])})
    fresh, warm = (_ratio_of(rows, k, "ours-cython/go") for k in ("fresh_conn_rtt_ms", "warm_conn_rtt_ms"))
    out.append({"target": "connection + 1-byte round trip within 1.5× of go's",
                "result": f"new process {fmt(fresh)}, warm process {fmt(warm)} (ours/go, lower is better)",
                "verdict": verdict([None if x is None else x <= 1.5 for x in (fresh, warm)])})
    cols = [(k, _ratio_of(rows, k, "ours-pure/py-libp2p")) for k in
            ("upload_mb_s", "download_mb_s", "fresh_conn_rtt_ms", "warm_conn_rtt_ms", "ping_ms")]
    oks = [None if x is None else (x >= 2 if k.endswith("mb_s") else x <= 0.5) for k, x in cols]
    out.append({"target": "pure build ≥ 2× py-libp2p",
                "result": ", ".join(f"{k.removesuffix('_mb_s').removesuffix('_ms')} {fmt(x)}" for k, x in cols)
                + " (times: ≤ 0.5× needed)",
                "verdict": verdict(oks)})
    return out


# ---------------------------------------------------------------------------------------------
# output


def _f(x: float | None, nd: int = 0) -> str:
    return "–" if x is None else f"{x:,.{nd}f}"


def _cell(st: dict[str, float] | None, nd: int) -> str:
    if not st:
        return "–"
    return f"{_f(st['median'], nd)} ({_f(st['min'], nd)}–{_f(st['max'], nd)})"


def pair_label(p: dict[str, Any]) -> str:
    return p["client"] if p["client"] == p["server"] else f"{p['client']} → {p['server']}"


def markdown(out: dict[str, Any]) -> str:
    st = out["settings"]
    lines = [
        ("| client → server | upload MB/s | download MB/s | up / down MB/s, CPU-normalised | "
        "conn + 1 B RTT ms, new process | dial + ping ms, warm process | ping RTT ms |"),
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in out["pairs"]:
        s = p["summary"]
        name = pair_label(p)
        if p["errors"]:
            name += " ⚠"
        lat_nd = 1 if (s.get("fresh_conn_rtt_ms") or {}).get("median", 0) >= 10 else 2
        lines.append(
            f"| {name} | {_cell(s.get('upload_mb_s'), 0)} | {_cell(s.get('download_mb_s'), 0)} | "
            f"{_f(s.get('upload_cpu_norm_mb_s'))} / {_f(s.get('download_cpu_norm_mb_s'))} | "
            f"{_cell(s.get('fresh_conn_rtt_ms'), lat_nd)} | {_cell(s.get('warm_conn_rtt_ms'), 2)} | "
            f"{_cell(s.get('ping_ms'), 3)} |")
    errs = [f"- {pair_label(p)}: {'; '.join(p['errors'])[:400]}" for p in out["pairs"] if p["errors"]]
    if errs:
        lines += ["", "Errors (⚠):", *errs]
    if out["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v[:200]})" for k, v in out["skipped"].items())]
    b = out["baselines"]
    tcp, aead = b.get("raw_tcp", {}), b.get("chacha20poly1305", {})
    lines += ["", (f"Baselines in the same run: raw TCP loopback (Python sockets, two processes, "
              f"{tcp.get('bytes', 0) // MIB} MiB × {len(tcp.get('seconds', []))}) {_cell(tcp.get('mb_s_stats'), 0)} "
              f"MB/s; ChaCha20-Poly1305 on one core, 64 KiB messages: encrypt {_f(aead.get('encrypt_mb_s'))} MB/s, "
              f"decrypt {_f(aead.get('decrypt_mb_s'))} MB/s.")]
    rows = out["ratios"]
    cols = [f"ours-cython/{x}" for x in FOREIGN] + ["ours-pure/py-libp2p"]
    lines += ["", "| metric (X ↔ X pairs) | " + " | ".join(c.replace("ours-cython", "ours") for c in cols) + " |",
              "|---|" + "---:|" * len(cols)]
    for r in rows:
        better = "higher is better" if r["higher_is_better"] else "lower is better"
        lines.append(f"| {r['label']} ({better}) | " + " | ".join(_f(r.get(c), 2) + ("×" if r.get(c) else "")
                                                              for c in cols) + " |")
    lines += ["", "| target | result | verdict |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['result']} | **{t['verdict']}** |" for t in out["targets"]]
    la, lb = out["load_before"], out.get("load_after", [0, 0, 0])
    lines += ["", (f"Settings: transfers of {st['bytes'] // MIB} MiB or {st['max_seconds']:g} s, whichever is first "
              f"(sized by a {st['probe_bytes'] // MIB} MiB probe per pair), {st['iterations']} per direction; "
              f"{st['pings']} pings; {st['dials']} warm dials; {st['fresh']} new-process connections. Load average "
              f"before {'/'.join(f'{x:.2f}' for x in la)}, after {'/'.join(f'{x:.2f}' for x in lb)}; "
              f"{out['machine']['cpus']} × {out['machine']['cpu']}.")]
    return "\n".join(lines)


def chart(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    pairs = out["pairs"]
    labels = [pair_label(p) for p in pairs]
    y = list(range(len(pairs)))
    fig, axes = plt.subplots(1, 3, figsize=(17, 0.42 * len(pairs) + 2.6), sharey=True,
                             gridspec_kw={"width_ratios": [1.4, 1, 1]})

    def bars(ax: Any, specs: list[tuple[str, str, str]], label_bars: int) -> None:
        height = 0.8 / len(specs)
        for i, (key, name, color) in enumerate(specs):
            med, lo, hi = [], [], []
            for p in pairs:
                st = p["summary"].get(key)
                if isinstance(st, dict):
                    med.append(st["median"])
                    lo.append(st["median"] - st["min"])
                    hi.append(st["max"] - st["median"])
                elif isinstance(st, (int, float)):
                    med.append(st)
                    lo.append(0)
                    hi.append(0)
                else:
                    med.append(0)
                    lo.append(0)
                    hi.append(0)
            pos = [v - 0.4 + height * (i + 0.5) for v in y]
            ax.barh(pos, med, height=height, color=color, label=name, xerr=[lo, hi],
                    error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333"})
            if i < label_bars:
                for p_, m, h in zip(pos, med, hi, strict=True):
                    if m:  # the median, written just past the bar's max whisker
                        text = f"{m:,.0f}" if m >= 100 else f"{m:.2g}" if m < 1 else f"{m:.1f}"
                        ax.text(m + h, p_, " " + text, va="center", ha="left", fontsize=6.5, color="#222")

    ax = axes[0]
    bars(ax, [("upload_mb_s", "upload", "#1f77b4"), ("download_mb_s", "download", "#ff7f0e"),
              ("upload_cpu_norm_mb_s", "upload, CPU-normalised", "#aec7e8"),
              ("download_cpu_norm_mb_s", "download, CPU-normalised", "#ffbb78")], 2)
    tcp = out["baselines"].get("raw_tcp", {}).get("mb_s")
    aead = out["baselines"].get("chacha20poly1305", {}).get("encrypt_mb_s")
    if tcp:
        ax.axvline(tcp, color="#2ca02c", linestyle="--", linewidth=1, label=f"raw TCP {tcp:,.0f} MB/s")
    if aead:
        ax.axvline(aead, color="#9467bd", linestyle=":", linewidth=1.2, label=f"ChaCha20-Poly1305 {aead:,.0f} MB/s")
    ax.set_xlabel("MB/s (median, bars: min–max)")
    ax.set_title("Throughput, one /perf/1.0.0 stream")
    ax.legend(loc="lower right", fontsize=8)

    ax = axes[1]
    bars(ax, [("fresh_conn_rtt_ms", "new process (perf contract)", "#d62728"),
              ("warm_conn_rtt_ms", "warm process (dial + ping)", "#ff9896")], 2)
    ax.set_xscale("log")
    ax.set_xlabel("ms, log scale (median, bars: min–max)")
    ax.set_title("Connection + 1 round trip")
    ax.legend(loc="upper right", fontsize=8)

    ax = axes[2]
    bars(ax, [("ping_ms", "ping RTT", "#17becf")], 1)
    ax.set_xscale("log")
    ax.set_xlabel("ms, log scale (median, bars: min–max)")
    ax.set_title("Ping round trip on one stream")

    for a in axes[1:]:
        a.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        a.xaxis.set_minor_formatter(NullFormatter())
    for a in axes:
        a.grid(axis="x", alpha=0.3, which="both")
        a.set_axisbelow(True)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels, fontsize=9)
    axes[0].invert_yaxis()
    la = out["load_before"]
    fig.suptitle(f"aiolibp2p vs go/rust/js/py-libp2p, TCP + Noise + yamux on loopback — {out['started_utc']}, "
                 f"{out['machine']['cpus']} × {out['machine']['cpu']}, load {la[0]:.2f} → "
                 f"{out.get('load_after', la)[0]:.2f}" + (" (smoke run)" if out["settings"]["smoke"] else ""),
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# main


def summarize_pairs(pairs: list[dict[str, Any]]) -> dict[str, float]:
    """Each pair's ``summary``, with its contract client's start-up CPU (the median over its
    new-process 1-byte runs in these pairs) subtracted when its transfers are CPU-normalised;
    returns that start-up CPU per client."""
    startup: dict[str, list[float]] = {}
    for p in pairs:
        startup.setdefault(p["client"], []).extend(p["raw"].get("fresh_process_cpu", []))
    startup_cpu = {k: statistics.median(v) for k, v in startup.items() if v}
    for p in pairs:
        p["summary"] = summarize(p, startup_cpu)
    return startup_cpu


def write_results(out_dir: Path, base_name: str, out: dict[str, Any],
                  chart_fn: Callable[[dict[str, Any], Path], None] | None = None) -> None:
    """``out`` as ``<base_name>.json`` in ``out_dir``, with its chart as ``<base_name>.png`` if given."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / base_name
    wrote = [base.with_suffix(".json")]
    if chart_fn is not None:
        png = base.with_suffix(".png")
        out["chart"] = png.name
        chart_fn(out, png)
        wrote.append(png)
    base.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    progress("wrote " + " and ".join(str(w) for w in wrote))


def machine() -> dict[str, Any]:
    return {"cpu": bs._cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform()}


def ours_versions() -> dict[str, Any]:
    v: dict[str, Any] = {"python": platform.python_version()}
    for mod in ("Cython", "cryptography", "nacl", "matplotlib"):
        try:
            v[mod.lower()] = importlib.import_module(mod).__version__
        except ImportError:
            v[mod.lower()] = None
    try:
        v["git_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                         text=True, timeout=10, check=False).stdout.strip()
        v["git_dirty_libp2p"] = bool(subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "libp2p", "_native"],
            capture_output=True, text=True, timeout=10, check=False).stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return v


def plan(impls: dict[str, Impl], cross: bool) -> list[tuple[str, str]]:
    """(client, server) pairs: every X ↔ X, then ours → X and X → ours."""
    pairs = [(x, x) for x in ORDER if x in impls]
    if cross and OURS in impls:
        for x in ORDER:
            if x in impls and x != OURS and x != "ours-pure":
                pairs += [(OURS, x), (x, OURS)]
    return pairs


SUITES_DIR = Path(__file__).resolve().parent / "suites"


def suites() -> dict[str, Path]:
    """The other side-by-side benchmarks: ``benchmarks/suites/NAME.py``, each with ``main(argv) -> int``."""
    return {p.stem: p for p in sorted(SUITES_DIR.glob("*.py")) if not p.stem.startswith("_")}


def run_suite(name: str, argv: list[str]) -> int:
    """``compare.py --suite NAME [ARGS...]``: run one suite (its own options follow its name)."""
    found = suites()
    if name not in found:
        print(f"unknown suite {name!r}; known: {', '.join(found) or 'none'}", file=sys.stderr)
        return 2
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    spec = importlib.util.spec_from_file_location(f"benchmarks_suite_{name}", found[name])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return int(module.main(argv))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--list-suites"]:
        print("\n".join(f"{k}\t{v.relative_to(REPO)}" for k, v in suites().items()))
        return 0
    if args[:1] == ["--suite"] and len(args) >= 2:
        return run_suite(args[1], args[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="small sizes, one iteration: seconds per pair, for CI")
    ap.add_argument("--bytes", type=int, help="upper bound per transfer (default 1 GiB; smoke 4 MiB)")
    ap.add_argument("--max-seconds", type=float, default=10.0, help="time bound per transfer (default 10)")
    ap.add_argument("--iterations", type=int, help="transfers per direction (default 3; smoke 1)")
    ap.add_argument("--pings", type=int, help="ping round trips (default 200; smoke 10)")
    ap.add_argument("--dials", type=int, help="warm dial + ping iterations (default 100; smoke 3)")
    ap.add_argument("--fresh", type=int, help="new-process connection + 1 B round trips (default 100; smoke 3)")
    ap.add_argument("--only", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}")
    ap.add_argument("--no-cross", action="store_true", help="only the X <-> X pairs")
    ap.add_argument("--transport", choices=["tcp", "ws"], default="tcp",
                    help="tcp (default) or ws: every pair over /ws (ours, go and js; the others are skipped)")
    ap.add_argument("--wait-py-libp2p", type=float, default=0.0,
                    help="seconds to wait for ci/install_py_libp2p_peer.sh to appear (default: do not wait)")
    ap.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="where the JSON and PNG go")
    ap.add_argument("--no-write", action="store_true", help="print only; write neither JSON nor PNG")
    cfg = ap.parse_args(argv)
    smoke = cfg.smoke
    cfg.bytes = cfg.bytes or (4 * MIB if smoke else GIB)
    cfg.iterations = cfg.iterations or (1 if smoke else 3)
    cfg.pings = cfg.pings if cfg.pings is not None else (10 if smoke else 200)
    cfg.dials = cfg.dials if cfg.dials is not None else (3 if smoke else 100)
    cfg.fresh = cfg.fresh if cfg.fresh is not None else (3 if smoke else 100)
    cfg.probe_bytes = 64 * MIB
    cfg.only = [x for x in cfg.only.split(",") if x]
    cfg.start_timeout = 60.0
    cfg.transfer_timeout = 60.0 if smoke else cfg.max_seconds * 3 + 60
    cfg.latency_timeout = 120.0 if smoke else 600.0
    unknown = set(cfg.only) - set(ORDER)
    if unknown:
        ap.error(f"unknown implementations: {', '.join(sorted(unknown))}")

    started = time.time()
    stamp = _dt.datetime.fromtimestamp(started, _dt.UTC)
    out: dict[str, Any] = {
        "benchmark": "aiolibp2p side by side with go/rust/js/py-libp2p (TCP + Noise + yamux, loopback)",
        "started_utc": stamp.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python benchmarks/compare.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {k: getattr(cfg, k) for k in ("smoke", "bytes", "max_seconds", "iterations", "pings", "dials",
                                                   "fresh", "probe_bytes", "only", "transport")}
        | {"cross": not cfg.no_cross},
        "machine": machine(),
        "load_before": os.getloadavg(),
        "versions": {"ours": ours_versions()},
        "baselines": {},
        "skipped": {},
        "pairs": [],
    }
    impls, out["skipped"] = discover(cfg)
    for name, impl in impls.items():
        out["versions"][name] = impl.version

    progress("baseline: raw TCP loopback")
    tcp_bytes = 16 * MIB if smoke else GIB
    tcp = bs.bench_raw_tcp(tcp_bytes, 1 if smoke else 5, 120)
    tcp["mb_s_stats"] = _stats([_rate(tcp_bytes, x) for x in tcp["seconds"]])
    out["baselines"]["raw_tcp"] = tcp
    progress("baseline: ChaCha20-Poly1305, one core")
    out["baselines"]["chacha20poly1305"] = bs.bench_chacha(64 * 1024, 0.2 if smoke else 2.0)

    todo = plan(impls, not cfg.no_cross)
    for i, (client, server) in enumerate(todo, 1):
        runner = PairRunner(cfg, impls[client], impls[server], f"[{i}/{len(todo)}]")
        out["pairs"].append(runner.run())

    # start-up CPU of each contract client (median over its new-process 1-byte runs, all pairs):
    # subtracted from whole-process CPU when a contract client's transfers are CPU-normalised
    out["startup_cpu_seconds"] = summarize_pairs(out["pairs"])
    out["ratios"] = ratios(out)
    out["targets"] = targets(out["ratios"])
    out["load_after"] = os.getloadavg()
    out["duration_seconds"] = time.time() - started
    md = markdown(out)
    out["markdown"] = md
    print(md)
    if not cfg.no_write:
        write_results(cfg.out_dir, f"compare-{stamp.strftime('%Y%m%d-%H%M%S')}{'-smoke' if smoke else ''}", out, chart)
    progress(f"done in {out['duration_seconds']:.0f} s")
    return 1 if any(p["errors"] for p in out["pairs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
