"""What every foreign peer program's test helper shares (js, go, rust, py-libp2p).

The programs have one command line and one JSON dialect (see ``interop/js/README.md``), so their
helpers differ only in how the program is built and started: a :class:`CachedBuild` for the build
or install script, and the program's own argv prefix. Everything else is here: the shared options,
the ``dial`` arguments, running a one-shot mode with a time limit, and parsing the result line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CachedBuild",
    "Event",
    "dial_args",
    "in_ci",
    "parse_result",
    "peer_args",
    "run_async",
    "run_blocking",
]

Event = dict[str, Any]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


class CachedBuild:
    """Runs a build/install script once per process; its last stdout line names the result.

    ``precheck`` returns a reason the program cannot be had here (a missing toolchain) or None;
    ``unavailable_on`` turns a failed run's stderr into such a reason (or None for a real failure);
    ``check`` says whether the printed path is usable.
    """

    def __init__(
        self,
        name: str,
        script: Path,
        *,
        timeout: float,
        unavailable: type[Exception],
        check: Callable[[Path], bool],
        precheck: Callable[[], str | None] = lambda: None,
        unavailable_on: Callable[[str], str | None] = lambda stderr: None,
    ) -> None:
        self.name = name
        self.script = script
        self.timeout = timeout
        self.unavailable = unavailable
        self.check = check
        self.precheck = precheck
        self.unavailable_on = unavailable_on
        self._lock = threading.Lock()
        self._result: Path | None = None

    def get(self, timeout: float | None = None) -> Path:
        """The built program (cached); raises ``unavailable`` or ``RuntimeError``."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            if self._result is not None:
                return self._result
            reason = self.precheck()
            if reason is not None:
                raise self.unavailable(reason)
            try:
                proc = subprocess.run(["bash", str(self.script)], stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"{self.script} timed out after {timeout:.0f} s") from exc
            lines = proc.stdout.strip().splitlines()
            if proc.returncode != 0 or not lines:
                message = f"{self.script} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
                reason = self.unavailable_on(proc.stderr)
                if reason is not None:
                    raise self.unavailable(f"{reason}\n{message}")
                raise RuntimeError(message)
            path = Path(lines[-1])
            if not self.check(path):
                raise RuntimeError(f"{self.script} printed {path}, which is not a usable {self.name} peer")
            self._result = path
            return path

    def require(self) -> Path:
        """:meth:`get` for fixtures: skip when unavailable here, but fail when ``CI=true``."""
        import pytest

        try:
            return self.get()
        except self.unavailable as exc:
            if in_ci():
                pytest.fail(f"{self.name} interop peer unavailable under CI=true: {exc}")
            pytest.skip(f"{self.name} interop peer unavailable: {exc}")
        except RuntimeError as exc:
            pytest.fail(str(exc))


def peer_args(key_seed: str | bytes | None = None, key_type: str | None = None, agent: str | None = None, *,
              connection_monitor: bool = True, security: str | None = None) -> list[str]:
    """The options every mode of every peer program takes."""
    args: list[str] = []
    if key_seed is not None:
        args += ["--key-seed", key_seed.hex() if isinstance(key_seed, bytes) else key_seed]
    if key_type is not None:
        args += ["--key-type", key_type]
    if agent is not None:
        args += ["--agent", agent]
    if not connection_monitor:
        args.append("--no-connection-monitor")
    if security is not None:
        args += ["--security", security]
    return args


def dial_args(to: str, muxer: str, *, pings: int, echo_bytes: int, streams: int, stream_bytes: int,
              stream_protocol: str, hold_ms: int, timeout: float) -> list[str]:
    """``dial`` and its work options; the peer gives up (still printing its JSON) 5 s before we kill it."""
    own_timeout_ms = max(1000, int((timeout - 5) * 1000))
    return ["dial", "--to", to, "--muxer", muxer, "--pings", str(pings), "--echo-bytes", str(echo_bytes),
            "--streams", str(streams), "--stream-bytes", str(stream_bytes), "--stream-protocol", stream_protocol,
            "--hold-ms", str(hold_ms), "--timeout-ms", str(own_timeout_ms)]


def parse_result(who: str, returncode: int | None, stdout: str, stderr: str) -> Event:
    """The last stdout line as JSON, plus ``exit_code`` and ``stderr``."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError(f"{who} printed no result (exit code {returncode}):\n{stderr[-4000:]}")
    try:
        result: Event = json.loads(lines[-1])
    except ValueError as exc:
        raise RuntimeError(f"{who} printed bad JSON {lines[-1]!r}:\n{stderr[-4000:]}") from exc
    result["exit_code"] = returncode
    result["stderr"] = stderr
    return result


def run_blocking(who: str, argv: Sequence[str], *, timeout: float, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """Run to completion; ``TimeoutError`` (after killing it) when it runs too long."""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:  # run() has killed it
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else ""
        raise TimeoutError(f"{who} did not finish within {timeout:.0f} s:\n{err[-4000:]}") from exc
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


async def run_async(argv: Sequence[str], *, timeout: float, cwd: Path | None = None,
                    env: Mapping[str, str] | None = None) -> tuple[int | None, str, str]:
    """:func:`run_blocking` without blocking the event loop; the process is killed on timeout or cancel."""
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=None if env is None else dict(env),
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError):
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
        raise
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
