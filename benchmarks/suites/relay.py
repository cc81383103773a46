"""Circuit relay v2 side by side: relayed throughput and ping latency through our relay vs through
go-libp2p's (and rust-libp2p's) relay, with the same client and target programs, and the time from a
relayed connection to the direct one DCUtR makes (ours and go's peers).

* **Through the relay** (loopback): each relay runs as its own process speaking libp2p/test-plans'
  hole-punch contract in the relay role (``MODE=relay``, ``RELAY_UNLIMITED=true``: no per-circuit
  limits), ours being ``tests/netns/holepunch_client.py``. Target A (reserved on the relay) and client
  B are our hosts in this process, the same for every relay: B pings A ``--pings`` times and pushes
  ``--mib`` MiB over one stream through the relay; a direct B→A run is the reference.
* **Relayed → direct** (DCUtR): the whole contract (relay, listener, dialer) in the network-namespace
  NAT testbed of tests/netns when it can be built (root, ip, nft), else on loopback (said in the
  output): the dialer reports the time from its relayed connection to the direct one, and the ping
  RTT over the direct one. ``--runs`` fresh testbeds per configuration.

    .venv/bin/python benchmarks/compare.py --suite relay [--relays ours,go,rust] [--mib 32] [--runs 5]

Writes ``benchmarks/results/relay-<UTC>.{json,png}`` (or ``--out DIR``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.netns.testbed import Process  # noqa: E402

SINK = "/bench/sink/1.0.0"
START_TIMEOUT = 60.0
DIAL_TIMEOUT = 120.0
# (relay, listener, dialer) for the DCUtR timing
DCUTR_CONFIGS = (("ours", "ours", "ours"), ("go", "ours", "ours"), ("go", "go", "go"))


def _log(text: str) -> None:
    print(f"[relay] {text}", file=sys.stderr, flush=True)


# --- the programs -------------------------------------------------------------------------------

def programs(wanted: set[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """argv prefix of each contract program that is available, and versions."""
    import compare

    found: dict[str, list[str]] = {"ours": [sys.executable, "-m", "tests.netns.holepunch_client"]}
    versions: dict[str, str] = {}
    builders = {"go": "build_go_peer.sh", "rust": "build_rust_peer.sh"}
    for name, script in builders.items():
        if name not in wanted:
            continue
        try:
            peer = str(compare._script_path(script, 3600))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            _log(f"{name}: unavailable ({exc})")
            continue
        found[name] = [peer, "hole-punch"]
        if name == "go":
            versions[name] = compare._text([peer, "version"])
        else:
            pinned = re.search(r'^libp2p = \{ version = "=?([^"]+)"', (REPO / "interop/rust/Cargo.toml").read_text(), re.M)
            versions[name] = f"rust-libp2p {pinned.group(1) if pinned else '?'}"
    import libp2p

    versions["ours"] = f"aiolibp2p {libp2p.__version__} ({libp2p.IMPLEMENTATION}), Python {platform.python_version()}"
    return {k: v for k, v in found.items() if k in wanted}, versions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


Spawn = Callable[[str, list[str], str, dict[str, str]], Process]


def _spawn_local(workdir: Path) -> Spawn:
    def spawn(role: str, argv: list[str], name: str, env: dict[str, str]) -> Process:
        stderr_path = workdir / f"{name}.err"
        with open(stderr_path, "w") as err:
            popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                                     cwd=REPO, env={**os.environ, **env})
        proc = Process(name, popen, stderr_path)
        proc.start_reader()
        return proc
    return spawn


def _wait_redis(host: str, port: int, proc: Process, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.popen.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"redis-server did not start: {proc.stderr()}")


@contextmanager
def local_redis(workdir: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not found (apt-get install redis-server)")
    port = _free_port()
    proc = _spawn_local(workdir)("", [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
                                      "no"], "redis", {})
    try:
        _wait_redis("127.0.0.1", port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


def contract_env(mode: str, redis: str, relay_ip: str, **extra: str) -> dict[str, str]:
    return {"MODE": mode, "TRANSPORT": "tcp", "REDIS_ADDR": redis, "RELAY_LISTEN_IP": relay_ip, **extra}


# --- through the relay --------------------------------------------------------------------------

async def sink(stream: Any) -> None:
    total = 0
    while chunk := await stream.read(1 << 20):
        total += len(chunk)
    await stream.write(total.to_bytes(8, "big"))


async def push(host: Any, peer: Any, size: int) -> float:
    stream = await host.new_stream(peer, [SINK], allow_limited=True)
    block = bytes(1 << 16)
    start = time.perf_counter()
    sent = 0
    while sent < size:
        await stream.write(block)
        sent += len(block)
    await stream.close()
    got = int.from_bytes(await stream.readexactly(8), "big")
    elapsed = time.perf_counter() - start
    if got != sent:
        raise RuntimeError(f"the sink counted {got} bytes of {sent}")
    return sent / elapsed / 1e6


async def _through(relay_addr: str | None, pings: int, size: int, repeats: int) -> dict[str, Any]:
    """B pings A and pushes ``size`` bytes to it, through ``relay_addr`` (direct when None)."""
    from libp2p.node import new_host
    from libp2p.protocols.ping.service import PingService
    from libp2p.protocols.relay import RelayClient, ReservationMade

    relays = [relay_addr] if relay_addr else []
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[RelayClient(relays)]) as a, \
            new_host(services=[RelayClient()]) as b:
        a.set_stream_handler(SINK, sink, allow_limited=True)
        client = a.service(RelayClient)
        assert client is not None
        if relay_addr:
            with a.events.stream(ReservationMade) as made:
                async with asyncio.timeout(START_TIMEOUT):
                    while not client.reservations:
                        await made.next()
            # built from the relay's address: go's relay vouches only for public addresses (none on loopback)
            target = f"{relay_addr}/p2p-circuit/p2p/{a.peer_id}"
        else:
            target = str(next(x for x in a.full_addrs() if "/p2p-circuit" not in str(x)))
        await b.connect(target)
        ping = b.service(PingService)
        assert ping is not None
        rtts = [r * 1000 for r in await ping.ping(a.peer_id, pings)]
        rates = [await push(b, a.peer_id, size) for _ in range(repeats)]
        conn = await b.connection_to(a.peer_id)
        return {"path": str(conn.remote_addr), "ping_ms": rtts, "throughput_MBps": rates}


def through_relays(progs: dict[str, list[str]], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    spawn = _spawn_local(workdir)
    with local_redis(workdir) as redis:
        for name, argv in progs.items():
            _log(f"through {name}'s relay: {args.pings} pings, {args.repeats} × {args.mib} MiB")
            relay = spawn("", argv, f"bench-relay-{name}", contract_env("relay", redis, "127.0.0.1",
                                                                          RELAY_UNLIMITED="true"))
            try:
                addr = relay.json_line(START_TIMEOUT)["multiaddrs"][0]
                out[name] = asyncio.run(_through(addr, args.pings, args.mib << 20, args.repeats))
                out[name]["relay_cpu_s"] = _cpu_seconds(relay.popen.pid)
            except Exception as exc:  # noqa: BLE001 - record it, measure the others
                out[name] = {"error": f"{exc!r}"[:400], "stderr": relay.stderr()[-800:]}
            finally:
                relay.stop()
        # the popped-but-unused second copy of each address stays in this private redis: harmless
    _log("direct reference")
    out["direct"] = asyncio.run(_through(None, args.pings, args.mib << 20, args.repeats))
    return out


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, IndexError, ValueError):
        return None


# --- relayed -> direct ----------------------------------------------------------------------------

def _one_holepunch(spawn: Spawn, progs: dict[str, list[str]], config: tuple[str, str, str], redis: str,
                   relay_ip: str, roles: tuple[str, str, str]) -> dict[str, Any]:
    relay, listener, dialer = config
    procs: list[Process] = []
    try:
        procs.append(spawn(roles[0], progs[relay], f"hp-relay-{relay}", contract_env("relay", redis, relay_ip)))
        procs[-1].json_line(START_TIMEOUT)
        procs.append(spawn(roles[1], progs[listener], f"hp-listen-{listener}", contract_env("listen", redis, relay_ip)))
        procs[-1].json_line(START_TIMEOUT)
        procs.append(spawn(roles[2], progs[dialer], f"hp-dial-{dialer}", contract_env("dial", redis, relay_ip)))
        return procs[-1].json_line(DIAL_TIMEOUT)
    finally:
        for p in reversed(procs):
            p.stop()


def relayed_to_direct(progs: dict[str, list[str]], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from tests.netns import testbed

    reason = None if args.where != "loopback" else "--where loopback"
    if reason is None:
        reason = testbed.unavailable()
    where = "netns" if reason is None else "loopback"
    configs = [c for c in DCUTR_CONFIGS if all(x in progs for x in c)]
    skipped = []
    if where == "loopback":  # go hole-punches only once it has a public address: never on loopback
        skipped = [c for c in configs if "go" in c[1:]]
        configs = [c for c in configs if c not in skipped]
    out: dict[str, Any] = {"where": where, "why_not_netns": reason, "netem": None, "configs": {},
                           "skipped": {"-".join(c): "go peers need a public address to hole-punch" for c in skipped}}
    for config in configs:
        key = "-".join(config)
        runs: list[dict[str, Any]] = []
        errors: list[str] = []
        for i in range(args.runs):
            _log(f"DCUtR {key} ({where}) run {i + 1}/{args.runs}")
            try:
                if where == "netns":
                    with testbed.Testbed(workdir) as bed:
                        redis = bed.spawn_argv("relay", [str(shutil.which("redis-server")), "--bind", testbed.RELAY_IP,
                                                         "--port", "6379", "--save", "", "--appendonly", "no",
                                                         "--protected-mode", "no"], "redis")
                        out["netem"] = bed.netem
                        _wait_redis_in(bed, redis)

                        def in_bed(role: str, argv: list[str], name: str, env: dict[str, str]) -> Process:
                            return bed.spawn_argv(role, argv, name, env)

                        runs.append(_one_holepunch(in_bed, progs, config, f"{testbed.RELAY_IP}:6379", testbed.RELAY_IP,
                                                   ("relay", "peer-a", "peer-b")))
                else:
                    with local_redis(workdir) as redis_addr:
                        runs.append(_one_holepunch(_spawn_local(workdir), progs, config, redis_addr, "127.0.0.1",
                                                   ("", "", "")))
            except (AssertionError, RuntimeError, json.JSONDecodeError, OSError) as exc:
                errors.append(str(exc)[:600])
        out["configs"][key] = {"runs": runs, "errors": errors}
    return out


def _wait_redis_in(bed: Any, proc: Process) -> None:
    from tests.netns.testbed import RELAY_IP

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.popen.poll() is None:
        if bed.sh("relay", "redis-cli", "-h", RELAY_IP, "ping", check=False).stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise RuntimeError(f"redis-server did not start in the testbed: {proc.stderr()}")


# --- report ---------------------------------------------------------------------------------------

def _med(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def markdown(result: dict[str, Any]) -> str:
    lines = ["| path | ping median (ms) | ping min (ms) | throughput median (MB/s) | relay CPU (s) |",
             "|---|---:|---:|---:|---:|"]
    for name, r in result["through"].items():
        label = "direct (no relay)" if name == "direct" else f"through {name}'s relay"
        if "error" in r:
            lines.append(f"| {label} | error: {r['error'][:80]} | | | |")
            continue
        lines.append(f"| {label} | {_med(r['ping_ms'])} | {round(min(r['ping_ms']), 3)} | "
                     f"{_med(r['throughput_MBps'])} | {r.get('relay_cpu_s', '')} |")
    d = result["dcutr"]
    lines += ["", f"Relayed → direct (DCUtR), {d['where']}" + (f" ({d['why_not_netns']})" if d["why_not_netns"] else "")
              + (", no netem delay" if d["netem"] is False else ""), "",
              "| relay / listener / dialer | runs ok | relayed→direct median (ms) | min–max (ms) | "
              "RTT over direct median (ms) |", "|---|---:|---:|---:|---:|"]
    for key, c in d["configs"].items():
        ups = [r["relayed_to_direct_millis"] for r in c["runs"]]
        rtts = [r["rtt_to_holepunched_peer_millis"] for r in c["runs"]]
        span = f"{min(ups):.1f}–{max(ups):.1f}" if ups else ""
        lines.append(f"| {key.replace('-', ' / ')} | {len(ups)}/{len(ups) + len(c['errors'])} | {_med(ups)} | {span} | "
                     f"{_med(rtts)} |")
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    through = {k: v for k, v in result["through"].items() if "error" not in v}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    names = list(through)
    axes[0].bar(names, [statistics.median(through[n]["throughput_MBps"]) for n in names], color="#4c72b0")
    axes[0].set_title(f"throughput, {result['settings']['mib']} MiB (MB/s)")
    axes[1].bar(names, [statistics.median(through[n]["ping_ms"]) for n in names], color="#dd8452")
    axes[1].set_title("ping RTT median (ms)")
    configs = result["dcutr"]["configs"]
    keys = [k for k in configs if configs[k]["runs"]]
    ups = [[r["relayed_to_direct_millis"] for r in configs[k]["runs"]] for k in keys]
    if keys:
        axes[2].boxplot(ups, tick_labels=[k.replace("-", "/") for k in keys])
    axes[2].set_title(f"relayed → direct, DCUtR (ms, {result['dcutr']['where']})")
    for ax in axes:
        ax.tick_params(axis="x", labelsize=8)
    la, lb = result["load_before"], result["load_after"]
    fig.suptitle(f"circuit relay v2: ours vs go/rust relays — {result['started_utc']}, load {la[0]:.2f} → {lb[0]:.2f}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="compare.py --suite relay", description=__doc__.splitlines()[0])
    parser.add_argument("--relays", default="ours,go,rust",
                        help="comma-separated: ours, go, rust (default: all); the DCUtR runs use these programs too")
    parser.add_argument("--mib", type=int, default=32, help="MiB pushed through the relay per run (default 32)")
    parser.add_argument("--repeats", type=int, default=3, help="pushes per relay (default 3)")
    parser.add_argument("--pings", type=int, default=50, help="pings per relay (default 50)")
    parser.add_argument("--runs", type=int, default=5, help="DCUtR runs per configuration (default 5)")
    parser.add_argument("--where", choices=("auto", "loopback"), default="auto",
                        help="DCUtR in the netns testbed when possible (auto) or on loopback")
    parser.add_argument("--no-dcutr", action="store_true", help="skip the relayed → direct timing")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where the JSON/PNG go")
    args = parser.parse_args(argv)
    wanted = {x.strip() for x in args.relays.split(",") if x.strip()}
    if not wanted <= {"ours", "go", "rust"}:
        parser.error("--relays takes ours, go, rust")
    started = datetime.now(UTC)
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        workdir = Path(tmp)
        progs, versions = programs(wanted)  # the DCUtR configurations use these too
        through = through_relays(progs, args, workdir)
        dcutr: dict[str, Any] = {"where": "skipped", "why_not_netns": "--no-dcutr", "netem": None, "configs": {}}
        if not args.no_dcutr:
            dcutr = relayed_to_direct(progs, args, workdir)
    result = {
        "suite": "relay", "started_utc": started.strftime("%Y-%m-%d %H:%M:%SZ"),
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "load_before": load_before, "load_after": list(os.getloadavg()), "versions": versions,
        "settings": {"mib": args.mib, "repeats": args.repeats, "pings": args.pings, "runs": args.runs,
                     "client_and_target": "ours (in-process, the same for every relay)"},
        "through": through, "dcutr": dcutr,
    }
    table = markdown(result)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"relay-{started.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    if chart(result, stem.with_suffix(".png")):
        _log(f"wrote {stem}.json and .png")
    else:
        _log(f"wrote {stem}.json (no matplotlib: no chart)")
    failed = [k for k, v in through.items() if "error" in v]
    return 1 if failed else 0
