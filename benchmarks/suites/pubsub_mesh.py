"""GossipSub, a 20-node mesh on loopback, side by side: ours, go-libp2p-pubsub and js gossipsub.

    .venv/bin/python benchmarks/compare.py --suite pubsub_mesh [--nodes 20] [--only ours-cython,go,js]
    .venv/bin/python benchmarks/compare.py --suite pubsub_mesh --smoke      # 4 nodes, tiny ladder (CI)

For each implementation, ``--nodes`` processes (one node each: TCP + Noise + yamux, GossipSub with
its library's defaults, StrictSign) are connected in the same sparse topology (a ring plus two random
chords per node, seeded) and subscribe to one topic; once every node has a mesh, node 0 publishes:

* **latency**: 1 KiB and 64 KiB messages at a low rate (20 and 10 per second); each payload starts
  with the publisher's wall clock (ns), every receiver takes its own clock at delivery (the same
  machine, so the same clock), and p50/p99 are over all receivers' deliveries;
* **sustained rate**: a ladder of offered rates (each step ``--step-seconds`` of publishing, then a
  bounded drain); a step passes when every node received at least 99% of its messages and the
  receivers' delivery span kept up (≥ 80% of the offered rate). The ladder doubles and stops at the
  first failing step; then ``--refine`` bisection steps (bounded by ``--refine-seconds``) between the
  last passing and the first failing rate, each after the mesh has settled. The sustained rate is
  the highest passing rate of all (``ladder_rate`` in the JSON is the doubling ladder's alone).

Every node runs the same stdin commands (the peer programs' pubsub role plus its bench mode:
``pubsub-bench-start``, ``pubsub-bench-publish TOPIC COUNT SIZE RATE``, ``pubsub-bench-stats``; see
``interop/go/pubsub_bench.go`` and ``interop/js/pubsub_bench.mjs``); ours is this file run with
``--node``. The machine's load average is recorded before and after; compare ratios within one run.
Writes ``benchmarks/results/pubsub_mesh-<UTC>.{json,png}``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

TOPIC = "bench"
ORDER = ["ours-cython", "ours-pure", "go", "js"]
HEADER = 8  # the payload starts with the publisher's wall clock, u64 big-endian ns
COMMAND_TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------
# our node: a process speaking the peer programs' commands


async def _node_main(args: argparse.Namespace) -> None:
    from libp2p import new_host
    from libp2p.peerstore import PeerInfo
    from libp2p.protocols.pubsub import GossipSub

    pubsub = GossipSub()
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[pubsub]) as host:
        sub = pubsub.subscribe(TOPIC)
        counters: dict[str, dict[str, Any]] = {}

        async def consume() -> None:
            async for msg in sub:
                c = counters.get(msg.topic)
                if c is None:
                    continue
                now = time.time_ns()
                c["received"] += 1
                c["first_ns"] = c["first_ns"] or now
                c["last_ns"] = now
                if len(msg.data) >= HEADER:
                    c["latencies_us"].append((now - int.from_bytes(msg.data[:HEADER], "big")) // 1000)

        def emit(obj: dict[str, Any]) -> None:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

        async def publish(topic: str, count: int, size: int, rate: float) -> dict[str, Any]:
            size = max(size, HEADER + 4)
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(count):
                if rate > 0:
                    wait = start + i / rate - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    else:
                        await asyncio.sleep(0)  # let the senders write
                else:
                    await asyncio.sleep(0)
                body = bytearray(size)
                body[HEADER:HEADER + 4] = i.to_bytes(4, "big")
                body[:HEADER] = time.time_ns().to_bytes(8, "big")
                await pubsub.publish(topic, bytes(body))
            return {"topic": topic, "published": count, "seconds": loop.time() - start}

        async def run(cmd: str, argv: list[str]) -> dict[str, Any]:
            if cmd == "connect":
                info = PeerInfo.from_multiaddr(argv[0])
                await host.connect(info)
                return {"peer": str(info.peer_id)}
            topic = argv[0]
            if cmd == "pubsub-peers":
                return {"topic": topic, "mesh": [str(p) for p in pubsub.mesh_peers(topic)],
                        "subscribers": [str(p) for p in pubsub.topic_peers(topic)]}
            if cmd == "pubsub-bench-start":
                counters[topic] = {"received": 0, "first_ns": 0, "last_ns": 0, "latencies_us": []}
                return {"topic": topic}
            if cmd == "pubsub-bench-stats":
                c = counters[topic]
                out = {k: c[k] for k in ("received", "first_ns", "last_ns")} | {"topic": topic}
                if len(argv) > 1:
                    out["latencies_us"] = list(c["latencies_us"])
                return out
            if cmd == "pubsub-bench-publish":
                return await publish(topic, int(argv[1]), int(argv[2]), float(argv[3]) if len(argv) > 3 else 0.0)
            raise ValueError("unknown command")

        async def command(line: str) -> None:
            cmd, *argv = line.split()
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    result = await run(cmd, argv)
                emit({"event": "cmd_result", "cmd": cmd, "args": argv, "ok": True} | result)
            except Exception as exc:  # noqa: BLE001 - every failure is answered, as the peer programs do
                emit({"event": "cmd_result", "cmd": cmd, "args": argv, "ok": False, "error": repr(exc)})

        consumer = asyncio.create_task(consume())
        emit({"peer_id": str(host.peer_id), "multiaddrs": [f"{a}/p2p/{host.peer_id}" for a in host.addrs]})
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        tasks: set[asyncio.Task[None]] = set()
        while line := (await reader.readline()).decode().strip():
            if line == "quit":
                break
            task = asyncio.create_task(command(line))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        consumer.cancel()
        sub.cancel()


# ---------------------------------------------------------------------------------------------
# the driver


class Node:
    """One node process, driven through its stdin commands (one command at a time)."""

    def __init__(self, compare: Any, name: str, argv: list[str], env: dict[str, str] | None,
                 cwd: Path | None) -> None:
        self.name = name
        self.proc = compare.bs.Proc(argv, env=env, cwd=cwd)
        self.peer_id = self.address = ""

    def wait_ready(self, timeout: float) -> None:
        ready = self.proc.json_line(timeout)
        self.peer_id = ready["peer_id"]
        self.address = next(a for a in ready["multiaddrs"] if "/ip4/127.0.0.1/tcp/" in a)

    def send(self, line: str) -> None:
        stdin = self.proc.proc.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def result(self, cmd: str, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no result of {cmd} in {timeout:.0f} s; {self.proc.err()}")
            line = self.proc.json_line(left)
            if line.get("event") == "cmd_result" and line.get("cmd") == cmd:
                if not line.get("ok"):
                    raise RuntimeError(f"{self.name}: {cmd} failed: {line.get('error')}")
                return line

    def call(self, line: str, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        self.send(line)
        return self.result(line.split()[0], timeout)

    def cpu(self) -> float:
        try:
            fields = Path(f"/proc/{self.proc.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self) -> None:
        self.proc.stop()


def call_all(nodes: list[Node], line: str, timeout: float = COMMAND_TIMEOUT) -> list[dict[str, Any]]:
    for n in nodes:
        n.send(line)
    return [n.result(line.split()[0], timeout) for n in nodes]


def topology(n: int, chords: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    edges = {(i, (i + 1) % n) for i in range(n)} if n > 2 else {(0, 1)}
    for i in range(n):
        for _ in range(chords):
            j = rng.randrange(n)
            if j != i and (i, j) not in edges and (j, i) not in edges:
                edges.add((i, j))
    return sorted(edges)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


class MeshRun:
    """One implementation's mesh: start, connect, wait for the mesh, then the measurements."""

    def __init__(self, compare: Any, impl: str, cmd: Any, cfg: argparse.Namespace) -> None:
        self.impl = impl
        self.cfg = cfg
        self.nodes: list[Node] = []
        argv, cwd, env = cmd
        try:
            for i in range(cfg.nodes):  # all started at once: one by one takes minutes on a loaded machine
                self.nodes.append(Node(compare, f"{impl}#{i}", argv, env, cwd))
            for node in self.nodes:
                node.wait_ready(180.0)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()

    def setup(self) -> dict[str, Any]:
        edges = topology(len(self.nodes), self.cfg.chords, self.cfg.seed)
        todo = list(edges)
        for attempt in range(4):  # a loaded machine times out some handshakes: retry those
            for a, b in todo:
                self.nodes[a].send(f"connect {self.nodes[b].address}")
            failed = []
            for a, b in todo:
                try:
                    self.nodes[a].result("connect")
                except RuntimeError as exc:
                    if attempt == 3:
                        raise
                    compare_progress(f"{self.impl}: retrying a connect: {exc}")
                    failed.append((a, b))
            if not failed:
                break
            todo = failed
        degree = [0] * len(self.nodes)
        for a, b in edges:
            degree[a] += 1
            degree[b] += 1
        deadline = time.monotonic() + self.cfg.mesh_timeout
        meshes: list[int] = []
        while time.monotonic() < deadline:
            views = call_all(self.nodes, f"pubsub-peers {TOPIC}")
            meshes = [len(v["mesh"]) for v in views]
            if all(m >= min(4, d) for m, d in zip(meshes, degree, strict=True)):
                break
            time.sleep(0.5)
        time.sleep(1.5)  # a heartbeat more, so GRAFTs in flight land
        return {"edges": len(edges), "degree_median": statistics.median(degree), "mesh_sizes": meshes}

    def step(self, size: int, rate: float, count: int, latencies: bool = False) -> dict[str, Any]:
        receivers = self.nodes[1:]
        call_all(self.nodes, f"pubsub-bench-start {TOPIC}")
        cpu0 = sum(n.cpu() for n in self.nodes)
        t0 = time.time_ns()
        pub = self.nodes[0].call(f"pubsub-bench-publish {TOPIC} {count} {size} {rate:g}",
                                 timeout=count / max(rate, 1.0) + COMMAND_TIMEOUT)
        deadline = time.monotonic() + self.cfg.drain
        stats = call_all(receivers, f"pubsub-bench-stats {TOPIC}")
        while sum(s["received"] for s in stats) < count * len(receivers) and time.monotonic() < deadline:
            time.sleep(0.2)
            stats = call_all(receivers, f"pubsub-bench-stats {TOPIC}")
        if latencies:
            stats = call_all(receivers, f"pubsub-bench-stats {TOPIC} latencies")
        cpu = sum(n.cpu() for n in self.nodes) - cpu0
        received = [min(s["received"], count) for s in stats]
        delivery = sum(received) / (count * len(receivers))
        last = max((s["last_ns"] for s in stats if s["last_ns"]), default=t0)
        span = (last - t0) / 1e9
        out: dict[str, Any] = {
            "size": size, "offered_rate": rate, "count": count, "publish_seconds": pub["seconds"],
            "publish_rate": count / pub["seconds"] if pub["seconds"] > 0 else None,
            "delivery": delivery, "worst_node": min(received) / count,
            "delivered_rate": sum(received) / len(receivers) / span if span > 0 else None,
            "cpu_seconds_all_nodes": cpu,
        }
        if latencies:
            lat = [x / 1000 for s in stats for x in s.get("latencies_us", [])]
            out["latency_ms_p50"] = _pct(lat, 0.5)
            out["latency_ms_p99"] = _pct(lat, 0.99)
            out["latency_samples"] = len(lat)
        return out

    def ladder(self, size: int, rates: list[float]) -> dict[str, Any]:
        steps = []
        sustained = 0.0
        failed: float | None = None
        for rate in rates:
            s = self._ladder_step(size, rate)
            steps.append(s)
            if not s["pass"]:
                failed = rate
                break
            sustained = rate
        ladder_rate = sustained
        # The ladder doubles, so the first failing step only brackets the rate: bisect between the
        # last passing and the first failing rate (bounded in steps and time; a bracket under 5%
        # of its top is fine enough), after letting the failed step's backlog drain.
        refined = 0
        if failed is not None:
            low, high = sustained, failed
            deadline = time.monotonic() + self.cfg.refine_seconds
            while refined < self.cfg.refine and time.monotonic() < deadline and high - low > 0.05 * high:
                self.settle()
                rate = float(round((low + high) / 2)) if high >= 20 else (low + high) / 2
                if rate <= low or rate >= high:
                    break
                s = self._ladder_step(size, rate, refine=True)
                steps.append(s)
                refined += 1
                if s["pass"]:
                    low = rate
                else:
                    high = rate
            sustained = low
        # What the mesh would sustain with the machine's cores to itself: cores / CPU-seconds per
        # message (all nodes), from the busiest step that delivered >= 99% (the machine is shared)
        full = [s for s in steps if s["delivery"] >= 0.99 and s["cpu_seconds_all_nodes"] > 0]
        bound = None
        if full:
            busiest = max(full, key=lambda s: s["offered_rate"])
            bound = (os.cpu_count() or 1) / (busiest["cpu_seconds_all_nodes"] / busiest["count"])
        first_fail = min((s["offered_rate"] for s in steps if not s["pass"]), default=None)
        return {"sustained_rate": sustained, "ladder_rate": ladder_rate, "first_failing_rate": first_fail,
                "refine_steps": refined, "steps": steps, "cpu_bound_rate": bound}

    def _ladder_step(self, size: int, rate: float, refine: bool = False) -> dict[str, Any]:
        count = max(self.cfg.min_count, int(rate * self.cfg.step_seconds))
        s = self.step(size, rate, count, latencies=True)
        ok = s["delivery"] >= 0.99 and (s["delivered_rate"] or 0.0) >= 0.8 * rate
        s["pass"] = ok
        s["refine"] = refine
        compare_progress(f"  {self.impl} {size} B at {rate:g}/s{' (refining)' if refine else ''}: "
                         f"delivery {s['delivery']:.1%}, delivered {s['delivered_rate'] or 0:.0f}/s, "
                         f"p50 {s['latency_ms_p50'] or 0:.1f} ms{'' if ok else '  (fails)'}")
        return s

    def settle(self) -> None:
        """Wait (bounded by ``--drain``) until the receivers' counts stop moving: a failed step's
        late deliveries must not count in the next step."""
        deadline = time.monotonic() + self.cfg.drain
        last = -1
        while time.monotonic() < deadline:
            total = sum(s["received"] for s in call_all(self.nodes[1:], f"pubsub-bench-stats {TOPIC}"))
            if total == last:
                return
            last = total
            time.sleep(0.5)


def compare_progress(text: str) -> None:
    print(f"[pubsub_mesh] {text}", file=sys.stderr, flush=True)


def _commands(compare: Any, names: list[str]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """name -> (argv, cwd, env) of one node; skipped: name -> why; versions."""
    cmds: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    listen = ["listen", "--events", "--listen", "/ip4/127.0.0.1/tcp/0", "--muxer", "yamux",
              "--pubsub", "gossipsub", "--subscribe", TOPIC]
    for name in names:
        try:
            if name.startswith("ours-"):
                build = "python" if name == "ours-pure" else "cython"
                env = compare.bs._py_env(build)
                impl = compare._ours("pure" if build == "python" else "cython")
                cmds[name] = ([sys.executable, str(Path(__file__).resolve()), "--node"], compare.REPO, env)
                versions[name] = impl.version
            elif name == "go":
                impl = compare._go()
                peer = impl.server_cmd("127.0.0.1:0")[0][0]
                cmds[name] = ([peer, *listen], None, None)
                versions[name] = impl.version + ", go-libp2p-pubsub v0.19.0"
            elif name == "js":
                impl = compare._js()
                argv, cwd, _ = impl.server_cmd("127.0.0.1:0")
                cmds[name] = ([argv[0], argv[1], *listen, "--no-connection-monitor"], cwd, None)
                gs = "?"
                try:
                    assert cwd is not None
                    root = Path(cwd)
                    while not (root / "node_modules").exists() and root != root.parent:
                        root = root.parent
                    gs = json.loads((root / "node_modules/@libp2p/gossipsub/package.json").read_text())["version"]
                except (OSError, ValueError, KeyError, AssertionError):
                    pass
                versions[name] = impl.version + f", @libp2p/gossipsub {gs}"
            else:
                raise RuntimeError(f"unknown implementation {name}")
        except (RuntimeError, OSError) as exc:
            skipped[name] = str(exc)
            compare_progress(f"SKIPPING {name}: {exc}")
    return cmds, skipped, versions


def markdown(out: dict[str, Any]) -> str:
    lines = [f"Load average before {out['load_before'][0]:.1f}, after {out['load_after'][0]:.1f} "
             f"({out['machine'].get('cpus')} CPUs); {out['settings']['nodes']} nodes per mesh.", "",
             "| implementation | size | sustained msg/s | delivered msg/s at it | latency p50 / p99 ms (low rate) |"
             " latency p50 / p99 ms (at sustained) | CPU s per 1000 msgs (all nodes) | CPU-bound msg/s |",
             "|---|---:|---:|---:|---|---|---:|---:|"]
    for name, r in out["results"].items():
        for size_key, res in r["sizes"].items():
            low = res["latency"]
            best = next((s for s in reversed(res["ladder"]["steps"]) if s["pass"]), None)

            def ms(x: Any) -> str:
                return "–" if x is None else f"{x:.1f}"
            at = f"{ms(best['latency_ms_p50'])} / {ms(best['latency_ms_p99'])}" if best else "–"
            cpu = f"{1000 * best['cpu_seconds_all_nodes'] / best['count']:.1f}" if best else "–"
            rate = f"{best['delivered_rate']:.0f}" if best and best["delivered_rate"] else "–"
            bound = res["ladder"].get("cpu_bound_rate")
            fails = res["ladder"].get("first_failing_rate")
            sustained = f"{res['ladder']['sustained_rate']:g}" + ("" if fails is None else f" (fails at {fails:g})")
            lines.append(f"| {name} | {size_key} | {sustained} | {rate} |"
                         f" {ms(low['latency_ms_p50'])} / {ms(low['latency_ms_p99'])} | {at} | {cpu} |"
                         f" {'–' if bound is None else f'{bound:.0f}'} |")
    if out.get("ratios"):
        lines += ["", "| ratio | " + " | ".join(out["ratios"][0]["values"]) + " |",
                  "|---|" + "---:|" * len(out["ratios"][0]["values"])]
        for row in out["ratios"]:
            lines.append(f"| {row['name']} | " + " | ".join(
                "–" if v is None else f"{v:.2f}" for v in row["values"].values()) + " |")
    return "\n".join(lines)


def ratios(out: dict[str, Any]) -> list[dict[str, Any]]:
    res = out["results"]
    rows = []
    for other in ("go", "js"):
        if "ours-cython" not in res or other not in res:
            continue
        values: dict[str, float | None] = {}
        for size_key in res["ours-cython"]["sizes"]:
            ours = res["ours-cython"]["sizes"][size_key]["ladder"]["sustained_rate"]
            theirs = res[other]["sizes"].get(size_key, {}).get("ladder", {}).get("sustained_rate")
            values[f"rate {size_key}"] = ours / theirs if theirs else None
            cb_o = res["ours-cython"]["sizes"][size_key]["ladder"].get("cpu_bound_rate")
            cb_t = res[other]["sizes"].get(size_key, {}).get("ladder", {}).get("cpu_bound_rate")
            values[f"CPU-bound rate {size_key}"] = cb_o / cb_t if cb_o and cb_t else None
            lo = res["ours-cython"]["sizes"][size_key]["latency"]["latency_ms_p50"]
            lt = res[other]["sizes"].get(size_key, {}).get("latency", {}).get("latency_ms_p50")
            values[f"p50 latency {size_key}"] = lo / lt if lo and lt else None
        rows.append({"name": f"ours-cython / {other}", "values": values})
    return rows


def chart(out: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        compare_progress("no matplotlib: no chart")
        return
    names = list(out["results"])
    sizes = list(next(iter(out["results"].values()))["sizes"]) if names else []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        rates = [out["results"][name]["sizes"][s]["ladder"]["sustained_rate"] for s in sizes]
        p50 = [out["results"][name]["sizes"][s]["latency"]["latency_ms_p50"] or 0 for s in sizes]
        p99 = [out["results"][name]["sizes"][s]["latency"]["latency_ms_p99"] or 0 for s in sizes]
        xs = [i + k * width for i in range(len(sizes))]
        axes[0].bar(xs, rates, width, label=name)
        bound = [out["results"][name]["sizes"][s]["ladder"].get("cpu_bound_rate") or 0 for s in sizes]
        axes[2].bar(xs, bound, width, label=name)
        axes[1].bar(xs, p50, width, label=f"{name} p50")
        axes[1].scatter(xs, p99, marker="_", s=200, color="black")
    titles = ("sustained msg/s (every node receiving)", "latency ms at a low rate: bar p50, tick p99",
              "CPU-bound msg/s (cores / CPU-s per message)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))], sizes)
        ax.set_title(title)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"GossipSub, {out['settings']['nodes']} nodes on loopback, load "
                 f"{out['load_before'][0]:.1f}→{out['load_after'][0]:.1f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="compare.py --suite pubsub_mesh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="4 nodes, a short ladder, few messages (CI)")
    ap.add_argument("--nodes", type=int, help="nodes per mesh (default 20; smoke 4)")
    ap.add_argument("--chords", type=int, default=2, help="random extra links each node dials (besides the ring)")
    ap.add_argument("--only", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}")
    ap.add_argument("--step-seconds", type=float, default=2.0, help="publishing time per ladder step")
    ap.add_argument("--min-count", type=int, default=20, help="messages per ladder step at least")
    ap.add_argument("--drain", type=float, default=8.0, help="seconds to wait for deliveries after a step")
    ap.add_argument("--refine", type=int, default=4,
                    help="bisection steps between the last passing and the first failing rate (smoke: 1)")
    ap.add_argument("--refine-seconds", type=float, default=90.0, help="time bound of the bisection per ladder")
    ap.add_argument("--mesh-timeout", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-dir", type=Path, help="where the JSON and PNG go (default benchmarks/results)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--profile", type=Path, help="ours: run each node under cProfile, dumps into this directory")
    ap.add_argument("--fixed", metavar="SIZE:RATE:COUNT", help="only one step (e.g. 1024:50:200), for profiling")
    ap.add_argument("--node", action="store_true", help=argparse.SUPPRESS)
    cfg = ap.parse_args(argv)
    if cfg.node:
        profile_dir = os.environ.get("PUBSUB_MESH_PROFILE")
        if not profile_dir:
            asyncio.run(_node_main(cfg))
            return 0
        import cProfile

        with cProfile.Profile(time.process_time) as prof:  # CPU, not a loaded machine's wall clock
            asyncio.run(_node_main(cfg))
        prof.dump_stats(str(Path(profile_dir) / f"node-{os.getpid()}.prof"))
        return 0
    import compare

    cfg.nodes = cfg.nodes or (4 if cfg.smoke else 20)
    if cfg.smoke:
        plan = {"1KiB": (1024, [20.0, 40.0], 20.0, 20), "64KiB": (65536, [10.0], 10.0, 10)}
        cfg.step_seconds = min(cfg.step_seconds, 1.0)
        cfg.min_count = min(cfg.min_count, 10)
        cfg.refine = min(cfg.refine, 1)
    else:
        plan = {"1KiB": (1024, [25.0 * 2**k for k in range(9)], 20.0, 100),
                "64KiB": (65536, [5.0 * 2**k for k in range(8)], 10.0, 50)}
    names = [x for x in cfg.only.split(",") if x]
    started = time.time()
    stamp = _dt.datetime.fromtimestamp(started, _dt.UTC)
    out: dict[str, Any] = {
        "benchmark": f"GossipSub mesh of {cfg.nodes} nodes per implementation, loopback TCP + Noise + yamux",
        "started_utc": stamp.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python benchmarks/compare.py --suite pubsub_mesh", *argv]),
        "settings": {k: v for k, v in vars(cfg).items() if k not in ("out_dir", "node")} | {"plan": plan},
        "machine": compare.machine(), "load_before": os.getloadavg(), "results": {}, "errors": {},
    }
    cmds, out["skipped"], out["versions"] = _commands(compare, names)
    if cfg.profile is not None:
        cfg.profile.mkdir(parents=True, exist_ok=True)
        for name, (argv_, cwd_, env_) in list(cmds.items()):
            if name.startswith("ours-"):
                cmds[name] = (argv_, cwd_, dict(env_ or os.environ, PUBSUB_MESH_PROFILE=str(cfg.profile.resolve())))
    for name, cmd in cmds.items():
        compare_progress(f"{name}: starting {cfg.nodes} nodes")
        run = None
        try:
            run = MeshRun(compare, name, cmd, cfg)
            result: dict[str, Any] = {"setup": run.setup(), "sizes": {}, "load_before": os.getloadavg()}
            compare_progress(f"{name}: mesh {result['setup']}")
            if cfg.fixed:
                size, rate, count = (float(x) for x in cfg.fixed.split(":"))
                result["fixed"] = step = run.step(int(size), rate, int(count), latencies=True)
                compare_progress(f"  {name} fixed step: {step}")
                out["results"][name] = result
                continue
            for size_key, (size, rates, low_rate, low_count) in plan.items():
                latency = run.step(size, low_rate, low_count, latencies=True)
                compare_progress(f"  {name} {size_key} latency at {low_rate:g}/s: p50 {latency['latency_ms_p50']} ms"
                                 f" p99 {latency['latency_ms_p99']} ms, delivery {latency['delivery']:.1%}")
                result["sizes"][size_key] = {"latency": latency, "ladder": run.ladder(size, rates)}
            result["load_after"] = os.getloadavg()
            out["results"][name] = result
        except (RuntimeError, TimeoutError, OSError, KeyError, ValueError) as exc:
            out["errors"][name] = repr(exc)
            compare_progress(f"{name} FAILED: {exc!r}")
        finally:
            if run is not None:
                run.stop()
    out["load_after"] = os.getloadavg()
    out["ratios"] = ratios(out)
    out["duration_seconds"] = time.time() - started
    md = markdown(out)
    out["markdown"] = md
    print(md)
    if out["errors"]:
        print("errors: " + json.dumps(out["errors"]))
    if not cfg.no_write:
        out_dir = cfg.out_dir or compare.RESULTS_DIR
        out_dir.mkdir(parents=True, exist_ok=True)
        base = out_dir / f"pubsub_mesh-{stamp.strftime('%Y%m%d-%H%M%S')}{'-smoke' if cfg.smoke else ''}"
        chart(out, base.with_suffix(".png"))
        base.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
        compare_progress(f"wrote {base.with_suffix('.json')}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    if "--node" in sys.argv[1:]:
        sys.exit(main(sys.argv[1:]))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main(sys.argv[1:]))
