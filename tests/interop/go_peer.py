"""Start and drive the go-libp2p interop peer (``interop/go``) from tests.

The Go program has the same command line and JSON lines as the js peer (``interop/js/peer.mjs``), so
this module mirrors :mod:`tests.interop.js_peer`:

* :func:`build_go_peer` runs ``ci/build_go_peer.sh`` once per process and returns the path of the
  cached binary (built once per source hash; a cached run takes milliseconds).
* :func:`require_go_peer` is the same for fixtures: skips when ``go`` is missing, but fails instead
  when ``CI=true``.
* :meth:`GoPeer.listen` is a context manager running ``peer listen --events``: it yields once the
  peer printed its ``{"peer_id", "multiaddrs", ...}`` line and always stops the process (stdin
  closed, then SIGTERM, then SIGKILL, each bounded) when the block ends. Events, stdin commands
  and waiting work exactly as for :class:`tests.interop.js_peer.JsPeer` (``wait_event``,
  ``await_event``, ``command``, ``command_async``, ...).
* :func:`run_go_dialer` / :func:`run_go_dialer_async` run ``peer dial`` and return its result
  JSON plus ``exit_code`` and ``stderr``.
* :func:`run_go_peer` / :func:`run_go_peer_async` run any other mode (``perf``,
  ``transport-interop``) with a time limit and return ``(exit_code, stdout, stderr)``.

Every wait is bounded. See ``interop/go/README.md`` for the program's options and JSON formats.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

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
BUILD_SCRIPT = REPO / "ci" / "build_go_peer.sh"
BUILD_TIMEOUT = 1500.0
FALLBACK_GO = Path("/usr/local/go/bin/go")


__all__ = ["GoPeer", "GoPeerUnavailable", "build_go_peer", "go_executable", "require_go_peer",
           "run_go_dialer", "run_go_dialer_async", "run_go_peer", "run_go_peer_async"]


class GoPeerUnavailable(RuntimeError):
    """``go`` is not installed: the go-libp2p interop tests cannot run here."""


def go_executable() -> str | None:
    found = shutil.which("go")
    if found is not None:
        return found
    return str(FALLBACK_GO) if FALLBACK_GO.is_file() and os.access(FALLBACK_GO, os.X_OK) else None


def _go_missing() -> str | None:
    if go_executable() is None:
        return "go not found on PATH or in /usr/local/go/bin (the go-libp2p interop peer needs Go >= 1.26)"
    return None


_BUILD = CachedBuild("go-libp2p", BUILD_SCRIPT, timeout=BUILD_TIMEOUT, unavailable=GoPeerUnavailable,
                     check=lambda path: path.is_file() and os.access(path, os.X_OK), precheck=_go_missing)


def build_go_peer(timeout: float = BUILD_TIMEOUT) -> Path:
    """Build (or find in the cache) the go peer once per process; return the binary's path.

    Raises :class:`GoPeerUnavailable` when ``go`` is missing and ``RuntimeError`` when the build fails.
    """
    return _BUILD.get(timeout)


def require_go_peer() -> Path:
    """:func:`build_go_peer` for fixtures: skip if go is missing (fail when ``CI=true``)."""
    return _BUILD.require()


def _common_args(key_seed: str | bytes | None, key_type: str | None, agent: str | None,
                 security: str | None) -> list[str]:
    return peer_args(key_seed, key_type, agent, security=security)


class GoPeer(JsPeer):
    """A running ``peer listen`` process of the Go program. Create it with :meth:`listen`.

    Everything but the start-up is :class:`JsPeer`'s (the two programs print the same lines).
    """

    name = "go peer"

    @classmethod
    @contextlib.contextmanager
    def listen(cls, muxer: str = "yamux", *, listen_addr: str | Sequence[str] = "/ip4/127.0.0.1/tcp/0",
               key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
               security: str | None = None, extra_args: Sequence[str] = (), binary: Path | None = None,
               startup_timeout: float = 30.0, **_ignored: Any) -> Iterator[GoPeer]:
        """Run a go listener (yamux and mplex offered, ``muxer`` preferred) for the ``with`` block.

        ``key_seed`` (32 bytes or 64 hex chars) makes the Ed25519 identity deterministic;
        ``key_type`` may also be ``ecdsa`` here; ``security`` is ``noise`` (default) or ``tls``.
        Keyword arguments only meaningful to the js peer (``connection_monitor``, ``peer_dir``) are
        accepted and ignored, so tests can start either peer with the same call.
        """
        addrs = [listen_addr] if isinstance(listen_addr, str) else list(listen_addr)
        args = ["listen", "--muxer", muxer, "--events"]
        for addr in addrs:
            args += ["--listen", addr]
        args += _common_args(key_seed, key_type, agent, security)
        args += list(extra_args)
        with cls.run(args, binary=binary, startup_timeout=startup_timeout) as peer:
            yield peer

    @classmethod
    @contextlib.contextmanager
    def run(cls, args: Sequence[str], *, binary: Path | None = None, startup_timeout: float = 30.0,
            stdin_stops: bool = True) -> Iterator[GoPeer]:
        """Run ``peer ARGS...`` for the ``with`` block once it printed its first JSON line (the
        ``{"peer_id", "multiaddrs", ...}`` line of ``listen`` and ``perf --run-server``)."""
        exe = binary if binary is not None else build_go_peer()
        with cls._spawn([str(exe), *args], startup_timeout=startup_timeout, stdin_stops=stdin_stops) as peer:
            yield peer


# -- dialer and other one-shot modes -------------------------------------------------------------


def _dialer_argv(to: str, muxer: str, *, pings: int, echo_bytes: int, streams: int, stream_bytes: int,
                 stream_protocol: str, hold_ms: int, key_seed: str | bytes | None, key_type: str | None,
                 agent: str | None, security: str | None, extra_args: Sequence[str], binary: Path | None,
                 timeout: float) -> list[str]:
    exe = binary if binary is not None else build_go_peer()
    argv = [str(exe)]
    argv += dial_args(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                      stream_protocol=stream_protocol, hold_ms=hold_ms, timeout=timeout)
    argv += _common_args(key_seed, key_type, agent, security)
    argv += list(extra_args)
    return argv


def _parse_dialer(returncode: int | None, stdout: str, stderr: str) -> Event:
    return parse_result("go dialer", returncode, stdout, stderr)


def run_go_dialer(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0, streams: int = 0,
                  stream_bytes: int = 1024, stream_protocol: str = "echo", hold_ms: int = 0,
                  key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
                  security: str | None = None, extra_args: Sequence[str] = (), binary: Path | None = None,
                  timeout: float = 60.0, **_ignored: Any) -> Event:
    """Run ``peer dial`` against ``to`` (a multiaddr ending in ``/p2p/<id>``); return its result
    JSON plus ``exit_code`` and ``stderr``. Blocking: from an asyncio test whose own host must keep
    serving, use :func:`run_go_dialer_async`."""
    argv = _dialer_argv(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams,
                        stream_bytes=stream_bytes, stream_protocol=stream_protocol, hold_ms=hold_ms,
                        key_seed=key_seed, key_type=key_type, agent=agent, security=security,
                        extra_args=extra_args, binary=binary, timeout=timeout)
    code, out, err = run_blocking("go dialer", argv, timeout=timeout)
    return _parse_dialer(code, out, err)


async def run_go_dialer_async(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0,
                              streams: int = 0, stream_bytes: int = 1024, stream_protocol: str = "echo",
                              hold_ms: int = 0, key_seed: str | bytes | None = None, key_type: str | None = None,
                              agent: str | None = None, security: str | None = None,
                              extra_args: Sequence[str] = (), binary: Path | None = None,
                              timeout: float = 60.0, **_ignored: Any) -> Event:
    """:func:`run_go_dialer` without blocking the running event loop."""
    argv = _dialer_argv(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams,
                        stream_bytes=stream_bytes, stream_protocol=stream_protocol, hold_ms=hold_ms,
                        key_seed=key_seed, key_type=key_type, agent=agent, security=security,
                        extra_args=extra_args, binary=binary, timeout=timeout)
    code, out, err = await run_async(argv, timeout=timeout)
    return _parse_dialer(code, out, err)


def run_go_peer(args: Sequence[str], *, env: Mapping[str, str] | None = None, binary: Path | None = None,
                timeout: float = 60.0) -> tuple[int, str, str]:
    """Run ``peer ARGS...`` (``env`` replaces the environment when given); return
    ``(exit_code, stdout, stderr)``. Raises ``TimeoutError`` (after killing it) when it runs too long."""
    exe = binary if binary is not None else build_go_peer()
    return run_blocking(f"go peer {' '.join(args)}", [str(exe), *args], timeout=timeout, env=env)


async def run_go_peer_async(args: Sequence[str], *, env: Mapping[str, str] | None = None,
                            binary: Path | None = None, timeout: float = 60.0) -> tuple[int | None, str, str]:
    """:func:`run_go_peer` without blocking the running event loop."""
    exe = binary if binary is not None else build_go_peer()
    return await run_async([str(exe), *args], timeout=timeout, env=env)
