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

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.interop.js_peer import JsPeer
from tests.interop.peer_program import (
    CachedBuild,
    Event,
    dial_args,
    parse_result,
    peer_args,
    run_async,
    run_blocking,
)

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "ci" / "build_rust_peer.sh"
BUILD_TIMEOUT = 3000.0


class RustPeerUnavailable(RuntimeError):
    """``cargo`` is not installed and no binary is cached: the rust interop tests cannot run here."""


def _cargo_missing(stderr: str) -> str | None:
    if "cargo not found" in stderr and shutil.which("cargo") is None:
        return "cargo not found on PATH and no cached rust peer binary (install Rust >= 1.88 with rustup)"
    return None


_BUILD = CachedBuild("rust-libp2p", BUILD_SCRIPT, timeout=BUILD_TIMEOUT, unavailable=RustPeerUnavailable,
                     check=lambda path: os.access(path, os.X_OK), unavailable_on=_cargo_missing)


def build_rust_peer(timeout: float = BUILD_TIMEOUT) -> Path:
    """Build (or find in the cache) the rust peer once per process; return the binary's path.

    Raises :class:`RustPeerUnavailable` when cargo is missing and nothing is cached, and
    ``RuntimeError`` when the build fails.
    """
    return _BUILD.get(timeout)


def require_rust_peer() -> Path:
    """:func:`build_rust_peer` for fixtures: skip if cargo is missing (fail when ``CI=true``)."""
    return _BUILD.require()


def _common_args(key_seed: str | bytes | None, key_type: str | None, agent: str | None,
                 connection_monitor: bool) -> list[str]:
    return peer_args(key_seed, key_type, agent, connection_monitor=connection_monitor)


class RustPeer(JsPeer):
    """A running ``peer listen`` process (rust-libp2p). Create it with :meth:`listen`.

    Everything but the start-up is inherited from :class:`JsPeer` (events, commands, stop)."""

    name = "rust peer"

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
        with cls._spawn(argv, startup_timeout=startup_timeout) as peer:
            yield peer


# -- dialer -------------------------------------------------------------------------------------


def _dialer_argv(to: str, muxer: str, *, pings: int, echo_bytes: int, streams: int, stream_bytes: int,
                 stream_protocol: str, hold_ms: int, key_seed: str | bytes | None, key_type: str | None,
                 agent: str | None, connection_monitor: bool, extra_args: Sequence[str], binary: Path | None,
                 timeout: float) -> list[str]:
    exe = binary if binary is not None else build_rust_peer()
    argv = [str(exe)]
    argv += dial_args(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                      stream_protocol=stream_protocol, hold_ms=hold_ms, timeout=timeout)
    argv += _common_args(key_seed, key_type, agent, connection_monitor)
    argv += list(extra_args)
    return argv


def _parse(returncode: int | None, stdout: str, stderr: str) -> Event:
    return parse_result("rust dialer", returncode, stdout, stderr)


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
    code, out, err = run_blocking("rust dialer", argv, timeout=timeout)
    return _parse(code, out, err)


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
    code, out, err = await run_async(argv, timeout=timeout)
    return _parse(code, out, err)


def perf_server_peer_id() -> str:
    """The perf server's fixed peer id (Ed25519, all-zero seed)."""
    return "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


__all__ = ["RustPeer", "RustPeerUnavailable", "build_rust_peer", "perf_server_peer_id", "require_rust_peer",
           "run_rust_dialer", "run_rust_dialer_async"]

