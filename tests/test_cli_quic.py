"""``libp2p serve --listen .../udp/0/quic-v1`` beside TCP; ``ping``, ``id`` and ``perf`` over QUIC."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_node import _cli, _json, serve

QUIC = "/ip4/127.0.0.1/udp/0/quic-v1"


def test_serve_tcp_and_quic_then_ping_id_perf_over_quic(tmp_path: Path) -> None:
    with serve(tmp_path, "--perf", "--listen", QUIC) as node:
        addrs = node.info["multiaddrs"]
        quic = [a for a in addrs if "/udp/" in a and "/quic-v1/p2p/" in a]
        assert len(quic) == 1 and any("/tcp/" in a for a in addrs)
        assert "/udp/0/" not in quic[0]
        out = _json(_cli("ping", quic[0], "-c", "2", "--json"))
        assert out["peer_id"] == node.peer_id and len(out["rtt_ms"]) == 2
        out = _json(_cli("id", quic[0], "--json"))
        assert out["muxer"] == "/quic-v1"
        assert out["observed_addr"].startswith("/ip4/127.0.0.1/udp/") and out["observed_addr"].endswith("/quic-v1")
        out = _json(_cli("perf", quic[0], "--upload-bytes", "1MiB", "--download-bytes", "1MiB", "--json"))
        assert out["upload_bytes"] == out["download_bytes"] == 1 << 20
