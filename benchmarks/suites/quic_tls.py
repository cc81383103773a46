"""QUIC v1 and TCP + TLS 1.3 + yamux side by side: ours (both twins), go, rust and py-libp2p.

    .venv/bin/python benchmarks/compare.py --suite quic_tls [--smoke] [--only ours-cython,go,...]
                                                            [--config tcp-tls,quic-v1] [--no-cross]

For each configuration (``tcp-tls``: TCP + ``/tls/1.0.0`` + yamux; ``quic-v1``: QUIC v1, which
brings its own TLS 1.3 and streams) it runs the pairs X ↔ X for every implementation present, and
ours (Cython) ↔ go and ↔ rust in both directions, with ``compare.py``'s pair runner:

* **throughput**: upload and download on ``/perf/1.0.0``, one stream, transfers sized by a probe to
  about ``--max-seconds`` each, ``--iterations`` per direction (wall clock, and CPU-normalised);
* **connection + 1-byte round trip in a new process**: the test-plans perf contract client with
  1 byte up and 1 byte down (``final.timeSeconds``: dial, handshake, stream, 1 B each way);
* **ping RTT**: round trips of 32 bytes on one ``/ipfs/ping/1.0.0`` stream.

Clients and servers are the programs ``compare.py`` uses (ours: ``libp2p perf`` and
``benchmarks/e2e/bench_stack.py _client``; the others' peer programs), with ``--security tls`` or
``--transport quic-v1`` / a ``/quic-v1`` target. It prints one markdown table per configuration, the
ratios ours/X, QUIC against TCP + TLS per implementation, and writes
``benchmarks/results/quic_tls-<UTC>.json``. Every process is stopped through its own handle.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import compare  # benchmarks/compare.py (on sys.path when run through compare.py --suite)

CONFIGS = {
    "tcp-tls": {"transport": "tcp", "security": "tls"},
    "quic-v1": {"transport": "quic-v1", "security": None},
}
IMPLS = ["ours-cython", "ours-pure", "go", "rust", "py-libp2p"]
CROSS = ["go", "rust"]
# Measurements a peer cannot give (checked by hand, see benchmarks/RESULTS.md): not run, shown as "–".
# (configuration, client or "*", server or "*") -> {step: why}
GAPS: dict[tuple[str, str, str], dict[str, str]] = {
    ("quic-v1", "py-libp2p", "*"): {
        "throughput": "py-libp2p 0.8.1's QUIC client gets StreamReset reading after it half-closed (any download)",
        "fresh": "py-libp2p 0.8.1's QUIC client gets StreamReset reading after it half-closed (any download)",
    },
    ("quic-v1", "*", "rust"): {
        "latency": "rust-libp2p 0.57's ping handler stops answering after the first pings of a QUIC stream",
    },
}
QUIC_SERVER_POLL = 0.05


class SuiteServer(compare.Server):
    """A perf server for one configuration: ``compare.Server`` plus ``--security tls`` or QUIC.

    Over QUIC the server listens on UDP (same port number as the TCP it would use), so readiness
    is its ready line, or (rust prints none) a QUIC dial that succeeds."""

    def __init__(self, impl: compare.Impl, timeout: float, transport: str, security: str | None) -> None:
        if transport != "quic-v1":
            super().__init__(_with_security(impl, security), timeout, transport)
            return
        self.impl = impl
        self.port = compare.free_udp_port()
        self.address = f"127.0.0.1:{self.port}"
        self.multiaddr = f"/ip4/127.0.0.1/udp/{self.port}/quic-v1/p2p/{compare.PERF_PEER_ID}"
        argv, cwd, env = impl.server_cmd(self.address)
        self.proc = compare.bs.Proc([*argv, "--transport", "quic-v1"], env=env, cwd=cwd)
        try:
            if impl.ready_line:
                info = self.proc.json_line(timeout)
                if info.get("peer_id") != compare.PERF_PEER_ID:
                    raise RuntimeError(f"{impl.name} server has peer id {info.get('peer_id')}")
            else:
                _wait_quic(self, timeout)
        except BaseException:
            self.proc.stop()
            raise


def _wait_quic(server: SuiteServer, timeout: float) -> None:
    """Wait until a QUIC server answers: a 1-byte perf-contract exchange from our client."""
    deadline = time.monotonic() + timeout
    argv = [sys.executable, "-m", "libp2p", "perf", "--server-address", server.address, "--transport", "quic-v1",
            "--upload-bytes", "1", "--download-bytes", "1", "--timeout", "5"]
    while True:
        if server.proc.proc.poll() is not None:
            raise RuntimeError(f"{server.impl.name} server exited ({server.proc.proc.returncode}): "
                               f"{server.proc.err()}")
        run = compare.run_client(argv, cwd=compare.REPO, env=None, timeout=30)
        if run.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{server.impl.name} QUIC server not answering within {timeout:.0f} s")
        time.sleep(QUIC_SERVER_POLL)


def _append(cmd: Any, extra: list[str]) -> Any:
    if cmd is None or not extra:
        return cmd

    def wrapped(*args: Any) -> Any:
        argv, cwd, env = cmd(*args)
        return [*argv, *extra], cwd, env
    return wrapped


def _with_security(impl: compare.Impl, security: str | None) -> compare.Impl:
    """The same implementation with ``--security tls`` on its server and client command lines."""
    extra = ["--security", security] if security else []
    return dataclasses.replace(impl, server_cmd=_append(impl.server_cmd, extra),
                               bench_cmd=_append(impl.bench_cmd, extra),
                               contract_cmd=_append(impl.contract_cmd, extra),
                               ping_cmd=_append(impl.ping_cmd, extra))


class SuitePairRunner(compare.PairRunner):
    def __init__(self, cfg: argparse.Namespace, client: compare.Impl, server_impl: compare.Impl, tag: str,
                 security: str | None) -> None:
        super().__init__(cfg, _with_security(client, security), server_impl, tag)
        self.security = security
        config = next(k for k, v in CONFIGS.items() if v["transport"] == cfg.transport)
        gaps: dict[str, str] = {}
        for c in (client.name, "*"):
            for srv in (server_impl.name, "*"):
                gaps |= GAPS.get((config, c, srv), {})
        for step, why in gaps.items():
            setattr(self, step, _skip)  # PairRunner.run looks the steps up on the instance
        self.result["not_measured"] = gaps

    def _ensure_server(self) -> compare.Server:
        if self.server is not None and self.server.alive():
            return self.server
        if self.server is not None:
            self._err("server", f"the {self.server_impl.name} server died: {self.server.proc.err()[-300:]}")
            self.server.stop()
        self.server = SuiteServer(self.server_impl, self.cfg.start_timeout, self.cfg.transport, self.security)
        return self.server


def _skip() -> None:
    pass


def plan(impls: dict[str, compare.Impl], cross: bool) -> list[tuple[str, str]]:
    pairs = [(x, x) for x in IMPLS if x in impls]
    if cross and compare.OURS in impls:
        for x in CROSS:
            if x in impls:
                pairs += [(compare.OURS, x), (x, compare.OURS)]
    return pairs


def _median(pair: dict[str, Any], key: str) -> float | None:
    return compare._median(pair.get("summary", {}), key)


def markdown(out: dict[str, Any]) -> str:
    lines: list[str] = []
    for name, part in out["configs"].items():
        lines += [f"**{name}** ({CONFIGS[name]['transport']}" + (f" + {CONFIGS[name]['security']} + yamux"
                                                                   if CONFIGS[name]["security"] else "") + ")", "",
                  "| client → server | upload MB/s | download MB/s | up / down MB/s, CPU-normalised | "
                  "conn + 1 B RTT ms, new process | ping RTT ms |", "|---|---:|---:|---:|---:|---:|"]
        for p in part["pairs"]:
            s = p["summary"]
            label = compare.pair_label(p) + (" ⚠" if p["errors"] else "")
            lines.append(f"| {label} | {compare._cell(s.get('upload_mb_s'), 1)} | "
                         f"{compare._cell(s.get('download_mb_s'), 1)} | {compare._f(s.get('upload_cpu_norm_mb_s'))} / "
                         f"{compare._f(s.get('download_cpu_norm_mb_s'))} | {compare._cell(s.get('fresh_conn_rtt_ms'), 1)}"
                         f" | {compare._cell(s.get('ping_ms'), 3)} |")
        errs = [f"- {compare.pair_label(p)}: {'; '.join(p['errors'])[:400]}" for p in part["pairs"] if p["errors"]]
        if errs:
            lines += ["", "Errors (⚠):", *errs]
        gaps = sorted({f"{compare.pair_label(p)}: {step} not measured ({why})" for p in part["pairs"]
                       for step, why in p.get("not_measured", {}).items()})
        if gaps:
            lines += ["", "Not measured:", *(f"- {g}" for g in gaps)]
        cols = [c for c in ("ours-cython/go", "ours-cython/rust", "ours-cython/py-libp2p", "ours-pure/py-libp2p")]
        lines += ["", "| ours/X (X ↔ X pairs) | " + " | ".join(c.replace("ours-cython", "ours") for c in cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for r in part["ratios"]:
            if r["metric"] == "warm_conn_rtt_ms":
                continue
            better = "higher is better" if r["higher_is_better"] else "lower is better"
            lines.append(f"| {r['label']} ({better}) | " + " | ".join(
                compare._f(r.get(c), 2) + ("×" if r.get(c) else "") for c in cols) + " |")
        lines.append("")
    if len(out["configs"]) == 2:
        lines += ["| X ↔ X: quic-v1 / tcp-tls | upload | download | conn + 1 B RTT | ping RTT |",
                  "|---|---:|---:|---:|---:|"]
        for name in IMPLS:
            a, b = (compare._self_pair(out["configs"][c], name) for c in ("quic-v1", "tcp-tls"))
            if a is None or b is None:
                continue
            cells = []
            for key in ("upload_mb_s", "download_mb_s", "fresh_conn_rtt_ms", "ping_ms"):
                x, y = _median(a, key), _median(b, key)
                cells.append(f"{x / y:.2f}×" if x is not None and y else "–")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if out["skipped"]:
        lines += ["Skipped: " + "; ".join(f"{k} ({v[:200]})" for k, v in out["skipped"].items()), ""]
    st, la, lb = out["settings"], out["load_before"], out.get("load_after", [0, 0, 0])
    lines.append(f"Settings: transfers of at most {st['bytes'] // compare.MIB} MiB or {st['max_seconds']:g} s "
                 f"(sized by a {st['probe_bytes'] // compare.MIB} MiB probe), {st['iterations']} per direction; "
                 f"{st['pings']} pings; {st['fresh']} new-process connections. Load average before "
                 f"{'/'.join(f'{x:.2f}' for x in la)}, after {'/'.join(f'{x:.2f}' for x in lb)}; "
                 f"{out['machine']['cpus']} × {out['machine']['cpu']}.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="compare.py --suite quic_tls", description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one iteration (seconds per pair): for tests")
    ap.add_argument("--bytes", type=int, help="upper bound per transfer (default 256 MiB; smoke 1 MiB)")
    ap.add_argument("--max-seconds", type=float, default=4.0, help="time bound per transfer (default 4)")
    ap.add_argument("--iterations", type=int, help="transfers per direction (default 3; smoke 1)")
    ap.add_argument("--pings", type=int, help="ping round trips (default 100; smoke 5)")
    ap.add_argument("--fresh", type=int, help="new-process connection + 1 B round trips (default 10; smoke 1)")
    ap.add_argument("--only", default=",".join(IMPLS), help=f"comma-separated subset of {','.join(IMPLS)}")
    ap.add_argument("--config", default=",".join(CONFIGS), help=f"comma-separated subset of {','.join(CONFIGS)}")
    ap.add_argument("--no-cross", action="store_true", help="only the X <-> X pairs")
    ap.add_argument("--out-dir", type=Path, default=compare.RESULTS_DIR, help="where the JSON goes")
    ap.add_argument("--no-write", action="store_true", help="print only")
    cfg = ap.parse_args(argv)
    smoke = cfg.smoke
    cfg.bytes = cfg.bytes or (compare.MIB if smoke else 256 * compare.MIB)
    cfg.iterations = cfg.iterations or (1 if smoke else 3)
    cfg.pings = cfg.pings if cfg.pings is not None else (5 if smoke else 100)
    cfg.dials = 0  # the warm dial + ping row of compare.py is left out here
    cfg.fresh = cfg.fresh if cfg.fresh is not None else (1 if smoke else 10)
    cfg.probe_bytes = 8 * compare.MIB
    cfg.start_timeout = 60.0
    cfg.transfer_timeout = 60.0 if smoke else cfg.max_seconds * 3 + 60
    cfg.latency_timeout = 60.0 if smoke else 120.0
    cfg.wait_py_libp2p = 0.0
    cfg.only = [x for x in cfg.only.split(",") if x]
    configs = [x for x in cfg.config.split(",") if x]
    if set(cfg.only) - set(IMPLS) or set(configs) - set(CONFIGS):
        ap.error("unknown implementation or configuration")

    started = time.time()
    stamp = _dt.datetime.fromtimestamp(started, _dt.UTC)
    out: dict[str, Any] = {
        "benchmark": "QUIC v1 and TCP + TLS + yamux, aiolibp2p side by side with go/rust/py-libp2p (loopback)",
        "started_utc": stamp.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python benchmarks/compare.py --suite quic_tls", *argv]),
        "settings": {k: getattr(cfg, k) for k in ("smoke", "bytes", "max_seconds", "iterations", "pings", "fresh",
                                                   "probe_bytes", "only")} | {"cross": not cfg.no_cross},
        "machine": compare.machine(), "load_before": os.getloadavg(),
        "versions": {"ours": compare.ours_versions()}, "skipped": {}, "configs": {},
    }
    cfg.transport = "tcp"  # compare.discover skips implementations without /ws only when this is "ws"
    impls, out["skipped"] = compare.discover(argparse.Namespace(**{**vars(cfg), "only": cfg.only}))
    for name, impl in impls.items():
        out["versions"][name] = impl.version
    todo = plan(impls, not cfg.no_cross)
    for config in configs:
        cfg.transport = CONFIGS[config]["transport"]
        security = CONFIGS[config]["security"]
        part: dict[str, Any] = {"pairs": [], "load_before": os.getloadavg()}
        for i, (client, server) in enumerate(todo, 1):
            runner = SuitePairRunner(cfg, impls[client], impls[server], f"[{config} {i}/{len(todo)}]", security)
            part["pairs"].append(runner.run())
        compare.summarize_pairs(part["pairs"])
        part["ratios"] = compare.ratios(part)
        part["load_after"] = os.getloadavg()
        out["configs"][config] = part
    out["load_after"] = os.getloadavg()
    out["duration_seconds"] = time.time() - started
    md = markdown(out)
    out["markdown"] = md
    print(md)
    if not cfg.no_write:
        compare.write_results(cfg.out_dir, f"quic_tls-{stamp.strftime('%Y%m%d-%H%M%S')}{'-smoke' if smoke else ''}", out)
    compare.progress(f"done in {out['duration_seconds']:.0f} s")
    failed = any(p["errors"] for part in out["configs"].values() for p in part["pairs"])
    return 1 if failed else 0


if __name__ == "__main__":
    print("run it as: .venv/bin/python benchmarks/compare.py --suite quic_tls", file=sys.stderr)
    sys.exit(2)
