"""Many streams side by side (issue #16, item 5), TCP + Noise + yamux on loopback.

For each endpoint X (ours Cython and pure on asyncio, ours Cython on uvloop; go; rust when its peer
has the ``bench`` mode), X's client against X's server:

* **aggregate throughput** of concurrent ``/perf/1.0.0`` downloads: 1, 16 and 256 streams on one
  connection, and 100 connections × 4 streams, the same total bytes split evenly (wall time of the
  whole batch, after a warm-up batch);
* **stream open + close rate**: streams opened on one warm connection, each carrying 1 byte to
  ``/echo/1.0.0`` and back, then closed; one at a time and 16 at a time.

Each measurement runs ``--repeat`` times (a new client process each, interleaved, one server per
endpoint); the table gives medians, in MB/s (10**6 bytes) and streams per second. Prints it and writes ``benchmarks/results/streams-<UTC>.{json,png}``.

    .venv/bin/python benchmarks/compare.py --suite streams [--total-mib N] [--opens N] [--only a,b] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import compare  # noqa: E402

# go's and rust's peers run without a resource manager; ours both ways (with the default limits the
# perf service declares its own per-peer stream limit, 1024, so 256 concurrent /perf streams pass)
DEFAULT = "ours-cython/asyncio,ours-cython/asyncio/unlimited,ours-cython/uvloop/unlimited,ours-pure/asyncio/unlimited,go,rust"
MIB = 1 << 20
# (label, connections, streams per connection)
SHAPES = [("1 stream", 1, 1), ("16 streams", 1, 16), ("256 streams", 1, 256), ("100 conns × 4 streams", 100, 4)]
OPENERS = [1, 16]


def markdown(out: dict[str, Any]) -> str:
    rows = out["rows"]
    by = {r["name"]: r for r in rows}
    go = by.get("go")
    lines = [f"Many streams, TCP + Noise + yamux on loopback, {out['started_utc']}, {out['settings']['total_mib']} MiB "
             f"per batch — {_common.load_line(out)}", "",
             "| endpoint (medians) | " + " | ".join(f"{s[0]} MB/s" for s in SHAPES) + " | "
             + " | ".join(f"open+1 B+close /s, {w} at a time" for w in OPENERS) + " |",
             "|---|" + "---|" * (len(SHAPES) + len(OPENERS))]

    def cell(r: dict[str, Any], key: str, nd: int) -> str:
        v = r.get(key)
        if v is None:
            return "–"
        g = go.get(key) if go and r is not go else None
        return f"{v:,.{nd}f}" + (f" ({v / g:.2f}× go)" if g else "")

    for r in rows:
        cells = [cell(r, f"mb_s:{s[0]}", 0) for s in SHAPES] + [cell(r, f"opens_s:{w}", 0) for w in OPENERS]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |"
                     + (f" errors: {'; '.join(r['errors'])[:200]}" if r.get("errors") else ""))
    return "\n".join(lines)


def chart(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = out["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(15, 0.5 * len(rows) + 2.5), gridspec_kw={"width_ratios": [1.6, 1]})
    for ax, keys, unit in ((axes[0], [f"mb_s:{s[0]}" for s in SHAPES], "aggregate MB/s (higher is better)"),
                           (axes[1], [f"opens_s:{w}" for w in OPENERS], "streams opened+used+closed per s")):
        height = 0.8 / len(rows)
        for i, r in enumerate(rows):
            vals = [r.get(k) or 0.0 for k in keys]
            ys = [j + (i - (len(rows) - 1) / 2) * height for j in range(len(keys))]
            ax.barh(ys, vals, height=height, label=r["name"])
            for y, v in zip(ys, vals, strict=True):
                if v:
                    ax.text(v, y, f" {v:,.0f}", va="center", fontsize=7)
        ax.set_yticks(range(len(keys)), [k.split(":", 1)[1] + ("" if k.startswith("mb") else " at a time")
                                         for k in keys])
        ax.invert_yaxis()
        ax.set_xlabel(unit)
    axes[0].legend(fontsize=8, loc="lower right")
    lb = out["load_before"]
    fig.suptitle(f"Many streams on loopback — {out['started_utc']}, load {lb[0]:.1f} → {out['load_after'][0]:.1f}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="compare.py --suite streams", description=__doc__.split("\n\n")[0])
    ap.add_argument("--total-mib", type=int, help="MiB downloaded per batch, split over its streams (default 256; "
                                                  "smoke 4)")
    ap.add_argument("--opens", type=int, help="streams opened per open+close measurement (default 2000; smoke 20)")
    ap.add_argument("--repeat", type=int, help="runs of each measurement; the median is reported (default 3; smoke 1)")
    ap.add_argument("--only", default=DEFAULT, help=f"comma-separated endpoints (default {DEFAULT})")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, for tests")
    ap.add_argument("--out-dir", type=Path, default=compare.RESULTS_DIR)
    ap.add_argument("--no-write", action="store_true", help="print only")
    cfg = ap.parse_args(argv)
    total = (cfg.total_mib or (4 if cfg.smoke else 256)) * MIB
    opens = cfg.opens or (20 if cfg.smoke else 2000)
    repeat = cfg.repeat or (1 if cfg.smoke else 3)
    # smoke: every shape, the 100 connections made 3 (a Python client makes each with a new host)
    shapes = [(label, min(conns, 3), k) for label, conns, k in SHAPES] if cfg.smoke else SHAPES
    timeout = 120.0 if cfg.smoke else 600.0
    out = _common.header("many streams (issue #16 item 5)", ["streams", *argv])
    out["settings"] = {"total_mib": total // MIB, "opens": opens, "repeat": repeat, "only": cfg.only, "smoke": cfg.smoke}
    eps, out["skipped"] = _common.endpoints([x for x in cfg.only.split(",") if x])
    out["versions"].update({e.name: e.version for e in eps})
    rows: list[dict[str, Any]] = []
    failed = False
    for ep in eps:
        row: dict[str, Any] = {"name": ep.name, "errors": [], "raw": {}}
        plan: list[tuple[str, list[str]]] = []
        for label, conns, per_conn in shapes:
            per_stream = max(1, total // (conns * per_conn))
            plan.append((label, ["--streams", str(per_conn), "--conns", str(conns), "--stream-bytes", str(per_stream)]))
        for workers in OPENERS:
            plan.append((f"open-close ×{workers}", ["--open-close", str(opens), "--workers", str(workers)]))
        # each measurement `repeat` times, interleaved, against one server; the median is reported
        runs = [opts for _ in range(repeat) for _, opts in plan]
        compare.progress(f"{ep.name}: {len(plan)} measurements × {repeat}")
        results = _common.run_pairs(ep, ep, runs, timeout)
        for i, res in enumerate(results):
            label = plan[i % len(plan)][0]
            if res.get("errors"):
                row["errors"] += [f"{label}: {e}" for e in res["errors"]]
                continue
            if "streams_seconds" in res:
                rate = res["streams_bytes"] / res["streams_seconds"] / 1e6
            else:
                rate = res["open_close_count"] / res["open_close_seconds"]
            row["raw"].setdefault(label, []).append(rate)
        for label, rates in row["raw"].items():
            key = f"opens_s:{label.rsplit('×', 1)[1]}" if label.startswith("open-close") else f"mb_s:{label}"
            row[key] = statistics.median(rates)
        row["errors"] = sorted(set(row["errors"]))
        failed |= bool(row["errors"])
        rows.append(row)
    out["rows"] = rows
    out["load_after"] = _common.os.getloadavg()
    md = out["markdown"] = markdown(out)
    _common.write(out, "streams", None if cfg.no_write else cfg.out_dir, chart, cfg.smoke)
    print(md)
    return 1 if failed else 0
