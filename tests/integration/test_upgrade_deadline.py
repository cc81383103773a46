"""One deadline bounds a whole inbound upgrade; a security option's own configured timeout still applies.

The upgrader runs its steps (multistream, the security handshake, the muxer choice) under one
timer; `test_bad_input.py::test_stalled_handshake_times_out` shows every step is bounded by it.
Here: the steps' own entry points still bound themselves when called alone, and an explicitly
configured Noise or TLS handshake timeout still acts inside the upgrader's longer deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from libp2p.host.host import HostConfig
from libp2p.identity.keys import generate_key_pair
from libp2p.negotiate.service import NegotiationTimeoutError, accept_protocol, select_protocol
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.security.noise.config import NoiseConfig
from libp2p.security.noise.core import NoiseHandshake
from libp2p.security.noise.errors import HandshakeTimeoutError
from libp2p.security.noise.service import Noise
from libp2p.security.tls.config import TLSConfig
from libp2p.security.tls.errors import TLSHandshakeTimeoutError
from libp2p.security.tls.service import TLS
from tests.integration.test_bad_input import LOOPBACK, NOISE, TEST_TIMEOUT, UpgradeSpy, raw_peer

TLS_ID = "/tls/1.0.0"


@pytest.mark.parametrize("option", ["noise", "tls"])
async def test_configured_handshake_timeout_acts_inside_the_upgrade_deadline(option: str) -> None:
    security: Any = (Noise(NoiseConfig(handshake_timeout=0.3)) if option == "noise"
                     else TLS(TLSConfig(handshake_timeout=0.3)))
    # The upgrade's own deadline (60 s) is far beyond the test's: only the option's can end it.
    async with (
        asyncio.timeout(TEST_TIMEOUT),
        new_host(listen_addrs=[LOOPBACK], services=[EchoService()], security=[security],
                 config=HostConfig(upgrade_timeout=60.0)) as host,
    ):
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            if option == "noise":
                await raw.select(NOISE)
                raw.write(NoiseHandshake(True, generate_key_pair()).data_to_send())
            else:
                await raw.select(TLS_ID)  # then no ClientHello
            await raw.read_until_closed(timeout=TEST_TIMEOUT / 2)
        error = await spy.error()
        expected = HandshakeTimeoutError if option == "noise" else TLSHandshakeTimeoutError
        assert isinstance(error, expected), repr(error)


async def test_negotiation_alone_still_bounds_itself() -> None:
    sent: list[bytes] = []

    async def read() -> bytes:
        never: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        return await never  # the peer never answers

    async def write(data: bytes) -> None:
        sent.append(data)

    with pytest.raises(NegotiationTimeoutError):
        await select_protocol(read, write, lambda _: None, ["/x"], timeout=0.05)
    with pytest.raises(NegotiationTimeoutError):
        await accept_protocol(read, write, lambda _: None, ["/x"], timeout=0.05)
    assert sent  # the proposal went out before the wait


async def test_negotiation_without_timer_completes() -> None:
    """timeout=None (the caller bounds it): a dialer and a listener agree over a pipe."""
    to_listener: asyncio.Queue[bytes] = asyncio.Queue()
    to_dialer: asyncio.Queue[bytes] = asyncio.Queue()

    async def dialer_write(data: bytes) -> None:
        to_listener.put_nowait(data)

    async def listener_write(data: bytes) -> None:
        to_dialer.put_nowait(data)

    async with asyncio.timeout(TEST_TIMEOUT):
        chosen, agreed = await asyncio.gather(
            select_protocol(to_dialer.get, dialer_write, lambda _: None, ["/a", "/b"], timeout=None),
            accept_protocol(to_listener.get, listener_write, lambda _: None, ["/b"], timeout=None),
        )
    assert chosen == agreed == "/b"


async def test_identify_exchange_is_bounded_by_one_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer that accepts the identify stream but never answers: identify fails at the deadline."""
    import libp2p.protocols.identify.service as identify_service
    from libp2p.protocols.identify.wire import PROTOCOL_ID as IDENTIFY

    monkeypatch.setattr(identify_service, "TIMEOUT", 0.3)
    held = asyncio.Event()

    async def silent(stream: Any) -> None:
        held.set()
        await asyncio.Event().wait()  # agrees on the protocol (multistream did), never answers

    async with asyncio.timeout(TEST_TIMEOUT), new_host(listen_addrs=[LOOPBACK]) as a, new_host() as b:
        a.set_stream_handler(IDENTIFY, silent)
        peer = await b.connect(a.full_addrs()[0])
        # the caller's own timeout is beyond the test's: only identify's deadline can end this
        with pytest.raises(TimeoutError):
            await b.services["identify"].identify(peer, timeout=TEST_TIMEOUT * 3)
        assert held.is_set()  # it failed at the answer, after the negotiation
