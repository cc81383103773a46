"""Smoke checks of the go-libp2p interop peer (interop/go) and its Python harness.

go ↔ go over each muxer (and TLS), go ↔ js in both directions, the perf modes and the
transport-interop contract (with a Redis server started here): if these fail, the problem is the
harness, the Go program or the js setup, not aiolibp2p. Skipped when go is missing, failed under
CI=true. Every subprocess is bounded in time and stopped through its own handle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.interop.go_peer import GoPeer, require_go_peer, run_go_dialer, run_go_peer
from tests.interop.js_peer import JsPeer, require_js_peer
from tests.interop.selfcheck import (
    MUXER_IDS,
    check_transport_interop_output,
    free_port,
    interop_env,
    interop_listener,
    js_dials_listener,
    redis_server,
)

BASE_PROTOCOLS = ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/echo/1.0.0", "/hash/1.0.0",
                  "/perf/1.0.0")
ZERO_SEED_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


@pytest.fixture(scope="session")
def go_peer_bin() -> Path:
    return require_go_peer()


@pytest.fixture(scope="session")
def js_peer_dir() -> Path:
    return require_js_peer()


def _listen_addr(full: str) -> str:
    return full.rsplit("/p2p/", 1)[0]


def _check_dial_result(result: dict[str, Any], listener_id: str, listen_full: str, muxer: str) -> None:
    assert result["exit_code"] == 0, result
    assert result["errors"] == []
    assert result["connected"] is True
    assert result["remote_peer"] == listener_id
    assert result["muxer"] == MUXER_IDS[muxer]
    assert result["encryption"] == "/noise"
    assert "/ipfs/ping/1.0.0" in result["remote_protocols"]
    assert "/echo/1.0.0" in result["remote_protocols"]
    listen_addr = _listen_addr(listen_full)
    assert result["remote_listen_addrs"] == [listen_addr]
    assert result["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
    assert result["signed_peer_record"] is not None
    assert result["signed_peer_record"]["addrs"] == [listen_addr]
    assert result["peer_store"]["has_peer_record"] is True
    assert result["peer_store"]["addresses"] == [{"addr": listen_addr, "certified": True}]


# -- go <-> go ------------------------------------------------------------------------------------


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_go_dials_go(go_peer_bin: Path, muxer: str) -> None:
    with GoPeer.listen(muxer=muxer, binary=go_peer_bin) as listener:
        assert listener.peer_id.startswith("12D3KooW")
        assert listener.multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert listener.multiaddr.endswith(f"/p2p/{listener.peer_id}")
        assert listener.agent is not None and listener.agent.startswith("go-libp2p/0.")
        for proto in BASE_PROTOCOLS:
            assert proto in listener.protocols

        result = run_go_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                               stream_bytes=64 * 1024, binary=go_peer_bin, timeout=60)
        _check_dial_result(result, listener.peer_id, listener.multiaddr, muxer)
        assert result["remote_agent"] == listener.agent
        assert result["remote_protocol_version"] == ""  # go-libp2p sends an empty protocolVersion
        assert len(result["ping_rtts_ms"]) == 3 and all(r >= 0 for r in result["ping_rtts_ms"])
        assert result["echo_ok"] is True
        assert result["streams_ok"] is True

        dialer = result["local_peer"]
        opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
        assert opened["direction"] == "inbound"
        assert opened["muxer"] == MUXER_IDS[muxer]
        assert opened["encryption"] == "/noise"
        # The go dialer may register its handlers just after its first identify went out; its
        # identify/push then brings them (a race inside go-libp2p, seen once in CI).
        ident = listener.wait_event("identify", lambda e: "/echo/1.0.0" in e["protocols"], peer=dialer, timeout=10)
        assert ident["agent"].startswith("go-libp2p/")
        assert ident["listen_addrs"] == []  # the dialer does not listen
        assert ident["signed_peer_record"] is None
        listener.wait_event("connection_close", peer=dialer, timeout=10)
        streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
        assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]
        assert all(e["ok"] for e in streams)

        # hashed streams over the same listener
        result = run_go_dialer(listener.multiaddr, muxer=muxer, pings=0, streams=8, stream_bytes=100_000,
                               stream_protocol="hash", binary=go_peer_bin, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True and result["ping_rtts_ms"] == []
        hashed = listener.find_events("stream", peer=result["local_peer"], protocol="/hash/1.0.0")
        listener.wait_event("connection_close", peer=result["local_peer"], timeout=10)
        hashed = listener.find_events("stream", peer=result["local_peer"], protocol="/hash/1.0.0")
        assert len(hashed) == 8 and all(e["ok"] and e["bytes"] == 100_000 and len(e["sha256"]) == 64
                                        for e in hashed)


@pytest.mark.parametrize("key_type", ["ed25519", "secp256k1", "rsa", "ecdsa"])
def test_go_key_types(go_peer_bin: Path, key_type: str) -> None:
    with GoPeer.listen(key_type=key_type, binary=go_peer_bin) as listener:
        result = run_go_dialer(listener.multiaddr, key_type=key_type, pings=1, echo_bytes=1000,
                               binary=go_peer_bin, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["remote_peer"] == listener.peer_id
        assert result["echo_ok"] is True


def test_go_tls(go_peer_bin: Path) -> None:
    with GoPeer.listen(security="tls", binary=go_peer_bin) as listener:
        result = run_go_dialer(listener.multiaddr, security="tls", pings=2, streams=4, binary=go_peer_bin,
                               timeout=60)
        assert result["exit_code"] == 0, result
        assert result["encryption"] == "/tls/1.0.0"
        assert result["muxer"] == "/yamux/1.0.0"
        # a noise-only dialer cannot talk to a tls-only listener
        result = run_go_dialer(listener.multiaddr, pings=1, binary=go_peer_bin, timeout=40)
        assert result["exit_code"] == 1 and result["connected"] is False


def test_go_stdin_commands_and_identify_push(go_peer_bin: Path) -> None:
    seed = bytes(range(32))
    with GoPeer.listen(muxer="yamux", key_seed=seed, binary=go_peer_bin) as listener:
        with ThreadPoolExecutor(1) as pool:
            # a dialer that stays connected for a while, so the listener can drive it
            future = pool.submit(run_go_dialer, listener.multiaddr, pings=1, hold_ms=4000, binary=go_peer_bin,
                                 timeout=60)
            opened = listener.wait_event("connection_open", timeout=20)
            dialer = opened["peer"]
            listener.wait_event("identify", peer=dialer, timeout=10)
            reply = listener.command(f"ping {dialer} 3")
            assert reply["ok"] is True, reply
            assert len(reply["rtts_ms"]) == 3
            reply = listener.command(f"echo {dialer} 50000")
            assert reply["ok"] is True, reply
            reply = listener.command(f"identify {dialer}")
            assert reply["ok"] is True, reply
            assert reply["agent"].startswith("go-libp2p/") and reply["listen_addrs"] == []
            assert reply["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
            reply = listener.command(f"peer-info {dialer}")
            assert reply["ok"] is True and reply["has_public_key"] is True
            reply = listener.command("connections")
            assert reply["ok"] is True and [c["peer"] for c in reply["connections"]] == [dialer]
            # go-libp2p pushes identify to connected peers when its protocols change
            reply = listener.command("add-protocol /extra/1.0.0")
            assert reply["ok"] is True and "/extra/1.0.0" in reply["protocols"]
            result = future.result(timeout=60)
        assert result["exit_code"] == 0, result
        assert any("/extra/1.0.0" in push["protocols"] for push in result["identify_pushes"]), result
        # the dialer served our ping and echo streams
        assert [s["bytes"] for s in result["inbound_streams"]] == [50_000]
        reply = listener.command("ping 12D3KooWNotAPeer")
        assert reply["ok"] is False and reply["error"]
        reply = listener.command("push")
        assert reply["ok"] is False  # go-libp2p has no public identify/push trigger

    # the same seed gives the same identity, in a new process
    with GoPeer.listen(muxer="mplex", key_seed=seed.hex(), binary=go_peer_bin) as again:
        assert again.peer_id == listener.peer_id


def test_go_seed_identity_matches_python(go_peer_bin: Path) -> None:
    keys = pytest.importorskip("libp2p.identity.keys")
    peer_id_mod = pytest.importorskip("libp2p.identity.peer_id")
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    ours = peer_id_mod.PeerId.from_public_key(keys.Ed25519PrivateKey.from_seed(seed).public_key)
    with GoPeer.listen(key_seed=seed, binary=go_peer_bin) as listener:
        assert listener.peer_id == str(ours)
    with GoPeer.listen(key_seed=bytes(32), binary=go_peer_bin) as listener:
        assert listener.peer_id == ZERO_SEED_PEER_ID


def test_go_listener_exits_when_stdin_closes(go_peer_bin: Path) -> None:
    with GoPeer.listen(binary=go_peer_bin) as listener:
        assert listener.proc.stdin is not None
        listener.proc.stdin.close()
        try:
            code = listener.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("go listener kept running after its stdin closed")
        assert code == 0


def test_go_listener_exits_on_sigterm(go_peer_bin: Path) -> None:
    with GoPeer.listen(binary=go_peer_bin, extra_args=["--ignore-stdin"]) as listener:
        listener.proc.send_signal(signal.SIGTERM)
        assert listener.proc.wait(timeout=10) == 0


def test_go_dialer_reports_failure_and_usage(go_peer_bin: Path) -> None:
    with GoPeer.listen(binary=go_peer_bin) as listener:
        target = listener.multiaddr
    result = run_go_dialer(target, pings=1, binary=go_peer_bin, timeout=40)
    assert result["exit_code"] == 1
    assert result["connected"] is False
    assert result["errors"] and result["errors"][0].startswith("dial:")
    code, out, err = run_go_peer(["dial", "--to", "/ip4/127.0.0.1/tcp/1"], binary=go_peer_bin, timeout=20)
    assert code == 2 and out == "" and "/p2p/" in err
    code, _, _ = run_go_peer(["dial", "--to", target, "--muxer", "quic"], binary=go_peer_bin, timeout=20)
    assert code == 2


def test_go_dialer_timeout_exit_code(go_peer_bin: Path) -> None:
    # a listener that accepts TCP but never speaks: the dial hangs until --timeout-ms
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        target = f"/ip4/127.0.0.1/tcp/{port}/p2p/{ZERO_SEED_PEER_ID}"
        code, out, _ = run_go_peer(["dial", "--to", target, "--timeout-ms", "1500"], binary=go_peer_bin,
                                   timeout=30)
    assert code == 3
    result = json.loads(out.strip().splitlines()[-1])
    assert result["connected"] is False and any(e.startswith("timeout") for e in result["errors"])


# -- go <-> js ------------------------------------------------------------------------------------


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_go_dials_js(go_peer_bin: Path, js_peer_dir: Path, muxer: str) -> None:
    with JsPeer.listen(muxer=muxer, peer_dir=js_peer_dir) as listener:
        result = run_go_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                               stream_bytes=64 * 1024, binary=go_peer_bin, timeout=60)
        _check_dial_result(result, listener.peer_id, listener.multiaddr, muxer)
        assert result["remote_agent"] == listener.agent
        assert result["remote_protocol_version"] == "ipfs/0.1.0"
        assert len(result["ping_rtts_ms"]) == 3
        assert result["echo_ok"] is True and result["streams_ok"] is True

        dialer = result["local_peer"]
        opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
        assert opened["muxer"] == MUXER_IDS[muxer]
        ident = listener.wait_event("identify", peer=dialer, timeout=10)
        assert ident["agent"].startswith("go-libp2p/")
        assert "/hash/1.0.0" in ident["protocols"]
        listener.wait_event("connection_close", peer=dialer, timeout=10)
        streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
        assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]
        assert all(e["ok"] for e in streams)

        result = run_go_dialer(listener.multiaddr, muxer=muxer, pings=0, streams=6, stream_bytes=70_000,
                               stream_protocol="hash", binary=go_peer_bin, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_js_dials_go(go_peer_bin: Path, js_peer_dir: Path, muxer: str) -> None:
    with GoPeer.listen(muxer=muxer, binary=go_peer_bin) as listener:
        js_dials_listener(listener, js_peer_dir, muxer, _check_dial_result)


# -- perf -----------------------------------------------------------------------------------------


def test_go_perf_contract(go_peer_bin: Path) -> None:
    port = free_port()
    server_args = ["perf", "--run-server", "--server-address", f"127.0.0.1:{port}"]
    with GoPeer.run(server_args, binary=go_peer_bin, stdin_stops=False) as server:
        assert server.peer_id == ZERO_SEED_PEER_ID
        assert server.multiaddr == f"/ip4/127.0.0.1/tcp/{port}/p2p/{ZERO_SEED_PEER_ID}"
        assert "/perf/1.0.0" in server.protocols
        code, out, err = run_go_peer(["perf", "--server-address", f"127.0.0.1:{port}", "--transport", "tcp",
                                      "--upload-bytes", str(10 << 20), "--download-bytes", str(20 << 20)],
                                     binary=go_peer_bin, timeout=60)
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[-1]["type"] == "final"
        assert lines[-1]["uploadBytes"] == 10 << 20 and lines[-1]["downloadBytes"] == 20 << 20
        assert 0 < lines[-1]["timeSeconds"] < 60
        assert all(line["type"] == "intermediary" for line in lines[:-1])

        # the benchmark form shared with peer.mjs (benchmarks/e2e/bench_stack.py)
        code, out, err = run_go_peer(["perf", "--to", server.multiaddr, "--muxer", "mplex", "--upload-bytes",
                                      str(1 << 20), "--download-bytes", str(1 << 20), "--iterations", "2",
                                      "--pings", "5", "--dials", "2"], binary=go_peer_bin, timeout=60)
        assert code == 0, err
        bench = json.loads(out.strip().splitlines()[-1])
        assert bench["errors"] == [] and bench["muxer"] == "/mplex/6.7.0"
        assert len(bench["upload_seconds"]) == 2 and len(bench["download_cpu_seconds"]) == 2
        assert len(bench["ping_rtts"]) == 5 and len(bench["dial_ping_seconds"]) == 2
        assert bench["rusage"]["maxRSS"] > 0
    assert server.proc.returncode == 0


# -- transport-interop (test-plans and unified-testing contracts) ----------------------------------


@pytest.fixture()
def redis_addr() -> Iterator[str]:
    with redis_server() as addr:
        yield addr


@pytest.mark.parametrize(("dialect", "muxer"), [("test-plans", "yamux"), ("test-plans", "mplex"),
                                                ("unified", "yamux"), ("unified", "mplex")])
def test_go_transport_interop(go_peer_bin: Path, redis_addr: str, dialect: str, muxer: str) -> None:
    unified = dialect == "unified"
    key = os.urandom(4).hex()
    with interop_listener([str(go_peer_bin), "transport-interop"],
                          interop_env(unified, False, redis_addr, muxer, key)):
        code, out, err = run_go_peer(["transport-interop"], env=interop_env(unified, True, redis_addr, muxer, key),
                                     binary=go_peer_bin, timeout=45)
        assert code == 0, err
        check_transport_interop_output(out, unified)
