"""Multiaddr: the binary scanner twins, and Multiaddr.from_bytes / text parsing on top of each."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from libp2p.multiaddr import Multiaddr

TEXT = "/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
BINARY = bytes(Multiaddr(TEXT))


@pytest.mark.benchmark(group="multiaddr_scan")
def test_multiaddr_scan_ip4_tcp_p2p(benchmark: Any, accel: ModuleType) -> None:
    assert len(benchmark(accel.multiaddr_scan, BINARY)) == 9


@pytest.mark.benchmark(group="multiaddr_from_bytes")
def test_from_bytes_ip4_tcp_p2p(benchmark: Any, twin: ModuleType) -> None:
    """Target: at most 1 µs per call with the compiled twin."""
    assert benchmark(Multiaddr.from_bytes, BINARY) == Multiaddr(TEXT)


@pytest.mark.benchmark(group="multiaddr_from_text")
def test_from_text_ip4_tcp_p2p(benchmark: Any, twin: ModuleType) -> None:
    assert bytes(benchmark(Multiaddr, TEXT)) == BINARY


@pytest.mark.benchmark(group="multiaddr_from_text")
def test_from_text_ip4_tcp(benchmark: Any, twin: ModuleType) -> None:
    benchmark(Multiaddr, "/ip4/127.0.0.1/tcp/4001")


@pytest.mark.benchmark(group="multiaddr_to_text")
def test_to_text_ip4_tcp_p2p(benchmark: Any, twin: ModuleType) -> None:
    """Uncached: a fresh value each time (the text is cached after the first str())."""
    assert benchmark(lambda: str(Multiaddr.from_bytes(BINARY))) == TEXT
