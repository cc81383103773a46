"""``libp2p serve --relay-service`` / ``serve --relay MULTIADDR`` and ``ping`` / ``id`` through
``/p2p-circuit`` addresses: real processes on loopback, each stopped through its own handle."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_node import _cli, _json, serve


def test_ping_and_id_through_a_cli_relay(tmp_path: Path) -> None:
    with serve(tmp_path, "--relay-service") as relay:
        assert "relayed_addrs" not in relay.info
        with serve(tmp_path, "--relay", relay.addr) as node:
            (relayed,) = node.info["relayed_addrs"]
            assert relayed == f"{relay.addr}/p2p-circuit/p2p/{node.peer_id}"
            assert relayed in node.info["multiaddrs"]
            # ping over the relayed (limited) connection: ping opts in
            out = _json(_cli("ping", "--json", "-c", "2", "-i", "0", relayed))
            assert out["peer_id"] == node.peer_id and len(out["rtt_ms"]) == 2
            # identify too, and it reports the relayed address among the node's own
            info = _json(_cli("id", "--json", relayed))
            assert info["peer_id"] == node.peer_id
            assert relayed.rsplit("/p2p/", 1)[0] in info["listen_addrs"]
            assert "/libp2p/circuit/relay/0.2.0/stop" in info["protocols"]


def test_circuit_to_a_peer_without_reservation_fails_with_the_status(tmp_path: Path) -> None:
    with serve(tmp_path, "--relay-service") as relay, serve(tmp_path) as other:
        proc = _cli("ping", "-c", "1", f"{relay.addr}/p2p-circuit/p2p/{other.peer_id}", timeout=60)
        assert proc.returncode == 1
        assert "NO_RESERVATION" in proc.stderr


def test_serve_relay_needs_a_peer_id(tmp_path: Path) -> None:
    proc = _cli("serve", "--relay", "/ip4/127.0.0.1/tcp/1")
    assert proc.returncode == 2 and "/p2p/" in proc.stderr
