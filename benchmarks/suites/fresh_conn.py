"""New-process connection + 1-byte round trip (the perf contract's figure), ours and go in the same run.

    .venv/bin/python benchmarks/compare.py --suite fresh_conn [--runs 40] [--baseline-python PYTHON]

One iteration = one perf-contract client process (``--upload-bytes 1 --download-bytes 1``) against a
perf server of its own implementation (ours → ours, go → go), as ``compare.py``'s "conn + 1 B RTT, new
process" column. The figure is the client's own ``timeSeconds``: from just after its host exists to
the byte back (go's perf client starts its clock at the same point), so it is the connection + the
round trip, not the interpreter's start-up. Clients are interleaved (ours, go[, before], ours, go, ...)
so the machine's load hits each alike; each client's whole-process CPU is recorded beside it.
With ``--baseline-python`` (another checkout's interpreter, e.g. ``main``'s venv) its client and server
run too: before/after in the same run.

Writes ``benchmarks/results/fresh_conn-<UTC>.json`` (``-smoke.json`` with ``--smoke``) through ``compare.write_results``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE.parent / "results"


def _baseline(compare: Any, ours: Any, python: str) -> Any:
    """``ours`` with another checkout's interpreter (run from a neutral directory: ``-m`` puts the
    working directory first on ``sys.path``)."""
    neutral = Path(os.path.expanduser("~"))
    cli = [python, "-m", "libp2p", "perf", "--loop", "asyncio", "--muxer", "yamux"]
    env = compare.bs._py_env("cython")
    return dataclasses.replace(
        ours, name="ours before (baseline)", version="baseline checkout",
        server_cmd=lambda addr: ([*cli, "--run-server", "--server-address", addr], neutral, env),
        contract_cmd=lambda addr, up, down: (
            [*cli, "--server-address", addr, "--transport", "tcp", "--upload-bytes", str(up),
             "--download-bytes", str(down)], neutral, env),
    )


def _stats(xs: list[float]) -> dict[str, float] | None:
    if not xs:
        return None
    s = sorted(xs)
    return {"median": statistics.median(s), "p10": s[len(s) // 10], "p90": s[min(len(s) - 1, len(s) * 9 // 10)],
            "min": s[0], "n": len(s)}


def main(argv: list[str]) -> int:
    import compare

    ap = argparse.ArgumentParser(prog="compare.py --suite fresh_conn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40, help="client processes per implementation (default 40)")
    ap.add_argument("--baseline-python", metavar="PYTHON", help="also run this interpreter's libp2p (before/after)")
    ap.add_argument("--timeout", type=float, default=60.0, help="bound per client process (default 60 s)")
    ap.add_argument("--smoke", action="store_true", help="3 runs each: for CI")
    ap.add_argument("--no-write", action="store_true", help="print only")
    cfg = ap.parse_args(argv)
    if cfg.smoke:
        cfg.runs = 3
    out: dict[str, Any] = {
        "suite": "fresh_conn", "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": compare.machine(), "versions": compare.ours_versions(), "load_before": os.getloadavg(),
        "config": {"runs": cfg.runs, "baseline_python": "given" if cfg.baseline_python else None},
    }
    impls = [compare._ours("cython")]
    if cfg.baseline_python:
        impls.append(_baseline(compare, impls[0], cfg.baseline_python))
    try:
        go = compare._go()
    except (RuntimeError, OSError) as exc:
        compare.progress(f"SKIPPING go: {exc}")
    else:
        impls.insert(1, go)
        out["versions"]["go"] = go.version
    runner_cfg = argparse.Namespace(start_timeout=60.0, transport="tcp", latency_timeout=cfg.timeout)
    runners = [compare.PairRunner(runner_cfg, impl, impl, f"[{impl.name}]") for impl in impls]
    samples: dict[str, dict[str, list[float]]] = {impl.name: {"ms": [], "cpu_ms": []} for impl in impls}
    errors: dict[str, list[str]] = {impl.name: [] for impl in impls}
    try:
        for runner in runners:
            runner._ensure_server()
            runner._contract(1, 1, cfg.timeout)  # uncounted: page cache, server warm
        for i in range(cfg.runs):
            if i % 10 == 0:
                compare.progress(f"run {i + 1}/{cfg.runs}")
            for runner in runners:
                name = runner.client.name
                try:
                    t, cpu, _ = runner._contract(1, 1, cfg.timeout)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    errors[name].append(str(exc)[:300])
                    continue
                samples[name]["ms"].append(t * 1e3)
                samples[name]["cpu_ms"].append(cpu * 1e3)
    finally:
        for runner in runners:
            if runner.server is not None:
                runner.server.stop()
    out["load_after"] = os.getloadavg()
    out["results"] = {name: {"conn_rtt_ms": _stats(s["ms"]), "process_cpu_ms": _stats(s["cpu_ms"]),
                             "errors": errors[name], "raw_ms": [round(x, 3) for x in s["ms"]]}
                      for name, s in samples.items()}
    go_ms = samples.get("go", {}).get("ms")
    rows = [f"{cfg.runs} new client processes each, interleaved; conn + 1 B round trip = the client's timeSeconds.", "",
            "| client → server | median ms | p10 ms | p90 ms | process CPU ms (median) | ÷ go (median) | "
            "÷ go (paired, median) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, s in samples.items():
        st = _stats(s["ms"])
        if st is None:
            rows.append(f"| {name} | – | – | – | – | – | – |")
            continue
        cpu = statistics.median(s["cpu_ms"])
        vs = paired = "–"
        if go_ms and name != "go":
            vs = f"{st['median'] / statistics.median(go_ms):.2f}×"
            pairs = [a / b for a, b in zip(s["ms"], go_ms)]
            paired = f"{statistics.median(pairs):.2f}×"
            out["results"][name]["vs_go_median"] = st["median"] / statistics.median(go_ms)
            out["results"][name]["vs_go_paired_median"] = statistics.median(pairs)
        rows.append(f"| {name} | {st['median']:.2f} | {st['p10']:.2f} | {st['p90']:.2f} | {cpu:.0f} | {vs} | {paired} |")
    rows.append(f"- load average before {[round(x, 2) for x in out['load_before']]}, "
                f"after {[round(x, 2) for x in out['load_after']]}")
    text = "\n".join(rows)
    print(text)
    if not cfg.no_write:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        compare.write_results(RESULTS_DIR, f"fresh_conn-{stamp}{'-smoke' if cfg.smoke else ''}", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
