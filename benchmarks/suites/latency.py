"""Small-message latency side by side (issue #16, item 3), TCP + Noise + yamux on loopback.

For each endpoint X (ours Cython and pure, each on the default asyncio loop and on uvloop; go), X's
client against X's server, one warm connection:

* **ping RTT**: 32-byte ``/ipfs/ping/1.0.0`` round trips on one stream;
* **1-byte echo RTT**: write 1 byte, read it back, on one warm ``/echo/1.0.0`` stream;

and, as the floor, the same 1-byte round trip over raw TCP between two Python processes with
asyncio streams, on each loop. Both sides of every pair run in their own process. Prints a
markdown table (median with p10–p90, ratios against go and the floor) and writes
``benchmarks/results/latency-<UTC>.{json,png}``.

``--rounds N`` runs every endpoint N times, interleaved (all endpoints, then all again): go's own
round trip moves between runs (its idle threads spin or sleep), so one run's ratio says little. The
main table then pools the rounds' samples, and a second table gives each round's ratio against
go's in the same round, with their median.

    .venv/bin/python benchmarks/compare.py --suite latency [--count N] [--rounds N] [--only a,b] [--smoke]
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

DEFAULT = "ours-cython/asyncio,ours-cython/uvloop,ours-pure/asyncio,ours-pure/uvloop,go"


def raw_floor(loop: str, count: int, timeout: float) -> dict[str, Any]:
    """1-byte round trips over raw TCP (asyncio streams, two processes) on ``loop``."""
    env = compare.bs._py_env("cython")
    py = sys.executable
    with compare.bs.Proc([py, str(_common.PEER), "tcp-echo-server", "--loop", loop], env=env) as server:
        port = server.json_line(timeout)["port"]
        run = compare.run_client([py, str(_common.PEER), "tcp-echo-client", "--loop", loop, "--port", str(port),
                                  "--count", str(count)], cwd=None, env=env, timeout=timeout)
    lines = run.json_lines()
    return lines[-1] if lines else {"errors": [run.error() or "no JSON line"]}


def _per_us(seconds: float | None, count: int) -> float | None:
    """CPU µs per round trip (the client process's; the 10 warm-up round trips included)."""
    return seconds / (count + 10) * 1e6 if seconds is not None else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def _us(x: float | None) -> str:
    return f"{x:.0f}" if x is not None else "–"


def markdown(out: dict[str, Any]) -> str:
    rows = out["rows"]
    go = next((r for r in rows if r["name"] == "go"), None)
    floor = {r["loop"]: r for r in rows if r["kind"] == "floor"}
    lines = [
        f"Small-message latency, TCP + Noise + yamux on loopback, {out['started_utc']} — {_common.load_line(out)}",
        "",
        "| endpoint (client ↔ server) | ping RTT ms, median (p10–p90) | 1-byte echo RTT ms, median (p10–p90) "
        "| ping ÷ go | echo ÷ go | echo ÷ raw TCP floor (same loop) | client CPU µs per ping / echo |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(st: dict[str, float] | None) -> str:
        return f"{st['median']:.3f} ({st['p10']:.3f}–{st['p90']:.3f})" if st else "–"

    def med(r: dict[str, Any] | None, key: str) -> float | None:
        st = r.get(key) if r else None
        return st["median"] if st else None

    for r in rows:
        fl = floor.get(r.get("loop", "")) if r["kind"] == "libp2p" else None
        lines.append(f"| {r['name']} | {cell(r.get('ping'))} | {cell(r.get('echo'))} | "
                     f"{_ratio(med(r, 'ping'), med(go, 'ping')) if r['kind'] == 'libp2p' else '–'} | "
                     f"{_ratio(med(r, 'echo'), med(go, 'echo'))} | {_ratio(med(r, 'echo'), med(fl, 'echo'))} | "
                     f"{_us(r.get('ping_cpu_us'))} / {_us(r.get('echo_cpu_us'))} |"
                     + (f" errors: {'; '.join(r['errors'])[:200]}" if r.get("errors") else ""))
    if len(out.get("rounds", ())) > 1:
        lines += ["", f"Per round ({len(out['rounds'])} rounds, interleaved): ratio against go's in the same round",
                  "", "| endpoint | ping ÷ go per round | median | echo ÷ go per round | median |", "|---|---|---:|---|---:|"]
        for name, per in _round_ratios(out["rounds"]).items():
            lines.append(f"| {name} | {', '.join(f'{x:.2f}' for x in per['ping'])} | {_med_ratio(per['ping'])} "
                         f"| {', '.join(f'{x:.2f}' for x in per['echo'])} | {_med_ratio(per['echo'])} |")
    return "\n".join(lines)


def _round_ratios(rounds: list[list[dict[str, Any]]]) -> dict[str, dict[str, list[float]]]:
    """Each libp2p endpoint's median RTT ÷ go's, per round, for ping and echo."""
    out: dict[str, dict[str, list[float]]] = {}
    for rows in rounds:
        go = next((r for r in rows if r["name"] == "go"), None)
        for r in rows:
            if r["kind"] != "libp2p" or r["name"] == "go" or go is None:
                continue
            per = out.setdefault(r["name"], {"ping": [], "echo": []})
            for key in ("ping", "echo"):
                if r.get(key) and go.get(key):
                    per[key].append(r[key]["median"] / go[key]["median"])
    return out


def _med_ratio(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}×" if values else "–"


def _pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One endpoint's rows from several rounds as one row: samples pooled, CPU averaged."""
    first = dict(rows[0])
    for key in ("ping", "echo"):
        samples = [x for r in rows for x in r.get(f"_{key}_rtts", ())]
        first[key] = _common.stats_ms(samples)
    for key in ("ping_cpu_us", "echo_cpu_us"):
        values = [r[key] for r in rows if r.get(key) is not None]
        first[key] = statistics.mean(values) if values else None
    first["errors"] = [e for r in rows for e in r.get("errors", [])]
    return first


def chart(out: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = out["rows"]
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(rows) + 1.8))
    height = 0.38
    for i, (key, color, label) in enumerate((("ping", "tab:blue", "ping (32 B)"), ("echo", "tab:orange", "echo (1 B)"))):
        ys, meds, lo, hi = [], [], [], []
        for y, r in enumerate(rows):
            st = r.get(key)
            if st:
                ys.append(y + (i - 0.5) * height)
                meds.append(st["median"])
                lo.append(st["median"] - st["p10"])
                hi.append(st["p90"] - st["median"])
        ax.barh(ys, meds, height=height, color=color, label=label, xerr=[lo, hi], capsize=2)
        for y, m in zip(ys, meds, strict=True):
            ax.text(m, y, f" {m:.3f}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("round trip, ms (median, whiskers p10–p90; lower is better)")
    lb = out["load_before"]
    ax.set_title(f"Small-message latency on loopback — {out['started_utc']}, load {lb[0]:.1f} → "
                 f"{out['load_after'][0]:.1f}", fontsize=10)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="compare.py --suite latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, help="round trips per measurement (default 2000; smoke 20)")
    ap.add_argument("--rounds", type=int, default=1, help="run every endpoint this many times, interleaved (default 1)")
    ap.add_argument("--only", default=DEFAULT, help=f"comma-separated endpoints (default {DEFAULT})")
    ap.add_argument("--no-floor", action="store_true", help="skip the raw TCP floor")
    ap.add_argument("--smoke", action="store_true", help="tiny counts: seconds, for tests")
    ap.add_argument("--out-dir", type=Path, default=compare.RESULTS_DIR)
    ap.add_argument("--no-write", action="store_true", help="print only")
    cfg = ap.parse_args(argv)
    count = cfg.count or (20 if cfg.smoke else 2000)
    timeout = 120.0 if cfg.smoke else 600.0
    out = _common.header("small-message latency (issue #16 item 3)", ["latency", *argv])
    out["settings"] = {"count": count, "rounds": cfg.rounds, "only": cfg.only, "smoke": cfg.smoke}
    eps, out["skipped"] = _common.endpoints([x for x in cfg.only.split(",") if x])
    out["versions"].update({e.name: e.version for e in eps})
    rounds: list[list[dict[str, Any]]] = []
    failed = False
    for round_no in range(cfg.rounds):
        rows: list[dict[str, Any]] = []
        tag = f" (round {round_no + 1}/{cfg.rounds})" if cfg.rounds > 1 else ""
        for ep in eps:
            compare.progress(f"{ep.name} ↔ {ep.name}: {count} pings, {count} 1-byte echoes{tag}")
            try:
                res = _common.run_pair(ep, ep, ["--pings", str(count), "--echo-rtts", str(count)], timeout)
            except (RuntimeError, TimeoutError, OSError) as exc:
                res = {"errors": [f"{type(exc).__name__}: {exc}"]}
            failed |= bool(res.get("errors"))
            rows.append({"name": ep.name, "kind": "libp2p", "loop": ep.name.partition("/")[2] or None,
                         "ping_cpu_us": _per_us(res.get("ping_cpu_seconds"), count),
                         "echo_cpu_us": _per_us(res.get("echo_cpu_seconds"), count),
                         "ping": _common.stats_ms(res.get("ping_rtts", [])),
                         "echo": _common.stats_ms(res.get("echo_rtts", [])),
                         "_ping_rtts": res.get("ping_rtts", []), "_echo_rtts": res.get("echo_rtts", []),
                         "errors": res.get("errors", []), "client_process_cpu": res.get("client_process_cpu"),
                         "server_cpu": res.get("server_cpu")})
        if not cfg.no_floor:
            for loop in ("asyncio", "uvloop"):
                compare.progress(f"floor: raw TCP 1-byte echo, {loop}{tag}")
                res = raw_floor(loop, count, timeout)
                failed |= bool(res.get("errors"))
                rows.append({"name": f"raw TCP echo/{loop}", "kind": "floor", "loop": loop, "ping": None,
                             "echo_cpu_us": _per_us(res.get("echo_cpu_seconds"), count),
                             "echo": _common.stats_ms(res.get("echo_rtts", [])),
                             "_ping_rtts": [], "_echo_rtts": res.get("echo_rtts", []), "errors": res.get("errors", [])})
        rounds.append(rows)
    rows = [_pooled([r[i] for r in rounds]) for i in range(len(rounds[0]))]
    for r in [*rows, *(x for rows_ in rounds for x in rows_)]:  # raw samples stay out of the JSON
        r.pop("_ping_rtts", None)
        r.pop("_echo_rtts", None)
    out["rounds"] = rounds
    out["rows"] = rows
    out["load_after"] = _common.os.getloadavg()
    md = out["markdown"] = markdown(out)
    _common.write(out, "latency", None if cfg.no_write else cfg.out_dir, chart, cfg.smoke)
    print(md)
    return 1 if failed else 0
