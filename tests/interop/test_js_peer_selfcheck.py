"""js ↔ js smoke check of the js-libp2p interop peer (interop/js/peer.mjs) and its Python harness.

Two js-libp2p processes, one listening and one dialing, over each muxer: if this fails, the problem
is the harness or the js setup, not aiolibp2p. Skipped when node/npm are missing, failed under CI=true.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.interop.js_peer import JsPeer, require_js_peer, run_js_dialer

MUXER_IDS = {"yamux": "/yamux/1.0.0", "mplex": "/mplex/6.7.0"}


@pytest.fixture(scope="session")
def js_peer_dir() -> Path:
    return require_js_peer()


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_js_dials_js(js_peer_dir: Path, muxer: str) -> None:
    with JsPeer.listen(muxer=muxer, peer_dir=js_peer_dir) as listener:
        assert listener.peer_id.startswith("12D3KooW")
        assert listener.multiaddr.startswith("/ip4/127.0.0.1/tcp/")
        assert listener.multiaddr.endswith(f"/p2p/{listener.peer_id}")
        for proto in ("/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/echo/1.0.0", "/hash/1.0.0"):
            assert proto in listener.protocols

        # 16 concurrent streams also exercise the raised mplex disconnectThreshold (default 5/s)
        result = run_js_dialer(listener.multiaddr, muxer=muxer, pings=3, echo_bytes=300_000, streams=16,
                               stream_bytes=64 * 1024, peer_dir=js_peer_dir, timeout=60)
        assert result["exit_code"] == 0, result
        assert result["errors"] == []
        assert result["connected"] is True
        assert result["remote_peer"] == listener.peer_id
        assert result["muxer"] == MUXER_IDS[muxer]
        assert result["encryption"] == "/noise"
        assert result["remote_agent"] == listener.agent
        assert result["remote_agent"].startswith("js-libp2p/")
        assert "/ipfs/ping/1.0.0" in result["remote_protocols"]
        assert "/echo/1.0.0" in result["remote_protocols"]
        listen_addr = listener.multiaddr.rsplit("/p2p/", 1)[0]
        assert result["remote_listen_addrs"] == [listen_addr]
        assert result["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
        assert result["signed_peer_record"] is not None
        assert result["signed_peer_record"]["addrs"] == [listen_addr]
        assert result["peer_store"]["has_peer_record"] is True
        assert result["peer_store"]["addresses"] == [{"addr": listen_addr, "certified": True}]
        assert len(result["ping_rtts_ms"]) == 3
        assert result["echo_ok"] is True
        assert result["streams_ok"] is True

        # what the listener saw: the connection, its own identify of the dialer, and the streams
        dialer = result["local_peer"]
        opened = listener.wait_event("connection_open", peer=dialer, timeout=10)
        assert opened["direction"] == "inbound"
        assert opened["muxer"] == MUXER_IDS[muxer]
        ident = listener.wait_event("identify", peer=dialer, timeout=10)
        assert ident["agent"].startswith("js-libp2p/")
        assert "/echo/1.0.0" in ident["protocols"]
        assert ident["listen_addrs"] == []  # the dialer does not listen
        assert ident["signed_peer_record"] is None  # ... so it has no record to sign
        listener.wait_event("connection_close", peer=dialer, timeout=10)
        streams = listener.find_events("stream", peer=dialer, protocol="/echo/1.0.0")
        assert sorted(e["bytes"] for e in streams) == [64 * 1024] * 16 + [300_000]
        assert all(e["ok"] for e in streams)


def test_js_hash_protocol_and_stdin_commands(js_peer_dir: Path) -> None:
    seed = bytes(range(32))
    with JsPeer.listen(muxer="yamux", key_seed=seed, peer_dir=js_peer_dir) as listener:
        result = run_js_dialer(listener.multiaddr, muxer="yamux", pings=1, streams=4, stream_bytes=10_000,
                               stream_protocol="hash", hold_ms=1500, peer_dir=js_peer_dir, timeout=60)
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

    # the same seed gives the same identity, in a new process
    with JsPeer.listen(muxer="mplex", key_seed=seed.hex(), peer_dir=js_peer_dir) as again:
        assert again.peer_id == listener.peer_id


def test_js_seed_identity_matches_python(js_peer_dir: Path) -> None:
    """The js peer id of an Ed25519 seed equals the one aiolibp2p derives from the same seed."""
    keys = pytest.importorskip("libp2p.identity.keys")
    peer_id_mod = pytest.importorskip("libp2p.identity.peer_id")
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    ours = peer_id_mod.PeerId.from_public_key(keys.Ed25519PrivateKey.from_seed(seed).public_key)
    with JsPeer.listen(key_seed=seed, peer_dir=js_peer_dir) as listener:
        assert listener.peer_id == str(ours)


def test_js_listener_exits_when_stdin_closes(js_peer_dir: Path) -> None:
    with JsPeer.listen(peer_dir=js_peer_dir) as listener:
        assert listener.proc.stdin is not None
        listener.proc.stdin.close()
        try:
            code = listener.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("js listener kept running after its stdin closed")
        assert code == 0


def test_js_dialer_reports_failure(js_peer_dir: Path) -> None:
    # nothing listens there: the dialer must say so quickly and exit non-zero
    with JsPeer.listen(peer_dir=js_peer_dir) as listener:
        target = listener.multiaddr
    result = run_js_dialer(target, pings=1, peer_dir=js_peer_dir, timeout=40)
    assert result["exit_code"] != 0
    assert result["connected"] is False
    assert result["errors"] and result["errors"][0].startswith("dial:")
