#!/usr/bin/env python3
"""The transport-interop matrix: aiolibp2p's test app against go, rust, js and py-libp2p's.

    .venv/bin/python interop/run_matrix.py [--only IMPL,...] [--json OUT] [--timeout S] ...

Every implementation runs its transport-interop test application (the libp2p test-plans contract,
and libp2p/unified-testing's where it has one; see ``interop/go/README.md``) as a separate process:
the listener publishes its multiaddr in Redis, the dialer pops it, dials, pings once and prints
``{"handshakePlusOneRTTMillis": ..., "pingRTTMilllis": ...}`` (or the unified YAML). This script

* starts its own ``redis-server`` on 127.0.0.1 on a free port (no persistence) and stops it at the end;
* builds or installs each foreign peer through ``ci/`` (cached outside the repository);
* runs, one at a time, every combination both sides support: tcp × {noise, tls} × {yamux, mplex},
  {ws, wss} × noise × {yamux, mplex} and quic-v1, with
  aiolibp2p as dialer and as listener against each foreign implementation, aiolibp2p against itself,
  and each foreign implementation against itself as a control; the test-plans contract for every
  pair, the unified-testing one for every pair whose both apps have it;
* prints a table, writes JSON (default ``interop/results/matrix.json``, a git-ignored directory) and
  exits 1 when any case failed.

A missing toolchain (go, cargo, node/npm) skips that implementation with a message, but counts as a
failure when ``CI=true``. Each case is bounded by ``--timeout`` and the whole run by
``--total-timeout``; every process is stopped through its own handle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "interop" / "results" / "matrix.json"
OURS = "aiolibp2p"
IMPL_ORDER = (OURS, "go", "rust", "js", "py-libp2p")
MUXERS = ("yamux", "mplex")
SECURITIES = ("noise", "tls")
TRANSPORTS = ("tcp", "ws", "wss", "quic-v1")
TEST_PLANS = "test-plans"
UNIFIED = "unified"
CONTRACTS = (TEST_PLANS, UNIFIED)
INTEROP_VARS = ("transport", "muxer", "security", "is_dialer", "ip", "redis_addr", "test_timeout_seconds",
                "TRANSPORT", "MUXER", "SECURE_CHANNEL", "IS_DIALER", "LISTENER_IP", "REDIS_ADDR", "TEST_KEY",
                "TEST_TIMEOUT_SECS", "DEBUG")
STDERR_TAIL = 40  # lines of a failed process's stderr kept in the report
LISTENER_MARGIN = 10.0  # the listener's own test timeout exceeds the dialer's by this much


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def log(msg: str) -> None:
    print(f"[matrix] {msg}", file=sys.stderr, flush=True)


# -- implementations ---------------------------------------------------------------------------------


class Unavailable(RuntimeError):
    """The toolchain an implementation needs is not installed here (skip, or fail under CI)."""


class NotInTree(Unavailable):
    """The implementation's peer program is not in this checkout (always a skip)."""


@dataclass
class Impl:
    name: str
    version: str
    contracts: tuple[str, ...]
    prepare: Callable[[float], list[str]]  # build timeout -> argv of the test app
    securities: tuple[str, ...] = ("noise",)  # what its test app takes as security
    transports: tuple[str, ...] = ("tcp",)  # and as transport (what it dials and listens on)
    argv: list[str] | None = None
    status: str = "pending"  # ready | skipped | unavailable | error
    reason: str = ""
    prepare_seconds: float = 0.0


def _run_script(script: str, timeout: float, missing_tool: Sequence[str]) -> str:
    """Run a ``ci/`` build/install script; return the last stdout line (a path)."""
    path = REPO / "ci" / script
    if not path.is_file():
        raise NotInTree(f"ci/{script} is not in this checkout")
    try:
        proc = subprocess.run(["bash", str(path)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=REPO)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ci/{script} did not finish within {timeout:.0f} s") from None
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        err = proc.stderr.strip()
        if any(m in err for m in missing_tool):
            raise Unavailable(err.splitlines()[-1] if err else f"ci/{script} failed")
        raise RuntimeError(f"ci/{script} failed (exit {proc.returncode}):\n{_tail(err)}")
    return lines[-1]


def _prepare_ours(_timeout: float) -> list[str]:
    return [sys.executable, "-m", "libp2p", "transport-interop"]


def _prepare_go(timeout: float) -> list[str]:
    exe = _run_script("build_go_peer.sh", timeout, ["go not found"])
    return [exe, "transport-interop"]


def _prepare_rust(timeout: float) -> list[str]:
    exe = _run_script("build_rust_peer.sh", timeout, ["cargo not found"])
    return [exe, "interop"]


def _prepare_js(timeout: float) -> list[str]:
    if not (REPO / "interop" / "js" / "transport-interop.mjs").is_file():
        raise NotInTree("interop/js/transport-interop.mjs is not in this checkout")
    node = shutil.which("node")
    directory = Path(_run_script("install_js_peer.sh", timeout, ["node not found", "npm not found"]))
    app = directory / "transport-interop.mjs"
    if node is None or not app.is_file():
        raise RuntimeError(f"ci/install_js_peer.sh gave {directory}, which has no transport-interop.mjs")
    return [node, str(app)]


def _prepare_py_libp2p(timeout: float) -> list[str]:
    if not (REPO / "interop" / "py-libp2p" / "peer.py").is_file():
        raise NotInTree("interop/py-libp2p/peer.py is not in this checkout")
    directory = Path(_run_script("install_py_libp2p_peer.sh", timeout, ["not found on PATH", "needs Python"]))
    return [str(directory / "venv" / "bin" / "python"), "-I", str(directory / "peer.py"), "transport-interop"]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _versions() -> dict[str, str]:
    import libp2p

    out = {OURS: f"aiolibp2p {libp2p.__version__} ({libp2p.IMPLEMENTATION})"}
    m = re.search(r"github\.com/libp2p/go-libp2p (v\S+)", _read(REPO / "interop" / "go" / "go.mod"))
    out["go"] = f"go-libp2p {m.group(1)}" if m else "go-libp2p"
    m = re.search(r'^libp2p = \{ version = "=?([^"]+)"', _read(REPO / "interop" / "rust" / "Cargo.toml"), re.MULTILINE)
    out["rust"] = f"rust-libp2p {m.group(1)}" if m else "rust-libp2p"
    try:
        js = json.loads(_read(REPO / "interop" / "js" / "package.json"))["dependencies"]["libp2p"]
        out["js"] = f"js-libp2p {js}"
    except (ValueError, KeyError):
        out["js"] = "js-libp2p"
    m = re.search(r"^libp2p==(\S+)", _read(REPO / "interop" / "py-libp2p" / "requirements.txt"), re.MULTILINE)
    out["py-libp2p"] = f"py-libp2p {m.group(1)}" if m else "py-libp2p"
    return out


def make_impls() -> dict[str, Impl]:
    v = _versions()
    both = (TEST_PLANS, UNIFIED)
    return {
        OURS: Impl(OURS, v[OURS], both, _prepare_ours, SECURITIES, TRANSPORTS),
        "go": Impl("go", v["go"], both, _prepare_go, SECURITIES, TRANSPORTS),
        "rust": Impl("rust", v["rust"], both, _prepare_rust, SECURITIES, ("tcp", "ws", "quic-v1")),
        "js": Impl("js", v["js"], both, _prepare_js, SECURITIES, ("tcp", "ws", "wss")),
        "py-libp2p": Impl("py-libp2p", v["py-libp2p"], both, _prepare_py_libp2p, SECURITIES, ("tcp", "ws", "quic-v1")),
    }


def prepare(impl: Impl, timeout: float) -> None:
    start = time.monotonic()
    try:
        impl.argv = impl.prepare(timeout)
        impl.status = "ready"
    except NotInTree as exc:
        impl.status, impl.reason = "skipped", str(exc)
    except Unavailable as exc:
        impl.status, impl.reason = "unavailable", str(exc)
    except (RuntimeError, OSError) as exc:
        impl.status, impl.reason = "error", str(exc)
    impl.prepare_seconds = round(time.monotonic() - start, 2)


# -- cases -------------------------------------------------------------------------------------------


@dataclass
class Case:
    dialer: str
    listener: str
    muxer: str
    contract: str
    security: str = "noise"
    transport: str = "tcp"
    status: str = "pending"  # pass | fail | skipped
    handshake_plus_one_rtt_ms: float | None = None
    ping_rtt_ms: float | None = None
    seconds: float | None = None
    error: str | None = None
    dialer_exit: int | None = None
    listener_exit: int | None = None
    dialer_stdout: str | None = None
    dialer_stderr_tail: str | None = None
    listener_stderr_tail: str | None = None

    @property
    def pair(self) -> str:
        return f"{self.dialer} -> {self.listener}"

    def as_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if v is not None}


def plan_cases(impls: dict[str, Impl], selected: Sequence[str], controls: bool,
               contracts: Sequence[str], securities: Sequence[str] = SECURITIES,
               transports: Sequence[str] = TRANSPORTS) -> list[Case]:
    def supported(a: str, b: str) -> list[str]:
        return [c for c in contracts if c in impls[a].contracts and c in impls[b].contracts]

    pairs: list[tuple[str, str]] = []
    if OURS in selected:
        pairs.append((OURS, OURS))
    foreign = [n for n in IMPL_ORDER if n != OURS and n in selected]
    for name in foreign:
        pairs += [(OURS, name), (name, OURS)]
    if controls:
        pairs += [(name, name) for name in foreign]
    cases = []
    for dialer, listener in pairs:
        control = dialer == listener != OURS
        for contract in supported(dialer, listener):
            if control and contract != TEST_PLANS:
                continue  # a control needs one contract only
            for transport in transports:
                if transport not in impls[dialer].transports or transport not in impls[listener].transports:
                    continue
                if transport == "quic-v1":
                    # QUIC secures and multiplexes itself: no security or muxer to choose
                    cases.append(Case(dialer, listener, "", contract, "", transport))
                    continue
                # TLS runs over TCP only here; WebSocket rows use Noise, as the test-plans apps do
                for security in securities if transport == "tcp" else [s for s in securities if s == "noise"]:
                    if security not in impls[dialer].securities or security not in impls[listener].securities:
                        continue
                    for muxer in MUXERS:
                        cases.append(Case(dialer, listener, muxer, contract, security, transport))
    return cases


def _tail(text: str, lines: int = STDERR_TAIL) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _env(contract: str, dialer: bool, redis_addr: str, muxer: str, key: str, timeout: float,
         security: str = "noise", transport: str = "tcp") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INTEROP_VARS}
    secs = f"{timeout:g}"
    if contract == UNIFIED:
        env.update(TRANSPORT=transport, SECURE_CHANNEL=security, MUXER=muxer, IS_DIALER=str(dialer).lower(),
                   LISTENER_IP="127.0.0.1", REDIS_ADDR=redis_addr, TEST_KEY=key, TEST_TIMEOUT_SECS=secs,
                   DEBUG="false")
    else:
        env.update(transport=transport, security=security, muxer=muxer, is_dialer=str(dialer).lower(), ip="127.0.0.1",
                   redis_addr=redis_addr, test_timeout_seconds=secs)
    return env


def parse_output(contract: str, stdout: str) -> tuple[float, float]:
    """(handshake plus one RTT, ping RTT) in ms from a dialer's stdout; ValueError when malformed."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the dialer printed nothing on stdout")
    if contract == TEST_PLANS:
        # the test-plans runner JSON-parses the dialer's last stdout line
        try:
            result = json.loads(lines[-1])
        except ValueError:
            raise ValueError(f"the dialer's last line is not JSON: {lines[-1][:200]!r}") from None
        if not isinstance(result, dict) or set(result) != {"handshakePlusOneRTTMillis", "pingRTTMilllis"}:
            raise ValueError(f"unexpected result {lines[-1][:200]!r}")
        total, rtt = result["handshakePlusOneRTTMillis"], result["pingRTTMilllis"]
    else:
        # unified-testing's run-single-test.sh greps these lines out of the dialer's output
        fields: dict[str, str] = {}
        for line in lines:
            m = re.fullmatch(r"\s*(handshake_plus_one_rtt|ping_rtt|unit):\s*(\S+)\s*", line)
            if m:
                fields[m.group(1)] = m.group(2)
        if "latency:" not in [ln.strip() for ln in lines] or set(fields) != {"handshake_plus_one_rtt", "ping_rtt",
                                                                             "unit"}:
            raise ValueError(f"unexpected YAML output {stdout[:300]!r}")
        if fields["unit"] != "ms":
            raise ValueError(f"unit is {fields['unit']!r}, not ms")
        total, rtt = float(fields["handshake_plus_one_rtt"]), float(fields["ping_rtt"])
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (total, rtt)):
        raise ValueError(f"non-numeric times in {lines[-1][:200]!r}")
    if not (0 < rtt and 0 < total):
        raise ValueError(f"implausible times: handshake plus one RTT {total} ms, ping RTT {rtt} ms")
    return float(total), float(rtt)


async def _stop(proc: asyncio.subprocess.Process, grace: float = 5.0) -> int | None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the process's exit code."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)
    return proc.returncode


async def run_case(case: Case, impls: dict[str, Impl], redis: RedisServer, timeout: float, workdir: Path,
                   index: int) -> None:
    from libp2p.cli.interop import LEGACY_KEY

    dialer_argv, listener_argv = impls[case.dialer].argv, impls[case.listener].argv
    assert dialer_argv is not None and listener_argv is not None
    key = f"matrix{index}-{os.getpid()}"
    await redis.delete(LEGACY_KEY, f"{key}_listener_multiaddr")  # nothing left over from an earlier case
    files = {name: workdir / f"{index:03d}-{name}" for name in ("l.out", "l.err", "d.out", "d.err")}
    handles = {name: path.open("w+b") for name, path in files.items()}  # closed in the finally below
    start = time.monotonic()
    listener: asyncio.subprocess.Process | None = None
    dialer: asyncio.subprocess.Process | None = None
    early_exit: int | None = None
    try:
        listener = await asyncio.create_subprocess_exec(
            *listener_argv, env=_env(case.contract, False, redis.addr, case.muxer, key, timeout + LISTENER_MARGIN,
                     case.security, case.transport),
            stdin=asyncio.subprocess.DEVNULL, stdout=handles["l.out"], stderr=handles["l.err"])
        dialer = await asyncio.create_subprocess_exec(
            *dialer_argv, env=_env(case.contract, True, redis.addr, case.muxer, key, timeout, case.security,
                     case.transport),
            stdin=asyncio.subprocess.DEVNULL, stdout=handles["d.out"], stderr=handles["d.err"])
        try:
            # the dialer gives up by itself after `timeout`; a little more before it is killed
            await asyncio.wait_for(dialer.wait(), timeout + 5)
        except TimeoutError:
            case.error = f"the dialer did not finish within {timeout + 5:g} s (killed)"
        early_exit = listener.returncode
    finally:
        if dialer is not None:
            case.dialer_exit = await _stop(dialer)
        if listener is not None:
            case.listener_exit = await _stop(listener)
        for h in handles.values():
            h.close()
    case.seconds = round(time.monotonic() - start, 2)
    out = {name: path.read_bytes().decode("utf-8", "replace") for name, path in files.items()}
    case.dialer_stdout = out["d.out"].strip()[:2000]
    if case.error is None:
        if case.dialer_exit != 0:
            case.error = f"the dialer exited with {case.dialer_exit}"
        else:
            try:
                case.handshake_plus_one_rtt_ms, case.ping_rtt_ms = parse_output(case.contract, out["d.out"])
            except ValueError as exc:
                case.error = str(exc)
    if case.error is None:
        if early_exit is not None:
            case.error = f"the listener exited ({early_exit}) before the dialer was done"
        elif case.listener_exit != 0:
            case.error = f"the listener exited with {case.listener_exit} on SIGTERM (expected 0)"
        elif out["l.out"].strip():
            case.error = f"the listener wrote to stdout: {out['l.out'].strip()[:200]!r}"
    case.status = "pass" if case.error is None else "fail"
    if case.status == "fail":
        case.dialer_stderr_tail = _tail(out["d.err"])
        case.listener_stderr_tail = _tail(out["l.err"])
    for path in files.values():
        path.unlink(missing_ok=True)


# -- Redis -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1 (no persistence), run for the matrix."""

    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe = exe
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.version = ""

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        from libp2p.cli.interop import RedisClient

        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.version = (await asyncio.to_thread(subprocess.run, [self.exe, "--version"], capture_output=True,
                                                    text=True, timeout=10, check=False)).stdout.strip()
        last = ""
        for _attempt in range(5):  # the free port may be taken between the probe and redis' bind
            self.port = _free_port()
            log_path = self.workdir / "redis.log"
            self.proc = await asyncio.create_subprocess_exec(
                self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--logfile", str(log_path), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            deadline = asyncio.get_running_loop().time() + 10
            try:
                client = await RedisClient.connect_when_ready("127.0.0.1", self.port, deadline)
                await client.close()
                return
            except TimeoutError as exc:
                last = f"{exc}; {_tail(_read(log_path), 5)}"
                await _stop(self.proc)
                self.proc = None
        raise RuntimeError(f"redis-server did not start: {last}")

    async def delete(self, *keys: str) -> None:
        from libp2p.cli.interop import RedisClient

        client = await RedisClient.connect("127.0.0.1", self.port)
        async with client:
            await client.delete(*keys)

    async def stop(self) -> None:
        if self.proc is not None:
            await _stop(self.proc)
            self.proc = None


# -- report ------------------------------------------------------------------------------------------


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def table(cases: Sequence[Case]) -> str:
    rows = [("dialer -> listener", "transport", "security", "muxer", "contract", "result", "handshake+1RTT ms",
             "ping RTT ms")]
    for c in cases:
        rows.append((c.pair, c.transport, c.security or "-", c.muxer or "-", c.contract,
                     c.status.upper() if c.status != "pass" else "pass",
                     _ms(c.handshake_plus_one_rtt_ms), _ms(c.ping_rtt_ms)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {6, 7}

    def fmt(r: Sequence[str]) -> str:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(r))]
        return "| " + " | ".join(cells) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(rows[0]), sep, *(fmt(r) for r in rows[1:])])


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in load] if load else None}


# -- main --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", metavar="IMPL,...",
                   help=f"implementations to run, from {', '.join(IMPL_ORDER)} (default: all). aiolibp2p always "
                   "runs against the others; aiolibp2p <-> aiolibp2p runs when aiolibp2p is listed")
    p.add_argument("--contract", choices=[*CONTRACTS, "all"], default="all",
                   help="test-plans, unified (unified-testing) or all (default)")
    p.add_argument("--security", metavar="NAME,...", default=",".join(SECURITIES),
                   help=f"security channels to run, from {', '.join(SECURITIES)} (default: all)")
    p.add_argument("--transport", "--transports", metavar="NAME,...", default=",".join(TRANSPORTS),
                   help=f"transports to run, from {', '.join(TRANSPORTS)} (default: all)")
    p.add_argument("--no-controls", action="store_true", help="skip the foreign <-> same foreign controls")
    p.add_argument("--json", metavar="OUT", type=Path, default=DEFAULT_JSON,
                   help=f"where to write the results (default: {DEFAULT_JSON.relative_to(REPO)}; '-' for none)")
    p.add_argument("--timeout", metavar="S", type=float, default=30.0,
                   help="seconds allowed for one case, dial to result (default: 30)")
    p.add_argument("--total-timeout", metavar="S", type=float, default=900.0,
                   help="seconds allowed for all cases; the rest fail when it runs out (default: 900)")
    p.add_argument("--build-timeout", metavar="S", type=float, default=3000.0,
                   help="seconds allowed to build or install one implementation (default: 3000; cached builds "
                   "take milliseconds)")
    args = p.parse_args(argv)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in IMPL_ORDER]
        if unknown:
            p.error(f"unknown implementation(s) {', '.join(unknown)}; known: {', '.join(IMPL_ORDER)}")
        args.selected = [n for n in IMPL_ORDER if n in names]
    else:
        args.selected = list(IMPL_ORDER)
    args.securities = [n.strip() for n in args.security.split(",") if n.strip()]
    if not args.securities or any(n not in SECURITIES for n in args.securities):
        p.error(f"--security takes names from {', '.join(SECURITIES)}")
    args.transports = [n.strip() for n in args.transport.split(",") if n.strip()]
    if not args.transports or any(n not in TRANSPORTS for n in args.transports):
        p.error(f"--transport takes names from {', '.join(TRANSPORTS)}")
    if args.timeout <= 0 or args.total_timeout <= 0:
        p.error("--timeout and --total-timeout must be > 0")
    return args


async def amain(args: argparse.Namespace) -> int:
    started = time.time()
    t0 = time.monotonic()
    impls = make_impls()
    contracts = list(CONTRACTS) if args.contract == "all" else [args.contract]
    ci = in_ci()
    problems: list[str] = []

    redis_exe = shutil.which("redis-server")
    for name in [OURS, *(n for n in args.selected if n != OURS)]:
        impl = impls[name]
        log(f"preparing {name} ({impl.version})")
        await asyncio.to_thread(prepare, impl, args.build_timeout)
        if impl.status == "ready":
            log(f"  {name}: ready in {impl.prepare_seconds:g} s: {' '.join(impl.argv or [])}")
        else:
            log(f"  {name}: {impl.status.upper()}: {impl.reason}")
            if impl.status == "error" or (impl.status == "unavailable" and ci):
                problems.append(f"{name}: {impl.status}: {impl.reason}")

    cases = plan_cases(impls, args.selected, not args.no_controls, contracts, args.securities, args.transports)
    skipped_impls = {n for n, i in impls.items() if i.status != "ready"}
    for case in cases:
        bad = [n for n in (case.dialer, case.listener) if n in skipped_impls]
        if bad:
            status = impls[bad[0]].status
            case.status = "skipped" if status == "skipped" or (status == "unavailable" and not ci) else "fail"
            case.error = f"{bad[0]} {impls[bad[0]].status}: {impls[bad[0]].reason.splitlines()[0][:200]}"
    runnable = [c for c in cases if c.status == "pending"]

    redis_version = ""
    if redis_exe is None:
        msg = "redis-server not found (apt-get install redis-server)"
        for case in runnable:
            case.status, case.error = ("fail" if ci else "skipped"), msg
        if ci:
            problems.append(msg)
        log(f"{'FAIL' if ci else 'SKIP'}: {msg}; no case runs")
    elif runnable:
        with tempfile.TemporaryDirectory(prefix="interop-matrix-") as tmp:
            workdir = Path(tmp)
            redis = RedisServer(redis_exe, workdir)
            try:
                await redis.start()
            except (RuntimeError, OSError) as exc:
                problems.append(str(exc))
                for case in runnable:
                    case.status, case.error = "fail", str(exc)
                runnable = []
            redis_version = redis.version
            log(f"redis-server on {redis.addr}; {len(runnable)} cases, {args.timeout:g} s each at most")
            deadline = time.monotonic() + args.total_timeout
            try:
                for i, case in enumerate(runnable):
                    left = deadline - time.monotonic()
                    if left < 1:
                        case.status, case.error = "fail", f"not run: --total-timeout {args.total_timeout:g} s ran out"
                        continue
                    try:
                        await run_case(case, impls, redis, min(args.timeout, max(1.0, left - 6)), workdir, i)
                    except (OSError, RuntimeError, TimeoutError) as exc:  # e.g. a program that cannot start
                        case.status, case.error = "fail", f"{type(exc).__name__}: {exc}"
                    times = (f"{_ms(case.handshake_plus_one_rtt_ms)} / {_ms(case.ping_rtt_ms)} ms"
                             if case.status == "pass" else case.error)
                    log(f"{i + 1:3d}/{len(runnable)} {case.pair:24} {case.transport:7} {case.security or '-':5} "
                        f"{case.muxer or '-':5} {case.contract:10} "
                        f"{case.status.upper():4} {times}")
            finally:
                await redis.stop()

    duration = round(time.monotonic() - t0, 1)
    failed = [c for c in cases if c.status == "fail"]
    passed = [c for c in cases if c.status == "pass"]
    skipped = [c for c in cases if c.status == "skipped"]
    print(table(cases))
    print()
    print(f"{len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped, in {duration:g} s")
    for name, impl in impls.items():
        if (name in args.selected or name == OURS) and impl.status != "ready":
            print(f"{name}: {impl.status}: {impl.reason.splitlines()[0] if impl.reason else ''}")
    for c in failed:
        print(f"\nFAILED {c.pair} {c.transport} {c.security} {c.muxer} {c.contract}: {c.error}")
        if c.dialer_stderr_tail:
            print("  dialer stderr (tail):\n    " + c.dialer_stderr_tail.replace("\n", "\n    "))
        if c.listener_stderr_tail:
            print("  listener stderr (tail):\n    " + c.listener_stderr_tail.replace("\n", "\n    "))
    for p in problems:
        print(f"PROBLEM: {p}")

    if str(args.json) != "-":
        report = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_seconds": duration,
            "ci": ci,
            "machine": machine(),
            "redis": redis_version,
            "per_case_timeout_seconds": args.timeout,
            "implementations": {n: {"version": i.version, "status": i.status, "reason": i.reason or None,
                                    "contracts": list(i.contracts), "prepare_seconds": i.prepare_seconds}
                                for n, i in impls.items() if n in args.selected or n == OURS},
            "summary": {"passed": len(passed), "failed": len(failed), "skipped": len(skipped),
                        "problems": problems},
            "cases": [c.as_json() for c in cases],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = args.json.with_name(f".{args.json.name}.tmp")
        tmp_path.write_text(json.dumps(report, indent=2) + "\n")
        tmp_path.replace(args.json)
        log(f"results written to {args.json}")
    return 1 if failed or problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
