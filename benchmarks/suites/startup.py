"""Start-up: how long a new process takes for ``libp2p --version`` and for a whole ``libp2p ping -c 1``.

    .venv/bin/python benchmarks/compare.py --suite startup [--runs 30] [--baseline-python PYTHON]

Each command runs ``--runs`` times, interleaved with the others (so a change in the machine's load
hits them all), and the median and minimum wall time of the whole process are reported:

* ``python -c pass`` (the interpreter's own floor) and ``python -c "import libp2p"``;
* ``libp2p --version`` (target: 120 ms);
* ``libp2p ping -c 1 ADDR``: a new process that dials, secures, negotiates and pings once, then
  exits, against go's perf server; beside it go's peer program doing the same (``dial --pings 1``);
* with ``--baseline-python`` (another checkout's venv), the same ours commands run by it: before/after.

Writes ``benchmarks/results/startup-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
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
REPO = HERE.parent.parent
RESULTS_DIR = HERE.parent / "results"


def _wall(argv: list[str], env: dict[str, str] | None, cwd: Path | None) -> float | None:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=cwd, timeout=60,
                          check=False)
    elapsed = time.perf_counter() - t0
    return elapsed if proc.returncode == 0 else None


def main(argv: list[str]) -> int:
    import compare

    ap = argparse.ArgumentParser(prog="compare.py --suite startup", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="runs of each command (default 30)")
    ap.add_argument("--baseline-python", metavar="PYTHON", help="also time these commands with PYTHON (before)")
    ap.add_argument("--smoke", action="store_true", help="3 runs: for CI")
    ap.add_argument("--no-write", action="store_true", help="print only")
    cfg = ap.parse_args(argv)
    if cfg.smoke:
        cfg.runs = 3
    out: dict[str, Any] = {
        "suite": "startup", "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": compare.machine(), "versions": compare.ours_versions(),
        "load_before": [round(x, 2) for x in os.getloadavg()], "runs": cfg.runs,
        "config": {"smoke": cfg.smoke},  # so a summary never reads a smoke run as a result
    }
    env = compare.bs._py_env("cython")
    # As installed by pip, which compiles the bytecode: with PYTHONDONTWRITEBYTECODE set (as on some
    # CI machines) every new process would compile ~80 modules again (~0.2 s). The first, uncounted
    # run of each command writes the .pyc files.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    pythons = {"ours": sys.executable}
    # every command from a neutral directory: `-c` and `-m` put the working directory first on
    # sys.path, which would make another checkout's interpreter import this one
    neutral = Path(tempfile.gettempdir())
    if cfg.baseline_python:
        pythons["ours before"] = cfg.baseline_python
    commands: dict[str, tuple[list[str], Path | None]] = {"python -c pass": ([sys.executable, "-c", "pass"], neutral)}
    for label, py in pythons.items():
        commands[f"{label}: import libp2p"] = ([py, "-c", "import libp2p"], neutral)
        commands[f"{label}: libp2p --version"] = ([py, "-m", "libp2p", "--version"], neutral)
    server = None
    try:
        go = compare._go()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        compare.progress(f"SKIPPING the ping part (it uses go's perf server): {exc}")
        go = None
    try:
        if go is not None:
            server = compare.Server(go, 60)
            for label, py in pythons.items():
                commands[f"{label}: libp2p ping -c 1"] = (
                    [py, "-m", "libp2p", "ping", "-c", "1", "--json", server.multiaddr], neutral)
            peer = go.server_cmd("127.0.0.1:1")[0][0]
            commands["go: peer dial --pings 1"] = ([peer, "dial", "--to", server.multiaddr, "--pings", "1"], None)
            out["versions"]["go"] = go.version
        samples: dict[str, list[float]] = {name: [] for name in commands}
        failures: dict[str, int] = {name: 0 for name in commands}
        for argv_, cwd in commands.values():  # warm-up: bytecode written, page cache filled
            _wall(argv_, env, cwd)
        for i in range(cfg.runs):
            compare.progress(f"run {i + 1}/{cfg.runs}")
            for name, (argv_, cwd) in commands.items():
                t = _wall(argv_, env, cwd)
                if t is None:
                    failures[name] += 1
                else:
                    samples[name].append(t)
    finally:
        if server is not None:
            server.stop()
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out["samples_ms"] = {k: [round(v * 1000, 1) for v in vs] for k, vs in samples.items()}
    out["failures"] = failures
    rows = [f"{cfg.runs} interleaved runs each; whole-process wall time.", "",
            "| command | median ms | min ms | failures |", "|---|---:|---:|---:|"]
    med: dict[str, float] = {}
    for name, vs in samples.items():
        if vs:
            med[name] = statistics.median(vs) * 1000
            rows.append(f"| {name} | {med[name]:.0f} | {min(vs) * 1000:.0f} | {failures[name]} |")
        else:
            rows.append(f"| {name} | - | - | {failures[name]} |")
    ping, go_ping = med.get("ours: libp2p ping -c 1"), med.get("go: peer dial --pings 1")
    if ping and go_ping:
        rows.append(f"\n- ours / go, whole `ping -c 1` process: {ping / go_ping:.2f}×")
    before = med.get("ours before: libp2p --version")
    if before and med.get("ours: libp2p --version"):
        rows.append(f"- `--version`: {before:.0f} → {med['ours: libp2p --version']:.0f} ms; minus the interpreter "
                    f"(`python -c pass`, {med['python -c pass']:.0f} ms): {before - med['python -c pass']:.0f} → "
                    f"{med['ours: libp2p --version'] - med['python -c pass']:.0f} ms")
    rows.append(f"- load average before {out['load_before']}, after {out['load_after']}")
    text = "\n".join(rows)
    print(text)
    out["table"] = text
    if not cfg.no_write:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS_DIR / f"startup-{stamp}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"\nwrote {path.relative_to(REPO)}")
    return 0
