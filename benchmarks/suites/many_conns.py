"""Many concurrent connections to one listener: ours (`libp2p serve`) against go-libp2p.

For each listener (ours: ``libp2p serve --max-connections``, go: ``interop/go`` ``peer listen``),
in its own process:

1. **establish**: W client processes (``--workers``), each holding ``--conns``/W client hosts, dial
   the listener at once (at most ``--concurrency`` dials in flight per process, so the listener's
   pending-handshake bound is not what is measured) over TCP + Noise + yamux; identify runs as it
   would (the listener asks each new peer). Recorded: the time from the start signal until the last
   connection is up, connections per second, failures.
2. **idle**: the connections are held; after ``--settle`` seconds the listener's RSS (VmRSS) and its
   CPU use over ``--hold`` seconds are read while a separate probe process (``libp2p ping``, ours
   for both listeners) measures ping round trips on a connection of its own (p50/p99).
3. **active**: ``--active-fraction`` of the connections (10 %) each open an echo stream
   (``/echo/1.0.0``) and send ``--message-bytes`` (1 KiB) every second (phases spread over the
   second), reading the echo back; the same measurements, plus the echo round trips the clients saw.

Each client connection is its own host with its own Ed25519 identity (distinct peer IDs, as real
peers are); one process holds thousands of them, since a started host without connections costs
~16 KiB and no task of its own beyond its peerstore janitor. All connections come from 127.0.0.1 to one
listening port: the kernel picks ephemeral ports per destination (28 000 in the default range), so
10 000 fit without spreading sources over 127.0.0.0/8.

The file-descriptor limit is raised (soft to hard, ``resource.setrlimit``) for this process and so
for the listeners and clients it starts. Prints a markdown table; writes
``benchmarks/results/many_conns-<UTC>.{json,png}``.

    .venv/bin/python benchmarks/compare.py --suite many_conns                   # 10 000, ours and go
    .venv/bin/python benchmarks/compare.py --suite many_conns --conns 50 --hold 2 --settle 1 --only ours
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import gc
import json
import math
import os
import random
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ECHO = "/echo/1.0.0"


# ---------------------------------------------------------------------------------------------
# the client worker (a process of its own: `python many_conns.py _worker ...`)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[k]


async def _worker(args: argparse.Namespace) -> int:
    from libp2p import new_host
    from libp2p.multiaddr import Multiaddr

    def emit(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    hosts = [new_host() for _ in range(args.conns)]
    for h in hosts:
        await h.start()
    addr = Multiaddr(args.to)
    emit({"event": "ready", "hosts": len(hosts)})
    if (await reader.readline()).strip() != b"connect":
        return 1
    peer = None
    failures: list[str] = []
    connected: list[Any] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def dial(h: Any) -> None:
        nonlocal peer
        async with gate:
            try:
                peer = await asyncio.wait_for(h.connect(addr), args.dial_timeout)
                connected.append(h)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures.append(type(exc).__name__)

    await asyncio.gather(*(dial(h) for h in hosts))
    # The harness's own hosts live until the end: keep the collector from walking them again (a
    # full collection over 2500 hosts stalls this process for a second on a loaded machine, and the
    # listener then sees late pongs).
    gc.collect()
    gc.freeze()
    conns = {h: h.connections()[0] for h in connected if h.connections()}
    emit({"event": "established", "ok": len(connected), "failed": len(failures),
          "errors": sorted(set(failures))[:5], "done_at": time.time()})

    rtts: list[float] = []
    errors = 0
    sent = 0
    active: list[asyncio.Task[None]] = []

    async def chatter(h: Any, phase: float, size: int) -> None:
        nonlocal errors, sent
        payload = os.urandom(size)
        await asyncio.sleep(phase)
        try:
            stream = await h.new_stream(peer, [ECHO])
        except Exception:  # noqa: BLE001
            errors += 1
            return
        next_at = loop.time()
        while True:
            t0 = time.perf_counter()  # not loop.time(): uvloop's clock has millisecond steps
            try:
                await stream.write(payload)
                got = 0
                while got < size:
                    chunk = await stream.read(size - got)
                    if not chunk:
                        raise EOFError
                    got += len(chunk)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                errors += 1
                return
            rtts.append(time.perf_counter() - t0)
            sent += 1
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "active":
            count, size = min(int(line[1]), len(connected)), int(line[2])
            rng = random.Random(0)
            active = [asyncio.ensure_future(chatter(h, rng.random(), size)) for h in connected[:count]]
            emit({"event": "active", "streams": count})
        elif line[0] == "report":
            open_conns = sum(1 for h in connected if h.connections())
            reasons = Counter(str(c.close_reason)[:80] for c in conns.values() if c.is_closed)
            emit({"event": "report", "open": open_conns, "close_reasons": dict(reasons.most_common(3)), "echoes": sent, "errors": errors,
                  "rtt_ms_p50": None if not rtts else 1000 * statistics.median(rtts),
                  "rtt_ms_p99": None if not rtts else 1000 * (_percentile(rtts, 0.99) or 0.0),
                  "rtt_ms_p999": None if not rtts else 1000 * (_percentile(rtts, 0.999) or 0.0),
                  "rtt_ms_max": None if not rtts else 1000 * max(rtts)})
            rtts.clear()
    for t in active:
        t.cancel()
    await asyncio.gather(*active, return_exceptions=True)
    for i in range(0, len(hosts), 500):
        await asyncio.gather(*(h.close() for h in hosts[i:i + 500]), return_exceptions=True)
    return 0


def worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="many_conns.py _worker")
    p.add_argument("--to", required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--dial-timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    try:
        import uvloop

        return uvloop.run(_worker(args))
    except ImportError:
        return asyncio.run(_worker(args))


# ---------------------------------------------------------------------------------------------
# the orchestrator


def raise_fd_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by every process started here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _probe(compare: Any, addr: str, pings: int, interval: float, timeout: float) -> dict[str, Any]:
    """``libp2p ping`` from a new process: RTTs of ``pings`` round trips on one connection."""
    env = compare.bs._py_env("cython")
    argv = [sys.executable, "-m", "libp2p", "ping", addr, "-c", str(pings), "-i", str(interval), "--json",
            "--timeout", str(timeout)]
    run = compare.run_client(argv, cwd=compare.REPO, env=env, timeout=timeout + 30)
    lines = run.json_lines()
    rtts = [float(x) for x in (lines[-1].get("rtt_ms") or [])] if lines else []
    return {
        "pings": len(rtts),
        "p50_ms": statistics.median(rtts) if rtts else None,
        "p99_ms": _percentile(rtts, 0.99),
        "error": None if rtts else (run.error() or "no pings"),
    }


def _server_argv(name: str, compare: Any, conns: int, base: Path | None = None) -> tuple[list[str], dict[str, str] | None]:
    if name in ("ours", "base"):
        env = compare.bs._py_env("cython")
        python = sys.executable
        if name == "base":  # another checkout's `libp2p serve` (its own venv), e.g. main before a change
            if base is None:
                raise RuntimeError("--only base needs --base-repo")
            python = str(base / ".venv" / "bin" / "python")
        argv = [python, "-m", "libp2p", "serve", "--listen", "/ip4/127.0.0.1/tcp/0",
                "--max-connections", str(conns + 200)]
        if name != "base":  # ours as documented for thousands of held connections (base may predate the option)
            argv += ["--gc-growth", "1"]
        return argv, env
    peer = str(compare._script_path("build_go_peer.sh", 1500))
    # no resource manager and no connection manager (interop/go/node.go): go holds them all
    return [peer, "listen", "--listen", "/ip4/127.0.0.1/tcp/0", "--ignore-stdin"], None


class _Workers:
    def __init__(self, compare: Any, addr: str, conns: int, workers: int, concurrency: int) -> None:
        env = compare.bs._py_env("cython")
        share = [conns // workers + (1 if i < conns % workers else 0) for i in range(workers)]
        self.procs = [
            compare.bs.Proc([sys.executable, str(HERE), "_worker", "--to", addr, "--conns", str(n),
                             "--concurrency", str(concurrency)], env=env, cwd=compare.REPO)
            for n in share if n > 0
        ]

    def send(self, line: str) -> None:
        for p in self.procs:
            assert p.proc.stdin is not None
            p.proc.stdin.write(line + "\n")
            p.proc.stdin.flush()

    def collect(self, timeout: float) -> list[dict[str, Any]]:
        return [p.json_line(timeout) for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            try:
                self.send_one(p, "quit")
            except (OSError, ValueError):
                pass
        for p in self.procs:
            p.stop(timeout=60)

    @staticmethod
    def send_one(p: Any, line: str) -> None:
        assert p.proc.stdin is not None
        p.proc.stdin.write(line + "\n")
        p.proc.stdin.flush()


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _sample_while(compare: Any, pid: int, workers: _Workers, timeout: float) -> list[tuple[float, int]]:
    """(server CPU seconds, open fds) every 0.5 s until every worker has reported its line
    (which stays queued for ``collect``)."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cpu = compare._cpu_of(pid)
        if cpu is not None:
            samples.append((cpu, _fds(pid)))
        if all(not p.lines.empty() or p.proc.poll() is not None for p in workers.procs):
            break
        time.sleep(0.5)
    return samples


def _per_decile(samples: list[tuple[float, int]], conns: int) -> list[float | None]:
    """Listener CPU ms per new connection, for each tenth of the connections (a cost that grows
    with the number already held shows as a rising row)."""
    if len(samples) < 2:
        return []
    base_fds = samples[0][1]
    out: list[float | None] = []
    for d in range(10):
        lo, hi = base_fds + conns * d // 10, base_fds + conns * (d + 1) // 10
        first = next((s for s in samples if s[1] >= lo), None)
        last = next((s for s in samples if s[1] >= hi), None)
        if first is None or last is None or last[1] == first[1]:
            out.append(None)
        else:
            out.append(round(1000 * (last[0] - first[0]) / (last[1] - first[1]), 2))
    return out


def _cpu_share(compare: Any, pid: int, seconds: float) -> float | None:
    c0 = compare._cpu_of(pid)
    time.sleep(seconds)
    c1 = compare._cpu_of(pid)
    return None if c0 is None or c1 is None else (c1 - c0) / seconds


def run_one(name: str, cfg: argparse.Namespace, compare: Any) -> dict[str, Any]:
    argv, env = _server_argv(name, compare, cfg.conns, cfg.base_repo)
    out: dict[str, Any] = {"listener": name, "argv": [Path(a).name if "/" in a else a for a in argv]}
    # `python -m libp2p` imports the package from its working directory first
    server = compare.bs.Proc(argv, env=env, cwd=cfg.base_repo if name == "base" else compare.REPO)
    workers: _Workers | None = None
    try:
        info = server.json_line(60)
        addr = next(a for a in info["multiaddrs"] if "/tcp/" in a and "/ws" not in a)
        pid = server.proc.pid
        time.sleep(cfg.settle)
        out["rss_base_kib"] = _rss_kib(pid)
        compare.progress(f"{name}: baseline probe")
        out["probe_empty"] = _probe(compare, addr, cfg.pings, cfg.ping_interval, cfg.timeout)
        compare.progress(f"{name}: starting {cfg.workers} client processes for {cfg.conns} connections")
        workers = _Workers(compare, addr, cfg.conns, cfg.workers, cfg.concurrency)
        ready = workers.collect(cfg.timeout + cfg.conns / 50)
        assert all(r.get("event") == "ready" for r in ready), ready
        cpu0 = compare._cpu_of(pid)
        t0 = time.time()
        workers.send("connect")
        samples = _sample_while(compare, pid, workers, cfg.timeout + cfg.conns / 10)
        est = workers.collect(10)
        cpu1 = compare._cpu_of(pid)
        ok = sum(e["ok"] for e in est)
        elapsed = max(e["done_at"] for e in est) - t0
        out["establish"] = {"ok": ok, "failed": sum(e["failed"] for e in est), "seconds": elapsed,
                            "per_second": ok / elapsed if elapsed > 0 else None,
                            "server_cpu_ms_per_conn": None if cpu0 is None or cpu1 is None or not ok
                            else 1000 * (cpu1 - cpu0) / ok,
                            "cpu_ms_per_conn_by_decile": _per_decile(samples, cfg.conns),
                            "errors": sorted({x for e in est for x in e["errors"]})}
        compare.progress(f"{name}: {ok} connections in {elapsed:.1f} s; holding")
        for phase in ("idle", "active"):
            if phase == "active":
                # the fraction of all connections, split over the workers by their share
                cum = 0
                for p, e in zip(workers.procs, est):
                    before = round(cum * cfg.active_fraction)
                    cum += e["ok"]
                    workers.send_one(p, f"active {round(cum * cfg.active_fraction) - before} {cfg.message_bytes}")
                acts = workers.collect(cfg.timeout)
                out.setdefault("active_streams", sum(a["streams"] for a in acts))
            time.sleep(cfg.settle)
            rss = _rss_kib(pid)
            compare.progress(f"{name}: {phase}: RSS {rss / 1024:.0f} MiB; probing")
            cpu = _cpu_share(compare, pid, cfg.hold)
            probe = _probe(compare, addr, cfg.pings, cfg.ping_interval, cfg.timeout)
            workers.send("report")
            reports = workers.collect(cfg.timeout)
            echo_p50 = [r["rtt_ms_p50"] for r in reports if r["rtt_ms_p50"] is not None]
            echo_p99 = [r["rtt_ms_p99"] for r in reports if r["rtt_ms_p99"] is not None]
            echo_p999 = [r["rtt_ms_p999"] for r in reports if r.get("rtt_ms_p999") is not None]
            echo_max = [r["rtt_ms_max"] for r in reports if r.get("rtt_ms_max") is not None]
            out[phase] = {
                "rss_kib": rss,
                "kib_per_conn": (rss - out["rss_base_kib"]) / max(1, ok),
                "cpu_cores": cpu,
                "probe": probe,
                "open": sum(r["open"] for r in reports),
                "close_reasons": sum((Counter(r["close_reasons"]) for r in reports), Counter()),
                "echoes": sum(r["echoes"] for r in reports),
                "echo_errors": sum(r["errors"] for r in reports),
                # per worker medians/p99s, then the median / max of those (one sample list would need
                # every RTT shipped here)
                "echo_ms_p50": statistics.median(echo_p50) if echo_p50 else None,
                "echo_ms_p99": max(echo_p99) if echo_p99 else None,
                "echo_ms_p999": max(echo_p999) if echo_p999 else None,
                "echo_ms_max": max(echo_max) if echo_max else None,
            }
        out["server_alive"] = server.proc.poll() is None
    except Exception as exc:  # noqa: BLE001 - reported in the table
        out["error"] = f"{type(exc).__name__}: {exc}"[:800]
        out["server_stderr"] = server.err()[-800:]
    finally:
        compare.progress(f"{name}: stopping")
        if workers is not None:
            workers.stop()
        compare.progress(f"{name}: clients stopped")
        if server.proc.poll() is None:
            server.proc.terminate()  # both listeners exit on SIGTERM (they ignore stdin)
        server.stop(timeout=30)
    return out


def _fmt(x: float | None, nd: int = 1) -> str:
    return "—" if x is None else f"{x:,.{nd}f}"


def markdown(out: dict[str, Any]) -> str:
    rows = [
        "| listener | conns up | establish s | conns/s | listener CPU ms/conn | RSS MiB idle | KiB/conn | CPU idle | ping p50/p99 ms empty "
        "| idle | active | RSS MiB active | CPU active | echo p50/p99 ms | echo p99.9/max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---|---|",
    ]
    for r in out["runs"]:
        if "error" in r and "idle" not in r:
            rows.append(f"| {r['listener']} | error: {r['error'][:120]} |" + " |" * 13)
            continue
        e, idle, act = r["establish"], r.get("idle", {}), r.get("active", {})

        def pp(p: dict[str, Any] | None) -> str:
            return "—" if not p else f"{_fmt(p.get('p50_ms'), 3)} / {_fmt(p.get('p99_ms'), 3)}"

        rows.append(
            f"| {r['listener']} | {e['ok']}" + (f" ({e['failed']} failed)" if e["failed"] else "")
            + f" | {_fmt(e['seconds'])} | {_fmt(e['per_second'], 0)} | {_fmt(e.get('server_cpu_ms_per_conn'), 2)} "
            f"| {_fmt(idle.get('rss_kib', 0) / 1024, 0)} "
            f"| {_fmt(idle.get('kib_per_conn'))} | {_fmt(idle.get('cpu_cores'), 2)} | {pp(r.get('probe_empty'))} "
            f"| {pp(idle.get('probe'))} | {pp(act.get('probe'))} | {_fmt(act.get('rss_kib', 0) / 1024, 0)} "
            f"| {_fmt(act.get('cpu_cores'), 2)} | {_fmt(act.get('echo_ms_p50'), 2)} / {_fmt(act.get('echo_ms_p99'), 2)} "
            f"| {_fmt(act.get('echo_ms_p999'), 2)} / {_fmt(act.get('echo_ms_max'), 1)} |"
        )
    return "\n".join(rows)


def chart(out: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    runs = [r for r in out["runs"] if "idle" in r]
    if not runs:
        return
    names = [r["listener"] for r in runs]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    axes[0].bar(names, [r["idle"]["rss_kib"] / 1024 for r in runs], color="#4c72b0", label="idle")
    axes[0].bar(names, [(r["active"]["rss_kib"] - r["idle"]["rss_kib"]) / 1024 for r in runs],
                bottom=[r["idle"]["rss_kib"] / 1024 for r in runs], color="#dd8452", label="+ active")
    axes[0].set_title(f"listener RSS, {out['settings']['conns']} connections (MiB)")
    axes[0].legend()
    axes[1].bar(names, [r["establish"]["seconds"] for r in runs], color="#55a868")
    axes[1].set_title("time to establish them (s)")
    width = 0.13
    labels = ["empty p50", "empty p99", "idle p50", "idle p99", "active p50", "active p99"]
    for i, label in enumerate(labels):
        phase, q = label.split()
        vals = []
        for r in runs:
            probe = r["probe_empty"] if phase == "empty" else r[phase]["probe"]
            vals.append(probe.get(f"{q}_ms") or 0.0)
        axes[2].bar([j + (i - 2.5) * width for j in range(len(runs))], vals, width, label=label)
    axes[2].set_xticks(range(len(runs)), names)
    axes[2].set_yscale("log")
    axes[2].set_title("probe ping RTT (ms, log scale)")
    axes[2].legend(fontsize=7)
    la = out["load_before"]
    fig.suptitle(f"{out['settings']['conns']} concurrent connections to one listener — {out['started_utc']}, "
                 f"load {la[0]:.2f} → {out['load_after'][0]:.2f}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> int:
    if argv[:1] == ["_worker"]:
        return worker_main(argv[1:])
    import compare

    p = argparse.ArgumentParser(prog="compare.py --suite many_conns", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conns", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--concurrency", type=int, default=12,
                   help="dials in flight per client process (default 12; the listener drops the idlest pending "
                   "handshake beyond 64)")
    p.add_argument("--active-fraction", type=float, default=0.1)
    p.add_argument("--message-bytes", type=int, default=1024)
    p.add_argument("--settle", type=float, default=10.0, help="seconds before each phase's measurements")
    p.add_argument("--hold", type=float, default=10.0, help="seconds over which the listener's CPU is measured")
    p.add_argument("--pings", type=int, default=200)
    p.add_argument("--ping-interval", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--only", default="ours,go",
                   help="comma-separated listeners, in order: ours, go, and base (--base-repo's `libp2p serve`)")
    p.add_argument("--base-repo", type=Path, default=None, metavar="DIR",
                   help="a checkout with its own .venv (e.g. main) whose `libp2p serve` runs as listener 'base'")
    p.add_argument("--repeat", type=int, default=1, help="run the listener list this many times, interleaved")
    p.add_argument("--out-dir", type=Path, default=compare.RESULTS_DIR)
    p.add_argument("--no-write", action="store_true")
    cfg = p.parse_args(argv)
    fds = raise_fd_limit()
    out: dict[str, Any] = {
        "suite": "many_conns",
        "started_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # out_dir is left out: it is a path on this machine
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()
                     if k not in ("out_dir", "base_repo")},
        "fd_limit": list(fds),
        "machine": compare.machine(),
        "versions": compare.ours_versions(),
        "load_before": list(os.getloadavg()),
        "runs": [],
    }
    if fds[0] < cfg.conns + 200:
        print(f"warning: open-file limit {fds[0]} is below {cfg.conns + 200}", file=sys.stderr)
    for name in [x.strip() for x in cfg.only.split(",") if x.strip()] * max(1, cfg.repeat):
        if name not in ("ours", "go", "base"):
            print(f"unknown listener {name!r}", file=sys.stderr)
            return 2
        try:
            out["runs"].append(run_one(name, cfg, compare))
        except RuntimeError as exc:  # e.g. go not installed
            compare.progress(f"{name}: skipped: {exc}")
            out["runs"].append({"listener": name, "error": f"skipped: {exc}"[:400]})
    out["load_after"] = list(os.getloadavg())
    print(markdown(out))
    if not cfg.no_write:
        cfg.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = cfg.out_dir / f"many_conns-{stamp}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        chart(out, path.with_suffix(".png"))
        print(f"wrote {path}", file=sys.stderr)
    ok = all("error" not in r for r in out["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
