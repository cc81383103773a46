"""Handshake rate: full TCP + Noise XX + yamux connections per second one listener accepts.

    .venv/bin/python benchmarks/compare.py --suite handshakes [--duration 10] [--procs 2] [--concurrency 16]

Servers (each in turn, alone): ``libp2p serve`` (ours, one process: one core), ``libp2p serve --workers 2``
(ours on both cores) and go's peer program as perf server (go-libp2p, all cores). The dialers are the same
for every server: ``--procs`` processes of this script's ``_dial`` mode, each running ``--concurrency``
dial loops with an identity each. One dial = TCP connect, multistream ``/noise`` (optimistic, in the
flight of Noise message 1), Noise XX with the muxer chosen inside the handshake (yamux), then one yamux
session-level ping (SYN → ACK, stream 0), which proves the listener finished the handshake and runs its
yamux session; then the dialer closes the socket. Every dialer starts at the same instant; connections
completed in the ``--duration`` window after ``--warmup`` count.

Besides the wall rate, the listener's CPU time over the window (``/proc``, its worker processes
included) gives handshakes per listener CPU-second: the rate one core of the listener reaches, which
the load of other processes on this shared machine does not change much. The crypto floor is measured
in the same run: X25519 key generation and DH, Ed25519 sign/verify (PyNaCl, as our identity keys use,
and pyca/cryptography), ChaCha20-Poly1305 on handshake-sized messages and HKDF/SHA-256, giving the
handshakes/s one core could reach if a handshake cost only its crypto.

Writes ``benchmarks/results/handshakes-<UTC>.json`` through ``compare.write_results`` (``--out-dir`` to change
where): load before/after, versions, per-dialer counts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
YAMUX_PING, YAMUX_SYN, YAMUX_ACK = 2, 1, 2


# ---------------------------------------------------------------------------------------------
# the crypto floor


def _ops_per_second(fn: Any, min_seconds: float = 0.4) -> float:
    n = 0
    batch = 50
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return n / elapsed


def crypto_floor() -> dict[str, Any]:
    """ops/s of each primitive a listener's Noise XX handshake uses, and the handshakes/s they allow."""
    import nacl.signing
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    peer_pub = X25519PrivateKey.generate().public_key().public_bytes_raw()
    mine = X25519PrivateKey.generate()
    nacl_key = nacl.signing.SigningKey.generate()
    msg = b"noise-libp2p-static-key:" + peer_pub
    nacl_sig = nacl_key.sign(msg).signature
    nacl_verify = nacl_key.verify_key
    ossl_key = Ed25519PrivateKey.generate()
    ossl_sig = ossl_key.sign(msg)
    ossl_pub = ossl_key.public_key()
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = bytes(12)
    payload = os.urandom(120)  # a NoiseHandshakePayload: Ed25519 key, signature, muxer list
    sealed = aead.encrypt(nonce, payload, b"h" * 32)
    ck = os.urandom(32)

    def hkdf() -> None:  # one MixKey: HKDF with two outputs = 3 HMAC-SHA256
        temp = hmac.digest(ck, peer_pub, "sha256")
        out1 = hmac.digest(temp, b"\x01", "sha256")
        hmac.digest(temp, out1 + b"\x02", "sha256")

    ops = {
        "x25519_keygen": _ops_per_second(lambda: X25519PrivateKey.generate().public_key().public_bytes_raw()),
        "x25519_dh": _ops_per_second(lambda: mine.exchange(X25519PublicKey.from_public_bytes(peer_pub))),
        "ed25519_sign_nacl": _ops_per_second(lambda: nacl_key.sign(msg)),
        "ed25519_verify_nacl": _ops_per_second(lambda: nacl_verify.verify(msg, nacl_sig)),
        "ed25519_sign_openssl": _ops_per_second(lambda: ossl_key.sign(msg)),
        "ed25519_verify_openssl": _ops_per_second(lambda: ossl_pub.verify(ossl_sig, msg)),
        "chacha20poly1305_seal_120B": _ops_per_second(lambda: aead.encrypt(nonce, payload, b"h" * 32)),
        "chacha20poly1305_open_120B": _ops_per_second(lambda: aead.decrypt(nonce, sealed, b"h" * 32)),
        "hkdf_mixkey": _ops_per_second(hkdf),
        "sha256_mixhash": _ops_per_second(lambda: hashlib.sha256(ck + payload).digest()),
    }
    us = {k: 1e6 / v for k, v in ops.items()}
    # The responder of XX: e (1 keygen), ee + es + se (3 DH), s and payload sealed in msg2, opened in
    # msg3 (2 + 2 AEAD), 4 MixKey (3 DH + the split), ~8 MixHash, 1 verify of the initiator's signature,
    # and 1 sign of its own static key (0 when the static key and its signature are reused, as rust does).
    common = (3 * us["x25519_dh"] + 2 * us["chacha20poly1305_seal_120B"] + 2 * us["chacha20poly1305_open_120B"]
              + 4 * us["hkdf_mixkey"] + 8 * us["sha256_mixhash"] + us["ed25519_verify_nacl"] + us["x25519_keygen"])
    fresh_static = common + us["x25519_keygen"] + us["ed25519_sign_nacl"]
    return {
        "ops_per_s": {k: round(v) for k, v in ops.items()},
        "us_per_op": {k: round(v, 2) for k, v in us.items()},
        "listener_us_per_handshake_fresh_static": round(fresh_static, 1),
        "listener_us_per_handshake_reused_static": round(common, 1),
        "max_handshakes_per_s_fresh_static": round(1e6 / fresh_static),
        "max_handshakes_per_s_reused_static": round(1e6 / common),
    }


# ---------------------------------------------------------------------------------------------
# one dialer process


async def _one_dial(to: Any, peer_id: Any, key: Any, timeout: float) -> None:
    from libp2p._accel import yamux_pack_header, yamux_unpack_header
    from libp2p.negotiate.core import MultistreamDialer
    from libp2p.negotiate.service import select_protocol
    from libp2p.security.noise.service import noise_handshake
    from libp2p.transport.tcp import TcpTransport

    raw = await TcpTransport().dial(to, timeout)
    try:
        async with asyncio.timeout(timeout):
            session = await noise_handshake(raw, key, remote_peer_id=peer_id, muxers=("/yamux/1.0.0",),
                                            negotiation=MultistreamDialer(("/noise",), optimistic=True))
            pending = bytearray(b"".join(session.pending_plaintext))
            if session.early_muxer is None:  # the listener did not offer muxers in the handshake
                async def read() -> bytes:
                    nonlocal pending
                    while not pending:
                        data = await raw.read()
                        if not data:
                            return b""
                        pending += b"".join(session.decrypt(data))
                    out = bytes(pending)
                    pending.clear()
                    return out

                async def write(data: bytes) -> None:
                    raw.write(session.encrypt(data))

                def unread(data: bytes) -> None:
                    pending[:0] = data

                await select_protocol(read, write, unread, ("/yamux/1.0.0",), timeout=timeout)
            raw.write(session.encrypt(yamux_pack_header(YAMUX_PING, YAMUX_SYN, 0, 7)))
            while True:
                while len(pending) >= 12:
                    _, kind, flags, _, length = yamux_unpack_header(pending)
                    if kind == YAMUX_PING and flags & YAMUX_ACK and length == 7:
                        return
                    del pending[:12 + (length if kind == 0 else 0)]
                data = await raw.read()
                if not data:
                    raise EOFError("the listener closed before the yamux ping came back")
                pending += b"".join(session.decrypt(data))
    finally:
        raw.abort()


async def _dial_loop(cfg: argparse.Namespace) -> dict[str, Any]:
    from libp2p.identity.keys import generate_key_pair
    from libp2p.multiaddr import Multiaddr
    from libp2p.peerstore import PeerInfo

    info = PeerInfo.from_multiaddr(Multiaddr(cfg.to))
    to = info.addrs[0]
    keys = [generate_key_pair() for _ in range(cfg.concurrency)]
    loop = asyncio.get_running_loop()
    # wall clock -> loop clock: every dialer process starts at the same instant
    start = loop.time() + (cfg.start - time.time())
    window_start = start + cfg.warmup
    window_end = window_start + cfg.duration
    counted = 0
    errors: dict[str, int] = {}
    latencies: list[float] = []
    cpu0 = cpu1 = 0.0

    async def slot(key: Any) -> None:
        nonlocal counted
        while True:
            t0 = loop.time()
            if t0 >= window_end:
                return
            try:
                await _one_dial(to, info.peer_id, key, cfg.timeout)
            except (OSError, EOFError, TimeoutError, Exception) as exc:  # noqa: BLE001 - counted, not fatal
                name = type(exc).__name__
                errors[name] = errors.get(name, 0) + 1
                await asyncio.sleep(0.01)
                continue
            t1 = loop.time()
            if window_start <= t1 < window_end:
                counted += 1
                if len(latencies) < 20000:
                    latencies.append(t1 - t0)

    async def cpu_marks() -> None:
        nonlocal cpu0, cpu1
        await asyncio.sleep(max(0.0, window_start - loop.time()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        cpu1 = time.process_time()

    await asyncio.sleep(max(0.0, start - loop.time()))
    await asyncio.gather(cpu_marks(), *(slot(k) for k in keys))
    latencies.sort()
    return {
        "count": counted, "errors": errors, "cpu_s": round(cpu1 - cpu0, 3),
        "latency_ms_p50": round(1000 * latencies[len(latencies) // 2], 3) if latencies else None,
        "latency_ms_p99": round(1000 * latencies[int(len(latencies) * 0.99)], 3) if latencies else None,
    }


def dialer_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="handshakes.py _dial")
    ap.add_argument("--to", required=True)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--start", type=float, required=True, help="wall-clock second to start dialing")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=10.0)
    cfg = ap.parse_args(argv)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        result = runner.run(_dial_loop(cfg))
    print(json.dumps(result), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# the run


def _proc_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Listener:
    """One server under test, stopped through its handle."""

    def __init__(self, name: str, argv: list[str], cwd: Path | None, env: dict[str, str] | None) -> None:
        import compare

        self.name = name
        self.proc = compare.bs.Proc(argv, env=env, cwd=cwd)
        try:
            info = self.proc.json_line(60)
        except BaseException:
            self.proc.stop()
            raise
        self.peer_id: str = info["peer_id"]
        addrs = info.get("multiaddrs")
        self.addr: str = addrs[0] if addrs else ""
        self.pids: list[int] = [self.proc.proc.pid, *info.get("workers", [])]

    def stop(self) -> None:
        self.proc.stop()


def measure(listener: Listener, cfg: argparse.Namespace) -> dict[str, Any]:
    start = time.time() + 3.0  # time for the dialer processes to import and make their keys
    argv = [sys.executable, str(Path(__file__).resolve()), "_dial", "--to", listener.addr,
            "--concurrency", str(cfg.concurrency), "--start", f"{start:.3f}", "--warmup", str(cfg.warmup),
            "--duration", str(cfg.duration)]
    env = {**os.environ}
    dialers = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                stdin=subprocess.DEVNULL) for _ in range(cfg.procs)]
    try:
        time.sleep(max(0.0, start + cfg.warmup - time.time()))
        cpu0 = _proc_cpu(listener.pids)
        t0 = time.monotonic()
        time.sleep(max(0.0, start + cfg.warmup + cfg.duration - time.time()))
        cpu1 = _proc_cpu(listener.pids)
        window = time.monotonic() - t0
        results = []
        for d in dialers:
            out, err = d.communicate(timeout=cfg.duration + 60)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if d.returncode != 0 or not lines:
                raise RuntimeError(f"dialer failed ({d.returncode}): {err[-800:]}")
            results.append(json.loads(lines[-1]))
    finally:
        for d in dialers:
            if d.poll() is None:
                d.kill()
                d.wait(timeout=10)
    count = sum(r["count"] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    server_cpu = cpu1 - cpu0
    return {
        "listener": listener.name,
        "handshakes": count,
        "window_s": round(window, 2),
        "per_s": round(count / cfg.duration, 1),
        "listener_cpu_s": round(server_cpu, 2),
        "listener_cores": round(server_cpu / window, 2),
        "per_listener_cpu_s": round(count / server_cpu, 1) if server_cpu > 0 else None,
        "dialer_cpu_s": round(sum(r["cpu_s"] for r in results), 2),
        "latency_ms_p50": statistics.median([r["latency_ms_p50"] for r in results if r["latency_ms_p50"]] or [0]),
        "latency_ms_p99": max([r["latency_ms_p99"] for r in results if r["latency_ms_p99"]] or [0]),
        "errors": errors,
        "dialers": results,
    }


def measure_throughput(listener: Listener, cfg: argparse.Namespace) -> dict[str, Any]:
    """``--tp-clients`` go perf clients at once, each downloading ``--tp-bytes`` on its own connection:
    the listener's aggregate send rate over many connections (go's client: the cheapest one here)."""
    argv = [cfg.go_peer, "perf", "--to", listener.addr, "--muxer", "yamux", "--upload-bytes", "0",
            "--download-bytes", str(cfg.tp_bytes), "--iterations", "1", "--pings", "0", "--dials", "0",
            "--timeout-ms", "120000"]
    cpu0 = _proc_cpu(listener.pids)
    t0 = time.monotonic()
    clients = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL) for _ in range(cfg.tp_clients)]
    rates = []
    try:
        for c in clients:
            out, err = c.communicate(timeout=180)
            data = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
            if c.returncode != 0 or data.get("errors") or not data.get("download_seconds"):
                raise RuntimeError(f"perf client failed ({c.returncode}): {data.get('errors')} {err[-500:]}")
            rates.append(cfg.tp_bytes / data["download_seconds"][0] / 1e6)
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait(timeout=10)
    wall = time.monotonic() - t0
    cpu = _proc_cpu(listener.pids) - cpu0
    total = cfg.tp_bytes * cfg.tp_clients
    return {"aggregate_MBps": round(total / wall / 1e6, 1), "sum_of_client_MBps": round(sum(rates), 1),
            "listener_cpu_s": round(cpu, 2), "MB_per_listener_cpu_s": round(total / cpu / 1e6, 1) if cpu else None,
            "wall_s": round(wall, 2)}


def _median_run(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over the rounds of one listener (errors summed)."""
    def med(key: str) -> Any:
        values = [r[key] for r in runs if r[key] is not None]
        return statistics.median(values) if values else None

    errors: dict[str, int] = {}
    for r in runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    keys = ("handshakes", "per_s", "listener_cores", "per_listener_cpu_s", "dialer_cpu_s", "latency_ms_p50",
            "latency_ms_p99")
    tps = [r["throughput"] for r in runs if "throughput" in r]
    throughput = {k: statistics.median([t[k] for t in tps if t[k] is not None] or [0])
                  for k in ("aggregate_MBps", "sum_of_client_MBps", "MB_per_listener_cpu_s")} if tps else None
    return {"listener": name, "rounds": len(runs), **{k: med(k) for k in keys}, "errors": errors,
            "throughput": throughput,
            "per_s_all": [r["per_s"] for r in runs], "per_listener_cpu_s_all": [r["per_listener_cpu_s"] for r in runs]}


def _listeners(cfg: argparse.Namespace) -> list[tuple[str, list[str], Path | None, dict[str, str] | None]]:
    import compare

    out: list[tuple[str, list[str], Path | None, dict[str, str] | None]] = []
    env = compare.bs._py_env("cython")
    if cfg.baseline_python:  # another checkout's interpreter: before/after in the same run
        # from a neutral directory: `-m` puts the working directory first on sys.path
        out.append(("ours before (baseline)", [cfg.baseline_python, "-m", "libp2p", "serve", "--perf"],
                    Path(tempfile.gettempdir()), env))
    for workers in cfg.workers:
        if "ours" in cfg.only:
            out.append((f"ours ({workers} worker{'s' if workers != 1 else ''})",
                        [sys.executable, "-m", "libp2p", "serve", "--perf", "--workers", str(workers)],
                        compare.REPO, env))
    try:
        go = compare._go()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        compare.progress(f"SKIPPING go (and the throughput part, which uses its perf client): {exc}")
    else:
        cfg.go_peer = go.server_cmd("127.0.0.1:1")[0][0]
        if "go" in cfg.only:
            port = compare.free_port()
            argv, cwd, genv = go.server_cmd(f"127.0.0.1:{port}")
            out.append(("go", argv, cwd, genv))
        cfg.go_version = go.version
    return out


def _go_addr(listener: Listener, argv: list[str]) -> str:
    address = argv[argv.index("--server-address") + 1]
    host, port = address.rsplit(":", 1)
    return f"/ip4/{host}/tcp/{port}/p2p/{listener.peer_id}"


def markdown(out: dict[str, Any]) -> str:
    rows = [f"Medians of {out['config']['repeat']} interleaved rounds of {out['config']['duration']:g} s; "
            f"{out['config']['procs']} dialer processes x {out['config']['concurrency']} dial loops.", "",
            "| listener | handshakes/s (wall) | listener cores used | handshakes per listener CPU-s | "
            "dialer CPU-s | p50 / p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for r in out["results"]:
        rows.append(f"| {r['listener']} | {r['per_s']:.0f} | {r['listener_cores']:.2f} | "
                    f"{r['per_listener_cpu_s'] or 0:.0f} | {r['dialer_cpu_s']:.1f} | "
                    f"{r['latency_ms_p50']:.1f} / {r['latency_ms_p99']:.1f} | {r['errors'] or '-'} |")
    if any(r.get("throughput") for r in out["results"]):
        rows += ["", f"Aggregate throughput: {out['config']['tp_clients']} go perf clients at once, each downloading "
                 f"{out['config']['tp_bytes'] / 2**20:g} MiB on its own connection (medians of the rounds).", "",
                 "| listener | aggregate MB/s (wall) | sum of per-client MB/s | MB per listener CPU-s |",
                 "|---|---:|---:|---:|"]
        for r in out["results"]:
            t = r.get("throughput")
            if t:
                rows.append(f"| {r['listener']} | {t['aggregate_MBps']:.0f} | {t['sum_of_client_MBps']:.0f} | "
                            f"{t['MB_per_listener_cpu_s']:.0f} |")
    floor = out["crypto_floor"]
    rows += ["", f"Crypto floor (one core, this run): {floor['max_handshakes_per_s_fresh_static']} handshakes/s "
             f"with a fresh static key per handshake ({floor['listener_us_per_handshake_fresh_static']} µs), "
             f"{floor['max_handshakes_per_s_reused_static']}/s reusing it "
             f"({floor['listener_us_per_handshake_reused_static']} µs); ops/s: "
             + ", ".join(f"{k} {v}" for k, v in floor["ops_per_s"].items())]
    by = {r["listener"]: r for r in out["results"]}
    go = by.get("go")
    if go:
        for name, r in by.items():
            if name != "go" and go["per_s"] and go["per_listener_cpu_s"]:
                rows.append(f"- {name} / go: wall {r['per_s'] / go['per_s']:.2f}×, per listener CPU-s "
                            f"{(r['per_listener_cpu_s'] or 0) / go['per_listener_cpu_s']:.2f}×")
    rows.append(f"- load average before {out['load_before']}, after {out['load_after']}")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_dial"]:
        return dialer_main(argv[1:])
    import compare

    ap = argparse.ArgumentParser(prog="compare.py --suite handshakes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per listener (default 10)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of dialing before the window (default 2)")
    ap.add_argument("--procs", type=int, default=2, help="dialer processes (default 2)")
    ap.add_argument("--concurrency", type=int, default=16, help="dial loops per dialer process (default 16)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds over all listeners, interleaved (default 3)")
    ap.add_argument("--workers", default="1,2", help="ours with these --workers counts (default 1,2)")
    ap.add_argument("--only", default="ours,go", help="ours and/or go (default both)")
    ap.add_argument("--tp-clients", type=int, default=8,
                    help="throughput part: concurrent perf clients (connections), 0 to skip (default 8)")
    ap.add_argument("--tp-bytes", type=int, default=64 << 20, help="bytes each downloads (default 64 MiB)")
    ap.add_argument("--baseline-python", metavar="PYTHON",
                    help="also measure `PYTHON -m libp2p serve` (e.g. another checkout's venv: before/after)")
    ap.add_argument("--smoke", action="store_true", help="1 s windows, 1 dialer: for CI")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--out-dir", type=Path, default=compare.RESULTS_DIR, help="where the JSON goes")
    cfg = ap.parse_args(argv)
    cfg.workers = [int(w) for w in cfg.workers.split(",") if w]
    cfg.only = set(cfg.only.split(","))
    cfg.go_version = None
    cfg.go_peer = None
    if cfg.smoke:
        cfg.duration, cfg.warmup, cfg.procs, cfg.concurrency, cfg.repeat = 1.0, 0.5, 1, 4, 1
        cfg.tp_clients, cfg.tp_bytes = 2, 1 << 20
    out: dict[str, Any] = {
        "suite": "handshakes", "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": compare.machine(), "versions": compare.ours_versions(), "load_before": _loadavg(),
        # no machine-specific paths in the results: the baseline interpreter is only said to be given
        "config": {k: (sorted(v) if isinstance(v, set) else "given" if k == "baseline_python" and v else v)
                   for k, v in vars(cfg).items() if k != "out_dir"},
    }
    compare.progress("measuring the crypto floor")
    out["crypto_floor"] = crypto_floor()
    runs: dict[str, list[dict[str, Any]]] = {}
    listeners = _listeners(cfg)
    for round_ in range(cfg.repeat):  # interleaved, so a change in the machine's load hits every listener
        for name, argv_, cwd, env in listeners:
            compare.progress(f"round {round_ + 1}/{cfg.repeat}, listener: {name}")
            listener = Listener(name, argv_, cwd, env)
            try:
                if not listener.addr:
                    listener.addr = _go_addr(listener, argv_)
                result = measure(listener, cfg)
                if cfg.tp_clients and cfg.go_peer:
                    compare.progress(f"  throughput: {cfg.tp_clients} connections")
                    result["throughput"] = measure_throughput(listener, cfg)
                runs.setdefault(name, []).append(result)
            finally:
                listener.stop()
    out["runs"] = runs
    out["results"] = [_median_run(name, r) for name, r in runs.items()]
    out["versions"]["go"] = cfg.go_version
    out["load_after"] = _loadavg()
    text = markdown(out)
    print(text)
    if not cfg.no_write:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        compare.write_results(cfg.out_dir, f"handshakes-{stamp}{'-smoke' if cfg.smoke else ''}", out)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_dial"]:
        sys.exit(dialer_main(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
