"""``libp2p transport-interop`` (our transport-interop test app) and the matrix runner.

* our app against itself over both contracts (test-plans and unified-testing), as real processes
  sharing a ``redis-server`` started here (skipped when redis-server is missing, failed under CI=true);
* its tiny Redis client and its configuration errors;
* ``interop/run_matrix.py --only go`` as a subprocess, checking the JSON it writes, so CI runs the runner.

Every process is bounded in time and stopped through its own handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from libp2p.cli.interop import InteropConfigError, RedisClient, RedisError, read_config
from tests.interop.peer_program import in_ci

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "interop" / "run_matrix.py"
APP = [sys.executable, "-m", "libp2p", "transport-interop"]
BARE = [sys.executable, "-m", "libp2p"]  # the container entrypoint form
INTEROP_VARS = ("transport", "muxer", "security", "is_dialer", "ip", "redis_addr", "test_timeout_seconds",
                "TRANSPORT", "MUXER", "SECURE_CHANNEL", "IS_DIALER", "LISTENER_IP", "REDIS_ADDR", "TEST_KEY",
                "TEST_TIMEOUT_SECS", "DEBUG")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_addr() -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        if in_ci():
            pytest.fail("redis-server not installed under CI=true (.ci/run installs it)")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="redis-") as workdir:
        for _attempt in range(3):  # the probed port may be taken before redis binds it
            port = _free_port()
            proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--dir", workdir], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            up = False
            while proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    up = True
                    break
                time.sleep(0.05)
            if up:
                break
            _stop(proc)
        else:
            pytest.fail("redis-server did not start")
        try:
            yield f"127.0.0.1:{port}"
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def _env(unified: bool, dialer: bool, redis: str, muxer: str, key: str, timeout: int = 30,
         security: str = "noise", transport: str = "tcp") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INTEROP_VARS}
    if unified:
        env.update(TRANSPORT=transport, SECURE_CHANNEL=security, MUXER=muxer, IS_DIALER=str(dialer).lower(),
                   LISTENER_IP="127.0.0.1", REDIS_ADDR=redis, TEST_KEY=key, TEST_TIMEOUT_SECS=str(timeout),
                   DEBUG="false")
    else:
        env.update(transport=transport, security=security, muxer=muxer, is_dialer=str(dialer).lower(), ip="127.0.0.1",
                   redis_addr=redis, test_timeout_seconds=str(timeout))
    return env


# -- our app against itself ------------------------------------------------------------------------


@pytest.mark.parametrize(("contract", "muxer", "listener_argv", "security"), [
    ("test-plans", "yamux", APP, "noise"), ("test-plans", "mplex", BARE, "noise"), ("unified", "yamux", BARE, "noise"),
    ("unified", "mplex", APP, "noise"), ("test-plans", "yamux", APP, "tls"), ("unified", "mplex", BARE, "tls"),
    ("test-plans", "", APP, "quic-v1"), ("unified", "", BARE, "quic-v1")])
def test_transport_interop_self(redis_addr: str, contract: str, muxer: str, listener_argv: list[str],
                                security: str) -> None:
    transport = "quic-v1" if security == "quic-v1" else "tcp"
    security = "" if transport == "quic-v1" else security
    unified = contract == "unified"
    key = os.urandom(4).hex()
    if not unified:
        asyncio_run(_redis_del(redis_addr, "listenerAddr"))
    listener = subprocess.Popen(listener_argv, env=_env(unified, False, redis_addr, muxer, key, security=security, transport=transport),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        dialer = subprocess.run(APP, env=_env(unified, True, redis_addr, muxer, key, security=security, transport=transport), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=60, check=False)
        assert dialer.returncode == 0, dialer.stderr
        if unified:
            lines = dialer.stdout.splitlines()
            assert lines[:2] == ["# Measurements from dialer", "latency:"], dialer.stdout
            fields = dict(line.strip().split(": ", 1) for line in lines[2:])
            assert set(fields) == {"handshake_plus_one_rtt", "ping_rtt", "unit"} and fields["unit"] == "ms"
            assert all(re.fullmatch(r"\d+\.\d+", fields[k]) for k in ("handshake_plus_one_rtt", "ping_rtt"))
            total, rtt = float(fields["handshake_plus_one_rtt"]), float(fields["ping_rtt"])
        else:
            (line,) = dialer.stdout.splitlines()  # exactly one line on stdout
            result = json.loads(line)
            assert set(result) == {"handshakePlusOneRTTMillis", "pingRTTMilllis"}
            total, rtt = result["handshakePlusOneRTTMillis"], result["pingRTTMilllis"]
        assert total >= rtt > 0
        assert f"dialing /ip4/127.0.0.1/{'udp' if transport == 'quic-v1' else 'tcp'}/" in dialer.stderr
        assert listener.poll() is None  # a listener waits for the test timeout or a signal
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(15) == 0
        assert listener.stdout is not None and listener.stdout.read() == b""
    finally:
        _stop(listener)
        for pipe in (listener.stdout, listener.stderr):
            if pipe is not None:
                pipe.close()


def test_transport_interop_dialer_times_out(redis_addr: str) -> None:
    """No listener: the dialer gives up after the test timeout with exit 1 and nothing on stdout."""
    key = os.urandom(4).hex()
    # 60 s is only the safety net: the dialer's own 2 s test timeout ends it
    proc = subprocess.run(APP, env=_env(True, True, redis_addr, "yamux", key, timeout=2), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"under {key}_listener_multiaddr" in proc.stderr  # the test timeout ran out while waiting there


@pytest.mark.parametrize(("env", "message"), [
    ({"transport": "webtransport", "muxer": "yamux", "security": "noise", "is_dialer": "true"},
     "transport 'webtransport'"),
    ({"transport": "tcp", "muxer": "yamux", "security": "ssl", "is_dialer": "true"}, "security 'ssl'"),
    ({"transport": "tcp", "muxer": "quic", "security": "noise", "is_dialer": "true"}, "muxer 'quic'"),
    ({"IS_DIALER": "true", "TRANSPORT": "tcp", "MUXER": "yamux", "SECURE_CHANNEL": "noise"}, "REDIS_ADDR and TEST_KEY"),
    ({"transport": "tcp", "muxer": "yamux", "security": "noise", "is_dialer": "true", "test_timeout_seconds": "x"},
     "bad test timeout"),
])
def test_transport_interop_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(InteropConfigError, match=re.escape(message)):
        read_config(env)
    full = {k: v for k, v in os.environ.items() if k not in INTEROP_VARS} | env
    proc = subprocess.run(APP, env=full, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1 and proc.stdout == "" and message in proc.stderr


def test_read_config_dialects() -> None:
    legacy = read_config({"transport": "tcp", "muxer": "mplex", "security": "noise", "is_dialer": "false"})
    assert not legacy.unified and legacy.redis_key == "listenerAddr" and legacy.ip == "0.0.0.0"
    assert (legacy.redis_host, legacy.redis_port, legacy.timeout) == ("redis", 6379, 180.0)
    unified = read_config({"IS_DIALER": "true", "TRANSPORT": "tcp", "MUXER": "yamux", "SECURE_CHANNEL": "noise",
                           "REDIS_ADDR": "transport-redis:6380", "TEST_KEY": "a1b2", "TEST_TIMEOUT_SECS": "7",
                           "transport": "ignored"})
    assert unified.unified and unified.is_dialer and unified.redis_key == "a1b2_listener_multiaddr"
    assert (unified.redis_host, unified.redis_port, unified.timeout) == ("transport-redis", 6380, 7.0)


# -- the Redis client --------------------------------------------------------------------------------


def asyncio_run(coro: object) -> object:
    import asyncio

    return asyncio.run(coro)  # type: ignore[arg-type]


async def _redis_del(addr: str, key: str) -> None:
    host, port = addr.rsplit(":", 1)
    async with await RedisClient.connect(host, int(port)) as client:
        await client.delete(key)


async def test_redis_client(redis_addr: str) -> None:
    host, port = redis_addr.rsplit(":", 1)
    key = f"t-{os.urandom(4).hex()}"
    async with await RedisClient.connect(host, int(port)) as client:
        await client.ping()
        assert await client.rpush(key, "a", b"b\r\nc") == 2
        assert await client.blpop(key, 1) == b"a"
        assert await client.blpop(key, 1) == b"b\r\nc"
        async with asyncio.timeout(5):  # only the safety net: the server's 0.2 s BLPOP timeout ends it
            assert await client.blpop(key, 0.2) is None  # runs out
        assert await client.get(key) is None
        assert await client.command("SET", key, "x") == "OK"
        with pytest.raises(RedisError, match="WRONGTYPE"):
            await client.blpop(key, 0.1)
        assert await client.get(key) == b"x"
        assert await client.delete(key, key + "-none") == 1
    ready = await RedisClient.connect_when_ready(host, int(port), deadline=_loop_time() + 5)
    await ready.close()
    with pytest.raises(TimeoutError, match="unreachable"):
        await RedisClient.connect_when_ready("127.0.0.1", _free_port(), deadline=_loop_time() + 0.3)


def _loop_time() -> float:
    import asyncio

    return asyncio.get_running_loop().time()


# -- the matrix runner ---------------------------------------------------------------------------------


def test_run_matrix_go(tmp_path: Path) -> None:
    """``run_matrix.py --only go``: aiolibp2p <-> go both ways over both contracts, and go <-> go."""
    if shutil.which("redis-server") is None and not in_ci():
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    out = tmp_path / "matrix.json"
    proc = subprocess.run([sys.executable, str(RUNNER), "--only", "go", "--json", str(out), "--timeout", "30",
                           "--total-timeout", "300", "--build-timeout", "1500"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1900, check=False,
                          cwd=REPO)
    report = json.loads(out.read_text())
    go = report["implementations"]["go"]
    if go["status"] == "unavailable" and not in_ci():
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert {c["status"] for c in report["cases"]} == {"skipped"}
        pytest.skip(f"go unavailable: {go['reason']}")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-6000:]
    assert go["status"] == "ready" and go["version"].startswith("go-libp2p v")
    cases = {(c["dialer"], c["listener"], c["transport"], c["security"], c["muxer"], c["contract"]): c
             for c in report["cases"]}
    pairs = (("aiolibp2p", "go"), ("go", "aiolibp2p"))
    expected = {(d, l, "tcp", s, m, c) for d, l in pairs for m in ("yamux", "mplex")
                for c in ("test-plans", "unified") for s in ("noise", "tls")}
    expected |= {("go", "go", "tcp", s, m, "test-plans") for m in ("yamux", "mplex") for s in ("noise", "tls")}
    expected |= {(d, l, "quic-v1", "", "", c) for d, l in pairs for c in ("test-plans", "unified")}
    expected.add(("go", "go", "quic-v1", "", "", "test-plans"))
    assert set(cases) == expected
    for case in cases.values():
        assert case["status"] == "pass", case
        assert case["handshake_plus_one_rtt_ms"] >= case["ping_rtt_ms"] > 0
        assert case["dialer_exit"] == 0 and case["listener_exit"] == 0
    assert report["summary"] == {"passed": 25, "failed": 0, "skipped": 0, "problems": []}
    # the table on stdout: one row per case
    assert len([ln for ln in proc.stdout.splitlines() if re.match(r"\| (aiolibp2p|go) -> ", ln)]) == 25
