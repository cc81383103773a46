"""``--security noise|tls`` (repeatable, ordered) on the networked commands: real processes on loopback."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_node import _cli, _json, serve


def test_tls_and_noise_offered_in_order(tmp_path: Path) -> None:
    with serve(tmp_path, "--perf", "--security", "tls", "--security", "noise") as node:
        out = _json(_cli("ping", node.addr, "-c", "2", "--json", "--security", "tls"))
        assert out["peer_id"] == node.peer_id and len(out["rtt_ms"]) == 2
        out = _json(_cli("id", node.addr, "--json", "--security", "noise"))
        assert out["peer_id"] == node.peer_id
        out = _json(_cli("id", node.addr, "--json", "--security", "tls", "--muxer", "mplex"))
        assert out["muxer"] == "/mplex/6.7.0"  # agreed inside the TLS handshake (ALPN)
        out = _json(_cli("perf", node.addr, "--upload-bytes", "100KiB", "--download-bytes", "100KiB", "--json",
                         "--security", "tls"))
        assert out["download_bytes"] == 100 * 1024


def test_no_common_security_fails(tmp_path: Path) -> None:
    with serve(tmp_path, "--security", "tls") as node:
        proc = _cli("ping", node.addr, "-c", "1", "--security", "noise", "--timeout", "10")
        assert proc.returncode == 1
        assert "ping:" in proc.stderr


def test_unknown_security_is_a_usage_error() -> None:
    proc = _cli("ping", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWM6CgA9iBFZmcYAHA6A2qvbAxqfkmrYiRQuz3XEsk4Ksv", "--security", "ssl")
    assert proc.returncode == 2
