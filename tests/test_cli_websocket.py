"""``libp2p serve --listen …/ws`` and ``/wss`` (``--tls-cert``/``--tls-key``), dialled by ``ping``, ``id``
and ``perf`` as a user runs them: real processes on loopback, each stopped by its own handle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_websocket import make_self_signed
from tests.test_cli_node import Node, _cli, _json, serve


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def ws_node(tmp_path_factory: pytest.TempPathFactory, certs: tuple[Path, Path]) -> Iterator[Node]:
    cert, key = certs
    with serve(tmp_path_factory.mktemp("ws"), "--perf", "--listen", "/ip4/127.0.0.1/tcp/0/ws",
               "--listen", "/ip4/127.0.0.1/tcp/0/wss", "--tls-cert", str(cert), "--tls-key", str(key)) as n:
        yield n


def _addr(node: Node, tail: str) -> str:
    return next(a for a in node.info["multiaddrs"] if a.split("/p2p/")[0].endswith(tail))


def test_serve_announces_tcp_ws_and_wss(ws_node: Node) -> None:
    tails = {a.split("/p2p/")[0].rsplit("/", 1)[-1] for a in ws_node.info["multiaddrs"]}
    assert {"ws", "wss"} <= tails
    assert any(a.split("/p2p/")[0].split("/")[-2] == "tcp" for a in ws_node.info["multiaddrs"])


def test_ping_id_and_perf_over_ws(ws_node: Node) -> None:
    addr = _addr(ws_node, "/ws")
    assert len(_json(_cli("ping", addr, "-c", "2", "-i", "0", "--json"))["rtt_ms"]) == 2
    assert _json(_cli("id", addr, "--json"))["peer_id"] == ws_node.peer_id
    out = _json(_cli("perf", addr, "--upload-bytes", "1MiB", "--download-bytes", "1MiB", "--json"))
    assert out["upload_bytes"] == 1 << 20


def test_ping_over_wss_trusting_the_served_certificate(ws_node: Node, certs: tuple[Path, Path]) -> None:
    addr = _addr(ws_node, "/wss")
    out = _json(_cli("ping", addr, "-c", "1", "--json", "--tls-ca", str(certs[0])))
    assert len(out["rtt_ms"]) == 1


def test_ping_over_wss_refuses_an_untrusted_certificate(ws_node: Node) -> None:
    proc = _cli("ping", _addr(ws_node, "/wss"), "-c", "1", "--json", "--timeout", "20")
    assert proc.returncode == 1
    assert "certif" in proc.stderr.lower()
