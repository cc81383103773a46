"""WebSocket against TCP, side by side: aiolibp2p, go-libp2p and js-libp2p over /ws and over TCP, in one run.

For each pair (X ↔ X for ours, go and js, and ours → X, X → ours), the same measurements as
``compare.py`` (its ``PairRunner``) once over ``/ip4/127.0.0.1/tcp/N/ws`` and once over plain TCP,
the two back to back so both see the same machine load:

* **throughput**: upload and download on ``/perf/1.0.0`` (each transfer ``--bytes`` or
  ``--max-seconds``, whichever comes first, sized by a probe), ``--iterations`` per direction;
* **connection + a 1-byte round trip**: "new process" is the perf contract with 1 byte each way
  (ours and go have a contract client; js's peer program has none), "warm process" a dial + one
  ping from a warm process (ours, go, js), hanging up after each;
* **ping RTT** on one stream.

Noise + yamux on loopback everywhere. Prints two markdown tables (throughput; latency) with the
ws/tcp ratio per pair, and writes ``benchmarks/results/ws-<UTC>.{json,png}`` (versions, machine,
load before and after, raw samples).

    .venv/bin/python benchmarks/compare.py --suite ws              # full run
    .venv/bin/python benchmarks/compare.py --suite ws --smoke      # seconds per pair
    .venv/bin/python benchmarks/compare.py --suite ws --only ours-cython --smoke --no-write

rust-libp2p and py-libp2p are left out: their perf programs have no ``--transport ws``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import compare  # benchmarks/compare.py: run through `compare.py --suite ws`, benchmarks/ is on sys.path

WS_IMPLS = ["ours-cython", "go", "js"]
TRANSPORTS = ["tcp", "ws"]

# key, label, unit, higher is better, decimals
THROUGHPUT = [
    ("upload_mb_s", "upload MB/s", True, 0),
    ("download_mb_s", "download MB/s", True, 0),
]
LATENCY = [
    ("fresh_conn_rtt_ms", "conn + 1 B RTT ms, new process", False, 2),
    ("warm_conn_rtt_ms", "dial + ping ms, warm process", False, 2),
    ("ping_ms", "ping RTT ms", False, 3),
]


def _config(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="compare.py --suite ws", description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="small sizes, one iteration: seconds per pair")
    ap.add_argument("--bytes", type=int, help="upper bound per transfer (default 1 GiB; smoke 4 MiB)")
    ap.add_argument("--max-seconds", type=float, default=10.0, help="time bound per transfer (default 10)")
    ap.add_argument("--iterations", type=int, help="transfers per direction (default 3; smoke 1)")
    ap.add_argument("--pings", type=int, help="ping round trips (default 200; smoke 10)")
    ap.add_argument("--dials", type=int, help="warm dial + ping iterations (default 100; smoke 3)")
    ap.add_argument("--fresh", type=int, help="new-process connection + 1 B round trips (default 50; smoke 3)")
    ap.add_argument("--only", default=",".join(WS_IMPLS), help=f"comma-separated subset of {','.join(WS_IMPLS)}")
    ap.add_argument("--no-cross", action="store_true", help="only the X <-> X pairs")
    ap.add_argument("--out-dir", type=Path, default=compare.RESULTS_DIR, help="where the JSON and PNG go")
    ap.add_argument("--no-write", action="store_true", help="print only; write neither JSON nor PNG")
    cfg = ap.parse_args(argv)
    smoke = cfg.smoke
    cfg.bytes = cfg.bytes or (4 * compare.MIB if smoke else compare.GIB)
    cfg.iterations = cfg.iterations or (1 if smoke else 3)
    cfg.pings = cfg.pings if cfg.pings is not None else (10 if smoke else 200)
    cfg.dials = cfg.dials if cfg.dials is not None else (3 if smoke else 100)
    cfg.fresh = cfg.fresh if cfg.fresh is not None else (3 if smoke else 50)
    cfg.probe_bytes = 64 * compare.MIB
    cfg.only = [x for x in cfg.only.split(",") if x]
    unknown = set(cfg.only) - set(WS_IMPLS)
    if unknown:
        ap.error(f"unknown implementations: {', '.join(sorted(unknown))} (this suite has {', '.join(WS_IMPLS)})")
    cfg.start_timeout = 60.0
    cfg.transfer_timeout = 60.0 if smoke else cfg.max_seconds * 3 + 60
    cfg.latency_timeout = 120.0 if smoke else 600.0
    cfg.wait_py_libp2p = 0.0
    cfg.transport = "ws"  # discover() keeps only the implementations whose perf programs speak /ws
    return cfg


def _summarize(pairs: list[dict[str, Any]]) -> dict[str, float]:
    """Each pair's summary (compare.summarize), with the contract clients' start-up CPU per transport."""
    startup: dict[tuple[str, str], list[float]] = {}
    for p in pairs:
        startup.setdefault((p["transport"], p["client"]), []).extend(p["raw"].get("fresh_process_cpu", []))
    startup_cpu = {k: statistics.median(v) for k, v in startup.items() if v}
    for p in pairs:
        per_client = {c: v for (t, c), v in startup_cpu.items() if t == p["transport"]}
        p["summary"] = compare.summarize(p, per_client)
    return {f"{t}:{c}": v for (t, c), v in startup_cpu.items()}


def _rows(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (client, server): its tcp and ws results side by side."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for p in pairs:
        row = rows.setdefault((p["client"], p["server"]), {"client": p["client"], "server": p["server"]})
        row[p["transport"]] = p
    return list(rows.values())


def _ratio(row: dict[str, Any], key: str) -> float | None:
    tcp, ws = row.get("tcp"), row.get("ws")
    a = compare._median(ws["summary"], key) if ws else None
    b = compare._median(tcp["summary"], key) if tcp else None
    return a / b if a is not None and b else None


def _cell(row: dict[str, Any], transport: str, key: str, nd: int) -> str:
    p = row.get(transport)
    return compare._cell(p["summary"].get(key), nd) if p else "–"


def _label(row: dict[str, Any]) -> str:
    name = compare.pair_label(row)
    if any(row[t]["errors"] for t in TRANSPORTS if t in row):
        name += " ⚠"
    return name


def _ours_over(out: dict[str, Any], transport: str, other: str, key: str) -> float | None:
    pairs = [p for p in out["pairs"] if p["transport"] == transport and p["client"] == p["server"]]
    mine = next((p for p in pairs if p["client"] == "ours-cython"), None)
    theirs = next((p for p in pairs if p["client"] == other), None)
    a = compare._median(mine["summary"], key) if mine else None
    b = compare._median(theirs["summary"], key) if theirs else None
    return a / b if a is not None and b else None


def markdown(out: dict[str, Any]) -> str:
    rows = _rows(out["pairs"])
    lines = ["| client → server | " + " | ".join(f"{label}: tcp | ws | ws/tcp" for _, label, _, _ in THROUGHPUT)
             + " |", "|---|" + "---:|---:|---:|" * len(THROUGHPUT)]
    for row in rows:
        cells = []
        for key, _, _, nd in THROUGHPUT:
            r = _ratio(row, key)
            cells += [_cell(row, "tcp", key, nd), _cell(row, "ws", key, nd), "–" if r is None else f"{r:.2f}×"]
        lines.append(f"| {_label(row)} | " + " | ".join(cells) + " |")
    lines += ["", "| client → server | " + " | ".join(f"{label}: tcp | ws" for _, label, _, _ in LATENCY) + " |",
              "|---|" + "---:|---:|" * len(LATENCY)]
    for row in rows:
        cells = []
        for key, _, _, nd in LATENCY:
            cells += [_cell(row, "tcp", key, nd), _cell(row, "ws", key, nd)]
        lines.append(f"| {_label(row)} | " + " | ".join(cells) + " |")
    others = [x for x in WS_IMPLS if x != "ours-cython" and any(p["client"] == x for p in out["pairs"])]
    if others and any(p["client"] == "ours-cython" for p in out["pairs"]):
        lines += ["", "| ours/X, X ↔ X pairs | " + " | ".join(f"{t} ours/{x}" for x in others for t in TRANSPORTS)
                  + " |", "|---|" + "---:|" * (len(others) * len(TRANSPORTS))]
        for key, label, higher, _ in THROUGHPUT + LATENCY:
            vals = [_ours_over(out, t, x, key) for x in others for t in TRANSPORTS]
            better = "higher is better" if higher else "lower is better"
            lines.append(f"| {label} ({better}) | " + " | ".join("–" if v is None else f"{v:.2f}×" for v in vals)
                         + " |")
    errs = [f"- {p['transport']} {compare.pair_label(p)}: {'; '.join(p['errors'])[:400]}"
            for p in out["pairs"] if p["errors"]]
    if errs:
        lines += ["", "Errors (⚠):", *errs]
    if out["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v[:200]})" for k, v in out["skipped"].items())]
    st = out["settings"]
    la, lb = out["load_before"], out.get("load_after", [0, 0, 0])
    lines += ["", (f"Settings: transfers of {st['bytes'] // compare.MIB} MiB or {st['max_seconds']:g} s, whichever is "
              f"first (sized by a {st['probe_bytes'] // compare.MIB} MiB probe per pair and transport), "
              f"{st['iterations']} per direction; {st['pings']} pings; {st['dials']} warm dials; {st['fresh']} "
              f"new-process connections; each pair over tcp then ws, back to back. Load average before "
              f"{'/'.join(f'{x:.2f}' for x in la)}, after {'/'.join(f'{x:.2f}' for x in lb)}; "
              f"{out['machine']['cpus']} × {out['machine']['cpu']}.")]
    return "\n".join(lines)


def chart(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    rows = _rows(out["pairs"])
    labels = [compare.pair_label(r) for r in rows]
    y = list(range(len(rows)))
    fig, axes = plt.subplots(1, 2, figsize=(15, 0.55 * len(rows) + 2.6), sharey=True)
    panels = [
        (axes[0], [("upload_mb_s", "upload"), ("download_mb_s", "download")], False,
         "MB/s (median, bars: min–max)", "Throughput, one /perf/1.0.0 stream"),
        (axes[1], [("fresh_conn_rtt_ms", "conn + 1 B, new process"), ("warm_conn_rtt_ms", "dial + ping, warm")],
         True, "ms, log scale (median, bars: min–max)", "Connection + 1 round trip"),
    ]
    colors = {("tcp", 0): "#1f77b4", ("ws", 0): "#aec7e8", ("tcp", 1): "#d62728", ("ws", 1): "#ff9896"}
    for ax, metrics, log, xlabel, title in panels:
        specs = [(t, i, key, name) for i, (key, name) in enumerate(metrics) for t in TRANSPORTS]
        height = 0.8 / len(specs)
        for j, (transport, i, key, name) in enumerate(specs):
            med, lo, hi = [], [], []
            for r in rows:
                st = r[transport]["summary"].get(key) if transport in r else None
                if isinstance(st, dict):
                    med.append(st["median"])
                    lo.append(st["median"] - st["min"])
                    hi.append(st["max"] - st["median"])
                else:
                    med.append(0)
                    lo.append(0)
                    hi.append(0)
            pos = [v - 0.4 + height * (j + 0.5) for v in y]
            ax.barh(pos, med, height=height, color=colors[(transport, i)], label=f"{name}, {transport}",
                    xerr=[lo, hi], error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333"})
            for p_, m, h in zip(pos, med, hi, strict=True):
                if m:
                    text = f"{m:,.0f}" if m >= 100 else f"{m:.2g}" if m < 1 else f"{m:.1f}"
                    ax.text(m + h, p_, " " + text, va="center", ha="left", fontsize=6.5, color="#222")
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", alpha=0.3, which="both")
        ax.set_axisbelow(True)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels, fontsize=9)
    axes[0].invert_yaxis()
    la = out["load_before"]
    fig.suptitle(f"/ws against TCP (Noise + yamux, loopback): aiolibp2p, go-libp2p, js-libp2p — "
                 f"{out['started_utc']}, {out['machine']['cpus']} × {out['machine']['cpu']}, load {la[0]:.2f} → "
                 f"{out.get('load_after', la)[0]:.2f}" + (" (smoke run)" if out["settings"]["smoke"] else ""),
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    cfg = _config(argv)
    started = time.time()
    stamp = _dt.datetime.fromtimestamp(started, _dt.UTC)
    out: dict[str, Any] = {
        "benchmark": "aiolibp2p, go-libp2p, js-libp2p over /ws and over TCP (Noise + yamux, loopback), one run",
        "started_utc": stamp.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python benchmarks/compare.py --suite ws", *argv]),
        "settings": {k: getattr(cfg, k) for k in ("smoke", "bytes", "max_seconds", "iterations", "pings", "dials",
                                                   "fresh", "probe_bytes", "only")}
        | {"cross": not cfg.no_cross, "transports": TRANSPORTS},
        "machine": compare.machine(),
        "load_before": os.getloadavg(),
        "versions": {"ours": compare.ours_versions()},
        "skipped": {},
        "pairs": [],
    }
    impls, out["skipped"] = compare.discover(cfg)
    for name, impl in impls.items():
        out["versions"][name] = impl.version
    todo = compare.plan(impls, not cfg.no_cross)
    n = len(todo) * len(TRANSPORTS)
    k = 0
    for client, server in todo:
        for transport in TRANSPORTS:  # back to back: the two see the same load
            k += 1
            cfg.transport = transport
            runner = compare.PairRunner(cfg, impls[client], impls[server], f"[{k}/{n} {transport}]")
            result = runner.run()
            result["transport"] = transport
            out["pairs"].append(result)
    out["startup_cpu_seconds"] = _summarize(out["pairs"])
    out["load_after"] = os.getloadavg()
    out["duration_seconds"] = time.time() - started
    md = markdown(out)
    out["markdown"] = md
    print(md)
    if not cfg.no_write:
        compare.write_results(cfg.out_dir, f"ws-{stamp.strftime('%Y%m%d-%H%M%S')}{'-smoke' if cfg.smoke else ''}", out, chart)
    compare.progress(f"done in {out['duration_seconds']:.0f} s")
    if not out["pairs"]:
        print("no implementation could run", file=sys.stderr)
        return 1
    return 1 if any(p["errors"] for p in out["pairs"]) else 0
