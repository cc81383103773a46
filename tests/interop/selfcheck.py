"""What the peer programs' self-checks share (test_peer_selfcheck.py; the transport-interop app tests).

* :func:`free_port` and :func:`redis_server`: a private ``redis-server`` on loopback for the
  transport-interop contract (skipped when it is not installed).
* :func:`interop_env`: the environment of the test-plans (lower case) or unified-testing (upper case)
  contract for a listener or a dialer.
* :func:`check_transport_interop_output` and :func:`stop_interop_listener`: the dialer's one result
  and the listener's clean exit on SIGTERM.
* :func:`js_dials_listener`: the js peer dials a listener of another program and both sides agree
  on what happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.js_peer import JsPeer, run_js_dialer

MUXER_IDS = {"yamux": "/yamux/1.0.0", "mplex": "/mplex/6.7.0"}
INTEROP_VARS = ("transport", "muxer", "security", "is_dialer", "ip", "redis_addr", "test_timeout_seconds",
                "TRANSPORT", "MUXER", "SECURE_CHANNEL", "IS_DIALER", "LISTENER_IP", "REDIS_ADDR", "TEST_KEY",
                "TEST_TIMEOUT_SECS", "DEBUG")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away ``redis-server`` on 127.0.0.1; yields ``IP:PORT`` and stops it by its handle."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redis-") as workdir:
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", workdir], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start (exit code {proc.poll()})")
                time.sleep(0.05)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def interop_env(unified: bool, dialer: bool, redis: str, muxer: str, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INTEROP_VARS}
    if unified:
        env.update(TRANSPORT="tcp", SECURE_CHANNEL="noise", MUXER=muxer, IS_DIALER=str(dialer).lower(),
                   LISTENER_IP="127.0.0.1", REDIS_ADDR=redis, TEST_KEY=key, TEST_TIMEOUT_SECS="30", DEBUG="false")
    else:
        env.update(transport="tcp", security="noise", muxer=muxer, is_dialer=str(dialer).lower(), ip="127.0.0.1",
                   redis_addr=redis, test_timeout_seconds="30")
    return env


def check_transport_interop_output(out: str, unified: bool) -> None:
    """The dialer's single result: YAML (unified-testing) or one JSON line (test-plans)."""
    if unified:
        lines = out.strip().splitlines()
        assert lines[0] == "# Measurements from dialer"
        assert lines[1] == "latency:"
        fields = dict(line.strip().split(": ", 1) for line in lines[2:])
        assert set(fields) == {"handshake_plus_one_rtt", "ping_rtt", "unit"} and fields["unit"] == "ms"
        assert float(fields["handshake_plus_one_rtt"]) >= float(fields["ping_rtt"]) > 0
    else:
        (line,) = out.strip().splitlines()
        result = json.loads(line)
        assert set(result) == {"handshakePlusOneRTTMillis", "pingRTTMilllis"}
        assert result["handshakePlusOneRTTMillis"] >= result["pingRTTMilllis"] > 0


@contextlib.contextmanager
def interop_listener(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> Iterator[None]:
    """A transport-interop listener for the ``with`` block; at its end the listener must still be
    waiting, exit 0 on SIGTERM and have printed nothing. Always stopped by its own handle."""
    listener = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    try:
        yield
        assert listener.poll() is None  # the listener waits for the test timeout
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(10) == 0
        assert listener.stdout is not None and listener.stdout.read() == b""
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait(5)
        for pipe in (listener.stdout, listener.stderr):
            if pipe is not None:
                pipe.close()


def js_dials_listener(listener: JsPeer, js_peer_dir: Path, muxer: str,
                      check_dial_result: Callable[[dict[str, Any], str, str, str], None]) -> None:
    """The js peer dials ``listener`` (pings, echo, 16 streams), then hashes 6 streams; both sides'
    accounts must agree. ``check_dial_result`` holds the listener-specific checks of js's JSON."""
    result = run_js_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                           stream_bytes=64 * 1024, peer_dir=js_peer_dir, timeout=60)
    check_dial_result(result, listener.peer_id, listener.multiaddr, muxer)
    assert result["remote_agent"] == listener.agent
    assert len(result["ping_rtts_ms"]) == 3
    assert result["echo_ok"] is True and result["streams_ok"] is True

    dialer = result["local_peer"]
    opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
    assert opened["direction"] == "inbound" and opened["muxer"] == MUXER_IDS[muxer]
    ident = listener.wait_event("identify", peer=dialer, timeout=10)
    assert ident["agent"].startswith("js-libp2p/")
    assert ident["protocol_version"] == "ipfs/0.1.0"
    assert ident["listen_addrs"] == [] and ident["signed_peer_record"] is None
    listener.wait_event("connection_close", peer=dialer, timeout=10)
    streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
    assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]

    result = run_js_dialer(listener.multiaddr, muxer=muxer, pings=1, streams=6, stream_bytes=70_000,
                           stream_protocol="hash", peer_dir=js_peer_dir, timeout=60)
    assert result["exit_code"] == 0, result
    assert result["streams_ok"] is True
