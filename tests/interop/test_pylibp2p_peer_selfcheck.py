"""Smoke checks of the py-libp2p 0.8.1 interop peer (interop/py-libp2p) and its Python harness.

py ↔ py over each muxer, py ↔ js in both directions, the perf modes and the transport-interop
contract (with a Redis server started here): if these fail, the problem is the harness, the
py-libp2p program or the js setup, not aiolibp2p. Skipped when the peer cannot be installed for
lack of a network (failed under CI=true). Every subprocess is bounded in time and stopped through
its own handle.
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

from tests.interop.js_peer import JsPeer, require_js_peer
from tests.interop.pylibp2p_peer import (
    PyLibp2pPeer,
    require_pylibp2p_peer,
    run_pylibp2p_dialer,
    run_pylibp2p_peer,
)
from tests.interop.selfcheck import (
    MUXER_IDS,
    check_transport_interop_output,
    free_port,
    interop_env,
    interop_listener,
    js_dials_listener,
    redis_server,
)

MUXERS = ["yamux", "mplex"]
BASE_PROTOCOLS = ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/echo/1.0.0", "/hash/1.0.0",
                  "/perf/1.0.0")
ZERO_SEED_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
# py-libp2p's identify handler waits up to 0.5 s for the host to have a listen address before it
# answers, so a dialer (which has none) must stay connected that long to be identified
HOLD_FOR_IDENTIFY_MS = 1500


@pytest.fixture(scope="session")
def py_peer_dir() -> Path:
    return require_pylibp2p_peer()


@pytest.fixture(scope="session")
def js_peer_dir() -> Path:
    return require_js_peer()


def _plain(addr: str) -> str:
    return addr.rsplit("/p2p/", 1)[0]


def _check_dial_result(result: dict[str, Any], listener_id: str, listen_full: str, muxer: str) -> None:
    assert result["exit_code"] == 0, result
    assert result["errors"] == []
    assert result["connected"] is True
    assert result["remote_peer"] == listener_id
    assert result["muxer"] == MUXER_IDS[muxer]
    assert result["encryption"] == "/noise"
    assert "/ipfs/ping/1.0.0" in result["remote_protocols"]
    assert "/echo/1.0.0" in result["remote_protocols"]
    listen_addr = _plain(listen_full)
    assert result["remote_listen_addrs"] == [listen_addr]
    assert result["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
    assert result["remote_protocol_version"] == "ipfs/0.1.0"
    record = result["signed_peer_record"]
    assert record is not None
    # py-libp2p puts /p2p/<id> on the addresses of its own signed record; js does not
    assert [_plain(a) for a in record["addrs"]] == [listen_addr]
    assert result["peer_store"]["has_peer_record"] is True
    assert listen_addr in [_plain(a["addr"]) for a in result["peer_store"]["addresses"]]


# -- py <-> py ------------------------------------------------------------------------------------


@pytest.mark.parametrize("muxer", MUXERS)
def test_py_dials_py(py_peer_dir: Path, muxer: str) -> None:
    with PyLibp2pPeer.listen(muxer=muxer, peer_dir=py_peer_dir) as listener:
        assert listener.peer_id.startswith("12D3KooW")
        assert listener.multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert listener.multiaddr.endswith(f"/p2p/{listener.peer_id}")
        assert listener.agent == "py-libp2p/0.8.1"
        for proto in BASE_PROTOCOLS:
            assert proto in listener.protocols

        result = run_pylibp2p_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                                     stream_bytes=64 * 1024, hold_ms=HOLD_FOR_IDENTIFY_MS, peer_dir=py_peer_dir,
                                     timeout=60)
        _check_dial_result(result, listener.peer_id, listener.multiaddr, muxer)
        assert result["remote_agent"] == listener.agent
        assert len(result["ping_rtts_ms"]) == 3 and all(r >= 0 for r in result["ping_rtts_ms"])
        assert result["echo_ok"] is True
        assert result["streams_ok"] is True

        dialer = result["local_peer"]
        opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
        assert opened["direction"] == "inbound"
        assert opened["muxer"] == MUXER_IDS[muxer]
        assert opened["encryption"] == "/noise"
        ident = listener.wait_event("identify", peer=dialer, timeout=10)
        assert ident["agent"] == "py-libp2p/0.8.1"
        assert "/echo/1.0.0" in ident["protocols"]
        assert ident["listen_addrs"] == []  # the dialer does not listen
        listener.wait_event("connection_close", peer=dialer, timeout=10)
        streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
        assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]
        assert all(e["ok"] for e in streams)

        result = run_pylibp2p_dialer(listener.multiaddr, muxer=muxer, pings=0, streams=8, stream_bytes=100_000,
                                     stream_protocol="hash", peer_dir=py_peer_dir, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True and result["ping_rtts_ms"] == []
        listener.wait_event("connection_close", peer=result["local_peer"], timeout=10)
        hashed = listener.find_events("stream", peer=result["local_peer"], protocol="/hash/1.0.0")
        assert len(hashed) == 8 and all(e["ok"] and e["bytes"] == 100_000 and len(e["sha256"]) == 64
                                        for e in hashed)


def test_py_stdin_commands_and_identify_push(py_peer_dir: Path) -> None:
    seed = bytes(range(32))
    with PyLibp2pPeer.listen(muxer="yamux", key_seed=seed, peer_dir=py_peer_dir) as listener:
        with ThreadPoolExecutor(1) as pool:
            # a dialer that stays connected for a while, so the listener can drive it
            future = pool.submit(run_pylibp2p_dialer, listener.multiaddr, pings=1, hold_ms=5000,
                                 peer_dir=py_peer_dir, timeout=60)
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
            assert reply["agent"] == "py-libp2p/0.8.1" and reply["listen_addrs"] == []
            assert reply["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
            reply = listener.command(f"peer-info {dialer}")
            assert reply["ok"] is True and reply["has_public_key"] is True
            reply = listener.command("connections")
            assert reply["ok"] is True and [c["peer"] for c in reply["connections"]] == [dialer]
            reply = listener.command("add-protocol /extra/1.0.0")  # also pushes identify
            assert reply["ok"] is True and "/extra/1.0.0" in reply["protocols"]
            result = future.result(timeout=60)
        assert result["exit_code"] == 0, result
        assert any("/extra/1.0.0" in push["protocols"] for push in result["identify_pushes"]), result
        assert [s["bytes"] for s in result["inbound_streams"]] == [50_000]
        reply = listener.command("ping 12D3KooWNotAPeer")
        assert reply["ok"] is False and reply["error"]

    with PyLibp2pPeer.listen(muxer="mplex", key_seed=seed.hex(), peer_dir=py_peer_dir) as again:
        assert again.peer_id == listener.peer_id
    with PyLibp2pPeer.listen(key_seed=bytes(32), peer_dir=py_peer_dir) as zero:
        assert zero.peer_id == ZERO_SEED_PEER_ID


def test_py_listener_exits_when_stdin_closes(py_peer_dir: Path) -> None:
    with PyLibp2pPeer.listen(peer_dir=py_peer_dir) as listener:
        assert listener.proc.stdin is not None
        listener.proc.stdin.close()
        try:
            code = listener.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("py-libp2p listener kept running after its stdin closed")
        assert code == 0


def test_py_listener_exits_on_sigterm(py_peer_dir: Path) -> None:
    with PyLibp2pPeer.listen(peer_dir=py_peer_dir, extra_args=["--ignore-stdin"]) as listener:
        listener.proc.send_signal(signal.SIGTERM)
        assert listener.proc.wait(timeout=10) == 0


def test_py_dialer_reports_failure_usage_and_timeout(py_peer_dir: Path) -> None:
    with PyLibp2pPeer.listen(peer_dir=py_peer_dir) as listener:
        target = listener.multiaddr
    result = run_pylibp2p_dialer(target, pings=1, peer_dir=py_peer_dir, timeout=40)
    assert result["exit_code"] == 1
    assert result["connected"] is False
    assert result["errors"] and result["errors"][0].startswith("dial:")
    code, out, err = run_pylibp2p_peer(["dial", "--to", "/ip4/127.0.0.1/tcp/1"], peer_dir=py_peer_dir, timeout=30)
    assert code == 2 and out == "" and "/p2p/" in err
    code, _, _ = run_pylibp2p_peer(["dial", "--to", target, "--muxer", "quic"], peer_dir=py_peer_dir, timeout=30)
    assert code == 2
    # a listener that accepts TCP but never speaks: the dial hangs until --timeout-ms
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        code, out, _ = run_pylibp2p_peer(["dial", "--to", f"/ip4/127.0.0.1/tcp/{port}/p2p/{ZERO_SEED_PEER_ID}",
                                          "--timeout-ms", "1500"], peer_dir=py_peer_dir, timeout=30)
    assert code == 3
    result = json.loads(out.strip().splitlines()[-1])
    assert result["connected"] is False and any(e.startswith("timeout") for e in result["errors"])


# -- py <-> js ------------------------------------------------------------------------------------


@pytest.mark.parametrize("muxer", MUXERS)
def test_py_dials_js(py_peer_dir: Path, js_peer_dir: Path, muxer: str) -> None:
    with JsPeer.listen(muxer=muxer, peer_dir=js_peer_dir) as listener:
        result = run_pylibp2p_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                                     stream_bytes=64 * 1024, hold_ms=HOLD_FOR_IDENTIFY_MS, peer_dir=py_peer_dir,
                                     timeout=60)
        _check_dial_result(result, listener.peer_id, listener.multiaddr, muxer)
        assert result["remote_agent"] == listener.agent
        assert len(result["ping_rtts_ms"]) == 3
        assert result["echo_ok"] is True and result["streams_ok"] is True

        dialer = result["local_peer"]
        opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
        assert opened["muxer"] == MUXER_IDS[muxer]
        ident = listener.wait_event("identify", peer=dialer, timeout=10)
        assert ident["agent"] == "py-libp2p/0.8.1"
        assert "/hash/1.0.0" in ident["protocols"]
        listener.wait_event("connection_close", peer=dialer, timeout=10)
        streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
        assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]

        result = run_pylibp2p_dialer(listener.multiaddr, muxer=muxer, pings=0, streams=6, stream_bytes=70_000,
                                     stream_protocol="hash", peer_dir=py_peer_dir, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["streams_ok"] is True


@pytest.mark.parametrize("muxer", MUXERS)
def test_js_dials_py(py_peer_dir: Path, js_peer_dir: Path, muxer: str) -> None:
    with PyLibp2pPeer.listen(muxer=muxer, peer_dir=py_peer_dir) as listener:
        js_dials_listener(listener, js_peer_dir, muxer, _check_dial_result)


# -- perf -----------------------------------------------------------------------------------------


def test_py_perf_contract(py_peer_dir: Path) -> None:
    port = free_port()
    server_args = ["perf", "--run-server", "--server-address", f"127.0.0.1:{port}"]
    with PyLibp2pPeer.run(server_args, peer_dir=py_peer_dir, stdin_stops=False) as server:
        assert server.peer_id == ZERO_SEED_PEER_ID
        assert server.multiaddr == f"/ip4/127.0.0.1/tcp/{port}/p2p/{ZERO_SEED_PEER_ID}"
        assert "/perf/1.0.0" in server.protocols
        code, out, err = run_pylibp2p_peer(["perf", "--server-address", f"127.0.0.1:{port}", "--transport", "tcp",
                                            "--upload-bytes", str(10 << 20), "--download-bytes", str(20 << 20)],
                                           peer_dir=py_peer_dir, timeout=60)
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[-1]["type"] == "final"
        assert lines[-1]["uploadBytes"] == 10 << 20 and lines[-1]["downloadBytes"] == 20 << 20
        assert 0 < lines[-1]["timeSeconds"] < 60
        assert all(line["type"] == "intermediary" for line in lines[:-1])

        for muxer in MUXERS:  # the benchmark form shared with peer.mjs (benchmarks/e2e/bench_stack.py)
            code, out, err = run_pylibp2p_peer(["perf", "--to", server.multiaddr, "--muxer", muxer,
                                                "--upload-bytes", str(1 << 20), "--download-bytes", str(1 << 20),
                                                "--iterations", "2", "--pings", "5", "--dials", "2"],
                                               peer_dir=py_peer_dir, timeout=60)
            assert code == 0, err
            bench = json.loads(out.strip().splitlines()[-1])
            assert bench["implementation"] == "py-libp2p"
            assert bench["errors"] == [] and bench["muxer"] == MUXER_IDS[muxer]
            assert len(bench["upload_seconds"]) == 2 and len(bench["download_cpu_seconds"]) == 2
            assert len(bench["ping_rtts"]) == 5 and len(bench["dial_ping_seconds"]) == 2
            assert bench["rusage"]["maxRSS"] > 0
    assert server.proc.returncode == 0


def test_js_perf_client_against_py_server(py_peer_dir: Path, js_peer_dir: Path) -> None:
    with PyLibp2pPeer.listen(peer_dir=py_peer_dir) as server:
        argv = ["node", str(js_peer_dir / "peer.mjs"), "perf", "--to", server.multiaddr, "--upload-bytes",
                str(1 << 20), "--download-bytes", str(1 << 20), "--iterations", "1", "--pings", "3", "--dials", "1",
                "--no-connection-monitor"]
        proc = subprocess.run(argv, cwd=js_peer_dir, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                              check=False)
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
        bench = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        assert bench["errors"] == [] and len(bench["download_seconds"]) == 1


# -- transport-interop (test-plans and unified-testing contracts) ----------------------------------


@pytest.fixture()
def redis_addr() -> Iterator[str]:
    with redis_server() as addr:
        yield addr


@pytest.mark.parametrize(("dialect", "muxer"), [("test-plans", "yamux"), ("test-plans", "mplex"),
                                                ("unified", "yamux"), ("unified", "mplex")])
def test_py_transport_interop(py_peer_dir: Path, redis_addr: str, dialect: str, muxer: str) -> None:
    unified = dialect == "unified"
    key = os.urandom(4).hex()
    env = interop_env(unified, False, redis_addr, muxer, key)
    env.pop("PYTHONPATH", None)
    # no arguments: the container entrypoint form (mode chosen by IS_DIALER / is_dialer)
    with interop_listener([str(py_peer_dir / "venv" / "bin" / "python"), "-I", str(py_peer_dir / "peer.py")],
                          env, cwd=py_peer_dir):
        code, out, err = run_pylibp2p_peer(["transport-interop"],
                                           env=interop_env(unified, True, redis_addr, muxer, key),
                                           peer_dir=py_peer_dir, timeout=45)
        assert code == 0, err
        check_transport_interop_output(out, unified)
