"""Shared by latency.py and streams.py: the endpoints (a server and a ``bench`` client per
implementation), running one client against one server, and the JSON/PNG output."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import compare  # benchmarks/compare.py (on sys.path when run through ``compare.py --suite``)

HERE = Path(__file__).resolve().parent
PEER = HERE / "_peer.py"

Argv = tuple[list[str], Path | None, dict[str, str] | None]


@dataclass
class Endpoint:
    """One implementation (and event loop): how to start its server and its ``bench`` client."""

    name: str
    version: str
    server: compare.Impl
    client: Callable[[str, list[str], float], Argv]  # (server multiaddr, bench options, timeout s) -> argv, cwd, env


def _ours(build: str, loop: str, unlimited: bool = False) -> Endpoint:
    """Ours; ``unlimited``: both sides without resource limits (as the go and rust peers run), the
    server then being ``_peer.py server`` instead of ``libp2p perf --run-server``."""
    impl = compare._ours(build)
    env = compare.bs._py_env("python" if build == "pure" else "cython")
    base_cmd = impl.server_cmd
    extra = ["--unlimited"] if unlimited else []

    def server_cmd(addr: str) -> Argv:
        if unlimited:
            return [sys.executable, str(PEER), "server", "--loop", loop, "--server-address", addr, *extra], None, env
        argv, cwd, e = base_cmd(addr)
        return [loop if a == "asyncio" and argv[i - 1] == "--loop" else a for i, a in enumerate(argv)], cwd, e

    impl.server_cmd = server_cmd
    return Endpoint(
        name=f"ours-{build}/{loop}" + ("/unlimited" if unlimited else ""),
        version=impl.version.replace("asyncio loop", f"{loop} loop"), server=impl,
        client=lambda to, opts, timeout: ([sys.executable, str(PEER), "bench", "--loop", loop, "--to", to, *opts,
                                           *extra, "--timeout", str(timeout)], compare.REPO, env),
    )


def _go() -> Endpoint:
    impl = compare._go()
    peer = impl.server_cmd("127.0.0.1:1")[0][0]
    return Endpoint(name="go", version=impl.version, server=impl,
                    client=lambda to, opts, timeout: ([peer, "bench", "--to", to, *opts,
                                                       "--timeout-ms", str(int(timeout * 1000))], None, None))


def _rust() -> Endpoint:
    impl = compare._rust()
    peer = impl.server_cmd("127.0.0.1:1")[0][0]
    probe = compare.run_client([peer, "bench"], cwd=None, env=None, timeout=30)
    if "first argument must be" in probe.stderr:
        raise RuntimeError("the rust peer has no bench mode (rebuild it: ci/build_rust_peer.sh)")
    return Endpoint(name="rust", version=impl.version, server=impl,
                    client=lambda to, opts, timeout: ([peer, "bench", "--to", to, *opts,
                                                       "--timeout-ms", str(int(timeout * 1000))], None, None))


def endpoints(only: Sequence[str]) -> tuple[list[Endpoint], dict[str, str]]:
    """The endpoints named in ``only`` (ours-cython/asyncio, ours-cython/uvloop, ours-pure/..., go, rust)."""
    makers: dict[str, Callable[[], Endpoint]] = {
        f"ours-{b}/{lp}{u}": (lambda b=b, lp=lp, u=u: _ours(b, lp, bool(u)))  # type: ignore[misc]
        for b in ("cython", "pure") for lp in ("asyncio", "uvloop") for u in ("", "/unlimited")
    }
    makers["go"] = _go
    makers["rust"] = _rust
    found, skipped = [], {}
    for name in only:
        if name not in makers:
            raise SystemExit(f"unknown endpoint {name!r}; known: {', '.join(makers)}")
        compare.progress(f"preparing {name}")
        try:
            found.append(makers[name]())
        except (RuntimeError, OSError, ImportError) as exc:
            skipped[name] = str(exc)
            compare.progress(f"SKIPPING {name}: {exc}")
    return found, skipped


def run_pair(client: Endpoint, server: Endpoint, opts: list[str], timeout: float) -> dict[str, Any]:
    """Start ``server``'s server, run ``client``'s ``bench`` against it once; the client's JSON line."""
    return run_pairs(client, server, [opts], timeout)[0]


def run_pairs(client: Endpoint, server: Endpoint, runs: list[list[str]], timeout: float) -> list[dict[str, Any]]:
    """One server of ``server``'s, then ``client``'s ``bench`` once per entry of ``runs`` (its options)."""
    srv = compare.Server(server.server, 60.0)
    results = []
    try:
        for opts in runs:
            if not srv.alive():
                results.append({"errors": [f"the {server.name} server died: {srv.proc.err()[-300:]}"]})
                continue
            argv, cwd, env = client.client(srv.multiaddr, opts, timeout)
            s0 = srv.cpu()
            run = compare.run_client(argv, cwd=cwd, env=env, timeout=timeout + 30)
            s1 = srv.cpu()
            res = _result_line(run.stdout)
            if res is None:
                results.append({"errors": [run.error() or f"no JSON line: {run.stdout[:200]} ... {run.stdout[-200:]}"]})
                continue
            res["client_process_cpu"] = run.cpu
            res["server_cpu"] = s1 - s0 if s0 is not None and s1 is not None else None
            results.append(res)
    finally:
        srv.stop()
    return results


def _result_line(stdout: str) -> dict[str, Any] | None:
    """The client's result object: the last JSON object starting ``{"implementation"`` (found even
    when something else was written on the same line before it)."""
    at = stdout.rfind('{"implementation"')
    if at < 0:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(stdout, at)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def stats_ms(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    v = sorted(values)
    return {"median": statistics.median(v) * 1e3, "p10": v[len(v) // 10] * 1e3, "p90": v[len(v) * 9 // 10] * 1e3,
            "min": v[0] * 1e3, "max": v[-1] * 1e3, "n": len(v)}


def header(benchmark: str, argv: Sequence[str]) -> dict[str, Any]:
    started = time.time()
    return {
        "benchmark": benchmark,
        "started_utc": _dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(timespec="seconds"),
        "_started": started,
        "command": " ".join([".venv/bin/python benchmarks/compare.py --suite", *argv]),
        "machine": compare.machine(),
        "load_before": os.getloadavg(),
        "versions": {"ours": compare.ours_versions(), "platform": platform.platform()},
    }


def write(out: dict[str, Any], name: str, out_dir: Path | None, chart: Callable[[dict[str, Any], Path], None],
          smoke: bool) -> None:
    out["load_after"] = os.getloadavg()
    out["duration_seconds"] = time.time() - out.pop("_started")
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out["started_utc"].replace("-", "").replace(":", "").replace("T", "-")[:15]
    base = out_dir / f"{name}-{stamp}{'-smoke' if smoke else ''}"
    png = base.with_suffix(".png")
    try:
        chart(out, png)
        out["chart"] = png.name
    except ImportError as exc:  # matplotlib is in the bench extra; the JSON is what matters
        compare.progress(f"no chart: {exc}")
    base.with_suffix(".json").write_text(json.dumps(out, indent=1) + "\n")
    compare.progress(f"wrote {base.with_suffix('.json')}")


def load_line(out: dict[str, Any]) -> str:
    lb, la = out["load_before"], out["load_after"]
    return (f"load average {lb[0]:.2f}/{lb[1]:.2f}/{lb[2]:.2f} before, {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f} after; "
            f"{out['machine']['cpus']} × {out['machine']['cpu']}")
