"""Run a gossipsub-interop scenario on loopback with real processes (no Shadow) and measure it.

    python -m interop.gossipsub_interop.runner --scenario subnet-blob-msg --nodes 24 \\
        --composition ours --composition go --composition ours,go [--out DIR] [--json FILE]

A composition names the implementations that share the nodes evenly (``ours,go`` is 50/50),
placed on node ids by a seeded shuffle. Every node gets the same ``params.json`` and a common
time origin; node N listens on 127.0.0.1:BASE+N. Each node's stdout is kept as
``node<N>.stdout`` (the harness' log format) and summarised by :mod:`.analysis`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interop.gossipsub_interop.analysis import LogError, Summary, load_logs, summarize
from interop.gossipsub_interop.scenarios import SCENARIOS, scenario, subscribers

__all__ = ["IMPLEMENTATIONS", "RunResult", "build_go_peer", "free_port_block", "main", "run_composition"]

REPO = Path(__file__).resolve().parents[2]
IMPLEMENTATIONS = ("ours", "go")
STOP_GRACE = 5.0  # s after the script's end before a node is killed
SLACK = 60.0  # s beyond the last waitUntil a run may take (slow connects, exit)
STARTUP = 15.0  # s from starting the processes to the script's time origin


def build_go_peer() -> Path:
    """The cached go peer (``ci/build_go_peer.sh``); raises ``RuntimeError`` if it cannot be built."""
    done = subprocess.run([str(REPO / "ci" / "build_go_peer.sh")], capture_output=True, text=True, timeout=1500)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"go peer build failed: {done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(count: int, rng: random.Random, attempts: int = 50) -> int:
    """A base port with ``count`` consecutive free TCP ports on 127.0.0.1 (checked by binding),
    below the kernel's ephemeral range: the nodes' own outgoing connections take source ports from
    that range and could otherwise occupy the listen port of a node that has not started yet."""
    top = min(_ephemeral_low(), 65536) - count
    low = 10000 if top > 12000 else 1024
    for _ in range(attempts):
        base = rng.randrange(low, top)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {count} free ports found")


def assign(composition: Sequence[str], node_count: int, seed: int) -> list[str]:
    """Even split (the first implementations get the remainder), shuffled onto node ids."""
    base, extra = divmod(node_count, len(composition))
    impls = [name for i, name in enumerate(composition) for _ in range(base + (1 if i < extra else 0))]
    random.Random(seed).shuffle(impls)
    return impls


def last_wait(params: dict[str, Any]) -> int:
    best = 0

    def visit(instruction: dict[str, Any]) -> None:
        nonlocal best
        if instruction.get("type") == "waitUntil":
            best = max(best, int(instruction["elapsedSeconds"]))
        elif instruction.get("type") == "ifNodeIDEquals":
            visit(instruction["instruction"])

    for item in params.get("script", []):
        visit(item)
    return best


@dataclass
class RunResult:
    composition: str
    impls: list[str]
    exit_codes: list[int | None]
    summary: Summary | None
    error: str | None
    out_dir: Path
    #: user + system CPU seconds of all the nodes (RUSAGE_CHILDREN around the run)
    cpu_seconds: float = float("nan")

    @property
    def ok(self) -> bool:
        return self.error is None and all(code == 0 for code in self.exit_codes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "composition": self.composition, "impls": self.impls, "exit_codes": self.exit_codes,
            "error": self.error, "cpu_seconds": round(self.cpu_seconds, 2),
            "summary": self.summary.as_dict() if self.summary else None,
        }


def node_command(impl: str, node_id: int, params_path: Path, base_port: int, start_ns: int,
                 go_peer: Path | None) -> list[str]:
    common = ["--params", str(params_path), "--node-id", str(node_id), "--loopback-base-port", str(base_port),
              "--start-time", str(start_ns)]
    if impl == "ours":
        return [sys.executable, "-m", "interop.gossipsub_interop.node", *common]
    if impl == "go":
        if go_peer is None:
            raise ValueError("a go node needs the go peer binary")
        return [str(go_peer), "gossipsub-interop", *common]
    raise ValueError(f"unknown implementation {impl!r} (known: {', '.join(IMPLEMENTATIONS)})")


def run_composition(params: dict[str, Any], composition: Sequence[str], node_count: int, out_dir: Path, *,
                    seed: int = 1, go_peer: Path | None = None, startup: float = STARTUP,
                    extra_env: dict[str, str] | None = None) -> RunResult:
    """Start ``node_count`` processes on one script, wait for them (bounded), summarise their logs.

    The script's clock starts ``startup`` seconds after the processes are started: every node
    listens by then (Shadow starts all hosts at once; here a loaded machine takes seconds to start
    a Python process), so the first ``connect`` finds its peers up."""
    out_dir.mkdir(parents=True, exist_ok=True)
    params_path = out_dir / "params.json"
    params_path.write_text(json.dumps(params))
    impls = assign(composition, node_count, seed)
    base_port = free_port_block(node_count, random.Random(time.time_ns()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           **(extra_env or {})}
    cpu_before = _children_cpu()
    start_ns = time.time_ns() + int(startup * 1e9)
    deadline = time.monotonic() + startup + last_wait(params) + SLACK
    procs: list[subprocess.Popen[bytes]] = []
    files = []
    try:
        for node_id, impl in enumerate(impls):
            stdout = (out_dir / f"node{node_id}.stdout").open("wb")
            stderr = (out_dir / f"node{node_id}.stderr").open("wb")
            files += [stdout, stderr]
            cmd = node_command(impl, node_id, params_path, base_port, start_ns, go_peer)
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                          cwd=REPO, env=env))
        codes: list[int | None] = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append(None)
    finally:
        for proc in procs:  # every process by its own handle: terminate, then kill, each bounded
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=STOP_GRACE)
        for f in files:
            f.close()
    cpu = _children_cpu() - cpu_before
    name = ",".join(composition)
    try:
        summary = summarize(load_logs(out_dir), subscribers(params, node_count))
        error = None
    except LogError as exc:
        summary, error = None, str(exc)
    if error is None and any(code != 0 for code in codes):
        bad = [(n, impls[n], c) for n, c in enumerate(codes) if c != 0]
        error = f"nodes failed (node, impl, exit code): {bad}; why: {_reasons(out_dir, [n for n, _, _ in bad])}"
    return RunResult(name, impls, codes, summary, error, out_dir, cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reasons(out_dir: Path, nodes: list[int], limit: int = 4) -> list[str]:
    """The distinct last stderr lines of failed nodes (a cascade repeats one cause)."""
    found: list[str] = []
    for node in nodes:
        try:
            lines = (out_dir / f"node{node}.stderr").read_text(errors="replace").strip().splitlines()
        except OSError:
            continue
        last = f"node{node}: {lines[-1][:300]}" if lines else f"node{node}: (no stderr)"
        if not any(last.split(": ", 1)[1] == seen.split(": ", 1)[1] for seen in found):
            found.append(last)
        if len(found) >= limit:
            break
    return found


def format_table(results: Sequence[RunResult]) -> str:
    head = ("| composition | nodes ok | reliability | latency p50 ms | p99 ms | max ms | dup/delivery "
            "| harness spread ms | harness dup/node | CPU s/node |")
    rows = [head, "|" + "---|" * 10]
    for r in results:
        s = r.summary
        ok = sum(1 for c in r.exit_codes if c == 0)
        if s is None:
            rows.append(f"| {r.composition} | {ok}/{len(r.exit_codes)} | {r.error} ||||||||")
            continue
        rows.append(
            f"| {r.composition} | {ok}/{len(r.exit_codes)} | {s.deliveries}/{s.expected_deliveries} "
            f"({100 * s.reliability:.2f} %) | {1000 * s.latency_p50:.1f} | {1000 * s.latency_p99:.1f} "
            f"| {1000 * s.latency_max:.1f} | {s.duplicates_per_delivery:.2f} | {1000 * s.harness_spread_mean:.1f} "
            f"| {s.harness_avg_duplicates:.2f} | {r.cpu_seconds / len(r.exit_codes):.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gossipsub-interop-runner", description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="subnet-blob-msg", choices=sorted(SCENARIOS))
    parser.add_argument("--nodes", type=int, default=24)
    parser.add_argument("--composition", action="append", help="e.g. ours | go | ours,go (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=20, help="links per node (harness: 20)")
    parser.add_argument("--messages", type=int, default=16)
    parser.add_argument("--message-size", type=int, help="bytes (scenario default)")
    parser.add_argument("--setup", type=int, default=10, help="s before the first publish (harness: 120)")
    parser.add_argument("--interval", type=int, default=1, help="s between publishes (harness: 12)")
    parser.add_argument("--flush", type=int, default=5, help="s after the last publish (harness: 30)")
    parser.add_argument("--startup", type=float, default=STARTUP,
                        help="s between starting the processes and the script's time origin")
    parser.add_argument("--go-peer", type=Path, help="the go peer binary (default: ci/build_go_peer.sh)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gossipsub-interop-runs",
                        help="logs and params.json of each run go under this folder")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    compositions = [c.split(",") for c in (args.composition or ["ours", "go", "ours,go"])]
    for comp in compositions:
        for impl in comp:
            if impl not in IMPLEMENTATIONS:
                parser.error(f"unknown implementation {impl!r}")
    options: dict[str, Any] = {"seed": args.seed, "connections": args.connections, "num_messages": args.messages,
                               "setup_s": args.setup, "interval_s": args.interval, "flush_s": args.flush}
    if args.message_size:
        options["message_size"] = args.message_size
    params = scenario(args.scenario, args.nodes, **options)
    go_peer = args.go_peer
    if go_peer is None and any("go" in comp for comp in compositions):
        go_peer = build_go_peer()
    results = []
    for comp in compositions:
        name = "+".join(comp)
        print(f"running {args.scenario} with {args.nodes} nodes: {name}", file=sys.stderr)
        result = run_composition(params, comp, args.nodes, args.out / f"{args.scenario}-{args.nodes}-{name}",
                                 seed=args.seed, go_peer=go_peer, startup=args.startup)
        results.append(result)
        if result.error:
            print(f"  {result.error}", file=sys.stderr)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps({
            "scenario": args.scenario, "nodes": args.nodes, "options": options,
            "results": [r.as_dict() for r in results],
        }, indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
