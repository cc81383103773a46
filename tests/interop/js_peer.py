"""Start and drive the js-libp2p interop peer (``interop/js/peer.mjs``) from tests.

* :func:`install_js_peer` runs ``ci/install_js_peer.sh`` once per process and returns the cache
  directory holding ``peer.mjs`` next to its ``node_modules``.
* :func:`require_js_peer` is the same for fixtures: skips when ``node``/``npm`` are missing, but fails
  instead when ``CI=true``.
* :meth:`JsPeer.listen` is a context manager running ``peer.mjs listen --events``: it yields once the
  peer printed its ``{"peer_id", "multiaddrs", ...}`` line and always stops the process (stdin closed,
  then SIGTERM, then SIGKILL, each bounded) when the block ends. Later stdout lines are events
  (``connection_open``, ``identify``, ``identify_push``, ``identify_error``, ``stream``,
  ``connection_close``, ``cmd_result``), collected by a reader thread; wait for them with
  :meth:`JsPeer.wait_event` (blocking) or :meth:`JsPeer.await_event` (from an asyncio test, so the
  event loop keeps serving our own host meanwhile).
* :func:`run_js_dialer` / :func:`run_js_dialer_async` run ``peer.mjs dial`` and return its result JSON
  plus ``exit_code`` and ``stderr``.

Every wait is bounded. See ``interop/js/README.md`` for the program's options and JSON formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.interop.peer_program import (  # Event and in_ci are re-exported for the other helpers
    CachedBuild,
    Event,
    dial_args,
    in_ci,  # noqa: F401 - the other helpers import it from here
    parse_result,
    peer_args,
    run_async,
    run_blocking,
)

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "ci" / "install_js_peer.sh"
INSTALL_TIMEOUT = 900.0



class JsPeerUnavailable(RuntimeError):
    """``node`` or ``npm`` is not installed: the js interop tests cannot run here."""


def _node_and_npm_missing() -> str | None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found on PATH (the js-libp2p interop peer needs Node.js >= 20 and npm)"
    return None


_BUILD = CachedBuild("js-libp2p", INSTALL_SCRIPT, timeout=INSTALL_TIMEOUT, unavailable=JsPeerUnavailable,
                     check=lambda path: (path / "peer.mjs").is_file(), precheck=_node_and_npm_missing)


def install_js_peer(timeout: float = INSTALL_TIMEOUT) -> Path:
    """Install (or find in the cache) the js peer once per process; return its directory.

    Raises :class:`JsPeerUnavailable` when node/npm are missing and ``RuntimeError`` when the
    install fails.
    """
    return _BUILD.get(timeout)


def require_js_peer() -> Path:
    """:func:`install_js_peer` for fixtures: skip if node/npm are missing (fail when ``CI=true``)."""
    return _BUILD.require()


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise JsPeerUnavailable("node not found on PATH")
    return node


def _common_args(key_seed: str | bytes | None, key_type: str | None, agent: str | None,
                 connection_monitor: bool) -> list[str]:
    return peer_args(key_seed, key_type, agent, connection_monitor=connection_monitor)


def _match(event: Event, kind: str | None, fields: dict[str, Any],
           predicate: Callable[[Event], bool] | None) -> bool:
    if kind is not None and event.get("event") != kind:
        return False
    if any(event.get(k) != v for k, v in fields.items()):
        return False
    return predicate is None or predicate(event)


class JsPeer:
    """A running ``peer.mjs listen`` process. Create it with :meth:`listen`.

    The go, rust and py-libp2p helpers subclass it: their programs print the same lines and take
    the same commands, so only the start-up and :attr:`name` differ.
    """

    #: how errors name the program
    name = "js peer"
    #: False for modes that ignore stdin (``perf --run-server``): :meth:`stop` signals at once
    stdin_stops: bool = True

    def __init__(self, proc: subprocess.Popen[bytes], stderr_path: Path) -> None:
        self.proc = proc
        self._stderr_path = stderr_path
        self._stderr_final: str | None = None
        self._cond = threading.Condition()
        self._lines: list[Event] = []  # every JSON line, the ready line first
        self._eof = False
        self._reader = threading.Thread(target=self._read_stdout, name="js-peer-stdout", daemon=True)
        self._reader.start()
        self.ready: Event = {}

    # -- construction -------------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def listen(cls, muxer: str = "yamux", *, listen_addr: str | Sequence[str] = "/ip4/127.0.0.1/tcp/0",
               key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
               connection_monitor: bool = True, extra_args: Sequence[str] = (),
               peer_dir: Path | None = None, startup_timeout: float = 30.0) -> Iterator[JsPeer]:
        """Run a js listener (yamux and mplex offered, ``muxer`` preferred) for the ``with`` block.

        ``key_seed`` (32 bytes or 64 hex chars) makes the Ed25519 identity deterministic.
        """
        directory = peer_dir if peer_dir is not None else install_js_peer()
        addrs = [listen_addr] if isinstance(listen_addr, str) else list(listen_addr)
        argv = [_node(), str(directory / "peer.mjs"), "listen", "--muxer", muxer, "--events"]
        for addr in addrs:
            argv += ["--listen", addr]
        argv += _common_args(key_seed, key_type, agent, connection_monitor)
        argv += list(extra_args)
        with cls._spawn(argv, cwd=directory, startup_timeout=startup_timeout) as peer:
            yield peer

    @classmethod
    @contextlib.contextmanager
    def _spawn(cls, argv: Sequence[str], *, startup_timeout: float, cwd: Path | None = None,
               env: dict[str, str] | None = None, stdin_stops: bool = True) -> Iterator[Any]:
        """Run ``argv`` for the ``with`` block once it printed its first JSON line; always stopped."""
        fd, name = tempfile.mkstemp(prefix=cls.name.replace(" ", "-") + "-", suffix=".stderr")
        os.close(fd)
        stderr_path = Path(name)
        # the child appends; we read through our own descriptor, so offsets never clash
        with open(stderr_path, "ab") as stderr_file:
            try:
                proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=stderr_file)
            except BaseException:
                stderr_path.unlink(missing_ok=True)
                raise
        peer = cls(proc, stderr_path)
        peer.stdin_stops = stdin_stops
        try:
            peer._wait_ready(startup_timeout)
            yield peer
        finally:
            peer.stop()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._lines and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if not self._lines:
                raise RuntimeError(f"{self.name} did not report its addresses within {timeout:.0f} s "
                                   f"(exit code {self.proc.poll()}):\n{self.stderr_text()[-4000:]}")
            self.ready = self._lines[0]

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {"event": "bad_line", "line": line}
            with self._cond:
                self._lines.append(obj)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    # -- what it announced --------------------------------------------------------------------

    @property
    def peer_id(self) -> str:
        return str(self.ready["peer_id"])

    @property
    def multiaddrs(self) -> list[str]:
        return list(self.ready["multiaddrs"])

    @property
    def multiaddr(self) -> str:
        """The first listen address, with ``/p2p/<peer id>``."""
        return self.multiaddrs[0]

    @property
    def agent(self) -> str | None:
        return self.ready.get("agent")

    @property
    def protocols(self) -> list[str]:
        return list(self.ready.get("protocols", []))

    # -- events -------------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        """Every event line so far (the ready line excluded)."""
        with self._cond:
            return list(self._lines[1:])

    def find_events(self, kind: str | None = None, predicate: Callable[[Event], bool] | None = None,
                    **fields: Any) -> list[Event]:
        return [e for e in self.events if _match(e, kind, fields, predicate)]

    def wait_event(self, kind: str | None = None, predicate: Callable[[Event], bool] | None = None, *,
                   timeout: float = 10.0, after: int = 0, **fields: Any) -> Event:
        """The first event (index >= ``after`` among :attr:`events`) of ``kind`` whose fields equal
        ``fields`` and satisfying ``predicate``; blocks up to ``timeout`` seconds.

        Blocks the calling thread: from an asyncio test use :meth:`await_event`.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self._lines[1 + after:]:
                    if _match(e, kind, fields, predicate):
                        return e
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cond.wait(left)
        raise TimeoutError(self._describe_wait(kind, fields, timeout))

    async def await_event(self, kind: str | None = None, predicate: Callable[[Event], bool] | None = None, *,
                          timeout: float = 10.0, after: int = 0, **fields: Any) -> Event:
        """:meth:`wait_event` without blocking the running event loop."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events[after:]:
                if _match(e, kind, fields, predicate):
                    return e
            if self._eof or time.monotonic() >= deadline:
                raise TimeoutError(self._describe_wait(kind, fields, timeout))
            await asyncio.sleep(0.02)

    def _describe_wait(self, kind: str | None, fields: dict[str, Any], timeout: float) -> str:
        state = "exited" if self._eof else f"still running after {timeout:.1f} s"
        return (f"{self.name}: no {kind or 'event'} matching {fields} ({state}); events so far: "
                f"{json.dumps(self.events)[-3000:]}\nstderr tail:\n{self.stderr_text()[-3000:]}")

    # -- commands on stdin --------------------------------------------------------------------

    def send_command(self, line: str) -> int:
        """Write one command line (``add-protocol P``, ``remove-protocol P``, ``push``, ``ping PEER [N]``,
        ``echo PEER [NBYTES]``, ``identify PEER``, ``peer-info PEER``, ``connections``); return the index
        to pass as ``after=`` when waiting for its ``cmd_result``."""
        assert self.proc.stdin is not None
        mark = len(self.events)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return mark

    def command(self, line: str, timeout: float = 35.0) -> Event:
        """Run a command and return its ``cmd_result`` event (blocking)."""
        mark = self.send_command(line)
        return self.wait_event("cmd_result", timeout=timeout, after=mark, cmd=line.split()[0])

    async def command_async(self, line: str, timeout: float = 35.0) -> Event:
        mark = self.send_command(line)
        return await self.await_event("cmd_result", timeout=timeout, after=mark, cmd=line.split()[0])

    # -- shutdown -----------------------------------------------------------------------------

    def stderr_text(self) -> str:
        """Everything the peer wrote to stderr so far (kept after :meth:`stop`)."""
        if self._stderr_final is not None:
            return self._stderr_final
        try:
            return self._stderr_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the process: close stdin (the peer exits on EOF), then SIGTERM, then SIGKILL.
        A mode that ignores stdin gets SIGTERM first."""
        proc = self.proc
        if not self.stdin_stops and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        if proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                if proc.stdin is not None:
                    proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout)
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        self._reader.join(timeout)
        with contextlib.suppress(OSError, ValueError):
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr_final is None:
            self._stderr_final = self.stderr_text()
            self._stderr_path.unlink(missing_ok=True)
        return proc.returncode


# -- dialer -------------------------------------------------------------------------------------


def _dialer_argv(to: str, muxer: str, *, pings: int, echo_bytes: int, streams: int, stream_bytes: int,
                 stream_protocol: str, hold_ms: int, key_seed: str | bytes | None, key_type: str | None,
                 agent: str | None, connection_monitor: bool, extra_args: Sequence[str], peer_dir: Path | None,
                 timeout: float) -> tuple[list[str], Path]:
    directory = peer_dir if peer_dir is not None else install_js_peer()
    argv = [_node(), str(directory / "peer.mjs")]
    argv += dial_args(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams, stream_bytes=stream_bytes,
                      stream_protocol=stream_protocol, hold_ms=hold_ms, timeout=timeout)
    argv += _common_args(key_seed, key_type, agent, connection_monitor)
    argv += list(extra_args)
    return argv, directory


def _parse_dialer(returncode: int | None, stdout: str, stderr: str) -> Event:
    return parse_result("js dialer", returncode, stdout, stderr)


def run_js_dialer(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0, streams: int = 0,
                  stream_bytes: int = 1024, stream_protocol: str = "echo", hold_ms: int = 0,
                  key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None,
                  connection_monitor: bool = True, extra_args: Sequence[str] = (),
                  peer_dir: Path | None = None, timeout: float = 60.0) -> Event:
    """Run ``peer.mjs dial`` against ``to`` (a multiaddr ending in ``/p2p/<id>``); return its result
    JSON plus ``exit_code`` and ``stderr``. Blocking: from an asyncio test whose own host must keep
    serving, use :func:`run_js_dialer_async`."""
    argv, directory = _dialer_argv(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams,
                                   stream_bytes=stream_bytes, stream_protocol=stream_protocol, hold_ms=hold_ms,
                                   key_seed=key_seed, key_type=key_type, agent=agent,
                                   connection_monitor=connection_monitor, extra_args=extra_args,
                                   peer_dir=peer_dir, timeout=timeout)
    code, out, err = run_blocking("js dialer", argv, cwd=directory, timeout=timeout)
    return _parse_dialer(code, out, err)


async def run_js_dialer_async(to: str, muxer: str = "yamux", *, pings: int = 1, echo_bytes: int = 0,
                              streams: int = 0, stream_bytes: int = 1024, stream_protocol: str = "echo",
                              hold_ms: int = 0, key_seed: str | bytes | None = None, key_type: str | None = None,
                              agent: str | None = None, connection_monitor: bool = True,
                              extra_args: Sequence[str] = (), peer_dir: Path | None = None,
                              timeout: float = 60.0) -> Event:
    """:func:`run_js_dialer` without blocking the running event loop."""
    argv, directory = _dialer_argv(to, muxer, pings=pings, echo_bytes=echo_bytes, streams=streams,
                                   stream_bytes=stream_bytes, stream_protocol=stream_protocol, hold_ms=hold_ms,
                                   key_seed=key_seed, key_type=key_type, agent=agent,
                                   connection_monitor=connection_monitor, extra_args=extra_args,
                                   peer_dir=peer_dir, timeout=timeout)
    code, out, err = await run_async(argv, cwd=directory, timeout=timeout)
    return _parse_dialer(code, out, err)
