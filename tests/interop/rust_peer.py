"""Start and drive the rust-libp2p interop peer (``interop/rust``) from tests.

The Rust program has the same command line and JSON lines as the js peer (``interop/js/peer.mjs``),
so this module mirrors :mod:`tests.interop.js_peer`:

* :func:`build_rust_peer` runs ``ci/build_rust_peer.sh`` once per process and returns the cached
  binary (the first build takes several minutes; later runs are instant).
* :func:`require_rust_peer` is the same for fixtures: skips when ``cargo`` is missing (and nothing is
  cached), but fails instead when ``CI=true``.
* :meth:`RustPeer.listen` is a context manager running ``peer listen --events``: it yields once the
  peer printed its ``{"peer_id", "multiaddrs", "agent", "protocols"}`` line and always stops the
  process (stdin closed, then SIGTERM, then SIGKILL, each bounded) when the block ends. Events and
  stdin commands work as for :class:`tests.interop.js_peer.JsPeer` (``identify PEER`` is
  unsupported by rust-libp2p and answers ``ok: false``).
* :func:`run_rust_dialer` / :func:`run_rust_dialer_async` run ``peer dial`` and return its result
  JSON plus ``exit_code`` and ``stderr``.

Every wait is bounded. See ``interop/rust/README.md`` for the options, JSON formats and quirks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.interop.js_peer import Event, JsPeer, _parse_dialer, in_ci

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "ci" / "build_rust_peer.sh"
BUILD_TIMEOUT = 3000.0


class RustPeerUnavailable(RuntimeError):
    """``cargo`` is not installed and no binary is cached: the rust interop tests cannot run here."""


_build_lock = threading.Lock()
_binary: Path | None = None


def build_rust_peer(timeout: float = BUILD_TIMEOUT) -> Path:
    """Build (or find in the cache) the rust peer once per process; return the binary's path.

    Raises :class:`RustPeerUnavailable` when cargo is missing and nothing is cached, and
    ``RuntimeError`` when the build fails.
    """
    global _binary
    with _build_lock:
        if _binary is not None:
            return _binary
        try:
            proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{BUILD_SCRIPT} timed out after {timeout:.0f} s") from exc
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            if "cargo not found" in proc.stderr and shutil.which("cargo") is None:
                raise RustPeerUnavailable("cargo not found on PATH and no cached rust peer binary "
                                          "(install Rust >= 1.88 with rustup)")
            raise RuntimeError(f"{BUILD_SCRIPT} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        path = Path(lines[-1])
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{BUILD_SCRIPT} printed {path}, which is not an executable")
        _binary = path
        return path


def require_rust_peer() -> Path:
    """:func:`build_rust_peer` for fixtures: skip if cargo is missing (fail when ``CI=true``)."""
    import pytest

    try:
        return build_rust_peer()
    except RustPeerUnavailable as exc:
        if in_ci():
            pytest.fail(f"rust-libp2p interop peer unavailable under CI=true: {exc}")
        pytest.skip(f"rust-libp2p interop peer unavailable: {exc}")
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _common_args(key_seed: str | bytes | None, key_type: str | None, agent: str | None,
                 connection_monitor: bool) -> list[str]:
    args: list[str] = []
    if key_seed is not None:
        args += ["--key-seed", key_seed.hex() if isinstance(key_seed, bytes) else key_seed]
    if key_type is not None:
        args += ["--key-type", key_type]
    if agent is not None:
        args += ["--agent", agent]
    if not connection_monitor:
        args.append("--no-connection-monitor")
    return args


class RustPeer(JsPeer):
    """A running ``peer listen`` process (rust-libp2p). Create it with :meth:`listen`.

    Everything but the start-up is inherited from :class:`JsPeer` (events, commands, stop)."""

    @classmethod
    @contextlib.contextmanager
    def listen(cls, muxer: str = "yamux", *, listen_addr: str | Sequence[str] = "/ip4/127.0.0.1/tcp/0",
               key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
               connection_monitor: bool = True, extra_args: Sequence[str] = (),
               binary: Path | None = None, startup_timeout: float = 30.0,
               peer_dir: Path | None = None) -> Iterator[RustPeer]:
        """Run a rust listener (yamux and mplex offered, ``muxer`` preferred) for the ``with`` block.

        ``key_seed`` (32 bytes or 64 hex chars) makes the identity deterministic (Ed25519 unless
        ``key_type`` says secp256k1 or ecdsa). ``peer_dir`` is accepted for symmetry with
        :meth:`JsPeer.listen` and ignored."""
        exe = binary if binary is not None else build_rust_peer()
        addrs = [listen_addr] if isinstance(listen_addr, str) else list(listen_addr)
        argv = [str(exe), "listen", "--muxer", muxer, "--events"]
        for addr in addrs:
            argv += ["--listen", addr]
        argv += _common_args(key_seed, key_type, agent, connection_monitor)
        argv += list(extra_args)
        fd, name = tempfile.mkstemp(prefix="rust-peer-", suffix=".stderr")
        os.close(fd)
        stderr_path = Path(name)
        with open(stderr_path, "ab") as stderr_file:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr_file)
            except BaseException:
                stderr_path.unlink(missing_ok=True)
                raise
        peer = cls(proc, stderr_path)
        try:
            peer._wait_ready(startup_timeout)
            yield peer
        finally:
            peer.stop()


# -- dialer -------------------------------------------------------------------------------------


def _dialer_argv(to: str, muxer: str, *, pings: int, echo_bytes: int, streams: int, stream_bytes: int,
                 stream_protocol: str, hold_ms: int, key_seed: str | bytes | None, key_type: str | None,
                 agent: str | None, connection_monitor: bool, extra_args: Sequence[str], binary: Path | None,
                 timeout: float) -> list[str]:
    exe = binary if binary is not None else build_rust_peer()
    # the rust side gives up (and still prints its JSON) a little before we kill it
    own_timeout_ms = max(1000, int((timeout - 5) * 1000))
    argv = [str(exe), "dial", "--to", to, "--muxer", muxer, "--pings", str(pings), "--echo-bytes", str(echo_bytes),
            "--streams", str(streams), "--stream-bytes", str(stream_bytes), "--stream-protocol", stream_protocol,
            "--hold-ms", str(hold_ms), "--timeout-ms", str(own_timeout_ms)]
    argv += _common_args(key_seed, key_type, agent, connection_monitor)
    argv += list(extra_args)
    return argv


def _parse(returncode: int | None, stdout: str, stderr: str) -> Event:
    try:
        return _parse_dialer(returncode, stdout, stderr)
    except RuntimeError as exc:
        raise RuntimeError(str(exc).replace("js dialer", "rust dialer")) from None


def run_rust_dialer(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0, streams: int = 0,
                    stream_bytes: int = 1024, stream_protocol: str = "echo", hold_ms: int = 0,
                    key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
                    connection_monitor: bool = True, extra_args: Sequence[str] = (),
                    binary: Path | None = None, timeout: float = 60.0) -> Event:
    """Run ``peer dial`` against ``to`` (a multiaddr ending in ``/p2p/<id>``); return its result JSON
    plus ``exit_code`` and ``stderr``. Blocking: from an asyncio test whose own host must keep
    serving, use :func:`run_rust_dialer_async`."""
    argv = _dialer_argv(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                        stream_protocol=stream_protocol, hold_ms=hold_ms, key_seed=key_seed, key_type=key_type,
                        agent=agent, connection_monitor=connection_monitor, extra_args=extra_args, binary=binary,
                        timeout=timeout)
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        raise TimeoutError(f"rust dialer did not finish within {timeout:.0f} s:\n{err[-4000:]}") from exc
    return _parse(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


async def run_rust_dialer_async(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0,
                                streams: int = 0, stream_bytes: int = 1024, stream_protocol: str = "echo",
                                hold_ms: int = 0, key_seed: str | bytes | None = None, key_type: str | None = None,
                                agent: str | None = None, connection_monitor: bool = True,
                                extra_args: Sequence[str] = (), binary: Path | None = None,
                                timeout: float = 60.0) -> Event:
    """:func:`run_rust_dialer` without blocking the running event loop."""
    argv = _dialer_argv(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                        stream_protocol=stream_protocol, hold_ms=hold_ms, key_seed=key_seed, key_type=key_type,
                        agent=agent, connection_monitor=connection_monitor, extra_args=extra_args, binary=binary,
                        timeout=timeout)
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
        raise
    return _parse(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def perf_server_peer_id() -> str:
    """The perf server's fixed peer id (Ed25519, all-zero seed)."""
    return "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


__all__ = ["RustPeer", "RustPeerUnavailable", "build_rust_peer", "perf_server_peer_id", "require_rust_peer",
           "run_rust_dialer", "run_rust_dialer_async"]

