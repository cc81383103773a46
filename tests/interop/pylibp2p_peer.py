"""Start and drive the py-libp2p 0.8.1 interop peer (``interop/py-libp2p/peer.py``) from tests.

py-libp2p (PyPI ``libp2p``) has the import name of aiolibp2p, so it runs in its own virtual
environment, made by ``ci/install_py_libp2p_peer.sh``; every command here runs that venv's python
with ``-I`` (isolated: neither ``PYTHONPATH`` nor the working directory can put aiolibp2p first).
The program has the js peer's command line and JSON lines, so this module mirrors
:mod:`tests.interop.js_peer` / :mod:`tests.interop.go_peer`:

* :func:`install_pylibp2p_peer` runs the install script once per process and returns the cache
  directory (``venv/`` + ``peer.py``; a cached run takes milliseconds).
* :func:`require_pylibp2p_peer` is the same for fixtures: skips when python >= 3.10 is missing or the
  install failed for lack of a network (PyPI unreachable), but fails instead when ``CI=true``.
* :meth:`PyLibp2pPeer.listen` is a context manager running ``peer.py listen --events``; events, stdin
  commands and waiting work exactly as for :class:`tests.interop.js_peer.JsPeer`.
* :func:`run_pylibp2p_dialer` / :func:`run_pylibp2p_dialer_async` run ``peer.py dial`` and return its
  result JSON plus ``exit_code`` and ``stderr``.
* :func:`run_pylibp2p_peer` / :func:`run_pylibp2p_peer_async` run any other mode (``perf``,
  ``transport-interop``) with a time limit and return ``(exit_code, stdout, stderr)``.

Every wait is bounded. See ``interop/py-libp2p/README.md`` for what py-libp2p 0.8.1 supports.
"""

from __future__ import annotations

import contextlib
import os
import re
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
INSTALL_SCRIPT = REPO / "ci" / "install_py_libp2p_peer.sh"
INSTALL_TIMEOUT = 900.0


__all__ = ["PyLibp2pPeer", "PyLibp2pPeerUnavailable", "install_pylibp2p_peer", "require_pylibp2p_peer",
           "run_pylibp2p_dialer", "run_pylibp2p_dialer_async", "run_pylibp2p_peer", "run_pylibp2p_peer_async"]


class PyLibp2pPeerUnavailable(RuntimeError):
    """No usable python, or PyPI unreachable: the py-libp2p interop tests cannot run here."""


# pip's messages when it cannot reach an index (no network, no proxy, DNS failure)
_NETWORK_ERRORS = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution|"
    r"Name or service not known|Network is unreachable|Connection refused|ConnectTimeout|ReadTimeout|"
    r"ProxyError|Could not fetch URL|No matching distribution found|Could not find a version that satisfies",
    re.IGNORECASE)

def _python_missing() -> str | None:
    python = os.environ.get("PYTHON", "python3")
    if shutil.which(python) is None:
        return f"{python} not found on PATH (the py-libp2p peer needs Python >= 3.10)"
    return None


def _offline(stderr: str) -> str | None:
    if _NETWORK_ERRORS.search(stderr) or "needs Python >= 3.10" in stderr:
        return "PyPI unreachable, or no suitable python"
    return None


_BUILD = CachedBuild("py-libp2p", INSTALL_SCRIPT, timeout=INSTALL_TIMEOUT, unavailable=PyLibp2pPeerUnavailable,
                     check=lambda path: (path / "peer.py").is_file() and (path / "venv" / "bin" / "python").exists(),
                     precheck=_python_missing, unavailable_on=_offline)


def install_pylibp2p_peer(timeout: float = INSTALL_TIMEOUT) -> Path:
    """Install (or find in the cache) the py-libp2p peer once per process; return its directory.

    Raises :class:`PyLibp2pPeerUnavailable` when python3 is missing or PyPI is unreachable and
    ``RuntimeError`` for any other install failure.
    """
    return _BUILD.get(timeout)


def require_pylibp2p_peer() -> Path:
    """:func:`install_pylibp2p_peer` for fixtures: skip when unavailable (fail when ``CI=true``)."""
    return _BUILD.require()


def _argv(peer_dir: Path | None, args: Sequence[str]) -> tuple[list[str], Path]:
    directory = peer_dir if peer_dir is not None else install_pylibp2p_peer()
    return [str(directory / "venv" / "bin" / "python"), "-I", str(directory / "peer.py"), *args], directory


def _env(env: Mapping[str, str] | None) -> dict[str, str]:
    base = dict(os.environ if env is None else env)
    base.pop("PYTHONPATH", None)  # -I ignores it anyway; keep the child's environment honest
    return base


def _common_args(key_seed: str | bytes | None, key_type: str | None, agent: str | None,
                 security: str | None) -> list[str]:
    return peer_args(key_seed, key_type, agent, security=security)


class PyLibp2pPeer(JsPeer):
    """A running ``peer.py listen`` process. Create it with :meth:`listen` (or :meth:`run`).

    Everything but the start-up is :class:`JsPeer`'s (the programs print the same lines).
    """

    name = "py-libp2p peer"

    @classmethod
    @contextlib.contextmanager
    def listen(cls, muxer: str = "yamux", *, listen_addr: str | Sequence[str] = "/ip4/127.0.0.1/tcp/0",
               key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
               security: str | None = None, extra_args: Sequence[str] = (), peer_dir: Path | None = None,
               startup_timeout: float = 30.0, **_ignored: Any) -> Iterator[PyLibp2pPeer]:
        """Run a py-libp2p listener (yamux and mplex offered, ``muxer`` preferred) for the ``with`` block.

        ``key_seed`` (32 bytes or 64 hex chars) makes the Ed25519 identity deterministic. Keyword
        arguments only meaningful to other peers (``connection_monitor``, ``binary``) are accepted
        and ignored, so tests can start any peer with the same call.
        """
        addrs = [listen_addr] if isinstance(listen_addr, str) else list(listen_addr)
        args = ["listen", "--muxer", muxer, "--events"]
        for addr in addrs:
            args += ["--listen", addr]
        args += _common_args(key_seed, key_type, agent, security)
        args += list(extra_args)
        with cls.run(args, peer_dir=peer_dir, startup_timeout=startup_timeout) as peer:
            yield peer

    @classmethod
    @contextlib.contextmanager
    def run(cls, args: Sequence[str], *, peer_dir: Path | None = None, startup_timeout: float = 30.0,
            stdin_stops: bool = True) -> Iterator[PyLibp2pPeer]:
        """Run ``peer.py ARGS...`` for the ``with`` block once it printed its first JSON line (the
        ``{"peer_id", "multiaddrs", ...}`` line of ``listen`` and ``perf --run-server``)."""
        argv, directory = _argv(peer_dir, args)
        with cls._spawn(argv, cwd=directory, env=_env(None), startup_timeout=startup_timeout,
                        stdin_stops=stdin_stops) as peer:
            yield peer


# -- dialer and other one-shot modes -------------------------------------------------------------


def _dialer_args(to: str, muxer: str, *, pings: int, echo_bytes: int, streams: int, stream_bytes: int,
                 stream_protocol: str, hold_ms: int, key_seed: str | bytes | None, key_type: str | None,
                 agent: str | None, security: str | None, extra_args: Sequence[str], timeout: float) -> list[str]:
    args = dial_args(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                     stream_protocol=stream_protocol, hold_ms=hold_ms, timeout=timeout)
    return args + _common_args(key_seed, key_type, agent, security) + list(extra_args)


def _parse_dialer(returncode: int | None, stdout: str, stderr: str) -> Event:
    return parse_result("py-libp2p dialer", returncode, stdout, stderr)


def run_pylibp2p_peer(args: Sequence[str], *, env: Mapping[str, str] | None = None, peer_dir: Path | None = None,
                      timeout: float = 60.0) -> tuple[int, str, str]:
    """Run ``peer.py ARGS...`` (``env`` replaces the environment when given); return
    ``(exit_code, stdout, stderr)``. Raises ``TimeoutError`` (after killing it) when it runs too long."""
    argv, directory = _argv(peer_dir, args)
    return run_blocking(f"py-libp2p peer {' '.join(args)}", argv, cwd=directory, env=_env(env), timeout=timeout)


async def run_pylibp2p_peer_async(args: Sequence[str], *, env: Mapping[str, str] | None = None,
                                  peer_dir: Path | None = None, timeout: float = 60.0) -> tuple[int | None, str, str]:
    """:func:`run_pylibp2p_peer` without blocking the running event loop."""
    argv, directory = _argv(peer_dir, args)
    return await run_async(argv, cwd=directory, env=_env(env), timeout=timeout)


def run_pylibp2p_dialer(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0, streams: int = 0,
                        stream_bytes: int = 1024, stream_protocol: str = "echo", hold_ms: int = 0,
                        key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
                        security: str | None = None, extra_args: Sequence[str] = (), peer_dir: Path | None = None,
                        timeout: float = 60.0, **_ignored: Any) -> Event:
    """Run ``peer.py dial`` against ``to`` (a multiaddr ending in ``/p2p/<id>``); return its result
    JSON plus ``exit_code`` and ``stderr``. Blocking: from an asyncio test whose own host must keep
    serving, use :func:`run_pylibp2p_dialer_async`."""
    args = _dialer_args(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                        stream_protocol=stream_protocol, hold_ms=hold_ms, key_seed=key_seed, key_type=key_type,
                        agent=agent, security=security, extra_args=extra_args, timeout=timeout)
    try:
        code, out, err = run_pylibp2p_peer(args, peer_dir=peer_dir, timeout=timeout)
    except TimeoutError as exc:
        raise TimeoutError(str(exc).replace("py-libp2p peer dial", "py-libp2p dialer", 1)) from None
    return _parse_dialer(code, out, err)


async def run_pylibp2p_dialer_async(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0,
                                    streams: int = 0, stream_bytes: int = 1024, stream_protocol: str = "echo",
                                    hold_ms: int = 0, key_seed: str | bytes | None = None,
                                    key_type: str | None = None, agent: str | None = None,
                                    security: str | None = None, extra_args: Sequence[str] = (),
                                    peer_dir: Path | None = None, timeout: float = 60.0,
                                    **_ignored: Any) -> Event:
    """:func:`run_pylibp2p_dialer` without blocking the running event loop."""
    args = _dialer_args(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                        stream_protocol=stream_protocol, hold_ms=hold_ms, key_seed=key_seed, key_type=key_type,
                        agent=agent, security=security, extra_args=extra_args, timeout=timeout)
    code, out, err = await run_pylibp2p_peer_async(args, peer_dir=peer_dir, timeout=timeout)
    return _parse_dialer(code, out, err)
