"""Fixtures of the hostile-peer suite: a ``libp2p serve`` subprocess per test, and a good client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from libp2p.node import new_host
from libp2p.multiaddr import Multiaddr
from tests.adversarial.attacker import ServedHost

# Generous time the good client gets for one connect + ping (not a performance threshold).
GOOD_CLIENT_TIMEOUT = 10.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "adversarial: hostile-peer case against a real host process")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/adversarial" in str(item.fspath):
            item.add_marker(pytest.mark.adversarial)


@pytest.fixture
def served() -> Iterator[ServedHost]:
    host = ServedHost("--perf", "--dht", "server", "--permissive").start()
    try:
        yield host
    finally:
        host.stop()


async def good_ping(served: ServedHost, timeout: float = GOOD_CLIENT_TIMEOUT) -> str | None:
    """A fresh well-behaved host connects and pings; None when served, else what went wrong."""
    try:
        async with asyncio.timeout(timeout):
            async with new_host() as client:
                peer = await client.connect(Multiaddr(served.addr))
                await client.services["ping"].ping(peer)  # type: ignore[attr-defined]
        return None
    except BaseException as exc:  # noqa: BLE001 - reported, not raised
        if isinstance(exc, asyncio.CancelledError) and not isinstance(exc, TimeoutError):
            raise
        return f"{type(exc).__name__}: {exc}"[:300]
