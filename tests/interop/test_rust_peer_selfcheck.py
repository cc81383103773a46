"""Smoke checks of the rust-libp2p interop peer (interop/rust) and its Python harness.

rust ↔ rust over each muxer, rust ↔ js in both directions, the perf contract and the
transport-interop contract (with a private redis-server, when one is installed). If these fail,
the problem is the harness or the rust/js setup, not aiolibp2p. Skipped when cargo is missing (and
nothing is cached), failed under CI=true. Every subprocess is time-bounded and stopped through its
own handle.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.js_peer import JsPeer, JsPeerUnavailable, install_js_peer, run_js_dialer
from tests.interop.rust_peer import RustPeer, perf_server_peer_id, require_rust_peer, run_rust_dialer

MUXER_IDS = {"yamux": "/yamux/1.0.0", "mplex": "/mplex/6.7.0"}
OUR_PROTOCOLS = ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/echo/1.0.0", "/hash/1.0.0")


@pytest.fixture(scope="session")
def rust_peer() -> Path:
    return require_rust_peer()


@pytest.fixture(scope="session")
def js_dir() -> Path:
    try:
        return install_js_peer()
    except JsPeerUnavailable as exc:
        pytest.skip(f"js peer unavailable: {exc}")
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_rust_dials_rust(rust_peer: Path, muxer: str) -> None:
    with RustPeer.listen(muxer=muxer, binary=rust_peer) as listener:
        assert listener.peer_id.startswith("12D3KooW")
        assert listener.multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert listener.multiaddr.endswith(f"/p2p/{listener.peer_id}")
        assert listener.agent is not None and listener.agent.startswith("rust-libp2p/")
        for proto in (*OUR_PROTOCOLS, "/perf/1.0.0"):
            assert proto in listener.protocols

        result = run_rust_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                                 stream_bytes=64 * 1024, binary=rust_peer, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["errors"] == []
        assert result["connected"] is True
        assert result["remote_peer"] == listener.peer_id
        assert result["muxer"] == MUXER_IDS[muxer]
        assert result["encryption"] == "/noise"
        assert result["remote_agent"] == listener.agent
        assert set(OUR_PROTOCOLS) <= set(result["remote_protocols"])
        listen_addr = listener.multiaddr.rsplit("/p2p/", 1)[0]
        assert result["remote_listen_addrs"] == [listen_addr]
        assert result["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
        assert result["signed_peer_record"] is None  # off unless --signed-peer-record
        assert len(result["ping_rtts_ms"]) == 3
        assert result["echo_ok"] is True
        assert result["streams_ok"] is True

        dialer = result["local_peer"]
        opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
        assert opened["direction"] == "inbound"
        assert opened["muxer"] == MUXER_IDS[muxer]
        ident = listener.wait_event("identify", peer=dialer, timeout=10)
        assert ident["agent"].startswith("rust-libp2p/")
        assert ident["listen_addrs"] == []
        listener.wait_event("connection_close", peer=dialer, timeout=10)
        streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
        assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]
        assert all(e["ok"] for e in streams)


def test_rust_hash_protocol_and_stdin_commands(rust_peer: Path) -> None:
    seed = bytes(range(32))
    with RustPeer.listen(muxer="yamux", key_seed=seed, binary=rust_peer) as listener:
        result = run_rust_dialer(listener.multiaddr, pings=1, streams=4, stream_bytes=10_000, stream_protocol="hash",
                                 binary=rust_peer, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True
        hashed = listener.find_events("stream", protocol="/hash/1.0.0")
        assert len(hashed) == 4 and all(e["ok"] and e["bytes"] == 10_000 for e in hashed)
        reply = listener.command("connections")
        assert reply["ok"] is True and isinstance(reply["connections"], list)
        reply = listener.command("add-protocol /extra/1.0.0")
        assert reply["ok"] is True and "/extra/1.0.0" in reply["protocols"]
        reply = listener.command("ping 12D3KooWNotAPeer")
        assert reply["ok"] is False and reply["error"]
    with RustPeer.listen(muxer="mplex", key_seed=seed.hex(), binary=rust_peer) as again:
        assert again.peer_id == listener.peer_id


def test_rust_signed_peer_record_is_legacy_format(rust_peer: Path, js_dir: Path) -> None:
    """--signed-peer-record: rust-libp2p signs its record in its legacy envelope format. Another rust
    peer verifies it; js-libp2p rejects the whole identify message."""
    with RustPeer.listen(binary=rust_peer, extra_args=["--signed-peer-record"]) as listener:
        listen_addr = listener.multiaddr.rsplit("/p2p/", 1)[0]
        result = run_rust_dialer(listener.multiaddr, binary=rust_peer, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["signed_peer_record"]["addrs"] == [listen_addr]
        assert int(result["signed_peer_record"]["seq"]) > 0
        assert result["peer_store"]["has_peer_record"] is True
        js = run_js_dialer(listener.multiaddr, pings=1, peer_dir=js_dir, timeout=60)
        assert js["connected"] is True
        assert any(e.startswith("identify:") and "signature" in e.lower() for e in js["errors"]), js["errors"]


@pytest.mark.parametrize("key_type", ["secp256k1", "ecdsa", "rsa"])
def test_rust_key_types(rust_peer: Path, key_type: str) -> None:
    if key_type == "rsa" and shutil.which("openssl") is None:
        pytest.skip("the rust peer makes RSA keys with the openssl command")
    with RustPeer.listen(key_type=key_type, binary=rust_peer) as listener:
        result = run_rust_dialer(listener.multiaddr, key_type=key_type, pings=1, echo_bytes=1000, binary=rust_peer,
                                 timeout=60)
        assert result["exit_code"] == 0, result
        assert result["remote_peer"] == listener.peer_id


def test_rust_seed_identity_matches_python(rust_peer: Path) -> None:
    keys = pytest.importorskip("libp2p.identity.keys")
    peer_id_mod = pytest.importorskip("libp2p.identity.peer_id")
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    ours = peer_id_mod.PeerId.from_public_key(keys.Ed25519PrivateKey.from_seed(seed).public_key)
    with RustPeer.listen(key_seed=seed, binary=rust_peer) as listener:
        assert listener.peer_id == str(ours)
    with RustPeer.listen(key_seed=bytes(32), binary=rust_peer) as zero:
        assert zero.peer_id == perf_server_peer_id()


def test_rust_listener_exits_when_stdin_closes(rust_peer: Path) -> None:
    with RustPeer.listen(binary=rust_peer) as listener:
        assert listener.proc.stdin is not None
        listener.proc.stdin.close()
        try:
            code = listener.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("rust listener kept running after its stdin closed")
        assert code == 0


def test_rust_dialer_reports_failure(rust_peer: Path) -> None:
    with RustPeer.listen(binary=rust_peer) as listener:
        target = listener.multiaddr
    result = run_rust_dialer(target, pings=1, binary=rust_peer, timeout=40)
    assert result["exit_code"] == 1
    assert result["connected"] is False
    assert result["errors"] and result["errors"][0].startswith("dial:")


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_js_dials_rust(rust_peer: Path, js_dir: Path, muxer: str) -> None:
    with RustPeer.listen(muxer=muxer, binary=rust_peer) as listener:
        result = run_js_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=100_000, streams=8,
                               stream_bytes=32 * 1024, peer_dir=js_dir, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["remote_peer"] == listener.peer_id
        assert result["muxer"] == MUXER_IDS[muxer]
        assert result["remote_agent"] == listener.agent
        listen_addr = listener.multiaddr.rsplit("/p2p/", 1)[0]
        assert result["remote_listen_addrs"] == [listen_addr]
        assert result["signed_peer_record"] is None  # rust sends none by default
        assert result["echo_ok"] is True and result["streams_ok"] is True
        ident = listener.wait_event("identify", peer=result["local_peer"], timeout=10)
        assert ident["agent"].startswith("js-libp2p/")
        assert "/echo/1.0.0" in ident["protocols"]


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_rust_dials_js(rust_peer: Path, js_dir: Path, muxer: str) -> None:
    with JsPeer.listen(muxer=muxer, peer_dir=js_dir) as listener:
        result = run_rust_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=100_000, streams=8,
                                 stream_bytes=32 * 1024, stream_protocol="hash", binary=rust_peer, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["remote_peer"] == listener.peer_id
        assert result["muxer"] == MUXER_IDS[muxer]
        assert result["remote_agent"].startswith("js-libp2p/")
        listen_addr = listener.multiaddr.rsplit("/p2p/", 1)[0]
        assert result["remote_listen_addrs"] == [listen_addr]
        # js signs the standard libp2p-peer-record envelope; rust-libp2p 0.57 identify only
        # verifies its legacy format and drops the record
        assert result["signed_peer_record"] is None
        assert len(result["ping_rtts_ms"]) == 3
        assert result["echo_ok"] is True and result["streams_ok"] is True
        ident = listener.wait_event("identify", peer=result["local_peer"], timeout=10)
        assert ident["agent"].startswith("rust-libp2p/")


# -- perf and transport-interop contracts -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_rust_perf_contract(rust_peer: Path) -> None:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    with _process([str(rust_peer), "perf", "--run-server", "--server-address", address]) as server:
        _wait_port(port, server)
        run = subprocess.run([str(rust_peer), "perf", "--server-address", address, "--transport", "tcp",
                              "--upload-bytes", str(8 << 20), "--download-bytes", str(4 << 20)],
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr.decode()[-3000:]
        lines = [json.loads(line) for line in run.stdout.decode().splitlines() if line.strip()]
        assert lines and all(r["type"] in ("intermediary", "final") for r in lines)
        final = lines[-1]
        assert final["type"] == "final"
        assert final["uploadBytes"] == 8 << 20 and final["downloadBytes"] == 4 << 20
        assert final["timeSeconds"] > 0


@contextlib.contextmanager
def _redis() -> Iterator[int]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp, _process(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp]) as p:
        _wait_port(port, p)
        yield port


@pytest.mark.parametrize(("flavour", "muxer"), [("legacy", "yamux"), ("legacy", "mplex"), ("unified", "yamux")])
def test_rust_transport_interop_contract(rust_peer: Path, flavour: str, muxer: str) -> None:
    with _redis() as redis_port:
        base = {k: v for k, v in os.environ.items() if k.lower() not in {
            "is_dialer", "transport", "muxer", "security", "ip", "redis_addr", "test_timeout_seconds", "test_key",
            "secure_channel", "listener_ip", "test_timeout_secs"}}
        if flavour == "legacy":
            common = {"transport": "tcp", "muxer": muxer, "security": "noise", "ip": "127.0.0.1",
                      "redis_addr": f"127.0.0.1:{redis_port}", "test_timeout_seconds": "30"}
            listener_env = {**base, **common, "is_dialer": "false"}
            dialer_env = {**base, **common, "is_dialer": "true"}
        else:
            common = {"TRANSPORT": "tcp", "MUXER": muxer, "SECURE_CHANNEL": "noise", "LISTENER_IP": "0.0.0.0",
                      "REDIS_ADDR": f"127.0.0.1:{redis_port}", "TEST_KEY": "a5b50d5e", "TEST_TIMEOUT_SECS": "30"}
            listener_env = {**base, **common, "IS_DIALER": "false"}
            dialer_env = {**base, **common, "IS_DIALER": "true"}
        with _process([str(rust_peer)], env=listener_env):
            run = subprocess.run([str(rust_peer)], env=dialer_env, stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=60, check=False)
        out = run.stdout.decode()
        assert run.returncode == 0, run.stderr.decode()[-3000:]
        if flavour == "legacy":
            lines = [ln for ln in out.splitlines() if ln.strip()]
            assert len(lines) == 1
            data = json.loads(lines[0])
            assert set(data) == {"handshakePlusOneRTTMillis", "pingRTTMilllis"}
            assert data["handshakePlusOneRTTMillis"] >= data["pingRTTMilllis"] > 0
        else:
            lines = out.strip().splitlines()
            assert lines[0] == "latency:"
            fields = dict(line.strip().split(": ", 1) for line in lines[1:])
            assert fields["unit"] == "ms"
            assert float(fields["handshake_plus_one_rtt"]) >= float(fields["ping_rtt"]) > 0
